//! The SQLite side of the journal: schema, pragmas and statements.

use std::path::Path;

use rusqlite::{Connection, OpenFlags, OptionalExtension, Row, params};

use super::{Depth, Entry, JournalError, Prepared, Report, Status};
use crate::domain::{Envelope, EventId, InstanceId, Millis, Verdict};

/// Written to SQLite's `application_id` header field, so that a journal is
/// told apart from any other SQLite file ("SHLG").
pub const JOURNAL_APPLICATION_ID: i32 = 0x5348_4C47;
/// 1: entries. 2: the `meta` table (the journal's instance id). 3: an
/// entry may be `waiting`, and the settled index holds only delivered and
/// rejected entries (a journal of 1 or 2 is rebuilt at open, [`migrate`]).
const SCHEMA_VERSION: i32 = 3;

/// The entries table, under a name (the migration builds it beside the
/// old one).
fn entries_table(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id     TEXT    NOT NULL UNIQUE,
    partition    TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    fingerprint  BLOB    NOT NULL,
    envelope     TEXT    NOT NULL,
    received_at  INTEGER NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('pending', 'waiting', 'delivered', 'rejected')),
    verdict      TEXT,
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT,
    settled_at   INTEGER
);"
    )
}

const INDEXES: &str = "
CREATE INDEX IF NOT EXISTS entries_pending ON entries (seq) WHERE status = 'pending';
CREATE INDEX IF NOT EXISTS entries_waiting ON entries (seq) WHERE status = 'waiting';
CREATE INDEX IF NOT EXISTS entries_partition ON entries (partition, seq);
CREATE INDEX IF NOT EXISTS entries_settled ON entries (settled_at) WHERE status IN ('delivered', 'rejected');
CREATE TABLE IF NOT EXISTS meta (
    key    TEXT PRIMARY KEY,
    value  TEXT NOT NULL
) WITHOUT ROWID;
";

/// Brings a journal of an older schema to this one, in one transaction:
/// the entries table is rebuilt with the `waiting` status (SQLite cannot
/// change a CHECK in place), keeping every row, its seq and the
/// AUTOINCREMENT high-water mark, so that no seq is ever reused.
fn migrate(conn: &Connection, version: i32) -> Result<(), JournalError> {
    let has_entries: bool =
        conn.query_row("SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'entries'", [], |r| {
            r.get(0)
        })?;
    if version >= 3 || !has_entries {
        return Ok(());
    }
    let tx = conn.unchecked_transaction()?;
    tx.execute_batch(&entries_table("entries_v3"))?;
    tx.execute_batch(
        "INSERT INTO entries_v3 (seq, event_id, partition, kind, fingerprint, envelope, received_at, status,
                                 verdict, attempts, last_error, settled_at)
           SELECT seq, event_id, partition, kind, fingerprint, envelope, received_at, status,
                  verdict, attempts, last_error, settled_at FROM entries;
         DELETE FROM sqlite_sequence WHERE name = 'entries_v3';
         INSERT INTO sqlite_sequence (name, seq) SELECT 'entries_v3', seq FROM sqlite_sequence WHERE name = 'entries';
         DROP TABLE entries;
         ALTER TABLE entries_v3 RENAME TO entries;",
    )?;
    tx.pragma_update(None, "user_version", 3)?;
    tx.commit()?;
    Ok(())
}

/// The `meta` key of the journal's instance id.
const INSTANCE_ID_KEY: &str = "instance_id";

fn pragmas(conn: &Connection) -> Result<(), JournalError> {
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    // FULL: a commit is on disk (WAL fsync'd) before the append returns.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    Ok(())
}

/// Opens the write connection: creates the schema in a new file, or checks
/// that an existing file is a sound journal of a known version.
pub(super) fn open_writer(path: &Path) -> Result<Connection, JournalError> {
    let not_a_journal = |reason: String| JournalError::NotAJournal { path: path.to_path_buf(), reason };
    let conn = Connection::open(path)?;
    // A file that is not SQLite fails at the first read.
    let app_id: i32 = conn
        .pragma_query_value(None, "application_id", |r| r.get(0))
        .map_err(|e| not_a_journal(format!("not a SQLite database ({e})")))?;
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| not_a_journal(format!("unreadable ({e})")))?;
    if tables > 0 && app_id != JOURNAL_APPLICATION_ID {
        return Err(not_a_journal(format!("a SQLite database of another application (application_id {app_id:#x})")));
    }
    pragmas(&conn)?;
    let check: String = conn.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(not_a_journal(format!("integrity check failed: {check}")));
    }
    let version: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(not_a_journal(format!(
            "journal schema version {version} is newer than this build knows ({SCHEMA_VERSION})"
        )));
    }
    migrate(&conn, version)?;
    conn.execute_batch(&entries_table("entries"))?;
    conn.execute_batch(INDEXES)?;
    conn.pragma_update(None, "application_id", JOURNAL_APPLICATION_ID)?;
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(conn)
}

/// The journal's instance id: made once, when the journal is created (or,
/// for a journal from before instance ids, when it is first opened), and
/// kept in its `meta` table.
pub(super) fn instance_id(conn: &Connection, path: &Path) -> Result<InstanceId, JournalError> {
    conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES (?1, ?2)",
        params![INSTANCE_ID_KEY, InstanceId::new_random().as_str()],
    )?;
    let stored: String = conn.query_row("SELECT value FROM meta WHERE key = ?1", [INSTANCE_ID_KEY], |r| r.get(0))?;
    InstanceId::parse(stored.clone()).map_err(|e| JournalError::NotAJournal {
        path: path.to_path_buf(),
        reason: format!("its instance id {stored:?} is malformed: {e}"),
    })
}

/// Caps the database at `max_bytes` (`max_page_count`; SQLite keeps it no
/// lower than the pages in use). Returns the cap in pages.
pub(super) fn cap_size(conn: &Connection, max_bytes: u64) -> Result<u64, JournalError> {
    let page_size = page_size(conn)?;
    let pages = i64::try_from(max_bytes / page_size).unwrap_or(i64::MAX).max(1);
    let cap: i64 = conn.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| r.get(0))?;
    Ok(u64::try_from(cap).unwrap_or(0))
}

/// Sizes the WAL to the volume: checkpoints every 1000 pages (SQLite's
/// default), or more often on a volume too small for a WAL of 4 MiB
/// (a 64th of it, at least 16 pages), and truncates it back to that size
/// after a checkpoint. Returns the most the WAL should take, in bytes.
pub(super) fn tune_wal(conn: &Connection, page_size: u64, volume_size: Option<u64>) -> Result<u64, JournalError> {
    let pages = volume_size.map_or(1000, |v| (v / 64 / page_size).clamp(16, 1000));
    conn.pragma_update(None, "wal_autocheckpoint", pages)?;
    // A WAL frame is a page and a 24-byte header, after a 32-byte file header.
    let bytes = pages * (page_size + 24) + 32;
    let limit = i64::try_from(bytes).unwrap_or(i64::MAX);
    let _: i64 = conn.query_row(&format!("PRAGMA journal_size_limit = {limit}"), [], |r| r.get(0))?;
    Ok(bytes)
}

pub(super) fn page_size(conn: &Connection) -> Result<u64, JournalError> {
    let n: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(4096).max(512))
}

/// Pages of the database, and of those the free ones (reused by the next
/// inserts).
pub(super) fn pages(conn: &Connection) -> Result<(u64, u64), JournalError> {
    let count: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let free: i64 = conn.pragma_query_value(None, "freelist_count", |r| r.get(0))?;
    Ok((u64::try_from(count).unwrap_or(0), u64::try_from(free).unwrap_or(0)))
}

/// The size cap in pages (`max_page_count`).
pub(super) fn max_pages(conn: &Connection) -> Result<u64, JournalError> {
    let n: i64 = conn.pragma_query_value(None, "max_page_count", |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(u64::MAX))
}

/// A write that changes nothing but takes one page and one fsync: the
/// schema version, rewritten.
pub(super) fn test_write(conn: &Connection) -> Result<(), JournalError> {
    conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    Ok(())
}

/// Deletes up to `limit` delivered entries, oldest first.
pub(super) fn shed_delivered(conn: &Connection, limit: u32) -> Result<u64, JournalError> {
    let n = conn.execute(
        "DELETE FROM entries WHERE seq IN
           (SELECT seq FROM entries WHERE status = 'delivered' ORDER BY seq LIMIT ?1)",
        [limit],
    )?;
    Ok(n as u64)
}

pub(super) fn open_reader(path: &Path) -> Result<Connection, JournalError> {
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    Ok(conn)
}

pub(super) fn depth(conn: &Connection) -> Result<Depth, JournalError> {
    let mut d = Depth::default();
    let mut stmt = conn.prepare("SELECT status, count(*) FROM entries GROUP BY status")?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    for row in rows {
        let (status, n) = row?;
        let n = u64::try_from(n).unwrap_or(0);
        match Status::parse(&status) {
            Some(Status::Pending) => d.pending = n,
            Some(Status::Waiting) => d.waiting = n,
            Some(Status::Delivered) => d.delivered = n,
            Some(Status::Rejected) => d.rejected = n,
            None => {}
        }
    }
    Ok(d)
}

/// The journal's part of the deployment report: the oldest pending entry,
/// the last settlement, the rejections by code. Each is one index read (the
/// pending and settled indexes), except the rejections, which scan the
/// rejected entries kept within retention.
pub(super) fn oldest_pending(conn: &Connection) -> Result<Option<Millis>, JournalError> {
    let oldest: Option<i64> = conn
        .query_row("SELECT received_at FROM entries WHERE status = 'pending' ORDER BY seq LIMIT 1", [], |r| r.get(0))
        .optional()?;
    Ok(oldest.map(Millis))
}

pub(super) fn report(conn: &Connection) -> Result<Report, JournalError> {
    let oldest = oldest_pending(conn)?;
    let last: Option<i64> =
        conn.query_row("SELECT max(settled_at) FROM entries WHERE status IN ('delivered', 'rejected')", [], |r| {
            r.get(0)
        })?;
    let mut stmt = conn.prepare(
        "SELECT coalesce(json_extract(verdict, '$.code'), ''), count(*) FROM entries \
         WHERE status = 'rejected' GROUP BY 1",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
    let mut rejected_by_code = std::collections::BTreeMap::new();
    for row in rows {
        let (code, n) = row?;
        rejected_by_code.insert(code, u64::try_from(n).unwrap_or(0));
    }
    Ok(Report { oldest_pending_received_at: oldest, last_settled_at: last.map(Millis), rejected_by_code })
}

const ENTRY_COLUMNS: &str = "seq, envelope, status, verdict, attempts, last_error, settled_at";

fn entry_from_row(row: &Row<'_>) -> rusqlite::Result<Result<Entry, JournalError>> {
    let seq: i64 = row.get(0)?;
    let envelope: String = row.get(1)?;
    let status: String = row.get(2)?;
    let verdict: Option<String> = row.get(3)?;
    let attempts: i64 = row.get(4)?;
    let last_error: Option<String> = row.get(5)?;
    let settled_at: Option<i64> = row.get(6)?;
    Ok((|| {
        if seq < 1 {
            return Err(JournalError::Decode(format!("entry {seq}: a seq below 1")));
        }
        let envelope: Envelope =
            serde_json::from_str(&envelope).map_err(|e| JournalError::Decode(format!("entry {seq}: {e}")))?;
        let status =
            Status::parse(&status).ok_or_else(|| JournalError::Decode(format!("entry {seq}: status {status:?}")))?;
        let verdict = verdict
            .map(|v| serde_json::from_str::<Verdict>(&v))
            .transpose()
            .map_err(|e| JournalError::Decode(format!("entry {seq} verdict: {e}")))?;
        Ok(Entry {
            seq,
            envelope,
            status,
            verdict,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            last_error,
            settled_at: settled_at.map(Millis),
        })
    })())
}

fn collect(mut rows: rusqlite::Rows<'_>) -> Result<Vec<Entry>, JournalError> {
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(entry_from_row(row)??);
    }
    Ok(out)
}

pub(super) fn get(conn: &Connection, id: EventId) -> Result<Option<Entry>, JournalError> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE event_id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    match stmt.query_row([id.to_string()], entry_from_row).optional()? {
        Some(e) => Ok(Some(e?)),
        None => Ok(None),
    }
}

/// The fingerprint and entry of an id, if journaled.
pub(super) fn find(conn: &Connection, id: EventId) -> Result<Option<(Vec<u8>, Entry)>, JournalError> {
    let sql = format!("SELECT {ENTRY_COLUMNS}, fingerprint FROM entries WHERE event_id = ?1");
    let mut stmt = conn.prepare_cached(&sql)?;
    let found = stmt
        .query_row([id.to_string()], |r| {
            let fp: Vec<u8> = r.get(7)?;
            Ok((fp, entry_from_row(r)?))
        })
        .optional()?;
    match found {
        Some((fp, e)) => Ok(Some((fp, e?))),
        None => Ok(None),
    }
}

/// Inserts a new entry (the caller checked that its id is new).
pub(super) fn insert(conn: &Connection, p: Prepared) -> Result<Entry, JournalError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO entries (event_id, partition, kind, fingerprint, envelope, received_at, status)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
    )?;
    stmt.execute(params![
        p.event_id,
        p.partition,
        p.kind,
        &p.entry.fingerprint[..],
        p.json,
        p.entry.envelope.received_at.0,
    ])?;
    Ok(Entry {
        seq: conn.last_insert_rowid(),
        envelope: p.entry.envelope,
        status: Status::Pending,
        verdict: None,
        attempts: 0,
        last_error: None,
        settled_at: None,
    })
}

pub(super) fn partition_entries(
    conn: &Connection,
    partition: &str,
    after_seq: i64,
    limit: u32,
) -> Result<Vec<Entry>, JournalError> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE partition = ?1 AND seq > ?2 ORDER BY seq LIMIT ?3");
    let mut stmt = conn.prepare_cached(&sql)?;
    collect(stmt.query(params![partition, after_seq, limit])?)
}

pub(super) fn pending(conn: &Connection, after_seq: i64, limit: u32) -> Result<Vec<Entry>, JournalError> {
    let sql =
        format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE status = 'pending' AND seq > ?1 ORDER BY seq LIMIT ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    collect(stmt.query(params![after_seq, limit])?)
}

/// Every entry after `after_seq`, whatever its status, in journal order
/// (what the embedded ledger follows).
pub(super) fn after(conn: &Connection, after_seq: i64, limit: u32) -> Result<Vec<Entry>, JournalError> {
    let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE seq > ?1 ORDER BY seq LIMIT ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    collect(stmt.query(params![after_seq, limit])?)
}

pub(super) fn waiting(conn: &Connection, after_seq: i64, limit: u32) -> Result<Vec<Entry>, JournalError> {
    let sql =
        format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE status = 'waiting' AND seq > ?1 ORDER BY seq LIMIT ?2");
    let mut stmt = conn.prepare_cached(&sql)?;
    collect(stmt.query(params![after_seq, limit])?)
}

/// Records a verdict on one pending or waiting entry: `waiting` keeps it
/// (with the verdict, no settlement time), any other settles it. Returns
/// its status before and after, or None when it was neither pending nor
/// waiting (already settled: nothing changes).
pub(super) fn settle(
    conn: &Connection,
    seq: i64,
    verdict: &Verdict,
    now: Millis,
) -> Result<Option<(Status, Status)>, JournalError> {
    let before: Option<String> =
        conn.prepare_cached("SELECT status FROM entries WHERE seq = ?1")?.query_row([seq], |r| r.get(0)).optional()?;
    let Some(before) = before.as_deref().and_then(Status::parse).filter(|s| !s.is_final()) else {
        return Ok(None);
    };
    let (after, settled_at) = if verdict.is_waiting() {
        (Status::Waiting, None)
    } else if verdict.is_rejection() {
        (Status::Rejected, Some(now.0))
    } else {
        (Status::Delivered, Some(now.0))
    };
    let json = serde_json::to_string(verdict).map_err(|e| JournalError::Decode(e.to_string()))?;
    let mut stmt = conn.prepare_cached(
        "UPDATE entries SET status = ?2, verdict = ?3, last_error = NULL, settled_at = ?4
         WHERE seq = ?1 AND status IN ('pending', 'waiting')",
    )?;
    let n = stmt.execute(params![seq, after.as_str(), json, settled_at])?;
    Ok((n == 1).then_some((before, after)))
}

/// Puts a waiting entry back to pending (the ledger has no receipt of it:
/// it is sent again). Whether it was waiting.
pub(super) fn unwait(conn: &Connection, seq: i64) -> Result<bool, JournalError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE entries SET status = 'pending', verdict = NULL, settled_at = NULL
         WHERE seq = ?1 AND status = 'waiting'",
    )?;
    Ok(stmt.execute([seq])? == 1)
}

pub(super) fn record_failure(conn: &Connection, seq: i64, error: &str) -> Result<(), JournalError> {
    let mut stmt = conn.prepare_cached(
        "UPDATE entries SET attempts = attempts + 1, last_error = ?2 WHERE seq = ?1 AND status = 'pending'",
    )?;
    stmt.execute(params![seq, error])?;
    Ok(())
}

pub(super) fn compact(conn: &Connection, before: Millis) -> Result<(u64, u64), JournalError> {
    let count = |status: &str| -> Result<u64, JournalError> {
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM entries WHERE status = ?1 AND settled_at < ?2",
            params![status, before.0],
            |r| r.get(0),
        )?;
        Ok(u64::try_from(n).unwrap_or(0))
    };
    let delivered = count("delivered")?;
    let rejected = count("rejected")?;
    conn.execute("DELETE FROM entries WHERE status IN ('delivered', 'rejected') AND settled_at < ?1", [before.0])?;
    Ok((delivered, rejected))
}

pub(super) fn requeue(conn: &Connection, partition: Option<&str>) -> Result<u64, JournalError> {
    let n = match partition {
        Some(p) => conn.execute(
            "UPDATE entries SET status = 'pending', verdict = NULL, settled_at = NULL
             WHERE status != 'pending' AND partition = ?1",
            [p],
        )?,
        None => conn.execute(
            "UPDATE entries SET status = 'pending', verdict = NULL, settled_at = NULL WHERE status != 'pending'",
            [],
        )?,
    };
    Ok(n as u64)
}
