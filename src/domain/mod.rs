//! Typed events and their rules. No I/O: everything here is pure data and
//! validation, shared as vocabulary by every layer above and below.
//!
//! A request is turned into an [`Envelope`] at the edge (`api/`); once it is
//! one, every key, kind and range in it is valid by construction.

mod event;
mod keys;
mod placement;
mod time;
mod verdict;

pub use event::{CueKind, Envelope, Event, EventKind, Partition, Platform, Role, Transition, validate_event};
pub use keys::{CameraKey, DeviceId, EventId, HoldId, KeyError, SessionKey, StillId};
pub use placement::{Orientation, Placement};
pub use time::{Millis, SenderClock, TimeError};
pub use verdict::{Verdict, VerdictKind};

/// One rule broken by a request, with the JSON pointer (RFC 6901) of the
/// field that broke it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Violation {
    /// JSON pointer into the request body, e.g. `/events/2/cameraKey`.
    #[schema(example = "/placement/panDeg")]
    pub pointer: String,
    /// Machine-readable reason, e.g. `out_of_range`, `missing`, `too_long`.
    #[schema(example = "out_of_range")]
    pub code: String,
    /// What is wrong, for people.
    #[schema(example = "panDeg must be between -180 and 180 degrees")]
    pub detail: String,
}

impl Violation {
    pub fn new(pointer: impl Into<String>, code: impl Into<String>, detail: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), code: code.into(), detail: detail.into() }
    }
}

/// The fingerprint of a request's content, used to tell an idempotent replay
/// (same id, same content) from a conflicting reuse of an id. It covers the
/// event and the sender's clock as sent, not the service's receive time.
pub fn fingerprint(event: &Event, at: Option<Millis>) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    // Serializing our own enum cannot fail; an empty body would still be a
    // stable fingerprint.
    h.update(serde_json::to_vec(event).unwrap_or_default());
    h.update(b"\n");
    if let Some(at) = at {
        h.update(at.0.to_le_bytes());
    }
    h.finalize().into()
}
