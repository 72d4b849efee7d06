//! The ledger's answer for one event (contract: "Verdicts";
//! `migrations-notes/0003-order-independence.md` for `waiting`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `applied`, `duplicate`, `rejected` or `waiting`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Applied,
    Duplicate,
    Rejected,
    /// Kept by the ledger until a prerequisite arrives (`waitingFor`): not
    /// settled yet. `code` is the code it would get.
    Waiting,
}

/// What a waiting event waits for: a `kind` (`session`, `device`,
/// `camera`, `member`, `device_free`, `hold`, `still`) and its `key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct WaitingFor {
    #[schema(example = "camera")]
    pub kind: String,
    #[schema(example = "shoot-2026-11-30-studio-b/hero")]
    pub key: String,
}

/// The ledger's verdict on one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub verdict: VerdictKind,
    /// Machine-readable reason of a rejection (`session_completed`,
    /// `camera_not_in_session`, `hold_not_open`, …); of a waiting event,
    /// the code it would get.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "camera_not_in_session")]
    pub code: Option<String>,
    /// Human-readable message of a rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For a duplicate: the verdict of the first application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<VerdictKind>,
    /// The event's place in the ledger's timeline order:
    /// `pad15(receivedAt).instance.pad12(seq)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "001764531000000.3f9c2a7b1e4d8c06.000000000042")]
    pub timeline: Option<String>,
    /// For a waiting event: what it waits for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waiting_for: Option<WaitingFor>,
    /// Ids of the ledger rows written, by table.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub ledger_ids: BTreeMap<String, String>,
}

impl Verdict {
    /// Whether the event, in effect, was refused by the ledger: rejected
    /// now, or a duplicate of an event that was rejected.
    pub fn is_rejection(&self) -> bool {
        match self.verdict {
            VerdictKind::Rejected => true,
            VerdictKind::Applied | VerdictKind::Waiting => false,
            VerdictKind::Duplicate => self.original == Some(VerdictKind::Rejected),
        }
    }

    /// Whether the ledger keeps the event waiting (nothing is settled).
    pub fn is_waiting(&self) -> bool {
        self.verdict == VerdictKind::Waiting
    }
}
