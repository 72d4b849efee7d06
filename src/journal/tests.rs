//! The journal under storage faults, through its own API: a size cap that
//! SQLite enforces (`max_page_count`, a portable `SQLITE_FULL`) and the
//! reserve.

use super::*;
use crate::domain::{Envelope, Event, EventId, Millis, SessionKey, Verdict, VerdictKind};

fn entry(label: &str) -> NewEntry {
    NewEntry {
        envelope: Envelope {
            event_id: EventId::new_random(),
            at: Millis(1_764_531_000_000),
            received_at: Millis::now(),
            event: Event::Marker {
                session_key: SessionKey::parse("storage").expect("key"),
                label: format!("{label}-{}", "x".repeat(400)),
            },
        },
        fingerprint: [7; 32],
    }
}

fn applied() -> Verdict {
    Verdict {
        verdict: VerdictKind::Applied,
        code: None,
        message: Some("applied by the test".into()),
        original: None,
        timeline: Some("001764531000000.0123456789abcdef.000000000001".into()),
        waiting_for: None,
        ledger_ids: Default::default(),
    }
}

fn options(reserve: u64, max_bytes: u64) -> JournalOptions {
    JournalOptions { reserve: Reserve::Bytes(reserve), max_bytes: Some(max_bytes), ..JournalOptions::default() }
}

fn fault(e: &JournalError) -> Option<StorageFault> {
    match e {
        JournalError::Unwritable { fault, .. } => Some(*fault),
        _ => None,
    }
}

/// Appends batches of `size` until one is refused; returns the ids
/// acknowledged and the refusal.
async fn fill(j: &Journal, size: usize) -> (Vec<EventId>, JournalError) {
    let mut acked = Vec::new();
    for i in 0..10_000 {
        let batch: Vec<NewEntry> = (0..size).map(|k| entry(&format!("{i}-{k}"))).collect();
        let ids: Vec<EventId> = batch.iter().map(|e| e.envelope.event_id).collect();
        match j.append(batch).await {
            Ok(a) => {
                assert!(a.iter().all(|a| matches!(a, Appended::New(_))));
                acked.extend(ids);
            }
            Err(e) => return (acked, e),
        }
    }
    panic!("the journal never filled up");
}

#[tokio::test]
async fn a_batch_that_hits_the_size_cap_leaves_nothing_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.sqlite3");
    // No reserve: SQLite itself refuses, with SQLITE_FULL, mid-batch.
    let j = Journal::open(&path, options(0, 128 << 10)).expect("open");
    let huge: Vec<NewEntry> = (0..300).map(|k| entry(&format!("huge-{k}"))).collect();
    let huge_ids: Vec<EventId> = huge.iter().map(|e| e.envelope.event_id).collect();
    let err = j.append(huge).await.expect_err("larger than the cap");
    assert_eq!(fault(&err), Some(StorageFault::Full), "{err}");
    println!("a batch of 300 under a cap of 128 KiB: {err}");
    for id in &huge_ids {
        assert!(j.get(*id).await.expect("read").is_none(), "nothing of a refused batch is journaled");
    }
    assert_eq!(j.depth(), Depth::default());
    assert_eq!(j.storage().fault, Some(StorageFault::Full));

    // Smaller batches still fit, until the cap.
    let (acked, err) = fill(&j, 10).await;
    assert_eq!(fault(&err), Some(StorageFault::Full), "{err}");
    assert!(acked.len() > 50, "{}", acked.len());
    let depth = j.depth();
    assert_eq!(depth.pending, acked.len() as u64);

    // At the brim: refused, nothing stays, the counts do not move.
    let batch: Vec<NewEntry> = (0..10).map(|k| entry(&format!("late-{k}"))).collect();
    let ids: Vec<EventId> = batch.iter().map(|e| e.envelope.event_id).collect();
    let err = j.append(batch).await.expect_err("full");
    assert_eq!(fault(&err), Some(StorageFault::Full), "{err}");
    for id in &ids {
        assert!(j.get(*id).await.expect("read").is_none(), "nothing of a refused batch is journaled");
    }
    assert_eq!(j.depth(), depth);
    assert!(j.probe().await.is_err(), "not ready at the brim");
    let status = j.storage();
    assert!(!status.writable);
    assert_eq!(status.fault, Some(StorageFault::Full));
    assert_eq!(status.max_bytes, Some(128 << 10));
    let refusals = j.storage_refusals();
    assert!(refusals.iter().any(|(f, n)| *f == StorageFault::Full && *n >= 3), "{refusals:?}");

    // Every acknowledged entry is there, also after a reopen with room.
    for id in &acked {
        assert!(j.get(*id).await.expect("read").is_some());
    }
    j.close().await;
    let j = Journal::open(&path, options(0, 1 << 20)).expect("reopen");
    assert_eq!(j.depth().pending, acked.len() as u64);
    j.probe().await.expect("writable with a larger cap");
    assert!(j.storage().writable);
    j.append(vec![entry("after")]).await.expect("room again");
    j.close().await;
}

#[tokio::test]
async fn below_the_reserve_only_new_events_are_refused_and_shedding_delivered_entries_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.sqlite3");
    let j = Journal::open(&path, options(64 << 10, 256 << 10)).expect("open");
    let (acked, err) = fill(&j, 5).await;
    assert_eq!(fault(&err), Some(StorageFault::Reserve), "{err}");
    assert_eq!(j.storage().fault, Some(StorageFault::Reserve));
    assert!(matches!(j.probe().await, Err(JournalError::Unwritable { fault: StorageFault::Reserve, .. })));
    let status = j.storage();
    assert!(status.free_bytes.expect("known") < status.reserve_bytes, "{status:?}");

    // A replay is answered; a verdict is written, into the reserve.
    let first = j.get(acked[0]).await.expect("read").expect("journaled");
    let replay = NewEntry { envelope: first.envelope.clone(), fingerprint: [7; 32] };
    assert!(matches!(&j.append(vec![replay]).await.expect("replay")[..], [Appended::Replay(_)]));
    let pending = j.pending(0, 10_000).await.expect("pending");
    let verdicts = pending.iter().map(|e| (e.seq, applied())).collect();
    j.settle(verdicts).await.expect("verdicts go into the reserve");
    assert_eq!(j.depth().delivered, acked.len() as u64);

    // Dropping delivered entries frees pages for new events.
    let shed = j.compact_delivered(10_000).await.expect("shed");
    assert_eq!(shed, acked.len() as u64);
    j.probe().await.expect("writable again");
    assert!(j.storage().writable);
    j.append(vec![entry("after")]).await.expect("room again");
    j.close().await;
}
