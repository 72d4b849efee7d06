//! The device registry as an operator reads and mends it (admin token):
//! `GET /v1/devices`, `GET /v1/devices/{deviceId}`, `GET /v1/clashes`, and
//! the repairs (retire, reinstate, rename, resolve a clash, hand a live
//! camera to another device). Against the embedded default, and once
//! against the stand-in, where Convex and the embedded ledger must answer
//! the same registry.

mod common;

use common::{Options, Resp, Server, Standin, eventually};
use serde_json::{Value, json};

fn accepted(r: &Resp, what: &str) {
    assert!(r.status == 202 || r.status == 201, "{what}: {} {:#}", r.status, r.body);
}

async fn register(s: &Server, id: &str, hw: Option<&str>) {
    let mut body = json!({"deviceId": id, "name": format!("{id} phone"), "platform": "ios"});
    if let Some(hw) = hw {
        body["hardwareId"] = json!(hw);
    }
    accepted(&s.post("/v1/devices", &body).await, "register");
}

/// The device's detail once `ready` holds of it.
async fn device_when(s: &Server, id: &str, what: &str, ready: impl Fn(&Value) -> bool) -> Value {
    eventually(20, what, || async {
        let r = s.get(&format!("/v1/devices/{id}")).await;
        (r.status == 200 && ready(&r.body)).then_some(r.body)
    })
    .await
}

/// The verdict of `event_id` among a device's verdicts.
fn verdict_of<'a>(detail: &'a Value, event_id: &str) -> Option<&'a Value> {
    detail["verdicts"].as_array()?.iter().find(|v| v["eventId"] == event_id)
}

async fn verdict(s: &Server, device: &str, event_id: &str) -> Value {
    let d = device_when(s, device, &format!("the verdict of {event_id}"), |d| verdict_of(d, event_id).is_some()).await;
    verdict_of(&d, event_id).cloned().unwrap_or_default()
}

#[tokio::test]
async fn the_registry_says_which_phone_is_which() {
    let s = Server::start().await;
    register(&s, "iphone-ana", Some("HW-ANA")).await;
    accepted(
        &s.post(
            "/v1/devices",
            &json!({"deviceId": "pixel-bo", "name": "Bo's Pixel", "platform": "android", "appVersion": "3.1.0"}),
        )
        .await,
        "register pixel",
    );
    let list = eventually(20, "both devices in the registry", || async {
        let r = s.get("/v1/devices").await;
        (r.body["devices"].as_array().map_or(0, Vec::len) == 2).then_some(r.body)
    })
    .await;
    assert_eq!(list["source"], "embedded");
    assert_eq!(list["truncated"], false);
    let ana = &list["devices"][0];
    assert_eq!(ana["deviceId"], "iphone-ana", "deviceId order");
    assert_eq!(ana["hardwareId"], "HW-ANA");
    assert_eq!((ana["stale"].clone(), ana["retired"].clone()), (json!(false), json!(false)));
    assert!(ana["firstSeenAt"].is_i64(), "times are integers: {ana}");
    assert!(ana.get("liveIn").is_none());

    let android = s.get("/v1/devices?platform=android").await;
    assert_eq!(android.body["devices"].as_array().map(Vec::len), Some(1));
    assert_eq!(android.body["devices"][0]["appVersion"], "3.1.0");

    let first = s.get("/v1/devices?limit=1").await;
    assert_eq!(first.body["nextAfter"], "iphone-ana");
    let second = s.get("/v1/devices?limit=1&after=iphone-ana").await;
    assert_eq!(second.body["devices"][0]["deviceId"], "pixel-bo");
    assert!(second.body.get("nextAfter").is_none(), "the last page");

    // Joining a session shows where the device is.
    accepted(&s.post("/v1/sessions", &json!({"sessionKey": "reg-1", "title": "Registry"})).await, "start");
    let join = json!({"cameraKey": "A", "deviceId": "iphone-ana", "role": "hero"});
    accepted(&s.post("/v1/sessions/reg-1/cameras", &join).await, "join");
    let d = device_when(&s, "iphone-ana", "the join", |d| d["device"]["liveIn"].is_object()).await;
    assert_eq!(d["device"]["liveIn"], json!({"sessionKey": "reg-1", "cameraKey": "A", "role": "hero"}));
    assert_eq!(d["cameras"][0]["cameraKey"], "A");
    assert_eq!(d["registrations"].as_array().map(Vec::len), Some(1));
    assert!(d["verdicts"].as_array().is_some_and(|v| v.iter().any(|r| r["type"] == "join_session")), "{d:#}");

    let r = s.get("/v1/devices/nobody").await;
    r.assert_problem(404, "not_found");
    let r = s.get("/v1/devices?stale=maybe").await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.pointers(), ["/query/stale"]);
    let r = s.get("/v1/devices?source=convex").await;
    r.assert_problem(404, "not_found");
}

#[tokio::test]
async fn stale_is_computed_when_read_not_when_written() {
    let opts = Options { env: vec![("SHOOTLOG_DEVICE_STALE_SECS".into(), "1".into())], ..Options::default() };
    let s = Server::start_with(opts).await;
    register(&s, "quiet-phone", None).await;
    let fresh = eventually(20, "the device", || async {
        let r = s.get("/v1/devices").await;
        (r.body["devices"].as_array().map_or(0, Vec::len) == 1).then_some(r.body)
    })
    .await;
    assert_eq!(fresh["staleAfterSecs"], 1);
    // Nothing is written from here on: only time passes.
    let stale = eventually(10, "the device to read as stale", || async {
        let r = s.get("/v1/devices?stale=true").await;
        (r.body["devices"].as_array().map_or(0, Vec::len) == 1).then_some(r.body)
    })
    .await;
    assert_eq!(stale["devices"][0]["deviceId"], "quiet-phone");
    assert_eq!(s.get("/v1/devices?stale=false").await.body["devices"], json!([]));
}

#[tokio::test]
async fn a_retired_device_cannot_join_until_reinstated() {
    let s = Server::start().await;
    register(&s, "old-ipad", None).await;
    accepted(&s.post("/v1/sessions", &json!({"sessionKey": "ret-1", "title": "Retire"})).await, "start");
    let retire = s.post("/v1/devices/old-ipad/retire", &json!({"reason": "cracked screen"})).await;
    accepted(&retire, "retire");
    let d = device_when(&s, "old-ipad", "the retirement", |d| d["device"]["retired"] == true).await;
    assert_eq!(d["device"]["retirement"]["reason"], "cracked screen");
    assert_eq!(s.get("/v1/devices?retired=true").await.body["devices"][0]["deviceId"], "old-ipad");

    let join =
        s.post("/v1/sessions/ret-1/cameras", &json!({"cameraKey": "A", "deviceId": "old-ipad", "role": "wide"})).await;
    accepted(&join, "join");
    let v = verdict(&s, "old-ipad", &join.event_id()).await;
    assert_eq!((v["verdict"].as_str(), v["code"].as_str()), (Some("rejected"), Some("device_retired")), "{v}");

    // A replay of the retirement is the same event, not a second one.
    let again =
        s.post("/v1/devices/old-ipad/retire", &json!({"eventId": retire.event_id(), "reason": "cracked screen"})).await;
    assert_eq!(again.header("idempotent-replayed"), Some("true"));

    accepted(&s.post("/v1/devices/old-ipad/reinstate", &json!({})).await, "reinstate");
    device_when(&s, "old-ipad", "the reinstatement", |d| d["device"]["retired"] == false).await;
    let join =
        s.post("/v1/sessions/ret-1/cameras", &json!({"cameraKey": "B", "deviceId": "old-ipad", "role": "wide"})).await;
    let v = verdict(&s, "old-ipad", &join.event_id()).await;
    assert_eq!(v["verdict"], "applied", "{v}");

    // Refusals at the edge and of the ledger.
    let r = s.post("/v1/devices/old-ipad/rename", &json!({"label": " "})).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.pointers(), ["/label"]);
    let r = s.post("/v1/devices/old-ipad/retire", &json!({"reason": "x".repeat(501)})).await;
    assert_eq!(r.pointers(), ["/reason"]);
    let ghost = s.post("/v1/devices/ghost/retire", &json!({})).await;
    accepted(&ghost, "retire ghost");
    let v = verdict(&s, "ghost", &ghost.event_id()).await;
    assert_eq!(v["code"], "device_not_found", "{v}");
    let d = s.get("/v1/devices/ghost").await;
    assert!(d.body.get("device").is_none(), "an unknown device has verdicts but no row: {:#}", d.body);
}

#[tokio::test]
async fn rename_sets_the_operators_label_and_registration_keeps_it() {
    let s = Server::start().await;
    register(&s, "ipad-7f3a", None).await;
    accepted(&s.post("/v1/devices/ipad-7f3a/rename", &json!({"label": "B cam: Sam's iPad"})).await, "rename");
    device_when(&s, "ipad-7f3a", "the label", |d| d["device"]["label"] == "B cam: Sam's iPad").await;
    register(&s, "ipad-7f3a", None).await;
    let d = device_when(&s, "ipad-7f3a", "the second registration", |d| {
        d["registrations"].as_array().map_or(0, Vec::len) == 2
    })
    .await;
    assert_eq!(d["device"]["label"], "B cam: Sam's iPad");
    assert_eq!(d["device"]["name"], "ipad-7f3a phone");
}

#[tokio::test]
async fn a_hardware_id_clash_is_reported_and_resolved() {
    let s = Server::start().await;
    register(&s, "phone-old-id", Some("HW-1")).await;
    register(&s, "phone-new-id", Some("HW-1")).await;
    let clashes = eventually(20, "the clash report", || async {
        let r = s.get("/v1/clashes").await;
        (r.body["clashes"].as_array().map_or(0, Vec::len) == 1).then_some(r.body)
    })
    .await;
    let clash = &clashes["clashes"][0];
    assert_eq!(
        (clash["hardwareId"].as_str(), clash["holderDeviceId"].as_str(), clash["claimantDeviceId"].as_str()),
        (Some("HW-1"), Some("phone-old-id"), Some("phone-new-id"))
    );
    let list = s.get("/v1/devices?clash=true").await;
    assert_eq!(list.body["devices"][0]["deviceId"], "phone-old-id");
    assert_eq!(list.body["unregisteredClaimants"][0]["claimantDeviceId"], "phone-new-id");

    // Refusals first: no such clash, an owner outside it.
    let none = s.post("/v1/clashes/resolve", &json!({"hardwareId": "HW-9", "ownerDeviceId": "phone-old-id"})).await;
    accepted(&none, "resolve HW-9");
    assert_eq!(verdict(&s, "phone-old-id", &none.event_id()).await["code"], "clash_not_found");
    let outsider = s.post("/v1/clashes/resolve", &json!({"hardwareId": "HW-1", "ownerDeviceId": "someone"})).await;
    assert_eq!(verdict(&s, "someone", &outsider.event_id()).await["code"], "device_not_in_clash");

    // The newcomer owns the hardware; the old id is retired.
    let r = s.post("/v1/clashes/resolve", &json!({"hardwareId": "HW-1", "ownerDeviceId": "phone-new-id"})).await;
    accepted(&r, "resolve");
    let old = device_when(&s, "phone-old-id", "the old id's retirement", |d| d["device"]["retired"] == true).await;
    assert!(old["device"].get("hardwareId").is_none(), "the holder lost the hardware id: {old:#}");
    assert_eq!(s.get("/v1/clashes").await.body["clashes"], json!([]));
    let resolved = s.get("/v1/clashes?open=false").await;
    assert_eq!(resolved.body["clashes"][0]["ownerDeviceId"], "phone-new-id");
    register(&s, "phone-new-id", Some("HW-1")).await;
    let new = device_when(&s, "phone-new-id", "the owner's registration", |d| d["device"].is_object()).await;
    assert_eq!(new["device"]["hardwareId"], "HW-1");
}

#[tokio::test]
async fn a_dead_phones_camera_is_handed_to_another() {
    let s = Server::start().await;
    for id in ["phone-b", "spare", "busy"] {
        register(&s, id, None).await;
    }
    accepted(&s.post("/v1/sessions", &json!({"sessionKey": "hand-1", "title": "Handover"})).await, "start");
    let join = |cam: &str, device: &str| json!({"cameraKey": cam, "deviceId": device, "role": "wide", "placement": {"x": 1.0, "panDeg": 10}});
    accepted(&s.post("/v1/sessions/hand-1/cameras", &join("B", "phone-b")).await, "join B");
    accepted(&s.post("/v1/sessions/hand-1/cameras", &join("C", "busy")).await, "join C");

    let r = s.post("/v1/sessions/hand-1/cameras/B/replace", &json!({"deviceId": "busy"})).await;
    assert_eq!(verdict(&s, "busy", &r.event_id()).await["code"], "device_already_in_session");
    let r =
        s.post("/v1/sessions/hand-1/cameras/B/replace", &json!({"deviceId": "spare", "reason": "battery died"})).await;
    accepted(&r, "replace");
    assert_eq!(verdict(&s, "spare", &r.event_id()).await["verdict"], "applied");

    let placement = json!({"sessionKey": "hand-1", "placement": {"x": 2.0, "panDeg": 12}, "clockOffsetMs": -12.5});
    accepted(&s.put("/v1/devices/spare/placement", &placement).await, "spare's placement");
    let cams = eventually(20, "the spare's placement on camera B", || async {
        let r = s.get("/v1/sessions/hand-1/cameras").await;
        let b = r.body["cameras"].as_array()?.iter().find(|c| c["cameraKey"] == "B")?.clone();
        (b["placements"].as_array().map_or(0, Vec::len) == 2).then_some(b)
    })
    .await;
    assert_eq!(cams["deviceId"], "spare");
    assert_eq!(cams["replaced"][0]["deviceId"], "phone-b");
    assert_eq!(cams["replaced"][0]["reason"], "battery died");
    assert_eq!(cams["placements"][1]["deviceId"], "spare");
    assert_eq!(cams["placements"][1]["clockOffsetMs"], -12.5);
    assert_eq!(cams["placements"][1]["version"], 2);
    // Where camera B stood between the two versions, and before the first.
    let (v1, v2) =
        (cams["placements"][0]["receivedAt"].as_i64().unwrap(), cams["placements"][1]["receivedAt"].as_i64().unwrap());
    let at = |t: i64| {
        let s = &s;
        async move {
            let r = s.get(&format!("/v1/sessions/hand-1/cameras?at={t}")).await;
            assert_eq!(r.body["at"], t);
            r.body["cameras"]
                .as_array()
                .and_then(|c| c.iter().find(|c| c["cameraKey"] == "B"))
                .cloned()
                .unwrap_or_default()
        }
    };
    assert_eq!(at(v2 - 1).await["placementAt"]["version"], 1, "the version in effect just before the second");
    assert_eq!(at(v2).await["placementAt"]["version"], 2);
    assert!(at(v1 - 1).await.get("placementAt").is_none(), "none before the first");

    // The old phone's history says where its camera went.
    let old = s.get("/v1/devices/phone-b").await;
    assert_eq!(old.body["handedOver"][0]["cameraKey"], "B", "{:#}", old.body);
    assert_eq!(old.body["handedOver"][0]["deviceId"], "spare");
    assert!(old.body["cameras"].as_array().is_some_and(|c| c.iter().all(|c| c["cameraKey"] != "B")));
    assert_eq!(s.get("/v1/devices/spare").await.body["handedOver"], json!([]));

    // The old phone is free: it can join another session.
    accepted(&s.post("/v1/sessions", &json!({"sessionKey": "hand-2", "title": "Next"})).await, "start 2");
    let r = s.post("/v1/sessions/hand-2/cameras", &join("A", "phone-b")).await;
    assert_eq!(verdict(&s, "phone-b", &r.event_id()).await["verdict"], "applied");

    accepted(&s.post("/v1/sessions/hand-1/complete", &json!({})).await, "complete");
    eventually(20, "the completion", || async {
        (s.get("/v1/sessions/hand-1").await.body["ledger"]["session"]["status"] == "completed").then_some(())
    })
    .await;
    let r = s.post("/v1/sessions/hand-1/cameras/C/replace", &json!({"deviceId": "phone-b"})).await;
    assert_eq!(verdict(&s, "phone-b", &r.event_id()).await["code"], "session_completed");
    let r = s.post("/v1/sessions/hand-1/cameras/B/replace", &json!({"deviceId": "bad id!"})).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.pointers(), ["/deviceId"]);
    let r = s.post("/v1/sessions/bad%21/cameras/worse%21/replace", &json!({"deviceId": "spare"})).await;
    r.assert_problem(422, "invalid_fields");
    assert_eq!(r.pointers(), ["/path/sessionKey", "/path/cameraKey"], "both keys are named");
}

#[tokio::test]
async fn repairs_are_for_operators_only() {
    let opts = Options {
        env: vec![
            ("SHOOTLOG_ADMIN_TOKEN".into(), "admin-token-0123456789abcdef".into()),
            ("SHOOTLOG_DEVICE_TOKENS".into(), "phone-1=device-token-0123456789abcdef".into()),
        ],
        ..Options::default()
    };
    let s = Server::start_with(opts).await;
    let as_device = [("authorization", "Bearer device-token-0123456789abcdef")];
    let r = s.send(reqwest::Method::POST, "/v1/devices/phone-1/retire", &json!({}), &as_device).await;
    r.assert_problem(403, "forbidden");
    let r = s.send(reqwest::Method::GET, "/v1/devices", &Value::Null, &as_device).await;
    r.assert_problem(403, "forbidden");
    let as_admin = [("authorization", "Bearer admin-token-0123456789abcdef")];
    let r = s.send(reqwest::Method::POST, "/v1/devices/phone-1/retire", &json!({}), &as_admin).await;
    accepted(&r, "retire as admin");
}

/// The registry and a session's cameras, as one ledger answers them.
async fn views(s: &Server, source: &str) -> (Value, Value, Value) {
    let devices = s.get(&format!("/v1/devices?source={source}")).await;
    assert_eq!(devices.status, 200, "{:#}", devices.body);
    let clashes = s.get(&format!("/v1/clashes?open=false&source={source}")).await;
    let cameras = s.get(&format!("/v1/sessions/both-1/cameras?source={source}")).await;
    assert_eq!(cameras.status, 200, "{:#}", cameras.body);
    let strip = |mut v: Value| {
        v.as_object_mut().map(|o| o.remove("source"));
        v
    };
    (strip(devices.body), strip(clashes.body), strip(cameras.body))
}

#[tokio::test]
async fn convex_and_the_embedded_ledger_answer_the_same_registry() {
    let standin = Standin::start().await;
    let s = Server::start_with(Options { convex_url: Some(standin.url.clone()), ..Options::default() }).await;
    register(&s, "cam-a", Some("HW-A")).await;
    register(&s, "cam-b", None).await;
    register(&s, "cam-a2", Some("HW-A")).await;
    register(&s, "spare", None).await;
    accepted(&s.post("/v1/sessions", &json!({"sessionKey": "both-1", "title": "Both"})).await, "start");
    for (cam, device) in [("A", "cam-a"), ("B", "cam-b")] {
        let join = json!({"cameraKey": cam, "deviceId": device, "role": "wide", "placement": {"y": 1.5}});
        accepted(&s.post("/v1/sessions/both-1/cameras", &join).await, "join");
    }
    accepted(&s.post("/v1/sessions/both-1/cameras/B/replace", &json!({"deviceId": "spare"})).await, "replace");
    accepted(&s.post("/v1/devices/cam-b/rename", &json!({"label": "the old B"})).await, "rename");
    let resolve = json!({"hardwareId": "HW-A", "ownerDeviceId": "cam-a", "retireOthers": false});
    accepted(&s.post("/v1/clashes/resolve", &resolve).await, "resolve");
    accepted(&s.post("/v1/devices/cam-b/retire", &json!({"reason": "dead battery"})).await, "retire");
    let bad = json!({"sessionKey": "both-1", "placement": {"tiltDeg": 120}});
    let r = s.put("/v1/devices/spare/placement", &bad).await;
    assert_eq!(r.pointers(), ["/placement/tiltDeg"]);

    eventually(30, "every event delivered to Convex", || async { (s.backlog().await == 0).then_some(()) }).await;
    let convex = eventually(30, "Convex to show the retirement", || async {
        let v = views(&s, "convex").await;
        let retired = v.0["devices"].as_array()?.iter().any(|d| d["deviceId"] == "cam-b" && d["retired"] == true);
        retired.then_some(v)
    })
    .await;
    let embedded = views(&s, "embedded").await;
    assert_eq!(convex.0, embedded.0, "the registry");
    assert_eq!(convex.1, embedded.1, "the clashes");
    assert_eq!(convex.2, embedded.2, "the cameras");
    for device in ["cam-a", "cam-a2", "cam-b", "spare"] {
        let from = |source: &'static str| {
            let s = &s;
            async move {
                let mut v = s.get(&format!("/v1/devices/{device}?source={source}")).await.body;
                v.as_object_mut().map(|o| o.remove("source"));
                v
            }
        };
        let (c, e) = (from("convex").await, from("embedded").await);
        assert_eq!(c, e, "device {device}");
    }
    let cam_b = s.get("/v1/devices/cam-b?source=convex").await.body;
    assert_eq!(cam_b["handedOver"][0]["deviceId"], "spare", "{cam_b:#}");
    let b = convex.2["cameras"].as_array().and_then(|c| c.iter().find(|c| c["cameraKey"] == "B")).cloned();
    assert_eq!(b.as_ref().map(|b| b["deviceId"].clone()), Some(json!("spare")));
    assert_eq!(convex.2["refused"][0]["errors"][0]["pointer"], "/placement/tiltDeg");
    assert_eq!(convex.1["clashes"][0]["ownerDeviceId"], "cam-a");
}
