//! The embedded ledger's tables: the Convex tables of the contract, one
//! SQLite table each, every row a JSON document with the same field names
//! (camelCase) as in Convex, plus the columns its reads are indexed on.
//! `migrations-notes/0004-embedded-ledger.md` maps each table to its Convex
//! counterpart.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::{Map, Value};

/// A row: the document, as in Convex.
pub type Doc = Map<String, Value>;

/// Version of this schema, in `ledger_meta`.
pub const SCHEMA_VERSION: i64 = 2;

/// The tables of [`SCHEMA`], dropped when a file of another version is
/// opened: the ledger is rebuilt from the journal (its `applied_seq` goes
/// with `ledger_meta`, so the follower starts from the beginning).
const TABLES: [&str; 9] = [
    "ledger_meta",
    "ledger_sessions",
    "ledger_devices",
    "ledger_cameras",
    "ledger_placements",
    "ledger_director_events",
    "ledger_stills",
    "ledger_receipts",
    "ledger_device_clashes",
];

pub const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS ledger_sessions (
  id INTEGER PRIMARY KEY, session_key TEXT NOT NULL UNIQUE, status TEXT NOT NULL, started_at REAL,
  doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_sessions_started ON ledger_sessions(started_at);
CREATE INDEX IF NOT EXISTS ledger_sessions_status_started ON ledger_sessions(status, started_at);
CREATE TABLE IF NOT EXISTS ledger_devices (
  id INTEGER PRIMARY KEY, device_id TEXT NOT NULL UNIQUE, hardware_id TEXT, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_devices_hw ON ledger_devices(hardware_id);
CREATE TABLE IF NOT EXISTS ledger_cameras (
  id INTEGER PRIMARY KEY, session_key TEXT NOT NULL, camera_key TEXT NOT NULL, device_id TEXT NOT NULL,
  live INTEGER NOT NULL, doc TEXT NOT NULL, UNIQUE (session_key, camera_key));
CREATE INDEX IF NOT EXISTS ledger_cameras_device ON ledger_cameras(session_key, device_id);
CREATE INDEX IF NOT EXISTS ledger_cameras_live ON ledger_cameras(device_id, live);
CREATE TABLE IF NOT EXISTS ledger_placements (
  id INTEGER PRIMARY KEY, session_key TEXT NOT NULL, camera_key TEXT NOT NULL, device_id TEXT,
  timeline TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_placements_device ON ledger_placements(device_id, timeline);
CREATE INDEX IF NOT EXISTS ledger_placements_session ON ledger_placements(session_key, timeline);
CREATE INDEX IF NOT EXISTS ledger_placements_camera ON ledger_placements(session_key, camera_key, timeline);
CREATE TABLE IF NOT EXISTS ledger_director_events (
  id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, session_key TEXT NOT NULL, timeline TEXT NOT NULL,
  hold_id TEXT, hold_open INTEGER, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_director_session ON ledger_director_events(session_key, timeline);
CREATE INDEX IF NOT EXISTS ledger_director_hold ON ledger_director_events(session_key, hold_id, timeline);
CREATE INDEX IF NOT EXISTS ledger_director_open ON ledger_director_events(session_key, hold_open);
CREATE TABLE IF NOT EXISTS ledger_stills (
  id INTEGER PRIMARY KEY, still_id TEXT NOT NULL, session_key TEXT NOT NULL, timeline TEXT NOT NULL,
  doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_stills_id ON ledger_stills(still_id);
CREATE INDEX IF NOT EXISTS ledger_stills_session ON ledger_stills(session_key, timeline);
CREATE TABLE IF NOT EXISTS ledger_receipts (
  id INTEGER PRIMARY KEY, event_id TEXT NOT NULL UNIQUE, waits_for TEXT, wait_session TEXT, device_id TEXT,
  timeline TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_receipts_waits ON ledger_receipts(waits_for, timeline);
CREATE INDEX IF NOT EXISTS ledger_receipts_session ON ledger_receipts(wait_session, timeline);
CREATE INDEX IF NOT EXISTS ledger_receipts_device ON ledger_receipts(device_id, timeline);
CREATE TABLE IF NOT EXISTS ledger_device_clashes (
  id INTEGER PRIMARY KEY, hardware_id TEXT NOT NULL, holder_device_id TEXT NOT NULL,
  claimant_device_id TEXT NOT NULL, open INTEGER NOT NULL, timeline TEXT NOT NULL, doc TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS ledger_clashes_hw_open ON ledger_device_clashes(hardware_id, open);
CREATE INDEX IF NOT EXISTS ledger_clashes_holder ON ledger_device_clashes(holder_device_id, timeline);
CREATE INDEX IF NOT EXISTS ledger_clashes_claimant ON ledger_device_clashes(claimant_device_id, timeline);
CREATE INDEX IF NOT EXISTS ledger_clashes_open ON ledger_device_clashes(open, timeline);
"#;

/// A table of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Sessions,
    Devices,
    Cameras,
    Placements,
    DirectorEvents,
    Stills,
    Receipts,
    Clashes,
}

impl Table {
    pub const ALL: [Table; 8] = [
        Table::Sessions,
        Table::Devices,
        Table::Cameras,
        Table::Placements,
        Table::DirectorEvents,
        Table::Stills,
        Table::Receipts,
        Table::Clashes,
    ];

    pub fn sql(self) -> &'static str {
        match self {
            Table::Sessions => "ledger_sessions",
            Table::Devices => "ledger_devices",
            Table::Cameras => "ledger_cameras",
            Table::Placements => "ledger_placements",
            Table::DirectorEvents => "ledger_director_events",
            Table::Stills => "ledger_stills",
            Table::Receipts => "ledger_receipts",
            Table::Clashes => "ledger_device_clashes",
        }
    }

    /// The Convex table it stands for (ids say it: `productionCameras:12`).
    pub fn convex(self) -> &'static str {
        match self {
            Table::Sessions => "productionSessions",
            Table::Devices => "productionDevices",
            Table::Cameras => "productionCameras",
            Table::Placements => "productionCameraPlacements",
            Table::DirectorEvents => "productionDirectorEvents",
            Table::Stills => "productionStills",
            Table::Receipts => "ingestReceipts",
            Table::Clashes => "productionDeviceClashes",
        }
    }

    /// The indexed columns and the document fields they copy.
    fn columns(self) -> &'static [(&'static str, &'static str)] {
        match self {
            Table::Sessions => &[("session_key", "sessionKey"), ("status", "status"), ("started_at", "startedAt")],
            Table::Devices => &[("device_id", "deviceId"), ("hardware_id", "hardwareId")],
            Table::Cameras => &[
                ("session_key", "sessionKey"),
                ("camera_key", "cameraKey"),
                ("device_id", "deviceId"),
                ("live", "live"),
            ],
            Table::Placements => &[
                ("session_key", "sessionKey"),
                ("camera_key", "cameraKey"),
                ("device_id", "deviceId"),
                ("timeline", "timeline"),
            ],
            Table::DirectorEvents => &[
                ("event_id", "eventId"),
                ("session_key", "sessionKey"),
                ("timeline", "timeline"),
                ("hold_id", "holdId"),
                ("hold_open", "holdOpen"),
            ],
            Table::Stills => &[("still_id", "stillId"), ("session_key", "sessionKey"), ("timeline", "timeline")],
            Table::Receipts => &[
                ("event_id", "eventId"),
                ("waits_for", "waitsFor"),
                ("wait_session", "waitSession"),
                ("device_id", "deviceId"),
                ("timeline", "timeline"),
            ],
            Table::Clashes => &[
                ("hardware_id", "hardwareId"),
                ("holder_device_id", "holderDeviceId"),
                ("claimant_device_id", "claimantDeviceId"),
                ("open", "open"),
                ("timeline", "timeline"),
            ],
        }
    }
}

/// A row and its id.
#[derive(Debug, Clone)]
pub struct Row {
    pub id: i64,
    pub doc: Doc,
}

impl Row {
    /// The id as the ledger's answers carry it (`ledgerIds`).
    pub fn ledger_id(&self, table: Table) -> String {
        ledger_id(table, self.id)
    }
}

pub fn ledger_id(table: Table, id: i64) -> String {
    format!("{}:{id}", table.convex())
}

fn column_value(v: Option<&Value>) -> rusqlite::types::Value {
    use rusqlite::types::Value as S;
    match v {
        None | Some(Value::Null) => S::Null,
        Some(Value::Bool(b)) => S::Integer(i64::from(*b)),
        Some(Value::String(s)) => S::Text(s.clone()),
        Some(Value::Number(n)) => n.as_i64().map(S::Integer).unwrap_or_else(|| S::Real(n.as_f64().unwrap_or(0.0))),
        Some(other) => S::Text(other.to_string()),
    }
}

fn parse(text: &str) -> rusqlite::Result<Doc> {
    serde_json::from_str(text)
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, Box::new(e)))
}

/// Reads and writes of the tables, inside one transaction.
pub struct Store<'t> {
    pub tx: &'t Transaction<'t>,
}

impl<'t> Store<'t> {
    pub fn insert(&self, table: Table, doc: &Doc) -> rusqlite::Result<i64> {
        let cols = table.columns();
        let names: Vec<&str> = cols.iter().map(|(c, _)| *c).chain(["doc"]).collect();
        let marks: Vec<String> = (1..=names.len()).map(|i| format!("?{i}")).collect();
        let sql = format!("INSERT INTO {} ({}) VALUES ({})", table.sql(), names.join(", "), marks.join(", "));
        let mut values: Vec<rusqlite::types::Value> = cols.iter().map(|(_, f)| column_value(doc.get(*f))).collect();
        values.push(rusqlite::types::Value::Text(Value::Object(doc.clone()).to_string()));
        self.tx.execute(&sql, rusqlite::params_from_iter(values))?;
        Ok(self.tx.last_insert_rowid())
    }

    pub fn replace(&self, table: Table, id: i64, doc: &Doc) -> rusqlite::Result<()> {
        let cols = table.columns();
        let sets: Vec<String> = cols.iter().enumerate().map(|(i, (c, _))| format!("{c} = ?{}", i + 1)).collect();
        let sql = format!(
            "UPDATE {} SET {}, doc = ?{} WHERE id = ?{}",
            table.sql(),
            sets.join(", "),
            cols.len() + 1,
            cols.len() + 2
        );
        let mut values: Vec<rusqlite::types::Value> = cols.iter().map(|(_, f)| column_value(doc.get(*f))).collect();
        values.push(rusqlite::types::Value::Text(Value::Object(doc.clone()).to_string()));
        values.push(rusqlite::types::Value::Integer(id));
        self.tx.execute(&sql, rusqlite::params_from_iter(values))?;
        Ok(())
    }

    /// Sets (or, with `Value::Null`, removes) fields of a row.
    pub fn patch(&self, table: Table, row: &mut Row, fields: Doc) -> rusqlite::Result<()> {
        for (k, v) in fields {
            if v.is_null() {
                row.doc.remove(&k);
            } else {
                row.doc.insert(k, v);
            }
        }
        self.replace(table, row.id, &row.doc)
    }

    pub fn delete(&self, table: Table, id: i64) -> rusqlite::Result<()> {
        self.tx.execute(&format!("DELETE FROM {} WHERE id = ?1", table.sql()), params![id])?;
        Ok(())
    }

    /// Rows where every `(column, value)` matches, ordered by `order` (a
    /// column list) and then id; at most `limit`.
    pub fn find(
        &self,
        table: Table,
        eq: &[(&str, rusqlite::types::Value)],
        extra: Option<(&str, rusqlite::types::Value)>,
        order: &str,
        limit: Option<u32>,
    ) -> rusqlite::Result<Vec<Row>> {
        let mut clauses: Vec<String> = Vec::new();
        let mut values: Vec<rusqlite::types::Value> = Vec::new();
        for (c, v) in eq {
            values.push(v.clone());
            clauses.push(format!("{c} IS ?{}", values.len()));
        }
        if let Some((clause, v)) = extra {
            values.push(v);
            clauses.push(clause.replace('?', &format!("?{}", values.len())));
        }
        let filter = if clauses.is_empty() { String::new() } else { format!(" WHERE {}", clauses.join(" AND ")) };
        let limit = limit.map(|n| format!(" LIMIT {n}")).unwrap_or_default();
        let sql = format!("SELECT id, doc FROM {}{filter} ORDER BY {order}, id{limit}", table.sql());
        let mut stmt = self.tx.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(values), |r| {
            let text: String = r.get(1)?;
            Ok(Row { id: r.get(0)?, doc: parse(&text)? })
        })?;
        rows.collect()
    }

    pub fn first(&self, table: Table, eq: &[(&str, rusqlite::types::Value)]) -> rusqlite::Result<Option<Row>> {
        Ok(self.find(table, eq, None, "id", Some(1))?.into_iter().next())
    }

    pub fn get(&self, table: Table, id: i64) -> rusqlite::Result<Option<Row>> {
        let sql = format!("SELECT id, doc FROM {} WHERE id = ?1", table.sql());
        self.tx
            .query_row(&sql, params![id], |r| {
                let text: String = r.get(1)?;
                Ok(Row { id: r.get(0)?, doc: parse(&text)? })
            })
            .optional()
    }
}

/// Creates the tables if they are not there. A file of another schema
/// version is emptied first: the follower rebuilds it from the journal.
pub fn create(conn: &Connection) -> rusqlite::Result<()> {
    let has_meta: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ledger_meta')",
        [],
        |r| r.get(0),
    )?;
    if has_meta {
        let version: Option<String> = conn
            .query_row("SELECT value FROM ledger_meta WHERE key = 'schema_version'", [], |r| r.get(0))
            .optional()?;
        if version.as_deref() != Some(SCHEMA_VERSION.to_string().as_str()) {
            tracing::warn!(
                found = version.as_deref().unwrap_or("none"),
                expected = SCHEMA_VERSION,
                "the embedded ledger's file is of another schema version; it is rebuilt from the journal"
            );
            let drops: String = TABLES.iter().map(|t| format!("DROP TABLE IF EXISTS {t};")).collect();
            conn.execute_batch(&format!("BEGIN; {drops} COMMIT;"))?;
        }
    }
    conn.execute_batch(SCHEMA)?;
    conn.execute(
        "INSERT OR IGNORE INTO ledger_meta (key, value) VALUES ('schema_version', ?1)",
        params![SCHEMA_VERSION.to_string()],
    )?;
    Ok(())
}

/// Text for an indexed column.
pub fn text(s: &str) -> rusqlite::types::Value {
    rusqlite::types::Value::Text(s.to_string())
}
