//! Cameras: a registered device joins a shoot as one of its cameras —
//! through the real server on a loopback port, on the embedded default (no
//! ledger).

mod common;

use common::Server;
use reqwest::Method;
use serde_json::{Value, json};

const JOIN: &str = "/v1/sessions/shoot-1/cameras";

fn join_b() -> Value {
    json!({"deviceId": "ipad-7f3a", "cameraKey": "B", "role": "wide"})
}

#[tokio::test]
async fn a_join_without_placement_is_journaled_in_the_session() {
    let s = Server::start().await;
    let r = s.post(JOIN, &join_b()).await;
    let id = r.assert_new_receipt("join_session");

    let ev = s.event(&id).await;
    assert_eq!(ev.status, 200);
    assert_eq!(
        ev.body["event"],
        json!({"type": "join_session", "sessionKey": "shoot-1", "cameraKey": "B", "deviceId": "ipad-7f3a", "role": "wide"})
    );
    let entries = s.journal("shoot-1").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["eventId"], id.as_str());
    assert_eq!(entries[0]["journalSeq"], r.body["journalSeq"]);
}

#[tokio::test]
async fn a_join_with_placement_and_clock_offset_keeps_them() {
    let s = Server::start().await;
    let placement = json!({"x": -3.0, "y": 0.5, "heightM": 1.2, "panDeg": 30.0, "focalLengthMm": 13.0, "zoom": 0.5, "orientation": "portrait"});
    let body = json!({"deviceId": "ipad-7f3a", "cameraKey": "hero", "role": "hero", "placement": placement, "clockOffsetMs": 12.25, "at": 1_796_067_000_000_i64});
    let r = s.post(JOIN, &body).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(r.body["at"], 1_796_067_000_000_i64);
    let ev = s.event(&r.event_id()).await;
    assert_eq!(
        ev.body["event"],
        json!({"type": "join_session", "sessionKey": "shoot-1", "cameraKey": "hero", "deviceId": "ipad-7f3a", "role": "hero", "placement": placement, "clockOffsetMs": 12.25})
    );
}

#[tokio::test]
async fn every_role_is_accepted() {
    let s = Server::start().await;
    let roles = ["hero", "wide", "close", "detail", "overhead", "other"];
    for (i, role) in roles.iter().enumerate() {
        let body = json!({"deviceId": format!("dev-{i}"), "cameraKey": format!("cam-{i}"), "role": role});
        let r = s.post(JOIN, &body).await;
        assert_eq!(r.status, 202, "{role}: {:#}", r.body);
    }
    let got: Vec<_> = s.journal("shoot-1").await.iter().map(|e| e["event"]["role"].clone()).collect();
    assert_eq!(got, roles.map(Value::from));
}

#[tokio::test]
async fn role_must_be_one_of_the_enum() {
    let s = Server::start().await;
    let mut body = join_b();
    body["role"] = json!("drone");
    let r = s.post(JOIN, &body).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/role", "unknown_variant")]);
    assert!(r.body["errors"][0]["detail"].as_str().unwrap().contains("`hero`"), "{:#}", r.body);
    body["role"] = json!("Hero");
    assert_eq!(s.post(JOIN, &body).await.violations(), [("/role", "unknown_variant")]);
    body.as_object_mut().unwrap().remove("role");
    assert_eq!(s.post(JOIN, &body).await.violations(), [("/role", "missing")]);
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
}

#[tokio::test]
async fn placement_errors_point_under_placement() {
    let s = Server::start().await;
    let mut body = join_b();
    body["placement"] = json!({"tiltDeg": 91, "zoom": 0, "heightM": 1.5});
    let r = s.post(JOIN, &body).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/placement/tiltDeg", "out_of_range"), ("/placement/zoom", "out_of_range")]);

    body["placement"] = json!({});
    assert_eq!(s.post(JOIN, &body).await.violations(), [("/placement", "empty")]);
    body["placement"] = json!({"tilt": 5});
    assert_eq!(s.post(JOIN, &body).await.violations(), [("/placement/tilt", "unknown_field")]);
    body["placement"] = json!({"orientation": "landscape"});
    assert_eq!(s.post(JOIN, &body).await.violations(), [("/placement/orientation", "unknown_variant")]);
    body["placement"] = json!({"x": 1});
    body["clockOffsetMs"] = json!(-90_000_000);
    assert_eq!(s.post(JOIN, &body).await.violations(), [("/clockOffsetMs", "out_of_range")]);
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
}

#[tokio::test]
async fn camera_key_is_a_key_of_at_most_64_characters() {
    let s = Server::start().await;
    let mut body = join_b();
    for (bad, code) in [
        (json!("k".repeat(65)), "too_long"),
        (json!(""), "empty"),
        (json!("wide left"), "charset"),
        (json!("B/1"), "charset"),
    ] {
        body["cameraKey"] = bad.clone();
        let r = s.post(JOIN, &body).await;
        r.assert_problem(422, "invalid_fields");
        assert_eq!(r.violations(), [("/cameraKey", code)], "{bad}");
    }
    body["cameraKey"] = json!("k".repeat(65));
    let r = s.post(JOIN, &body).await;
    assert!(r.body["errors"][0]["detail"].as_str().unwrap().contains("at most 64 characters"), "{:#}", r.body);
    body.as_object_mut().unwrap().remove("cameraKey");
    assert_eq!(s.post(JOIN, &body).await.violations(), [("/cameraKey", "missing")]);
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());

    body["cameraKey"] = json!("k".repeat(64));
    let r = s.post(JOIN, &body).await;
    assert_eq!(r.status, 202, "{:#}", r.body);
    assert_eq!(s.journal("shoot-1").await[0]["event"]["cameraKey"], "k".repeat(64));
}

#[tokio::test]
async fn device_id_is_required_and_unknown_fields_refused() {
    let s = Server::start().await;
    let r = s.post(JOIN, &json!({"cameraKey": "B", "role": "wide"})).await;
    assert_eq!(r.violations(), [("/deviceId", "missing")]);
    let mut body = join_b();
    body["sessionKey"] = json!("shoot-2");
    let r = s.post(JOIN, &body).await;
    assert_eq!(r.violations(), [("/sessionKey", "unknown_field")], "the session is named by the path only");
    assert_eq!(s.journal("shoot-1").await, Vec::<Value>::new());
    assert_eq!(s.journal("shoot-2").await, Vec::<Value>::new());
}

#[tokio::test]
async fn a_bad_session_key_in_the_path_is_named_by_path_pointer() {
    let s = Server::start().await;
    let r = s.post("/v1/sessions/bad%20key/cameras", &join_b()).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/path/sessionKey", "charset")]);
    let r = s.post(&format!("/v1/sessions/{}/cameras", "s".repeat(129)), &join_b()).await;
    assert_eq!(r.violations(), [("/path/sessionKey", "too_long")]);
    assert_eq!(s.backlog().await, 0);
}

#[tokio::test]
async fn a_replay_by_event_id_returns_the_original() {
    let s = Server::start().await;
    let id = "c0ffee00-1234-4abc-8def-0123456789ab";
    let mut body = join_b();
    body["eventId"] = json!(id);
    let first = s.post(JOIN, &body).await;
    let again = s.post(JOIN, &body).await;
    assert_eq!((first.status, again.status), (202, 202));
    assert_eq!(again.body["replayed"], true);
    assert_eq!(again.header("idempotent-replayed"), Some("true"));
    for field in ["eventId", "journalSeq", "at", "receivedAt"] {
        assert_eq!(again.body[field], first.body[field], "{field}");
    }
    body["role"] = json!("close");
    let conflict = s.post(JOIN, &body).await;
    conflict.assert_problem(422, "idempotency_key_reused");
    assert_eq!(conflict.violations(), [("/eventId", "reused")]);
    assert_eq!(conflict.body["eventId"], id);

    let entries = s.journal("shoot-1").await;
    assert_eq!(entries.len(), 1);
    assert_eq!(entries[0]["event"]["role"], "wide");
}

#[tokio::test]
async fn idempotency_keys_are_scoped_to_the_session() {
    let s = Server::start().await;
    let h = [("idempotency-key", "join-b")];
    let a = s.send(Method::POST, JOIN, &join_b(), &h).await;
    let a2 = s.send(Method::POST, JOIN, &join_b(), &h).await;
    assert_eq!(a2.body["eventId"], a.body["eventId"]);
    assert_eq!(a2.header("idempotent-replayed"), Some("true"));
    let b = s.send(Method::POST, "/v1/sessions/shoot-2/cameras", &join_b(), &h).await;
    assert_eq!(b.status, 202);
    assert_eq!(b.body["replayed"], false);
    assert_ne!(b.body["eventId"], a.body["eventId"]);
    assert_eq!(s.journal("shoot-1").await.len(), 1);
    assert_eq!(s.journal("shoot-2").await.len(), 1);
}

#[tokio::test]
async fn an_enum_of_the_wrong_json_type_is_named_by_pointer() {
    let s = Server::start().await;
    let mut body = join_b();
    body["role"] = json!(1);
    let r = s.post(JOIN, &body).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.violations(), [("/role", "type")]);
}
