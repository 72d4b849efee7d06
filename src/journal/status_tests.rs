//! The journal's identity and the states of its entries, through its own
//! API: the instance id kept in the file, and waiting entries.

use super::*;
use crate::domain::{Envelope, Event, EventId, Millis, SessionKey, VerdictKind, WaitingFor};

fn verdict(kind: VerdictKind) -> Verdict {
    Verdict {
        verdict: kind,
        code: None,
        message: None,
        original: None,
        timeline: Some("001764531000000.test.000000000001".into()),
        waiting_for: None,
        ledger_ids: Default::default(),
    }
}

fn waiting(key: &str) -> Verdict {
    Verdict {
        code: Some("camera_not_in_session".into()),
        waiting_for: Some(WaitingFor { kind: "camera".into(), key: key.into() }),
        ..verdict(VerdictKind::Waiting)
    }
}

fn rejected() -> Verdict {
    Verdict { code: Some("camera_not_in_session".into()), ..verdict(VerdictKind::Rejected) }
}

fn entry(label: &str) -> NewEntry {
    NewEntry {
        envelope: Envelope {
            event_id: EventId::new_random(),
            at: Millis(1_764_531_000_000),
            received_at: Millis::now(),
            event: Event::Marker { session_key: SessionKey::parse("states").expect("key"), label: label.into() },
        },
        fingerprint: [3; 32],
    }
}

#[tokio::test]
async fn the_instance_id_is_made_once_and_kept_in_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.sqlite3");
    let j = Journal::open(&path, JournalOptions::default()).expect("open");
    let id = j.instance_id().clone();
    assert_eq!(id.as_str().len(), 16, "{id}");
    let appended = j.append(vec![entry("a")]).await.expect("append");
    let journaled = appended[0].entry().journaled(j.instance_id());
    assert_eq!(journaled.instance, id);
    assert_eq!(journaled.seq, u64::try_from(appended[0].entry().seq).expect("seq"));
    let wire = serde_json::to_value(&journaled).expect("json");
    assert_eq!(wire["instance"], id.as_str());
    assert_eq!(wire["seq"], 1);
    assert_eq!(wire["type"], "marker");
    j.close().await;

    let j = Journal::open(&path, JournalOptions::default()).expect("reopen");
    assert_eq!(j.instance_id(), &id, "the same journal keeps its id");
    j.close().await;

    let other = Journal::open(&dir.path().join("other.sqlite3"), JournalOptions::default()).expect("open");
    assert_ne!(other.instance_id(), &id, "another journal has another id");
    other.close().await;
}

#[tokio::test]
async fn a_journal_from_before_instance_ids_gets_one_on_first_open() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.sqlite3");
    let j = Journal::open(&path, JournalOptions::default()).expect("open");
    j.append(vec![entry("old")]).await.expect("append");
    j.close().await;
    {
        // As version 1 left it: no meta table.
        let c = rusqlite::Connection::open(&path).expect("sqlite");
        c.execute_batch("DROP TABLE meta; PRAGMA user_version = 1;").expect("downgrade");
    }
    let j = Journal::open(&path, JournalOptions::default()).expect("open a version 1 journal");
    let id = j.instance_id().clone();
    assert_eq!(j.depth().pending, 1);
    j.close().await;
    let j = Journal::open(&path, JournalOptions::default()).expect("reopen");
    assert_eq!(j.instance_id(), &id);
    j.close().await;
}

#[tokio::test]
async fn a_waiting_entry_is_kept_with_its_verdict_and_not_sent_again_until_it_settles() {
    let dir = tempfile::tempdir().expect("tempdir");
    let j = Journal::open(&dir.path().join("journal.sqlite3"), JournalOptions::default()).expect("open");
    let appended = j.append((0..5).map(|i| entry(&format!("e{i}"))).collect()).await.expect("append");
    let seqs: Vec<i64> = appended.iter().map(|a| a.entry().seq).collect();
    let ids: Vec<EventId> = appended.iter().map(|a| a.entry().envelope.event_id).collect();

    // 0 applied, 1 and 2 and 3 waiting, 4 stays pending.
    let settled = j.settled_watch();
    j.settle(vec![
        (seqs[0], verdict(VerdictKind::Applied)),
        (seqs[1], waiting("states/hero")),
        (seqs[2], waiting("states/wide")),
        (seqs[3], waiting("states/close")),
    ])
    .await
    .expect("verdicts");
    assert!(settled.has_changed().expect("watch"), "waiters hear of the change");
    assert_eq!(j.depth(), Depth { pending: 1, waiting: 3, delivered: 1, rejected: 0 });

    let e = j.get(ids[1]).await.expect("read").expect("entry");
    assert_eq!(e.status, Status::Waiting);
    assert_eq!(e.settled_at, None, "waiting is not settled");
    let v = e.verdict.expect("the waiting verdict is kept");
    assert_eq!(v.code.as_deref(), Some("camera_not_in_session"));
    assert_eq!(v.waiting_for.as_ref().map(|w| w.key.as_str()), Some("states/hero"));

    // The pending loop sees only the pending entry; the waiting read, the
    // waiting ones, oldest first, with a limit and a cursor.
    let pending = j.pending(0, 100).await.expect("pending");
    assert_eq!(pending.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![seqs[4]]);
    let first = j.waiting(0, 2).await.expect("waiting");
    assert_eq!(first.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![seqs[1], seqs[2]]);
    let rest = j.waiting(seqs[2], 2).await.expect("waiting");
    assert_eq!(rest.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![seqs[3]]);

    // Still waiting (for something else now): the verdict is replaced.
    j.settle(vec![(seqs[1], waiting("states/hero-2"))]).await.expect("verdict");
    let e = j.get(ids[1]).await.expect("read").expect("entry");
    assert_eq!(e.verdict.and_then(|v| v.waiting_for).map(|w| w.key), Some("states/hero-2".into()));
    assert_eq!(j.depth().waiting, 3);

    // Settled later: applied, rejected; missing in the ledger: pending again.
    j.settle(vec![(seqs[1], verdict(VerdictKind::Applied)), (seqs[2], rejected())]).await.expect("verdicts");
    assert_eq!(j.unwait(vec![seqs[3], seqs[0], seqs[4]]).await.expect("unwait"), 1, "only waiting entries move");
    assert_eq!(j.depth(), Depth { pending: 2, waiting: 0, delivered: 2, rejected: 1 });
    let e = j.get(ids[3]).await.expect("read").expect("entry");
    assert_eq!((e.status, e.verdict), (Status::Pending, None));
    let e = j.get(ids[2]).await.expect("read").expect("entry");
    assert_eq!(e.status, Status::Rejected);
    assert!(e.settled_at.is_some());

    // A final verdict stays final.
    j.settle(vec![(seqs[2], waiting("states/wide"))]).await.expect("verdict");
    assert_eq!(j.get(ids[2]).await.expect("read").expect("entry").status, Status::Rejected);
    j.close().await;
}

#[tokio::test]
async fn waiting_entries_survive_compaction_and_a_reopen_counts_them() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.sqlite3");
    let j = Journal::open(&path, JournalOptions::default()).expect("open");
    let appended = j.append((0..3).map(|i| entry(&format!("c{i}"))).collect()).await.expect("append");
    let seqs: Vec<i64> = appended.iter().map(|a| a.entry().seq).collect();
    j.settle(vec![(seqs[0], verdict(VerdictKind::Applied)), (seqs[1], waiting("states/hero"))])
        .await
        .expect("verdicts");
    let removed = j.compact(Millis(Millis::now().0 + 60_000)).await.expect("compact");
    assert_eq!(removed, 1, "only the delivered entry goes");
    assert_eq!(j.depth(), Depth { pending: 1, waiting: 1, delivered: 0, rejected: 0 });
    assert_eq!(j.report().await.expect("report").last_settled_at, None);
    j.close().await;
    let j = Journal::open(&path, JournalOptions::default()).expect("reopen");
    assert_eq!(j.depth(), Depth { pending: 1, waiting: 1, delivered: 0, rejected: 0 });
    assert_eq!(j.waiting(0, 10).await.expect("waiting").len(), 1);
    j.close().await;
}

#[tokio::test]
async fn a_journal_of_schema_1_is_rebuilt_with_every_entry_and_no_seq_reused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("journal.sqlite3");
    {
        // A journal as version 1 made it, with its last entry compacted
        // away (AUTOINCREMENT remembers seq 3).
        let c = rusqlite::Connection::open(&path).expect("sqlite");
        c.execute_batch(&format!(
            "PRAGMA application_id = {JOURNAL_APPLICATION_ID};
             CREATE TABLE entries (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL UNIQUE,
                partition TEXT NOT NULL, kind TEXT NOT NULL, fingerprint BLOB NOT NULL,
                envelope TEXT NOT NULL, received_at INTEGER NOT NULL,
                status TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'rejected')),
                verdict TEXT, attempts INTEGER NOT NULL DEFAULT 0, last_error TEXT, settled_at INTEGER);
             CREATE INDEX entries_pending ON entries (seq) WHERE status = 'pending';
             CREATE INDEX entries_partition ON entries (partition, seq);
             CREATE INDEX entries_settled ON entries (settled_at) WHERE status != 'pending';
             PRAGMA user_version = 1;"
        ))
        .expect("schema 1");
        let old = entry("old");
        let json = serde_json::to_string(&old.envelope).expect("json");
        for (seq, status, verdict) in [
            (1, "delivered", Some(r#"{"verdict":"applied","sequence":4}"#)),
            (2, "pending", None),
            (3, "pending", None),
        ] {
            let id = if seq == 1 { old.envelope.event_id.to_string() } else { EventId::new_random().to_string() };
            c.execute(
                "INSERT INTO entries (seq, event_id, partition, kind, fingerprint, envelope, received_at, status, verdict, settled_at)
                 VALUES (?1, ?2, 'session:states', 'marker', x'03', ?3, 1, ?4, ?5, 1)",
                rusqlite::params![seq, id, json, status, verdict],
            )
            .expect("row");
        }
        c.execute("DELETE FROM entries WHERE seq = 3", []).expect("compacted");
    }
    let j = Journal::open(&path, JournalOptions::default()).expect("open a version 1 journal");
    assert_eq!(j.depth(), Depth { pending: 1, waiting: 0, delivered: 1, rejected: 0 });
    let pending = j.pending(0, 10).await.expect("pending");
    j.settle(vec![(pending[0].seq, waiting("states/hero"))]).await.expect("waiting fits the new schema");
    assert_eq!(j.depth().waiting, 1);
    let fresh = j.append(vec![entry("new")]).await.expect("append");
    assert_eq!(fresh[0].entry().seq, 4, "no seq is reused");
    let v = j.get(j.pending(0, 10).await.expect("p")[0].envelope.event_id).await.expect("get");
    assert!(v.is_some());
    j.close().await;
}
