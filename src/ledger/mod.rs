//! The ledger: where settled history lives. A sink trait, its Convex
//! implementation, and the embedded default (no ledger configured).
//!
//! The ledger knows only `domain`: it takes journaled envelopes and answers
//! one [`Verdict`] per event, in order.

mod convex;

use std::future::Future;
use std::pin::Pin;

use crate::domain::{Envelope, SessionKey, Verdict};

pub use self::convex::{ConvexLedger, ConvexSettings};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a ledger call did not produce verdicts.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LedgerError {
    /// The call may not have reached the ledger, or its answer did not come
    /// back (timeout, dropped connection). Safe to retry: every write is
    /// idempotent on its event id.
    #[error("ledger unreachable: {0}")]
    Transport(String),
    /// The ledger ran the function and it failed as a whole (a bug, or an
    /// event the function cannot handle). Retrying the same batch would fail
    /// the same way; the forwarder isolates the event that causes it.
    #[error("ledger function failed: {0}")]
    Function(String),
    /// The ledger answered something this build does not understand.
    #[error("unexpected ledger answer: {0}")]
    Protocol(String),
}

/// A ledger that settles journaled events.
pub trait Ledger: Send + Sync + 'static {
    /// `"convex"`, or `"none"` on the embedded default.
    fn mode(&self) -> &'static str;

    /// Whether a ledger is configured at all.
    fn is_configured(&self) -> bool {
        true
    }

    /// Whether the connection is believed up right now.
    fn is_connected(&self) -> bool;

    /// Applies events in order; answers one verdict per event, same order.
    fn apply_batch<'a>(&'a self, events: &'a [Envelope]) -> BoxFuture<'a, Result<Vec<Verdict>, LedgerError>>;

    /// A session's whole ledger (session, cameras, placements, events,
    /// stills), or `None` if the ledger has no such session.
    fn session<'a>(&'a self, key: &'a SessionKey) -> BoxFuture<'a, Result<Option<serde_json::Value>, LedgerError>>;
}

/// The embedded default: no ledger is configured; the journal holds every
/// event as `pending` until one is.
pub struct NoLedger;

impl Ledger for NoLedger {
    fn mode(&self) -> &'static str {
        "none"
    }

    fn is_configured(&self) -> bool {
        false
    }

    fn is_connected(&self) -> bool {
        false
    }

    fn apply_batch<'a>(&'a self, _: &'a [Envelope]) -> BoxFuture<'a, Result<Vec<Verdict>, LedgerError>> {
        Box::pin(async { Err(LedgerError::Transport("no ledger is configured".into())) })
    }

    fn session<'a>(&'a self, _: &'a SessionKey) -> BoxFuture<'a, Result<Option<serde_json::Value>, LedgerError>> {
        Box::pin(async { Err(LedgerError::Transport("no ledger is configured".into())) })
    }
}
