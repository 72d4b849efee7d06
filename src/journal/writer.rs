//! The single writer: group commit of everything that queued up while the
//! previous transaction was being synced, and the storage checks that
//! decide whether new events are taken (see the module docs).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use rusqlite::Connection;
use rusqlite::config::DbConfig;
use tokio::sync::{mpsc, oneshot};

use super::space::{self, FileIdentity, Health, Measure, StorageFault, human};
use super::{Appended, JournalError, JournalOptions, Prepared, Shared, Status, store};
use crate::domain::{Millis, Verdict};

type Reply<T> = oneshot::Sender<Result<T, JournalError>>;

pub(super) enum Command {
    Op(Op),
    /// Checkpoint and truncate the WAL, after the group's commit.
    Checkpoint {
        reply: Reply<()>,
    },
    Shutdown,
}

pub(super) enum Op {
    Append {
        entries: Vec<Prepared>,
        reply: Reply<Vec<Appended>>,
    },
    Settle {
        verdicts: Vec<(i64, Verdict)>,
        reply: Reply<()>,
    },
    Failure {
        seqs: Vec<i64>,
        error: String,
        reply: Reply<()>,
    },
    Unwait {
        seqs: Vec<i64>,
        reply: Reply<u64>,
    },
    Compact {
        before: Millis,
        reply: Reply<u64>,
    },
    Requeue {
        partition: Option<String>,
        reply: Reply<u64>,
    },
    Shed {
        limit: u32,
        reply: Reply<u64>,
    },
    /// The storage checks, and with `write` a test write.
    Probe {
        write: bool,
        reply: Reply<()>,
    },
}

impl Op {
    /// The events a command writes: entries appended, verdicts recorded.
    fn events(&self) -> usize {
        match self {
            Op::Append { entries, .. } => entries.len(),
            Op::Settle { verdicts, .. } => verdicts.len(),
            _ => 0,
        }
    }
}

pub(super) fn spawn(
    conn: Connection,
    path: &Path,
    rx: mpsc::UnboundedReceiver<Command>,
    options: JournalOptions,
    shared: Arc<Shared>,
) -> Result<std::thread::JoinHandle<()>, JournalError> {
    let identity = FileIdentity::of(path)?;
    let page_size = store::page_size(&conn)?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let volume_size = space::volume(&dir).ok().map(|v| v.size);
    let wal_allowance = store::tune_wal(&conn, page_size, volume_size)?;
    let mut writer = Writer {
        conn,
        options,
        shared,
        path: path.to_path_buf(),
        dir,
        identity,
        page_size,
        gate_fault: None,
        wal_allowance,
        fatal: None,
        full_at: None,
        full_now: false,
    };
    // The state from the first moment, for `/readyz` and `/metrics`.
    let gate = writer.gate();
    writer.note_gate(&gate);
    Ok(std::thread::Builder::new().name("journal-writer".into()).spawn(move || writer.run(rx))?)
}

struct Writer {
    conn: Connection,
    options: JournalOptions,
    shared: Arc<Shared>,
    path: PathBuf,
    dir: PathBuf,
    /// The file opened, to notice when the path names another (or none).
    identity: FileIdentity,
    page_size: u64,
    /// The current fault, when it came from the checks before a group
    /// (cleared when they pass) rather than from a failed write (cleared
    /// when a write succeeds).
    gate_fault: Option<StorageFault>,
    /// The most the WAL grows to between checkpoints: room on the volume
    /// that is spoken for.
    wal_allowance: u64,
    /// Set once an fsync failed: the writer takes nothing more.
    fatal: Option<String>,
    /// The room measured after a write failed with `Full`, if fewer than
    /// [`FULL_HOLD_PAGES`] pages were left: new events wait until the room
    /// grows, rather than each failing on its own.
    full_at: Option<u64>,
    /// A write failed with `Full` in this group: measure once it is over.
    full_now: bool,
}

/// A `Full` that the measured room confirms (fewer pages than this left)
/// holds until the room grows. Any other (a batch larger than the room, a
/// quota, a layer below the file system) is cleared by the next write that
/// succeeds.
const FULL_HOLD_PAGES: u64 = 16;

/// Whether new events may be journaled now; if not, the fault and why.
type Gate = Result<(), (StorageFault, String)>;

/// Why a command, or a whole group, failed.
#[derive(Clone)]
struct Failure {
    fault: Option<StorageFault>,
    detail: String,
}

impl Failure {
    fn of(e: &JournalError) -> Self {
        match e {
            JournalError::Unwritable { fault, detail } => Self { fault: Some(*fault), detail: detail.clone() },
            other => Self { fault: other.storage_fault(), detail: other.to_string() },
        }
    }

    fn error(&self) -> JournalError {
        match self.fault {
            Some(fault) => JournalError::Unwritable { fault, detail: self.detail.clone() },
            None => JournalError::Commit(self.detail.clone()),
        }
    }
}

/// What a command will answer once its transaction commits.
enum Done {
    Append(Reply<Vec<Appended>>, Result<Vec<Appended>, JournalError>),
    Unit(Reply<()>, Result<(), JournalError>),
    Count(Reply<u64>, Result<u64, JournalError>),
}

impl Done {
    fn error(&self) -> Option<&JournalError> {
        match self {
            Done::Append(_, r) => r.as_ref().err(),
            Done::Unit(_, r) => r.as_ref().err(),
            Done::Count(_, r) => r.as_ref().err(),
        }
    }

    fn map_err(self, f: impl FnOnce(JournalError) -> JournalError) -> Self {
        match self {
            Done::Append(reply, r) => Done::Append(reply, r.map_err(f)),
            Done::Unit(reply, r) => Done::Unit(reply, r.map_err(f)),
            Done::Count(reply, r) => Done::Count(reply, r.map_err(f)),
        }
    }

    /// Answers, counting a refused append by its storage fault.
    fn send(self, health: &Health) {
        match self {
            Done::Append(reply, r) => {
                if let Err(JournalError::Unwritable { fault, .. }) = &r {
                    health.count_refusal(*fault);
                }
                drop(reply.send(r));
            }
            Done::Unit(reply, r) => drop(reply.send(r)),
            Done::Count(reply, r) => drop(reply.send(r)),
        }
    }

    /// Answers `f` instead of what the command did (its transaction did
    /// not commit).
    fn fail(self, f: &Failure, health: &Health) {
        self.with_error(f).send(health);
    }

    fn with_error(self, f: &Failure) -> Self {
        match self {
            Done::Append(reply, _) => Done::Append(reply, Err(f.error())),
            Done::Unit(reply, _) => Done::Unit(reply, Err(f.error())),
            Done::Count(reply, _) => Done::Count(reply, Err(f.error())),
        }
    }
}

/// Answers a command that was not run.
fn refuse(op: Op, f: &Failure, health: &Health) {
    let done = match op {
        Op::Append { reply, .. } => Done::Append(reply, Err(f.error())),
        Op::Settle { reply, .. } | Op::Failure { reply, .. } | Op::Probe { reply, .. } => {
            Done::Unit(reply, Err(f.error()))
        }
        Op::Compact { reply, .. } | Op::Requeue { reply, .. } | Op::Shed { reply, .. } | Op::Unwait { reply, .. } => {
            Done::Count(reply, Err(f.error()))
        }
    };
    done.send(health);
}

/// Changes to the in-memory counters, applied only once the commit succeeded.
#[derive(Default)]
struct Delta {
    pending: i64,
    waiting: i64,
    delivered: i64,
    rejected: i64,
    settled_any: bool,
    recount: bool,
}

impl Delta {
    /// The counter of a status.
    fn count(&mut self, status: Status) -> &mut i64 {
        match status {
            Status::Pending => &mut self.pending,
            Status::Waiting => &mut self.waiting,
            Status::Delivered => &mut self.delivered,
            Status::Rejected => &mut self.rejected,
        }
    }
}

impl Writer {
    fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let mut shutdown = false;
        while !shutdown {
            let Some(first) = rx.blocking_recv() else {
                break;
            };
            let mut group = vec![first];
            while group.len() < self.options.max_group {
                match rx.try_recv() {
                    Ok(cmd) => group.push(cmd),
                    Err(_) => break,
                }
            }
            shutdown = self.commit_group(group);
        }
        // Queued commands after a shutdown are answered `Closed` by dropping
        // their reply senders. After a failed fsync nothing is written, not
        // even a checkpoint: the WAL on disk is what a restart recovers.
        if self.fatal.is_none() {
            let _ = self.conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
        }
    }

    /// Runs a group of commands in one transaction, each in its own savepoint
    /// so that one failing command (a conflict) leaves the others intact.
    /// Returns whether a shutdown was asked for.
    fn commit_group(&mut self, group: Vec<Command>) -> bool {
        let mut shutdown = false;
        let mut ops = Vec::with_capacity(group.len());
        let mut checkpoints = Vec::new();
        for cmd in group {
            match cmd {
                Command::Shutdown => shutdown = true,
                Command::Checkpoint { reply } => checkpoints.push(reply),
                Command::Op(op) => ops.push(op),
            }
        }
        if let Some(detail) = &self.fatal {
            let f = Failure { fault: Some(StorageFault::Io), detail: detail.clone() };
            for op in ops {
                refuse(op, &f, &self.shared.health);
            }
            for reply in checkpoints {
                let _ = reply.send(Err(f.error()));
            }
            return shutdown;
        }
        let gate = self.gate();
        self.note_gate(&gate);
        if !ops.is_empty() {
            let size: usize = ops.iter().map(Op::events).sum();
            let started = std::time::Instant::now();
            self.transact(ops, &gate);
            self.shared.commit_seconds.observe(started.elapsed().as_secs_f64());
            self.shared.commit_events.observe(size as f64);
        }
        if std::mem::take(&mut self.full_now) {
            let brim = FULL_HOLD_PAGES.saturating_mul(self.page_size);
            self.full_at = self.measure().room.filter(|room| *room < brim);
        }
        for reply in checkpoints {
            let _ = reply.send(self.checkpoint());
        }
        shutdown
    }

    fn transact(&mut self, ops: Vec<Op>, gate: &Gate) {
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let f = self.failure(e);
            for op in ops {
                refuse(op, &f, &self.shared.health);
            }
            return;
        }
        let mut done = Vec::with_capacity(ops.len());
        let mut delta = Delta::default();
        let mut wrote = false;
        let mut aborted: Option<Failure> = None;
        for op in ops {
            if let Some(f) = &aborted {
                refuse(op, f, &self.shared.health);
                continue;
            }
            let (d, w) = self.run_in_savepoint(op, &mut delta, gate);
            wrote |= w;
            // On some storage errors SQLite rolls the whole transaction
            // back: what the group did so far is gone, and what is left of
            // it must not run outside a transaction.
            if self.conn.is_autocommit() {
                aborted = Some(d.error().map(Failure::of).unwrap_or_else(|| Failure {
                    fault: None,
                    detail: "the journal's transaction was rolled back".into(),
                }));
            }
            done.push(d);
        }
        if let Some(f) = aborted {
            for d in done {
                d.fail(&f, &self.shared.health);
            }
            return;
        }
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => {
                self.apply(delta);
                if wrote && gate.is_ok() {
                    self.shared.health.set(None, "");
                }
                for d in done {
                    d.send(&self.shared.health);
                }
            }
            Err(e) => {
                let f = self.failure(e);
                let _ = self.conn.execute_batch("ROLLBACK");
                for d in done {
                    d.fail(&f, &self.shared.health);
                }
            }
        }
    }

    /// Runs one command; returns what it will answer and whether it wrote.
    fn run_in_savepoint(&mut self, cmd: Op, delta: &mut Delta, gate: &Gate) -> (Done, bool) {
        let mut local = Delta::default();
        // A one-event append writes nothing before it can fail (conflict,
        // full; a failing statement undoes itself), so it needs no
        // savepoint. Anything else may fail half-way.
        let alone = matches!(&cmd, Op::Append { entries, .. } if entries.len() == 1);
        let sp = !alone && self.exec("SAVEPOINT cmd");
        let refusal = gate.as_ref().err();
        let mut wrote = true;
        let done = match cmd {
            Op::Append { entries, reply } => {
                let r = self.append(entries, delta.pending, refusal, &mut local);
                wrote = local.pending > 0;
                Done::Append(reply, r)
            }
            Op::Settle { verdicts, reply } => Done::Unit(reply, self.settle(verdicts, &mut local)),
            Op::Failure { seqs, error, reply } => {
                Done::Unit(reply, seqs.iter().try_for_each(|s| store::record_failure(&self.conn, *s, &error)))
            }
            Op::Unwait { seqs, reply } => {
                let r = self.unwait(&seqs, &mut local);
                Done::Count(reply, r)
            }
            Op::Compact { before, reply } => {
                local.recount = true;
                Done::Count(reply, store::compact(&self.conn, before).map(|(d, r)| d + r))
            }
            Op::Requeue { partition, reply } => {
                local.recount = true;
                Done::Count(reply, store::requeue(&self.conn, partition.as_deref()))
            }
            Op::Shed { limit, reply } => {
                local.recount = true;
                Done::Count(reply, store::shed_delivered(&self.conn, limit))
            }
            Op::Probe { write, reply } => {
                wrote = write;
                let r = match refusal {
                    Some((fault, detail)) => Err(JournalError::Unwritable { fault: *fault, detail: detail.clone() }),
                    None if write => store::test_write(&self.conn),
                    None => Ok(()),
                };
                Done::Unit(reply, r)
            }
        };
        // Classified before anything else runs on the connection: the OS
        // error behind it is the connection's last.
        let done = done.map_err(|e| self.classify(e));
        let ok = done.error().is_none();
        if ok {
            if sp {
                self.exec("RELEASE cmd");
            }
            delta.pending += local.pending;
            delta.waiting += local.waiting;
            delta.delivered += local.delivered;
            delta.rejected += local.rejected;
            delta.settled_any |= local.settled_any;
            delta.recount |= local.recount;
        } else if sp {
            self.exec("ROLLBACK TO cmd");
            self.exec("RELEASE cmd");
        }
        (done, ok && wrote)
    }

    /// Runs a cached statement without parameters; whether it succeeded.
    fn exec(&self, sql: &str) -> bool {
        self.conn.prepare_cached(sql).and_then(|mut st| st.execute([])).is_ok()
    }

    fn append(
        &mut self,
        entries: Vec<Prepared>,
        group_pending: i64,
        refusal: Option<&(StorageFault, String)>,
        delta: &mut Delta,
    ) -> Result<Vec<Appended>, JournalError> {
        let pending = self.shared.pending.load(Ordering::Relaxed).saturating_add_signed(group_pending);
        let mut out = Vec::with_capacity(entries.len());
        let mut new = 0u64;
        for p in entries {
            let id = p.entry.envelope.event_id;
            match store::find(&self.conn, id)? {
                Some((fp, entry)) if fp == p.entry.fingerprint => out.push(Appended::Replay(entry)),
                Some(_) => return Err(JournalError::Conflict { event_id: id }),
                None => {
                    // Replays are answered whatever the storage; only what
                    // would be written is refused.
                    if let Some((fault, detail)) = refusal {
                        return Err(JournalError::Unwritable { fault: *fault, detail: detail.clone() });
                    }
                    if pending + new >= self.options.max_pending {
                        return Err(JournalError::Full { pending, limit: self.options.max_pending });
                    }
                    out.push(Appended::New(store::insert(&self.conn, p)?));
                    new += 1;
                }
            }
        }
        delta.pending += new as i64;
        Ok(out)
    }

    fn settle(&mut self, verdicts: Vec<(i64, Verdict)>, delta: &mut Delta) -> Result<(), JournalError> {
        let now = Millis::now();
        for (seq, verdict) in verdicts {
            let Some((before, after)) = store::settle(&self.conn, seq, &verdict, now)? else {
                continue;
            };
            *delta.count(before) -= 1;
            *delta.count(after) += 1;
            delta.settled_any = true;
        }
        Ok(())
    }

    fn unwait(&mut self, seqs: &[i64], delta: &mut Delta) -> Result<u64, JournalError> {
        let mut n = 0;
        for seq in seqs {
            if store::unwait(&self.conn, *seq)? {
                n += 1;
            }
        }
        delta.waiting -= n;
        delta.pending += n;
        delta.settled_any |= n > 0;
        Ok(n as u64)
    }

    fn apply(&self, delta: Delta) {
        let s = &self.shared;
        s.commits.fetch_add(1, Ordering::Relaxed);
        if delta.recount {
            if let Ok(d) = store::depth(&self.conn) {
                s.pending.store(d.pending, Ordering::Relaxed);
                s.waiting.store(d.waiting, Ordering::Relaxed);
                s.delivered.store(d.delivered, Ordering::Relaxed);
                s.rejected.store(d.rejected, Ordering::Relaxed);
            }
        } else {
            add(&s.pending, delta.pending);
            add(&s.waiting, delta.waiting);
            add(&s.delivered, delta.delivered);
            add(&s.rejected, delta.rejected);
        }
        if delta.pending > 0 {
            s.appended.notify_one();
        }
        if delta.settled_any || delta.recount {
            s.settled.send_modify(|g| *g += 1);
        }
    }

    fn checkpoint(&mut self) -> Result<(), JournalError> {
        match self.conn.pragma_update(None, "wal_checkpoint", "TRUNCATE") {
            Ok(()) => Ok(()),
            Err(e) => Err(self.failure(e).error()),
        }
    }

    /// The checks before a group: the path still names the open file, the
    /// file system is writable, and the room left is at least the reserve.
    fn gate(&mut self) -> Gate {
        match FileIdentity::of(&self.path) {
            Ok(id) if id == self.identity => {}
            Ok(_) => {
                return Err((
                    StorageFault::Missing,
                    "the journal file was replaced: its path names another file than the one the service has open"
                        .into(),
                ));
            }
            Err(e) => {
                let fault = match StorageFault::of_io(&e) {
                    Some(StorageFault::Io) | None => StorageFault::Missing,
                    Some(f) => f,
                };
                return Err((fault, format!("the journal file is gone (moved, deleted or unmounted): {e}")));
            }
        }
        let m = self.measure();
        self.shared.health.record(&m);
        if m.volume.is_some_and(|v| v.read_only) {
            return Err((StorageFault::ReadOnly, "the journal's file system is mounted read-only".into()));
        }
        let full = match (m.by_cap, self.options.max_bytes) {
            (true, Some(max)) => format!("the journal reached its size cap of {}", human(max)),
            _ => "the journal's volume is full".to_string(),
        };
        if let Some(at) = self.full_at {
            if m.room.is_none_or(|room| room < at.saturating_add(self.page_size)) {
                return Err((StorageFault::Full, full));
            }
            self.full_at = None;
        }
        // Once below the reserve, new events are taken again only with a
        // margin of a quarter of it, so that the state does not flap.
        let mut threshold = m.reserve;
        if self.gate_fault == Some(StorageFault::Reserve) {
            threshold = threshold.saturating_add(m.reserve / 4);
        }
        match m.room {
            // Not a page left: full, whatever the reserve.
            Some(room) if room < self.page_size => Err((StorageFault::Full, full)),
            Some(room) if room < m.reserve => Err((
                StorageFault::Reserve,
                format!(
                    "the journal has {} left for new events, below its reserve of {}",
                    human(room),
                    human(m.reserve)
                ),
            )),
            Some(room) if room < threshold => Err((
                StorageFault::Reserve,
                format!(
                    "the journal has {} left for new events: it takes them again from {} (its reserve of {} and a margin)",
                    human(room),
                    human(threshold),
                    human(m.reserve)
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Sets the state from the checks: a fault they found, or none once
    /// they pass again (a fault from a failed write waits for a write).
    fn note_gate(&mut self, gate: &Gate) {
        match gate {
            Err((fault, detail)) => {
                self.shared.health.set(Some(*fault), detail);
                self.gate_fault = Some(*fault);
            }
            Ok(()) if self.gate_fault.is_some() => {
                self.shared.health.set(None, "");
                self.gate_fault = None;
            }
            Ok(()) => {}
        }
    }

    fn measure(&self) -> Measure {
        let mut wal = self.path.clone().into_os_string();
        wal.push("-wal");
        let wal_bytes = std::fs::metadata(&wal).map_or(0, |m| m.len());
        let volume = space::volume(&self.dir).ok();
        let (pages, free_pages) = store::pages(&self.conn).unwrap_or((0, 0));
        let max_pages = match self.options.max_bytes {
            Some(_) => store::max_pages(&self.conn).ok(),
            None => None,
        };
        let ps = self.page_size;
        let free_page_bytes = free_pages.saturating_mul(ps);
        // What the WAL may still grow to is not room for new events: a
        // checkpoint that truncates it then changes nothing.
        let wal_growth = self.wal_allowance.saturating_sub(wal_bytes);
        let on_volume = volume.map(|v| v.free.saturating_add(free_page_bytes).saturating_sub(wal_growth));
        let under_cap = max_pages.map(|max| max.saturating_sub(pages).saturating_add(free_pages).saturating_mul(ps));
        let room = match (on_volume, under_cap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let by_cap = under_cap.is_some_and(|c| on_volume.is_none_or(|v| c <= v));
        Measure {
            room,
            volume,
            db_bytes: pages.saturating_mul(ps),
            by_cap,
            reserve: self.options.reserve.bytes(volume.map(|v| v.size)),
        }
    }

    /// A storage error of a command, as the fault it is (and noted as the
    /// journal's state); other errors as they are.
    fn classify(&mut self, e: JournalError) -> JournalError {
        match e {
            JournalError::Storage(se) => match self.storage_failure(&se) {
                Some(f) => f.error(),
                None => JournalError::Storage(se),
            },
            JournalError::Io(ioe) => match StorageFault::of_io(&ioe) {
                Some(fault) => {
                    let detail = self.detail(fault, &ioe.to_string());
                    self.note_failure(fault, &detail);
                    JournalError::Unwritable { fault, detail }
                }
                None => JournalError::Io(ioe),
            },
            other => other,
        }
    }

    /// A failed BEGIN, COMMIT or checkpoint: classified, noted.
    fn failure(&mut self, e: rusqlite::Error) -> Failure {
        self.storage_failure(&e).unwrap_or_else(|| Failure { fault: None, detail: e.to_string() })
    }

    fn storage_failure(&mut self, e: &rusqlite::Error) -> Option<Failure> {
        let errno = space::system_errno(&self.conn);
        let os = errno.map(|n| format!(", {}", std::io::Error::from_raw_os_error(n))).unwrap_or_default();
        if space::is_failed_sync(e) {
            let detail = format!(
                "an fsync of the journal failed ({e}{os}): it takes no more writes, and the service restarts to recover it from its WAL"
            );
            self.go_fatal(&detail);
            return Some(Failure { fault: Some(StorageFault::Io), detail });
        }
        let fault = StorageFault::of_sqlite(e, errno)?;
        let detail = self.detail(fault, &format!("{e}{os}"));
        self.note_failure(fault, &detail);
        Some(Failure { fault: Some(fault), detail })
    }

    fn detail(&self, fault: StorageFault, cause: &str) -> String {
        match fault {
            StorageFault::Full => match self.options.max_bytes {
                Some(max) if self.cap_binds() => {
                    format!("the journal reached its size cap of {} ({cause})", human(max))
                }
                _ => format!("the journal's volume is full ({cause})"),
            },
            StorageFault::Reserve => format!("the journal is below its reserve ({cause})"),
            StorageFault::ReadOnly => format!("the journal's file system is read-only or denies writing ({cause})"),
            StorageFault::Missing => format!("the journal file is gone (moved, deleted or unmounted) ({cause})"),
            StorageFault::Io => format!("the journal's storage failed an I/O ({cause})"),
        }
    }

    /// Whether a `SQLITE_FULL` is the size cap's rather than the volume's:
    /// the volume still has room for the pages the cap allows.
    fn cap_binds(&self) -> bool {
        let brim = FULL_HOLD_PAGES.saturating_mul(self.page_size);
        space::volume(&self.dir).map_or(true, |v| v.free > brim)
    }

    fn note_failure(&mut self, fault: StorageFault, detail: &str) {
        self.shared.health.set(Some(fault), detail);
        self.gate_fault = None;
        self.full_now |= fault == StorageFault::Full;
    }

    /// After a failed fsync: nothing more is written, not even the
    /// checkpoint of closing the connection (see the module docs).
    fn go_fatal(&mut self, detail: &str) {
        if self.fatal.is_some() {
            return;
        }
        let _ = self.conn.set_db_config(DbConfig::SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, true);
        self.fatal = Some(detail.to_string());
        self.note_failure(StorageFault::Io, detail);
        tracing::error!(
            journal = %self.path.display(),
            "journal fsync failed: the page cache can no longer be trusted; the journal takes no more writes and the service exits, to recover the journal from its WAL on restart"
        );
        self.shared.health.set_fatal();
    }
}

fn add(counter: &std::sync::atomic::AtomicU64, d: i64) {
    if d >= 0 {
        counter.fetch_add(d as u64, Ordering::Relaxed);
    } else {
        counter.fetch_sub(d.unsigned_abs(), Ordering::Relaxed);
    }
}
