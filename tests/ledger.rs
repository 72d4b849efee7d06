//! End to end: a whole shoot through the real HTTP server, the journal and
//! the forwarder into the project's Convex stand-in running the real
//! `convex/` functions, read back from the ledger.

mod common;

use std::collections::HashSet;

use common::{Options, Server, Standin, eventually};
use reqwest::Method;
use serde_json::{Value, json};

const WAIT: [(&str, &str); 1] = [("prefer", "wait=20")];

async fn with_ledger() -> (Standin, Server) {
    let standin = Standin::start().await;
    let server = Server::start_with(Options { convex_url: Some(standin.url.clone()), ..Options::default() }).await;
    (standin, server)
}

/// A write that waits for the ledger's verdict.
async fn write(s: &Server, method: Method, path: &str, body: Value) -> common::Resp {
    s.send(method, path, &body, &WAIT).await
}

fn applied(r: &common::Resp) -> &Value {
    assert_eq!(r.status, 201, "expected applied: {:#}", r.body);
    assert_eq!(r.body["status"], "delivered");
    assert_eq!(r.body["verdict"]["verdict"], "applied", "{:#}", r.body);
    &r.body
}

#[tokio::test]
async fn a_whole_shoot_lands_in_the_ledger() {
    let (standin, s) = with_ledger().await;
    let sk = "shoot-e2e";

    applied(
        &write(
            &s,
            Method::POST,
            "/v1/sessions",
            json!({"sessionKey": sk, "title": "Autumn lookbook", "at": "2026-11-30T19:00:00Z"}),
        )
        .await,
    );
    for (id, name) in [("ipad-a", "iPad A"), ("iphone-b", "iPhone B"), ("iphone-c", "iPhone C")] {
        applied(
            &write(&s, Method::POST, "/v1/devices", json!({"deviceId": id, "name": name, "platform": "ios"})).await,
        );
    }
    let cams = s.post(&format!("/v1/sessions/{sk}/cameras"), &json!({"deviceId": "ipad-a", "cameraKey": "A", "role": "hero", "placement": {"x": 0.0, "y": -3.0, "heightM": 1.5, "focalLengthMm": 50}})).await;
    assert_eq!(cams.status, 202);
    applied(&write(&s, Method::POST, &format!("/v1/sessions/{sk}/cameras"), json!({"deviceId": "iphone-b", "cameraKey": "B", "role": "wide", "placement": {"x": -2.5, "panDeg": 30, "zoom": 0.5}, "clockOffsetMs": -12.5})).await);
    applied(
        &write(
            &s,
            Method::POST,
            &format!("/v1/sessions/{sk}/cameras"),
            json!({"deviceId": "iphone-c", "cameraKey": "C", "role": "close"}),
        )
        .await,
    );
    // A placement change: a new version of B's placement.
    applied(
        &write(
            &s,
            Method::PUT,
            "/v1/devices/iphone-b/placement",
            json!({"sessionKey": sk, "placement": {"x": -2.0, "panDeg": 25, "zoom": 1.0}}),
        )
        .await,
    );

    // Cuts among the cameras, a hold pair and two cues, as one batch.
    let batch = write(
        &s,
        Method::POST,
        &format!("/v1/sessions/{sk}/director-events"),
        json!({"events": [
            {"type": "cut", "cameraKey": "A"},
            {"type": "cut", "cameraKey": "B", "fromCameraKey": "A", "transition": "dissolve", "transitionMs": 400},
            {"type": "hold_start", "holdId": "h1", "cameraKey": "B"},
            {"type": "cue", "cueKind": "pose", "label": "hands in pockets"},
            {"type": "hold_end", "holdId": "h1"},
            {"type": "cut", "cameraKey": "C", "fromCameraKey": "B"},
            {"type": "cue", "cueKind": "look", "label": "over the shoulder"},
            {"type": "cut", "cameraKey": "B", "fromCameraKey": "C", "transition": "cut"},
        ]}),
    )
    .await;
    assert_eq!(batch.status, 200, "{:#}", batch.body);
    let verdicts: Vec<&str> =
        batch.body["events"].as_array().unwrap().iter().map(|e| e["verdict"]["verdict"].as_str().unwrap()).collect();
    assert_eq!(verdicts, ["applied"; 8]);

    // Two still markers and one upload callback.
    for (still, cam) in [("still-1", "A"), ("still-2", "B")] {
        applied(&write(&s, Method::POST, &format!("/v1/sessions/{sk}/stills"), json!({"stillId": still, "cameraKey": cam, "capturedAt": "2026-11-30T19:20:00Z", "width": 4032, "height": 3024, "contentType": "image/heic"})).await);
    }
    applied(&write(&s, Method::POST, "/v1/callbacks/still-upload", json!({"sessionKey": sk, "stillId": "still-1", "storageRef": "s3://shoots/still-1.heic", "byteSize": 2_400_000, "sha256": "a".repeat(64)})).await);

    // Waiting, not rejected (contract 2): a cut to a camera that has not
    // joined, a hold end without a start. A wait answers 202.
    let r = write(
        &s,
        Method::POST,
        &format!("/v1/sessions/{sk}/director-events"),
        json!({"type": "cut", "cameraKey": "Z"}),
    )
    .await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.body["status"], "waiting", "{:#}", r.body);
    assert_eq!(r.body["verdict"]["code"], "camera_not_in_session");
    assert_eq!(r.body["verdict"]["waitingFor"], json!({"kind": "camera", "key": format!("{sk}/Z")}));
    let waiting_cut = r.body["eventId"].as_str().unwrap().to_string();
    let r = write(
        &s,
        Method::POST,
        &format!("/v1/sessions/{sk}/director-events"),
        json!({"type": "hold_end", "holdId": "h9"}),
    )
    .await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.body["verdict"]["code"], "hold_not_open", "{:#}", r.body);
    assert_eq!(r.body["verdict"]["waitingFor"]["kind"], "hold");

    let done =
        write(&s, Method::POST, &format!("/v1/sessions/{sk}/complete"), json!({"at": "2026-11-30T20:30:00Z"})).await;
    applied(&done);
    // A write after complete is a conflict; a replay of an earlier write is not.
    let r = write(
        &s,
        Method::POST,
        &format!("/v1/sessions/{sk}/director-events"),
        json!({"type": "marker", "label": "late"}),
    )
    .await;
    r.assert_problem(409, "session_completed");

    // The waiting event is kept in the journal with its verdict (the grace
    // period after the completion has not passed).
    let ev = s.get(&format!("/v1/events/{waiting_cut}")).await;
    assert_eq!(ev.body["status"], "waiting");
    assert_eq!(ev.body["verdict"]["code"], "camera_not_in_session");

    // Read the ledger back through the service.
    let view = s.get(&format!("/v1/sessions/{sk}")).await;
    assert_eq!(view.status, 200, "{:#}", view.body);
    assert_eq!(view.body["source"], "convex");
    let l = &view.body["ledger"];
    let session = &l["session"];
    assert_eq!(session["status"], "completed");
    assert_eq!(session["kind"], "photoshoot_performance");
    assert_eq!(session["heroCameraKey"], "B", "the hero feed follows the last cut");
    assert_eq!(
        session["summary"],
        json!({"durationMs": 5_400_000, "cameras": 3, "cuts": 4, "holds": 1, "stills": 2, "cues": 2, "events": 10, "holdsClosedOnComplete": 0}),
        "whole numbers are integers, whatever Convex keeps them as"
    );

    let cameras = l["cameras"].as_array().unwrap();
    assert_eq!(cameras.len(), 3);
    let b = cameras.iter().find(|c| c["cameraKey"] == "B").unwrap();
    assert_eq!(b["placementVersion"], 2.0);
    assert_eq!(b["placement"]["x"], -2.0);
    assert_eq!(b["clockOffsetMs"], -12.5);
    let history: Vec<(String, f64)> = l["placements"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["cameraKey"].as_str().unwrap().to_string(), p["version"].as_f64().unwrap()))
        .collect();
    assert_eq!(history, [("A".to_string(), 1.0), ("B".to_string(), 1.0), ("B".to_string(), 2.0)]);

    let events = l["events"].as_array().unwrap();
    let timeline: Vec<&str> = events.iter().map(|e| e["timeline"].as_str().expect("timeline")).collect();
    let mut sorted = timeline.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(timeline, sorted, "events in timeline order, each key once");
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["cut", "cut", "hold_start", "cue", "hold_end", "cut", "cue", "cut", "still", "still"]);

    let stills = l["stills"].as_array().unwrap();
    assert_eq!(stills.len(), 2);
    for still in stills {
        let ev = events.iter().find(|e| e["eventId"] == still["markerEventId"]).expect("still links its event");
        assert_eq!(ev["stillId"], still["stillId"], "the event links the still back");
    }
    let s1 = stills.iter().find(|x| x["stillId"] == "still-1").unwrap();
    assert_eq!(s1["storageRef"], "s3://shoots/still-1.heic", "the upload callback completed the same row");
    let s2 = stills.iter().find(|x| x["stillId"] == "still-2").unwrap();
    assert!(s2.get("storageRef").is_none());

    // The ledger itself agrees with what the service read.
    let direct = standin.session(sk).await;
    assert_eq!(direct["events"].as_array().unwrap().len(), 10);
    // Everything journaled is settled.
    let ready = s.get("/readyz").await;
    assert_eq!(ready.body["ledger"], "connected");
    assert_eq!(ready.body["backlog"], 0);
    assert_eq!(ready.body["waiting"], 2);
}

#[tokio::test]
async fn the_forwarder_recovers_from_a_ledger_restart_with_nothing_lost_or_doubled() {
    let (mut standin, s) = with_ledger().await;
    let sk = "shoot-restart";
    applied(&write(&s, Method::POST, "/v1/sessions", json!({"sessionKey": sk, "title": "Restart"})).await);

    let mut acked: Vec<String> = Vec::new();
    let mut send_markers = async |s: &Server, from: usize, to: usize| {
        for i in from..to {
            let r = s
                .post(
                    &format!("/v1/sessions/{sk}/director-events"),
                    &json!({"type": "marker", "label": format!("m{i}")}),
                )
                .await;
            assert_eq!(r.status, 202, "{:#}", r.body);
            acked.push(r.body["eventId"].as_str().unwrap().to_string());
        }
    };
    send_markers(&s, 0, 50).await;
    standin.kill().await;
    // The ledger is down: the service keeps accepting into the journal.
    send_markers(&s, 50, 120).await;
    let degraded = eventually(20, "readyz to show the ledger down", || async {
        let r = s.get("/readyz").await;
        (r.body["ledger"] == "unreachable").then_some(r)
    })
    .await;
    assert_eq!(degraded.status, 200, "the journal still takes writes");
    assert!(degraded.body["backlog"].as_u64().unwrap() > 0);
    let metrics = s.get("/metrics").await;
    assert!(metrics.body.as_str().unwrap().contains("shootlog_ledger_connected 0"));

    standin.start_again().await;
    send_markers(&s, 120, 150).await;
    eventually(60, "the backlog to drain", || async {
        let r = s.get("/readyz").await;
        (r.body["backlog"] == 0 && r.body["ledger"] == "connected").then_some(())
    })
    .await;

    let ledger = standin.session(sk).await;
    let events = ledger["events"].as_array().unwrap();
    let ids: Vec<&str> = events.iter().map(|e| e["eventId"].as_str().unwrap()).collect();
    let unique: HashSet<&str> = ids.iter().copied().collect();
    assert_eq!(ids.len(), unique.len(), "no event twice");
    let acked_set: HashSet<&str> = acked.iter().map(String::as_str).collect();
    assert_eq!(unique, acked_set, "exactly the acknowledged events");
    let labels: Vec<String> = events.iter().map(|e| e["label"].as_str().unwrap().to_string()).collect();
    assert_eq!(labels, (0..150).map(|i| format!("m{i}")).collect::<Vec<_>>(), "in the order they were sent");
}

/// Runs `shootlog replay` on a data dir against a ledger; returns its stdout.
async fn replay(data_dir: &std::path::Path, ledger: &Standin, session: Option<&str>) -> String {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_shootlog"));
    cmd.arg("--data-dir")
        .arg(data_dir)
        .arg("replay")
        .env("CONVEX_URL", &ledger.url)
        .env("CONVEX_DEPLOY_KEY", common::STANDIN_ADMIN_KEY)
        .env("RUST_LOG", "warn");
    if let Some(s) = session {
        cmd.arg("--session").arg(s);
    }
    let out = tokio::time::timeout(std::time::Duration::from_secs(60), cmd.output())
        .await
        .expect("replay finished within 60 s")
        .expect("replay ran");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "replay failed: {stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

#[tokio::test]
async fn replay_sends_the_journal_to_a_new_deployment() {
    // A shoot journaled on the embedded default (no ledger).
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Server::start_with(Options { data_dir: Some(dir.path().to_path_buf()), ..Options::default() }).await;
    s.post("/v1/sessions", &json!({"sessionKey": "shoot-a", "title": "A"})).await;
    s.post("/v1/sessions", &json!({"sessionKey": "shoot-b", "title": "B"})).await;
    let r = s
        .post(
            "/v1/sessions/shoot-a/director-events",
            &json!({"events": [{"type": "marker", "label": "one"}, {"type": "note", "text": "two"}]}),
        )
        .await;
    assert_eq!(r.status, 202);
    assert!(s.stop().await.success());

    // Replaying delivers the pending events.
    let first = Standin::start().await;
    let out = replay(dir.path(), &first, None).await;
    assert!(out.contains("replayed: 4 delivered, 0 rejected"), "{out}");
    let a = first.session("shoot-a").await;
    assert_eq!(a["events"].as_array().map(Vec::len), Some(2));

    // Pointing at a new, empty deployment: one session's events again.
    let second = Standin::start().await;
    let out = replay(dir.path(), &second, Some("shoot-a")).await;
    assert!(out.contains("replayed: 3 delivered, 0 rejected"), "{out}");
    let a2 = second.session("shoot-a").await;
    assert_eq!(a2["events"].as_array().map(Vec::len), Some(2));
    assert_eq!(second.session("shoot-b").await, Value::Null);

    // Replaying into the first deployment again changes nothing there.
    let out = replay(dir.path(), &first, None).await;
    assert!(out.contains("replayed: 4 delivered, 0 rejected"), "{out}");
    let again = first.session("shoot-a").await;
    assert_eq!(again["events"], a["events"], "duplicates change nothing");
}

#[tokio::test]
async fn with_the_ledger_down_a_wait_ends_in_202_and_reads_fall_back_to_the_journal() {
    let (mut standin, s) = with_ledger().await;
    standin.kill().await;
    let r = s
        .send(
            Method::POST,
            "/v1/sessions",
            &json!({"sessionKey": "shoot-down", "title": "Down"}),
            &[("prefer", "wait=1")],
        )
        .await;
    assert_eq!(r.status, 202, "no verdict within the wait: {:#}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.header("preference-applied"), Some("wait=1"));

    // Reading the session: Convex cannot answer, so the embedded ledger
    // does, and says why; the journal still has the entry pending.
    eventually(20, "readyz to show the ledger down", || async {
        (s.get("/readyz").await.body["ledger"] == "unreachable").then_some(())
    })
    .await;
    let view = s.get("/v1/sessions/shoot-down").await;
    assert_eq!(view.status, 200, "{:#}", view.body);
    assert_eq!(view.body["source"], "embedded");
    assert!(view.body["note"].as_str().is_some_and(|n| n.contains("not connected")), "{:#}", view.body);
    assert_eq!(view.body["ledger"]["session"]["title"], "Down");
    let view = s.get("/v1/sessions/shoot-down?source=journal").await;
    assert_eq!(view.body["source"], "journal");
    assert_eq!(view.body["journal"][0]["status"], "pending");

    // Back up: the pending event is delivered, and the read comes from the ledger.
    standin.start_again().await;
    let id = r.body["eventId"].as_str().unwrap().to_string();
    eventually(60, "the event to be delivered", || async {
        let e = s.get(&format!("/v1/events/{id}")).await;
        (e.body["status"] == "delivered").then_some(())
    })
    .await;
    let view = s.get("/v1/sessions/shoot-down").await;
    assert_eq!(view.status, 200, "{:#}", view.body);
    assert_eq!(view.body["source"], "convex");
    assert_eq!(view.body["ledger"]["session"]["title"], "Down");
}

#[tokio::test]
async fn the_wait_cap_follows_the_request_timeout() {
    // A ledger that never answers (nothing listens on its port), and a
    // request timeout of 3 s: `wait=20` is capped at 1 s (2 s of headroom),
    // and the answer is a 202, never a 408.
    let s = Server::start_with(Options {
        convex_url: Some(common::CLOSED_URL.to_string()),
        env: vec![("SHOOTLOG_REQUEST_TIMEOUT_SECS".into(), "3".into())],
        ..Options::default()
    })
    .await;
    let r = s.send(Method::POST, "/v1/sessions", &json!({"sessionKey": "shoot-cap", "title": "Cap"}), &WAIT).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.body["status"], "pending");
    assert_eq!(r.header("preference-applied"), Some("wait=1"));
}

#[tokio::test]
async fn a_replay_answers_as_the_first_answer_did_whatever_the_verdict_since() {
    let (_standin, s) = with_ledger().await;
    let sk = "shoot-replays";
    applied(&write(&s, Method::POST, "/v1/sessions", json!({"sessionKey": sk, "title": "Replays"})).await);
    let path = format!("/v1/sessions/{sk}/director-events");
    // A delivered event: a replay without a wait is a 202, not a 201.
    let note = json!({"eventId": "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b", "type": "note", "text": "hello"});
    let first = write(&s, Method::POST, &path, note.clone()).await;
    applied(&first);
    let again = s.post(&path, &note).await;
    assert_eq!(again.status, 202, "{:#}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["status"], "delivered");
    // Delivered on its first try: no failed round.
    assert_eq!(s.event("7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b").await.body["attempts"], 0);

    // A marker after the completion: rejected by the ledger at once.
    applied(&write(&s, Method::POST, &format!("/v1/sessions/{sk}/complete"), json!({})).await);
    let bad = json!({"eventId": "0b6d3f0e-8a7c-4c1e-9d2a-5f4e3b2a1c0d", "type": "marker", "label": "late"});
    let first = s.post(&path, &bad).await;
    assert_eq!(first.status, 202);
    eventually(20, "the verdict", || async {
        (s.event("0b6d3f0e-8a7c-4c1e-9d2a-5f4e3b2a1c0d").await.body["status"] == "rejected").then_some(())
    })
    .await;
    // Redelivered without Prefer: wait, it answers 202, the current receipt
    // in the body, and says it is a replay.
    let again = s.post(&path, &bad).await;
    assert_eq!(again.status, 202, "{:#}", again.body);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["status"], "rejected");
    assert_eq!(again.body["verdict"]["code"], "session_completed");
    // With Prefer: wait, the verdict answers, and still says replay.
    let waited = s.send(Method::POST, &path, &bad, &WAIT).await;
    assert_eq!(waited.status, 409, "{:#}", waited.body);
    assert_eq!(waited.header("idempotent-replayed"), Some("true"));
    assert_eq!(waited.body["verdict"]["code"], "session_completed");
}
