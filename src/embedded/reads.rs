//! The ledger's named reads (contract 3, `migrations-notes/0005`, "Reads"),
//! answered by the embedded ledger with the names, arguments and shapes of
//! the Convex internal queries of `convex/ledger.ts`.
//!
//! | read | args | answers |
//! |---|---|---|
//! | `ledger:sessionHeader` | `sessionKey` | `{ session, cameras }` or null |
//! | `ledger:sessionEvents` / `sessionStills` / `sessionPlacements` | `sessionKey`, `paginationOpts` | a page, timeline order |
//! | `ledger:sessions` | `paginationOpts`, `status?`, `startedFrom?`, `startedTo?` | a page, newest `startedAt` first |
//! | `ledger:devices` | `paginationOpts` | a page by `deviceId` |
//! | `ledger:clashes` | `paginationOpts`, `open` | a page of clash reports, timeline order |
//! | `ledger:device` | `deviceId` | `{ device, cameras, clashes, receipts, placements }` |
//!
//! A page is `{ page, isDone, continueCursor }`. `paginationOpts` is
//! `{ numItems, cursor }`: `cursor` null for the first page, else the
//! `continueCursor` of the page before; `numItems` is clamped to
//! `1..=READ_PAGE_MAX`. The cursor is opaque: here the JSON text of
//! `[<sort key of the last row>, <row id>]` (or `"end"` after an empty
//! first page), meaningful only to the embedded ledger. It is a string
//! even when the page is the last one, as Convex's is.
//!
//! Rows are the stored documents, each with `_id` (`<convex table>:<rowid>`,
//! as `ledgerIds` name them; `migrations-notes/0004`). `_creationTime` is
//! not kept by the embedded ledger and not answered.

use rusqlite::types::Value as Sql;
use serde_json::{Map, Value, json};

use super::store::{Row, Store, Table, text};
use super::{EmbeddedError, EmbeddedLedger};
use crate::ledger::reads as names;

/// Most rows of one page (`convex/limits.ts` READ_PAGE_MAX).
pub const READ_PAGE_MAX: u32 = 256;
/// Most cameras of `ledger:sessionHeader` and `ledger:device` (`convex/limits.ts` CAMERAS_READ_MAX).
pub const CAMERAS_READ_MAX: u32 = 1000;

/// The names [`EmbeddedLedger::query`] answers.
pub use crate::ledger::reads::ALL as READS;

/// The cursor of a page after an empty first page.
const END: &str = "end";

fn bad(msg: impl Into<String>) -> EmbeddedError {
    EmbeddedError::BadRead(msg.into())
}

/// A row as a read answers it: the document with its `_id`.
pub(super) fn shaped(table: Table, row: Row) -> Value {
    let id = row.ledger_id(table);
    let mut doc = row.doc;
    doc.insert("_id".into(), Value::String(id));
    Value::Object(doc)
}

fn rows(table: Table, rows: Vec<Row>) -> Value {
    Value::Array(rows.into_iter().map(|r| shaped(table, r)).collect())
}

fn string_arg<'a>(args: &'a Value, key: &str) -> Result<&'a str, EmbeddedError> {
    args.get(key).and_then(Value::as_str).ok_or_else(|| bad(format!("{key} must be a string")))
}

fn number_arg(args: &Value, key: &str) -> Result<Option<f64>, EmbeddedError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v.as_f64().map(Some).ok_or_else(|| bad(format!("{key} must be a number"))),
    }
}

/// `paginationOpts`: the page size, clamped, and where to go on from.
struct PageOpts {
    num_items: u32,
    after: Option<(Value, i64)>,
    ended: bool,
}

fn page_opts(args: &Value) -> Result<PageOpts, EmbeddedError> {
    let opts =
        args.get("paginationOpts").and_then(Value::as_object).ok_or_else(|| bad("paginationOpts is required"))?;
    let n =
        opts.get("numItems").and_then(Value::as_f64).ok_or_else(|| bad("paginationOpts.numItems must be a number"))?;
    let n = if n.is_nan() { 1.0 } else { n.trunc().clamp(1.0, f64::from(READ_PAGE_MAX)) };
    let num_items = n as u32;
    let (after, ended) = match opts.get("cursor") {
        None | Some(Value::Null) => (None, false),
        Some(Value::String(c)) if c == END => (None, true),
        Some(Value::String(c)) => {
            let parsed: Value =
                serde_json::from_str(c).map_err(|_| bad("paginationOpts.cursor is not a cursor of this ledger"))?;
            match parsed.as_array().map(Vec::as_slice) {
                Some([key, Value::Number(id)]) if id.as_i64().is_some() => {
                    (Some((key.clone(), id.as_i64().unwrap_or_default())), false)
                }
                _ => return Err(bad("paginationOpts.cursor is not a cursor of this ledger")),
            }
        }
        Some(_) => return Err(bad("paginationOpts.cursor must be a string or null")),
    };
    Ok(PageOpts { num_items, after, ended })
}

fn json_of(v: &Sql) -> Value {
    match v {
        Sql::Null | Sql::Blob(_) => Value::Null,
        Sql::Integer(i) => json!(i),
        Sql::Real(x) => json!(x),
        Sql::Text(s) => json!(s),
    }
}

fn sql_of(v: &Value) -> Sql {
    match v {
        Value::Number(n) => n.as_i64().map(Sql::Integer).unwrap_or_else(|| Sql::Real(n.as_f64().unwrap_or(0.0))),
        Value::String(s) => Sql::Text(s.clone()),
        Value::Bool(b) => Sql::Integer(i64::from(*b)),
        _ => Sql::Null,
    }
}

/// A paged read over one table: rows where `eq` match and `ranges` hold
/// (`"column >= ?"`, value), ordered by `order` then id (descending with `desc`).
struct Paged<'a> {
    table: Table,
    eq: Vec<(&'a str, Sql)>,
    ranges: Vec<(&'a str, Sql)>,
    order: &'a str,
    desc: bool,
}

fn page(store: &Store, q: Paged, opts: &PageOpts) -> Result<Value, EmbeddedError> {
    if opts.ended {
        return Ok(json!({ "page": [], "isDone": true, "continueCursor": END }));
    }
    let mut clauses: Vec<String> = Vec::new();
    let mut values: Vec<Sql> = Vec::new();
    for (c, v) in q.eq {
        values.push(v);
        clauses.push(format!("{c} IS ?{}", values.len()));
    }
    for (clause, v) in q.ranges {
        values.push(v);
        clauses.push(clause.replace('?', &format!("?{}", values.len())));
    }
    let (cmp, dir) = if q.desc { ("<", "DESC") } else { (">", "ASC") };
    if let Some((key, id)) = &opts.after {
        values.push(sql_of(key));
        let k = values.len();
        values.push(Sql::Integer(*id));
        let i = values.len();
        clauses.push(format!("({o} {cmp} ?{k} OR ({o} = ?{k} AND id {cmp} ?{i}))", o = q.order));
    }
    let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
    let sql = format!(
        "SELECT id, doc, {o} FROM {t}{filter} ORDER BY {o} {dir}, id {dir} LIMIT {limit}",
        o = q.order,
        t = q.table.sql(),
        limit = opts.num_items + 1
    );
    let mut stmt = store.tx.prepare_cached(&sql)?;
    let mut found: Vec<(Row, Sql)> = stmt
        .query_map(rusqlite::params_from_iter(values), |r| {
            let text: String = r.get(1)?;
            let doc: Map<String, Value> = serde_json::from_str(&text)
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(1, rusqlite::types::Type::Text, Box::new(e)))?;
            Ok((Row { id: r.get(0)?, doc }, r.get::<_, Sql>(2)?))
        })?
        .collect::<Result<_, _>>()?;
    let is_done = found.len() <= opts.num_items as usize;
    found.truncate(opts.num_items as usize);
    let continue_cursor = match found.last() {
        Some((row, key)) => json!([json_of(key), row.id]).to_string(),
        None => match &opts.after {
            Some((key, id)) => json!([key, id]).to_string(),
            None => END.to_string(),
        },
    };
    let page = rows(q.table, found.into_iter().map(|(r, _)| r).collect());
    Ok(json!({ "page": page, "isDone": is_done, "continueCursor": continue_cursor }))
}

/// The latest `limit` rows where `column` is `value`, by timeline, oldest first.
fn latest(store: &Store, table: Table, column: &str, value: &str, limit: u32) -> Result<Value, EmbeddedError> {
    let mut found = store.find(table, &[(column, text(value))], None, "timeline DESC, id DESC", Some(limit))?;
    found.reverse();
    Ok(rows(table, found))
}

impl EmbeddedLedger {
    /// Answers the named read `name` (one of [`READS`]) with `args`, as the
    /// Convex query of that name would (module docs: names, args, shapes).
    pub fn query(&mut self, name: &str, args: &Value) -> Result<Value, EmbeddedError> {
        if !READS.contains(&name) {
            return Err(EmbeddedError::UnknownRead(name.to_string()));
        }
        let tx = self.conn.transaction()?;
        let answer = {
            let store = Store { tx: &tx };
            answer(&store, name, args)?
        };
        tx.commit()?;
        Ok(answer)
    }
}

fn session_page(store: &Store, table: Table, args: &Value) -> Result<Value, EmbeddedError> {
    let key = string_arg(args, "sessionKey")?;
    let opts = page_opts(args)?;
    let q = Paged { table, eq: vec![("session_key", text(key))], ranges: vec![], order: "timeline", desc: false };
    page(store, q, &opts)
}

fn answer(store: &Store, name: &str, args: &Value) -> Result<Value, EmbeddedError> {
    match name {
        names::SESSION_HEADER => {
            let key = string_arg(args, "sessionKey")?;
            let Some(session) = store.first(Table::Sessions, &[("session_key", text(key))])? else {
                return Ok(Value::Null);
            };
            let cameras = store.find(
                Table::Cameras,
                &[("session_key", text(key))],
                None,
                "camera_key",
                Some(CAMERAS_READ_MAX),
            )?;
            Ok(json!({ "session": shaped(Table::Sessions, session), "cameras": rows(Table::Cameras, cameras) }))
        }
        names::SESSION_EVENTS => session_page(store, Table::DirectorEvents, args),
        names::SESSION_STILLS => session_page(store, Table::Stills, args),
        names::SESSION_PLACEMENTS => session_page(store, Table::Placements, args),
        names::SESSIONS => {
            let opts = page_opts(args)?;
            let mut eq = Vec::new();
            match args.get("status") {
                None | Some(Value::Null) => {}
                Some(Value::String(st)) if st == "live" || st == "completed" => eq.push(("status", text(st))),
                Some(_) => return Err(bad("status must be live or completed")),
            }
            let mut ranges = Vec::new();
            if let Some(from) = number_arg(args, "startedFrom")? {
                ranges.push(("started_at >= ?", Sql::Real(from)));
            }
            if let Some(to) = number_arg(args, "startedTo")? {
                ranges.push(("started_at <= ?", Sql::Real(to)));
            }
            page(store, Paged { table: Table::Sessions, eq, ranges, order: "started_at", desc: true }, &opts)
        }
        names::DEVICES => {
            let opts = page_opts(args)?;
            page(
                store,
                Paged { table: Table::Devices, eq: vec![], ranges: vec![], order: "device_id", desc: false },
                &opts,
            )
        }
        names::CLASHES => {
            let opts = page_opts(args)?;
            let open = args.get("open").and_then(Value::as_bool).ok_or_else(|| bad("open must be a boolean"))?;
            let eq = vec![("open", Sql::Integer(i64::from(open)))];
            page(store, Paged { table: Table::Clashes, eq, ranges: vec![], order: "timeline", desc: false }, &opts)
        }
        names::DEVICE => {
            let id = string_arg(args, "deviceId")?;
            let device = store.first(Table::Devices, &[("device_id", text(id))])?.map(|r| shaped(Table::Devices, r));
            // Index order (`by_device_live`), then in timeline order of the joins.
            let mut cameras =
                store.find(Table::Cameras, &[("device_id", text(id))], None, "live", Some(CAMERAS_READ_MAX))?;
            let joined = |r: &Row| {
                let timelines = r.doc.get("timelines").and_then(Value::as_object);
                timelines.and_then(|t| t.get("joined")).and_then(Value::as_str).unwrap_or_default().to_string()
            };
            cameras.sort_by_key(joined);
            let mut clashes: Vec<Row> = Vec::new();
            for column in ["holder_device_id", "claimant_device_id"] {
                clashes.extend(store.find(
                    Table::Clashes,
                    &[(column, text(id))],
                    None,
                    "timeline",
                    Some(READ_PAGE_MAX),
                )?);
            }
            clashes.sort_by_key(|r| r.doc.get("timeline").and_then(Value::as_str).unwrap_or_default().to_string());
            Ok(json!({
                "device": device,
                "cameras": rows(Table::Cameras, cameras),
                "clashes": rows(Table::Clashes, clashes),
                "receipts": latest(store, Table::Receipts, "device_id", id, READ_PAGE_MAX)?,
                "placements": latest(store, Table::Placements, "device_id", id, READ_PAGE_MAX)?,
            }))
        }
        other => Err(EmbeddedError::UnknownRead(other.to_string())),
    }
}
