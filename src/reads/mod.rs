//! The operator's reads: the device registry, sessions and their lists, a
//! camera's placement history. Both ledgers answer the same named reads
//! with the same shapes (`migrations-notes/0005-registry-repair-and-reads.md`,
//! "Reads"): Convex through its internal queries, the embedded ledger
//! through [`EmbeddedLedger::query`](crate::embedded::EmbeddedLedger::query).
//! This module turns their documents into typed views ([`rows`]) and
//! assembles what no single read answers ([`registry`]); `api/` only picks
//! the ledger and speaks HTTP.
//!
//! Time-relative values (`stale`) are computed here, when the service
//! answers, never inside a ledger's read.

pub mod registry;
pub mod rows;

use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::embedded::{Embedded, EmbeddedError};
use crate::ledger::{Ledger, LedgerError};
use crate::limits::LEDGER_READ_PAGE;

/// Which ledger answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The Convex deployment.
    Convex,
    /// The service's embedded ledger: the same rules over this instance's
    /// journal.
    Embedded,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Convex => "convex",
            Source::Embedded => "embedded",
        }
    }
}

/// Why a read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The ledger could not be read (transport, a failed query).
    #[error("the {0} ledger could not be read: {1}")]
    Unavailable(&'static str, String),
    /// It answered something that is not the contract's shape.
    #[error("the {0} ledger answered outside the contract: {1}")]
    Protocol(&'static str, String),
    /// The read ran and refused its arguments (a cursor it cannot take).
    #[error("the {0} ledger refused the read: {1}")]
    Refused(&'static str, String),
}

/// One page of a paged read.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub rows: Vec<Value>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<String>,
}

/// A ledger to read from.
#[derive(Clone, Copy)]
pub enum ReadLedger<'a> {
    Convex(&'a dyn Ledger),
    Embedded(&'a Embedded),
}

impl ReadLedger<'_> {
    pub fn source(&self) -> Source {
        match self {
            ReadLedger::Convex(_) => Source::Convex,
            ReadLedger::Embedded(_) => Source::Embedded,
        }
    }

    fn name(&self) -> &'static str {
        self.source().as_str()
    }

    /// One named read, as the ledger answers it.
    pub async fn query(&self, name: &'static str, args: Value) -> Result<Value, ReadError> {
        match self {
            ReadLedger::Convex(ledger) => ledger.read(name, args).await.map_err(|e| match e {
                LedgerError::Function(m) => ReadError::Refused("convex", m),
                other => ReadError::Unavailable("convex", other.to_string()),
            }),
            ReadLedger::Embedded(embedded) => embedded.call(move |l| l.query(name, &args)).await.map_err(|e| match e {
                EmbeddedError::BadRead(m) => ReadError::Refused("embedded", m),
                other => ReadError::Unavailable("embedded", other.to_string()),
            }),
        }
    }

    /// One page of a paged read: `args` with `paginationOpts` added.
    pub async fn page(
        &self,
        name: &'static str,
        args: Value,
        cursor: Option<&str>,
        num_items: u32,
    ) -> Result<Page, ReadError> {
        let mut args = args;
        if let Value::Object(m) = &mut args {
            m.insert("paginationOpts".into(), json!({ "numItems": num_items, "cursor": cursor }));
        }
        let answer = self.query(name, args).await?;
        let bad = |what: &str| ReadError::Protocol(self.name(), format!("{name}: {what}"));
        let rows = match answer.get("page") {
            Some(Value::Array(rows)) => rows.clone(),
            _ => return Err(bad("no page")),
        };
        let done = answer.get("isDone").and_then(Value::as_bool).ok_or_else(|| bad("no isDone"))?;
        let next = if done {
            None
        } else {
            Some(
                answer
                    .get("continueCursor")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("no continueCursor"))?
                    .to_string(),
            )
        };
        Ok(Page { rows, next })
    }

    /// Every row of a paged read, up to `max`; whether the list is whole.
    pub async fn all(&self, name: &'static str, args: Value, max: usize) -> Result<(Vec<Value>, bool), ReadError> {
        let mut rows = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = self.page(name, args.clone(), cursor.as_deref(), LEDGER_READ_PAGE).await?;
            rows.extend(page.rows);
            if rows.len() > max {
                rows.truncate(max);
                return Ok((rows, false));
            }
            match page.next {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                Some(_) => return Err(ReadError::Protocol(self.name(), format!("{name}: the cursor did not move"))),
                None => return Ok((rows, true)),
            }
        }
    }

    /// Typed rows of a ledger's documents.
    pub fn typed<T: serde::de::DeserializeOwned>(&self, list: &str, docs: Vec<Value>) -> Result<Vec<T>, ReadError> {
        rows::rows(list, docs).map_err(|e| ReadError::Protocol(self.name(), e))
    }
}

/// The contract's read names, named once in the ledger layer.
pub use crate::ledger::reads as names;
