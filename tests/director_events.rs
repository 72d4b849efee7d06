//! Director events: cuts, holds, cues, markers and notes, one per request or
//! a batch of up to 500 — through the real server on a loopback port, on the
//! embedded default (no ledger).

mod common;

use common::Server;
use reqwest::Method;
use serde_json::{Value, json};

const EVENTS: &str = "/v1/sessions/shoot-1/director-events";
/// 2026-11-30T19:42:00.120Z.
const AT: i64 = 1_796_067_720_120;

/// One valid event of each type, and its journaled wire shape.
fn each_type() -> Vec<(Value, Value)> {
    vec![
        (
            json!({"type": "cut", "cameraKey": "B", "fromCameraKey": "A", "transition": "dissolve", "transitionMs": 400}),
            json!({"type": "cut", "sessionKey": "shoot-1", "cameraKey": "B", "fromCameraKey": "A", "transition": "dissolve", "transitionMs": 400}),
        ),
        (
            json!({"type": "hold_start", "holdId": "hold-1", "cameraKey": "B"}),
            json!({"type": "hold_start", "sessionKey": "shoot-1", "holdId": "hold-1", "cameraKey": "B"}),
        ),
        (
            json!({"type": "hold_end", "holdId": "hold-1"}),
            json!({"type": "hold_end", "sessionKey": "shoot-1", "holdId": "hold-1"}),
        ),
        (
            json!({"type": "cue", "cueKind": "lighting", "label": "Warmer key"}),
            json!({"type": "cue", "sessionKey": "shoot-1", "cueKind": "lighting", "label": "Warmer key"}),
        ),
        (
            json!({"type": "marker", "label": "Best take"}),
            json!({"type": "marker", "sessionKey": "shoot-1", "label": "Best take"}),
        ),
        (
            json!({"type": "note", "text": "Model asked for a break.\nResume at 20:00."}),
            json!({"type": "note", "sessionKey": "shoot-1", "text": "Model asked for a break.\nResume at 20:00."}),
        ),
    ]
}

fn marker(label: &str) -> Value {
    json!({"type": "marker", "label": label})
}

#[tokio::test]
async fn each_type_is_journaled_in_the_wire_shape() {
    let s = Server::start().await;
    let mut ids = Vec::new();
    for (body, wire) in each_type() {
        let r = s.post(EVENTS, &body).await;
        let id = r.assert_new_receipt(wire["type"].as_str().expect("type"));
        let ev = s.event(&id).await;
        assert_eq!(ev.body["event"], wire, "{body}");
        ids.push(id);
    }
    let entries = s.journal("shoot-1").await;
    let got: Vec<_> = entries.iter().map(|e| e["event"].clone()).collect();
    let want: Vec<_> = each_type().into_iter().map(|(_, w)| w).collect();
    assert_eq!(got, want);
    let got_ids: Vec<_> = entries.iter().map(|e| e["eventId"].as_str().unwrap().to_string()).collect();
    assert_eq!(got_ids, ids);
}

#[tokio::test]
async fn a_cut_needs_only_its_camera() {
    let s = Server::start().await;
    for transition in ["cut", "dissolve", "fade"] {
        let r = s.post(EVENTS, &json!({"type": "cut", "cameraKey": "A", "transition": transition})).await;
        assert_eq!(r.status, 202, "{:#}", r.body);
    }
    let r = s.post(EVENTS, &json!({"type": "cut", "cameraKey": "A", "at": AT})).await;
    assert_eq!(r.body["at"], AT);
    let ev = s.event(&r.event_id()).await;
    assert_eq!(ev.body["event"], json!({"type": "cut", "sessionKey": "shoot-1", "cameraKey": "A"}));
    assert_eq!(ev.body["at"], AT);
}

#[tokio::test]
async fn single_event_fields_are_checked_by_pointer() {
    let s = Server::start().await;
    let cases = [
        (json!({"type": "cut"}), "/cameraKey", "missing"),
        (json!({"type": "cut", "cameraKey": "a b"}), "/cameraKey", "charset"),
        (json!({"type": "cut", "cameraKey": "k".repeat(65)}), "/cameraKey", "too_long"),
        (json!({"type": "cut", "cameraKey": "A", "fromCameraKey": ""}), "/fromCameraKey", "empty"),
        (json!({"type": "hold_start", "holdId": "h 1", "cameraKey": "A"}), "/holdId", "charset"),
        (json!({"type": "cut", "cameraKey": "A", "transition": "wipe"}), "/transition", "unknown_variant"),
        (json!({"type": "cut", "cameraKey": "A", "transitionMs": 60_001}), "/transitionMs", "out_of_range"),
        (json!({"type": "cut", "cameraKey": "A", "transitionMs": -1}), "/transitionMs", "out_of_range"),
        (json!({"type": "hold_start", "holdId": "h1"}), "/cameraKey", "missing"),
        (json!({"type": "hold_end"}), "/holdId", "missing"),
        (json!({"type": "cue", "cueKind": "mood", "label": "x"}), "/cueKind", "unknown_variant"),
        (json!({"type": "cue", "cueKind": "pose", "label": ""}), "/label", "empty"),
        (json!({"type": "marker", "label": "x".repeat(201)}), "/label", "too_long"),
        (json!({"type": "note", "text": "x".repeat(4001)}), "/text", "too_long"),
        (json!({"type": "note", "text": "ok", "colour": "red"}), "/colour", "unknown_field"),
        (json!({"type": "note", "text": "ok", "at": 1_700_000}), "/at", "out_of_range"),
        (json!({"type": "note", "text": "ok", "at": "yesterday"}), "/at", "format"),
        (json!({"type": "note", "text": "ok", "at": 1.5e12}), "/at", "out_of_range"),
    ];
    for (body, pointer, code) in cases {
        let r = s.post(EVENTS, &body).await;
        r.assert_problem(422, "invalid_fields");
        assert_eq!(r.violations(), [(pointer, code)], "{body}");
    }
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());

    // The edges that are fine.
    for body in [
        json!({"type": "cut", "cameraKey": "A", "transitionMs": 60_000}),
        json!({"type": "marker", "label": "x".repeat(200)}),
        json!({"type": "note", "text": "x".repeat(4000)}),
    ] {
        assert_eq!(s.post(EVENTS, &body).await.status, 202, "{body}");
    }
}

#[tokio::test]
async fn type_is_required_and_must_be_known() {
    let s = Server::start().await;
    let r = s.post(EVENTS, &json!({"cameraKey": "A"})).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/type", "missing")]);
    let r = s.post(EVENTS, &json!({"type": "zoom", "cameraKey": "A"})).await;
    assert_eq!(r.violations(), [("/type", "unknown_variant")]);
    assert!(r.body["errors"][0]["detail"].as_str().unwrap().contains("cut, hold_start, hold_end, cue, marker, note"));
    let r = s.post(EVENTS, &json!({"type": 3})).await;
    assert_eq!(r.violations(), [("/type", "type")]);
    let r = s.post(EVENTS, &json!({"type": "note", "text": "ok", "eventId": "nope"})).await;
    assert_eq!(r.pointers(), ["/eventId"]);
    let r = s.post(EVENTS, &json!(["not", "an", "object"])).await;
    assert_eq!(r.violations(), [("", "type")]);

    let batch = json!({"events": [marker("ok"), {"type": "hold"}, {"label": "no type"}]});
    let r = s.post(EVENTS, &batch).await;
    assert_eq!(r.violations(), [("/events/1/type", "unknown_variant"), ("/events/2/type", "missing")]);
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_batch_answers_a_receipt_per_event_in_order() {
    let s = Server::start().await;
    let bodies: Vec<Value> = each_type().into_iter().map(|(b, _)| b).collect();
    let r = s.post(EVENTS, &json!({"events": bodies})).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.header("location"), None, "a batch has no single location");
    assert_eq!(r.header("idempotent-replayed"), None);
    assert_eq!(r.body["accepted"], 6);
    assert_eq!(r.body["replayed"], 0);
    let receipts = r.body["events"].as_array().unwrap();
    let kinds: Vec<_> = receipts.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["cut", "hold_start", "hold_end", "cue", "marker", "note"]);
    assert!(receipts.iter().all(|e| e["status"] == "pending" && e["replayed"] == false));
    let seqs: Vec<i64> = receipts.iter().map(|e| e["journalSeq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "journalSeq increases: {seqs:?}");
    let received: Vec<_> = receipts.iter().map(|e| e["receivedAt"].clone()).collect();
    assert!(received.iter().all(|r| *r == received[0]), "one request, one receipt time");

    let entries = s.journal("shoot-1").await;
    let ids: Vec<_> = entries.iter().map(|e| e["eventId"].clone()).collect();
    let receipt_ids: Vec<_> = receipts.iter().map(|e| e["eventId"].clone()).collect();
    assert_eq!(ids, receipt_ids);
    let wires: Vec<_> = entries.iter().map(|e| e["event"].clone()).collect();
    assert_eq!(wires, each_type().into_iter().map(|(_, w)| w).collect::<Vec<_>>());
}

#[tokio::test]
async fn the_journal_order_is_the_batch_order() {
    let s = Server::start().await;
    let first: Vec<Value> = (0..100).map(|i| marker(&format!("m{i:03}"))).collect();
    let second: Vec<Value> = (100..150).map(|i| marker(&format!("m{i:03}"))).collect();
    assert_eq!(s.post(EVENTS, &json!({"events": first})).await.status, 202);
    assert_eq!(s.post(EVENTS, &json!({"events": second})).await.status, 202);
    let entries = s.journal("shoot-1").await;
    let labels: Vec<_> = entries.iter().map(|e| e["event"]["label"].as_str().unwrap().to_string()).collect();
    let want: Vec<_> = (0..150).map(|i| format!("m{i:03}")).collect();
    assert_eq!(labels, want);
    let seqs: Vec<i64> = entries.iter().map(|e| e["journalSeq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
}

#[tokio::test]
async fn errors_in_several_events_are_all_reported_and_nothing_is_journaled() {
    let s = Server::start().await;
    let batch = json!({"events": [
        marker("fine"),
        {"type": "cue", "cueKind": "mood", "label": "x"},
        {"type": "cut", "cameraKey": "A"},
        {"type": "cut", "cameraKey": "wide left"},
        {"type": "hold_end"},
        {"type": "note", "text": "ok", "extra": true},
    ]});
    let r = s.post(EVENTS, &batch).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(
        r.violations(),
        [
            ("/events/1/cueKind", "unknown_variant"),
            ("/events/3/cameraKey", "charset"),
            ("/events/4/holdId", "missing"),
            ("/events/5/extra", "unknown_field"),
        ]
    );
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn rule_violations_in_several_events_are_all_reported() {
    let s = Server::start().await;
    let batch = json!({"events": [
        marker(&"x".repeat(201)),
        {"type": "note", "text": " "},
        marker("fine"),
        {"type": "cut", "cameraKey": "A", "transitionMs": 70_000, "at": 1000},
    ]});
    let r = s.post(EVENTS, &batch).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(
        r.violations(),
        [
            ("/events/0/label", "too_long"),
            ("/events/1/text", "empty"),
            ("/events/3/transitionMs", "out_of_range"),
            ("/events/3/at", "out_of_range"),
        ]
    );
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
}

#[tokio::test]
async fn parse_errors_and_rule_violations_are_reported_together() {
    let s = Server::start().await;
    let batch = json!({"events": [
        marker(&"x".repeat(201)),
        {"type": "cue", "cueKind": "mood", "label": "x"},
        {"type": "note", "text": ""},
    ]});
    let r = s.post(EVENTS, &batch).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(
        r.violations(),
        [("/events/0/label", "too_long"), ("/events/1/cueKind", "unknown_variant"), ("/events/2/text", "empty")]
    );
}

#[tokio::test]
async fn a_batch_holds_1_to_500_events() {
    let s = Server::start().await;
    let r = s.post(EVENTS, &json!({"events": []})).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/events", "length")]);

    let too_many: Vec<Value> = (0..501).map(|i| marker(&format!("m{i}"))).collect();
    let r = s.post(EVENTS, &json!({"events": too_many})).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/events", "length")]);
    assert!(r.body["errors"][0]["detail"].as_str().unwrap().contains("this one 501"));
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());

    let r = s.post(EVENTS, &json!({"events": {"type": "marker"}})).await;
    assert_eq!(r.violations(), [("/events", "type")]);
    let r = s.post(EVENTS, &json!({"events": [marker("a")], "sessionKey": "shoot-2"})).await;
    assert_eq!(r.violations(), [("/sessionKey", "unknown_field")]);

    let max: Vec<Value> = (0..500).map(|i| marker(&format!("m{i}"))).collect();
    let r = s.post(EVENTS, &json!({"events": max})).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.body["accepted"], 500);
    assert_eq!(r.body["events"].as_array().unwrap().len(), 500);
    assert_eq!(s.journal("shoot-1").await.len(), 500);
}

#[tokio::test]
async fn a_batch_over_500_kib_is_too_large() {
    let s = Server::start().await;
    // 130 notes of 4000 characters: each event is valid, the body ~510 KiB.
    let events: Vec<Value> = (0..130).map(|_| json!({"type": "note", "text": "n".repeat(4000)})).collect();
    let body = json!({"events": events});
    assert!(serde_json::to_vec(&body).unwrap().len() > 500 * 1024);
    let r = s.post(EVENTS, &body).await;
    r.assert_problem(413, "payload_too_large");
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());

    // Just under the limit is fine.
    let events: Vec<Value> = (0..125).map(|_| json!({"type": "note", "text": "n".repeat(4000)})).collect();
    let body = json!({"events": events});
    assert!(serde_json::to_vec(&body).unwrap().len() < 500 * 1024);
    let r = s.post(EVENTS, &body).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.body["accepted"], 125);
}

#[tokio::test]
async fn a_batch_with_an_idempotency_key_is_replayed_whole() {
    let s = Server::start().await;
    let body = json!({"events": [marker("a"), marker("b"), marker("c")]});
    let h = [("idempotency-key", "batch-7")];
    let first = s.send(Method::POST, EVENTS, &body, &h).await;
    assert_eq!(first.status, 202, "{:#}", first.body);
    let ids: Vec<_> = first.body["events"].as_array().unwrap().iter().map(|e| e["eventId"].clone()).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids[0] != ids[1] && ids[1] != ids[2] && ids[0] != ids[2], "one id per position: {ids:?}");

    let again = s.send(Method::POST, EVENTS, &body, &h).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["accepted"], 0);
    assert_eq!(again.body["replayed"], 3);
    let again_ids: Vec<_> = again.body["events"].as_array().unwrap().iter().map(|e| e["eventId"].clone()).collect();
    assert_eq!(again_ids, ids);
    for (a, b) in first.body["events"].as_array().unwrap().iter().zip(again.body["events"].as_array().unwrap()) {
        assert_eq!(b["replayed"], true);
        assert_eq!(a["journalSeq"], b["journalSeq"]);
        assert_eq!(a["receivedAt"], b["receivedAt"]);
    }
    assert_eq!(s.journal("shoot-1").await.len(), 3);

    // The same key with a longer batch: the first three are replays, the
    // fourth is new.
    let longer = json!({"events": [marker("a"), marker("b"), marker("c"), marker("d")]});
    let more = s.send(Method::POST, EVENTS, &longer, &h).await;
    assert_eq!(more.status, 202, "{:#}", more.body);
    assert_eq!((more.body["accepted"].clone(), more.body["replayed"].clone()), (json!(1), json!(3)));
    assert_eq!(more.header("idempotent-replayed"), None, "not every event was a replay");
    assert_eq!(s.journal("shoot-1").await.len(), 4);
}

#[tokio::test]
async fn a_batch_idempotency_key_conflict_names_the_header_and_the_event() {
    let s = Server::start().await;
    let h = [("idempotency-key", "batch-8")];
    let first = s.send(Method::POST, EVENTS, &json!({"events": [marker("a"), marker("b")]}), &h).await;
    assert_eq!(first.status, 202);
    let r = s.send(Method::POST, EVENTS, &json!({"events": [marker("a"), marker("B!")]}), &h).await;
    r.assert_problem(422, "idempotency_key_reused");
    // The id came from the header; `eventId` says which event of the batch.
    assert_eq!(r.violations(), [("/headers/Idempotency-Key", "reused")]);
    assert_eq!(r.body["eventId"], first.body["events"][1]["eventId"]);
    assert_eq!(s.journal("shoot-1").await.len(), 2);
}

#[tokio::test]
async fn a_reused_event_id_in_a_batch_is_a_conflict_and_nothing_new_is_journaled() {
    let s = Server::start().await;
    let id = "5e6f7a8b-9c0d-4e1f-a2b3-c4d5e6f7a8b9";
    let earlier = s.post(EVENTS, &json!({"type": "marker", "label": "original", "eventId": id})).await;
    assert_eq!(earlier.status, 202);

    let batch = json!({"events": [
        marker("new 0"),
        marker("new 1"),
        {"type": "marker", "label": "changed", "eventId": id},
        marker("new 3"),
    ]});
    let r = s.post(EVENTS, &batch).await;
    r.assert_problem(422, "idempotency_key_reused");
    assert_eq!(r.violations(), [("/events/2/eventId", "reused")]);
    assert_eq!(r.body["eventId"], id);

    let entries = s.journal("shoot-1").await;
    assert_eq!(entries.len(), 1, "{entries:#?}");
    assert_eq!(entries[0]["event"]["label"], "original");
    assert_eq!(s.backlog().await, 1);

    // The same id with the same content inside a batch is a replay.
    let batch = json!({"events": [marker("new 0"), {"type": "marker", "label": "original", "eventId": id}]});
    let r = s.post(EVENTS, &batch).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!((r.body["accepted"].clone(), r.body["replayed"].clone()), (json!(1), json!(1)));
    assert_eq!(r.body["events"][1]["eventId"], id);
    assert_eq!(r.body["events"][1]["replayed"], true);
    assert_eq!(r.body["events"][1]["journalSeq"], earlier.body["journalSeq"]);
}

#[tokio::test]
async fn the_same_event_id_twice_in_one_batch_is_a_duplicate() {
    let s = Server::start().await;
    let id = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d";
    let batch = json!({"events": [
        {"type": "marker", "label": "a", "eventId": id},
        marker("b"),
        {"type": "marker", "label": "a", "eventId": id},
    ]});
    let r = s.post(EVENTS, &batch).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/events/2/eventId", "duplicate")]);
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_single_event_replays_by_event_id_and_idempotency_key() {
    let s = Server::start().await;
    let id = "1f2e3d4c-5b6a-4798-8a7b-6c5d4e3f2a1b";
    let body = json!({"type": "cue", "cueKind": "pose", "label": "Chin up", "eventId": id, "at": AT});
    let a = s.post(EVENTS, &body).await;
    let b = s.post(EVENTS, &body).await;
    assert_eq!((a.status, b.status), (202, 202));
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(b.body["journalSeq"], a.body["journalSeq"]);

    let h = [("idempotency-key", "cue-2")];
    let body = json!({"type": "cue", "cueKind": "look", "label": "Glasses off"});
    let c = s.send(Method::POST, EVENTS, &body, &h).await;
    let d = s.send(Method::POST, EVENTS, &body, &h).await;
    assert_eq!(d.body["eventId"], c.body["eventId"]);
    assert_eq!(d.body["replayed"], true);
    // A single event and a batch of one with the same key are different ids.
    let e = s.send(Method::POST, EVENTS, &json!({"events": [body]}), &h).await;
    assert_eq!(e.status, 202);
    assert_ne!(e.body["events"][0]["eventId"], c.body["eventId"]);
    assert_eq!(s.journal("shoot-1").await.len(), 3);
}

#[tokio::test]
async fn a_bad_session_key_in_the_path_is_named_by_path_pointer() {
    let s = Server::start().await;
    let r = s.post("/v1/sessions/shoot%201/director-events", &marker("m")).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/path/sessionKey", "charset")]);
    assert_eq!(s.backlog().await, 0);
}
