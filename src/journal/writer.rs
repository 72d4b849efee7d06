//! The single writer: group commit of everything that queued up while the
//! previous transaction was being synced.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rusqlite::Connection;
use tokio::sync::{mpsc, oneshot};

use super::{Appended, JournalError, JournalOptions, Prepared, Shared, Status, store};
use crate::domain::{Millis, Verdict};

type Reply<T> = oneshot::Sender<Result<T, JournalError>>;

pub(super) enum Command {
    Op(Op),
    Shutdown,
}

pub(super) enum Op {
    Append { entries: Vec<Prepared>, reply: Reply<Vec<Appended>> },
    Settle { verdicts: Vec<(i64, Verdict)>, reply: Reply<()> },
    Failure { seqs: Vec<i64>, error: String, reply: Reply<()> },
    Compact { before: Millis, reply: Reply<u64> },
    Requeue { partition: Option<String>, reply: Reply<u64> },
    Probe { reply: Reply<()> },
}

pub(super) fn spawn(
    conn: Connection,
    rx: mpsc::UnboundedReceiver<Command>,
    options: JournalOptions,
    shared: Arc<Shared>,
) -> Result<std::thread::JoinHandle<()>, JournalError> {
    Ok(std::thread::Builder::new()
        .name("journal-writer".into())
        .spawn(move || Writer { conn, options, shared }.run(rx))?)
}

struct Writer {
    conn: Connection,
    options: JournalOptions,
    shared: Arc<Shared>,
}

/// What a command will answer once its transaction commits.
enum Done {
    Append(Reply<Vec<Appended>>, Result<Vec<Appended>, JournalError>),
    Unit(Reply<()>, Result<(), JournalError>),
    Count(Reply<u64>, Result<u64, JournalError>),
}

/// Changes to the in-memory counters, applied only once the commit succeeded.
#[derive(Default)]
struct Delta {
    pending: i64,
    delivered: i64,
    rejected: i64,
    settled_any: bool,
    recount: bool,
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
        // their reply senders.
        let _ = self.conn.pragma_update(None, "wal_checkpoint", "TRUNCATE");
    }

    /// Runs a group of commands in one transaction, each in its own savepoint
    /// so that one failing command (a conflict) leaves the others intact.
    /// Returns whether a shutdown was asked for.
    fn commit_group(&mut self, group: Vec<Command>) -> bool {
        let mut done = Vec::with_capacity(group.len());
        let mut delta = Delta::default();
        let mut shutdown = false;
        if let Err(e) = self.conn.execute_batch("BEGIN IMMEDIATE") {
            let msg = e.to_string();
            for cmd in group {
                if let Command::Op(op) = cmd {
                    fail(op, &msg);
                }
            }
            return false;
        }
        for cmd in group {
            match cmd {
                Command::Shutdown => shutdown = true,
                Command::Op(op) => done.push(self.run_in_savepoint(op, &mut delta)),
            }
        }
        match self.conn.execute_batch("COMMIT") {
            Ok(()) => {
                self.apply(delta);
                for d in done {
                    match d {
                        Done::Append(r, v) => drop(r.send(v)),
                        Done::Unit(r, v) => drop(r.send(v)),
                        Done::Count(r, v) => drop(r.send(v)),
                    }
                }
            }
            Err(e) => {
                let _ = self.conn.execute_batch("ROLLBACK");
                let msg = e.to_string();
                for d in done {
                    let err = || JournalError::Commit(msg.clone());
                    match d {
                        Done::Append(r, _) => drop(r.send(Err(err()))),
                        Done::Unit(r, _) => drop(r.send(Err(err()))),
                        Done::Count(r, _) => drop(r.send(Err(err()))),
                    }
                }
            }
        }
        shutdown
    }

    fn run_in_savepoint(&mut self, cmd: Op, delta: &mut Delta) -> Done {
        let mut local = Delta::default();
        // A one-event append writes nothing before it can fail (conflict,
        // full; a failing statement undoes itself), so it needs no
        // savepoint. Anything else may fail half-way.
        let alone = matches!(&cmd, Op::Append { entries, .. } if entries.len() == 1);
        let sp = !alone && self.exec("SAVEPOINT cmd");
        let done = match cmd {
            Op::Append { entries, reply } => Done::Append(reply, self.append(entries, delta.pending, &mut local)),
            Op::Settle { verdicts, reply } => Done::Unit(reply, self.settle(verdicts, &mut local)),
            Op::Failure { seqs, error, reply } => {
                Done::Unit(reply, seqs.iter().try_for_each(|s| store::record_failure(&self.conn, *s, &error)))
            }
            Op::Compact { before, reply } => {
                local.recount = true;
                Done::Count(reply, store::compact(&self.conn, before).map(|(d, r)| d + r))
            }
            Op::Requeue { partition, reply } => {
                local.recount = true;
                Done::Count(reply, store::requeue(&self.conn, partition.as_deref()))
            }
            Op::Probe { reply } => Done::Unit(
                reply,
                self.conn
                    .execute_batch("CREATE TEMP TABLE IF NOT EXISTS probe(x); DELETE FROM probe;")
                    .map_err(JournalError::from),
            ),
        };
        let ok = match &done {
            Done::Append(_, r) => r.is_ok(),
            Done::Unit(_, r) => r.is_ok(),
            Done::Count(_, r) => r.is_ok(),
        };
        if ok {
            if sp {
                self.exec("RELEASE cmd");
            }
            delta.pending += local.pending;
            delta.delivered += local.delivered;
            delta.rejected += local.rejected;
            delta.settled_any |= local.settled_any;
            delta.recount |= local.recount;
        } else if sp {
            self.exec("ROLLBACK TO cmd");
            self.exec("RELEASE cmd");
        }
        done
    }

    /// Runs a cached statement without parameters; whether it succeeded.
    fn exec(&self, sql: &str) -> bool {
        self.conn.prepare_cached(sql).and_then(|mut st| st.execute([])).is_ok()
    }

    fn append(
        &mut self,
        entries: Vec<Prepared>,
        group_pending: i64,
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
            match store::settle(&self.conn, seq, &verdict, now)? {
                Some(Status::Delivered) => delta.delivered += 1,
                Some(Status::Rejected) => delta.rejected += 1,
                Some(Status::Pending) | None => continue,
            }
            delta.pending -= 1;
            delta.settled_any = true;
        }
        Ok(())
    }

    fn apply(&self, delta: Delta) {
        let s = &self.shared;
        s.commits.fetch_add(1, Ordering::Relaxed);
        if delta.recount {
            if let Ok(d) = store::depth(&self.conn) {
                s.pending.store(d.pending, Ordering::Relaxed);
                s.delivered.store(d.delivered, Ordering::Relaxed);
                s.rejected.store(d.rejected, Ordering::Relaxed);
            }
        } else {
            add(&s.pending, delta.pending);
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
}

fn add(counter: &std::sync::atomic::AtomicU64, d: i64) {
    if d >= 0 {
        counter.fetch_add(d as u64, Ordering::Relaxed);
    } else {
        counter.fetch_sub(d.unsigned_abs(), Ordering::Relaxed);
    }
}

fn fail(cmd: Op, msg: &str) {
    let err = || JournalError::Commit(msg.to_string());
    match cmd {
        Op::Append { reply, .. } => drop(reply.send(Err(err()))),
        Op::Settle { reply, .. } | Op::Failure { reply, .. } | Op::Probe { reply } => drop(reply.send(Err(err()))),
        Op::Compact { reply, .. } | Op::Requeue { reply, .. } => drop(reply.send(Err(err()))),
    }
}
