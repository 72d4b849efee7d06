//! Order independence across two instances (`migrations-notes/0003`): two
//! `shootlog` processes, each with its own journal (and instance id), one
//! Convex stand-in. One session's events are spread over both; one
//! instance's link to the ledger is down for a while (it starts pointed at
//! a closed port, then restarts on the same journal with the stand-in's
//! URL). Meanwhile the other delivers a cut before its camera's join, an
//! upload callback before its still's marker and a hold end before its
//! start: the ledger keeps them waiting, and applies them when what they
//! wait for arrives. In the end every acknowledged event is applied exactly
//! once, the hold is closed and nothing is rejected.

mod common;

use std::collections::{HashMap, HashSet};
use std::path::Path;

use common::{Options, Server, Standin, eventually};
use reqwest::Method;
use serde_json::{Value, json};

const SK: &str = "shoot-two-instances";

fn env() -> Vec<(String, String)> {
    vec![("SHOOTLOG_WAITING_POLL_SECS".into(), "1".into())]
}

async fn instance(dir: &Path, convex_url: String) -> Server {
    Server::start_with(Options { data_dir: Some(dir.to_path_buf()), convex_url: Some(convex_url), env: env() }).await
}

/// A URL where nothing listens.
fn closed_port() -> String {
    common::CLOSED_URL.to_string()
}

/// Journals a write (202 or 201) and notes its event id under `who`.
async fn accept(s: &Server, who: &str, acked: &mut Vec<(String, String)>, method: Method, path: &str, body: Value) {
    let r = s.send(method, path, &body, &[]).await;
    assert!(r.status == 202 || r.status == 201, "{who} {path}: {:#}", r.body);
    acked.push((who.to_string(), r.event_id()));
}

/// `/version`'s journal report.
async fn journal(s: &Server) -> Value {
    let r = s.get("/version").await;
    assert_eq!(r.status, 200, "{:#}", r.body);
    r.body["journal"].clone()
}

#[tokio::test]
async fn events_spread_over_two_instances_one_of_them_late_are_each_applied_once_whatever_the_order() {
    let standin = Standin::start().await;
    let (dir_a, dir_b) = (tempfile::tempdir().expect("tempdir"), tempfile::tempdir().expect("tempdir"));
    let a = instance(dir_a.path(), standin.url.clone()).await;
    let b = instance(dir_b.path(), closed_port()).await;
    let (id_a, id_b) = (journal(&a).await["instanceId"].clone(), journal(&b).await["instanceId"].clone());
    assert!(id_a.is_string() && id_b.is_string() && id_a != id_b, "{id_a} {id_b}");
    let mut acked: Vec<(String, String)> = Vec::new();
    let wait = [("prefer", "wait=10")];

    // A, connected: the session, a device and its camera, applied at once.
    for (path, body) in [
        ("/v1/sessions", json!({"sessionKey": SK, "title": "Two machines"})),
        ("/v1/devices", json!({"deviceId": "ipad-a", "name": "iPad A", "platform": "ipados"})),
        (
            &format!("/v1/sessions/{SK}/cameras") as &str,
            json!({"deviceId": "ipad-a", "cameraKey": "A", "role": "hero"}),
        ),
    ] {
        let r = a.send(Method::POST, path, &body, &wait).await;
        assert_eq!(r.status, 201, "{path}: {:#}", r.body);
        acked.push(("a".into(), r.event_id()));
    }

    // B, its link down: a device, its camera's join, a still on it, and a
    // hold start on A's camera. They stay pending in B's journal.
    accept(
        &b,
        "b",
        &mut acked,
        Method::POST,
        "/v1/devices",
        json!({"deviceId": "iphone-b", "name": "iPhone B", "platform": "ios"}),
    )
    .await;
    accept(
        &b,
        "b",
        &mut acked,
        Method::POST,
        &format!("/v1/sessions/{SK}/cameras"),
        json!({"deviceId": "iphone-b", "cameraKey": "B", "role": "wide"}),
    )
    .await;
    accept(&b, "b", &mut acked, Method::POST, &format!("/v1/sessions/{SK}/stills"), json!({"stillId": "still-b1", "cameraKey": "B", "capturedAt": "2026-11-30T19:20:00Z", "contentType": "image/heic"})).await;
    accept(
        &b,
        "b",
        &mut acked,
        Method::POST,
        &format!("/v1/sessions/{SK}/director-events"),
        json!({"type": "hold_start", "holdId": "h1", "cameraKey": "A"}),
    )
    .await;
    assert_eq!(journal(&b).await["depth"]["pending"], 4);

    // A: a cut to B's camera before its join reached the ledger. With
    // `Prefer: wait` it answers 202, waiting, as a pending event would.
    let cut = a
        .send(
            Method::POST,
            &format!("/v1/sessions/{SK}/director-events"),
            &json!({"type": "cut", "cameraKey": "B", "fromCameraKey": "A"}),
            &[("prefer", "wait=3")],
        )
        .await;
    assert_eq!(cut.status, 202, "{:#}", cut.body);
    let cut_id = cut.event_id();
    acked.push(("a".into(), cut_id.clone()));
    let seen = eventually(20, "the cut to wait for its camera", || async {
        let r = a.event(&cut_id).await;
        (r.body["status"] == "waiting").then_some(r.body)
    })
    .await;
    assert_eq!(seen["verdict"]["verdict"], "waiting", "{seen:#}");
    assert_eq!(seen["verdict"]["code"], "camera_not_in_session", "{seen:#}");
    assert_eq!(seen["verdict"]["waitingFor"], json!({"kind": "camera", "key": format!("{SK}/B")}), "{seen:#}");
    let timeline = seen["verdict"]["timeline"].as_str().expect("a timeline key");
    assert!(timeline.contains(&format!(".{}.", id_a.as_str().unwrap_or(""))), "{timeline}");

    // A: the still's upload callback before its marker, the hold's end
    // before its start, a marker; then the session is completed.
    accept(&a, "a", &mut acked, Method::POST, "/v1/callbacks/still-upload", json!({"sessionKey": SK, "stillId": "still-b1", "storageRef": "s3://shoots/still-b1.heic", "byteSize": 2_000_000})).await;
    accept(
        &a,
        "a",
        &mut acked,
        Method::POST,
        &format!("/v1/sessions/{SK}/director-events"),
        json!({"type": "hold_end", "holdId": "h1"}),
    )
    .await;
    accept(
        &a,
        "a",
        &mut acked,
        Method::POST,
        &format!("/v1/sessions/{SK}/director-events"),
        json!({"type": "marker", "label": "last look"}),
    )
    .await;
    eventually(20, "A to have three events waiting", || async {
        let r = a.get("/readyz").await;
        (r.body["waiting"] == 3 && r.body["backlog"] == 0).then_some(())
    })
    .await;
    let metrics = a.get("/metrics").await;
    let text = metrics.body.as_str().unwrap_or("");
    assert!(text.lines().any(|l| l == "shootlog_events_waiting 3"), "{text}");
    let done = a.send(Method::POST, &format!("/v1/sessions/{SK}/complete"), &json!({}), &wait).await;
    assert_eq!(done.status, 201, "{:#}", done.body);
    acked.push(("a".into(), done.event_id()));

    // B comes back on the same journal, now pointed at the ledger.
    assert!(b.stop().await.success());
    let b = instance(dir_b.path(), standin.url.clone()).await;
    assert_eq!(journal(&b).await["instanceId"], id_b, "the journal keeps its instance id");
    for (name, s) in [("a", &a), ("b", &b)] {
        eventually(60, &format!("{name} to settle everything"), || async {
            let d = journal(s).await["depth"].clone();
            (d["pending"] == 0 && d["waiting"] == 0).then_some(())
        })
        .await;
        assert_eq!(journal(s).await["depth"]["rejected"], 0, "{name} rejected nothing");
    }

    // Every acknowledged event: delivered on its instance, applied (not a
    // duplicate of anything), and the ledger's receipt says applied.
    let servers: HashMap<&str, &Server> = HashMap::from([("a", &a), ("b", &b)]);
    for (who, id) in &acked {
        let r = servers[who.as_str()].event(id).await;
        assert_eq!(r.body["status"], "delivered", "{who} {id}: {:#}", r.body);
        assert_eq!(r.body["verdict"]["verdict"], "applied", "{who} {id}: {:#}", r.body);
    }
    let ids: Vec<&str> = acked.iter().map(|(_, id)| id.as_str()).collect();
    let receipts = standin.query("ledger:receipts", json!({"eventIds": ids})).await;
    for (receipt, id) in receipts.as_array().expect("receipts").iter().zip(&ids) {
        assert_eq!(receipt["verdict"], "applied", "{id}: {receipt:#}");
    }

    // The ledger: each director event once, both instances on its timeline,
    // the hold closed by its end, the still uploaded, the cut applied.
    let ledger = standin.session(SK).await;
    let events = ledger["events"].as_array().expect("events");
    let event_ids: Vec<&str> = events.iter().filter_map(|e| e["eventId"].as_str()).collect();
    let unique: HashSet<&str> = event_ids.iter().copied().collect();
    assert_eq!(event_ids.len(), unique.len(), "no director event twice: {event_ids:?}");
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let mut sorted = kinds.clone();
    sorted.sort();
    assert_eq!(sorted, ["cut", "hold_end", "hold_start", "marker", "still"], "{kinds:?}");
    assert!(event_ids.contains(&cut_id.as_str()));
    let timelines: Vec<&str> = events.iter().filter_map(|e| e["timeline"].as_str()).collect();
    assert!(timelines.windows(2).all(|w| w[0] < w[1]), "in timeline order: {timelines:?}");
    for id in [&id_a, &id_b] {
        let id = id.as_str().unwrap_or("");
        assert!(timelines.iter().any(|t| t.contains(&format!(".{id}."))), "{id} on the timeline: {timelines:?}");
    }
    let start = events.iter().find(|e| e["type"] == "hold_start").expect("the hold start");
    assert_eq!(start["holdOpen"], false, "{start:#}");
    assert_eq!(start["holdClosedBy"], "hold_end", "{start:#}");
    let stills = ledger["stills"].as_array().expect("stills");
    assert_eq!(stills.len(), 1);
    assert_eq!(stills[0]["uploadStatus"], "uploaded", "{:#}", stills[0]);
    assert_eq!(stills[0]["storageRef"], "s3://shoots/still-b1.heic");
    let cameras: Vec<&str> =
        ledger["cameras"].as_array().expect("cameras").iter().filter_map(|c| c["cameraKey"].as_str()).collect();
    assert_eq!(cameras, ["A", "B"]);
    assert_eq!(ledger["session"]["status"], "completed", "{:#}", ledger["session"]);
    assert_eq!(ledger["session"]["heroCameraKey"], "B", "the latest cut, whenever it was applied");

    // The service reads the same session back, page by page, on either
    // instance.
    let read = a.get(&format!("/v1/sessions/{SK}")).await;
    assert_eq!(read.status, 200, "{:#}", read.body);
    assert_eq!(read.body["source"], "convex");
    assert!(read.body.get("truncated").is_none(), "{:#}", read.body);
    // (The service's numbers are the Rust client's floats: compare keys.)
    assert_eq!(keys(&read.body["ledger"]["events"]), keys(&ledger["events"]));
    assert_eq!(keys(&read.body["ledger"]["stills"]), keys(&ledger["stills"]));
    let read_b = b.get(&format!("/v1/sessions/{SK}")).await;
    assert_eq!(keys(&read_b.body["ledger"]["events"]), keys(&ledger["events"]));
}

/// The `(eventId or stillId, timeline)` of each row of a list.
fn keys(rows: &Value) -> Vec<(String, String)> {
    rows.as_array()
        .map(|rows| {
            rows.iter()
                .map(|r| {
                    let id = r["eventId"].as_str().or(r["stillId"].as_str()).unwrap_or("").to_string();
                    (id, r["timeline"].as_str().unwrap_or("").to_string())
                })
                .collect()
        })
        .unwrap_or_default()
}
