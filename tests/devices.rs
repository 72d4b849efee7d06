//! Devices: registering a phone or iPad, and the placement of the camera it
//! holds — through the real server on a loopback port, on the embedded
//! default (no ledger).

mod common;

use common::Server;
use reqwest::Method;
use serde_json::{Value, json};

/// 2026-11-30T19:30:00Z.
const AT: i64 = 1_796_067_000_000;

fn ipad() -> Value {
    json!({"deviceId": "ipad-7f3a", "name": "iPad Pro (B cam)", "platform": "ipados", "model": "iPad14,5", "appVersion": "3.2.0", "hardwareId": "F2LXK0ABCD"})
}

/// A body with `field` set to `value` (or removed, for `Value::Null`).
fn with(mut body: Value, field: &str, value: Value) -> Value {
    let obj = body.as_object_mut().unwrap();
    if value.is_null() {
        obj.remove(field);
    } else {
        obj.insert(field.into(), value);
    }
    body
}

#[tokio::test]
async fn register_is_journaled_in_the_wire_format() {
    let s = Server::start().await;
    let r = s.post("/v1/devices", &with(ipad(), "at", json!(AT))).await;
    let id = r.assert_new_receipt("register_device");
    assert_eq!(r.body["at"], AT);
    assert!(r.body.get("verdict").is_none(), "no verdict without a ledger: {:#}", r.body);
    assert_eq!(r.body["href"], format!("/v1/events/{id}"));
    assert_eq!(r.header("idempotent-replayed"), None);

    let ev = s.event(&id).await;
    assert_eq!(ev.status, 200);
    assert_eq!(ev.body["eventId"], id.as_str());
    assert_eq!(ev.body["status"], "pending");
    assert_eq!(ev.body["attempts"], 0);
    assert_eq!(ev.body["at"], AT);
    assert_eq!(ev.body["receivedAt"], r.body["receivedAt"]);
    assert_eq!(ev.body["journalSeq"], r.body["journalSeq"]);
    assert_eq!(
        ev.body["event"],
        json!({"type": "register_device", "deviceId": "ipad-7f3a", "name": "iPad Pro (B cam)", "platform": "ipados", "model": "iPad14,5", "appVersion": "3.2.0", "hardwareId": "F2LXK0ABCD"})
    );
    assert_eq!(s.backlog().await, 1);
}

#[tokio::test]
async fn optional_fields_are_omitted_not_null() {
    let s = Server::start().await;
    for platform in ["ios", "ipados", "android", "other"] {
        let id = format!("phone-{platform}");
        let r = s.post("/v1/devices", &json!({"deviceId": id, "name": "Phone", "platform": platform})).await;
        assert_eq!(r.status, 202, "{platform}: {:#}", r.body);
        let ev = s.event(&r.event_id()).await;
        assert_eq!(
            ev.body["event"],
            json!({"type": "register_device", "deviceId": id, "name": "Phone", "platform": platform})
        );
    }
    assert_eq!(s.backlog().await, 4);
}

#[tokio::test]
async fn device_id_must_be_a_key_of_at_most_128_characters() {
    let s = Server::start().await;
    for (bad, code, detail) in [
        (json!("ipad 7f3a"), "charset", "may contain only letters"),
        (json!("ipad/7f3a"), "charset", "may contain only letters"),
        (json!("iPad-é"), "charset", "may contain only letters"),
        (json!(""), "empty", "must not be empty"),
        (json!("d".repeat(129)), "too_long", "at most 128 characters"),
    ] {
        let r = s.post("/v1/devices", &with(ipad(), "deviceId", bad.clone())).await;
        r.assert_problem(422, "invalid_fields");
        assert_eq!(r.violations(), [("/deviceId", code)], "{bad}");
        let got = r.body["errors"][0]["detail"].as_str().unwrap();
        assert!(got.contains(detail), "{bad}: {got}");
    }
    let r = s.post("/v1/devices", &with(ipad(), "deviceId", json!(42))).await;
    assert_eq!(r.violations(), [("/deviceId", "type")]);
    assert_eq!(s.backlog().await, 0);

    // The full charset and the maximum length are fine.
    let r = s.post("/v1/devices", &with(ipad(), "deviceId", json!("A-z_0.9:x"))).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    let r = s.post("/v1/devices", &with(ipad(), "deviceId", json!("d".repeat(128)))).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
}

#[tokio::test]
async fn platform_must_be_known() {
    let s = Server::start().await;
    let r = s.post("/v1/devices", &with(ipad(), "platform", json!("windows"))).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/platform", "unknown_variant")]);
    let r = s.post("/v1/devices", &with(ipad(), "platform", json!("iOS"))).await;
    assert_eq!(r.violations(), [("/platform", "unknown_variant")], "platforms are lower case");
    let r = s.post("/v1/devices", &with(ipad(), "platform", Value::Null)).await;
    assert_eq!(r.violations(), [("/platform", "missing")]);
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn name_is_required_non_empty_and_at_most_200_characters() {
    let s = Server::start().await;
    let r = s.post("/v1/devices", &with(ipad(), "name", Value::Null)).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/name", "missing")]);
    let r = s.post("/v1/devices", &with(ipad(), "name", json!("   "))).await;
    assert_eq!(r.violations(), [("/name", "empty")]);
    let r = s.post("/v1/devices", &with(ipad(), "name", json!("n".repeat(201)))).await;
    assert_eq!(r.violations(), [("/name", "too_long")]);
    let r = s.post("/v1/devices", &with(ipad(), "name", json!("bad\u{7}bell"))).await;
    assert_eq!(r.violations(), [("/name", "charset")]);
    assert_eq!(s.backlog().await, 0);

    // 200 characters, counted as characters rather than bytes.
    let r = s.post("/v1/devices", &with(ipad(), "name", json!("é".repeat(200)))).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
}

#[tokio::test]
async fn optional_texts_have_their_limits() {
    let s = Server::start().await;
    let body = json!({"deviceId": "d1", "name": "n", "platform": "ios", "model": "m".repeat(201), "appVersion": "1".repeat(65), "hardwareId": "h".repeat(201)});
    let r = s.post("/v1/devices", &body).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/model", "too_long"), ("/appVersion", "too_long"), ("/hardwareId", "too_long")]);
    let r = s.post("/v1/devices", &with(ipad(), "appVersion", json!("1".repeat(64)))).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
}

#[tokio::test]
async fn unknown_fields_are_refused() {
    let s = Server::start().await;
    let r = s.post("/v1/devices", &with(ipad(), "nmae", json!("typo"))).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/nmae", "unknown_field")]);
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn a_replay_by_event_id_returns_the_original() {
    let s = Server::start().await;
    let id = "3d4b6c1e-51a2-4c7e-9f10-2b3c4d5e6f70";
    let body = with(ipad(), "eventId", json!(id));
    let first = s.post("/v1/devices", &body).await;
    assert_eq!(first.status, 202);
    assert_eq!(first.body["eventId"], id);
    let again = s.post("/v1/devices", &body).await;
    assert_eq!(again.status, 202);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    assert_eq!(again.header("location"), Some(format!("/v1/events/{id}").as_str()));
    assert_eq!(again.body["replayed"], true);
    for field in ["eventId", "type", "status", "journalSeq", "at", "receivedAt", "href"] {
        assert_eq!(again.body[field], first.body[field], "{field}");
    }
    assert_eq!(s.backlog().await, 1);
}

#[tokio::test]
async fn an_event_id_reused_for_other_content_is_a_conflict() {
    let s = Server::start().await;
    let id = "3d4b6c1e-51a2-4c7e-9f10-2b3c4d5e6f70";
    let first = s.post("/v1/devices", &with(ipad(), "eventId", json!(id))).await;
    assert_eq!(first.status, 202);
    let other = with(with(ipad(), "eventId", json!(id)), "name", json!("Another name"));
    let r = s.post("/v1/devices", &other).await;
    r.assert_problem(422, "idempotency_key_reused");
    assert_eq!(r.violations(), [("/eventId", "reused")]);
    assert_eq!(r.body["eventId"], id);
    // The same content with a different sender clock is other content too.
    let r = s.post("/v1/devices", &with(with(ipad(), "eventId", json!(id)), "at", json!(AT))).await;
    r.assert_problem(422, "idempotency_key_reused");

    let ev = s.event(id).await;
    assert_eq!(ev.body["event"]["name"], "iPad Pro (B cam)");
    assert_eq!(s.backlog().await, 1);
}

#[tokio::test]
async fn idempotency_key_replays_and_conflicts() {
    let s = Server::start().await;
    let h = [("idempotency-key", "register-ipad-1")];
    let a = s.send(Method::POST, "/v1/devices", &ipad(), &h).await;
    assert_eq!(a.status, 202, "{:#}", a.body);
    assert_eq!(a.body["replayed"], false);
    let b = s.send(Method::POST, "/v1/devices", &ipad(), &h).await;
    assert_eq!(b.status, 202);
    assert_eq!(b.body["replayed"], true);
    assert_eq!(b.header("idempotent-replayed"), Some("true"));
    assert_eq!(b.body["eventId"], a.body["eventId"]);
    assert_eq!(b.body["journalSeq"], a.body["journalSeq"]);

    let c = s.send(Method::POST, "/v1/devices", &with(ipad(), "platform", json!("ios")), &h).await;
    c.assert_problem(422, "idempotency_key_reused");
    assert_eq!(c.pointers(), ["/headers/Idempotency-Key"], "the id came from the header");
    assert_eq!(c.body["eventId"], a.body["eventId"]);
    assert_eq!(s.backlog().await, 1);
}

#[tokio::test]
async fn an_event_id_in_the_body_wins_over_the_idempotency_key() {
    let s = Server::start().await;
    let id = "8a1f2e3d-4c5b-4a69-8778-695a4b3c2d1e";
    let r =
        s.send(Method::POST, "/v1/devices", &with(ipad(), "eventId", json!(id)), &[("idempotency-key", "k-1")]).await;
    assert_eq!(r.status, 202);
    assert_eq!(r.body["eventId"], id);
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_route() {
    let s = Server::start().await;
    let h = [("idempotency-key", "same-key")];
    let dev = s.send(Method::POST, "/v1/devices", &ipad(), &h).await;
    let shoot = s.send(Method::POST, "/v1/sessions", &json!({"sessionKey": "shoot-1", "title": "T"}), &h).await;
    assert_eq!((dev.status, shoot.status), (202, 202));
    assert_ne!(dev.body["eventId"], shoot.body["eventId"]);
    assert_eq!(shoot.body["replayed"], false);
}

#[tokio::test]
async fn a_malformed_idempotency_key_is_named_by_its_header() {
    let s = Server::start().await;
    let long = "k".repeat(256);
    for key in ["", "two words", long.as_str()] {
        let r = s.send(Method::POST, "/v1/devices", &ipad(), &[("idempotency-key", key)]).await;
        r.assert_problem(422, "invalid_fields");
        assert_eq!(r.violations(), [("/headers/Idempotency-Key", "invalid")], "{key:?}");
    }
    let r = s.send(Method::POST, "/v1/devices", &ipad(), &[("idempotency-key", &"k".repeat(255))]).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(s.backlog().await, 1);
}

fn full_placement() -> Value {
    json!({"x": 1.5, "y": -2.0, "z": 0.25, "heightM": 1.6, "distanceM": 3.2, "panDeg": 15.0, "tiltDeg": -5.0, "rollDeg": 0.5, "focalLengthMm": 26.0, "zoom": 1.0, "orientation": "landscape_left", "notes": "on the apple box"})
}

fn placement_body(placement: Value) -> Value {
    json!({"sessionKey": "shoot-1", "placement": placement})
}

#[tokio::test]
async fn a_placement_is_journaled_in_the_session_in_the_wire_format() {
    let s = Server::start().await;
    let body = json!({"sessionKey": "shoot-1", "placement": full_placement(), "clockOffsetMs": -42.5, "at": AT});
    let r = s.put("/v1/devices/ipad-7f3a/placement", &body).await;
    let id = r.assert_new_receipt("update_placement");

    let ev = s.event(&id).await;
    assert_eq!(
        ev.body["event"],
        json!({"type": "update_placement", "sessionKey": "shoot-1", "deviceId": "ipad-7f3a", "placement": full_placement(), "clockOffsetMs": -42.5})
    );
    let entries = s.journal("shoot-1").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["eventId"], id.as_str());
    assert_eq!(entries[0]["at"], AT);
}

#[tokio::test]
async fn a_placement_of_one_field_is_kept_as_sent() {
    let s = Server::start().await;
    let r =
        s.put("/v1/devices/ipad-7f3a/placement", &placement_body(json!({"orientation": "portrait_upside_down"}))).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    let ev = s.event(&r.event_id()).await;
    assert_eq!(
        ev.body["event"],
        json!({"type": "update_placement", "sessionKey": "shoot-1", "deviceId": "ipad-7f3a", "placement": {"orientation": "portrait_upside_down"}})
    );
}

#[tokio::test]
async fn the_ranges_are_inclusive() {
    let s = Server::start().await;
    let low = json!({"x": -1000, "y": -1000, "z": -1000, "heightM": 0, "distanceM": 0, "panDeg": -180, "tiltDeg": -90, "rollDeg": -180, "focalLengthMm": 1, "zoom": 0.1, "notes": "n".repeat(1000)});
    let high = json!({"x": 1000, "y": 1000, "z": 1000, "heightM": 100, "distanceM": 1000, "panDeg": 180, "tiltDeg": 90, "rollDeg": 180, "focalLengthMm": 2000, "zoom": 200});
    for p in [low, high] {
        let r = s.put("/v1/devices/ipad-7f3a/placement", &placement_body(p.clone())).await;
        assert_eq!(r.status, 202, "{p}: {:#}", r.body);
    }
    for offset in [86_400_000.0, -86_400_000.0] {
        let body = json!({"sessionKey": "shoot-1", "placement": {"x": 0}, "clockOffsetMs": offset});
        let r = s.put("/v1/devices/ipad-7f3a/placement", &body).await;
        assert_eq!(r.status, 202, "{offset}: {:#}", r.body);
    }
    assert_eq!(s.journal("shoot-1").await.len(), 4);
}

#[tokio::test]
async fn each_out_of_range_field_is_named_by_pointer() {
    let s = Server::start().await;
    let cases = [
        ("x", json!(1000.001)),
        ("x", json!(-1000.5)),
        ("y", json!(-1001)),
        ("z", json!(1001)),
        ("heightM", json!(-0.01)),
        ("heightM", json!(100.5)),
        ("distanceM", json!(-1)),
        ("distanceM", json!(1000.1)),
        ("panDeg", json!(180.5)),
        ("panDeg", json!(-181)),
        ("tiltDeg", json!(-90.1)),
        ("tiltDeg", json!(91)),
        ("rollDeg", json!(181)),
        ("focalLengthMm", json!(0.5)),
        ("focalLengthMm", json!(2001)),
        ("zoom", json!(0.09)),
        ("zoom", json!(0)),
        ("zoom", json!(201)),
    ];
    for (field, value) in cases {
        let r = s.put("/v1/devices/ipad-7f3a/placement", &placement_body(json!({ field: value }))).await;
        r.assert_problem(422, "invalid_fields");
        let pointer = format!("/placement/{field}");
        assert_eq!(r.violations(), [(pointer.as_str(), "out_of_range")], "{field} = {value}");
    }
    let r = s.put("/v1/devices/ipad-7f3a/placement", &placement_body(json!({"notes": "n".repeat(1001)}))).await;
    assert_eq!(r.violations(), [("/placement/notes", "too_long")]);
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn several_bad_fields_are_all_named_in_field_order() {
    let s = Server::start().await;
    let body = json!({"sessionKey": "shoot-1", "placement": {"zoom": 0, "panDeg": 181, "x": -2000, "tiltDeg": 45, "notes": "n".repeat(1001)}, "clockOffsetMs": 1e12});
    let r = s.put("/v1/devices/ipad-7f3a/placement", &body).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(
        r.violations(),
        [
            ("/placement/x", "out_of_range"),
            ("/placement/panDeg", "out_of_range"),
            ("/placement/zoom", "out_of_range"),
            ("/placement/notes", "too_long"),
            ("/clockOffsetMs", "out_of_range"),
        ]
    );
    assert_eq!(r.body["detail"], "the request has 5 invalid field(s)");
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn an_empty_placement_is_refused() {
    let s = Server::start().await;
    let r = s.put("/v1/devices/ipad-7f3a/placement", &placement_body(json!({}))).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/placement", "empty")]);
    let r = s.put("/v1/devices/ipad-7f3a/placement", &json!({"sessionKey": "shoot-1"})).await;
    assert_eq!(r.violations(), [("/placement", "missing")]);
    let r = s.put("/v1/devices/ipad-7f3a/placement", &placement_body(json!(null))).await;
    assert_eq!(r.violations(), [("/placement", "type")]);
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn huge_and_unrepresentable_numbers_are_out_of_range() {
    let s = Server::start().await;
    // NaN and infinities cannot be written in JSON; the largest finite
    // doubles can.
    for value in [f64::MAX, f64::MIN, 1e300] {
        let r = s.put("/v1/devices/ipad-7f3a/placement", &placement_body(json!({"heightM": value}))).await;
        assert_eq!(r.violations(), [("/placement/heightM", "out_of_range")], "{value}");
    }
    // Valid JSON, but beyond any double: the field is named.
    let body = br#"{"sessionKey":"shoot-1","placement":{"x":1e400}}"#.to_vec();
    let r = s.raw(Method::PUT, "/v1/devices/ipad-7f3a/placement", Some("application/json"), body).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/placement/x", "out_of_range")]);
    let r = s.put("/v1/devices/ipad-7f3a/placement", &placement_body(json!({"x": "1.5"}))).await;
    assert_eq!(r.violations(), [("/placement/x", "type")]);
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn clock_offset_must_be_within_a_day() {
    let s = Server::start().await;
    for offset in [86_400_000.5, -86_400_001.0, f64::MAX] {
        let body = json!({"sessionKey": "shoot-1", "placement": {"x": 1}, "clockOffsetMs": offset});
        let r = s.put("/v1/devices/ipad-7f3a/placement", &body).await;
        r.assert_problem(422, "invalid_fields");
        assert_eq!(r.violations(), [("/clockOffsetMs", "out_of_range")], "{offset}");
    }
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn placement_fields_are_checked_by_name_and_kind() {
    let s = Server::start().await;
    let r = s.put("/v1/devices/ipad-7f3a/placement", &placement_body(json!({"x": 1, "pan": 5}))).await;
    assert_eq!(r.violations(), [("/placement/pan", "unknown_field")]);
    let r = s.put("/v1/devices/ipad-7f3a/placement", &placement_body(json!({"orientation": "sideways"}))).await;
    assert_eq!(r.violations(), [("/placement/orientation", "unknown_variant")]);
    let r = s.put("/v1/devices/ipad-7f3a/placement", &json!({"placement": {"x": 1}})).await;
    assert_eq!(r.violations(), [("/sessionKey", "missing")]);
    let r = s.put("/v1/devices/ipad-7f3a/placement", &json!({"sessionKey": "shoot 1", "placement": {"x": 1}})).await;
    assert_eq!(r.pointers(), ["/sessionKey"]);
    let r = s
        .put(
            "/v1/devices/ipad-7f3a/placement",
            &json!({"sessionKey": "shoot-1", "deviceId": "x", "placement": {"x": 1}}),
        )
        .await;
    assert_eq!(r.violations(), [("/deviceId", "unknown_field")], "the device is named by the path only");
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn a_bad_device_id_in_the_path_is_named_by_path_pointer() {
    let s = Server::start().await;
    let body = placement_body(json!({"x": 1}));
    let r = s.put("/v1/devices/bad%20id/placement", &body).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/path/deviceId", "charset")]);
    let r = s.put(&format!("/v1/devices/{}/placement", "d".repeat(129)), &body).await;
    assert_eq!(r.violations(), [("/path/deviceId", "too_long")]);
    let r = s.put(&format!("/v1/devices/{}/placement", "d".repeat(128)), &body).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(s.backlog().await, 1);
}

#[tokio::test]
async fn placement_replays_are_scoped_to_the_device() {
    let s = Server::start().await;
    let body = placement_body(json!({"panDeg": 10}));
    let h = [("idempotency-key", "placement-1")];
    let a = s.send(Method::PUT, "/v1/devices/cam-a/placement", &body, &h).await;
    let again = s.send(Method::PUT, "/v1/devices/cam-a/placement", &body, &h).await;
    assert_eq!((a.status, again.status), (202, 202));
    assert_eq!(again.body["eventId"], a.body["eventId"]);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    let b = s.send(Method::PUT, "/v1/devices/cam-b/placement", &body, &h).await;
    assert_eq!(b.status, 202);
    assert_eq!(b.body["replayed"], false);
    assert_ne!(b.body["eventId"], a.body["eventId"]);

    let moved = s.send(Method::PUT, "/v1/devices/cam-a/placement", &placement_body(json!({"panDeg": 20})), &h).await;
    moved.assert_problem(422, "idempotency_key_reused");
    assert_eq!(moved.body["eventId"], a.body["eventId"]);

    let devices: Vec<_> = s.journal("shoot-1").await.iter().map(|e| e["event"]["deviceId"].clone()).collect();
    assert_eq!(devices, [json!("cam-a"), json!("cam-b")]);
}
