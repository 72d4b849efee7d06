//! The forwarder against a ledger in memory: waiting entries are asked
//! after and settle; `missing` ones are sent again.

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;
use crate::domain::{Envelope, Event, EventId, SessionKey, WaitingFor};
use crate::journal::{Depth, JournalOptions, NewEntry};
use crate::ledger::{BoxFuture, LedgerStatus};

/// Answers `waiting` to events labelled `wait…` the first time it sees
/// them, `applied` otherwise; `settle` answers from `settle_answers`
/// (then `applied`).
#[derive(Default)]
struct MemoryLedger {
    seen: Mutex<HashMap<EventId, u32>>,
    /// Per event id, the answers of successive `settle` calls.
    settle_answers: Mutex<HashMap<EventId, Vec<Settled>>>,
    /// The events of every `applyBatch` call, and their wire sizes.
    batches: Mutex<Vec<Vec<Journaled>>>,
    settle_calls: Mutex<u32>,
}

fn verdict(kind: VerdictKind) -> Verdict {
    Verdict {
        verdict: kind,
        code: None,
        message: None,
        original: None,
        timeline: None,
        waiting_for: None,
        ledger_ids: Default::default(),
    }
}

fn waiting() -> Verdict {
    Verdict {
        code: Some("camera_not_in_session".into()),
        waiting_for: Some(WaitingFor { kind: "camera".into(), key: "fwd/hero".into() }),
        ..verdict(VerdictKind::Waiting)
    }
}

impl Ledger for MemoryLedger {
    fn mode(&self) -> &'static str {
        "memory"
    }

    fn status(&self) -> LedgerStatus {
        LedgerStatus::new(LedgerState::Connected, None)
    }

    fn check(&self) -> BoxFuture<'_, LedgerStatus> {
        Box::pin(async { self.status() })
    }

    fn apply_batch<'a>(&'a self, events: &'a [Journaled]) -> BoxFuture<'a, Result<Vec<Verdict>, LedgerError>> {
        Box::pin(async move {
            self.batches.lock().expect("lock").push(events.to_vec());
            let mut seen = self.seen.lock().expect("lock");
            Ok(events
                .iter()
                .map(|e| {
                    let n = seen.entry(e.envelope.event_id).or_default();
                    *n += 1;
                    let label = match &e.envelope.event {
                        Event::Marker { label, .. } => label.as_str(),
                        _ => "",
                    };
                    if label.starts_with("wait") && *n == 1 { waiting() } else { verdict(VerdictKind::Applied) }
                })
                .collect())
        })
    }

    fn settle<'a>(&'a self, ids: &'a [EventId], _: Duration) -> BoxFuture<'a, Result<Vec<Settled>, LedgerError>> {
        Box::pin(async move {
            *self.settle_calls.lock().expect("lock") += 1;
            let mut answers = self.settle_answers.lock().expect("lock");
            Ok(ids
                .iter()
                .map(|id| match answers.get_mut(id) {
                    Some(queue) if !queue.is_empty() => queue.remove(0),
                    _ => Settled::Verdict(verdict(VerdictKind::Applied)),
                })
                .collect())
        })
    }

    fn session_header<'a>(
        &'a self,
        _: &'a SessionKey,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, LedgerError>> {
        Box::pin(async { Ok(None) })
    }

    fn session_page<'a>(
        &'a self,
        _: &'a SessionKey,
        _: crate::ledger::SessionList,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Result<crate::ledger::Page, LedgerError>> {
        Box::pin(async { Err(LedgerError::Protocol("no lists in memory".into())) })
    }

    fn round_trip<'a>(&'a self) -> BoxFuture<'a, Result<Duration, LedgerError>> {
        Box::pin(async { Ok(Duration::ZERO) })
    }
}

fn marker(label: &str) -> NewEntry {
    NewEntry {
        envelope: Envelope {
            event_id: EventId::new_random(),
            at: Millis(1_764_531_000_000),
            received_at: Millis::now(),
            event: Event::Marker { session_key: SessionKey::parse("fwd").expect("key"), label: label.into() },
        },
        fingerprint: [5; 32],
    }
}

fn options() -> ForwarderOptions {
    ForwarderOptions { waiting_poll: Duration::from_millis(20), ..ForwarderOptions::default() }
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !f() {
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn waiting_entries_are_asked_after_until_they_settle_and_missing_ones_are_sent_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(&dir.path().join("journal.sqlite3"), JournalOptions::default()).expect("open");
    let appended = journal.append(vec![marker("now"), marker("wait-1"), marker("wait-2")]).await.expect("append");
    let ids: Vec<EventId> = appended.iter().map(|a| a.entry().envelope.event_id).collect();
    let ledger = Arc::new(MemoryLedger::default());
    ledger.settle_answers.lock().expect("lock").extend([
        (ids[1], vec![Settled::Verdict(waiting()), Settled::Verdict(verdict(VerdictKind::Applied))]),
        (ids[2], vec![Settled::Missing]),
    ]);
    let metrics = Arc::new(Metrics::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let task = tokio::spawn(Forwarder::new(journal.clone(), ledger.clone(), metrics, options()).run(stop_rx));

    until("every event to settle", || journal.depth() == Depth { pending: 0, waiting: 0, delivered: 3, rejected: 0 })
        .await;
    let _ = stop_tx.send(true);
    task.await.expect("forwarder");

    let batches = ledger.batches.lock().expect("lock").clone();
    let sent: Vec<EventId> = batches.iter().flatten().map(|e| e.envelope.event_id).collect();
    assert_eq!(sent.iter().filter(|id| **id == ids[0]).count(), 1, "an applied event is sent once");
    assert_eq!(sent.iter().filter(|id| **id == ids[1]).count(), 1, "a waiting event is not sent again");
    assert_eq!(sent.iter().filter(|id| **id == ids[2]).count(), 2, "a missing one is sent again");
    assert!(*ledger.settle_calls.lock().expect("lock") >= 2);
    let instance = journal.instance_id().clone();
    assert!(batches.iter().flatten().all(|e| e.instance == instance && e.seq >= 1));
    let first = journal.get(ids[1]).await.expect("read").expect("entry");
    assert_eq!(first.status, crate::journal::Status::Delivered);
    journal.close().await;
}

#[test]
fn a_batch_is_cut_at_its_event_count_or_its_bytes_but_takes_at_least_one_event() {
    // JSON of n events of size s: 2 + n*s + (n-1).
    assert_eq!(cut(&[10; 7], 500, 1 << 20), 7, "small events: all");
    assert_eq!(cut(&[10; 700], 500, 1 << 20), 500, "at most the event count");
    assert_eq!(cut(&[10; 7], 500, 2 + 3 * 10 + 2), 3, "exactly at the bound: in");
    assert_eq!(cut(&[10; 7], 500, 2 + 3 * 10 + 2 + 10), 3, "one byte short of a fourth: out");
    assert_eq!(cut(&[10; 7], 500, 2 + 4 * 10 + 3), 4);
    assert_eq!(cut(&[100, 5, 5], 500, 50), 1, "a single event over the bound goes alone");
    assert_eq!(cut(&[5, 100, 5], 500, 50), 1, "and it is not joined to the one before");
    assert_eq!(cut(&[5, 5, 100], 500, 50), 2);
    assert_eq!(cut(&[], 500, 50), 0);
    assert_eq!(cut(&[10; 3], 0, 50), 1, "always at least one");
}

#[tokio::test]
async fn the_forwarder_sends_calls_of_at_most_the_byte_bound_in_journal_order() {
    let dir = tempfile::tempdir().expect("tempdir");
    let journal = Journal::open(&dir.path().join("journal.sqlite3"), JournalOptions::default()).expect("open");
    let mut entries: Vec<NewEntry> = (0..40).map(|i| marker(&format!("m{i}-{}", "x".repeat(300)))).collect();
    entries.insert(17, marker(&"big".repeat(2000)));
    let ids: Vec<EventId> = entries.iter().map(|e| e.envelope.event_id).collect();
    journal.append(entries).await.expect("append");
    let ledger = Arc::new(MemoryLedger::default());
    let metrics = Arc::new(Metrics::default());
    let (stop_tx, stop_rx) = watch::channel(false);
    let bound = 4096;
    let opts = ForwarderOptions { batch_bytes: bound, ..options() };
    let task = tokio::spawn(Forwarder::new(journal.clone(), ledger.clone(), metrics, opts).run(stop_rx));
    until("every event to settle", || journal.depth().delivered == 41).await;
    let _ = stop_tx.send(true);
    task.await.expect("forwarder");

    let batches = ledger.batches.lock().expect("lock").clone();
    assert!(batches.len() > 3, "{} calls", batches.len());
    for b in &batches {
        let json = serde_json::to_vec(b).expect("json").len();
        assert!(json <= bound || b.len() == 1, "a call of {} events and {json} bytes", b.len());
    }
    let big = batches.iter().find(|b| b.iter().any(|e| e.envelope.event_id == ids[17])).expect("the big one");
    assert_eq!(big.len(), 1, "the event over the bound went alone");
    let order: Vec<EventId> = batches.iter().flatten().map(|e| e.envelope.event_id).collect();
    assert_eq!(order, ids, "in journal order, each once");
    journal.close().await;
}
