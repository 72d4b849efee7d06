//! Typed events and their rules. No I/O: everything here is pure data and
//! validation, shared as vocabulary by every layer above and below.
//!
//! A request is turned into an [`Envelope`] at the edge (`api/`); once it is
//! one, every key, kind and range in it is valid by construction.

mod event;
mod journaled;
mod keys;
mod placement;
mod time;
mod verdict;

use std::fmt;

pub use event::{CueKind, Envelope, Event, EventKind, Partition, Platform, Role, Transition, validate_event};
pub use journaled::{InstanceId, InstanceIdError, Journaled};
pub use keys::{CameraKey, DeviceId, EventId, HoldId, KeyError, SessionKey, StillId};
pub use placement::{Orientation, PLACEMENT_NOTES_MAX, PLACEMENT_RANGES, Placement, Range};
pub use time::{Millis, SenderClock, TimeError};
pub use verdict::{Verdict, VerdictKind, WaitingFor};

/// Why a field was refused: the `code` of a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ViolationCode {
    /// A required field is absent.
    Missing,
    /// A field the request type does not have.
    UnknownField,
    /// An enum value (or event `type`) that does not exist.
    UnknownVariant,
    /// The wrong JSON type (a number where a string belongs, …).
    Type,
    /// An array with too few or too many items.
    Length,
    /// A number or time outside its range.
    OutOfRange,
    /// A text or key longer than its limit.
    TooLong,
    /// A text or key that is empty or blank.
    Empty,
    /// Characters a key or text may not hold.
    Charset,
    /// A value in the wrong format (timestamp, media type, digest, URL).
    Format,
    /// The same event id twice in one request.
    Duplicate,
    /// An event id sent before with other content.
    Reused,
    /// Any other malformed value.
    Invalid,
}

impl ViolationCode {
    const ALL: [ViolationCode; 13] = [
        ViolationCode::Missing,
        ViolationCode::UnknownField,
        ViolationCode::UnknownVariant,
        ViolationCode::Type,
        ViolationCode::Length,
        ViolationCode::OutOfRange,
        ViolationCode::TooLong,
        ViolationCode::Empty,
        ViolationCode::Charset,
        ViolationCode::Format,
        ViolationCode::Duplicate,
        ViolationCode::Reused,
        ViolationCode::Invalid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ViolationCode::Missing => "missing",
            ViolationCode::UnknownField => "unknown_field",
            ViolationCode::UnknownVariant => "unknown_variant",
            ViolationCode::Type => "type",
            ViolationCode::Length => "length",
            ViolationCode::OutOfRange => "out_of_range",
            ViolationCode::TooLong => "too_long",
            ViolationCode::Empty => "empty",
            ViolationCode::Charset => "charset",
            ViolationCode::Format => "format",
            ViolationCode::Duplicate => "duplicate",
            ViolationCode::Reused => "reused",
            ViolationCode::Invalid => "invalid",
        }
    }

    /// A domain rule's error as a serde error message that keeps its code:
    /// serde carries only text from a type's `Deserialize` to the caller,
    /// so the code travels in front of the detail, behind a separator no
    /// human message holds. [`ViolationCode::untag`] takes it back apart.
    pub fn tag(self, detail: impl fmt::Display) -> String {
        format!("{TAG}{}{TAG}{detail}", self.as_str())
    }

    /// The code and the detail of a message made by [`ViolationCode::tag`]
    /// (serde may have added text after it, such as " at line 1 column 9").
    pub fn untag(message: &str) -> Option<(ViolationCode, &str)> {
        let rest = message.strip_prefix(TAG)?;
        let (code, detail) = rest.split_once(TAG)?;
        let code = Self::ALL.into_iter().find(|c| c.as_str() == code)?;
        Some((code, detail))
    }
}

/// Separates a code from its detail in a tagged serde message (ASCII unit
/// separator).
const TAG: char = '\u{1f}';

impl fmt::Display for ViolationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One rule broken by a request, with the JSON pointer (RFC 6901) of the
/// field that broke it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, utoipa::ToSchema)]
pub struct Violation {
    /// JSON pointer into the request body, e.g. `/events/2/cameraKey`.
    #[schema(example = "/placement/panDeg")]
    pub pointer: String,
    /// Machine-readable reason.
    pub code: ViolationCode,
    /// What is wrong, for people.
    #[schema(example = "panDeg must be between -180 and 180 degrees")]
    pub detail: String,
}

impl Violation {
    pub fn new(pointer: impl Into<String>, code: ViolationCode, detail: impl Into<String>) -> Self {
        Self { pointer: pointer.into(), code, detail: detail.into() }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tagged_message_keeps_its_code() {
        let m = format!("{} at line 1 column 9", ViolationCode::Charset.tag("may contain only letters"));
        assert_eq!(
            ViolationCode::untag(&m),
            Some((ViolationCode::Charset, "may contain only letters at line 1 column 9"))
        );
        assert_eq!(ViolationCode::untag("invalid type: integer `7`"), None);
        for c in ViolationCode::ALL {
            assert_eq!(ViolationCode::untag(&c.tag("x")), Some((c, "x")));
            assert_eq!(serde_json::to_value(c).ok(), Some(serde_json::Value::from(c.as_str())));
        }
    }
}
