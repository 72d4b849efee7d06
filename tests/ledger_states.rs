//! The ledger as real Convex behaves: a misconfigured, paused or redeployed
//! deployment never costs an event. Each scenario runs the real service
//! against the Convex stand-in switched into the deployment state real
//! Convex would be in (`standin/README.md`, "Deployment states"), and ends
//! with the figures: events sent, acknowledged, rejected, pending, applied
//! after recovery.

mod common;

use std::time::Duration;

use common::{Options, STANDIN_ADMIN_KEY, Server, Standin, eventually, run_to_exit};
use reqwest::Method;
use serde_json::{Value, json};
use shootlog::ledger::CONTRACT_VERSION;

const WAIT_1: [(&str, &str); 1] = [("prefer", "wait=1")];

async fn set_deployment(standin: &Standin, state: &str) {
    let r = common::client()
        .post(format!("{}/_standin/deployment", standin.url))
        .json(&json!({"state": state}))
        .send()
        .await
        .expect("stand-in control");
    assert!(r.status().is_success(), "set {state}: {}", r.status());
}

/// How often the stand-in ran `ingest:applyBatch`, and the most times any
/// one event was in a batch that ran.
async fn executions(standin: &Standin) -> (u64, u64) {
    let stats: Value = common::client()
        .get(format!("{}/_standin/stats", standin.url))
        .send()
        .await
        .expect("stand-in stats")
        .json()
        .await
        .expect("stats json");
    let batches = stats["executions"]["ingest:applyBatch"].as_u64().unwrap_or(0);
    let most =
        stats["eventExecutions"].as_object().map_or(0, |m| m.values().filter_map(Value::as_u64).max().unwrap_or(0));
    (batches, most)
}

async fn server_for(standin: &Standin, env: &[(&str, &str)]) -> Server {
    let mut env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    // Quick retries, so that recovery shows within the tests' patience.
    env.push(("SHOOTLOG_LEDGER_CHECK_SECS".into(), "2".into()));
    Server::start_with(Options { convex_url: Some(standin.url.clone()), env, ..Options::default() }).await
}

async fn readyz_ledger(s: &Server, state: &str) -> Value {
    eventually(30, &format!("readyz to show the ledger {state}"), || async {
        let r = s.get("/readyz").await;
        (r.body["ledger"] == state).then_some(r.body)
    })
    .await
}

/// Posts one director event; it must be acknowledged (202). Its id.
async fn write_event(s: &Server, session: &str, event: Value) -> String {
    let r = s.post(&format!("/v1/sessions/{session}/director-events"), &event).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    r.event_id()
}

/// Writes a session and `n` markers: every one must be acknowledged (202),
/// whatever the ledger's state. Returns the event ids.
async fn write_shoot(s: &Server, session: &str, n: usize) -> Vec<String> {
    let r = s.post("/v1/sessions", &json!({"sessionKey": session, "title": "T"})).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    let mut ids = vec![r.event_id()];
    for i in 0..n {
        ids.push(write_event(s, session, json!({"type": "marker", "label": format!("m{i}")})).await);
    }
    ids
}

/// Waits until the journal is drained, then checks that every event is
/// applied and none rejected; returns the markers the ledger holds.
async fn all_applied(s: &Server, standin: &Standin, session: &str, ids: &[String]) -> usize {
    eventually(60, "the backlog to drain", || async { (s.backlog().await == 0).then_some(()) }).await;
    for id in ids {
        let e = s.event(id).await;
        assert_eq!(e.body["status"], "delivered", "{:#}", e.body);
        assert_eq!(e.body["verdict"]["verdict"], "applied", "{:#}", e.body);
    }
    let report = s.get("/version").await.body;
    assert_eq!(report["journal"]["depth"]["rejected"], 0, "{report:#}");
    assert_eq!(report["journal"]["rejectedByCode"], json!({}), "{report:#}");
    let ledger = standin.session(session).await;
    ledger["events"].as_array().map_or(0, Vec::len)
}

#[tokio::test]
async fn a_convex_url_without_a_deploy_key_is_refused_at_start() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let out =
        run_to_exit(&["--listen", "127.0.0.1:0", "--data-dir", data], &[("CONVEX_URL", "http://127.0.0.1:9")]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CONVEX_DEPLOY_KEY is not"), "{stderr}");
    assert!(!dir.path().join("journal.sqlite3").exists(), "refused before the journal is opened");
}

#[tokio::test]
async fn a_wrong_deploy_key_keeps_every_event_pending_and_says_unauthorized() {
    let standin = Standin::start().await;
    let s = server_for(&standin, &[("CONVEX_DEPLOY_KEY", "not-the-deploy-key")]).await;
    let mut ids = write_shoot(&s, "shoot-key", 5).await;
    // A write that waits for the verdict hears none, and no rejection.
    let r = s
        .send(Method::POST, "/v1/sessions/shoot-key/director-events", &json!({"type": "note", "text": "n"}), &WAIT_1)
        .await;
    assert_eq!((r.status, &r.body["status"]), (202, &json!("pending")), "{:#}", r.body);
    ids.push(r.event_id());
    let ready = readyz_ledger(&s, "unauthorized").await;
    assert!(ready["ledgerReason"].as_str().is_some_and(|r| r.contains("401")), "{ready:#}");
    for id in &ids {
        assert_eq!(s.event(id).await.body["status"], "pending");
    }
    let report = s.get("/version").await;
    assert_eq!(report.body["ledger"]["state"], "unauthorized");
    assert_eq!(report.body["ledger"]["usable"], false);
    assert_eq!(report.body["ledger"]["host"], format!("127.0.0.1:{}", standin.port));
    assert!(!report.body.to_string().contains("not-the-deploy-key"), "the key is never reported");
    assert_eq!(executions(&standin).await.0, 0, "nothing was sent");
    println!("wrong key: {} sent, {} acked, 0 rejected, {} pending", ids.len(), ids.len(), s.backlog().await);
}

#[tokio::test]
async fn a_key_whose_role_may_not_run_internal_functions_is_unauthorized() {
    let standin = Standin::start_with_env(&[("STANDIN_DEPLOYMENT_STATE", "forbidden_internal")]).await;
    let s = server_for(&standin, &[]).await;
    let ids = write_shoot(&s, "shoot-role", 3).await;
    let ready = readyz_ledger(&s, "unauthorized").await;
    assert!(ready["ledgerReason"].as_str().is_some_and(|r| r.contains("OperationNotPermitted")), "{ready:#}");
    assert_eq!(s.backlog().await, ids.len() as u64);
    set_deployment(&standin, "running").await;
    assert_eq!(all_applied(&s, &standin, "shoot-role", &ids).await, 3);
}

#[tokio::test]
async fn a_paused_deployment_mid_shoot_costs_no_event() {
    const PAUSE: Duration = Duration::from_secs(30);
    let standin = Standin::start().await;
    let s = server_for(&standin, &[]).await;
    let session = "shoot-pause";
    let mut ids = write_shoot(&s, session, 10).await;
    eventually(30, "the first events to apply", || async { (s.backlog().await == 0).then_some(()) }).await;

    set_deployment(&standin, "paused").await;
    let paused_at = tokio::time::Instant::now();
    let mut seen_unusable = None;
    let mut i = 0;
    while paused_at.elapsed() < PAUSE {
        ids.push(
            write_event(&s, session, json!({"type": "cue", "cueKind": "pose", "label": format!("pose {i}")})).await,
        );
        i += 1;
        if seen_unusable.is_none() {
            let ready = s.get("/readyz").await;
            assert_eq!(ready.status, 200, "the journal still takes writes: {:#}", ready.body);
            if ready.body["ledger"] == "unusable" {
                seen_unusable = Some(ready.body);
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let during = seen_unusable.expect("readyz showed the ledger unusable during the pause");
    assert!(during["ledgerReason"].as_str().is_some_and(|r| r.contains("paused")), "{during:#}");
    let pending_during = s.backlog().await;
    assert!(pending_during >= i as u64, "the events of the pause wait: {pending_during} < {i}");

    set_deployment(&standin, "running").await;
    let applied = all_applied(&s, &standin, session, &ids).await;
    assert_eq!(applied, 10 + i, "every marker and cue is in the ledger");
    println!(
        "paused {PAUSE:?}: {} sent, {} acked, 0 rejected, {pending_during} pending during the pause, all applied after it",
        ids.len(),
        ids.len()
    );
}

/// Functions never deployed, then deployed: nothing settled meanwhile,
/// everything applied after. `env` picks how the stand-in answers a missing
/// function.
async fn functions_missing_then_deployed(env: &[(&str, &str)], session: &str) {
    let mut env = env.to_vec();
    env.push(("STANDIN_DEPLOYMENT_STATE", "functions_missing"));
    let standin = Standin::start_with_env(&env).await;
    let s = server_for(&standin, &[]).await;
    let ids = write_shoot(&s, session, 20).await;
    let ready = readyz_ledger(&s, "unusable").await;
    assert!(ready["ledgerReason"].as_str().is_some_and(|r| r.contains("Could not find")), "{ready:#}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(s.backlog().await, ids.len() as u64, "nothing settled while the functions are missing");
    set_deployment(&standin, "running").await;
    assert_eq!(all_applied(&s, &standin, session, &ids).await, 20);
    println!(
        "functions missing ({env:?}): {} sent, {} acked, 0 rejected, all applied once deployed",
        ids.len(),
        ids.len()
    );
}

#[tokio::test]
async fn functions_not_deployed_then_deployed_cost_no_event() {
    // The function error of backends before 2026-03.
    functions_missing_then_deployed(&[], "shoot-deploy").await;
}

#[tokio::test]
async fn functions_not_deployed_answered_404_and_a_closed_socket_cost_no_event() {
    // The current backend's default: HTTP 404 `FunctionPathNotFound`, and on
    // the sync socket a close without any message.
    functions_missing_then_deployed(&[("STANDIN_UDF_404_ON_BAD_PATH", "1")], "shoot-deploy-404").await;
}

#[tokio::test]
async fn an_incompatible_contract_keeps_events_pending() {
    let standin = Standin::start_with_env(&[("STANDIN_DEPLOYMENT_STATE", "incompatible")]).await;
    let s = server_for(&standin, &[]).await;
    let ids = write_shoot(&s, "shoot-contract", 4).await;
    let ready = readyz_ledger(&s, "incompatible").await;
    assert!(ready["ledgerReason"].as_str().is_some_and(|r| r.contains("contract version")), "{ready:#}");
    let report = s.get("/version").await.body;
    assert_eq!(report["ledger"]["deployment"]["contractVersion"], CONTRACT_VERSION + 1000, "{report:#}");
    assert_eq!(report["build"]["contractVersion"], CONTRACT_VERSION);
    assert_eq!(executions(&standin).await.0, 0, "nothing was sent to functions of another contract");
    set_deployment(&standin, "running").await;
    assert_eq!(all_applied(&s, &standin, "shoot-contract", &ids).await, 4);
}

#[tokio::test]
async fn after_an_outage_no_batch_runs_more_than_twice() {
    let mut standin = Standin::start().await;
    let s = server_for(&standin, &[("SHOOTLOG_LEDGER_TIMEOUT_SECS", "2")]).await;
    let session = "shoot-outage";
    let mut ids = write_shoot(&s, session, 5).await;
    eventually(30, "the first events to apply", || async { (s.backlog().await == 0).then_some(()) }).await;
    standin.kill().await;
    for i in 0..100 {
        ids.push(write_event(&s, session, json!({"type": "marker", "label": format!("down {i}")})).await);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    standin.start_again().await;
    assert_eq!(all_applied(&s, &standin, session, &ids).await, 105);
    let (batches, most) = executions(&standin).await;
    println!("outage of ~10 s with a 2 s call timeout: {batches} batch executions after it, at most {most} per event");
    assert!(most <= 2, "an event ran {most} times after the outage");
}

#[tokio::test]
async fn an_anonymous_read_of_the_ledger_is_refused() {
    let standin = Standin::start().await;
    for (path, args) in [("ledger:sessionHeader", json!({"sessionKey": "any"})), ("contract:handshake", json!({}))] {
        let r = common::client()
            .post(format!("{}/api/query", standin.url))
            .json(&json!({"path": path, "args": args, "format": "json"}))
            .send()
            .await
            .expect("query");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["status"], "error", "{path}: {body:#}");
        assert!(
            body["errorMessage"].as_str().is_some_and(|m| m.contains("Could not find public function")),
            "{body:#}"
        );
    }
    // With the deploy key, the same read answers.
    assert_eq!(standin.session("any").await, Value::Null);
}

/// `shootlog check` against the stand-in: its exit status and the report.
async fn check(url: &str, key: &str) -> (Option<i32>, Value, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().to_str().expect("utf-8");
    let out = run_to_exit(&["check", "--data-dir", data], &[("CONVEX_URL", url), ("CONVEX_DEPLOY_KEY", key)]).await;
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.code(), report, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[tokio::test]
async fn shootlog_check_exits_with_a_status_per_ledger_state() {
    let standin = Standin::start().await;
    let (code, report, stderr) = check(&standin.url, STANDIN_ADMIN_KEY).await;
    assert_eq!(code, Some(0), "{report:#}\n{stderr}");
    assert_eq!(report["ledger"]["state"], "connected");
    assert_eq!(report["ledger"]["roundTrip"]["ok"], true, "{report:#}");
    assert_eq!(report["ledger"]["functionsMatchBuild"], true, "the stand-in runs this checkout's functions");
    assert!(report.get("journal").is_none(), "no journal in an empty data dir");

    let (code, report, _) = check(&standin.url, "wrong").await;
    assert_eq!((code, &report["ledger"]["state"]), (Some(4), &json!("unauthorized")));
    for (state, expected_code, expected_state) in [
        ("paused", 5, "unusable"),
        ("functions_missing", 5, "unusable"),
        ("incompatible", 6, "incompatible"),
        ("forbidden_internal", 4, "unauthorized"),
    ] {
        set_deployment(&standin, state).await;
        let (code, report, stderr) = check(&standin.url, STANDIN_ADMIN_KEY).await;
        assert_eq!(code, Some(expected_code), "{state}: {report:#}\n{stderr}");
        assert_eq!(report["ledger"]["state"], expected_state, "{state}");
        assert!(stderr.contains(&format!("ledger {expected_state}")), "{state}: {stderr}");
    }
    set_deployment(&standin, "running").await;

    let (code, report, _) = check(common::CLOSED_URL, STANDIN_ADMIN_KEY).await;
    assert_eq!((code, &report["ledger"]["state"]), (Some(3), &json!("unreachable")));
}

#[tokio::test]
async fn shootlog_check_reports_the_journal_s_instance_id() {
    let standin = Standin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start_with(Options { data_dir: Some(dir.path().to_path_buf()), ..Options::default() }).await;
    let version = s.get("/version").await;
    let id = version.body["journal"]["instanceId"].as_str().expect("instanceId").to_string();
    assert!(s.stop().await.success());
    let data = dir.path().to_str().expect("utf-8");
    let out = run_to_exit(
        &["check", "--data-dir", data],
        &[("CONVEX_URL", &standin.url), ("CONVEX_DEPLOY_KEY", STANDIN_ADMIN_KEY)],
    )
    .await;
    let report: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    assert_eq!(report["journal"]["instanceId"], id.as_str(), "{report:#}");
}

#[tokio::test]
async fn write_conflicts_that_outlast_the_deployments_retries_cost_no_event() {
    // Real Convex fails a mutation whose documents other calls kept writing
    // (two instances on one session) once its own retries run out; the
    // stand-in answers that error on demand (standin/README.md, "Write
    // conflicts"). More conflicts in a row than the forwarder's poison
    // attempts (3): none of them may settle an event.
    let standin = Standin::start().await;
    let env = [("SHOOTLOG_WAITING_POLL_SECS", "1")];
    let s = server_for(&standin, &env).await;
    readyz_ledger(&s, "connected").await;
    let r = common::client()
        .post(format!("{}/_standin/contention", standin.url))
        .json(&json!({"failures": 6}))
        .send()
        .await
        .expect("stand-in control");
    assert!(r.status().is_success());
    let session = "shoot-contention";
    let ids = write_shoot(&s, session, 3).await;
    let applied = all_applied(&s, &standin, session, &ids).await;
    assert_eq!(applied, 3, "every marker is in the ledger");
    let metrics = s.client.get(s.url("/metrics")).send().await.expect("metrics").text().await.expect("text");
    assert!(metrics.contains("outcome=\"contention\""), "the conflicts were seen as such:\n{metrics}");
    assert!(
        !metrics.contains("shootlog_events_isolated_total 1") && metrics.contains("shootlog_events_isolated_total 0"),
        "no event was isolated as poison:\n{metrics}"
    );
}
