//! The embedded ledger: the ledger contract implemented a second time, over
//! SQLite inside the service, so that a shoot is a coherent ledger — cameras,
//! hero feed, holds, stills, placement versions, summary, registry — with no
//! Convex deployment at all (the default, an offline venue).
//!
//! # What it is
//!
//! The Convex functions (`convex/`) are the first implementation; this is
//! the second, rule for rule ([`rules`] names each TypeScript twin). Its
//! input is exactly what the forwarder sends to Convex: the wire events of
//! `migrations-notes/0001` and `0003`, as JSON. Its tables are the Convex
//! tables, one SQLite table each, every row the same JSON document
//! ([`store`]). `migrations-notes/0004-embedded-ledger.md` maps them.
//! Contract 3 (`migrations-notes/0005`) adds the operators' registry repair
//! (`registry`, twin of `convex/apply/registry.ts`), the clash reports
//! (`productionDeviceClashes`) and the named reads of `convex/ledger.ts`
//! ([`EmbeddedLedger::query`], [`reads`]).
//!
//! A ledger file of another schema version ([`store::SCHEMA_VERSION`]) is
//! emptied when opened: with its journal position gone, the follower
//! rebuilds it from the journal (invariant 2).
//!
//! # Invariants
//!
//! 1. **Same rules.** For the same events in timeline order, it leaves the
//!    snapshot the Convex functions leave (`tests/conformance/`, run against
//!    both: `cargo test --test conformance`, `convex/tests/conformance.test.ts`).
//! 2. **A function of the journal.** It is maintained from the journal, in
//!    journal order, and can be deleted and rebuilt from the journal at any
//!    time with the same result: it holds nothing the journal does not.
//! 3. **One transaction per batch.** A batch of events is applied in one
//!    SQLite transaction: all of it or none of it.
//! 4. **Never the source of truth when Convex is configured.** Convex is;
//!    the embedded ledger answers reads when Convex cannot, and says so.

pub mod reads;
mod registry;
pub mod rules;
pub mod store;
#[cfg(test)]
mod tests;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Map, Value};

use self::rules::Ctx;
use self::store::{Store, Table};

/// The fields a ledger snapshot leaves out (`convex/tests/snapshot.helpers.ts`
/// has the same list): row ids and links by id, the ledger's own write
/// times, and its bookkeeping of which event set which field.
pub const SNAPSHOT_ASIDE: [&str; 9] = [
    "_id",
    "_creationTime",
    "appliedAt",
    "updatedAt",
    "createdAt",
    "completedAppliedAt",
    "timelines",
    "directorEventId",
    "stillRowId",
];

/// Why the embedded ledger could not do what it was asked.
#[derive(Debug, thiserror::Error)]
pub enum EmbeddedError {
    #[error("embedded ledger storage: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("not a wire event: {0}")]
    NotAnEvent(String),
    #[error("the embedded ledger is closed")]
    Closed,
    #[error("no read named {0}")]
    UnknownRead(String),
    #[error("bad read arguments: {0}")]
    BadRead(String),
}

/// The embedded ledger, over one SQLite connection.
pub struct EmbeddedLedger {
    conn: Connection,
}

impl EmbeddedLedger {
    /// Opens (or creates) the ledger in its own file.
    pub fn open(path: &Path) -> Result<Self, EmbeddedError> {
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        Self::with(conn)
    }

    /// A ledger in memory (tests, rebuilds).
    pub fn in_memory() -> Result<Self, EmbeddedError> {
        Self::with(Connection::open_in_memory()?)
    }

    fn with(conn: Connection) -> Result<Self, EmbeddedError> {
        store::create(&conn)?;
        Ok(Self { conn })
    }

    /// Applies wire events in order, in one transaction, at ledger time
    /// `now` (epoch ms); one verdict per event (`convex/ingest.ts` applyBatch).
    pub fn apply(&mut self, events: &[Value], now: f64) -> Result<Vec<Value>, EmbeddedError> {
        let events: Vec<&Map<String, Value>> = events
            .iter()
            .map(|e| e.as_object().ok_or_else(|| EmbeddedError::NotAnEvent(e.to_string())))
            .collect::<Result<_, _>>()?;
        let tx = self.conn.transaction()?;
        let verdicts = {
            let store = Store { tx: &tx };
            let ctx = Ctx { store: &store, now };
            events.iter().map(|e| rules::apply_one(&ctx, e).map(Value::Object)).collect::<Result<Vec<_>, _>>()?
        };
        tx.commit()?;
        Ok(verdicts)
    }

    /// The current verdict of each event, after rejecting those that waited
    /// past their session's completion by `grace_ms` (`ingest:settle`).
    pub fn settle(&mut self, event_ids: &[String], grace_ms: f64, now: f64) -> Result<Vec<Value>, EmbeddedError> {
        let tx = self.conn.transaction()?;
        let verdicts = {
            let store = Store { tx: &tx };
            let ctx = Ctx { store: &store, now };
            event_ids
                .iter()
                .map(|id| rules::settle_one(&ctx, id, grace_ms).map(Value::Object))
                .collect::<Result<Vec<_>, _>>()?
        };
        tx.commit()?;
        Ok(verdicts)
    }

    /// The journal position applied so far (0: none).
    pub fn applied_through(&self) -> Result<i64, EmbeddedError> {
        let v: Option<String> = self
            .conn
            .query_row("SELECT value FROM ledger_meta WHERE key = 'applied_seq'", [], |r| r.get(0))
            .optional()?;
        Ok(v.and_then(|v| v.parse().ok()).unwrap_or(0))
    }

    /// Applies journal entries (`(seq, wire event)`, in journal order) in one
    /// transaction, and records the last seq in the same one: a crash leaves
    /// either all of them applied or none.
    pub fn apply_entries(&mut self, entries: &[(i64, Value)], now: f64) -> Result<usize, EmbeddedError> {
        let Some(last) = entries.last().map(|(seq, _)| *seq) else { return Ok(0) };
        let tx = self.conn.transaction()?;
        {
            let store = Store { tx: &tx };
            let ctx = Ctx { store: &store, now };
            for (_, event) in entries {
                let event = event.as_object().ok_or_else(|| EmbeddedError::NotAnEvent(event.to_string()))?;
                rules::apply_one(&ctx, event)?;
            }
        }
        tx.execute(
            "INSERT INTO ledger_meta (key, value) VALUES ('applied_seq', ?1)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            params![last.to_string()],
        )?;
        tx.commit()?;
        Ok(entries.len())
    }

    /// Rejects every waiting event whose session completed `grace_ms` or
    /// more ago (as `ingest:settle` does for the events a service asks
    /// after); answers how many.
    pub fn expire_due(&mut self, grace_ms: f64, now: f64) -> Result<usize, EmbeddedError> {
        let ids: Vec<String> = {
            let mut stmt = self.conn.prepare(
                "SELECT r.event_id FROM ledger_receipts r JOIN ledger_sessions s ON s.session_key = r.wait_session
                 WHERE r.waits_for IS NOT NULL AND s.status = 'completed'",
            )?;
            stmt.query_map([], |r| r.get(0))?.collect::<Result<_, _>>()?
        };
        let verdicts = self.settle(&ids, grace_ms, now)?;
        Ok(verdicts.iter().filter(|v| v["verdict"] == "rejected").count())
    }

    /// The current receipt of one event (its verdict, code, what it waits
    /// for), or None.
    pub fn receipt(&mut self, event_id: &str) -> Result<Option<Value>, EmbeddedError> {
        let tx = self.conn.transaction()?;
        let found = rules::find_receipt(&Store { tx: &tx }, event_id)?;
        tx.commit()?;
        Ok(found.map(|r| rules::verdict_of(&r, false)).map(Value::Object))
    }

    /// A session as `GET /v1/sessions/{key}` shows it, in the shape of the
    /// Convex read (session, cameras, placements, events, stills, each list
    /// in timeline order), each list cut at `list_max` rows; with the names
    /// of the lists that were cut.
    pub fn session_view(&mut self, key: &str, list_max: u32) -> Result<Option<(Value, Vec<String>)>, EmbeddedError> {
        let tx = self.conn.transaction()?;
        let store = Store { tx: &tx };
        let Some(session) = store.first(Table::Sessions, &[("session_key", store::text(key))])? else {
            return Ok(None);
        };
        let mut out = Map::new();
        out.insert("session".into(), Value::Object(session.doc));
        let mut truncated = Vec::new();
        for (name, table, order) in [
            ("cameras", Table::Cameras, "camera_key"),
            ("placements", Table::Placements, "timeline"),
            ("events", Table::DirectorEvents, "timeline"),
            ("stills", Table::Stills, "timeline"),
        ] {
            let mut rows = store.find(table, &[("session_key", store::text(key))], None, order, Some(list_max + 1))?;
            if rows.len() > list_max as usize {
                rows.truncate(list_max as usize);
                truncated.push(name.to_string());
            }
            out.insert(name.into(), Value::Array(rows.into_iter().map(|r| Value::Object(r.doc)).collect()));
        }
        tx.commit()?;
        Ok(Some((Value::Object(out), truncated)))
    }

    /// The conformance snapshot (`tests/conformance/README.md`): every table
    /// without ids, write times and bookkeeping, and the receipts of
    /// `event_ids` in that order.
    pub fn snapshot(&mut self, event_ids: &[String]) -> Result<Value, EmbeddedError> {
        let tx = self.conn.transaction()?;
        let store = Store { tx: &tx };
        let mut out = Map::new();
        for (name, table, key) in [
            ("sessions", Table::Sessions, &["sessionKey"][..]),
            ("devices", Table::Devices, &["deviceId"][..]),
            ("cameras", Table::Cameras, &["sessionKey", "cameraKey"][..]),
            ("placements", Table::Placements, &["timeline"][..]),
            ("directorEvents", Table::DirectorEvents, &["timeline"][..]),
            ("stills", Table::Stills, &["stillId"][..]),
            ("clashes", Table::Clashes, &["timeline"][..]),
        ] {
            let mut rows: Vec<Map<String, Value>> = store
                .find(table, &[], None, "id", None)?
                .into_iter()
                .map(|r| r.doc.into_iter().filter(|(k, _)| !SNAPSHOT_ASIDE.contains(&k.as_str())).collect())
                .collect();
            let sort_key = |d: &Map<String, Value>| -> Vec<String> {
                key.iter().map(|k| d.get(*k).and_then(Value::as_str).unwrap_or_default().to_string()).collect()
            };
            rows.sort_by_key(sort_key);
            out.insert(name.into(), Value::Array(rows.into_iter().map(Value::Object).collect()));
        }
        let mut seen = std::collections::HashSet::new();
        let mut receipts = Vec::new();
        for id in event_ids.iter().filter(|id| seen.insert(id.as_str())) {
            let r = match rules::find_receipt(&store, id)? {
                None => serde_json::json!({ "eventId": id, "verdict": "none" }),
                Some(r) => {
                    let keep = ["eventId", "type", "verdict", "code", "message", "waitingFor", "timeline"];
                    Value::Object(r.doc.into_iter().filter(|(k, _)| keep.contains(&k.as_str())).collect())
                }
            };
            receipts.push(r);
        }
        out.insert("receipts".into(), Value::Array(receipts));
        tx.commit()?;
        Ok(Value::Object(out))
    }
}

/// The embedded ledger shared by the tasks that use it; every call runs on
/// a blocking thread, one at a time.
#[derive(Clone)]
pub struct Embedded(Arc<Mutex<EmbeddedLedger>>);

impl Embedded {
    pub fn new(ledger: EmbeddedLedger) -> Self {
        Self(Arc::new(Mutex::new(ledger)))
    }

    pub async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut EmbeddedLedger) -> Result<T, EmbeddedError> + Send + 'static,
    ) -> Result<T, EmbeddedError> {
        let inner = self.0.clone();
        tokio::task::spawn_blocking(move || {
            let mut ledger = inner.lock().map_err(|_| EmbeddedError::Closed)?;
            f(&mut ledger)
        })
        .await
        .map_err(|_| EmbeddedError::Closed)?
    }
}
