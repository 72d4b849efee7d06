//! The ledger's answer for one event (contract: "Verdicts").

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// `applied`, `duplicate` or `rejected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictKind {
    Applied,
    Duplicate,
    Rejected,
}

/// The ledger's verdict on one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub verdict: VerdictKind,
    /// Machine-readable reason of a rejection (`session_completed`,
    /// `camera_not_in_session`, `hold_not_open`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(example = "camera_not_in_session")]
    pub code: Option<String>,
    /// Human-readable message of a rejection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// For a duplicate: the verdict of the first application.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<VerdictKind>,
    /// The per-session sequence number of a director event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sequence: Option<u64>,
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
            VerdictKind::Applied => false,
            VerdictKind::Duplicate => self.original == Some(VerdictKind::Rejected),
        }
    }
}
