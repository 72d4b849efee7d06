//! Drains the journal into the ledger: oldest pending first, in batches, in
//! journal order (which is each session's order), until nothing is pending.
//!
//! - A verdict (applied, duplicate, rejected) settles an event for good. A
//!   rejection never blocks the events behind it.
//! - A `waiting` verdict (the ledger keeps the event until a prerequisite
//!   arrives, `migrations-notes/0003`) makes the entry waiting: it is not
//!   sent again, but asked after (`ingest:settle`).
//! - A transport failure (timeout, lost connection) leaves the batch pending
//!   and retries it after an exponential backoff with jitter, forever: the
//!   ledger is idempotent on event ids, so a re-sent batch is harmless.
//! - Nothing is sent unless the ledger's handshake says it is usable
//!   ([`LedgerState::Connected`]): it runs at start, every
//!   `check_interval`, and after every failed call. In every other state
//!   events stay pending, with backoff; none is ever settled because of the
//!   deployment.
//! - A function failure (the ledger threw) is first blamed on the
//!   deployment: the handshake runs, and if it fails too (a paused
//!   deployment, functions missing…) the batch stays pending, its attempts
//!   not counted. Only while the deployment answers is the batch bisected
//!   down to the event that throws; that event is retried a few times, the
//!   deployment checked once more, then it is settled as rejected with code
//!   `ledger_exception`, so one poison event cannot stall the queue.

pub mod follower;

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::sync::watch;

use crate::domain::{Journaled, Millis, Verdict, VerdictKind};
use crate::journal::{Entry, Journal, JournalError};
use crate::ledger::{Ledger, LedgerError, LedgerState, Settled, wire_len};
use crate::telemetry::Metrics;

#[cfg(test)]
mod tests;

/// Settings of the forwarder.
#[derive(Debug, Clone)]
pub struct ForwarderOptions {
    /// Most events in one ledger call.
    pub batch_size: u32,
    /// Most bytes of JSON of the events of one ledger call (a single
    /// larger event still goes, alone).
    pub batch_bytes: usize,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Attempts of a single failing event before it is settled as
    /// `ledger_exception`.
    pub poison_attempts: u32,
    /// How often the handshake runs while the ledger is connected.
    pub check_interval: Duration,
    /// How often waiting entries are asked after (`ingest:settle`).
    pub waiting_poll: Duration,
    /// Sent with it: how long after a session's completion its waiting
    /// events may still be applied.
    pub waiting_grace: Duration,
}

impl Default for ForwarderOptions {
    fn default() -> Self {
        Self {
            batch_size: crate::limits::LEDGER_BATCH_MAX,
            batch_bytes: crate::limits::LEDGER_BATCH_BYTES,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(30),
            poison_attempts: 3,
            check_interval: Duration::from_secs(crate::limits::LEDGER_CHECK_SECS),
            waiting_poll: Duration::from_secs(crate::limits::WAITING_POLL_SECS),
            waiting_grace: Duration::from_secs(crate::limits::WAITING_GRACE_SECS),
        }
    }
}

/// How many of the next events (the JSON size of each, in order) one
/// ledger call takes: at most `max_events`, and no more than the
/// `max_bytes` of JSON of the `events` array they make (brackets and
/// commas counted), but always one, however large.
pub fn cut(sizes: &[usize], max_events: usize, max_bytes: usize) -> usize {
    let mut json = 2; // `[` and `]`
    let mut n = 0;
    for size in sizes.iter().take(max_events.max(1)) {
        let grown = json + size + usize::from(n > 0);
        if n > 0 && grown > max_bytes {
            break;
        }
        json = grown;
        n += 1;
    }
    n
}

/// The code of a verdict the forwarder writes itself, for an event on which
/// the ledger function kept failing.
pub const LEDGER_EXCEPTION: &str = "ledger_exception";

pub struct Forwarder {
    journal: Journal,
    ledger: Arc<dyn Ledger>,
    metrics: Arc<Metrics>,
    options: ForwarderOptions,
}

/// How one attempt at a batch ended.
enum Outcome {
    /// Every event of the batch is settled.
    Settled,
    /// The ledger could not be reached; nothing was settled.
    Unreachable(String),
    /// The deployment refuses to run functions (the handshake failed too);
    /// nothing was settled, and no attempt is counted against the events.
    Deployment(String),
}

impl Forwarder {
    pub fn new(journal: Journal, ledger: Arc<dyn Ledger>, metrics: Arc<Metrics>, options: ForwarderOptions) -> Self {
        Self { journal, ledger, metrics, options }
    }

    /// Runs until `shutdown` turns true; then returns after the batch in
    /// flight is settled or abandoned (it stays pending).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let mut failures: u32 = 0;
        let mut next_check = tokio::time::Instant::now();
        let mut next_poll = tokio::time::Instant::now();
        // Where the next round of waiting entries starts (journal seq).
        let mut waiting_after: i64 = 0;
        loop {
            if *shutdown.borrow() {
                return;
            }
            if !self.ledger.is_connected() || tokio::time::Instant::now() >= next_check {
                let status = self.ledger.check().await;
                next_check = tokio::time::Instant::now() + self.options.check_interval;
                if status.state != LedgerState::Connected {
                    failures = failures.saturating_add(1);
                    let wait = self.backoff(failures);
                    tracing::debug!(
                        state = status.state.as_str(),
                        retry_in_ms = wait.as_millis() as u64,
                        "ledger not usable; nothing is sent"
                    );
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => {}
                    }
                    continue;
                }
            }
            if tokio::time::Instant::now() >= next_poll {
                match self.poll_waiting(waiting_after).await {
                    Ok(after) => waiting_after = after,
                    Err(error) => {
                        next_check = tokio::time::Instant::now();
                        tracing::warn!(%error, waiting = self.journal.depth().waiting, "cannot ask the ledger after waiting events");
                    }
                }
                next_poll = tokio::time::Instant::now() + self.options.waiting_poll;
            }
            let started = std::time::Instant::now();
            let batch = match self.journal.pending(0, self.options.batch_size).await {
                Ok(b) => {
                    Metrics::add_time(&self.metrics.journal_io_seconds, started.elapsed());
                    b
                }
                // A storage fault is logged once, by the journal, when it
                // starts; not on every round.
                Err(e) if e.storage_fault().is_some() => {
                    tracing::debug!(error = %e, "forwarder cannot read the journal");
                    Vec::new()
                }
                Err(e) => {
                    tracing::error!(error = %e, "forwarder cannot read the journal");
                    Vec::new()
                }
            };
            if batch.is_empty() {
                let idle = (tokio::time::Instant::now() + Duration::from_millis(500)).min(next_poll);
                tokio::select! {
                    _ = self.journal.appended() => {}
                    _ = tokio::time::sleep_until(idle) => {}
                    _ = shutdown.changed() => {}
                }
                continue;
            }
            let (outcome, unsettled) = self.deliver_cut(&batch).await;
            match outcome {
                Outcome::Settled => failures = 0,
                Outcome::Deployment(reason) => {
                    failures = failures.saturating_add(1);
                    next_check = tokio::time::Instant::now();
                    tracing::warn!(%reason, backlog = self.journal.depth().pending, "the deployment refuses to run functions; events stay journaled");
                    let wait = self.backoff(failures);
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => {}
                    }
                }
                Outcome::Unreachable(error) => {
                    failures = failures.saturating_add(1);
                    next_check = tokio::time::Instant::now();
                    Metrics::inc(&self.metrics.retried, 1);
                    let seqs = unsettled.iter().map(|e| e.seq).collect();
                    if let Err(e) = self.journal.record_failure(seqs, error.clone()).await {
                        tracing::error!(error = %e, "cannot record a delivery failure");
                    }
                    let wait = self.backoff(failures);
                    tracing::warn!(%error, retry_in_ms = wait.as_millis() as u64, backlog = self.journal.depth().pending, "ledger unreachable; events stay journaled");
                    tokio::select! {
                        _ = tokio::time::sleep(wait) => {}
                        _ = shutdown.changed() => {}
                    }
                }
            }
        }
    }

    /// Exponential backoff with full jitter: uniform in [min, min·2^n], capped.
    fn backoff(&self, failures: u32) -> Duration {
        let min = self.options.backoff_min.as_millis() as u64;
        let max = self.options.backoff_max.as_millis() as u64;
        let ceiling = min.saturating_mul(1u64 << failures.min(20)).min(max).max(min);
        Duration::from_millis(rand::rng().random_range(min..=ceiling))
    }

    /// Sends a batch; on a function failure, bisects it so that the events
    /// around a poison event still settle, in order.
    /// Sends the entries read for one round in calls of at most
    /// `batch_bytes` of JSON each ([`cut`]), in order, until one does not
    /// settle; that call's outcome, and its entries.
    async fn deliver_cut<'b>(&self, batch: &'b [Entry]) -> (Outcome, &'b [Entry]) {
        let instance = self.journal.instance_id();
        let wire: Vec<Journaled> = batch.iter().map(|e| e.journaled(instance)).collect();
        let sizes: Vec<usize> = wire.iter().map(wire_len).collect();
        let mut at = 0;
        while at < batch.len() {
            let n = cut(&sizes[at..], self.options.batch_size as usize, self.options.batch_bytes);
            let (entries, events) = (&batch[at..at + n], &wire[at..at + n]);
            match self.deliver(entries, events).await {
                Outcome::Settled => at += n,
                unsettled => return (unsettled, entries),
            }
        }
        (Outcome::Settled, &[])
    }

    async fn deliver(&self, batch: &[Entry], envelopes: &[Journaled]) -> Outcome {
        Metrics::inc(&self.metrics.sent, envelopes.len() as u64);
        let started = std::time::Instant::now();
        let answer = self.ledger.apply_batch(envelopes).await;
        let outcome = match &answer {
            Ok(_) => "ok",
            Err(LedgerError::Transport(_)) => "transport",
            Err(LedgerError::Function(_)) => "function",
            Err(LedgerError::Protocol(_)) => "protocol",
            Err(LedgerError::Contention(_)) => "contention",
        };
        self.metrics.observe_ledger_call(envelopes.len(), outcome, started.elapsed());
        match answer {
            Ok(verdicts) => self.record(batch, verdicts, true).await,
            Err(LedgerError::Transport(e) | LedgerError::Contention(e)) => Outcome::Unreachable(e),
            Err(LedgerError::Function(e) | LedgerError::Protocol(e)) if !self.deployment_answers().await => {
                Outcome::Deployment(e)
            }
            Err(LedgerError::Function(e) | LedgerError::Protocol(e)) if batch.len() > 1 => {
                tracing::warn!(error = %e, size = batch.len(), "ledger function failed on a batch; bisecting");
                let (left, right) = batch.split_at(batch.len() / 2);
                let (wire_left, wire_right) = envelopes.split_at(batch.len() / 2);
                match Box::pin(self.deliver(left, wire_left)).await {
                    Outcome::Settled => Box::pin(self.deliver(right, wire_right)).await,
                    unsettled => unsettled,
                }
            }
            Err(LedgerError::Function(e) | LedgerError::Protocol(e)) => self.poison(&batch[0], e).await,
        }
    }

    /// One event on which the ledger function fails: retried a few times
    /// (the failure may be passing), then settled as rejected.
    async fn poison(&self, entry: &Entry, error: String) -> Outcome {
        // `attempts` counts the failed rounds recorded before this one.
        if entry.attempts + 1 < self.options.poison_attempts {
            return Outcome::Unreachable(format!(
                "ledger function failed on event {}: {error}",
                entry.envelope.event_id
            ));
        }
        // No poison without proof: the deployment must answer right now.
        if !self.deployment_answers().await {
            return Outcome::Deployment(error);
        }
        tracing::error!(event_id = %entry.envelope.event_id, %error, "ledger function keeps failing on this event; settling it as rejected");
        // This round failed too: `attempts` counts every failed round.
        if let Err(e) = self.journal.record_failure(vec![entry.seq], error.clone()).await {
            tracing::error!(error = %e, "cannot record a delivery failure");
        }
        Metrics::inc(&self.metrics.isolated, 1);
        let verdict = Verdict {
            verdict: VerdictKind::Rejected,
            code: Some(LEDGER_EXCEPTION.into()),
            message: Some(error),
            original: None,
            timeline: None,
            waiting_for: None,
            ledger_ids: Default::default(),
        };
        self.record(std::slice::from_ref(entry), vec![verdict], true).await
    }

    /// Runs the handshake: whether the deployment itself is usable, so that
    /// a function failure can be the event's fault.
    async fn deployment_answers(&self) -> bool {
        self.ledger.check().await.state == LedgerState::Connected
    }

    /// Asks the ledger after up to [`LEDGER_SETTLE_MAX`] waiting entries,
    /// from seq `after` on (wrapping around, so that every waiting entry is
    /// asked after in turn), and records the answers: a verdict settles an
    /// entry (or keeps it waiting), `missing` puts it back to pending.
    /// Returns where the next round starts.
    ///
    /// [`LEDGER_SETTLE_MAX`]: crate::limits::LEDGER_SETTLE_MAX
    async fn poll_waiting(&self, after: i64) -> Result<i64, String> {
        let max = crate::limits::LEDGER_SETTLE_MAX;
        let mut round = self.journal.waiting(after, max).await.map_err(|e| e.to_string())?;
        if round.is_empty() && after > 0 {
            round = self.journal.waiting(0, max).await.map_err(|e| e.to_string())?;
        }
        let Some(last) = round.last() else {
            return Ok(0);
        };
        let next = if round.len() < max as usize { 0 } else { last.seq };
        let ids: Vec<_> = round.iter().map(|e| e.envelope.event_id).collect();
        let answers = self.ledger.settle(&ids, self.options.waiting_grace).await.map_err(|e| e.to_string())?;
        let (mut entries, mut verdicts, mut missing) = (Vec::new(), Vec::new(), Vec::new());
        for (entry, answer) in round.into_iter().zip(answers) {
            match answer {
                Settled::Verdict(v) => {
                    entries.push(entry);
                    verdicts.push(v);
                }
                Settled::Missing => missing.push(entry.seq),
            }
        }
        if !missing.is_empty() {
            tracing::info!(events = missing.len(), "the ledger has no receipt of waiting events; sending them again");
            self.journal.unwait(missing).await.map_err(|e| e.to_string())?;
        }
        match self.record(&entries, verdicts, false).await {
            Outcome::Settled => Ok(next),
            Outcome::Unreachable(e) | Outcome::Deployment(e) => Err(e),
        }
    }

    /// Records the ledger's verdicts on these entries; `batch`: they answer
    /// an `applyBatch` call (counted in `shootlog_ledger_batches`).
    async fn record(&self, batch: &[Entry], verdicts: Vec<Verdict>, answered_batch: bool) -> Outcome {
        if batch.is_empty() {
            return Outcome::Settled;
        }
        let now = Millis::now();
        let (mut delivered, mut duplicates, mut rejected) = (0, 0, 0);
        for (entry, v) in batch.iter().zip(&verdicts) {
            if v.is_waiting() {
                tracing::debug!(event_id = %entry.envelope.event_id, code = v.code.as_deref().unwrap_or(""), waiting_for = ?v.waiting_for, "the ledger keeps the event waiting");
                continue;
            }
            if v.is_rejection() {
                rejected += 1;
                self.metrics.count_rejection(v.code.as_deref());
                tracing::info!(event_id = %entry.envelope.event_id, code = v.code.as_deref().unwrap_or(""), "ledger rejected event");
            } else {
                delivered += 1;
                duplicates += u64::from(v.verdict == VerdictKind::Duplicate);
            }
            self.metrics.observe_delivery(u64::try_from(now.0 - entry.envelope.received_at.0).unwrap_or(0));
        }
        let pairs = batch.iter().map(|e| e.seq).zip(verdicts).collect();
        let started = std::time::Instant::now();
        let settled = self.journal.settle(pairs).await;
        Metrics::add_time(&self.metrics.journal_io_seconds, started.elapsed());
        match settled {
            Ok(()) => {
                Metrics::inc(&self.metrics.batches, u64::from(answered_batch));
                Metrics::inc(&self.metrics.delivered, delivered);
                Metrics::inc(&self.metrics.duplicates, duplicates);
                Metrics::inc(&self.metrics.rejected, rejected);
                Outcome::Settled
            }
            // The ledger has the events; the journal will re-send them and
            // hear `duplicate`, which settles them then.
            Err(JournalError::Closed) => Outcome::Unreachable("journal closed".into()),
            Err(e) => Outcome::Unreachable(format!("recording verdicts failed: {e}")),
        }
    }
}
