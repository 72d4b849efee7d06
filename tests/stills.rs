//! Stills: the marker written when a photo is taken, and the uploader's
//! callback when its file has landed — through the real server on a
//! loopback port, on the embedded default (no ledger).

mod common;

use common::Server;
use reqwest::Method;
use serde_json::{Value, json};

const STILLS: &str = "/v1/sessions/shoot-1/stills";
const UPLOADED: &str = "/v1/callbacks/still-upload";
/// 2026-11-30T19:41:07.250Z.
const CAPTURED: i64 = 1_796_067_667_250;
const SHA: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";

fn still() -> Value {
    json!({"stillId": "still-0001", "cameraKey": "A", "capturedAt": "2026-11-30T19:41:07.250Z"})
}

fn with(mut body: Value, field: &str, value: Value) -> Value {
    let obj = body.as_object_mut().unwrap();
    if value.is_null() {
        obj.remove(field);
    } else {
        obj.insert(field.into(), value);
    }
    body
}

fn upload() -> Value {
    json!({"sessionKey": "shoot-1", "stillId": "still-0001", "storageRef": "s3://shoots/2026-11-30/still-0001.heic"})
}

#[tokio::test]
async fn a_still_marker_is_journaled_with_its_capture_time_in_epoch_ms() {
    let s = Server::start().await;
    let body = json!({"stillId": "still-0001", "cameraKey": "A", "capturedAt": "2026-11-30T19:41:07.250Z", "width": 8064, "height": 6048, "byteSize": 5_242_880, "contentType": "image/heic", "sha256": SHA, "storageRef": "s3://shoots/still-0001.heic"});
    let r = s.post(STILLS, &body).await;
    let id = r.assert_new_receipt("still_marker");
    let ev = s.event(&id).await;
    assert_eq!(
        ev.body["event"],
        json!({"type": "still_marker", "sessionKey": "shoot-1", "stillId": "still-0001", "cameraKey": "A", "capturedAt": CAPTURED, "width": 8064, "height": 6048, "byteSize": 5_242_880, "contentType": "image/heic", "sha256": SHA, "storageRef": "s3://shoots/still-0001.heic"})
    );
    let entries = s.journal("shoot-1").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["eventId"], id.as_str());
}

#[tokio::test]
async fn captured_at_may_be_epoch_ms_or_rfc_3339_with_any_offset() {
    let s = Server::start().await;
    let forms = [
        json!(CAPTURED),
        json!("2026-11-30T19:41:07.250Z"),
        json!("2026-11-30T20:41:07.250+01:00"),
        json!("2026-11-30T19:41:07.25Z"),
    ];
    for (i, captured) in forms.iter().enumerate() {
        let body = json!({"stillId": format!("still-{i}"), "cameraKey": "A", "capturedAt": captured});
        let r = s.post(STILLS, &body).await;
        assert_eq!(r.status, 202, "{captured}: {:#}", r.body);
        let ev = s.event(&r.event_id()).await;
        assert_eq!(ev.body["event"]["capturedAt"], CAPTURED, "{captured}");
        assert_eq!(
            ev.body["event"],
            json!({"type": "still_marker", "sessionKey": "shoot-1", "stillId": format!("still-{i}"), "cameraKey": "A", "capturedAt": CAPTURED})
        );
    }
}

#[tokio::test]
async fn captured_at_is_required_and_must_be_a_time() {
    let s = Server::start().await;
    let r = s.post(STILLS, &with(still(), "capturedAt", Value::Null)).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/capturedAt", "missing")]);
    let r = s.post(STILLS, &with(still(), "capturedAt", json!("30/11/2026 19:41"))).await;
    assert_eq!(r.violations(), [("/capturedAt", "format")]);
    let r = s.post(STILLS, &with(still(), "capturedAt", json!(1.5))).await;
    assert_eq!(r.pointers(), ["/capturedAt"]);
    let r = s.post(STILLS, &with(still(), "capturedAt", json!(true))).await;
    assert_eq!(r.violations(), [("/capturedAt", "type")]);
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
}

#[tokio::test]
async fn still_id_and_camera_key_are_keys() {
    let s = Server::start().await;
    let r = s.post(STILLS, &with(still(), "stillId", Value::Null)).await;
    assert_eq!(r.violations(), [("/stillId", "missing")]);
    let r = s.post(STILLS, &with(still(), "stillId", json!("still 1"))).await;
    assert_eq!(r.violations(), [("/stillId", "charset")]);
    let r = s.post(STILLS, &with(still(), "stillId", json!("s".repeat(129)))).await;
    assert_eq!(r.violations(), [("/stillId", "too_long")]);
    let r = s.post(STILLS, &with(still(), "cameraKey", Value::Null)).await;
    assert_eq!(r.violations(), [("/cameraKey", "missing")]);
    let r = s.post(STILLS, &with(still(), "cameraKey", json!("k".repeat(65)))).await;
    assert_eq!(r.violations(), [("/cameraKey", "too_long")]);
    let r = s.post(STILLS, &with(still(), "iso", json!(100))).await;
    assert_eq!(r.violations(), [("/iso", "unknown_field")]);
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
}

#[tokio::test]
async fn dimensions_size_media_type_and_digest_are_checked_by_pointer() {
    let s = Server::start().await;
    let cases = [
        ("width", json!(0), "out_of_range"),
        ("width", json!(100_001), "out_of_range"),
        ("width", json!(-1), "out_of_range"),
        ("height", json!(0), "out_of_range"),
        ("height", json!(100_001), "out_of_range"),
        ("width", json!(12.5), "type"),
        ("byteSize", json!(0), "out_of_range"),
        ("byteSize", json!(1_099_511_627_777_u64), "out_of_range"),
        ("contentType", json!("heic"), "format"),
        ("contentType", json!("image/"), "format"),
        ("contentType", json!("image/ heic"), "format"),
        ("contentType", json!(format!("image/{}", "x".repeat(95))), "format"),
        ("sha256", json!(&SHA[..63]), "format"),
        ("sha256", json!(format!("{SHA}0")), "format"),
        ("sha256", json!(SHA.replace('f', "g")), "format"),
        ("storageRef", json!(""), "empty"),
        ("storageRef", json!("r".repeat(2049)), "too_long"),
    ];
    for (field, value, code) in cases {
        let r = s.post(STILLS, &with(still(), field, value.clone())).await;
        r.assert_problem(422, "invalid_fields");
        let pointer = format!("/{field}");
        assert_eq!(r.violations(), [(pointer.as_str(), code)], "{field} = {value}");
    }
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
}

#[tokio::test]
async fn several_bad_fields_are_all_named() {
    let s = Server::start().await;
    let body = json!({"stillId": "still-0001", "cameraKey": "A", "capturedAt": CAPTURED, "width": 0, "height": 200_000, "byteSize": 0, "contentType": "heic", "sha256": "abc", "at": 1000});
    let r = s.post(STILLS, &body).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(
        r.violations(),
        [
            ("/width", "out_of_range"),
            ("/height", "out_of_range"),
            ("/byteSize", "out_of_range"),
            ("/contentType", "format"),
            ("/sha256", "format"),
            ("/at", "out_of_range"),
        ]
    );
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
}

#[tokio::test]
async fn the_edges_of_the_ranges_are_fine() {
    let s = Server::start().await;
    let body = json!({"stillId": "still-1", "cameraKey": "A", "capturedAt": CAPTURED, "width": 1, "height": 100_000, "byteSize": 1_099_511_627_776_u64, "contentType": "application/vnd.example+json", "sha256": SHA.to_uppercase()});
    let r = s.post(STILLS, &body).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    let ev = s.event(&r.event_id()).await;
    assert_eq!(ev.body["event"]["sha256"], SHA.to_uppercase(), "kept as sent");
    assert_eq!(ev.body["event"]["byteSize"], 1_099_511_627_776_u64);
}

#[tokio::test]
async fn a_still_marker_replays_and_conflicts() {
    let s = Server::start().await;
    let id = "7b6a5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d";
    let body = with(still(), "eventId", json!(id));
    let a = s.post(STILLS, &body).await;
    let b = s.post(STILLS, &body).await;
    assert_eq!((a.status, b.status), (202, 202));
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(b.body["replayed"], true);
    assert_eq!(b.body["journalSeq"], a.body["journalSeq"]);
    // The same instant written another way is the same content.
    let c = s.post(STILLS, &with(body.clone(), "capturedAt", json!(CAPTURED))).await;
    assert_eq!(c.status, 202, "{:#}", c.body);
    assert_eq!(c.body["replayed"], true);
    let d = s.post(STILLS, &with(body, "capturedAt", json!(CAPTURED + 1))).await;
    d.assert_problem(422, "idempotency_key_reused");
    assert_eq!(d.violations(), [("/eventId", "reused")]);
    assert_eq!(s.journal("shoot-1").await.len(), 1);
}

#[tokio::test]
async fn an_upload_callback_is_journaled_in_the_wire_format() {
    let s = Server::start().await;
    let body = json!({"sessionKey": "shoot-1", "stillId": "still-0001", "storageRef": "s3://shoots/2026-11-30/still-0001.heic", "byteSize": 5_242_880, "contentType": "image/heic", "sha256": SHA, "url": "https://cdn.example.com/still-0001.heic"});
    let r = s.post(UPLOADED, &body).await;
    let id = r.assert_new_receipt("still_uploaded");
    let mut wire = body.clone();
    wire["type"] = json!("still_uploaded");
    assert_eq!(s.event(&id).await.body["event"], wire);
    let entries = s.journal("shoot-1").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["eventId"], id.as_str());

    let r = s.post(UPLOADED, &with(upload(), "stillId", json!("still-0002"))).await;
    assert_eq!(r.status, 202);
    assert_eq!(
        s.event(&r.event_id()).await.body["event"],
        json!({"type": "still_uploaded", "sessionKey": "shoot-1", "stillId": "still-0002", "storageRef": "s3://shoots/2026-11-30/still-0001.heic"})
    );
}

#[tokio::test]
async fn an_upload_url_must_be_http_or_https() {
    let s = Server::start().await;
    for url in ["ftp://files.example.com/a.heic", "s3://bucket/a.heic", "cdn.example.com/a.heic", "javascript:alert(1)"]
    {
        let r = s.post(UPLOADED, &with(upload(), "url", json!(url))).await;
        r.assert_problem(422, "invalid_fields");
        assert_eq!(r.violations(), [("/url", "format")], "{url}");
    }
    let r = s.post(UPLOADED, &with(upload(), "url", json!(format!("https://x/{}", "a".repeat(2048))))).await;
    assert_eq!(r.violations(), [("/url", "too_long")]);
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
    for url in ["http://10.0.0.5/a.heic", "https://cdn.example.com/a.heic"] {
        let r = s.post(UPLOADED, &with(upload(), "url", json!(url))).await;
        assert_eq!(r.status, 202, "{url}: {:#}", r.body);
    }
}

#[tokio::test]
async fn an_upload_needs_its_storage_ref_and_a_sound_digest() {
    let s = Server::start().await;
    let r = s.post(UPLOADED, &with(upload(), "storageRef", Value::Null)).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/storageRef", "missing")]);
    let r = s.post(UPLOADED, &with(upload(), "storageRef", json!("  "))).await;
    assert_eq!(r.violations(), [("/storageRef", "empty")]);
    let r = s.post(UPLOADED, &with(upload(), "sha256", json!("z".repeat(64)))).await;
    assert_eq!(r.violations(), [("/sha256", "format")]);
    let r = s.post(UPLOADED, &with(upload(), "sha256", json!(&SHA[1..]))).await;
    assert_eq!(r.violations(), [("/sha256", "format")]);
    let r = s.post(UPLOADED, &with(upload(), "byteSize", json!(0))).await;
    assert_eq!(r.violations(), [("/byteSize", "out_of_range")]);
    let r = s.post(UPLOADED, &with(upload(), "sessionKey", Value::Null)).await;
    assert_eq!(r.violations(), [("/sessionKey", "missing")]);
    let r = s.post(UPLOADED, &with(upload(), "stillId", json!("a b"))).await;
    assert_eq!(r.violations(), [("/stillId", "charset")]);
    let r = s.post(UPLOADED, &with(upload(), "capturedAt", json!(CAPTURED))).await;
    assert_eq!(r.violations(), [("/capturedAt", "unknown_field")]);
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn an_upload_callback_replays_by_idempotency_key() {
    let s = Server::start().await;
    let h = [("idempotency-key", "upload-still-0001")];
    let a = s.send(Method::POST, UPLOADED, &upload(), &h).await;
    let b = s.send(Method::POST, UPLOADED, &upload(), &h).await;
    assert_eq!((a.status, b.status), (202, 202));
    assert_eq!(b.body["eventId"], a.body["eventId"]);
    assert_eq!(b.body["replayed"], true);
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    let c = s.send(Method::POST, UPLOADED, &with(upload(), "byteSize", json!(10)), &h).await;
    c.assert_problem(422, "idempotency_key_reused");
    assert_eq!(c.body["eventId"], a.body["eventId"]);
    // A second upload of the same still with a new key is a new event.
    let d = s.send(Method::POST, UPLOADED, &upload(), &[("idempotency-key", "upload-still-0001-retry")]).await;
    assert_eq!(d.status, 202);
    assert_eq!(d.body["replayed"], false);
    assert_eq!(s.journal("shoot-1").await.len(), 2);
}
