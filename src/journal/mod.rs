//! The durable outbox. Every accepted event is committed to a local SQLite
//! file (WAL, `synchronous=FULL`) before the client hears 2xx, and stays there
//! until the ledger's verdict is recorded.
//!
//! One writer thread owns the write connection and commits whatever arrived
//! while the previous commit was syncing in a single transaction (group
//! commit), so durability costs one fsync per batch of requests, not one per
//! request. Reads use their own connection and never wait for the writer.

mod store;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::Connection;
use serde::Serialize;
use tokio::sync::{mpsc, oneshot, watch};
use utoipa::ToSchema;

use crate::domain::{Envelope, EventId, Millis, Verdict};

pub use store::JOURNAL_APPLICATION_ID;

/// Where an entry stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Journaled, not yet settled by the ledger.
    Pending,
    /// The ledger applied it (or had applied it before: a duplicate).
    Delivered,
    /// The ledger refused it; the verdict says why. Kept, never dropped.
    Rejected,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Delivered => "delivered",
            Status::Rejected => "rejected",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Status::Pending),
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
}

/// Settings of the journal.
#[derive(Debug, Clone)]
pub struct JournalOptions {
    /// Appends answer [`JournalError::Full`] beyond this many pending events.
    pub max_pending: u64,
    /// Most requests committed in one transaction.
    pub max_group: usize,
}

impl Default for JournalOptions {
    fn default() -> Self {
        Self { max_pending: 1_000_000, max_group: 512 }
    }
}

struct Shared {
    pending: AtomicU64,
    delivered: AtomicU64,
    rejected: AtomicU64,
    commits: AtomicU64,
    /// Bumped after every commit that settled entries; waiters for verdicts
    /// watch it.
    settled: watch::Sender<u64>,
    /// Woken after every commit that journaled new entries.
    appended: tokio::sync::Notify,
}

/// A handle on the journal; cheap to clone.
#[derive(Clone)]
pub struct Journal {
    tx: mpsc::UnboundedSender<writer::Command>,
    reader: Arc<Mutex<Connection>>,
    shared: Arc<Shared>,
    path: Arc<PathBuf>,
    writer_thread: Arc<Mutex<Option<std::thread::JoinHandle<()>>>>,
}

impl Journal {
    /// Opens (or creates) the journal file, checks that it is a journal and
    /// that its pages are sound, and starts the writer thread.
    pub fn open(path: &Path, options: JournalOptions) -> Result<Self, JournalError> {
        if let Some(dir) = path.parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let write_conn = store::open_writer(path)?;
        let depth = store::depth(&write_conn)?;
        let reader = store::open_reader(path)?;
        let (settled, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            pending: AtomicU64::new(depth.pending),
            delivered: AtomicU64::new(depth.delivered),
            rejected: AtomicU64::new(depth.rejected),
            commits: AtomicU64::new(0),
            settled,
            appended: tokio::sync::Notify::new(),
        });
        let (tx, rx) = mpsc::unbounded_channel();
        let thread = writer::spawn(write_conn, rx, options, shared.clone())?;
        Ok(Self {
            tx,
            reader: Arc::new(Mutex::new(reader)),
            shared,
            path: Arc::new(path.to_path_buf()),
            writer_thread: Arc::new(Mutex::new(Some(thread))),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Journals a batch atomically: either every event is committed (new or
    /// replayed) or none is. Returns after the commit is on disk.
    pub async fn append(&self, entries: Vec<NewEntry>) -> Result<Vec<Appended>, JournalError> {
        let entries = entries.into_iter().map(Prepared::new).collect::<Result<Vec<_>, _>>()?;
        self.ask(|reply| writer::Command::Op(writer::Op::Append { entries, reply })).await?
    }

    /// Records the ledger's verdicts (by journal seq) and counts attempts.
    pub async fn settle(&self, verdicts: Vec<(i64, Verdict)>) -> Result<(), JournalError> {
        self.ask(|reply| writer::Command::Op(writer::Op::Settle { verdicts, reply })).await?
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

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, JournalError> + Send + 'static,
    ) -> Result<T, JournalError> {
        let reader = self.reader.clone();
        tokio::task::spawn_blocking(move || {
            let conn = reader.lock().map_err(|_| JournalError::Closed)?;
            f(&conn)
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
            delivered: self.shared.delivered.load(Ordering::Relaxed),
            rejected: self.shared.rejected.load(Ordering::Relaxed),
        }
    }

    /// Transactions committed since open.
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

    /// Whether the writer still runs and the file takes a write.
    pub async fn probe(&self) -> Result<(), JournalError> {
        self.ask(|reply| writer::Command::Op(writer::Op::Probe { reply })).await?
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
