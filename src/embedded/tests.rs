//! Unit tests of the embedded ledger's registry repair (0005) and its named
//! reads. The conformance corpus (`tests/conformance.rs`) holds it to the
//! Convex functions; these name each rule and refusal on its own.

use serde_json::{Value, json};

use super::{EmbeddedError, EmbeddedLedger};

const NOW: f64 = 1_767_225_600_000.0;

/// A wire event of instance `i1` at journal position `seq` (its timeline).
fn ev(seq: u64, kind: &str, fields: Value) -> Value {
    let at = 1_767_222_000_000 + seq * 1000;
    let mut e = json!({
        "eventId": format!("e{seq}"),
        "type": kind,
        "at": at,
        "receivedAt": at + 5,
        "instance": "i1",
        "seq": seq,
    });
    if let (Some(e), Value::Object(f)) = (e.as_object_mut(), fields) {
        e.extend(f);
    }
    e
}

fn ledger() -> EmbeddedLedger {
    EmbeddedLedger::in_memory().expect("ledger")
}

/// Applies one event; its verdict.
fn put(l: &mut EmbeddedLedger, e: Value) -> Value {
    l.apply(&[e], NOW).expect("applies").remove(0)
}

fn register(seq: u64, device: &str, hw: Option<&str>) -> Value {
    let mut f = json!({ "deviceId": device, "name": format!("phone {device}"), "platform": "ios" });
    if let Some(hw) = hw {
        f["hardwareId"] = json!(hw);
    }
    ev(seq, "register_device", f)
}

fn start(seq: u64, session: &str) -> Value {
    ev(seq, "start_shoot", json!({ "sessionKey": session, "title": "shoot" }))
}

fn join(seq: u64, session: &str, camera: &str, device: &str) -> Value {
    ev(seq, "join_session", json!({ "sessionKey": session, "cameraKey": camera, "deviceId": device, "role": "wide" }))
}

fn replace(seq: u64, session: &str, camera: &str, device: &str) -> Value {
    ev(
        seq,
        "replace_camera_device",
        json!({ "sessionKey": session, "cameraKey": camera, "deviceId": device, "reason": "battery died" }),
    )
}

fn device(l: &mut EmbeddedLedger, id: &str) -> Value {
    l.query("ledger:device", &json!({ "deviceId": id })).expect("reads")
}

fn camera(l: &mut EmbeddedLedger, session: &str, key: &str) -> Value {
    let header = l.query("ledger:sessionHeader", &json!({ "sessionKey": session })).expect("reads");
    header["cameras"].as_array().and_then(|c| c.iter().find(|c| c["cameraKey"] == key)).cloned().unwrap_or(Value::Null)
}

fn assert_verdict(v: &Value, verdict: &str, code: Option<&str>) {
    assert_eq!(v["verdict"], verdict, "{v}");
    if let Some(code) = code {
        assert_eq!(v["code"], code, "{v}");
    }
}

// --- retire, reinstate, rename ----------------------------------------------

#[test]
fn a_retired_device_cannot_join() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", None));
    put(&mut l, start(2, "s1"));
    assert_verdict(
        &put(&mut l, ev(3, "retire_device", json!({ "deviceId": "d1", "reason": "lost" }))),
        "applied",
        None,
    );
    let v = put(&mut l, join(4, "s1", "A", "d1"));
    assert_verdict(&v, "rejected", Some("device_retired"));
    assert_eq!(v["message"], "device d1 is retired (by event e3)");
    let d = device(&mut l, "d1");
    assert_eq!(d["device"]["retirement"]["reason"], "lost");
    assert_eq!(d["device"]["retirement"]["eventId"], "e3");
    assert!(camera(&mut l, "s1", "A").is_null());
}

#[test]
fn a_join_earlier_than_the_retirement_stays_applied() {
    // Applied before the retirement arrives.
    let mut l = ledger();
    put(&mut l, register(1, "d1", None));
    put(&mut l, start(2, "s1"));
    assert_verdict(&put(&mut l, join(3, "s1", "A", "d1")), "applied", None);
    put(&mut l, ev(4, "retire_device", json!({ "deviceId": "d1" })));
    assert_eq!(camera(&mut l, "s1", "A")["deviceId"], "d1");
    // Delivered after a retirement later in the timeline.
    let mut l = ledger();
    put(&mut l, register(1, "d1", None));
    put(&mut l, start(2, "s1"));
    put(&mut l, ev(9, "retire_device", json!({ "deviceId": "d1" })));
    assert_verdict(&put(&mut l, join(3, "s1", "A", "d1")), "applied", None);
}

#[test]
fn retire_and_reinstate_commute_latest_in_the_timeline_wins() {
    let retire = ev(5, "retire_device", json!({ "deviceId": "d1" }));
    let reinstate = ev(6, "reinstate_device", json!({ "deviceId": "d1" }));
    let mut ends = Vec::new();
    for order in [[retire.clone(), reinstate.clone()], [reinstate.clone(), retire.clone()]] {
        let mut l = ledger();
        put(&mut l, register(1, "d1", None));
        for e in order {
            assert_verdict(&put(&mut l, e), "applied", None);
        }
        let d = device(&mut l, "d1")["device"].clone();
        assert_eq!(d.get("retirement"), Some(&Value::Null), "reinstated is a real null: {d}");
        ends.push(l.snapshot(&[]).expect("snapshot"));
    }
    assert_eq!(ends[0], ends[1]);
    // The other way round in the timeline: retired, whatever the arrival.
    for order in [
        [ev(5, "reinstate_device", json!({ "deviceId": "d1" })), ev(6, "retire_device", json!({ "deviceId": "d1" }))],
        [ev(6, "retire_device", json!({ "deviceId": "d1" })), ev(5, "reinstate_device", json!({ "deviceId": "d1" }))],
    ] {
        let mut l = ledger();
        put(&mut l, register(1, "d1", None));
        for e in order {
            put(&mut l, e);
        }
        assert_eq!(device(&mut l, "d1")["device"]["retirement"]["eventId"], "e6");
    }
}

#[test]
fn a_device_never_retired_has_no_retirement_field() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", None));
    let d = device(&mut l, "d1")["device"].clone();
    assert!(d.get("retirement").is_none(), "{d}");
    assert!(d.get("label").is_none(), "{d}");
}

#[test]
fn registration_changes_neither_label_nor_retirement() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", None));
    put(&mut l, ev(2, "rename_device", json!({ "deviceId": "d1", "label": "Camera left" })));
    put(&mut l, ev(3, "retire_device", json!({ "deviceId": "d1" })));
    put(&mut l, register(4, "d1", Some("hw-1")));
    let d = device(&mut l, "d1")["device"].clone();
    assert_eq!(d["label"], "Camera left");
    assert_eq!(d["name"], "phone d1");
    assert_eq!(d["retirement"]["eventId"], "e3");
    assert_eq!(d["hardwareId"], "hw-1");
    // Rename latest-wins, whatever the arrival.
    put(&mut l, ev(8, "rename_device", json!({ "deviceId": "d1", "label": "Later" })));
    put(&mut l, ev(7, "rename_device", json!({ "deviceId": "d1", "label": "Earlier" })));
    assert_eq!(device(&mut l, "d1")["device"]["label"], "Later");
}

#[test]
fn repairs_of_an_unknown_device_are_device_not_found_at_once() {
    let mut l = ledger();
    for (seq, kind, f) in [
        (1, "retire_device", json!({ "deviceId": "nope" })),
        (2, "reinstate_device", json!({ "deviceId": "nope" })),
        (3, "rename_device", json!({ "deviceId": "nope", "label": "x" })),
    ] {
        let v = put(&mut l, ev(seq, kind, f));
        assert_verdict(&v, "rejected", Some("device_not_found"));
        assert_eq!(v["message"], "device nope is not registered");
    }
}

#[test]
fn static_checks_of_the_repair_events() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", None));
    let long = "x".repeat(501);
    let v = put(&mut l, ev(2, "retire_device", json!({ "deviceId": "d1", "reason": long })));
    assert_verdict(&v, "rejected", Some("invalid_event"));
    assert_eq!(v["message"], "reason is 501 characters, at most 500");
    for label in ["", &"y".repeat(201)] {
        let v = put(&mut l, ev(3 + label.len() as u64, "rename_device", json!({ "deviceId": "d1", "label": label })));
        assert_eq!(v["message"], "label must be 1..200 characters", "{v}");
    }
    let v =
        put(&mut l, ev(300, "resolve_clash", json!({ "hardwareId": "h", "ownerDeviceId": "", "retireOthers": false })));
    assert_eq!(v["message"], "ownerDeviceId must not be empty");
}

// --- clash reports and resolve_clash ----------------------------------------

#[test]
fn a_refused_registration_writes_a_clash_report() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", Some("hw-1")));
    let v = put(&mut l, register(2, "d2", Some("hw-1")));
    assert_verdict(&v, "rejected", Some("hardware_id_conflict"));
    let open =
        l.query("ledger:clashes", &json!({ "open": true, "paginationOpts": { "numItems": 10, "cursor": null } }));
    let page = open.expect("reads")["page"].clone();
    assert_eq!(page.as_array().map(Vec::len), Some(1));
    let r = &page[0];
    for (k, want) in [
        ("hardwareId", json!("hw-1")),
        ("holderDeviceId", json!("d1")),
        ("claimantDeviceId", json!("d2")),
        ("eventId", json!("e2")),
        ("name", json!("phone d2")),
        ("platform", json!("ios")),
        ("open", json!(true)),
    ] {
        assert_eq!(r[k], want, "{k}: {r}");
    }
    assert!(r["_id"].as_str().is_some_and(|id| id.starts_with("productionDeviceClashes:")));
    // The replay of the refused registration writes no second report.
    assert_verdict(&put(&mut l, register(2, "d2", Some("hw-1"))), "duplicate", None);
    assert_eq!(device(&mut l, "d2")["clashes"].as_array().map(Vec::len), Some(1));
    assert_eq!(device(&mut l, "d1")["clashes"].as_array().map(Vec::len), Some(1));
}

fn resolve(seq: u64, hw: &str, owner: &str, retire_others: bool) -> Value {
    ev(seq, "resolve_clash", json!({ "hardwareId": hw, "ownerDeviceId": owner, "retireOthers": retire_others }))
}

#[test]
fn resolved_for_the_holder_the_reports_close_and_the_holder_keeps_it() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", Some("hw-1")));
    put(&mut l, register(2, "d2", Some("hw-1")));
    put(&mut l, register(3, "d3", Some("hw-1")));
    let v = put(&mut l, resolve(4, "hw-1", "d1", false));
    assert_verdict(&v, "applied", None);
    let closed =
        l.query("ledger:clashes", &json!({ "open": false, "paginationOpts": { "numItems": 10, "cursor": null } }));
    let closed = closed.expect("reads")["page"].clone();
    assert_eq!(closed.as_array().map(Vec::len), Some(2));
    for r in closed.as_array().into_iter().flatten() {
        assert_eq!(r["resolvedBy"], "e4");
        assert_eq!(r["ownerDeviceId"], "d1");
        assert_eq!(r["open"], false);
    }
    assert_eq!(device(&mut l, "d1")["device"]["hardwareId"], "hw-1");
    // The claimants still cannot take it.
    assert_verdict(&put(&mut l, register(5, "d2", Some("hw-1"))), "rejected", Some("hardware_id_conflict"));
    // The receipt is the owner's.
    let receipts = device(&mut l, "d1")["receipts"].clone();
    assert!(receipts.as_array().into_iter().flatten().any(|r| r["eventId"] == "e4"), "{receipts}");
}

#[test]
fn resolved_for_the_claimant_the_holder_loses_it_and_with_retire_others_is_retired() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", Some("hw-1")));
    put(&mut l, register(2, "d2", None));
    assert_verdict(&put(&mut l, register(3, "d2", Some("hw-1"))), "rejected", Some("hardware_id_conflict"));
    assert_verdict(&put(&mut l, resolve(4, "hw-1", "d2", true)), "applied", None);
    let d1 = device(&mut l, "d1")["device"].clone();
    assert!(d1.get("hardwareId").is_none(), "{d1}");
    assert_eq!(d1["retirement"]["reason"], "hardware id hw-1 belongs to d2");
    assert_eq!(d1["retirement"]["eventId"], "e4");
    let d2 = device(&mut l, "d2")["device"].clone();
    assert_eq!(d2["hardwareId"], "hw-1");
    assert!(d2.get("retirement").is_none(), "{d2}");
    // The owner holds it now: the old holder's claims are clashes again.
    assert_verdict(&put(&mut l, register(0, "d1", Some("hw-1"))), "rejected", Some("hardware_id_conflict"));
    put(&mut l, ev(10, "register_device", json!({ "deviceId": "d1", "name": "again", "platform": "ios" })));
    assert!(device(&mut l, "d1")["device"].get("hardwareId").is_none());
}

#[test]
fn an_owner_not_yet_registered_registers_again_and_succeeds() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", Some("hw-1")));
    put(&mut l, register(2, "d2", Some("hw-1")));
    assert_verdict(&put(&mut l, resolve(3, "hw-1", "d2", false)), "applied", None);
    assert!(device(&mut l, "d1")["device"].get("hardwareId").is_none());
    // An older registration of the holder, delivered later, does not put it back.
    assert_verdict(&put(&mut l, register(0, "d1", Some("hw-1"))), "applied", None);
    assert!(device(&mut l, "d1")["device"].get("hardwareId").is_none());
    assert_verdict(&put(&mut l, register(4, "d2", Some("hw-1"))), "applied", None);
    assert_eq!(device(&mut l, "d2")["device"]["hardwareId"], "hw-1");
}

#[test]
fn resolve_clash_refusals() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", Some("hw-1")));
    let v = put(&mut l, resolve(2, "hw-1", "d1", false));
    assert_verdict(&v, "rejected", Some("clash_not_found"));
    assert_eq!(v["message"], "no open clash report of hardware id hw-1");
    put(&mut l, register(3, "d2", Some("hw-1")));
    let v = put(&mut l, resolve(4, "hw-1", "d9", false));
    assert_verdict(&v, "rejected", Some("device_not_in_clash"));
    assert_eq!(v["message"], "device d9 is no party to the clash of hardware id hw-1");
    // Once resolved, there is no open clash left.
    put(&mut l, resolve(5, "hw-1", "d1", false));
    assert_verdict(&put(&mut l, resolve(6, "hw-1", "d1", false)), "rejected", Some("clash_not_found"));
}

// --- replace_camera_device --------------------------------------------------

fn shoot_with_camera(l: &mut EmbeddedLedger) {
    put(l, register(1, "d1", None));
    put(l, register(2, "d2", None));
    put(l, start(3, "s1"));
    put(l, join(4, "s1", "A", "d1"));
}

#[test]
fn a_replacement_hands_the_camera_to_the_new_device() {
    let mut l = ledger();
    shoot_with_camera(&mut l);
    put(&mut l, ev(5, "update_placement", json!({ "sessionKey": "s1", "deviceId": "d1", "placement": { "x": 1 } })));
    let v = put(&mut l, replace(6, "s1", "A", "d2"));
    assert_verdict(&v, "applied", None);
    let c = camera(&mut l, "s1", "A");
    assert_eq!(c["deviceId"], "d2");
    assert_eq!(c["role"], "wide");
    assert_eq!(c["placementVersion"], 1);
    assert_eq!(
        c["replaced"],
        json!([{ "deviceId": "d1", "byDeviceId": "d2", "at": 1_767_222_006_000_u64, "receivedAt": 1_767_222_006_005_u64,
                 "eventId": "e6", "reason": "battery died" }])
    );
    // The new device updates the placement; the old one holds no camera.
    let placement = json!({ "sessionKey": "s1", "deviceId": "d2", "placement": { "x": 2 }, "clockOffsetMs": -12 });
    assert_verdict(&put(&mut l, ev(7, "update_placement", placement)), "applied", None);
    let old = json!({ "sessionKey": "s1", "deviceId": "d1", "placement": { "x": 3 } });
    assert_verdict(&put(&mut l, ev(8, "update_placement", old)), "waiting", Some("camera_not_in_session"));
    let d2 = device(&mut l, "d2");
    assert_eq!(d2["cameras"][0]["cameraKey"], "A");
    assert_eq!(d2["placements"][0]["clockOffsetMs"], -12);
    let r = d2["receipts"].as_array().and_then(|r| r.iter().find(|r| r["eventId"] == "e6")).cloned();
    assert_eq!(r.as_ref().map(|r| r["sessionKey"].clone()), Some(json!("s1")), "{d2}");
    // The old device is free: it can join another session.
    put(&mut l, start(9, "s2"));
    assert_verdict(&put(&mut l, join(10, "s2", "B", "d1")), "applied", None);
}

#[test]
fn a_replacement_by_a_device_not_registered_waits_for_it() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", None));
    put(&mut l, start(3, "s1"));
    put(&mut l, join(4, "s1", "A", "d1"));
    let v = put(&mut l, replace(5, "s1", "A", "d2"));
    assert_verdict(&v, "waiting", Some("device_not_found"));
    assert_eq!(v["waitingFor"], json!({ "kind": "device", "key": "d2" }));
    put(&mut l, register(6, "d2", None));
    assert_verdict(&l.receipt("e5").expect("reads").expect("receipt"), "applied", None);
    assert_eq!(camera(&mut l, "s1", "A")["deviceId"], "d2");
}

#[test]
fn a_replacement_by_a_retired_device_is_refused() {
    let mut l = ledger();
    shoot_with_camera(&mut l);
    put(&mut l, ev(5, "retire_device", json!({ "deviceId": "d2" })));
    assert_verdict(&put(&mut l, replace(6, "s1", "A", "d2")), "rejected", Some("device_retired"));
    assert_eq!(camera(&mut l, "s1", "A")["deviceId"], "d1");
}

#[test]
fn a_replacement_by_a_camera_of_the_session_is_refused() {
    let mut l = ledger();
    shoot_with_camera(&mut l);
    put(&mut l, join(5, "s1", "B", "d2"));
    let v = put(&mut l, replace(6, "s1", "A", "d2"));
    assert_verdict(&v, "rejected", Some("device_already_in_session"));
    assert_eq!(v["message"], "device d2 already is camera B of session s1");
    // The replaced device itself, too.
    let v = put(&mut l, replace(7, "s1", "A", "d1"));
    assert_eq!(v["message"], "device d1 already is camera A of session s1");
}

#[test]
fn a_replacement_in_a_completed_session_is_refused() {
    let mut l = ledger();
    shoot_with_camera(&mut l);
    put(&mut l, ev(10, "complete_session", json!({ "sessionKey": "s1" })));
    assert_verdict(&put(&mut l, replace(11, "s1", "A", "d2")), "rejected", Some("session_completed"));
    // Accepted before the completion, delivered after it: not live any more.
    assert_verdict(&put(&mut l, replace(9, "s1", "A", "d2")), "rejected", Some("session_completed"));
}

#[test]
fn a_replacement_of_a_camera_not_joined_waits_for_it_and_for_its_session() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", None));
    put(&mut l, register(2, "d2", None));
    let v = put(&mut l, replace(6, "s1", "A", "d2"));
    assert_verdict(&v, "waiting", Some("session_not_found"));
    put(&mut l, start(3, "s1"));
    let r = l.receipt("e6").expect("reads").expect("receipt");
    assert_verdict(&r, "waiting", Some("camera_not_in_session"));
    assert_eq!(r["waitingFor"], json!({ "kind": "camera", "key": "s1/A" }));
    put(&mut l, join(4, "s1", "A", "d1"));
    assert_verdict(&l.receipt("e6").expect("reads").expect("receipt"), "applied", None);
}

#[test]
fn a_replacement_by_a_camera_of_another_live_session_waits_until_it_is_free() {
    let mut l = ledger();
    shoot_with_camera(&mut l);
    put(&mut l, start(5, "s2"));
    put(&mut l, join(6, "s2", "X", "d2"));
    let v = put(&mut l, replace(7, "s1", "A", "d2"));
    assert_verdict(&v, "waiting", Some("device_in_other_session"));
    put(&mut l, ev(8, "complete_session", json!({ "sessionKey": "s2" })));
    assert_verdict(&l.receipt("e7").expect("reads").expect("receipt"), "applied", None);
}

// --- placement rows, schema version -----------------------------------------

#[test]
fn placement_rows_keep_the_clock_offset_their_event_reported() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", None));
    put(&mut l, start(2, "s1"));
    let mut j = join(3, "s1", "A", "d1");
    j["placement"] = json!({ "x": 1 });
    j["clockOffsetMs"] = json!(40);
    put(&mut l, j);
    put(&mut l, ev(4, "update_placement", json!({ "sessionKey": "s1", "deviceId": "d1", "placement": { "x": 2 } })));
    let page = l.query(
        "ledger:sessionPlacements",
        &json!({ "sessionKey": "s1", "paginationOpts": { "numItems": 5, "cursor": null } }),
    );
    let page = page.expect("reads")["page"].clone();
    assert_eq!(page[0]["clockOffsetMs"], 40);
    assert!(page[1].get("clockOffsetMs").is_none(), "{page}");
}

#[test]
fn a_ledger_file_of_an_older_schema_is_emptied_for_a_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("ledger.db");
    {
        let mut l = EmbeddedLedger::open(&path).expect("opens");
        l.apply_entries(&[(1, register(1, "d1", None))], NOW).expect("applies");
        assert_eq!(l.applied_through().expect("reads"), 1);
        l.conn.execute("UPDATE ledger_meta SET value = '1' WHERE key = 'schema_version'", []).expect("writes");
        // A version-1 file has no clash table.
        l.conn.execute_batch("DROP TABLE ledger_device_clashes").expect("drops");
    }
    let mut l = EmbeddedLedger::open(&path).expect("reopens");
    assert_eq!(l.applied_through().expect("reads"), 0, "the follower starts from the beginning of the journal");
    assert!(device(&mut l, "d1")["device"].is_null());
    l.apply_entries(&[(1, register(1, "d1", Some("hw")))], NOW).expect("applies");
    put(&mut l, register(2, "d2", Some("hw")));
    assert_eq!(device(&mut l, "d2")["clashes"].as_array().map(Vec::len), Some(1));
    drop(l);
    // Of the current version it is kept.
    let mut l = EmbeddedLedger::open(&path).expect("reopens");
    assert_eq!(l.applied_through().expect("reads"), 1);
    assert!(!device(&mut l, "d1")["device"].is_null());
}

// --- reads ------------------------------------------------------------------

fn opts(n: Value, cursor: &Value) -> Value {
    json!({ "numItems": n, "cursor": cursor })
}

/// Every row of a paged read, `n` at a time, and how many pages it took.
fn all_pages(l: &mut EmbeddedLedger, name: &str, args: Value, n: u32) -> (Vec<Value>, usize) {
    let mut cursor = Value::Null;
    let mut rows = Vec::new();
    let mut pages = 0;
    loop {
        let mut a = args.clone();
        a["paginationOpts"] = opts(json!(n), &cursor);
        let p = l.query(name, &a).expect("reads");
        pages += 1;
        assert!(p["continueCursor"].is_string(), "{p}");
        let page = p["page"].as_array().cloned().unwrap_or_default();
        assert!(page.len() <= n as usize);
        rows.extend(page);
        if p["isDone"] == true {
            return (rows, pages);
        }
        cursor = p["continueCursor"].clone();
        assert!(pages < 1000);
    }
}

#[test]
fn devices_page_by_device_id_with_a_cursor() {
    let mut l = ledger();
    for (i, d) in ["d5", "d1", "d4", "d2", "d3"].iter().enumerate() {
        put(&mut l, register(i as u64 + 1, d, None));
    }
    let (rows, pages) = all_pages(&mut l, "ledger:devices", json!({}), 2);
    let ids: Vec<&str> = rows.iter().filter_map(|r| r["deviceId"].as_str()).collect();
    assert_eq!(ids, ["d1", "d2", "d3", "d4", "d5"]);
    assert_eq!(pages, 3);
    assert!(rows[0]["_id"].as_str().is_some_and(|id| id.starts_with("productionDevices:")));
    // A done page's cursor goes on with nothing, done.
    let p = l.query("ledger:devices", &json!({ "paginationOpts": opts(json!(10), &Value::Null) })).expect("reads");
    assert_eq!(p["isDone"], true);
    let next = l.query("ledger:devices", &json!({ "paginationOpts": opts(json!(10), &p["continueCursor"]) }));
    let next = next.expect("reads");
    assert_eq!(next["page"], json!([]));
    assert_eq!(next["isDone"], true);
    // ... and sees a device registered since.
    put(&mut l, register(9, "d9", None));
    let later = l.query("ledger:devices", &json!({ "paginationOpts": opts(json!(10), &p["continueCursor"]) }));
    assert_eq!(later.expect("reads")["page"][0]["deviceId"], "d9");
}

#[test]
fn page_sizes_are_clamped_to_1_through_read_page_max() {
    let mut l = ledger();
    let events: Vec<Value> = (1..=300).map(|i| register(i, &format!("d{i:03}"), None)).collect();
    l.apply(&events, NOW).expect("applies");
    for (asked, got) in [(json!(0), 1), (json!(-5), 1), (json!(2.7), 2), (json!(1000), 256)] {
        let p = l.query("ledger:devices", &json!({ "paginationOpts": opts(asked.clone(), &Value::Null) }));
        let p = p.expect("reads");
        assert_eq!(p["page"].as_array().map(Vec::len), Some(got), "numItems {asked}");
        assert_eq!(p["isDone"], false);
    }
    let empty = ledger().query("ledger:devices", &json!({ "paginationOpts": opts(json!(10), &Value::Null) }));
    let empty = empty.expect("reads");
    assert_eq!((empty["page"].clone(), empty["isDone"].clone()), (json!([]), json!(true)));
    assert!(empty["continueCursor"].is_string());
}

#[test]
fn sessions_newest_started_first_with_status_and_start_filters() {
    let mut l = ledger();
    // startedAt is the sender clock: seq 10 starts latest, then 30 is earlier in `at`.
    let mut s3 = start(30, "s3");
    s3["at"] = json!(1_767_222_001_500_u64);
    for e in [start(10, "s1"), start(20, "s2"), s3, start(40, "s4")] {
        put(&mut l, e);
    }
    put(&mut l, ev(41, "complete_session", json!({ "sessionKey": "s2" })));
    let keys =
        |rows: Vec<Value>| rows.iter().filter_map(|r| r["sessionKey"].as_str().map(str::to_string)).collect::<Vec<_>>();
    let (rows, pages) = all_pages(&mut l, "ledger:sessions", json!({}), 1);
    assert_eq!(keys(rows), ["s4", "s2", "s1", "s3"]);
    assert_eq!(pages, 4);
    let (rows, _) = all_pages(&mut l, "ledger:sessions", json!({ "status": "live" }), 2);
    assert_eq!(keys(rows), ["s4", "s1", "s3"]);
    let (rows, _) = all_pages(&mut l, "ledger:sessions", json!({ "status": "completed" }), 2);
    assert_eq!(keys(rows), ["s2"]);
    // Inclusive bounds on startedAt.
    let (from, to) = (1_767_222_010_000_u64, 1_767_222_020_000_u64);
    let (rows, _) = all_pages(&mut l, "ledger:sessions", json!({ "startedFrom": from, "startedTo": to }), 5);
    assert_eq!(keys(rows), ["s2", "s1"]);
    let (rows, _) = all_pages(&mut l, "ledger:sessions", json!({ "startedFrom": from, "status": "live" }), 5);
    assert_eq!(keys(rows), ["s4", "s1"]);
    let (rows, _) = all_pages(&mut l, "ledger:sessions", json!({ "startedTo": from - 1 }), 5);
    assert_eq!(keys(rows), ["s3"]);
    let bad =
        l.query("ledger:sessions", &json!({ "status": "paused", "paginationOpts": opts(json!(5), &Value::Null) }));
    assert!(matches!(bad, Err(EmbeddedError::BadRead(_))));
}

#[test]
fn a_session_reads_in_pages_in_timeline_order() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", None));
    put(&mut l, start(2, "s1"));
    put(&mut l, join(3, "s1", "A", "d1"));
    // Delivered out of timeline order.
    for seq in [9, 5, 7, 4, 8, 6] {
        put(&mut l, ev(seq, "note", json!({ "sessionKey": "s1", "text": format!("n{seq}") })));
    }
    put(&mut l, start(20, "other"));
    put(&mut l, ev(21, "note", json!({ "sessionKey": "other", "text": "elsewhere" })));
    let (rows, pages) = all_pages(&mut l, "ledger:sessionEvents", json!({ "sessionKey": "s1" }), 4);
    let ids: Vec<&str> = rows.iter().filter_map(|r| r["eventId"].as_str()).collect();
    assert_eq!(ids, ["e4", "e5", "e6", "e7", "e8", "e9"]);
    assert_eq!(pages, 2);
    let header = l.query("ledger:sessionHeader", &json!({ "sessionKey": "s1" })).expect("reads");
    assert_eq!(header["session"]["sessionKey"], "s1");
    assert_eq!(header["cameras"][0]["cameraKey"], "A");
    assert_eq!(l.query("ledger:sessionHeader", &json!({ "sessionKey": "nope" })).expect("reads"), Value::Null);
    let (stills, _) = all_pages(&mut l, "ledger:sessionStills", json!({ "sessionKey": "s1" }), 4);
    assert!(stills.is_empty());
}

#[test]
fn clashes_read_by_open_in_timeline_order() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", Some("hw-1")));
    put(&mut l, register(2, "d2", Some("hw-2")));
    put(&mut l, register(6, "d3", Some("hw-1")));
    put(&mut l, register(4, "d4", Some("hw-2")));
    put(&mut l, register(5, "d5", Some("hw-1")));
    put(&mut l, resolve(7, "hw-2", "d2", false));
    let (open, _) = all_pages(&mut l, "ledger:clashes", json!({ "open": true }), 1);
    let ids: Vec<&str> = open.iter().filter_map(|r| r["eventId"].as_str()).collect();
    assert_eq!(ids, ["e5", "e6"]);
    let (closed, _) = all_pages(&mut l, "ledger:clashes", json!({ "open": false }), 1);
    assert_eq!(closed.iter().filter_map(|r| r["eventId"].as_str()).collect::<Vec<_>>(), ["e4"]);
    let d1 = device(&mut l, "d1");
    let ids: Vec<&str> = d1["clashes"].as_array().into_iter().flatten().filter_map(|r| r["eventId"].as_str()).collect();
    assert_eq!(ids, ["e5", "e6"]);
    let missing = l.query("ledger:clashes", &json!({ "paginationOpts": opts(json!(1), &Value::Null) }));
    assert!(matches!(missing, Err(EmbeddedError::BadRead(_))));
}

#[test]
fn the_device_read_answers_its_row_cameras_clashes_receipts_and_placements() {
    let mut l = ledger();
    put(&mut l, register(1, "d1", None));
    put(&mut l, start(2, "s1"));
    put(&mut l, start(3, "s2"));
    put(&mut l, join(6, "s2", "B", "d1"));
    put(&mut l, ev(7, "complete_session", json!({ "sessionKey": "s2" })));
    put(&mut l, join(5, "s1", "A", "d1"));
    put(&mut l, ev(8, "update_placement", json!({ "sessionKey": "s1", "deviceId": "d1", "placement": { "x": 1 } })));
    let d = device(&mut l, "d1");
    assert_eq!(d["device"]["deviceId"], "d1");
    // In timeline order of their joins, live or not.
    let cams: Vec<&str> =
        d["cameras"].as_array().into_iter().flatten().filter_map(|c| c["cameraKey"].as_str()).collect();
    assert_eq!(cams, ["A", "B"]);
    let receipts: Vec<&str> =
        d["receipts"].as_array().into_iter().flatten().filter_map(|r| r["eventId"].as_str()).collect();
    assert_eq!(receipts, ["e1", "e5", "e6", "e8"]);
    assert_eq!(d["placements"].as_array().map(Vec::len), Some(1));
    assert_eq!(d["clashes"], json!([]));
    let nobody = device(&mut l, "nobody");
    assert_eq!(nobody, json!({ "device": null, "cameras": [], "clashes": [], "receipts": [], "placements": [] }));
}

#[test]
fn the_device_read_answers_the_latest_receipts_oldest_first() {
    let mut l = ledger();
    let events: Vec<Value> = (1..=300).map(|i| register(i, "d1", None)).collect();
    l.apply(&events, NOW).expect("applies");
    let receipts = device(&mut l, "d1")["receipts"].as_array().cloned().unwrap_or_default();
    assert_eq!(receipts.len(), 256);
    assert_eq!(receipts[0]["eventId"], "e45");
    assert_eq!(receipts[255]["eventId"], "e300");
}

#[test]
fn unknown_reads_and_bad_cursors_are_errors() {
    let mut l = ledger();
    assert!(matches!(l.query("ledger:nope", &json!({})), Err(EmbeddedError::UnknownRead(n)) if n == "ledger:nope"));
    for cursor in [json!("garbage"), json!("[1]"), json!(7)] {
        let r = l.query("ledger:devices", &json!({ "paginationOpts": opts(json!(1), &cursor) }));
        assert!(matches!(r, Err(EmbeddedError::BadRead(_))), "{cursor}");
    }
    assert!(matches!(l.query("ledger:devices", &json!({})), Err(EmbeddedError::BadRead(_))));
    assert!(matches!(l.query("ledger:device", &json!({})), Err(EmbeddedError::BadRead(_))));
}
