//! The rules of the contract, as `convex/ingest.ts` and the modules it
//! imports keep them (`convex/apply/`, `convex/rules/`, `convex/receipts.ts`,
//! `convex/lww.ts`), implemented a second time over [`Store`]. Each function
//! here names its TypeScript twin; the conformance corpus
//! (`tests/conformance/`) holds both to the same snapshots.
//!
//! Events are the ledger's wire events (`migrations-notes/0001`, `0003`):
//! JSON objects, exactly what the forwarder sends to Convex.

use serde_json::{Map, Value, json};

use super::registry;
use super::store::{Doc, Row, Store, Table, ledger_id, text};

/// `convex/limits.ts`.
const EVENT_ID_MAX: usize = 200;
const PLACEMENT_NOTES_MAX: usize = 1000;
/// `convex/limits.ts` REPAIR_REASON_MAX, DEVICE_LABEL_MAX.
pub const REPAIR_REASON_MAX: usize = 500;
pub const DEVICE_LABEL_MAX: usize = 200;

/// `convex/wire.ts` PLACEMENT_RANGES.
const PLACEMENT_RANGES: [(&str, f64, f64); 10] = [
    ("x", -1000.0, 1000.0),
    ("y", -1000.0, 1000.0),
    ("z", -1000.0, 1000.0),
    ("heightM", 0.0, 100.0),
    ("distanceM", 0.0, 1000.0),
    ("panDeg", -180.0, 180.0),
    ("tiltDeg", -90.0, 90.0),
    ("rollDeg", -180.0, 180.0),
    ("focalLengthMm", 1.0, 2000.0),
    ("zoom", 0.1, 200.0),
];

pub type Error = rusqlite::Error;
pub(super) type R<T> = Result<T, Error>;

/// `convex/outcome.ts`.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Applied { ledger_ids: Doc, wakes: Vec<String> },
    Waiting { kind: &'static str, key: String, code: &'static str, message: String },
    Rejected { code: &'static str, message: String },
}

pub(super) fn reject(code: &'static str, message: impl Into<String>) -> Outcome {
    Outcome::Rejected { code, message: message.into() }
}

pub(super) fn wait(
    kind: &'static str,
    key: impl Into<String>,
    code: &'static str,
    message: impl Into<String>,
) -> Outcome {
    Outcome::Waiting { kind, key: key.into(), code, message: message.into() }
}

pub(super) fn applied(ids: &[(Table, i64)], wakes: Vec<String>) -> Outcome {
    let ledger_ids = ids.iter().map(|(t, id)| (t.convex().to_string(), Value::String(ledger_id(*t, *id)))).collect();
    Outcome::Applied { ledger_ids, wakes }
}

/// Early return of a lookup's refusal.
macro_rules! refuse {
    ($e:expr) => {
        match $e {
            Ok(row) => row,
            Err(outcome) => return Ok(outcome),
        }
    };
}
pub(super) use refuse;

// --- small helpers ----------------------------------------------------------

pub(super) fn s<'a>(d: &'a Doc, k: &str) -> Option<&'a str> {
    d.get(k).and_then(Value::as_str)
}
pub(super) fn n(d: &Doc, k: &str) -> Option<f64> {
    d.get(k).and_then(Value::as_f64)
}
pub(super) fn sv(d: &Doc, k: &str) -> String {
    s(d, k).unwrap_or_default().to_string()
}
pub(super) fn obj(v: Value) -> Doc {
    match v {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}
/// `defined()`: the fields whose value is present.
fn defined(pairs: &[(&str, Option<Value>)]) -> Doc {
    pairs.iter().filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v))).collect()
}
pub(super) fn field(d: &Doc, k: &str) -> Option<Value> {
    d.get(k).filter(|v| !v.is_null()).cloned()
}
/// A JavaScript number as `${n}` prints it (for messages).
pub fn js_num(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "Infinity".into() } else { "-Infinity".into() }
    } else {
        // Rust prints integral floats without a fraction, as JavaScript does.
        format!("{x}")
    }
}
/// `String.length`: UTF-16 code units.
pub(super) fn js_len(s: &str) -> usize {
    s.encode_utf16().count()
}
/// A number as JSON: whole numbers as integers (`3`, not `3.0`).
pub(super) fn num(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9_007_199_254_740_992.0 {
        return Value::from(x as i64);
    }
    serde_json::Number::from_f64(x).map(Value::Number).unwrap_or(Value::Null)
}

/// `convex/timeline.ts`.
pub fn timeline_key(event: &Doc) -> String {
    fn pad(x: f64, width: usize) -> String {
        let t = x.trunc();
        let digits = if t.is_finite() { format!("{}", t as i64) } else { js_num(t) };
        format!("{digits:0>width$}")
    }
    format!(
        "{}.{}.{}",
        pad(n(event, "receivedAt").unwrap_or(f64::NAN), 15),
        sv(event, "instance"),
        pad(n(event, "seq").unwrap_or(f64::NAN), 12)
    )
}

fn parse_timeline(t: &str) -> (String, f64) {
    let first = t.find('.').unwrap_or(0);
    let last = t.rfind('.').unwrap_or(t.len());
    let instance = t.get(first + 1..last).unwrap_or_default().to_string();
    let seq = t.get(last + 1..).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (instance, seq)
}

/// `convex/lww.ts` lwwPatch: the fields `t` wins, and the timelines after.
pub(super) fn lww(timelines: &Doc, t: &str, fields: &[(&str, Option<Value>)], first: bool) -> (Doc, Doc) {
    let mut next = timelines.clone();
    let mut patch = Doc::new();
    for (name, value) in fields {
        let Some(value) = value else { continue };
        let wins = match s(&next, name) {
            None => true,
            Some(set) => {
                if first {
                    t < set
                } else {
                    t > set
                }
            }
        };
        if wins {
            patch.insert(name.to_string(), value.clone());
            next.insert(name.to_string(), Value::String(t.to_string()));
        }
    }
    (patch, next)
}

fn initial_timelines(t: &str, fields: &[(&str, Option<Value>)]) -> Doc {
    fields.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| (k.to_string(), Value::String(t.to_string()))).collect()
}

pub(super) fn timelines_of(d: &Doc) -> Doc {
    d.get("timelines").and_then(Value::as_object).cloned().unwrap_or_default()
}

pub fn waits_for_key(kind: &str, key: &str) -> String {
    format!("{kind}:{key}")
}

// --- the batch context ------------------------------------------------------

/// One transaction's context: the store and the ledger's clock.
pub struct Ctx<'a, 't> {
    pub store: &'a Store<'t>,
    pub now: f64,
}

impl Ctx<'_, '_> {
    pub(super) fn session(&self, key: &str) -> R<Option<Row>> {
        self.store.first(Table::Sessions, &[("session_key", text(key))])
    }

    /// Writes a session, and — once it is completed — its summary from its counts.
    pub(super) fn put_session(&self, row: &mut Row) -> R<()> {
        row.doc.insert("updatedAt".into(), num(self.now));
        if s(&row.doc, "status") == Some("completed")
            && let Some(completed_at) = n(&row.doc, "completedAt")
        {
            {
                let started = n(&row.doc, "startedAt").unwrap_or(0.0);
                let mut summary = Doc::new();
                summary.insert("durationMs".into(), num((completed_at - started).max(0.0)));
                if let Some(Value::Object(counts)) = row.doc.get("counts") {
                    for (k, v) in counts {
                        summary.insert(k.clone(), v.clone());
                    }
                }
                row.doc.insert("summary".into(), Value::Object(summary));
            }
        }
        self.store.replace(Table::Sessions, row.id, &row.doc)
    }

    /// `Batch.count`: adds to a session's counters.
    fn count(&self, key: &str, deltas: &[(&str, f64)]) -> R<()> {
        let Some(mut row) = self.session(key)? else { return Ok(()) };
        let mut counts = row.doc.get("counts").and_then(Value::as_object).cloned().unwrap_or_default();
        for (k, d) in deltas {
            let now = counts.get(*k).and_then(Value::as_f64).unwrap_or(0.0);
            counts.insert(k.to_string(), num(now + d));
        }
        row.doc.insert("counts".into(), Value::Object(counts));
        self.put_session(&mut row)
    }

    pub(super) fn camera(&self, session: &str, camera: &str) -> R<Option<Row>> {
        self.store.first(Table::Cameras, &[("session_key", text(session)), ("camera_key", text(camera))])
    }

    pub(super) fn camera_of_device(&self, session: &str, device: &str) -> R<Option<Row>> {
        self.store.first(Table::Cameras, &[("session_key", text(session)), ("device_id", text(device))])
    }

    pub(super) fn device(&self, device: &str) -> R<Option<Row>> {
        self.store.first(Table::Devices, &[("device_id", text(device))])
    }

    fn still(&self, still: &str) -> R<Option<Row>> {
        self.store.first(Table::Stills, &[("still_id", text(still))])
    }
}

// --- receipts (convex/receipts.ts) -----------------------------------------

/// A receipt: a row of the receipts table, or an applied director event's row.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub id: Option<i64>,
    pub doc: Doc,
}

fn receipt_of_row(row: &Row) -> Receipt {
    let d = &row.doc;
    let kind = match s(d, "type") {
        Some("still") => "still_marker",
        Some(other) => other,
        None => "",
    };
    let mut ids = Doc::new();
    ids.insert(Table::DirectorEvents.convex().into(), Value::String(row.ledger_id(Table::DirectorEvents)));
    if let Some(still) = field(d, "stillRowId") {
        ids.insert(Table::Stills.convex().into(), still);
    }
    let mut doc = obj(json!({
        "eventId": sv(d, "eventId"),
        "type": kind,
        "verdict": "applied",
        "timeline": sv(d, "timeline"),
        "ledgerIds": ids,
        "sessionKey": sv(d, "sessionKey"),
    }));
    for k in ["at", "receivedAt", "appliedAt"] {
        if let Some(v) = field(d, k) {
            doc.insert(k.into(), v);
        }
    }
    Receipt { id: None, doc }
}

pub fn find_receipt(store: &Store, event_id: &str) -> R<Option<Receipt>> {
    if let Some(row) = store.first(Table::Receipts, &[("event_id", text(event_id))])? {
        return Ok(Some(Receipt { id: Some(row.id), doc: row.doc }));
    }
    Ok(store.first(Table::DirectorEvents, &[("event_id", text(event_id))])?.map(|r| receipt_of_row(&r)))
}

const WAITING_FIELDS: [&str; 7] = ["code", "message", "ledgerIds", "waitingFor", "waitsFor", "waitSession", "event"];

/// `record`: writes an outcome as a new receipt or a change of `existing`.
fn record(ctx: &Ctx, event: &Doc, outcome: &Outcome, existing: Option<&Receipt>) -> R<()> {
    let mut fields = Doc::new();
    for k in WAITING_FIELDS {
        fields.insert(k.into(), Value::Null);
    }
    let row_backed = matches!(outcome, Outcome::Applied { ledger_ids, .. } if ledger_ids.contains_key(Table::DirectorEvents.convex()));
    match outcome {
        Outcome::Applied { ledger_ids, .. } => {
            fields.insert("verdict".into(), json!("applied"));
            fields.insert("ledgerIds".into(), Value::Object(ledger_ids.clone()));
        }
        Outcome::Rejected { code, message } => {
            fields.insert("verdict".into(), json!("rejected"));
            fields.insert("code".into(), json!(code));
            fields.insert("message".into(), json!(message));
        }
        Outcome::Waiting { kind, key, code, message } => {
            fields.insert("verdict".into(), json!("waiting"));
            fields.insert("code".into(), json!(code));
            fields.insert("message".into(), json!(message));
            fields.insert("waitingFor".into(), json!({ "kind": kind, "key": key }));
            fields.insert("waitsFor".into(), json!(waits_for_key(kind, key)));
            if let Some(session) = field(event, "sessionKey") {
                fields.insert("waitSession".into(), session);
            }
            fields.insert("event".into(), Value::Object(event.clone()));
        }
    }
    fields.insert("appliedAt".into(), num(ctx.now));
    if row_backed {
        if let Some(id) = existing.and_then(|r| r.id) {
            ctx.store.delete(Table::Receipts, id)?;
        }
        return Ok(());
    }
    if let Some(id) = existing.and_then(|r| r.id) {
        let mut row = ctx.store.get(Table::Receipts, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
        return ctx.store.patch(Table::Receipts, &mut row, fields);
    }
    let mut doc = obj(json!({
        "eventId": sv(event, "eventId"),
        "type": sv(event, "type"),
        "timeline": timeline_key(event),
    }));
    for k in ["sessionKey", "deviceId", "at", "receivedAt"] {
        if let Some(v) = field(event, k) {
            doc.insert(k.into(), v);
        }
    }
    // A resolve_clash's receipt is the owner's (`ledger:device` lists it).
    if let (None, Some(owner)) = (doc.get("deviceId"), field(event, "ownerDeviceId")) {
        doc.insert("deviceId".into(), owner);
    }
    for (k, v) in fields {
        if !v.is_null() {
            doc.insert(k, v);
        }
    }
    ctx.store.insert(Table::Receipts, &doc)?;
    Ok(())
}

/// `verdictOf`: the verdict a receipt answers (`duplicate` for a settled replay).
pub fn verdict_of(receipt: &Receipt, replay: bool) -> Doc {
    let d = &receipt.doc;
    let mut out = obj(json!({ "eventId": sv(d, "eventId"), "timeline": sv(d, "timeline") }));
    let verdict = sv(d, "verdict");
    if verdict == "waiting" {
        out.insert("verdict".into(), json!("waiting"));
        for k in ["code", "message", "waitingFor"] {
            if let Some(v) = field(d, k) {
                out.insert(k.into(), v);
            }
        }
        return out;
    }
    if replay {
        out.insert("verdict".into(), json!("duplicate"));
        out.insert("original".into(), json!(verdict));
    } else {
        out.insert("verdict".into(), json!(verdict));
    }
    for k in ["code", "message", "ledgerIds"] {
        if let Some(v) = field(d, k) {
            out.insert(k.into(), v);
        }
    }
    out
}

fn waiting_for(ctx: &Ctx, key: &str) -> R<Vec<Row>> {
    ctx.store.find(Table::Receipts, &[("waits_for", text(key))], None, "timeline", None)
}

fn expire(ctx: &Ctx, receipt: &Receipt, code: Option<&'static str>, message: Option<String>) -> R<()> {
    let Some(Value::Object(event)) = receipt.doc.get("event").cloned() else { return Ok(()) };
    let code = code.or_else(|| code_of(s(&receipt.doc, "code"))).unwrap_or("invalid_event");
    let message = message.or_else(|| s(&receipt.doc, "message").map(str::to_string)).unwrap_or_default();
    record(ctx, &event, &reject(code, message), Some(receipt))
}

/// The rejection codes, as static strings (`convex/wire.ts` rejectionCode).
fn code_of(code: Option<&str>) -> Option<&'static str> {
    const CODES: [&str; 17] = [
        "session_not_found",
        "session_completed",
        "device_not_found",
        "device_in_other_session",
        "device_already_in_session",
        "camera_key_taken",
        "camera_not_in_session",
        "hold_already_open",
        "hold_not_open",
        "placement_out_of_range",
        "still_not_found",
        "still_exists",
        "hardware_id_conflict",
        "invalid_event",
        "device_retired",
        "clash_not_found",
        "device_not_in_clash",
    ];
    let code = code?;
    CODES.iter().copied().find(|c| *c == code)
}

fn reject_waiting_after(ctx: &Ctx, session: &str, after: &str) -> R<()> {
    let rows = ctx.store.find(
        Table::Receipts,
        &[("wait_session", text(session))],
        Some(("timeline > ?", text(after))),
        "timeline",
        None,
    )?;
    for row in rows {
        let receipt = Receipt { id: Some(row.id), doc: row.doc };
        expire(
            ctx,
            &receipt,
            Some("session_completed"),
            Some(format!("session {session} is completed; it takes no more writes")),
        )?;
    }
    Ok(())
}

// --- ingest.ts --------------------------------------------------------------

fn valid_id(id: &str) -> bool {
    !id.is_empty() && js_len(id) <= EVENT_ID_MAX
}

/// `applyOne`: one event's verdict; what it brings wakes what waits for it.
pub fn apply_one(ctx: &Ctx, event: &Doc) -> R<Doc> {
    let event_id = sv(event, "eventId");
    if !valid_id(&event_id) {
        return Ok(obj(json!({
            "eventId": event_id,
            "verdict": "rejected",
            "code": "invalid_event",
            "message": format!("eventId must be 1..{EVENT_ID_MAX} characters"),
        })));
    }
    if let Some(receipt) = find_receipt(ctx.store, &event_id)? {
        return Ok(verdict_of(&receipt, true));
    }
    let outcome = dispatch(ctx, event)?;
    record(ctx, event, &outcome, None)?;
    if let Outcome::Applied { wakes, .. } = &outcome {
        wake(ctx, wakes.clone())?;
    }
    let receipt = find_receipt(ctx.store, &event_id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    Ok(verdict_of(&receipt, false))
}

fn wake(ctx: &Ctx, keys: Vec<String>) -> R<()> {
    let mut queue: std::collections::VecDeque<String> = keys.into();
    while let Some(key) = queue.pop_front() {
        for waiter in waiting_for(ctx, &key)? {
            let Some(current) = find_receipt(ctx.store, &sv(&waiter.doc, "eventId"))? else { continue };
            if s(&current.doc, "verdict") != Some("waiting") || s(&current.doc, "waitsFor") != Some(key.as_str()) {
                continue;
            }
            let Some(Value::Object(event)) = current.doc.get("event").cloned() else { continue };
            let outcome = dispatch(ctx, &event)?;
            record(ctx, &event, &outcome, Some(&current))?;
            if let Outcome::Applied { wakes, .. } = outcome {
                queue.extend(wakes);
            }
        }
    }
    Ok(())
}

/// `settle`: the current verdict of an event, after rejecting it if it
/// waited past its session's completion and the grace period.
pub fn settle_one(ctx: &Ctx, event_id: &str, grace_ms: f64) -> R<Doc> {
    let receipt = if valid_id(event_id) { find_receipt(ctx.store, event_id)? } else { None };
    let Some(receipt) = receipt else {
        return Ok(obj(json!({ "eventId": event_id, "verdict": "missing" })));
    };
    if s(&receipt.doc, "verdict") == Some("waiting")
        && let Some(session) = s(&receipt.doc, "waitSession")
        && let Some(row) = ctx.session(session)?
        && let Some(done) = n(&row.doc, "completedAppliedAt")
        && ctx.now - done >= grace_ms
    {
        expire(ctx, &receipt, None, None)?;
    }
    let receipt = find_receipt(ctx.store, event_id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    Ok(verdict_of(&receipt, false))
}

fn dispatch(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    if let Some(bad) = check_common(event) {
        return Ok(bad);
    }
    match s(event, "type").unwrap_or_default() {
        "start_shoot" => start_shoot(ctx, event),
        "complete_session" => complete_session(ctx, event),
        "register_device" => register_device(ctx, event),
        "join_session" => join_session(ctx, event),
        "update_placement" => update_placement(ctx, event),
        "cut" => cut(ctx, event),
        "hold_start" | "hold_end" => hold(ctx, event),
        "cue" | "marker" | "note" => simple_director_event(ctx, event),
        "still_marker" => still_marker(ctx, event),
        "still_uploaded" => still_uploaded(ctx, event),
        "retire_device" => registry::retire_device(ctx, event),
        "reinstate_device" => registry::reinstate_device(ctx, event),
        "rename_device" => registry::rename_device(ctx, event),
        "resolve_clash" => registry::resolve_clash(ctx, event),
        "replace_camera_device" => registry::replace_camera_device(ctx, event),
        other => Ok(reject("invalid_event", format!("unknown event type {other}"))),
    }
}

// --- rules/checks.ts --------------------------------------------------------

fn is_time(x: Option<f64>) -> bool {
    x.is_some_and(|x| x.is_finite() && x >= 0.0)
}

fn check_common(event: &Doc) -> Option<Outcome> {
    if !is_time(n(event, "at")) || !is_time(n(event, "receivedAt")) {
        return Some(reject("invalid_event", "at and receivedAt must be finite epoch milliseconds >= 0"));
    }
    let instance = sv(event, "instance");
    let instance_ok = (1..=64).contains(&instance.len())
        && instance.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !instance_ok {
        return Some(reject("invalid_event", "instance must be 1..64 characters of A-Z, a-z, 0-9, _ and -"));
    }
    let seq = n(event, "seq").unwrap_or(-1.0);
    if !(seq >= 0.0 && seq.fract() == 0.0 && seq <= 9_007_199_254_740_991.0) {
        return Some(reject("invalid_event", "seq must be an integer >= 0"));
    }
    for key in ["sessionKey", "deviceId", "cameraKey", "holdId", "stillId", "ownerDeviceId"] {
        if s(event, key) == Some("") {
            return Some(reject("invalid_event", format!("{key} must not be empty")));
        }
    }
    if s(event, "fromCameraKey") == Some("") {
        return Some(reject("invalid_event", "fromCameraKey must not be empty"));
    }
    if let Some(reason) = s(event, "reason")
        && js_len(reason) > REPAIR_REASON_MAX
    {
        return Some(reject(
            "invalid_event",
            format!("reason is {} characters, at most {REPAIR_REASON_MAX}", js_len(reason)),
        ));
    }
    if s(event, "type") == Some("rename_device")
        && !(1..=DEVICE_LABEL_MAX).contains(&js_len(s(event, "label").unwrap_or_default()))
    {
        return Some(reject("invalid_event", format!("label must be 1..{DEVICE_LABEL_MAX} characters")));
    }
    if s(event, "hardwareId") == Some("") {
        return Some(reject("invalid_event", "hardwareId must not be empty (omit it)"));
    }
    if let Some(v) = event.get("clockOffsetMs")
        && !v.as_f64().is_some_and(f64::is_finite)
    {
        return Some(reject("invalid_event", "clockOffsetMs must be finite"));
    }
    None
}

fn check_placement(p: &Doc) -> Option<Outcome> {
    if p.values().all(Value::is_null) {
        return Some(reject("invalid_event", "placement must have at least one field"));
    }
    for (f, lo, hi) in PLACEMENT_RANGES {
        let Some(v) = p.get(f) else { continue };
        let x = v.as_f64().unwrap_or(f64::NAN);
        if !(x.is_finite() && x >= lo && x <= hi) {
            return Some(reject(
                "placement_out_of_range",
                format!("placement.{f} = {} is outside {}..{}", js_num(x), js_num(lo), js_num(hi)),
            ));
        }
    }
    if let Some(notes) = s(p, "notes")
        && js_len(notes) > PLACEMENT_NOTES_MAX
    {
        return Some(reject(
            "placement_out_of_range",
            format!("placement.notes is {} characters, at most {PLACEMENT_NOTES_MAX}", js_len(notes)),
        ));
    }
    None
}

fn check_non_negative(event: &Doc, fields: &[&str]) -> Option<Outcome> {
    for f in fields {
        if let Some(v) = event.get(*f)
            && !v.as_f64().is_some_and(|x| x.is_finite() && x >= 0.0)
        {
            return Some(reject("invalid_event", format!("{f} must be a finite number >= 0")));
        }
    }
    None
}

// --- rules/lookups.ts -------------------------------------------------------

fn is_after_completion(session: &Doc, t: &str) -> bool {
    s(session, "completedTimeline").is_some_and(|c| t > c)
}

pub(super) fn session_for(ctx: &Ctx, event: &Doc) -> R<Result<Row, Outcome>> {
    let key = sv(event, "sessionKey");
    let Some(session) = ctx.session(&key)? else {
        return Ok(Err(wait("session", &key, "session_not_found", format!("session {key} does not exist"))));
    };
    if is_after_completion(&session.doc, &timeline_key(event)) {
        return Ok(Err(reject("session_completed", format!("session {key} is completed; it takes no more writes"))));
    }
    Ok(Ok(session))
}

pub(super) fn camera_in_session(ctx: &Ctx, session: &str, camera: &str) -> R<Result<Row, Outcome>> {
    match ctx.camera(session, camera)? {
        Some(row) => Ok(Ok(row)),
        None => Ok(Err(wait(
            "camera",
            format!("{session}/{camera}"),
            "camera_not_in_session",
            format!("camera {camera} has not joined session {session}"),
        ))),
    }
}

// --- apply/sessions.ts ------------------------------------------------------

fn start_shoot(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    let t = timeline_key(event);
    let key = sv(event, "sessionKey");
    let latest =
        [("title", field(event, "title")), ("notes", field(event, "notes")), ("location", field(event, "location"))];
    let earliest = [
        ("startedAt", field(event, "at")),
        ("startedReceivedAt", field(event, "receivedAt")),
        ("startEventId", field(event, "eventId")),
    ];
    let Some(mut session) = ctx.session(&key)? else {
        let mut timelines = initial_timelines(&t, &latest);
        timelines.insert("started".into(), json!(t));
        let mut doc = obj(json!({
            "sessionKey": key,
            "kind": "photoshoot_performance",
            "status": "live",
        }));
        doc.extend(defined(&latest));
        doc.extend(defined(&earliest));
        doc.insert("updatedAt".into(), num(ctx.now));
        doc.insert(
            "counts".into(),
            json!({ "cameras": 0, "cuts": 0, "holds": 0, "stills": 0, "cues": 0, "events": 0, "holdsClosedOnComplete": 0 }),
        );
        doc.insert("timelines".into(), Value::Object(timelines));
        let id = ctx.store.insert(Table::Sessions, &doc)?;
        return Ok(applied(&[(Table::Sessions, id)], vec![waits_for_key("session", &key)]));
    };
    if is_after_completion(&session.doc, &t) {
        return Ok(reject("session_completed", format!("session {key} is completed; it cannot be started again")));
    }
    let (last, timelines) = lww(&timelines_of(&session.doc), &t, &latest, false);
    let (first, timelines) = lww(&timelines, &t, &[("started", Some(json!(true)))], true);
    session.doc.extend(last);
    if first.contains_key("started") {
        session.doc.extend(defined(&earliest));
    }
    session.doc.insert("timelines".into(), Value::Object(timelines));
    ctx.put_session(&mut session)?;
    Ok(applied(&[(Table::Sessions, session.id)], vec![]))
}

fn complete_session(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    let mut session = refuse!(session_for(ctx, event)?);
    let key = sv(event, "sessionKey");
    if s(&session.doc, "status") == Some("completed") {
        return Ok(reject(
            "session_completed",
            format!("session {key} is already completed (by event {})", sv(&session.doc, "completeEventId")),
        ));
    }
    let t = timeline_key(event);
    let open = ctx.store.find(
        Table::DirectorEvents,
        &[("session_key", text(&key)), ("hold_open", rusqlite::types::Value::Integer(1))],
        None,
        "id",
        None,
    )?;
    let mut closed = 0.0;
    for mut hold in open {
        if sv(&hold.doc, "timeline").as_str() > t.as_str() {
            continue;
        }
        closed += 1.0;
        let fields = obj(json!({
            "holdOpen": false,
            "holdClosedAt": event.get("at").cloned().unwrap_or(Value::Null),
            "holdClosedBy": "complete_session",
            "holdCloseEventId": sv(event, "eventId"),
        }));
        ctx.store.patch(Table::DirectorEvents, &mut hold, fields)?;
    }
    let cameras = ctx.store.find(Table::Cameras, &[("session_key", text(&key))], None, "camera_key", None)?;
    let mut wakes = Vec::new();
    for mut camera in cameras {
        if camera.doc.get("live") == Some(&Value::Bool(true)) {
            ctx.store.patch(Table::Cameras, &mut camera, obj(json!({ "live": false })))?;
            wakes.push(waits_for_key("device_free", &sv(&camera.doc, "deviceId")));
        }
    }
    // Read again: closing holds does not touch the row, but stay exact.
    session = ctx.session(&key)?.unwrap_or(session);
    for (k, v) in [
        ("status", json!("completed")),
        ("completedAt", event.get("at").cloned().unwrap_or(Value::Null)),
        ("completedReceivedAt", event.get("receivedAt").cloned().unwrap_or(Value::Null)),
        ("completeEventId", json!(sv(event, "eventId"))),
        ("completedTimeline", json!(t)),
        ("completedAppliedAt", num(ctx.now)),
    ] {
        session.doc.insert(k.into(), v);
    }
    let mut counts = session.doc.get("counts").and_then(Value::as_object).cloned().unwrap_or_default();
    let before = counts.get("holdsClosedOnComplete").and_then(Value::as_f64).unwrap_or(0.0);
    counts.insert("holdsClosedOnComplete".into(), num(before + closed));
    session.doc.insert("counts".into(), Value::Object(counts));
    ctx.put_session(&mut session)?;
    reject_waiting_after(ctx, &key, &t)?;
    Ok(applied(&[(Table::Sessions, session.id)], wakes))
}

// --- apply/devices.ts -------------------------------------------------------

fn register_device(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    let device_id = sv(event, "deviceId");
    if let Some(hw) = s(event, "hardwareId") {
        let holders = ctx.store.find(Table::Devices, &[("hardware_id", text(hw))], None, "id", Some(10))?;
        if let Some(other) = holders.iter().find(|d| s(&d.doc, "deviceId") != Some(device_id.as_str())) {
            registry::report_clash(ctx, event, hw, &sv(&other.doc, "deviceId"))?;
            return Ok(reject(
                "hardware_id_conflict",
                format!("hardwareId {hw} is registered to device {}, not {device_id}", sv(&other.doc, "deviceId")),
            ));
        }
    }
    let t = timeline_key(event);
    let latest = [
        ("name", field(event, "name")),
        ("platform", field(event, "platform")),
        ("model", field(event, "model")),
        ("appVersion", field(event, "appVersion")),
        ("hardwareId", field(event, "hardwareId")),
        ("lastRegisteredAt", field(event, "at")),
        ("lastEventId", field(event, "eventId")),
    ];
    let received = n(event, "receivedAt").unwrap_or(0.0);
    let Some(mut existing) = ctx.device(&device_id)? else {
        let mut doc = obj(json!({ "deviceId": device_id }));
        doc.extend(defined(&latest));
        doc.insert("firstSeenAt".into(), num(received));
        doc.insert("lastSeenAt".into(), num(received));
        doc.insert("registerEventId".into(), json!(sv(event, "eventId")));
        doc.insert("updatedAt".into(), num(ctx.now));
        let mut timelines = initial_timelines(&t, &latest);
        timelines.insert("registered".into(), json!(t));
        doc.insert("timelines".into(), Value::Object(timelines));
        let id = ctx.store.insert(Table::Devices, &doc)?;
        return Ok(applied(&[(Table::Devices, id)], vec![waits_for_key("device", &device_id)]));
    };
    let (last, timelines) = lww(&timelines_of(&existing.doc), &t, &latest, false);
    let (first, timelines) = lww(&timelines, &t, &[("registered", Some(json!(true)))], true);
    let mut patch = last;
    if first.contains_key("registered") {
        patch.insert("registerEventId".into(), json!(sv(event, "eventId")));
    }
    patch.insert("timelines".into(), Value::Object(timelines));
    let first_seen = n(&existing.doc, "firstSeenAt").unwrap_or(received).min(received);
    let last_seen = n(&existing.doc, "lastSeenAt").unwrap_or(received).max(received);
    patch.insert("firstSeenAt".into(), num(first_seen));
    patch.insert("lastSeenAt".into(), num(last_seen));
    patch.insert("updatedAt".into(), num(ctx.now));
    ctx.store.patch(Table::Devices, &mut existing, patch)?;
    Ok(applied(&[(Table::Devices, existing.id)], vec![]))
}

fn touch_device(ctx: &Ctx, device: &mut Row, received: f64) -> R<()> {
    if received > n(&device.doc, "lastSeenAt").unwrap_or(f64::MAX) {
        ctx.store.patch(Table::Devices, device, obj(json!({ "lastSeenAt": num(received) })))?;
    }
    Ok(())
}

// --- apply/cameras.ts -------------------------------------------------------

fn insert_placement(ctx: &Ctx, camera: &Row, placement: &Value, event: &Doc) -> R<(i64, f64)> {
    let t = timeline_key(event);
    let session = sv(&camera.doc, "sessionKey");
    let key = sv(&camera.doc, "cameraKey");
    let later = ctx.store.find(
        Table::Placements,
        &[("session_key", text(&session)), ("camera_key", text(&key))],
        Some(("timeline > ?", text(&t))),
        "timeline",
        None,
    )?;
    for mut p in later.iter().cloned() {
        let v = n(&p.doc, "version").unwrap_or(0.0) + 1.0;
        ctx.store.patch(Table::Placements, &mut p, obj(json!({ "version": num(v) })))?;
    }
    let count = n(&camera.doc, "placementVersion").unwrap_or(0.0);
    let mut doc = obj(json!({
        "sessionKey": session,
        "cameraKey": key,
        "deviceId": sv(&camera.doc, "deviceId"),
        "version": num(count - later.len() as f64 + 1.0),
        "placement": placement,
    }));
    for k in ["at", "receivedAt", "clockOffsetMs"] {
        if let Some(v) = field(event, k) {
            doc.insert(k.into(), v);
        }
    }
    doc.insert("appliedAt".into(), num(ctx.now));
    doc.insert("eventId".into(), json!(sv(event, "eventId")));
    doc.insert("timeline".into(), json!(t));
    let id = ctx.store.insert(Table::Placements, &doc)?;
    Ok((id, count + 1.0))
}

/// `updateCamera`: latest-wins fields and the placement.
fn update_camera(
    ctx: &Ctx,
    camera: &mut Row,
    event: &Doc,
    fields: &[(&str, Option<Value>)],
    placement: Option<&Value>,
) -> R<Vec<(Table, i64)>> {
    let t = timeline_key(event);
    let mut ids = vec![(Table::Cameras, camera.id)];
    let mut all: Vec<(&str, Option<Value>)> = fields.to_vec();
    all.push(("placement", placement.cloned()));
    all.push(("lastEventId", field(event, "eventId")));
    let (mut patch, timelines) = lww(&timelines_of(&camera.doc), &t, &all, false);
    patch.insert("timelines".into(), Value::Object(timelines));
    patch.insert("updatedAt".into(), num(ctx.now));
    if let Some(p) = placement {
        let (id, count) = insert_placement(ctx, camera, p, event)?;
        ids.push((Table::Placements, id));
        patch.insert("placementVersion".into(), num(count));
    }
    ctx.store.patch(Table::Cameras, camera, patch)?;
    Ok(ids)
}

fn join_session(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    let placement = event.get("placement").filter(|v| !v.is_null());
    if let Some(Value::Object(p)) = placement
        && let Some(bad) = check_placement(p)
    {
        return Ok(bad);
    }
    let session = refuse!(session_for(ctx, event)?);
    let (key, camera_key, device_id) = (sv(event, "sessionKey"), sv(event, "cameraKey"), sv(event, "deviceId"));
    let Some(mut device) = ctx.device(&device_id)? else {
        return Ok(wait("device", &device_id, "device_not_found", format!("device {device_id} is not registered")));
    };
    let completed = s(&session.doc, "status") == Some("completed");
    let t = timeline_key(event);
    if let Some(retired) = registry::retired_before(&device.doc, &t) {
        return Ok(retired);
    }
    if !completed && let Some(busy) = in_other_live_session(ctx, &device_id, &key, &t)? {
        return Ok(busy);
    }
    let by_key = ctx.camera(&key, &camera_key)?;
    if let Some(c) = &by_key
        && s(&c.doc, "deviceId") != Some(device_id.as_str())
    {
        return Ok(reject(
            "camera_key_taken",
            format!("camera {camera_key} of session {key} is held by device {}", sv(&c.doc, "deviceId")),
        ));
    }
    if by_key.is_none()
        && let Some(c) = ctx.camera_of_device(&key, &device_id)?
    {
        return Ok(reject(
            "device_already_in_session",
            format!("device {device_id} already is camera {} of session {key}", sv(&c.doc, "cameraKey")),
        ));
    }
    touch_device(ctx, &mut device, n(event, "receivedAt").unwrap_or(0.0))?;
    let joined = [
        ("joinedAt", field(event, "at")),
        ("joinedReceivedAt", field(event, "receivedAt")),
        ("joinEventId", field(event, "eventId")),
    ];
    let Some(mut camera) = by_key else {
        let latest = [
            ("role", field(event, "role")),
            ("clockOffsetMs", field(event, "clockOffsetMs")),
            ("lastEventId", field(event, "eventId")),
        ];
        let mut doc = obj(json!({
            "sessionKey": key,
            "cameraKey": camera_key,
            "deviceId": device_id,
            "live": !completed,
            "placementVersion": 0,
        }));
        doc.extend(defined(&latest));
        doc.extend(defined(&joined));
        doc.insert("updatedAt".into(), num(ctx.now));
        let mut timelines = initial_timelines(&t, &latest);
        timelines.insert("joined".into(), json!(t));
        doc.insert("timelines".into(), Value::Object(timelines));
        let id = ctx.store.insert(Table::Cameras, &doc)?;
        let mut ids = vec![(Table::Cameras, id)];
        if placement.is_some() {
            let mut row = ctx.store.get(Table::Cameras, id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
            ids = update_camera(ctx, &mut row, event, &[], placement)?;
        }
        ctx.count(&key, &[("cameras", 1.0)])?;
        return Ok(applied(
            &ids,
            vec![
                waits_for_key("camera", &format!("{key}/{camera_key}")),
                waits_for_key("member", &format!("{key}/{device_id}")),
            ],
        ));
    };
    let (first, timelines) = lww(&timelines_of(&camera.doc), &t, &[("joined", Some(json!(true)))], true);
    if first.contains_key("joined") {
        let mut patch = defined(&joined);
        patch.insert("timelines".into(), Value::Object(timelines));
        ctx.store.patch(Table::Cameras, &mut camera, patch)?;
    }
    let ids = update_camera(
        ctx,
        &mut camera,
        event,
        &[("role", field(event, "role")), ("clockOffsetMs", field(event, "clockOffsetMs"))],
        placement,
    )?;
    Ok(applied(&ids, vec![]))
}

/// `busyElsewhere` (`convex/rules/lookups.ts`): the wait of a device that
/// holds a camera of another live session since earlier in the timeline
/// than `t` (`device_in_other_session`). Since when: the timeline of the
/// replacement that gave it the camera (`timelines.deviceId`), else of the
/// camera's join.
pub(super) fn in_other_live_session(ctx: &Ctx, device_id: &str, key: &str, t: &str) -> R<Option<Outcome>> {
    let live = ctx.store.find(
        Table::Cameras,
        &[("device_id", text(device_id)), ("live", rusqlite::types::Value::Integer(1))],
        None,
        "id",
        Some(10),
    )?;
    let elsewhere = live.iter().find(|c| {
        let timelines = timelines_of(&c.doc);
        let since = s(&timelines, "deviceId").or_else(|| s(&timelines, "joined")).unwrap_or_default();
        s(&c.doc, "sessionKey") != Some(key) && since < t
    });
    Ok(elsewhere.map(|c| {
        wait(
            "device_free",
            device_id,
            "device_in_other_session",
            format!(
                "device {device_id} is camera {} of live session {}",
                sv(&c.doc, "cameraKey"),
                sv(&c.doc, "sessionKey")
            ),
        )
    }))
}

fn update_placement(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    let placement = event.get("placement").cloned().unwrap_or(Value::Null);
    if let Some(bad) = check_placement(placement.as_object().unwrap_or(&Map::new())) {
        return Ok(bad);
    }
    refuse!(session_for(ctx, event)?);
    let (key, device_id) = (sv(event, "sessionKey"), sv(event, "deviceId"));
    let Some(mut camera) = ctx.camera_of_device(&key, &device_id)? else {
        return Ok(wait(
            "member",
            format!("{key}/{device_id}"),
            "camera_not_in_session",
            format!("device {device_id} holds no camera in session {key}"),
        ));
    };
    if let Some(mut device) = ctx.device(&device_id)? {
        touch_device(ctx, &mut device, n(event, "receivedAt").unwrap_or(0.0))?;
    }
    let ids =
        update_camera(ctx, &mut camera, event, &[("clockOffsetMs", field(event, "clockOffsetMs"))], Some(&placement))?;
    Ok(applied(&ids, vec![]))
}

// --- apply/director.ts ------------------------------------------------------

fn insert_director_event(ctx: &Ctx, event: &Doc, fields: Doc, counts: &[(&str, f64)]) -> R<i64> {
    let mut doc = obj(json!({
        "eventId": sv(event, "eventId"),
        "sessionKey": sv(event, "sessionKey"),
        "timeline": timeline_key(event),
    }));
    for k in ["at", "receivedAt"] {
        if let Some(v) = field(event, k) {
            doc.insert(k.into(), v);
        }
    }
    doc.insert("appliedAt".into(), num(ctx.now));
    doc.extend(fields);
    let id = ctx.store.insert(Table::DirectorEvents, &doc)?;
    let mut deltas = counts.to_vec();
    deltas.push(("events", 1.0));
    ctx.count(&sv(event, "sessionKey"), &deltas)?;
    Ok(id)
}

fn cut(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    if let Some(bad) = check_non_negative(event, &["transitionMs"]) {
        return Ok(bad);
    }
    refuse!(session_for(ctx, event)?);
    let key = sv(event, "sessionKey");
    let camera_key = sv(event, "cameraKey");
    refuse!(camera_in_session(ctx, &key, &camera_key)?);
    if let Some(from) = s(event, "fromCameraKey") {
        refuse!(camera_in_session(ctx, &key, from)?);
    }
    let mut fields = obj(json!({ "type": "cut", "cameraKey": camera_key }));
    fields.extend(defined(&[
        ("fromCameraKey", field(event, "fromCameraKey")),
        ("transition", field(event, "transition")),
        ("transitionMs", field(event, "transitionMs")),
    ]));
    let id = insert_director_event(ctx, event, fields, &[("cuts", 1.0)])?;
    let t = timeline_key(event);
    if let Some(mut session) = ctx.session(&key)?
        && s(&session.doc, "heroTimeline").is_none_or(|h| t.as_str() > h)
    {
        session.doc.insert("heroCameraKey".into(), json!(camera_key));
        session.doc.insert("heroTimeline".into(), json!(t));
        ctx.put_session(&mut session)?;
    }
    Ok(applied(&[(Table::DirectorEvents, id)], vec![]))
}

fn simple_director_event(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    refuse!(session_for(ctx, event)?);
    let (fields, counts): (Doc, &[(&str, f64)]) = match s(event, "type") {
        Some("cue") => (
            obj(json!({ "type": "cue", "cueKind": event.get("cueKind"), "label": event.get("label") })),
            &[("cues", 1.0)],
        ),
        Some("marker") => (obj(json!({ "type": "marker", "label": event.get("label") })), &[]),
        _ => (obj(json!({ "type": "note", "text": event.get("text") })), &[]),
    };
    let id = insert_director_event(ctx, event, fields, counts)?;
    Ok(applied(&[(Table::DirectorEvents, id)], vec![]))
}

// --- apply/holds.ts ---------------------------------------------------------

fn hold(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    let session = refuse!(session_for(ctx, event)?);
    if s(event, "type") == Some("hold_start") {
        refuse!(camera_in_session(ctx, &sv(event, "sessionKey"), &sv(event, "cameraKey"))?);
    }
    replay_hold(ctx, &session, event)
}

struct Item {
    t: String,
    event: Doc,
    row: Option<Row>,
    receipt: Option<Receipt>,
}

#[derive(Clone)]
enum Desired {
    Start { closed_by: Option<Closer> },
    End { start: usize },
    Waiting(Outcome),
}

#[derive(Clone, Copy)]
enum Closer {
    End(usize),
    Complete,
}

fn event_of_row(row: &Row) -> Doc {
    let d = &row.doc;
    let (instance, seq) = parse_timeline(&sv(d, "timeline"));
    let mut e = obj(json!({
        "eventId": sv(d, "eventId"),
        "type": sv(d, "type"),
        "instance": instance,
        "seq": num(seq),
        "sessionKey": sv(d, "sessionKey"),
        "holdId": sv(d, "holdId"),
    }));
    for k in ["at", "receivedAt"] {
        if let Some(v) = field(d, k) {
            e.insert(k.into(), v);
        }
    }
    if s(d, "type") == Some("hold_start") {
        e.insert("cameraKey".into(), json!(sv(d, "cameraKey")));
    }
    e
}

fn replay_hold(ctx: &Ctx, session: &Row, incoming: &Doc) -> R<Outcome> {
    let key = sv(incoming, "sessionKey");
    let hold_id = sv(incoming, "holdId");
    let wait_key = format!("{key}/{hold_id}");
    let rows = ctx.store.find(
        Table::DirectorEvents,
        &[("session_key", text(&key)), ("hold_id", text(&hold_id))],
        None,
        "timeline",
        None,
    )?;
    let waiters = waiting_for(ctx, &waits_for_key("hold", &wait_key))?;
    let mut items: Vec<Item> = rows
        .into_iter()
        .map(|row| Item { t: sv(&row.doc, "timeline"), event: event_of_row(&row), row: Some(row), receipt: None })
        .collect();
    for w in waiters {
        let event = w.doc.get("event").and_then(Value::as_object).cloned().unwrap_or_default();
        items.push(Item {
            t: sv(&w.doc, "timeline"),
            event,
            row: None,
            receipt: Some(Receipt { id: Some(w.id), doc: w.doc }),
        });
    }
    let incoming_id = sv(incoming, "eventId");
    if !items.iter().any(|i| s(&i.event, "eventId") == Some(incoming_id.as_str())) {
        items.push(Item { t: timeline_key(incoming), event: incoming.clone(), row: None, receipt: None });
    }
    items.sort_by(|a, b| a.t.cmp(&b.t));

    let mut desired: Vec<Desired> = vec![Desired::Start { closed_by: None }; items.len()];
    let mut open: Option<usize> = None;
    for (i, item) in items.iter().enumerate() {
        if s(&item.event, "type") == Some("hold_start") {
            match open {
                None => {
                    desired[i] = Desired::Start { closed_by: None };
                    open = Some(i);
                }
                Some(o) => {
                    desired[i] = Desired::Waiting(wait(
                        "hold",
                        &wait_key,
                        "hold_already_open",
                        format!("hold {hold_id} is already open (started by event {})", sv(&items[o].event, "eventId")),
                    ));
                }
            }
        } else if let Some(o) = open {
            desired[i] = Desired::End { start: o };
            desired[o] = Desired::Start { closed_by: Some(Closer::End(i)) };
            open = None;
        } else {
            desired[i] = Desired::Waiting(wait(
                "hold",
                &wait_key,
                "hold_not_open",
                format!("hold {hold_id} is not open in session {key}"),
            ));
        }
    }
    if let (Some(o), Some(done)) = (open, s(&session.doc, "completedTimeline"))
        && items[o].t.as_str() < done
    {
        desired[o] = Desired::Start { closed_by: Some(Closer::Complete) };
    }

    let (mut holds, mut events, mut closed_on_complete) = (0.0, 0.0, 0.0);
    let mut outcome: Option<Outcome> = None;
    for (i, item) in items.iter().enumerate() {
        let was_start = item.row.as_ref().is_some_and(|r| s(&r.doc, "type") == Some("hold_start"));
        if item.row.as_ref().is_some_and(|r| s(&r.doc, "holdClosedBy") == Some("complete_session")) {
            closed_on_complete -= 1.0;
        }
        if matches!(desired[i], Desired::Start { closed_by: Some(Closer::Complete) }) {
            closed_on_complete += 1.0;
        }
        if let Desired::Waiting(why) = &desired[i] {
            if let Some(row) = &item.row {
                ctx.store.delete(Table::DirectorEvents, row.id)?;
                events -= 1.0;
                if was_start {
                    holds -= 1.0;
                }
                let existing = find_receipt(ctx.store, &sv(&item.event, "eventId"))?;
                record(ctx, &item.event, why, existing.as_ref())?;
            } else if let Some(receipt) = &item.receipt {
                if let Outcome::Waiting { code, message, .. } = why
                    && (s(&receipt.doc, "code") != Some(*code) || s(&receipt.doc, "message") != Some(message.as_str()))
                {
                    record(ctx, &item.event, why, Some(receipt))?;
                }
            } else {
                outcome = Some(why.clone());
            }
            continue;
        }
        let fields = hold_fields(&items, &desired, i, session);
        if let Some(row) = &item.row {
            let mut row = row.clone();
            let differs = fields.iter().any(|(k, v)| row.doc.get(k).unwrap_or(&Value::Null) != v);
            if differs {
                ctx.store.patch(Table::DirectorEvents, &mut row, fields)?;
            }
        } else {
            let mut doc = obj(json!({
                "eventId": sv(&item.event, "eventId"),
                "sessionKey": key,
                "timeline": item.t,
            }));
            for k in ["at", "receivedAt"] {
                if let Some(v) = field(&item.event, k) {
                    doc.insert(k.into(), v);
                }
            }
            doc.insert("appliedAt".into(), num(ctx.now));
            doc.extend(fields.into_iter().filter(|(_, v)| !v.is_null()));
            let id = ctx.store.insert(Table::DirectorEvents, &doc)?;
            events += 1.0;
            if matches!(desired[i], Desired::Start { .. }) {
                holds += 1.0;
            }
            let done = applied(&[(Table::DirectorEvents, id)], vec![]);
            if item.receipt.is_some() {
                record(ctx, &item.event, &done, item.receipt.as_ref())?;
            } else {
                outcome = Some(done);
            }
        }
    }
    if holds != 0.0 || events != 0.0 || closed_on_complete != 0.0 {
        ctx.count(&key, &[("holds", holds), ("events", events), ("holdsClosedOnComplete", closed_on_complete)])?;
    }
    if let Some(outcome) = outcome {
        return Ok(outcome);
    }
    // The incoming event was already in the replay.
    let receipt = find_receipt(ctx.store, &incoming_id)?.ok_or(rusqlite::Error::QueryReturnedNoRows)?;
    Ok(match s(&receipt.doc, "verdict") {
        Some("applied") => Outcome::Applied {
            ledger_ids: receipt.doc.get("ledgerIds").and_then(Value::as_object).cloned().unwrap_or_default(),
            wakes: vec![],
        },
        _ => Outcome::Waiting {
            kind: "hold",
            key: wait_key,
            code: code_of(s(&receipt.doc, "code")).unwrap_or("hold_not_open"),
            message: sv(&receipt.doc, "message"),
        },
    })
}

fn hold_fields(items: &[Item], desired: &[Desired], i: usize, session: &Row) -> Doc {
    let e = &items[i].event;
    match &desired[i] {
        Desired::Start { closed_by } => {
            let closed = match closed_by {
                None => {
                    json!({ "holdOpen": true, "holdClosedAt": null, "holdClosedBy": null, "holdCloseEventId": null })
                }
                Some(Closer::Complete) => json!({
                    "holdOpen": false,
                    "holdClosedAt": session.doc.get("completedAt"),
                    "holdClosedBy": "complete_session",
                    "holdCloseEventId": session.doc.get("completeEventId"),
                }),
                Some(Closer::End(j)) => json!({
                    "holdOpen": false,
                    "holdClosedAt": items[*j].event.get("at"),
                    "holdClosedBy": "hold_end",
                    "holdCloseEventId": sv(&items[*j].event, "eventId"),
                }),
            };
            let mut out =
                obj(json!({ "type": "hold_start", "cameraKey": sv(e, "cameraKey"), "holdId": sv(e, "holdId") }));
            out.extend(obj(closed));
            out
        }
        Desired::End { start } => {
            let st = &items[*start].event;
            let duration = (n(e, "at").unwrap_or(0.0) - n(st, "at").unwrap_or(0.0)).max(0.0);
            obj(json!({
                "type": "hold_end",
                "holdId": sv(e, "holdId"),
                "cameraKey": sv(st, "cameraKey"),
                "holdStartEventId": sv(st, "eventId"),
                "holdDurationMs": num(duration),
            }))
        }
        Desired::Waiting(_) => Doc::new(),
    }
}

// --- apply/stills.ts --------------------------------------------------------

fn still_marker(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    if let Some(bad) = check_non_negative(event, &["capturedAt", "width", "height", "byteSize"]) {
        return Ok(bad);
    }
    refuse!(session_for(ctx, event)?);
    let (key, camera_key, still_id) = (sv(event, "sessionKey"), sv(event, "cameraKey"), sv(event, "stillId"));
    let camera = refuse!(camera_in_session(ctx, &key, &camera_key)?);
    if let Some(existing) = ctx.still(&still_id)? {
        return Ok(reject(
            "still_exists",
            format!(
                "still {still_id} already exists (session {}, marker event {})",
                sv(&existing.doc, "sessionKey"),
                sv(&existing.doc, "markerEventId")
            ),
        ));
    }
    let director = insert_director_event(
        ctx,
        event,
        obj(json!({ "type": "still", "cameraKey": camera_key, "stillId": still_id })),
        &[("stills", 1.0)],
    )?;
    let mut doc = obj(json!({
        "stillId": still_id,
        "sessionKey": key,
        "cameraKey": camera_key,
        "deviceId": sv(&camera.doc, "deviceId"),
        "capturedAt": event.get("capturedAt"),
    }));
    doc.extend(defined(&[
        ("width", field(event, "width")),
        ("height", field(event, "height")),
        ("byteSize", field(event, "byteSize")),
        ("contentType", field(event, "contentType")),
        ("sha256", field(event, "sha256")),
        ("storageRef", field(event, "storageRef")),
    ]));
    doc.insert("directorEventId".into(), json!(ledger_id(Table::DirectorEvents, director)));
    doc.insert("markerEventId".into(), json!(sv(event, "eventId")));
    doc.insert("uploadStatus".into(), json!("pending"));
    doc.insert("createdAt".into(), num(ctx.now));
    doc.insert("updatedAt".into(), num(ctx.now));
    doc.insert("timeline".into(), json!(timeline_key(event)));
    doc.insert("timelines".into(), json!({}));
    let still_row = ctx.store.insert(Table::Stills, &doc)?;
    if let Some(mut row) = ctx.store.get(Table::DirectorEvents, director)? {
        let link = obj(json!({ "stillRowId": ledger_id(Table::Stills, still_row) }));
        ctx.store.patch(Table::DirectorEvents, &mut row, link)?;
    }
    Ok(applied(
        &[(Table::DirectorEvents, director), (Table::Stills, still_row)],
        vec![waits_for_key("still", &still_id)],
    ))
}

fn still_uploaded(ctx: &Ctx, event: &Doc) -> R<Outcome> {
    if let Some(bad) = check_non_negative(event, &["byteSize"]) {
        return Ok(bad);
    }
    refuse!(session_for(ctx, event)?);
    let (key, still_id) = (sv(event, "sessionKey"), sv(event, "stillId"));
    let Some(mut still) = ctx.still(&still_id)? else {
        return Ok(wait("still", &still_id, "still_not_found", format!("no still {still_id} in session {key}")));
    };
    if s(&still.doc, "sessionKey") != Some(key.as_str()) {
        return Ok(reject("still_not_found", format!("no still {still_id} in session {key}")));
    }
    let t = timeline_key(event);
    let fields = [
        ("storageRef", field(event, "storageRef")),
        ("byteSize", field(event, "byteSize")),
        ("contentType", field(event, "contentType")),
        ("sha256", field(event, "sha256")),
        ("url", field(event, "url")),
        ("uploadedAt", field(event, "at")),
        ("uploadedReceivedAt", field(event, "receivedAt")),
        ("uploadEventId", field(event, "eventId")),
    ];
    let (mut patch, timelines) = lww(&timelines_of(&still.doc), &t, &fields, false);
    patch.insert("timelines".into(), Value::Object(timelines));
    patch.insert("uploadStatus".into(), json!("uploaded"));
    patch.insert("updatedAt".into(), num(ctx.now));
    ctx.store.patch(Table::Stills, &mut still, patch)?;
    Ok(applied(&[(Table::Stills, still.id)], vec![]))
}
