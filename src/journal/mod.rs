//! The durable outbox. Every accepted event is committed to a local SQLite
//! file (WAL, `synchronous=FULL`) before the client hears 2xx, and stays there
//! until the ledger's verdict is recorded.
//!
//! One writer thread owns the write connection and commits whatever arrived
//! while the previous commit was syncing in a single transaction (group
//! commit), so durability costs one fsync per batch of requests, not one per
//! request. Reads use their own connection and never wait for the writer.
//!
//! ## Storage faults
//!
//! A write the storage refuses is told apart by type, never by message:
//! SQLite's result code (`SQLITE_FULL`, `SQLITE_READONLY*`,
//! `SQLITE_CANTOPEN`, `SQLITE_IOERR_*`) and, behind an `SQLITE_IOERR`, the
//! OS error (`sqlite3_system_errno`, as a [`std::io::ErrorKind`]) make a
//! [`StorageFault`]: `full`, `read_only`, `missing` or `io`. Before each
//! group the writer checks two things that do not make SQLite fail:
//!
//! - that the journal's path still names the open file: a moved, deleted or
//!   unmounted directory would otherwise take writes into a file nobody
//!   opens again (`missing`);
//! - that the room left for new data — the volume's free space plus the
//!   journal's free pages, less what the WAL may still grow to, or the room
//!   under the size cap if smaller — is at least the reserve (`reserve`;
//!   taken again from a quarter above it, so that the state does not flap).
//!   The WAL is sized to the volume: checkpointed every 1000 pages, or every
//!   64th of a small volume, and truncated back to that after a checkpoint.
//!
//! Below the reserve only *new* events are refused. Replays of journaled
//! events, the forwarder's verdicts and failures, compaction and requeues
//! still write, into the reserve, so that the service drains itself back to
//! health: once delivered, entries can be dropped early
//! ([`Journal::compact_delivered`]), and the next events reuse their pages.
//!
//! A refused request leaves nothing behind. Each request of a group runs in
//! its own savepoint (a one-event append needs none: its one INSERT undoes
//! itself); and when SQLite rolls the whole transaction back on a storage
//! error (it may, for `SQLITE_FULL` and `SQLITE_IOERR`), the rest of the
//! group is not run outside a transaction but answered with the same error.
//!
//! The state — writable, or the fault and why — is kept in memory for
//! `/readyz` and `/metrics`, logged once per change, and comes back by
//! itself: `reserve` and `missing` when the next check passes; `read_only`,
//! `io` and `full` when a write succeeds again: a new event, or the test
//! write of [`Journal::probe`] (the schema version rewritten: one page, one
//! fsync). A `full` that the measured room confirms (a few pages left)
//! holds new events back until the room grows, so that it does not flap
//! with every small event that still fits.
//!
//! ## A failed fsync
//!
//! After a failed fsync the page cache can no longer be trusted: Linux may
//! have dropped the dirty pages it could not write (marking them clean) and
//! reports the error once, so that a retried fsync succeeds without having
//! written them (PostgreSQL's "fsyncgate", 2018). PostgreSQL's answer, since
//! version 12, is to PANIC (`data_sync_retry = off`) and recover from its
//! WAL on restart; SQLite answers `SQLITE_IOERR_FSYNC` and leaves the rest
//! to the application. The journal does what PostgreSQL does:
//!
//! - the commit whose fsync failed is answered `storage_io_error`, never
//!   acknowledged;
//! - from then on the writer takes nothing: no append, no verdict, no
//!   checkpoint, not even the one SQLite makes when its last connection
//!   closes (the WAL stays as it is on disk);
//! - [`Journal::failed`] tells the service, which stops taking requests,
//!   answers those in flight, and exits with an error, so that its
//!   supervisor restarts it;
//! - on restart SQLite recovers the journal from the WAL on disk. Every
//!   acknowledged event was fsync'd before its 2xx; the failed commit is
//!   either there whole (an event never acknowledged, which the client's
//!   retry then finds as a replay) or not at all: WAL frames are
//!   checksummed.

mod space;
#[cfg(test)]
mod status_tests;
mod store;
#[cfg(test)]
mod tests;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use utoipa::ToSchema;

use crate::domain::{Envelope, EventId, InstanceId, Journaled, Millis, Verdict};

pub use space::{ByteSize, DEFAULT_RESERVE, MIN_MAX_SIZE, Reserve, StorageFault, StorageStatus, human, parse_max_size};
pub use store::JOURNAL_APPLICATION_ID;

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Journaled, not yet settled by the ledger.
    Pending,
    /// The ledger holds it until a prerequisite arrives (its verdict says
    /// what it waits for); the forwarder asks after it until it settles.
    Waiting,
    /// The ledger applied it (or had applied it before: a duplicate).
    Delivered,
    /// The ledger refused it; the verdict says why. Kept, never dropped.
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Waiting => "waiting",
            Status::Delivered => "delivered",
            Status::Rejected => "rejected",
        }
    }

    /// Whether the ledger's verdict is final: delivered or rejected.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Delivered | Status::Rejected)
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Status::Pending),
            "waiting" => Some(Status::Waiting),
            "delivered" => Some(Status::Delivered),
            "rejected" => Some(Status::Rejected),
            _ => None,
        }
    }
}

/// One journaled event and what became of it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// The journal's own order: strictly increasing, never reused.
    pub seq: i64,
    pub envelope: Envelope,
    pub status: Status,
    pub verdict: Option<Verdict>,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub settled_at: Option<Millis>,
}

impl Entry {
    /// The event as the ledger receives it from the journal `instance`.
    pub fn journaled(&self, instance: &InstanceId) -> Journaled {
        Journaled {
            envelope: self.envelope.clone(),
            instance: instance.clone(),
            // Journal seqs are SQLite rowids, 1 and up (checked on read).
            seq: u64::try_from(self.seq).unwrap_or_default(),
        }
    }
}

/// An event to append, with the fingerprint of its request content.
#[derive(Debug, Clone)]
pub struct NewEntry {
    pub envelope: Envelope,
    pub fingerprint: [u8; 32],
}

/// A new entry with its columns computed on the caller's task, so that the
/// single writer thread only talks to SQLite.
pub(crate) struct Prepared {
    entry: NewEntry,
    event_id: String,
    partition: String,
    kind: &'static str,
    json: String,
}

impl Prepared {
    fn new(entry: NewEntry) -> Result<Self, JournalError> {
        let json = serde_json::to_string(&entry.envelope).map_err(|e| JournalError::Decode(e.to_string()))?;
        Ok(Self {
            event_id: entry.envelope.event_id.to_string(),
            partition: entry.envelope.event.partition().key(),
            kind: entry.envelope.event.kind().as_str(),
            json,
            entry,
        })
    }
}

/// What an append did with one event.
#[derive(Debug, Clone, PartialEq)]
pub enum Appended {
    /// Newly journaled.
    New(Entry),
    /// The same id with the same content was journaled before: nothing
    /// changed; this is the entry as it stands.
    Replay(Entry),
}

impl Appended {
    pub fn entry(&self) -> &Entry {
        match self {
            Appended::New(e) | Appended::Replay(e) => e,
        }
    }
}

/// Counts of the journal, for `/readyz`, `/version` and `/metrics`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Depth {
    pub pending: u64,
    /// Entries the ledger keeps waiting for a prerequisite.
    pub waiting: u64,
    pub delivered: u64,
    pub rejected: u64,
}

/// What the journal holds beyond its counts, for the deployment report.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    /// When the oldest pending entry was received (epoch ms).
    pub oldest_pending_received_at: Option<Millis>,
    /// When an entry was last settled by the ledger (epoch ms).
    pub last_settled_at: Option<Millis>,
    /// Rejected entries kept within retention, by rejection code.
    pub rejected_by_code: std::collections::BTreeMap<String, u64>,
}

/// Why the journal could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    #[error("event {event_id} was journaled before with different content")]
    Conflict { event_id: EventId },
    #[error("the journal holds {pending} undelivered events, its limit is {limit}")]
    Full { pending: u64, limit: u64 },
    #[error("the journal is closed")]
    Closed,
    #[error("{path} is not a shootlog journal: {reason}")]
    NotAJournal { path: PathBuf, reason: String },
    #[error("journal commit failed: {0}")]
    Commit(String),
    #[error("journal storage failed: {0}")]
    Storage(#[from] rusqlite::Error),
    #[error("journal data could not be read: {0}")]
    Decode(String),
    #[error("journal I/O failed: {0}")]
    Io(#[from] std::io::Error),
    /// The storage failed a write (or a read), or the journal refuses new
    /// events to keep its reserve; `detail` says why, for the client.
    #[error("{detail}")]
    Unwritable { fault: StorageFault, detail: String },
}

impl JournalError {
    /// The storage fault behind this error, if it is one.
    pub fn storage_fault(&self) -> Option<StorageFault> {
        match self {
            JournalError::Unwritable { fault, .. } => Some(*fault),
            JournalError::Storage(e) => StorageFault::of_sqlite(e, None),
            JournalError::Io(e) => StorageFault::of_io(e),
            _ => None,
        }
    }
}

/// Settings of the journal.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// Appends answer [`JournalError::Full`] beyond this many pending events.
    pub max_pending: u64,
    /// Most requests committed in one transaction.
    pub max_group: usize,
    /// Below this much room for new data, new events are refused
    /// ([`StorageFault::Reserve`]).
    pub reserve: Reserve,
    /// The largest the database may grow (SQLite's `max_page_count`);
    /// beyond, writes fail with [`StorageFault::Full`].
    pub max_bytes: Option<u64>,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self { max_pending: 1_000_000, max_group: 512, reserve: DEFAULT_RESERVE, max_bytes: None }
    }
}

struct Shared {
    pending: AtomicU64,
    waiting: AtomicU64,
    delivered: AtomicU64,
    rejected: AtomicU64,
    commits: AtomicU64,
    /// Duration (seconds) and size (events appended or settled) of each
    /// group commit.
    commit_seconds: prometheus_client::metrics::histogram::Histogram,
    commit_events: prometheus_client::metrics::histogram::Histogram,
    /// Bumped after every commit that settled entries; waiters for verdicts
    /// watch it.
    settled: watch::Sender<u64>,
    /// Woken after every commit that journaled new entries.
    appended: tokio::sync::Notify,
    /// Whether the storage takes writes, and how much room is left.
    health: space::Health,
}

/// A handle on the journal; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::UnboundedSender<writer::Command>,
    reader: Arc<Mutex<Connection>>,
    shared: Arc<Shared>,
    path: Arc<PathBuf>,
    instance: Arc<InstanceId>,
    writer_thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl Journal {
    /// Opens (or creates) the journal file, checks that it is a journal and
    /// that its pages are sound, and starts the writer thread.
    pub fn open(path: &Path, options: JournalOptions) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir).map_err(|e| unwritable(Some(dir), e))?;
        }
        writable_file(path)?;
        let write_conn = store::open_writer(path)?;
        if let Some(max) = options.max_bytes {
            store::cap_size(&write_conn, max)?;
        }
        let instance = store::instance_id(&write_conn, path)?;
        let depth = store::depth(&write_conn)?;
        let reader = store::open_reader(path)?;
        let (settled, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            pending: AtomicU64::new(depth.pending),
            waiting: AtomicU64::new(depth.waiting),
            delivered: AtomicU64::new(depth.delivered),
            rejected: AtomicU64::new(depth.rejected),
            commits: AtomicU64::new(0),
            commit_seconds: crate::telemetry::duration_histogram(),
            commit_events: crate::telemetry::size_histogram(),
            settled,
            appended: tokio::sync::Notify::new(),
            health: space::Health::new(path, options.max_bytes),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let thread = writer::spawn(write_conn, path, rx, options, shared.clone())?;
        Ok(Self {
            tx,
            reader: Arc::new(Mutex::new(reader)),
            shared,
            path: Arc::new(path.to_path_buf()),
            instance: Arc::new(instance),
            writer_thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal's stable instance id (kept in the journal file): with
    /// each entry's seq, where the ledger learns an event was journaled.
    pub fn instance_id(&self) -> &InstanceId {
        &self.instance
    }

    /// Journals a batch atomically: either every event is committed (new or
    /// replayed) or none is. Returns after the commit is on disk.
    pub async fn append(&self, entries: Vec<NewEntry>) -> Result<Vec<Appended>, JournalError> {
        let entries = entries.into_iter().map(Prepared::new).collect::<Result<Vec<_>, _>>()?;
        self.ask(|reply| writer::Command::Op(writer::Op::Append { entries, reply })).await?
    }

    /// Records the ledger's verdicts (by journal seq) on pending or waiting
    /// entries: a `waiting` verdict makes the entry waiting (the forwarder
    /// no longer sends it, it asks after it), any other settles it.
    /// `attempts` counts only failed rounds ([`Journal::record_failure`]):
    /// an event settled on its first try reads 0.
    pub async fn settle(&self, verdicts: Vec<(i64, Verdict)>) -> Result<(), JournalError> {
        self.ask(|reply| writer::Command::Op(writer::Op::Settle { verdicts, reply })).await?
    }

    /// Puts waiting entries back to pending, to be sent again (the ledger
    /// has no receipt of them). Returns how many were waiting.
    pub async fn unwait(&self, seqs: Vec<i64>) -> Result<u64, JournalError> {
        self.ask(|reply| writer::Command::Op(writer::Op::Unwait { seqs, reply })).await?
    }

    /// Notes a failed delivery attempt of these entries (they stay pending).
    pub async fn record_failure(&self, seqs: Vec<i64>, error: String) -> Result<(), JournalError> {
        self.ask(|reply| writer::Command::Op(writer::Op::Failure { seqs, error, reply })).await?
    }

    /// Deletes settled entries older than `before`; returns how many.
    pub async fn compact(&self, before: Millis) -> Result<u64, JournalError> {
        self.ask(|reply| writer::Command::Op(writer::Op::Compact { before, reply })).await?
    }

    /// Marks settled entries pending again (all, or one session's), so that
    /// the forwarder re-sends them. Returns how many.
    pub async fn requeue(&self, partition: Option<String>) -> Result<u64, JournalError> {
        self.ask(|reply| writer::Command::Op(writer::Op::Requeue { partition, reply })).await?
    }

    async fn ask<T>(&self, make: impl FnOnce(oneshot::Sender<T>) -> writer::Command) -> Result<T, JournalError> {
        let (reply, rx) = oneshot::channel();
        self.tx.send(make(reply)).map_err(|_| JournalError::Closed)?;
        rx.await.map_err(|_| JournalError::Closed)
    }

    /// One entry by event id.
    pub async fn get(&self, id: EventId) -> Result<Option<Entry>, JournalError> {
        self.read(move |c| store::get(c, id)).await
    }

    /// A partition's entries in journal order, after `after_seq`.
    pub async fn partition_entries(
        &self,
        partition: String,
        after_seq: i64,
        limit: u32,
    ) -> Result<Vec<Entry>, JournalError> {
        self.read(move |c| store::partition_entries(c, &partition, after_seq, limit)).await
    }

    /// The oldest pending entries in journal order (the forwarder's next
    /// batch), skipping those with seq <= `after_seq`.
    pub async fn pending(&self, after_seq: i64, limit: u32) -> Result<Vec<Entry>, JournalError> {
        self.read(move |c| store::pending(c, after_seq, limit)).await
    }

    /// The oldest waiting entries in journal order, skipping those with
    /// seq <= `after_seq`.
    pub async fn waiting(&self, after_seq: i64, limit: u32) -> Result<Vec<Entry>, JournalError> {
        self.read(move |c| store::waiting(c, after_seq, limit)).await
    }

    /// Every entry after `after_seq`, whatever its status, in journal order.
    pub async fn after(&self, after_seq: i64, limit: u32) -> Result<Vec<Entry>, JournalError> {
        self.read(move |c| store::after(c, after_seq, limit)).await
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().map_err(|_| JournalError::Closed)?;
            f(&conn).map_err(|e| space::read_error(&conn, e))
        })
        .await
        .map_err(|_| JournalError::Closed)?
    }

    /// The oldest pending entry, the last settlement, rejections by code.
    pub async fn report(&self) -> Result<Report, JournalError> {
        self.read(store::report).await
    }

    /// Counts by status, kept in memory (no query).
    pub fn depth(&self) -> Depth {
        Depth {
            pending: self.shared.pending.load(Ordering::Relaxed),
            waiting: self.shared.waiting.load(Ordering::Relaxed),
            delivered: self.shared.delivered.load(Ordering::Relaxed),
            rejected: self.shared.rejected.load(Ordering::Relaxed),
        }
    }

    /// Transactions committed since open.
    /// The histograms of the group commits' duration (seconds) and size
    /// (events appended or settled), for `/metrics`.
    pub fn commit_histograms(
        &self,
    ) -> (prometheus_client::metrics::histogram::Histogram, prometheus_client::metrics::histogram::Histogram) {
        (self.shared.commit_seconds.clone(), self.shared.commit_events.clone())
    }

    /// When the oldest pending event was received (one indexed read).
    pub async fn oldest_pending_received_at(&self) -> Result<Option<Millis>, JournalError> {
        self.read(store::oldest_pending).await
    }

    pub fn commits(&self) -> u64 {
        self.shared.commits.load(Ordering::Relaxed)
    }

    /// A receiver that changes after every commit that settled entries.
    pub fn settled_watch(&self) -> watch::Receiver<u64> {
        self.shared.settled.subscribe()
    }

    /// Resolves when new entries have been committed since the last call
    /// (or at once, if some were committed meanwhile).
    pub async fn appended(&self) {
        self.shared.appended.notified().await;
    }

    /// Whether the journal takes new events: its storage checks pass and
    /// the file takes a test write (one page, one fsync).
    pub async fn probe(&self) -> Result<(), JournalError> {
        self.ask(|reply| writer::Command::Op(writer::Op::Probe { write: true, reply })).await?
    }

    /// Runs the storage checks (the file is still there, the room left
    /// against the reserve) without writing; refreshes [`Journal::storage`].
    pub async fn check_storage(&self) -> Result<(), JournalError> {
        self.ask(|reply| writer::Command::Op(writer::Op::Probe { write: false, reply })).await?
    }

    /// The journal's storage as last measured (no I/O).
    pub fn storage(&self) -> StorageStatus {
        self.shared.health.status()
    }

    /// Why the journal does not take new events, if it does not.
    pub fn storage_fault(&self) -> Option<(StorageFault, String)> {
        self.shared.health.fault()
    }

    /// Write requests refused for each storage fault since open.
    pub fn storage_refusals(&self) -> [(StorageFault, u64); 5] {
        self.shared.health.refusals()
    }

    /// Deletes up to `limit` delivered entries, oldest first, whatever their
    /// age: the ledger holds them. Pending and rejected entries are kept.
    /// For storage pressure only: replays of the dropped ids are journaled
    /// anew, and the ledger answers `duplicate`. Returns how many.
    pub async fn compact_delivered(&self, limit: u32) -> Result<u64, JournalError> {
        self.ask(|reply| writer::Command::Op(writer::Op::Shed { limit, reply })).await?
    }

    /// Checkpoints the WAL into the database and truncates it, giving its
    /// space back to the volume (skipped while a reader holds it).
    pub async fn checkpoint(&self) -> Result<(), JournalError> {
        self.ask(|reply| writer::Command::Checkpoint { reply }).await?
    }

    /// Resolves once an fsync of the journal failed: it takes nothing more
    /// and the process should exit, to recover from the WAL on restart (see
    /// the module docs). Never resolves otherwise.
    pub async fn failed(&self) {
        let mut rx = self.shared.health.fatal_watch();
        if rx.wait_for(|fatal| *fatal).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Whether an fsync of the journal failed.
    pub fn has_failed(&self) -> bool {
        self.shared.health.is_fatal()
    }

    /// Stops the writer after what it has queued is committed.
    pub async fn close(&self) {
        let _ = self.tx.send(writer::Command::Shutdown);
        let handle = self.writer_thread.lock().ok().and_then(|mut h| h.take());
        if let Some(h) = handle {
            let _ = tokio::task::spawn_blocking(move || h.join()).await;
        }
    }
}

/// Checks, with a typed error, that the journal file can be opened for
/// writing (created if missing), before SQLite reports it as a bare
/// `SQLITE_CANTOPEN`.
fn writable_file(path: &Path) -> Result<(), JournalError> {
    std::fs::OpenOptions::new().create(true).append(true).open(path).map(drop).map_err(|e| unwritable(None, e))
}

/// An I/O error at open, as a storage fault where it is one; `dir` when it
/// was the directory's (the caller names the journal's path).
fn unwritable(dir: Option<&Path>, e: std::io::Error) -> JournalError {
    let Some(fault) = StorageFault::of_io(&e) else {
        return JournalError::Io(e);
    };
    let what = match fault {
        StorageFault::Full | StorageFault::Reserve => "the volume is full",
        StorageFault::ReadOnly => "the file system is read-only or denies writing",
        StorageFault::Missing => "a directory on the way is missing",
        StorageFault::Io => "an I/O error",
    };
    let detail = match dir {
        Some(dir) => format!("its directory {}: {what} ({e})", dir.display()),
        None => format!("{what} ({e})"),
    };
    JournalError::Unwritable { fault, detail }
}
