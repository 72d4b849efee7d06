//! Every limit of the service, named once.
//!
//! The numbers a client, an operator or the ledger can run into live here,
//! each with the reason for its value; the code that enforces a limit names
//! it from here. Defaults of configurable limits are the settings' defaults
//! in `config.rs` (they take these constants). The rules of single fields
//! (text lengths, placement ranges, key lengths) are the domain's and live
//! with their types in `domain/`.
//!
//! The Convex functions enforce some of the same numbers on their side
//! (`convex/limits.ts`, `convex/wire.ts`); `tests/limits.rs` reads those
//! files and fails when the two sides disagree.

use std::time::Duration;

/// Body of a request that carries one event (Segment's 32 KB per event).
pub const EVENT_BODY_MAX: usize = 32 * 1024;

/// Body of a request that may carry a batch (Segment's 500 KB per batch).
pub const BATCH_BODY_MAX: usize = 500 * 1024;

/// How much of an oversized body is still read (and thrown away) before the
/// 413, so that a client that is still sending reads the answer instead of
/// a reset connection. Larger bodies are cut off at once.
pub const OVERSIZE_DRAIN_MAX: usize = 4 * 1024 * 1024;

/// Most events in one request (a director-event batch).
pub const REQUEST_EVENTS_MAX: usize = 500;

/// Most events in one ledger call (`ingest:applyBatch`); the forwarder's
/// batch size is configurable up to this. Equal to Convex's `MAX_BATCH`.
pub const LEDGER_BATCH_MAX: u32 = 500;

/// Most bytes of JSON of the events of one ledger call (the note 0003
/// names it `MAX_BATCH_BYTES`; the Convex functions do not check it), and
/// the default of `SHOOTLOG_LEDGER_BATCH_BYTES`:
/// far under the 16 MiB a Convex function may take as arguments, or write,
/// and under the client's 16 MiB frame, so that a batch of large events
/// (4,000-character notes) is cut rather than refused. A single larger
/// event still goes alone.
pub const LEDGER_BATCH_BYTES: usize = 512 * 1024;

/// Most event ids in one `ingest:settle` call (the forwarder asks after
/// this many waiting entries at a time).
pub const LEDGER_SETTLE_MAX: u32 = 500;

/// Default of how often the forwarder asks the ledger after its waiting
/// entries, in seconds (`SHOOTLOG_WAITING_POLL_SECS`).
pub const WAITING_POLL_SECS: u64 = 2;

/// Default of the grace period after a session's completion during which
/// its waiting events may still be applied, in seconds
/// (`SHOOTLOG_WAITING_GRACE_SECS`, sent as `graceMs`).
pub const WAITING_GRACE_SECS: u64 = 600;

/// Default of how long a device may go unseen before the registry reads it
/// as `stale`, in seconds (`SHOOTLOG_DEVICE_STALE_SECS`).
pub const DEVICE_STALE_SECS: u64 = 15 * 60;

/// Devices the registry read (`GET /v1/devices`) gathers at most from a
/// ledger before it filters; beyond, the answer says it is `truncated`.
pub const REGISTRY_READ_MAX: usize = 10_000;

/// Live sessions whose cameras the registry read looks at, at most.
pub const LIVE_SESSIONS_READ_MAX: usize = 1_000;

/// The largest page an operator's list read answers (`limit`), and its
/// default.
pub const LIST_PAGE_MAX: u32 = 256;
pub const LIST_PAGE_DEFAULT: u32 = 100;

/// The longest `Prefer: wait=N` honoured, whatever the request timeout.
pub const PREFER_WAIT_MAX: Duration = Duration::from_secs(20);

/// Time kept between the end of a `Prefer: wait` and the request timeout,
/// for the journal read and the answer itself.
pub const PREFER_WAIT_HEADROOM: Duration = Duration::from_secs(2);

/// The longest `Prefer: wait` honoured under a given request timeout: at most
/// [`PREFER_WAIT_MAX`], and [`PREFER_WAIT_HEADROOM`] short of the timeout, so
/// that a wait always ends in an answer (202 at worst), never in a 408.
pub fn prefer_wait_cap(request_timeout: Duration) -> Duration {
    request_timeout.saturating_sub(PREFER_WAIT_HEADROOM).min(PREFER_WAIT_MAX)
}

/// Default of the longest a request may take, body included, in seconds.
pub const REQUEST_TIMEOUT_SECS: u64 = 30;

/// Default of the longest a client may take to send its headers, in seconds.
pub const HEADER_TIMEOUT_SECS: u64 = 10;

/// Default of the requests handled at once; beyond, new ones are shed (503).
pub const MAX_CONCURRENCY: u64 = 1024;

/// Per-caller rate-limit buckets kept at most; full, idle ones are
/// forgotten first.
pub const RATE_BUCKETS_MAX: usize = 10_000;

/// Distinct ledger rejection codes that get a label of their own in
/// `shootlog_ledger_rejections_total`; beyond, a code counts as `other`.
/// The ledger's codes are a short, fixed list (`convex/apply/`); the bound
/// keeps a misbehaving deployment from growing the metrics without end.
pub const REJECTION_CODE_LABELS_MAX: usize = 32;

/// A Standard Webhooks timestamp further than this from the service's clock
/// is refused (the specification's 5 minutes).
pub const WEBHOOK_TOLERANCE_SECS: i64 = 5 * 60;

/// Default of the undelivered events the journal holds before writes answer 503.
pub const MAX_BACKLOG: u64 = 1_000_000;

/// Rows a journal read (`GET /v1/sessions/{key}/journal`) returns at most.
pub const JOURNAL_PAGE_MAX: u32 = 1000;

/// Rows of one page of a paged ledger read (`ledger:sessionEvents`, …):
/// Convex's `READ_PAGE_MAX`. 256 director events with 4,000-character
/// notes are about 1.2 MiB, far under the client's 16 MiB frame.
pub const LEDGER_READ_PAGE: u32 = 256;

/// Rows of one list of a session (director events, stills, placements)
/// that `GET /v1/sessions/{key}` assembles at most; beyond, the answer says
/// the list is `truncated` (the journal read pages through everything).
pub const SESSION_LIST_MAX: usize = 100_000;

/// A ledger read answers a client that waits: it gives up sooner than a
/// write, which the forwarder retries anyway.
pub const LEDGER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The longest a ledger handshake may take before the deployment counts as
/// unreachable.
pub const LEDGER_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Default of how often the forwarder runs the ledger handshake while the
/// ledger is connected, in seconds (it also runs one after every failed
/// call, and before any event is settled as `ledger_exception`).
pub const LEDGER_CHECK_SECS: u64 = 30;

/// Longest wait for in-flight requests after a shutdown signal.
pub const DRAIN_GRACE: Duration = Duration::from_secs(25);

/// How long open connections keep being answered (with `Connection: close`)
/// after a shutdown signal, before idle ones are closed.
pub const DRAIN_LINGER: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wait_cap_follows_the_request_timeout() {
        assert_eq!(prefer_wait_cap(Duration::from_secs(30)), PREFER_WAIT_MAX);
        assert_eq!(prefer_wait_cap(Duration::from_secs(10)), Duration::from_secs(8));
        assert_eq!(prefer_wait_cap(Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(prefer_wait_cap(Duration::from_secs(3600)), PREFER_WAIT_MAX);
    }
}
