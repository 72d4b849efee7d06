//! Registry repair (`migrations-notes/0005-registry-repair-and-reads.md`):
//! the operators' events `retire_device`, `reinstate_device`,
//! `rename_device`, `resolve_clash` and `replace_camera_device`, the clash
//! report a refused `register_device` writes, and the `device_retired` rule
//! of a join. The TypeScript twins are `convex/apply/registry.ts`,
//! `convex/apply/devices.ts` (the clash report) and `convex/rules/lookups.ts`
//! (`isRetiredBefore`); the conformance corpus holds both to the same
//! snapshots. The static checks (`reason`, `label`, `ownerDeviceId`) are in
//! `check_common`, as in `convex/rules/checks.ts`.
//!
//! Two shapes of write here are not [`Store::patch`]'s: `retirement: null`
//! is a real JSON null (a reinstated device), so latest-wins fields are
//! written with [`put_fields`], which keeps nulls; and a holder losing its
//! `hardwareId` has the field removed (its timeline kept).

use serde_json::{Value, json};

use super::rules::{
    Ctx, Outcome, R, applied, camera_in_session, field, in_other_live_session, lww, num, obj, refuse, reject, s,
    session_for, sv, timeline_key, timelines_of, wait, waits_for_key,
};
use super::store::{Doc, Row, Table, text};

/// Writes `fields` into a row as they are, nulls included, and the row.
fn put_fields(ctx: &Ctx, table: Table, row: &mut Row, fields: Doc) -> R<()> {
    row.doc.extend(fields);
    ctx.store.replace(table, row.id, &row.doc)
}

/// Latest-wins `fields` (by timeline `t`) of a device row, with its
/// timelines and `updatedAt`; whether any field won.
fn lww_device(ctx: &Ctx, device: &mut Row, t: &str, fields: &[(&str, Option<Value>)]) -> R<bool> {
    let (mut patch, timelines) = lww(&timelines_of(&device.doc), t, fields, false);
    if patch.is_empty() {
        return Ok(false);
    }
    patch.insert("timelines".into(), Value::Object(timelines));
    patch.insert("updatedAt".into(), num(ctx.now));
    put_fields(ctx, Table::Devices, device, patch)?;
    Ok(true)
}

/// The device of an operator's event, or `device_not_found` at once (a
/// repair never waits: no completion would end the wait).
fn registered(ctx: &Ctx, device_id: &str) -> R<Result<Row, Outcome>> {
    Ok(ctx
        .device(device_id)?
        .ok_or_else(|| reject("device_not_found", format!("device {device_id} is not registered"))))
}

/// `{ at, receivedAt, reason?, eventId }` of the event that retires.
fn retirement_of(event: &Doc, reason: Option<Value>) -> Value {
    let mut r = obj(json!({ "at": event.get("at"), "receivedAt": event.get("receivedAt") }));
    if let Some(reason) = reason {
        r.insert("reason".into(), reason);
    }
    r.insert("eventId".into(), json!(sv(event, "eventId")));
    Value::Object(r)
}

/// `device_retired` when the device's `retirement` is set by an event
/// earlier in the timeline than `t` (a join or replacement that came first
/// stays applied).
pub fn retired_before(device: &Doc, t: &str) -> Option<Outcome> {
    let retirement = device.get("retirement")?.as_object()?;
    let timelines = timelines_of(device);
    if s(&timelines, "retirement").unwrap_or_default() >= t {
        return None;
    }
    Some(reject(
        "device_retired",
        format!(
            "device {} is retired (by event {})",
            sv(device, "deviceId"),
            s(retirement, "eventId").unwrap_or_default()
        ),
    ))
}

/// `retire_device`: `retirement` set, latest-wins.
pub fn retire_device(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    let mut device = refuse!(registered(ctx, &sv(event, "deviceId"))?);
    let value = retirement_of(event, field(event, "reason"));
    lww_device(ctx, &mut device, &timeline_key(event), &[("retirement", Some(value))])?;
    Ok(applied(&[(Table::Devices, device.id)], vec![]))
}

/// `reinstate_device`: `retirement` null, latest-wins.
pub fn reinstate_device(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    let mut device = refuse!(registered(ctx, &sv(event, "deviceId"))?);
    lww_device(ctx, &mut device, &timeline_key(event), &[("retirement", Some(Value::Null))])?;
    Ok(applied(&[(Table::Devices, device.id)], vec![]))
}

/// `rename_device`: the operator's `label`, latest-wins.
pub fn rename_device(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    let label = sv(event, "label");
    let mut device = refuse!(registered(ctx, &sv(event, "deviceId"))?);
    lww_device(ctx, &mut device, &timeline_key(event), &[("label", Some(json!(label)))])?;
    Ok(applied(&[(Table::Devices, device.id)], vec![]))
}

/// The clash report of a `register_device` refused `hardware_id_conflict`
/// (`productionDeviceClashes`): the one write a refused event makes
/// besides its receipt.
pub fn report_clash(ctx: &Ctx, event: &Doc, hardware_id: &str, holder: &str) -> R<i64> {
    let mut doc = obj(json!({
        "hardwareId": hardware_id,
        "holderDeviceId": holder,
        "claimantDeviceId": sv(event, "deviceId"),
        "eventId": sv(event, "eventId"),
    }));
    for k in ["at", "receivedAt"] {
        if let Some(v) = field(event, k) {
            doc.insert(k.into(), v);
        }
    }
    doc.insert("timeline".into(), json!(timeline_key(event)));
    for k in ["name", "platform"] {
        if let Some(v) = field(event, k) {
            doc.insert(k.into(), v);
        }
    }
    doc.insert("open".into(), json!(true));
    ctx.store.insert(Table::Clashes, &doc)
}

/// `resolve_clash`: which device owns a hardware id several claimed. Each
/// party's row (holders, then claimants, in report order) gets one write:
/// a holder other than the owner loses the hardware id (removed, its
/// timeline this event's, so an older registration delivered later does not
/// put it back) unless the owner is a holder too; the owner, not a holder,
/// gets it latest-wins; with `retireOthers` the others are retired. A party
/// not registered is skipped (a claimant: it registers again).
pub fn resolve_clash(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    let (hw, owner) = (sv(event, "hardwareId"), sv(event, "ownerDeviceId"));
    let reports = ctx.store.find(
        Table::Clashes,
        &[("hardware_id", text(&hw)), ("open", rusqlite::types::Value::Integer(1))],
        None,
        "id",
        None,
    )?;
    let Some(first) = reports.first() else {
        return Ok(reject("clash_not_found", format!("no open clash report of hardware id {hw}")));
    };
    let mut holders: Vec<String> = Vec::new();
    let mut parties: Vec<String> = Vec::new();
    for r in &reports {
        let (holder, claimant) = (sv(&r.doc, "holderDeviceId"), sv(&r.doc, "claimantDeviceId"));
        if !holders.contains(&holder) {
            holders.push(holder.clone());
        }
        for p in [holder, claimant] {
            if !parties.contains(&p) {
                parties.push(p);
            }
        }
    }
    if !parties.contains(&owner) {
        return Ok(reject(
            "device_not_in_clash",
            format!("device {owner} is no party to the clash of hardware id {hw}"),
        ));
    }
    let t = timeline_key(event);
    let event_id = sv(event, "eventId");
    for mut r in reports.iter().cloned() {
        let fields = obj(json!({ "open": false, "resolvedBy": event_id, "ownerDeviceId": owner }));
        put_fields(ctx, Table::Clashes, &mut r, fields)?;
    }
    let mut ids = vec![(Table::Clashes, first.id)];
    let retirement = retirement_of(event, Some(json!(format!("hardware id {hw} belongs to {owner}"))));
    let owner_holds = holders.contains(&owner);
    for id in &parties {
        let Some(mut row) = ctx.device(id)? else { continue };
        let mut timelines = timelines_of(&row.doc);
        let mut patch = Doc::new();
        let mut remove = false;
        if *id != owner && holders.contains(id) && s(&row.doc, "hardwareId") == Some(hw.as_str()) && !owner_holds {
            remove = true;
            timelines.insert("hardwareId".into(), json!(t));
        }
        if *id == owner && !owner_holds {
            let (got, next) = lww(&timelines, &t, &[("hardwareId", Some(json!(hw)))], false);
            patch.extend(got);
            timelines = next;
            ids.push((Table::Devices, row.id));
        }
        if *id != owner && event.get("retireOthers") == Some(&Value::Bool(true)) {
            let (got, next) = lww(&timelines, &t, &[("retirement", Some(retirement.clone()))], false);
            patch.extend(got);
            timelines = next;
        }
        if remove || !patch.is_empty() {
            if remove {
                row.doc.remove("hardwareId");
            }
            patch.insert("timelines".into(), Value::Object(timelines));
            patch.insert("updatedAt".into(), num(ctx.now));
            put_fields(ctx, Table::Devices, &mut row, patch)?;
        }
    }
    Ok(applied(&ids, vec![]))
}

/// `replace_camera_device`: another device takes over a camera of a live
/// session; the camera keeps its key, role, placements and clock offset.
pub fn replace_camera_device(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    let session = refuse!(session_for(ctx, event)?);
    let (key, camera_key, device_id) = (sv(event, "sessionKey"), sv(event, "cameraKey"), sv(event, "deviceId"));
    if s(&session.doc, "status") == Some("completed") {
        return Ok(reject("session_completed", format!("session {key} is completed; it takes no more writes")));
    }
    let mut camera = refuse!(camera_in_session(ctx, &key, &camera_key)?);
    let Some(device) = ctx.device(&device_id)? else {
        return Ok(wait("device", &device_id, "device_not_found", format!("device {device_id} is not registered")));
    };
    let t = timeline_key(event);
    if let Some(retired) = retired_before(&device.doc, &t) {
        return Ok(retired);
    }
    if let Some(c) = ctx.camera_of_device(&key, &device_id)? {
        return Ok(reject(
            "device_already_in_session",
            format!("device {device_id} already is camera {} of session {key}", sv(&c.doc, "cameraKey")),
        ));
    }
    if let Some(busy) = in_other_live_session(ctx, &device_id, &key, &t)? {
        return Ok(busy);
    }
    let old = sv(&camera.doc, "deviceId");
    let mut entry = obj(json!({ "deviceId": old, "byDeviceId": device_id }));
    for k in ["at", "receivedAt"] {
        if let Some(v) = field(event, k) {
            entry.insert(k.into(), v);
        }
    }
    entry.insert("eventId".into(), json!(sv(event, "eventId")));
    if let Some(reason) = field(event, "reason") {
        entry.insert("reason".into(), reason);
    }
    let mut replaced = camera.doc.get("replaced").and_then(Value::as_array).cloned().unwrap_or_default();
    replaced.push(Value::Object(entry));
    // `timelines.deviceId`: since when this device holds the camera (the
    // busy check of joins and replacements, `in_other_live_session`).
    let mut timelines = timelines_of(&camera.doc);
    timelines.insert("deviceId".into(), json!(t));
    let fields = obj(json!({
        "deviceId": device_id,
        "replaced": replaced,
        "timelines": timelines,
        "updatedAt": num(ctx.now),
    }));
    put_fields(ctx, Table::Cameras, &mut camera, fields)?;
    Ok(applied(
        &[(Table::Cameras, camera.id)],
        vec![waits_for_key("member", &format!("{key}/{device_id}")), waits_for_key("device_free", &old)],
    ))
}
