//! The journal's identity and the states of its entries, through its own
//! API: the instance id kept in the file.

use super::*;
use crate::domain::{Envelope, Event, EventId, Millis, SessionKey};

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
