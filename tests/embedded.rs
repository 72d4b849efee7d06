//! The embedded ledger (`src/embedded/`, `migrations-notes/0004`): with no
//! Convex at all the service keeps a ledger a person can read; deleted, it
//! is rebuilt from the journal; a shoot run offline and then delivered to
//! Convex leaves the same ledger in both.

mod common;

use common::{Options, Server, Standin, eventually};
use serde_json::{Value, json};
use shootlog::embedded::SNAPSHOT_ASIDE;

const SK: &str = "shoot-embedded";

/// The README's walk-through, and a cut sent before its camera's join.
async fn shoot(s: &Server) {
    let ok = |r: common::Resp, what: &str| assert!(r.status == 202 || r.status == 201, "{what}: {:#}", r.body);
    ok(
        s.post("/v1/devices", &json!({"deviceId": "iphone-ana", "name": "Ana's iPhone", "platform": "ios"})).await,
        "device",
    );
    ok(
        s.post("/v1/devices", &json!({"deviceId": "ipad-studio", "name": "Studio iPad", "platform": "ipados"})).await,
        "device",
    );
    ok(
        s.post("/v1/sessions", &json!({"sessionKey": SK, "title": "Autumn lookbook", "location": "Studio B"})).await,
        "start",
    );
    let join = |key: &str, device: &str, role: &str| json!({"cameraKey": key, "deviceId": device, "role": role, "placement": {"x": 1.5, "heightM": 1.6, "panDeg": -30}});
    ok(s.post(&format!("/v1/sessions/{SK}/cameras"), &join("A", "iphone-ana", "hero")).await, "join A");
    let events = format!("/v1/sessions/{SK}/director-events");
    ok(s.post(&events, &json!({"type": "cut", "cameraKey": "A"})).await, "cut A");
    // B's join reaches the service after the first cut to B.
    ok(s.post(&events, &json!({"type": "cut", "cameraKey": "B", "fromCameraKey": "A"})).await, "cut B");
    ok(s.post(&format!("/v1/sessions/{SK}/cameras"), &join("B", "ipad-studio", "wide")).await, "join B");
    ok(s.post(&events, &json!({"type": "hold_start", "holdId": "h1", "cameraKey": "B"})).await, "hold");
    ok(s.post(&events, &json!({"type": "cue", "cueKind": "pose", "label": "chin up"})).await, "cue");
    ok(s.post(&events, &json!({"type": "hold_end", "holdId": "h1"})).await, "hold end");
    let placement = json!({"sessionKey": SK, "placement": {"distanceM": 3.2, "zoom": 2}, "clockOffsetMs": -40});
    ok(s.put("/v1/devices/ipad-studio/placement", &placement).await, "placement");
    let still = json!({"stillId": "st-1", "cameraKey": "A", "capturedAt": "2026-11-30T19:31:00Z", "width": 6000, "height": 4000});
    ok(s.post(&format!("/v1/sessions/{SK}/stills"), &still).await, "still");
    let upload =
        json!({"sessionKey": SK, "stillId": "st-1", "storageRef": "s3://stills/st-1.heic", "byteSize": 4200000});
    ok(s.post("/v1/callbacks/still-upload", &upload).await, "upload");
    ok(s.post(&events, &json!({"type": "cut", "cameraKey": "A", "fromCameraKey": "B"})).await, "cut A again");
    ok(s.post(&format!("/v1/sessions/{SK}/complete"), &json!({})).await, "complete");
}

/// The session once its summary is written, from `source`.
async fn completed(s: &Server, source: &str) -> Value {
    eventually(30, &format!("the {source} ledger to complete the session"), || async {
        let r = s.get(&format!("/v1/sessions/{SK}?source={source}")).await;
        (r.status == 200 && r.body["ledger"]["session"]["summary"].is_object()).then_some(r.body)
    })
    .await
}

/// A ledger document without ids, write times and bookkeeping, which differ
/// between the two implementations by design (migrations-notes/0004).
fn comparable(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| *k != "ledgerIds" && !SNAPSHOT_ASIDE.contains(&k.as_str()))
                .map(|(k, x)| (k.clone(), comparable(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(comparable).collect()),
        // Convex keeps every number as a float.
        Value::Number(n) => n.as_f64().map(|f| json!(f)).unwrap_or(Value::Number(n.clone())),
        other => other.clone(),
    }
}

#[tokio::test]
async fn with_no_convex_at_all_the_service_keeps_a_ledger_a_person_can_read() {
    let s = Server::start().await;
    shoot(&s).await;
    let view = completed(&s, "auto").await;
    assert_eq!(view["source"], "embedded", "{view:#}");
    let ledger = &view["ledger"];
    let session = &ledger["session"];
    assert_eq!(session["status"], "completed");
    assert_eq!(session["heroCameraKey"], "A", "the last cut in timeline order");
    assert_eq!(
        session["summary"],
        json!({"durationMs": session["summary"]["durationMs"], "cameras": 2, "cuts": 3, "holds": 1, "stills": 1, "cues": 1, "events": 7, "holdsClosedOnComplete": 0})
    );
    let cameras: Vec<_> = ledger["cameras"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["cameraKey"].clone(), c["live"].clone(), c["placementVersion"].clone()))
        .collect();
    assert_eq!(cameras, [(json!("A"), json!(false), json!(1)), (json!("B"), json!(false), json!(2))]);
    let types: Vec<_> =
        ledger["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap().to_string()).collect();
    assert_eq!(types, ["cut", "cut", "hold_start", "cue", "hold_end", "still", "cut"]);
    let hold = &ledger["events"][2];
    assert_eq!((hold["holdClosedBy"].clone(), hold["holdOpen"].clone()), (json!("hold_end"), json!(false)));
    assert_eq!(ledger["stills"][0]["uploadStatus"], "uploaded");
    // The cut sent before B's join waited, and was applied when the join came.
    assert_eq!(ledger["events"][1]["cameraKey"], "B");
    // The journal still holds every event as pending: Convex has none yet.
    let journal = s.get(&format!("/v1/sessions/{SK}?source=journal")).await;
    assert!(journal.body["journal"].as_array().unwrap().iter().all(|e| e["status"] == "pending"), "{:#}", journal.body);
    let metrics = s.client.get(s.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("shootlog_embedded_events_applied_total 15"), "{metrics}");
}

#[tokio::test]
async fn deleted_the_embedded_ledger_is_rebuilt_from_the_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = || Options { data_dir: Some(dir.path().to_path_buf()), ..Options::default() };
    let s = Server::start_with(opts()).await;
    shoot(&s).await;
    let before = completed(&s, "embedded").await;
    s.stop().await;
    for f in ["ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"] {
        let _ = std::fs::remove_file(dir.path().join(f));
    }
    assert!(!dir.path().join("ledger.sqlite3").exists());
    let s = Server::start_with(opts()).await;
    let after = completed(&s, "embedded").await;
    assert_eq!(comparable(&after["ledger"]), comparable(&before["ledger"]));
}

#[tokio::test]
async fn a_shoot_run_offline_then_delivered_to_convex_leaves_the_same_ledger_in_both() {
    let standin = Standin::start().await;
    let dir = tempfile::tempdir().expect("tempdir");
    let offline = Server::start_with(Options { data_dir: Some(dir.path().to_path_buf()), ..Options::default() }).await;
    shoot(&offline).await;
    let embedded_offline = completed(&offline, "embedded").await;
    offline.stop().await;

    // The venue gets internet: the same journal, now with a deployment.
    let env = vec![("SHOOTLOG_WAITING_POLL_SECS".to_string(), "1".to_string())];
    let s = Server::start_with(Options {
        data_dir: Some(dir.path().to_path_buf()),
        convex_url: Some(standin.url.clone()),
        env,
    })
    .await;
    eventually(60, "every event to be settled by Convex", || async {
        let entries = s.get(&format!("/v1/sessions/{SK}?source=journal")).await.body["journal"].clone();
        entries.as_array().is_some_and(|a| a.len() == 13 && a.iter().all(|e| e["status"] == "delivered")).then_some(())
    })
    .await;
    let convex = completed(&s, "convex").await;
    assert_eq!(convex["source"], "convex");
    let embedded = completed(&s, "embedded").await;
    assert_eq!(comparable(&convex["ledger"]), comparable(&embedded["ledger"]));
    assert_eq!(comparable(&embedded["ledger"]), comparable(&embedded_offline["ledger"]));
    // By default the read now comes from Convex.
    assert_eq!(s.get(&format!("/v1/sessions/{SK}")).await.body["source"], "convex");
    // The audit compared every settled verdict and found no difference.
    let metrics = eventually(30, "the audit of all 15 verdicts (13 of the session, 2 registrations)", || async {
        let m = metrics_text(&s).await?;
        m.contains("shootlog_embedded_audited_total 15").then_some(m)
    })
    .await;
    assert!(metrics.contains("shootlog_embedded_disagreements_total 0"), "{metrics}");
}

async fn metrics_text(s: &Server) -> Option<String> {
    s.client.get(s.url("/metrics")).send().await.ok()?.text().await.ok()
}

/// An event Convex keeps waiting (a join of a device that never registers)
/// does not hold back the audit of the events settled after it.
#[tokio::test]
async fn a_waiting_event_does_not_hold_the_audit_back() {
    let standin = Standin::start().await;
    let s = Server::start_with(Options { convex_url: Some(standin.url.clone()), ..Options::default() }).await;
    let ok = |r: common::Resp| assert!(r.status == 202, "{:#}", r.body);
    ok(s.post("/v1/sessions", &json!({"sessionKey": "audit-1", "title": "Audit"})).await);
    let join = json!({"cameraKey": "A", "deviceId": "never-registers", "role": "hero"});
    ok(s.post("/v1/sessions/audit-1/cameras", &join).await);
    for i in 0..5 {
        let device = json!({"deviceId": format!("later-{i}"), "name": "later", "platform": "ios"});
        ok(s.post("/v1/devices", &device).await);
    }
    let metrics = eventually(30, "the audit of the 6 settled events after the waiting one", || async {
        let m = metrics_text(&s).await?;
        m.contains("shootlog_embedded_audited_total 6").then_some(m)
    })
    .await;
    assert!(metrics.contains("shootlog_events_waiting 1"), "the join still waits: {metrics}");
    assert!(metrics.contains("shootlog_embedded_disagreements_total 0"), "{metrics}");
}
