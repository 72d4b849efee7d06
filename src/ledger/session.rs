//! Reading one session back from the ledger, page by page
//! (`migrations-notes/0003-order-independence.md`, "Paged reads"): its
//! header (the session and its cameras), then each of its lists
//! (director events, stills, placements) in pages of
//! [`LEDGER_READ_PAGE`] rows, assembled into the document the service has
//! always answered, up to [`SESSION_LIST_MAX`] rows a list.

use serde::Serialize;

use super::{Ledger, LedgerError};
use crate::domain::SessionKey;
use crate::limits::{LEDGER_READ_PAGE, SESSION_LIST_MAX};

/// A list of a session that the ledger answers page by page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionList {
    /// Director events, in timeline order (`ledger:sessionEvents`).
    Events,
    /// Stills (`ledger:sessionStills`).
    Stills,
    /// Camera placements, every version (`ledger:sessionPlacements`).
    Placements,
}

impl SessionList {
    pub const ALL: [SessionList; 3] = [SessionList::Placements, SessionList::Events, SessionList::Stills];

    /// Its name in the session document.
    pub fn as_str(self) -> &'static str {
        match self {
            SessionList::Events => "events",
            SessionList::Stills => "stills",
            SessionList::Placements => "placements",
        }
    }
}

/// One page of a paged read (Convex's `{ page, isDone, continueCursor }`).
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub rows: Vec<serde_json::Value>,
    pub is_done: bool,
    /// Where the next page starts (absent once done).
    pub cursor: Option<String>,
}

/// A session as read from the ledger.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRead {
    /// `{ session, cameras, placements, events, stills }`.
    pub document: serde_json::Value,
    /// The lists cut at [`SESSION_LIST_MAX`] rows (empty when all are
    /// whole).
    pub truncated: Vec<SessionList>,
}

/// The most pages read of one list: enough for [`SESSION_LIST_MAX`] rows,
/// with room for short pages; a ledger that keeps answering more is cut
/// off there too.
const PAGES_MAX: usize = SESSION_LIST_MAX.div_ceil(LEDGER_READ_PAGE as usize) * 2;

/// Reads a session whole: `None` when the ledger has no such session.
pub async fn read_session(ledger: &dyn Ledger, key: &SessionKey) -> Result<Option<SessionRead>, LedgerError> {
    let Some(header) = ledger.session_header(key).await? else {
        return Ok(None);
    };
    let mut document = serde_json::Map::new();
    let object = |v: &serde_json::Value, field: &str| v.get(field).cloned().unwrap_or(serde_json::Value::Null);
    document.insert("session".into(), object(&header, "session"));
    document.insert("cameras".into(), object(&header, "cameras"));
    let mut truncated = Vec::new();
    for list in SessionList::ALL {
        let (rows, whole) = read_list(ledger, key, list).await?;
        if !whole {
            truncated.push(list);
        }
        document.insert(list.as_str().into(), serde_json::Value::Array(rows));
    }
    Ok(Some(SessionRead { document: serde_json::Value::Object(document), truncated }))
}

/// Every row of one list, up to [`SESSION_LIST_MAX`]; whether it is whole.
async fn read_list(
    ledger: &dyn Ledger,
    key: &SessionKey,
    list: SessionList,
) -> Result<(Vec<serde_json::Value>, bool), LedgerError> {
    let mut rows = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..PAGES_MAX {
        let page = ledger.session_page(key, list, cursor.as_deref()).await?;
        rows.extend(page.rows);
        if rows.len() > SESSION_LIST_MAX {
            rows.truncate(SESSION_LIST_MAX);
            return Ok((rows, false));
        }
        if page.is_done {
            return Ok((rows, true));
        }
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => {
                return Err(LedgerError::Protocol(format!(
                    "a page of {} is not the last but has no continueCursor",
                    list.as_str()
                )));
            }
        }
    }
    Ok((rows, false))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::domain::{EventId, Journaled, Verdict};
    use crate::ledger::{BoxFuture, LedgerState, LedgerStatus, Settled};

    /// A session of `events` director events, 3 stills and no placements,
    /// in pages of at most 256 (cursors are row offsets).
    struct Paged {
        events: usize,
    }

    impl Ledger for Paged {
        fn mode(&self) -> &'static str {
            "paged"
        }
        fn status(&self) -> LedgerStatus {
            LedgerStatus::new(LedgerState::Connected, None)
        }
        fn check(&self) -> BoxFuture<'_, LedgerStatus> {
            Box::pin(async { self.status() })
        }
        fn apply_batch<'a>(&'a self, _: &'a [Journaled]) -> BoxFuture<'a, Result<Vec<Verdict>, LedgerError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn settle<'a>(&'a self, _: &'a [EventId], _: Duration) -> BoxFuture<'a, Result<Vec<Settled>, LedgerError>> {
            Box::pin(async { Ok(Vec::new()) })
        }
        fn session_header<'a>(
            &'a self,
            key: &'a SessionKey,
        ) -> BoxFuture<'a, Result<Option<serde_json::Value>, LedgerError>> {
            Box::pin(async move {
                Ok((key.as_str() == "known").then(
                    || serde_json::json!({"session": {"sessionKey": "known"}, "cameras": [{"cameraKey": "hero"}]}),
                ))
            })
        }
        fn session_page<'a>(
            &'a self,
            _: &'a SessionKey,
            list: SessionList,
            cursor: Option<&'a str>,
        ) -> BoxFuture<'a, Result<Page, LedgerError>> {
            Box::pin(async move {
                let total = match list {
                    SessionList::Events => self.events,
                    SessionList::Stills => 3,
                    SessionList::Placements => 0,
                };
                let from: usize = cursor.map_or(0, |c| c.parse().expect("cursor"));
                let to = (from + LEDGER_READ_PAGE as usize).min(total);
                let rows = (from..to).map(|i| serde_json::json!({"n": i})).collect();
                Ok(Page { rows, is_done: to == total, cursor: Some(to.to_string()) })
            })
        }
        fn round_trip<'a>(&'a self) -> BoxFuture<'a, Result<Duration, LedgerError>> {
            Box::pin(async { Ok(Duration::ZERO) })
        }
    }

    fn key(s: &str) -> SessionKey {
        SessionKey::parse(s).expect("key")
    }

    #[tokio::test]
    async fn a_session_is_assembled_from_its_header_and_every_page() {
        let read = read_session(&Paged { events: 600 }, &key("known")).await.expect("read").expect("known");
        let doc = &read.document;
        assert_eq!(doc["session"]["sessionKey"], "known");
        assert_eq!(doc["cameras"][0]["cameraKey"], "hero");
        let events = doc["events"].as_array().expect("events");
        assert_eq!(events.len(), 600);
        assert!(events.iter().enumerate().all(|(i, e)| e["n"] == i), "in page order");
        assert_eq!(doc["stills"].as_array().map(Vec::len), Some(3));
        assert_eq!(doc["placements"], serde_json::json!([]));
        assert!(read.truncated.is_empty());
        assert_eq!(read_session(&Paged { events: 1 }, &key("unknown")).await.expect("read"), None);
    }

    #[tokio::test]
    async fn a_list_longer_than_the_bound_is_cut_and_says_so() {
        let exact = read_session(&Paged { events: SESSION_LIST_MAX }, &key("known")).await.expect("read");
        let exact = exact.expect("known");
        assert!(exact.truncated.is_empty(), "exactly the bound is whole");
        let over = read_session(&Paged { events: SESSION_LIST_MAX + 1 }, &key("known")).await.expect("read");
        let over = over.expect("known");
        assert_eq!(over.truncated, vec![SessionList::Events]);
        assert_eq!(over.document["events"].as_array().map(Vec::len), Some(SESSION_LIST_MAX));
    }
}
