//! The names of the contract's reads (`convex/ledger.ts`;
//! `migrations-notes/0005-registry-repair-and-reads.md`, "Reads"), named
//! once: Convex answers them as internal queries, the embedded ledger in
//! `EmbeddedLedger::query`, and `crate::reads` asks them of either.

pub const SESSION_HEADER: &str = "ledger:sessionHeader";
pub const SESSION_EVENTS: &str = "ledger:sessionEvents";
pub const SESSION_STILLS: &str = "ledger:sessionStills";
pub const SESSION_PLACEMENTS: &str = "ledger:sessionPlacements";
pub const SESSIONS: &str = "ledger:sessions";
pub const DEVICES: &str = "ledger:devices";
pub const CLASHES: &str = "ledger:clashes";
pub const DEVICE: &str = "ledger:device";

/// Every read both ledgers answer.
pub const ALL: [&str; 8] =
    [SESSION_HEADER, SESSION_EVENTS, SESSION_STILLS, SESSION_PLACEMENTS, SESSIONS, DEVICES, CLASHES, DEVICE];
