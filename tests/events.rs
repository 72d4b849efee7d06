//! Events: the journal status of any accepted event, and the journal's
//! durability across a clean stop and a SIGKILL — through the real server on
//! a loopback port, on the embedded default (no ledger).

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::{Options, Server};
use reqwest::Method;
use serde_json::{Value, json};

/// 2026-11-30T19:30:00Z.
const AT: i64 = 1_796_067_000_000;

#[tokio::test]
async fn an_event_reads_back_pending_with_its_fields() {
    let s = Server::start().await;
    let r = s.post("/v1/sessions", &json!({"sessionKey": "shoot-1", "title": "T", "notes": "n", "at": AT})).await;
    assert_eq!(r.status, 202);
    let id = r.event_id();

    let ev = s.event(&id).await;
    assert_eq!(ev.status, 200);
    assert_eq!(ev.content_type(), "application/json");
    assert_eq!(
        ev.body,
        json!({
            "eventId": id,
            "type": "start_shoot",
            "status": "pending",
            "journalSeq": r.body["journalSeq"],
            "at": AT,
            "receivedAt": r.body["receivedAt"],
            "attempts": 0,
            "event": {"type": "start_shoot", "sessionKey": "shoot-1", "title": "T", "notes": "n"},
        })
    );
}

#[tokio::test]
async fn an_event_id_is_any_form_of_its_uuid() {
    let s = Server::start().await;
    let id = "6f1c1b1e-3c7a-4d59-9a43-2f4b8d0e9a10";
    s.post("/v1/sessions", &json!({"eventId": id, "sessionKey": "shoot-1", "title": "T"})).await;
    for form in [id.to_uppercase(), id.replace('-', "")] {
        let ev = s.event(&form).await;
        assert_eq!(ev.status, 200, "{form}");
        assert_eq!(ev.body["eventId"], id, "{form}");
    }
}

#[tokio::test]
async fn an_unknown_event_is_a_404_problem() {
    let s = Server::start().await;
    s.post("/v1/sessions", &json!({"sessionKey": "shoot-1", "title": "T"})).await;
    let unknown = "00000000-0000-4000-8000-000000000000";
    let r = s.event(unknown).await;
    r.assert_problem(404, "not_found");
    assert_eq!(r.body["type"], "/problems/not-found");
    assert!(r.body["detail"].as_str().unwrap().contains(unknown), "{:#}", r.body);
}

#[tokio::test]
async fn an_event_id_that_is_not_a_uuid_is_a_422() {
    let s = Server::start().await;
    for bad in ["42", "not-a-uuid", "6f1c1b1e-3c7a-4d59-9a43-2f4b8d0e9a1", "6f1c1b1e-3c7a-4d59-9a43-2f4b8d0e9a10x"] {
        let r = s.event(bad).await;
        r.assert_problem(422, "invalid_fields");
        assert_eq!(r.violations(), [("/path/eventId", "format")], "{bad}");
    }
}

fn keep(out: &mut BTreeMap<String, (String, i64)>, what: &str, r: &common::Resp) {
    assert_eq!(r.status, 202, "{what}: {:#}", r.body);
    out.insert(what.to_string(), (r.event_id(), r.body["journalSeq"].as_i64().unwrap()));
}

/// One write of every kind (11 events); `(eventId, journalSeq)` by name.
async fn write_a_mix(s: &Server) -> BTreeMap<String, (String, i64)> {
    let mut out = BTreeMap::new();
    let start = json!({"sessionKey": "shoot-1", "title": "T", "eventId": "11111111-1111-4111-8111-111111111111"});
    keep(&mut out, "start", &s.post("/v1/sessions", &start).await);
    let device = json!({"deviceId": "ipad-1", "name": "iPad", "platform": "ipados"});
    keep(&mut out, "device", &s.post("/v1/devices", &device).await);
    let join = json!({"deviceId": "ipad-1", "cameraKey": "A", "role": "hero"});
    keep(&mut out, "join", &s.post("/v1/sessions/shoot-1/cameras", &join).await);
    let placement = json!({"sessionKey": "shoot-1", "placement": {"panDeg": 10}});
    keep(&mut out, "placement", &s.put("/v1/devices/ipad-1/placement", &placement).await);
    let b =
        s.send(Method::POST, "/v1/sessions/shoot-1/director-events", &batch(), &[("idempotency-key", "batch-1")]).await;
    assert_eq!(b.status, 202, "{:#}", b.body);
    for (i, e) in b.body["events"].as_array().unwrap().iter().enumerate() {
        out.insert(format!("batch{i}"), (e["eventId"].as_str().unwrap().into(), e["journalSeq"].as_i64().unwrap()));
    }
    let still = json!({"stillId": "st-1", "cameraKey": "A", "capturedAt": AT});
    keep(&mut out, "still", &s.post("/v1/sessions/shoot-1/stills", &still).await);
    let upload = json!({"sessionKey": "shoot-1", "stillId": "st-1", "storageRef": "s3://b/st-1"});
    keep(&mut out, "upload", &s.post("/v1/callbacks/still-upload", &upload).await);
    keep(
        &mut out,
        "webhook",
        &s.send(Method::POST, "/v1/webhooks/live-director", &hook(), &[("webhook-id", "msg_1")]).await,
    );
    keep(&mut out, "complete", &s.post("/v1/sessions/shoot-1/complete", &json!({})).await);
    out
}

/// Every journal entry of a session, however many pages.
async fn whole_journal(s: &Server, session: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let r = s.get(&format!("/v1/sessions/{session}/journal?after={after}&limit=1000")).await;
        assert_eq!(r.status, 200, "{:#}", r.body);
        out.extend(r.body["entries"].as_array().unwrap().iter().cloned());
        match r.body["nextAfter"].as_i64() {
            Some(next) => after = next,
            None => return out,
        }
    }
}

fn batch() -> Value {
    json!({"events": [{"type": "cut", "cameraKey": "A"}, {"type": "marker", "label": "m"}, {"type": "note", "text": "n"}]})
}

fn hook() -> Value {
    json!({"type": "cue", "timestamp": AT, "data": {"sessionKey": "shoot-1", "cueKind": "pose", "label": "l"}})
}

#[tokio::test]
async fn the_journal_survives_a_clean_stop() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { data_dir: Some(dir.path().to_path_buf()), ..Options::default() };
    let s = Server::start_with(opts.clone()).await;
    let written = write_a_mix(&s).await;
    assert_eq!(written.len(), 11);
    let before: BTreeMap<String, Value> = {
        let mut m = BTreeMap::new();
        for (id, _) in written.values() {
            m.insert(id.clone(), s.event(id).await.body);
        }
        m
    };
    let status = s.stop().await;
    assert!(status.success(), "exit status {status:?}");

    let s = Server::start_with(opts).await;
    assert_eq!(s.backlog().await, 11);
    for (what, (id, seq)) in &written {
        let ev = s.event(id).await;
        assert_eq!(ev.status, 200, "{what}");
        assert_eq!(ev.body["journalSeq"], *seq, "{what}");
        assert_eq!(ev.body, before[id], "{what}");
    }
    let shoot = s.journal("shoot-1").await;
    assert_eq!(shoot.len(), 10, "every event but the device registration is the session's");

    // Replays are still recognised, by eventId, Idempotency-Key and webhook-id.
    let r = s
        .post(
            "/v1/sessions",
            &json!({"sessionKey": "shoot-1", "title": "T", "eventId": "11111111-1111-4111-8111-111111111111"}),
        )
        .await;
    assert_eq!(r.status, 202);
    assert_eq!(r.header("idempotent-replayed"), Some("true"));
    assert_eq!(r.body["journalSeq"], written["start"].1);
    let b =
        s.send(Method::POST, "/v1/sessions/shoot-1/director-events", &batch(), &[("idempotency-key", "batch-1")]).await;
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(b.body["replayed"], 3);
    assert_eq!(b.body["events"][2]["eventId"], written["batch2"].0.as_str());
    let w = s.send(Method::POST, "/v1/webhooks/live-director", &hook(), &[("webhook-id", "msg_1")]).await;
    assert_eq!(w.body["eventId"], written["webhook"].0.as_str());
    assert_eq!(w.body["replayed"], true);
    // And a conflict too.
    let c = s
        .post(
            "/v1/sessions",
            &json!({"sessionKey": "shoot-1", "title": "Other", "eventId": "11111111-1111-4111-8111-111111111111"}),
        )
        .await;
    c.assert_problem(422, "idempotency_key_reused");
    assert_eq!(s.backlog().await, 11);

    // New events continue the sequence.
    let max_seq = written.values().map(|(_, seq)| *seq).max().unwrap();
    let n = s.post("/v1/sessions/shoot-1/director-events", &json!({"type": "marker", "label": "after"})).await;
    assert!(n.body["journalSeq"].as_i64().unwrap() > max_seq, "{:#}", n.body);
    drop(s);
}

#[tokio::test]
async fn every_acknowledged_event_survives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options { data_dir: Some(dir.path().to_path_buf()), ..Options::default() };
    let s = Server::start_with(opts.clone()).await;
    let base = s.base.clone();

    // Four writers keep writing until the server dies under them.
    let acked: Arc<Mutex<Vec<(String, i64)>>> = Arc::default();
    let mut writers = Vec::new();
    for w in 0..4 {
        let acked = acked.clone();
        let base = base.clone();
        writers.push(tokio::spawn(async move {
            let client = common::client();
            for i in 0.. {
                let body = if i % 5 == 4 {
                    json!({"events": [{"type": "marker", "label": format!("w{w}-{i}-a")}, {"type": "marker", "label": format!("w{w}-{i}-b")}]})
                } else {
                    json!({"type": "note", "text": format!("w{w}-{i}")})
                };
                let Ok(res) = client.post(format!("{base}/v1/sessions/shoot-1/director-events")).json(&body).send().await else {
                    return;
                };
                if res.status().as_u16() != 202 {
                    return;
                }
                let Ok(v) = res.json::<Value>().await else { return };
                let receipts = match v["events"].as_array() {
                    Some(a) => a.clone(),
                    None => vec![v],
                };
                let mut acked = acked.lock().unwrap();
                for r in receipts {
                    acked.push((r["eventId"].as_str().unwrap().to_string(), r["journalSeq"].as_i64().unwrap()));
                }
            }
        }));
    }
    common::eventually(30, "200 acknowledged events", || {
        let n = acked.lock().unwrap().len();
        async move { (n >= 200).then_some(()) }
    })
    .await;
    s.kill().await;
    for w in writers {
        w.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= 200);

    let s = Server::start_with(opts).await;
    let entries = whole_journal(&s, "shoot-1").await;
    let journaled: BTreeMap<String, i64> = entries
        .iter()
        .map(|e| (e["eventId"].as_str().unwrap().to_string(), e["journalSeq"].as_i64().unwrap()))
        .collect();
    let missing: Vec<_> = acked.iter().filter(|(id, seq)| journaled.get(id) != Some(seq)).collect();
    assert!(missing.is_empty(), "{} of {} acknowledged events lost or moved: {missing:?}", missing.len(), acked.len());
    // At most the requests in flight at the kill were journaled unacknowledged.
    assert!(entries.len() >= acked.len());
    assert_eq!(s.backlog().await, entries.len() as u64);
    let seqs: Vec<i64> = entries.iter().map(|e| e["journalSeq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]));

    // An acknowledged id is still a replay after the crash: the same content
    // (no `at` was sent) under its eventId.
    let (id, seq) = &acked[0];
    let original = s.event(id).await;
    let mut body = original.body["event"].clone();
    let fields = body.as_object_mut().unwrap();
    fields.remove("sessionKey");
    fields.insert("eventId".into(), json!(id));
    let r = s.post("/v1/sessions/shoot-1/director-events", &body).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.body["replayed"], true);
    assert_eq!(r.body["journalSeq"], *seq);
}
