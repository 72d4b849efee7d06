//! Keeps the embedded ledger ([`crate::embedded`]) level with the journal:
//! every journaled event, whatever its status with Convex, is applied to it
//! in journal order, moments after it is journaled — with or without a
//! Convex deployment.
//!
//! - **Resumable.** The embedded ledger records the last journal position it
//!   applied in the same transaction as the events; after a restart (or a
//!   deleted ledger file: a rebuild) the follower goes on from there.
//! - **Grace.** Events waiting in the embedded ledger are rejected once
//!   their session completed `grace` ago, as Convex's `ingest:settle` does.
//! - **Audit.** Once Convex has settled an event (the journal holds its
//!   verdict), the follower compares it with the embedded ledger's:
//!   `applied` with `applied`, a rejection's code with the code. A
//!   difference is counted (`shootlog_embedded_disagreements`) and logged
//!   with both verdicts; never silent. With several instances some are
//!   expected: each embedded ledger sees only its own instance's events.
//!   An entry Convex keeps waiting does not hold the audit back: the
//!   entries settled after it are audited as they settle, and it is when it
//!   does ([`AuditCursor`]). Every comparison counts in
//!   `shootlog_embedded_audited`.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::watch;

use crate::domain::{Millis, VerdictKind};
use crate::embedded::Embedded;
use crate::journal::{Entry, Journal, Status};
use crate::limits::LEDGER_BATCH_MAX;
use crate::telemetry::Metrics;
use std::sync::Arc;

pub struct Follower {
    pub journal: Journal,
    pub embedded: Embedded,
    pub metrics: Arc<Metrics>,
    /// How long waiting events of a completed session may still be applied.
    pub grace: Duration,
}

/// Most journal entries one audit round looks at past the first one Convex
/// has not settled.
const AUDIT_SCAN_MAX: usize = 10 * LEDGER_BATCH_MAX as usize;

/// How far the audit got: every entry up to `through` is audited (or was
/// not Convex's to settle), and so are the entries in `done` above it,
/// audited while an unsettled entry before them held `through` back.
#[derive(Debug, Default)]
struct AuditCursor {
    through: i64,
    done: BTreeSet<i64>,
}

/// What the audit compares: `applied`, `rejected:<code>` or `waiting`.
fn verdict_class(verdict: &str, code: Option<&str>) -> String {
    match verdict {
        "rejected" => format!("rejected:{}", code.unwrap_or_default()),
        other => other.to_string(),
    }
}

fn convex_class(entry: &Entry) -> Option<String> {
    let v = entry.verdict.as_ref()?;
    match v.verdict {
        VerdictKind::Applied => Some("applied".into()),
        VerdictKind::Rejected => Some(verdict_class("rejected", v.code.as_deref())),
        VerdictKind::Duplicate => match v.original {
            Some(VerdictKind::Applied) => Some("applied".into()),
            Some(VerdictKind::Rejected) => Some(verdict_class("rejected", v.code.as_deref())),
            _ => None,
        },
        VerdictKind::Waiting => None,
    }
}

impl Follower {
    /// Runs until `stop` turns true.
    pub async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut applied = match self.embedded.call(|l| l.applied_through()).await {
            Ok(seq) => seq,
            Err(e) => {
                tracing::error!(error = %e, "the embedded ledger cannot be read; it is not maintained");
                return;
            }
        };
        if applied == 0 {
            tracing::info!("the embedded ledger starts from the beginning of the journal");
        }
        // The audit starts from the journal's start: entries the embedded
        // ledger applied before a restart may be settled by Convex only now.
        let mut audited = AuditCursor::default();
        let mut settled = self.journal.settled_watch();
        let mut next_expiry = tokio::time::Instant::now();
        loop {
            if *stop.borrow() {
                return;
            }
            let caught_up = match self.step(applied).await {
                Ok(Some(last)) => {
                    applied = last;
                    false
                }
                Ok(None) => true,
                Err(e) => {
                    tracing::warn!(error = %e, "the embedded ledger could not apply journal entries; retrying");
                    true
                }
            };
            if tokio::time::Instant::now() >= next_expiry {
                next_expiry = tokio::time::Instant::now() + Duration::from_secs(1);
                let grace = self.grace.as_millis() as f64;
                let now = Millis::now().0 as f64;
                if let Err(e) = self.embedded.call(move |l| l.expire_due(grace, now)).await {
                    tracing::warn!(error = %e, "the embedded ledger could not settle waiting events");
                }
                self.audit(&mut audited, applied).await;
            }
            if caught_up {
                tokio::select! {
                    _ = self.journal.appended() => {}
                    _ = settled.changed() => {}
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }

    /// Applies the next entries after `after`; the last seq applied, or
    /// None when there was nothing to apply.
    async fn step(&self, after: i64) -> anyhow::Result<Option<i64>> {
        let entries = self.journal.after(after, LEDGER_BATCH_MAX).await?;
        let Some(last) = entries.last().map(|e| e.seq) else { return Ok(None) };
        let instance = self.journal.instance_id().clone();
        let wire: Vec<(i64, Value)> = entries
            .iter()
            .map(|e| Ok((e.seq, serde_json::to_value(e.journaled(&instance))?)))
            .collect::<Result<_, serde_json::Error>>()?;
        let now = Millis::now().0 as f64;
        let n = self.embedded.call(move |l| l.apply_entries(&wire, now)).await?;
        Metrics::inc(&self.metrics.embedded_applied, n as u64);
        Ok(Some(last))
    }

    /// Compares Convex's verdicts with the embedded ledger's for the
    /// entries after the cursor that Convex has settled, up to `applied`,
    /// and moves the cursor on. An entry not settled yet is passed over and
    /// met again next round; the settled ones after it are audited now
    /// (remembered in `done`), up to [`AUDIT_SCAN_MAX`] entries a round.
    async fn audit(&self, cursor: &mut AuditCursor, applied: i64) {
        let mut from = cursor.through;
        let mut contiguous = true;
        let mut scanned = 0;
        while scanned < AUDIT_SCAN_MAX {
            let Ok(entries) = self.journal.after(from, LEDGER_BATCH_MAX).await else { return };
            if entries.is_empty() {
                return;
            }
            for entry in entries {
                if entry.seq > applied {
                    return;
                }
                from = entry.seq;
                scanned += 1;
                if !matches!(entry.status, Status::Delivered | Status::Rejected) {
                    contiguous = false;
                    continue;
                }
                if !cursor.done.contains(&entry.seq) && !self.audit_one(&entry).await {
                    return;
                }
                if contiguous {
                    cursor.through = entry.seq;
                    cursor.done.remove(&entry.seq);
                } else {
                    cursor.done.insert(entry.seq);
                }
            }
        }
    }

    /// Compares one settled entry's verdicts; false when the embedded
    /// ledger could not be read (the entry is audited later).
    async fn audit_one(&self, entry: &Entry) -> bool {
        let Some(convex) = convex_class(entry) else { return true };
        // The forwarder's own verdict on a poison event is not the ledger's.
        if convex == format!("rejected:{}", super::LEDGER_EXCEPTION) {
            return true;
        }
        let id = entry.envelope.event_id.to_string();
        let embedded = match self.embedded.call(move |l| l.receipt(&id)).await {
            Ok(Some(r)) => verdict_class(r["verdict"].as_str().unwrap_or_default(), r["code"].as_str()),
            Ok(None) => "none".into(),
            Err(_) => return false,
        };
        Metrics::inc(&self.metrics.embedded_audited, 1);
        if embedded != convex {
            Metrics::inc(&self.metrics.embedded_disagreements, 1);
            tracing::warn!(
                event_id = %entry.envelope.event_id,
                convex = %convex,
                embedded = %embedded,
                "Convex and the embedded ledger disagree on an event's verdict"
            );
        }
        true
    }
}
