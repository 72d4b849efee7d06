//! Placements refused at the edge for a value out of physical range, kept
//! (in memory, the latest [`REFUSALS_KEPT`] of all sessions) so that
//! placement debugging can show what a device tried to report and which
//! field was wrong. A refused request is never journaled, so no ledger
//! holds these; they are this instance's since it started.

use std::collections::VecDeque;
use std::sync::Mutex;

use super::session_reads::RefusedPlacement;
use crate::domain::Violation;

/// Refused placements kept, over all sessions.
pub const REFUSALS_KEPT: usize = 1000;

#[derive(Default)]
pub struct PlacementRefusals(Mutex<VecDeque<(String, RefusedPlacement)>>);

impl PlacementRefusals {
    /// Keeps the refusal of a placement of `device_id` in `session_key`,
    /// if any of `errors` is about the placement.
    pub fn record(&self, session_key: &str, device_id: &str, camera_key: Option<&str>, errors: &[Violation]) {
        let errors: Vec<Violation> = errors.iter().filter(|v| v.pointer.starts_with("/placement")).cloned().collect();
        if errors.is_empty() {
            return;
        }
        let refused = RefusedPlacement {
            device_id: device_id.to_string(),
            camera_key: camera_key.map(str::to_string),
            received_at: crate::domain::Millis::now(),
            errors,
        };
        if let Ok(mut kept) = self.0.lock() {
            if kept.len() >= REFUSALS_KEPT {
                kept.pop_front();
            }
            kept.push_back((session_key.to_string(), refused));
        }
    }

    /// The refusals kept of one session, oldest first.
    pub fn of_session(&self, session_key: &str) -> Vec<RefusedPlacement> {
        self.0
            .lock()
            .map(|kept| kept.iter().filter(|(s, _)| s == session_key).map(|(_, r)| r.clone()).collect())
            .unwrap_or_default()
    }
}
