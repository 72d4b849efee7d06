//! Sessions: Start Shoot, completion, and reading a shoot back — through the
//! real server on a loopback port, on the embedded default (no ledger).

mod common;

use common::Server;
use serde_json::json;

#[tokio::test]
async fn start_shoot_is_journaled_and_acknowledged() {
    let s = Server::start().await;
    let r = s
        .post("/v1/sessions", &json!({"sessionKey": "shoot-1", "title": "Autumn lookbook", "location": "Studio B"}))
        .await;
    let id = r.assert_new_receipt("start_shoot");
    // A minted id is a time-ordered UUID v7 (the journal's index grows at
    // its end).
    assert_eq!(id.as_bytes()[14], b'7', "{id}");

    let ev = s.get(&format!("/v1/events/{id}")).await;
    assert_eq!(ev.status, 200);
    assert_eq!(
        ev.body["event"],
        json!({"type": "start_shoot", "sessionKey": "shoot-1", "title": "Autumn lookbook", "location": "Studio B"})
    );
}

#[tokio::test]
async fn client_event_id_and_clock_are_kept() {
    let s = Server::start().await;
    let id = "6f1c1b1e-3c7a-4d59-9a43-2f4b8d0e9a10";
    let body = json!({"eventId": id, "sessionKey": "shoot-1", "title": "T", "at": "2026-11-30T19:30:00Z"});
    let r = s.post("/v1/sessions", &body).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body["eventId"], id);
    assert_eq!(r.body["at"], 1_796_067_000_000_i64);
}

#[tokio::test]
async fn a_replay_returns_the_original_and_changes_nothing() {
    let s = Server::start().await;
    let body = json!({"eventId": "0b7e9f40-7d0c-4b5e-9a7c-8f5e1a2b3c4d", "sessionKey": "shoot-1", "title": "T"});
    let first = s.post("/v1/sessions", &body).await;
    let again = s.post("/v1/sessions", &body).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.body["replayed"], true);
    for field in ["eventId", "journalSeq", "receivedAt", "at"] {
        assert_eq!(again.body[field], first.body[field], "{field}");
    }
    assert_eq!(s.journal("shoot-1").await.len(), 1);
}

#[tokio::test]
async fn the_same_id_with_other_content_is_a_conflict() {
    let s = Server::start().await;
    let id = "0b7e9f40-7d0c-4b5e-9a7c-8f5e1a2b3c4d";
    s.post("/v1/sessions", &json!({"eventId": id, "sessionKey": "shoot-1", "title": "T"})).await;
    let r = s.post("/v1/sessions", &json!({"eventId": id, "sessionKey": "shoot-1", "title": "Other"})).await;
    r.assert_problem(422, "idempotency_key_reused");
    assert_eq!(r.pointers(), ["/eventId"]);
    assert_eq!(r.body["eventId"], id);
    let entries = s.journal("shoot-1").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["event"]["title"], "T");
}

#[tokio::test]
async fn idempotency_key_header_derives_a_stable_id() {
    let s = Server::start().await;
    let body = json!({"sessionKey": "shoot-1", "title": "T"});
    let h = [("idempotency-key", "start-42")];
    let a = s.send(reqwest::Method::POST, "/v1/sessions", &body, &h).await;
    let b = s.send(reqwest::Method::POST, "/v1/sessions", &body, &h).await;
    assert_eq!(a.status, 202);
    assert_eq!(a.body["eventId"], b.body["eventId"]);
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    let other =
        s.send(reqwest::Method::POST, "/v1/sessions", &json!({"sessionKey": "shoot-1", "title": "X"}), &h).await;
    other.assert_problem(422, "idempotency_key_reused");
    // Without a key or id, every request is a new event.
    let c = s.post("/v1/sessions", &body).await;
    let d = s.post("/v1/sessions", &body).await;
    assert_ne!(c.body["eventId"], d.body["eventId"]);
}

#[tokio::test]
async fn invalid_fields_are_named_by_pointer_and_nothing_is_written() {
    let s = Server::start().await;
    let r = s.post("/v1/sessions", &json!({"sessionKey": "bad key", "title": "T"})).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.pointers(), ["/sessionKey"]);

    let r = s.post("/v1/sessions", &json!({"sessionKey": "shoot-1"})).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.pointers(), ["/title"]);
    assert_eq!(r.body["errors"][0]["code"], "missing");

    let r = s.post("/v1/sessions", &json!({"sessionKey": "shoot-1", "title": "T", "titel": "typo"})).await;
    assert_eq!(r.pointers(), ["/titel"]);

    let r = s.post("/v1/sessions", &json!({"sessionKey": "shoot-1", "title": "x".repeat(201), "at": 1_000})).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.pointers(), ["/title", "/at"]);

    let r = s.get("/v1/sessions/shoot-1/journal").await;
    assert_eq!(r.body["entries"], json!([]));
}

#[tokio::test]
async fn malformed_json_wrong_type_and_oversize_bodies() {
    let s = Server::start().await;
    let r = s.raw(reqwest::Method::POST, "/v1/sessions", Some("application/json"), b"{\"sessionKey\":".to_vec()).await;
    r.assert_problem(400, "malformed_json");
    let r = s.raw(reqwest::Method::POST, "/v1/sessions", Some("text/plain"), b"{}".to_vec()).await;
    r.assert_problem(415, "unsupported_media_type");
    let r = s.raw(reqwest::Method::POST, "/v1/sessions", None, b"{}".to_vec()).await;
    r.assert_problem(415, "unsupported_media_type");
    let big = json!({"sessionKey": "shoot-1", "title": "T", "notes": "n".repeat(40 * 1024)});
    let r = s.post("/v1/sessions", &big).await;
    r.assert_problem(413, "payload_too_large");
    assert_eq!(r.header("connection"), Some("close"), "the unread body makes the connection unusable");
    let r = s
        .raw(
            reqwest::Method::POST,
            "/v1/sessions",
            Some("application/merge-patch+json"),
            br#"{"sessionKey":"s","title":"T"}"#.to_vec(),
        )
        .await;
    assert_eq!(r.status, 202, "+json media types are JSON");
}

#[tokio::test]
async fn complete_takes_an_empty_body() {
    let s = Server::start().await;
    let r = s.raw(reqwest::Method::POST, "/v1/sessions/shoot-1/complete", None, Vec::new()).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.body["type"], "complete_session");
    let r = s.post("/v1/sessions/shoot-1/complete", &json!({"eventId": "not-a-uuid"})).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.pointers(), ["/eventId"]);
    let r = s.post("/v1/sessions/bad%20key/complete", &json!({})).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.pointers(), ["/path/sessionKey"]);
}

#[tokio::test]
async fn the_journal_view_of_a_session_on_request() {
    let s = Server::start().await;
    s.post("/v1/sessions", &json!({"sessionKey": "shoot-1", "title": "T"})).await;
    s.post("/v1/sessions/shoot-1/complete", &json!({})).await;
    let r = s.get("/v1/sessions/shoot-1?source=journal").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body["source"], "journal");
    let kinds: Vec<_> = r.body["journal"].as_array().unwrap().iter().map(|e| e["type"].clone()).collect();
    assert_eq!(kinds, [json!("start_shoot"), json!("complete_session")]);
    assert_eq!(r.body["journal"][0]["status"], "pending");
    s.get("/v1/sessions/unknown").await.assert_problem(404, "not_found");
    s.get("/v1/sessions/unknown?source=embedded").await.assert_problem(404, "not_found");
    // No Convex deployment is configured: asking for it is a 404, not a 5xx.
    s.get("/v1/sessions/shoot-1?source=convex").await.assert_problem(404, "not_found");
    s.get("/v1/sessions/shoot-1?source=elsewhere").await.assert_problem(422, "invalid_fields");
}

#[tokio::test]
async fn the_journal_pages_in_order() {
    let s = Server::start().await;
    for i in 0..5 {
        s.post("/v1/sessions", &json!({"sessionKey": "shoot-1", "title": format!("T{i}")})).await;
    }
    let p1 = s.get("/v1/sessions/shoot-1/journal?limit=2").await;
    let seqs: Vec<i64> =
        p1.body["entries"].as_array().unwrap().iter().map(|e| e["journalSeq"].as_i64().unwrap()).collect();
    assert_eq!(seqs.len(), 2);
    let next = p1.body["nextAfter"].as_i64().expect("nextAfter");
    let p2 = s.get(&format!("/v1/sessions/shoot-1/journal?after={next}&limit=10")).await;
    let titles: Vec<_> = p2.body["entries"].as_array().unwrap().iter().map(|e| e["event"]["title"].clone()).collect();
    assert_eq!(titles, [json!("T2"), json!("T3"), json!("T4")]);
    assert!(p2.body.get("nextAfter").is_none());

    // Query parameters that are not numbers are named, as a problem.
    let r = s.get("/v1/sessions/shoot-1/journal?limit=-1").await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.pointers(), ["/query/limit"]);
    let r = s.get("/v1/sessions/shoot-1/journal?after=abc").await;
    assert_eq!(r.pointers(), ["/query/after"]);
}

/// Eventually the embedded ledger's list of sessions with `query`.
async fn sessions_when(s: &Server, query: &str, n: usize) -> serde_json::Value {
    common::eventually(20, &format!("{n} sessions for {query:?}"), || async {
        let r = s.get(&format!("/v1/sessions{query}")).await;
        (r.status == 200 && r.body["sessions"].as_array().map_or(0, Vec::len) == n).then_some(r.body)
    })
    .await
}

#[tokio::test]
async fn the_shoots_are_listed_newest_first_filtered_and_paged() {
    let s = Server::start().await;
    for (key, at) in [("s-old", 1_764_500_000_000_i64), ("s-mid", 1_764_600_000_000), ("s-new", 1_764_700_000_000)] {
        let r = s.post("/v1/sessions", &json!({"sessionKey": key, "title": key, "at": at})).await;
        r.assert_new_receipt("start_shoot");
    }
    s.post("/v1/sessions/s-mid/complete", &json!({})).await.assert_new_receipt("complete_session");
    let all = sessions_when(&s, "", 3).await;
    assert_eq!(all["source"], "embedded");
    let keys: Vec<&str> =
        all["sessions"].as_array().unwrap().iter().map(|x| x["sessionKey"].as_str().unwrap()).collect();
    assert_eq!(keys, ["s-new", "s-mid", "s-old"], "newest start first");
    assert_eq!(all["sessions"][0]["startedAt"], 1_764_700_000_000_i64, "an integer");
    assert!(all.get("nextCursor").is_none());

    let done = sessions_when(&s, "?status=completed", 1).await;
    assert_eq!(done["sessions"][0]["sessionKey"], "s-mid");
    assert!(done["sessions"][0]["summary"]["events"].is_i64());
    let live = sessions_when(&s, "?status=live&from=1764600000000", 1).await;
    assert_eq!(live["sessions"][0]["sessionKey"], "s-new");
    let range = sessions_when(&s, "?from=1764500000000&to=1764600000000", 2).await;
    assert_eq!(range["sessions"][1]["sessionKey"], "s-old", "both ends inclusive");

    let first = s.get("/v1/sessions?limit=2").await;
    let cursor = first.body["nextCursor"].as_str().expect("a next page").to_string();
    assert!(cursor.starts_with("embedded:"), "{cursor}");
    let second = s.get(&format!("/v1/sessions?limit=2&cursor={}", urlencode(&cursor))).await;
    assert_eq!(second.body["sessions"][0]["sessionKey"], "s-old");
    assert!(second.body.get("nextCursor").is_none());

    // Cursors that are not this ledger's, and bad ranges.
    for bad in ["convex:abc", "nonsense", "embedded:not-a-cursor"] {
        let r = s.get(&format!("/v1/sessions?cursor={}", urlencode(bad))).await;
        r.assert_problem(422, "invalid_fields");
        assert_eq!(r.pointers(), ["/query/cursor"], "{bad}");
    }
    let r = s.get("/v1/sessions?from=2&to=1").await;
    assert_eq!(r.pointers(), ["/query/from"]);
    let r = s.get("/v1/sessions?status=paused").await;
    assert_eq!(r.pointers(), ["/query/status"]);
}

#[tokio::test]
async fn a_sessions_lists_page_in_timeline_order_and_say_when_it_is_unknown() {
    let s = Server::start().await;
    s.post("/v1/devices", &json!({"deviceId": "ipad-1", "name": "iPad", "platform": "ipados"})).await;
    s.post("/v1/sessions", &json!({"sessionKey": "pages", "title": "Pages"})).await;
    s.post("/v1/sessions/pages/cameras", &json!({"cameraKey": "A", "deviceId": "ipad-1", "role": "hero"})).await;
    let events: Vec<_> = (0..7).map(|i| json!({"type": "marker", "label": format!("m{i}")})).collect();
    s.post("/v1/sessions/pages/director-events", &json!({"events": events})).await;
    let mut labels = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let q = cursor.as_ref().map(|c| format!("&cursor={}", urlencode(c))).unwrap_or_default();
        let r = common::eventually(20, "the markers", || async {
            let r = s.get(&format!("/v1/sessions/pages/events?limit=3{q}")).await;
            (r.status == 200 && (cursor.is_some() || r.body["rows"].as_array().map_or(0, Vec::len) == 3)).then_some(r)
        })
        .await;
        pages += 1;
        labels.extend(r.body["rows"].as_array().unwrap().iter().map(|e| e["label"].as_str().unwrap().to_string()));
        match r.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
        assert!(pages < 10, "the cursor moves on");
    }
    assert_eq!(labels, (0..7).map(|i| format!("m{i}")).collect::<Vec<_>>(), "every row once, in timeline order");
    assert_eq!(pages, 3);
    s.get("/v1/sessions/nowhere/events").await.assert_problem(404, "not_found");
    s.get("/v1/sessions/nowhere/cameras").await.assert_problem(404, "not_found");
    let r = s.get("/v1/sessions/pages/stills").await;
    assert_eq!((r.status, r.body["rows"].clone()), (200, json!([])));
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn the_journal_view_says_when_it_is_cut() {
    let s = Server::start().await;
    s.post("/v1/sessions", &json!({"sessionKey": "long", "title": "Long"})).await.assert_new_receipt("start_shoot");
    for batch in 0..2 {
        let events: Vec<_> = (0..500).map(|i| json!({"type": "note", "text": format!("n{batch}-{i}")})).collect();
        let r = s.post("/v1/sessions/long/director-events", &json!({"events": events})).await;
        assert_eq!(r.status, 202, "{:#}", r.body);
    }
    let r = s.get("/v1/sessions/long?source=journal").await;
    assert_eq!(r.body["journal"].as_array().map(Vec::len), Some(1000));
    assert_eq!(r.body["truncated"], json!(["journal"]), "1,001 entries: the view is cut and says so");
    assert!(r.body["note"].as_str().is_some_and(|n| n.contains("/journal")), "{}", r.body["note"]);
    let short = s.get("/v1/sessions/shoot-none?source=journal").await;
    assert_eq!(short.status, 404);
}
