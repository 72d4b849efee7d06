//! The ledger: where settled history lives. A sink trait, its Convex
//! implementation, and the embedded default (no ledger configured).
//!
//! The ledger knows only `domain`: it takes journaled events (envelopes
//! with their journal's instance id and seq, [`Journaled`]) and answers one
//! [`Verdict`] per event, in order.
//!
//! # Whose fault a failure is
//!
//! Real Convex answers deployment-level refusals (a paused deployment, one
//! over its limits, functions never deployed, a key without the right role)
//! exactly like a bug in a function (`docs/convex-facts.md`). So a ledger is
//! never trusted on its word that an event is bad: it keeps a
//! [`LedgerStatus`], learnt from a **handshake** (an internal function that
//! answers the contract version and the build of the deployed functions),
//! and only while that status is [`LedgerState::Connected`] may an event be
//! settled. In every other state events stay pending in the journal.

mod convex;
pub mod reads;
mod session;

use std::future::Future;
use std::pin::Pin;

use serde::Serialize;

use crate::domain::{EventId, Journaled, Millis, SessionKey, Verdict};

pub use self::convex::{
    APPLY_BATCH, ConvexLedger, ConvexSettings, HANDSHAKE, RECEIPT_QUERY, SESSION_EVENTS, SESSION_HEADER,
    SESSION_PLACEMENTS, SESSION_STILLS, SETTLE,
};
pub use self::session::{Page, SessionList, SessionRead, read_session};

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
    /// The deployment gave up on the call because other calls kept writing
    /// the same documents (an OCC write conflict, after its own retries).
    /// Nothing was applied; the same call later succeeds. Retried like a
    /// transport failure, never held against the events.
    #[error("ledger write conflict: {0}")]
    Contention(String),
}

impl LedgerError {
    /// A function error as the ledger's client reports it, told apart from
    /// a write conflict. Over the sync socket a conflict carries no code,
    /// only the backend's fixed sentence (`docs/convex-facts.md`, "OCC"); it
    /// is matched here, once.
    pub fn of_function_message(message: String) -> Self {
        const CONFLICT: &str = "changed while this mutation was being run and on every subsequent retry";
        if message.contains("Documents read from or written to") && message.contains(CONFLICT) {
            LedgerError::Contention(message)
        } else {
            LedgerError::Function(message)
        }
    }
}

/// The version of the contract between this service and the ledger's
/// functions: what `ingest:applyBatch` takes and answers, and the rules it
/// keeps. Defined once here and once in `convex/contract.ts`
/// (`tests/limits.rs` fails when they differ); bumped by any change that
/// an older deployment or an older service could not follow. Version 2:
/// order independence (`migrations-notes/0003-order-independence.md`).
pub const CONTRACT_VERSION: u32 = 3;

/// The size of an event's JSON on the wire (`WireEvent`, as
/// `ingest:applyBatch` measures its batches), without building it.
pub fn wire_len(event: &Journaled) -> usize {
    struct Count(usize);
    impl std::io::Write for Count {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut count = Count(0);
    // Writing into a counter cannot fail; a value serde refuses would fail
    // the call itself.
    let _ = serde_json::to_writer(&mut count, event);
    count.0
}

/// What the ledger says of an event it was asked after (`ingest:settle`).
#[derive(Debug, Clone, PartialEq)]
pub enum Settled {
    /// Its current verdict: applied, rejected, or still waiting.
    Verdict(Verdict),
    /// The ledger has no receipt of it: it is to be sent again.
    Missing,
}

/// How the ledger stands, as the last handshake found it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LedgerState {
    /// No ledger is configured: the journal holds every event.
    None,
    /// The deployment answers, accepts the key, and keeps this contract.
    Connected,
    /// The deployment cannot be reached (network, DNS, timeouts).
    Unreachable,
    /// The deployment refuses the deploy key, or its role may not run
    /// internal functions.
    Unauthorized,
    /// The deployment refuses to run functions: paused, over its plan's or
    /// spending limits, or the functions were never deployed.
    Unusable,
    /// The deployed functions keep another contract version.
    Incompatible,
}

impl LedgerState {
    pub const ALL: [LedgerState; 6] = [
        LedgerState::None,
        LedgerState::Connected,
        LedgerState::Unreachable,
        LedgerState::Unauthorized,
        LedgerState::Unusable,
        LedgerState::Incompatible,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LedgerState::None => "none",
            LedgerState::Connected => "connected",
            LedgerState::Unreachable => "unreachable",
            LedgerState::Unauthorized => "unauthorized",
            LedgerState::Unusable => "unusable",
            LedgerState::Incompatible => "incompatible",
        }
    }
}

/// What the deployment said of itself in the handshake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    /// The contract version its functions keep.
    pub contract_version: u32,
    /// The build of its functions (a hash of `convex/`).
    pub functions_build_id: String,
}

/// The ledger's state, why, and since when.
#[derive(Debug, Clone, PartialEq)]
pub struct LedgerStatus {
    pub state: LedgerState,
    /// Why the state is what it is (the deployment's own message, where it
    /// gave one).
    pub reason: Option<String>,
    /// When the state last changed.
    pub since: Millis,
    /// When the last handshake ended.
    pub checked_at: Option<Millis>,
    /// The round trip of the last handshake that was answered.
    pub round_trip_ms: Option<f64>,
    /// What the deployment said in the last successful handshake.
    pub deployment: Option<Deployment>,
    /// How often the state changed since start.
    pub changes: u64,
}

impl LedgerStatus {
    pub fn new(state: LedgerState, reason: Option<String>) -> Self {
        Self {
            state,
            reason,
            since: Millis::now(),
            checked_at: None,
            round_trip_ms: None,
            deployment: None,
            changes: 0,
        }
    }
}

/// A ledger that settles journaled events.
pub trait Ledger: Send + Sync + 'static {
    /// `"convex"`, or `"none"` on the embedded default.
    fn mode(&self) -> &'static str;

    /// Whether a ledger is configured at all.
    fn is_configured(&self) -> bool {
        true
    }

    /// The status the last handshake found.
    fn status(&self) -> LedgerStatus;

    /// Runs the handshake now and answers the status it finds.
    fn check(&self) -> BoxFuture<'_, LedgerStatus>;

    /// Whether the ledger may settle events right now.
    fn is_connected(&self) -> bool {
        self.status().state == LedgerState::Connected
    }

    /// The host of the deployment, for reports (never its key).
    fn host(&self) -> Option<String> {
        None
    }

    /// Applies events in order; answers one verdict per event, same order.
    fn apply_batch<'a>(&'a self, events: &'a [Journaled]) -> BoxFuture<'a, Result<Vec<Verdict>, LedgerError>>;

    /// The current verdicts of events the ledger answered `waiting` for,
    /// same order; waiting events of the list whose session was completed
    /// more than `grace` ago are rejected first (`ingest:settle`).
    fn settle<'a>(
        &'a self,
        events: &'a [EventId],
        grace: std::time::Duration,
    ) -> BoxFuture<'a, Result<Vec<Settled>, LedgerError>>;

    /// A session's header, `{ session, cameras }`, or `None` if the ledger
    /// has no such session (`ledger:sessionHeader`).
    fn session_header<'a>(
        &'a self,
        key: &'a SessionKey,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, LedgerError>>;

    /// One page of one of a session's lists, from `cursor` (`None`: the
    /// first page); see [`read_session`] for the whole session.
    fn session_page<'a>(
        &'a self,
        key: &'a SessionKey,
        list: SessionList,
        cursor: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, LedgerError>>;

    /// One harmless read over the same path as the writes (an event
    /// receipt nobody has): how long the round trip took.
    fn round_trip<'a>(&'a self) -> BoxFuture<'a, Result<std::time::Duration, LedgerError>>;

    /// One of the contract's named reads (`ledger:sessions`,
    /// `ledger:device`, …; `migrations-notes/0005`), with its arguments as
    /// JSON; answers the ledger's JSON.
    fn read<'a>(
        &'a self,
        name: &'static str,
        _args: serde_json::Value,
    ) -> BoxFuture<'a, Result<serde_json::Value, LedgerError>> {
        Box::pin(async move { Err(LedgerError::Transport(format!("this ledger answers no reads ({name})"))) })
    }
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

    fn status(&self) -> LedgerStatus {
        LedgerStatus::new(LedgerState::None, Some("no ledger is configured (CONVEX_URL unset)".into()))
    }

    fn check(&self) -> BoxFuture<'_, LedgerStatus> {
        Box::pin(async { self.status() })
    }

    fn apply_batch<'a>(&'a self, _: &'a [Journaled]) -> BoxFuture<'a, Result<Vec<Verdict>, LedgerError>> {
        Box::pin(async { Err(LedgerError::Transport("no ledger is configured".into())) })
    }

    fn settle<'a>(
        &'a self,
        _: &'a [EventId],
        _: std::time::Duration,
    ) -> BoxFuture<'a, Result<Vec<Settled>, LedgerError>> {
        Box::pin(async { Err(LedgerError::Transport("no ledger is configured".into())) })
    }

    fn session_header<'a>(
        &'a self,
        _: &'a SessionKey,
    ) -> BoxFuture<'a, Result<Option<serde_json::Value>, LedgerError>> {
        Box::pin(async { Err(LedgerError::Transport("no ledger is configured".into())) })
    }

    fn session_page<'a>(
        &'a self,
        _: &'a SessionKey,
        _: SessionList,
        _: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Page, LedgerError>> {
        Box::pin(async { Err(LedgerError::Transport("no ledger is configured".into())) })
    }

    fn round_trip<'a>(&'a self) -> BoxFuture<'a, Result<std::time::Duration, LedgerError>> {
        Box::pin(async { Err(LedgerError::Transport("no ledger is configured".into())) })
    }
}
