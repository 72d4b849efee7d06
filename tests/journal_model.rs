//! The journal against a model: random sequences of appends (new ids,
//! replays, conflicting reuses, atomic multi-event batches), verdicts,
//! failed attempts, restarts, compaction and requeues on a real SQLite file;
//! after every step the journal shows exactly what the model says.

use std::collections::BTreeMap;

use proptest::prelude::*;
use shootlog::domain::{Envelope, Event, EventId, Millis, SessionKey, Verdict, VerdictKind};
use shootlog::journal::{Appended, Journal, JournalError, JournalOptions, NewEntry, Status};

const IDS: u8 = 12;
const MAX_PENDING: u64 = 9;

#[derive(Debug, Clone)]
enum Op {
    /// (id, content variant) pairs, journaled atomically.
    Append(Vec<(u8, u8)>),
    /// Settle the entry of an id (if journaled): applied, duplicate of a
    /// rejection, or rejected.
    Settle(Vec<(u8, u8)>),
    Failure(Vec<u8>),
    Restart,
    /// Cutoff in the past (removes nothing) or in the future (every
    /// settled entry).
    Compact(bool),
    /// All partitions, or one.
    Requeue(Option<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    let id = 0..IDS;
    prop_oneof![
        6 => prop::collection::vec((id.clone(), 0..2u8), 1..5).prop_map(Op::Append),
        4 => prop::collection::vec((id.clone(), 0..3u8), 1..5).prop_map(Op::Settle),
        2 => prop::collection::vec(id, 1..4).prop_map(Op::Failure),
        1 => Just(Op::Restart),
        1 => any::<bool>().prop_map(Op::Compact),
        1 => prop::option::of(0..2u8).prop_map(Op::Requeue),
    ]
}

fn event_id(id: u8) -> EventId {
    EventId::derived("journal-model", &id.to_string())
}

fn session(id: u8) -> String {
    format!("model-{}", id % 2)
}

fn new_entry(id: u8, variant: u8) -> NewEntry {
    NewEntry {
        envelope: Envelope {
            event_id: event_id(id),
            at: Millis(1_764_531_000_000),
            received_at: Millis::now(),
            event: Event::Marker {
                session_key: SessionKey::parse(session(id)).unwrap(),
                label: format!("{id}/{variant}"),
            },
        },
        fingerprint: [variant + 1; 32],
    }
}

fn verdict(kind: u8) -> Verdict {
    let base = Verdict {
        verdict: VerdictKind::Applied,
        code: None,
        message: None,
        original: None,
        timeline: Some(format!("001764531000000.model.{kind:012}")),
        waiting_for: None,
        ledger_ids: Default::default(),
    };
    match kind {
        0 => base,
        1 => Verdict { verdict: VerdictKind::Duplicate, original: Some(VerdictKind::Rejected), ..base },
        _ => Verdict {
            verdict: VerdictKind::Rejected,
            code: Some("hold_not_open".into()),
            message: Some("no such hold".into()),
            ..base
        },
    }
}

#[derive(Debug, Clone, PartialEq)]
struct ModelEntry {
    seq: i64,
    variant: u8,
    status: Status,
    verdict: Option<Verdict>,
    attempts: u32,
    last_error: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct Model {
    entries: BTreeMap<u8, ModelEntry>,
    /// Highest seq ever handed out: seqs are never reused.
    max_seq: i64,
}

#[derive(Debug, PartialEq)]
enum Refusal {
    Conflict(u8),
    Full,
}

impl Model {
    fn pending(&self) -> u64 {
        self.entries.values().filter(|e| e.status == Status::Pending).count() as u64
    }

    /// What an append does: per event, `Some(variant)` of a replay or `None`
    /// for a new entry; or the refusal of the whole batch.
    fn append(&self, batch: &[(u8, u8)]) -> Result<(Model, Vec<bool>), Refusal> {
        let mut next = self.clone();
        let pending = self.pending();
        let mut new = 0u64;
        let mut out = Vec::new();
        for &(id, variant) in batch {
            match next.entries.get(&id) {
                Some(e) if e.variant == variant => out.push(false),
                Some(_) => return Err(Refusal::Conflict(id)),
                None => {
                    if pending + new >= MAX_PENDING {
                        return Err(Refusal::Full);
                    }
                    new += 1;
                    next.max_seq += 1;
                    next.entries.insert(
                        id,
                        ModelEntry {
                            seq: next.max_seq,
                            variant,
                            status: Status::Pending,
                            verdict: None,
                            attempts: 0,
                            last_error: None,
                        },
                    );
                    out.push(true);
                }
            }
        }
        Ok((next, out))
    }
}

async fn check(j: &Journal, m: &Model) -> Result<(), TestCaseError> {
    for id in 0..IDS {
        let got = j.get(event_id(id)).await.unwrap();
        match (m.entries.get(&id), got) {
            (None, None) => {}
            (Some(want), Some(got)) => {
                prop_assert_eq!(got.seq, want.seq, "seq of {}", id);
                prop_assert_eq!(got.status, want.status, "status of {}", id);
                prop_assert_eq!(&got.verdict, &want.verdict, "verdict of {}", id);
                prop_assert_eq!(got.attempts, want.attempts, "attempts of {}", id);
                prop_assert_eq!(&got.last_error, &want.last_error, "last error of {}", id);
                prop_assert_eq!(got.settled_at.is_some(), want.status != Status::Pending, "settled_at of {}", id);
                let label = format!("{id}/{}", want.variant);
                prop_assert!(
                    matches!(&got.envelope.event, Event::Marker { label: l, .. } if *l == label),
                    "content of {} is the first journaled",
                    id
                );
            }
            (want, got) => prop_assert!(false, "id {}: model {:?}, journal {:?}", id, want, got),
        }
    }
    let mut want: Vec<(i64, EventId)> =
        m.entries.iter().filter(|(_, e)| e.status == Status::Pending).map(|(id, e)| (e.seq, event_id(*id))).collect();
    want.sort();
    let got: Vec<(i64, EventId)> =
        j.pending(0, 1000).await.unwrap().iter().map(|e| (e.seq, e.envelope.event_id)).collect();
    prop_assert_eq!(&got, &want, "pending, in journal order");
    if let Some(&(first, _)) = want.first() {
        let after: Vec<i64> = j.pending(first, 1000).await.unwrap().iter().map(|e| e.seq).collect();
        prop_assert_eq!(after, want[1..].iter().map(|w| w.0).collect::<Vec<_>>());
    }
    let count = |s: Status| m.entries.values().filter(|e| e.status == s).count() as u64;
    let d = j.depth();
    prop_assert_eq!(
        (d.pending, d.delivered, d.rejected),
        (count(Status::Pending), count(Status::Delivered), count(Status::Rejected)),
        "depth"
    );
    Ok(())
}

async fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("journal.sqlite3");
    let options = JournalOptions { max_pending: MAX_PENDING, ..JournalOptions::default() };
    let mut j = Journal::open(&path, options.clone()).unwrap();
    let mut m = Model::default();
    for op in ops {
        match op {
            Op::Append(batch) => {
                let entries = batch.iter().map(|&(id, v)| new_entry(id, v)).collect();
                match (m.append(&batch), j.append(entries).await) {
                    (Ok((next, news)), Ok(got)) => {
                        prop_assert_eq!(got.len(), batch.len());
                        for ((&(id, _), new), a) in batch.iter().zip(news).zip(&got) {
                            prop_assert_eq!(matches!(a, Appended::New(_)), new, "{:?}", a);
                            let want = &next.entries[&id];
                            prop_assert_eq!(a.entry().seq, want.seq);
                            prop_assert_eq!(a.entry().status, want.status);
                            prop_assert_eq!(a.entry().envelope.event_id, event_id(id));
                        }
                        m = next;
                    }
                    (Err(Refusal::Conflict(id)), Err(JournalError::Conflict { event_id: e })) => {
                        prop_assert_eq!(e, event_id(id));
                    }
                    (Err(Refusal::Full), Err(JournalError::Full { limit, .. })) => {
                        prop_assert_eq!(limit, MAX_PENDING);
                    }
                    (want, got) => {
                        prop_assert!(false, "append {:?}: model {:?}, journal {:?}", batch, want.map(|x| x.1), got)
                    }
                }
            }
            Op::Settle(pairs) => {
                let mut verdicts = Vec::new();
                for (id, kind) in pairs {
                    let Some(e) = m.entries.get_mut(&id) else {
                        continue;
                    };
                    let v = verdict(kind);
                    verdicts.push((e.seq, v.clone()));
                    if e.status == Status::Pending {
                        e.status = if v.is_rejection() { Status::Rejected } else { Status::Delivered };
                        e.verdict = Some(v);
                        // A verdict is not a failed round: attempts stay.
                        e.last_error = None;
                    }
                }
                j.settle(verdicts).await.unwrap();
            }
            Op::Failure(ids) => {
                let mut seqs = Vec::new();
                for id in ids {
                    let Some(e) = m.entries.get_mut(&id) else {
                        continue;
                    };
                    seqs.push(e.seq);
                    if e.status == Status::Pending {
                        e.attempts += 1;
                        e.last_error = Some("ledger unreachable".into());
                    }
                }
                j.record_failure(seqs, "ledger unreachable".into()).await.unwrap();
            }
            Op::Restart => {
                j.close().await;
                j = Journal::open(&path, options.clone()).unwrap();
            }
            Op::Compact(all) => {
                let before = if all { Millis(Millis::now().0 + 3_600_000) } else { Millis(0) };
                let gone: Vec<u8> =
                    m.entries.iter().filter(|(_, e)| all && e.status != Status::Pending).map(|(id, _)| *id).collect();
                for id in &gone {
                    m.entries.remove(id);
                }
                prop_assert_eq!(j.compact(before).await.unwrap(), gone.len() as u64);
            }
            Op::Requeue(partition) => {
                let mut n = 0;
                for (id, e) in m.entries.iter_mut() {
                    let inside = partition.is_none_or(|p| id % 2 == p);
                    if inside && e.status != Status::Pending {
                        e.status = Status::Pending;
                        e.verdict = None;
                        n += 1;
                    }
                }
                let key = partition.map(|p| format!("session:model-{p}"));
                prop_assert_eq!(j.requeue(key).await.unwrap(), n);
            }
        }
        check(&j, &m).await?;
    }
    j.close().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_journal_behaves_like_its_model(ops in prop::collection::vec(op(), 1..40)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(run(ops))?;
    }
}
