//! The Live Director webhook: Standard Webhooks payloads `{type, timestamp,
//! data}`, one endpoint for every event of a shoot — through the real server
//! on a loopback port, on the embedded default (no ledger).

mod common;

use common::Server;
use reqwest::Method;
use serde_json::{Value, json};

const HOOK: &str = "/v1/webhooks/live-director";
/// 2026-11-30T19:42:00.120Z.
const TS: i64 = 1_796_067_720_120;
const TS_RFC3339: &str = "2026-11-30T19:42:00.120Z";

fn msg(kind: &str, data: Value) -> Value {
    json!({"type": kind, "timestamp": TS_RFC3339, "data": data})
}

async fn deliver(s: &Server, webhook_id: &str, body: &Value) -> common::Resp {
    s.send(Method::POST, HOOK, body, &[("webhook-id", webhook_id)]).await
}

/// Every webhook type, and the event it is journaled as.
fn a_whole_shoot() -> Vec<(Value, Value)> {
    vec![
        (
            msg("shoot.started", json!({"sessionKey": "shoot-9", "title": "Autumn lookbook", "location": "Studio B"})),
            json!({"type": "start_shoot", "sessionKey": "shoot-9", "title": "Autumn lookbook", "location": "Studio B"}),
        ),
        (
            msg(
                "cut",
                json!({"sessionKey": "shoot-9", "cameraKey": "B", "fromCameraKey": "A", "transition": "fade", "transitionMs": 250}),
            ),
            json!({"type": "cut", "sessionKey": "shoot-9", "cameraKey": "B", "fromCameraKey": "A", "transition": "fade", "transitionMs": 250}),
        ),
        (
            msg("hold.started", json!({"sessionKey": "shoot-9", "holdId": "hold-1", "cameraKey": "B"})),
            json!({"type": "hold_start", "sessionKey": "shoot-9", "holdId": "hold-1", "cameraKey": "B"}),
        ),
        (
            msg("hold.ended", json!({"sessionKey": "shoot-9", "holdId": "hold-1"})),
            json!({"type": "hold_end", "sessionKey": "shoot-9", "holdId": "hold-1"}),
        ),
        (
            msg("cue", json!({"sessionKey": "shoot-9", "cueKind": "wardrobe", "label": "Red coat"})),
            json!({"type": "cue", "sessionKey": "shoot-9", "cueKind": "wardrobe", "label": "Red coat"}),
        ),
        (
            msg("marker", json!({"sessionKey": "shoot-9", "label": "Cover candidate"})),
            json!({"type": "marker", "sessionKey": "shoot-9", "label": "Cover candidate"}),
        ),
        (
            msg("note", json!({"sessionKey": "shoot-9", "text": "Light drifted warm"})),
            json!({"type": "note", "sessionKey": "shoot-9", "text": "Light drifted warm"}),
        ),
        (
            msg("shoot.ended", json!({"sessionKey": "shoot-9"})),
            json!({"type": "complete_session", "sessionKey": "shoot-9"}),
        ),
    ]
}

#[tokio::test]
async fn each_type_is_journaled_as_its_event_in_its_session() {
    let s = Server::start().await;
    let mut ids = Vec::new();
    for (i, (body, wire)) in a_whole_shoot().into_iter().enumerate() {
        let r = deliver(&s, &format!("msg_{i}"), &body).await;
        assert_eq!(r.status, 202, "{body}: {:#}", r.body);
        assert_eq!(r.body["type"], wire["type"], "{body}");
        assert_eq!(r.body["at"], TS, "the timestamp is the event's clock");
        assert_eq!(r.body["replayed"], false);
        let id = r.event_id();
        assert_eq!(r.header("location"), Some(format!("/v1/events/{id}").as_str()));
        assert_eq!(s.event(&id).await.body["event"], wire, "{body}");
        ids.push(id);
    }
    let entries = s.journal("shoot-9").await;
    let wires: Vec<_> = entries.iter().map(|e| e["event"].clone()).collect();
    assert_eq!(wires, a_whole_shoot().into_iter().map(|(_, w)| w).collect::<Vec<_>>());
    let journal_ids: Vec<_> = entries.iter().map(|e| e["eventId"].as_str().unwrap().to_string()).collect();
    assert_eq!(journal_ids, ids);
    assert!(entries.iter().all(|e| e["at"] == TS));
}

#[tokio::test]
async fn a_redelivery_with_the_same_webhook_id_is_a_replay() {
    let s = Server::start().await;
    let body = msg("cut", json!({"sessionKey": "shoot-9", "cameraKey": "B"}));
    let first = deliver(&s, "msg_2QWvPZ6tJdDwL1", &body).await;
    assert_eq!(first.status, 202, "{:#}", first.body);
    let again = deliver(&s, "msg_2QWvPZ6tJdDwL1", &body).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["replayed"], true);
    for field in ["eventId", "journalSeq", "at", "receivedAt"] {
        assert_eq!(again.body[field], first.body[field], "{field}");
    }
    // Another message with the same content is another event.
    let other = deliver(&s, "msg_2QWvPZ6tJdDwL2", &body).await;
    assert_eq!(other.status, 202);
    assert_eq!(other.body["replayed"], false);
    assert_ne!(other.body["eventId"], first.body["eventId"]);
    assert_eq!(s.journal("shoot-9").await.len(), 2);

    // Without a webhook-id, every delivery is a new event.
    let a = s.post(HOOK, &body).await;
    let b = s.post(HOOK, &body).await;
    assert_ne!(a.body["eventId"], b.body["eventId"]);
    assert_eq!(s.journal("shoot-9").await.len(), 4);
}

#[tokio::test]
async fn the_same_webhook_id_with_other_data_is_a_conflict() {
    let s = Server::start().await;
    let first = deliver(&s, "msg_1", &msg("marker", json!({"sessionKey": "shoot-9", "label": "One"}))).await;
    assert_eq!(first.status, 202);
    let r = deliver(&s, "msg_1", &msg("marker", json!({"sessionKey": "shoot-9", "label": "Two"}))).await;
    r.assert_problem(422, "idempotency_key_reused");
    assert_eq!(r.body["eventId"], first.body["eventId"]);
    assert_eq!(r.body["errors"][0]["code"], "reused");
    // Another timestamp is other content too.
    let later = json!({"type": "marker", "timestamp": TS + 1, "data": {"sessionKey": "shoot-9", "label": "One"}});
    deliver(&s, "msg_1", &later).await.assert_problem(422, "idempotency_key_reused");
    let entries = s.journal("shoot-9").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["event"]["label"], "One");
}

#[tokio::test]
async fn an_event_id_in_data_wins_over_the_webhook_id() {
    let s = Server::start().await;
    let id = "2b3c4d5e-6f70-4182-93a4-b5c6d7e8f901";
    let r = deliver(&s, "msg_x", &msg("note", json!({"sessionKey": "shoot-9", "text": "t", "eventId": id}))).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.body["eventId"], id);
}

#[tokio::test]
async fn timestamp_becomes_at_unless_data_at_is_given() {
    let s = Server::start().await;
    let data_at = TS - 5_000;
    let r = s.post(HOOK, &msg("marker", json!({"sessionKey": "shoot-9", "label": "a", "at": data_at}))).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.body["at"], data_at);

    let r = s
        .post(HOOK, &json!({"type": "marker", "timestamp": TS, "data": {"sessionKey": "shoot-9", "label": "b"}}))
        .await;
    assert_eq!(r.body["at"], TS, "epoch ms works as well as RFC 3339");

    let r = s.post(HOOK, &json!({"type": "marker", "data": {"sessionKey": "shoot-9", "label": "c"}})).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.body["at"], r.body["receivedAt"], "no clock at all: the service's");

    let r = s.post(HOOK, &msg("shoot.ended", json!({"sessionKey": "shoot-9", "at": data_at}))).await;
    assert_eq!(r.body["at"], data_at);
    let ats: Vec<_> = s.journal("shoot-9").await.iter().map(|e| e["at"].clone()).collect();
    assert_eq!(ats.len(), 4);
    assert_eq!(ats[0], data_at);
    assert_eq!(ats[1], TS);
    assert_eq!(ats[3], data_at);
}

#[tokio::test]
async fn errors_point_into_data() {
    let s = Server::start().await;
    let cases = [
        (msg("cut", json!({"cameraKey": "B"})), "/data/sessionKey", "missing"),
        (msg("shoot.started", json!({"title": "T"})), "/data/sessionKey", "missing"),
        (msg("shoot.ended", json!({})), "/data/sessionKey", "missing"),
        (msg("cut", json!({"sessionKey": "shoot 9", "cameraKey": "B"})), "/data/sessionKey", "charset"),
        (msg("cut", json!({"sessionKey": "shoot-9", "cameraKey": "b b"})), "/data/cameraKey", "charset"),
        (msg("cut", json!({"sessionKey": "shoot-9"})), "/data/cameraKey", "missing"),
        (
            msg("cut", json!({"sessionKey": "shoot-9", "cameraKey": "B", "transitionMs": 60_001})),
            "/data/transitionMs",
            "out_of_range",
        ),
        (msg("hold.started", json!({"sessionKey": "shoot-9", "holdId": "h"})), "/data/cameraKey", "missing"),
        (msg("hold.ended", json!({"sessionKey": "shoot-9"})), "/data/holdId", "missing"),
        (
            msg("cue", json!({"sessionKey": "shoot-9", "cueKind": "mood", "label": "x"})),
            "/data/cueKind",
            "unknown_variant",
        ),
        (msg("cue", json!({"sessionKey": "shoot-9", "cueKind": "pose", "label": ""})), "/data/label", "empty"),
        (msg("marker", json!({"sessionKey": "shoot-9", "label": "x".repeat(201)})), "/data/label", "too_long"),
        (msg("note", json!({"sessionKey": "shoot-9", "text": "x".repeat(4001)})), "/data/text", "too_long"),
        (msg("shoot.started", json!({"sessionKey": "shoot-9", "title": ""})), "/data/title", "empty"),
        (msg("shoot.ended", json!({"sessionKey": "shoot-9", "title": "T"})), "/data/title", "unknown_field"),
        (
            msg("marker", json!({"sessionKey": "shoot-9", "label": "x", "colour": "red"})),
            "/data/colour",
            "unknown_field",
        ),
        (msg("marker", json!({"sessionKey": "shoot-9", "label": "x", "at": 1000})), "/data/at", "out_of_range"),
        (msg("marker", json!("not an object")), "/data", "type"),
        (json!({"type": "marker", "timestamp": TS}), "/data", "missing"),
        (
            json!({"type": "marker", "timestamp": "noon", "data": {"sessionKey": "shoot-9", "label": "x"}}),
            "/timestamp",
            "format",
        ),
    ];
    for (body, pointer, code) in cases {
        let r = s.post(HOOK, &body).await;
        r.assert_problem(422, "invalid_fields");
        assert_eq!(r.violations(), [(pointer, code)], "{body}");
    }
    assert_eq!(s.journal("shoot-9").await, Vec::<Value>::new());
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn the_type_must_be_a_live_director_type() {
    let s = Server::start().await;
    let data = json!({"sessionKey": "shoot-9", "label": "x"});
    for kind in ["shoot.paused", "hold_start", "Marker", ""] {
        let r = s.post(HOOK, &msg(kind, data.clone())).await;
        r.assert_problem(422, "invalid_fields");
        assert_eq!(r.violations(), [("/type", "unknown_variant")], "{kind:?}");
        assert!(r.body["errors"][0]["detail"].as_str().unwrap().contains("`shoot.started`"));
    }
    let r = s.post(HOOK, &json!({"timestamp": TS, "data": data})).await;
    assert_eq!(r.violations(), [("/type", "missing")]);
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn an_out_of_range_timestamp_is_named_by_its_own_pointer() {
    let s = Server::start().await;
    let body = json!({"type": "marker", "timestamp": 1_000, "data": {"sessionKey": "shoot-9", "label": "x"}});
    let r = s.post(HOOK, &body).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/timestamp", "out_of_range")]);
}

#[tokio::test]
async fn an_out_of_range_timestamp_is_refused_and_nothing_is_written() {
    let s = Server::start().await;
    let far_ahead = TS + 3 * 24 * 3600 * 1000;
    for ts in [json!(1_000), json!(far_ahead)] {
        let body = json!({"type": "marker", "timestamp": ts, "data": {"sessionKey": "shoot-9", "label": "x"}});
        let r = s.post(HOOK, &body).await;
        r.assert_problem(422, "invalid_fields");
        assert_eq!(r.body["errors"].as_array().unwrap().len(), 1, "{:#}", r.body);
        assert_eq!(r.body["errors"][0]["code"], "out_of_range");
    }
    assert_eq!(s.backlog().await, 0);
}
