//! Where an event was journaled: the journal's instance id and the event's
//! position in that journal (`migrations-notes/0003-order-independence.md`).
//! With the service's clock (`receivedAt`) they make the ledger's timeline
//! key, so that the ledger's order does not depend on which instance
//! delivered first.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::Envelope;

/// A journal's stable id, made once when the journal file is created and
/// kept in it: 1..=64 characters of `[A-Za-z0-9_-]` (no `.`: it separates
/// the parts of the timeline key).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct InstanceId(String);

/// Why an instance id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstanceIdError {
    #[error("an instance id must not be empty")]
    Empty,
    #[error("an instance id must be at most {} characters", InstanceId::MAX_LEN)]
    TooLong,
    #[error("an instance id may contain only letters, digits, '_' and '-'")]
    Charset,
}

impl InstanceId {
    pub const MAX_LEN: usize = 64;

    pub fn parse(s: impl Into<String>) -> Result<Self, InstanceIdError> {
        let s = s.into();
        if s.is_empty() {
            return Err(InstanceIdError::Empty);
        }
        if s.len() > Self::MAX_LEN {
            return Err(InstanceIdError::TooLong);
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
            return Err(InstanceIdError::Charset);
        }
        Ok(Self(s))
    }

    /// A new id: 16 lowercase hex characters of a random UUID (64 random
    /// bits less the version's, enough that two journals never share one).
    pub fn new_random() -> Self {
        let hex = uuid::Uuid::new_v4().simple().to_string();
        Self(hex[hex.len() - 16..].to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for InstanceId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse(String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl From<InstanceId> for String {
    fn from(id: InstanceId) -> String {
        id.0
    }
}

impl fmt::Display for InstanceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An event as the ledger receives it: the envelope, and where it was
/// journaled (`instance`, `seq`). Its JSON is the ledger's `WireEvent`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Journaled {
    #[serde(flatten)]
    pub envelope: Envelope,
    pub instance: InstanceId,
    /// The entry's position in its journal (strictly increasing, never
    /// reused).
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_ids_keep_their_charset_and_length() {
        let id = InstanceId::new_random();
        assert_eq!(id.as_str().len(), 16);
        assert!(id.as_str().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert_ne!(id, InstanceId::new_random());
        assert!(InstanceId::parse("fly-machine_01").is_ok());
        assert!(InstanceId::parse("x".repeat(64)).is_ok());
        assert_eq!(InstanceId::parse(""), Err(InstanceIdError::Empty));
        assert_eq!(InstanceId::parse("x".repeat(65)), Err(InstanceIdError::TooLong));
        assert_eq!(InstanceId::parse("a.b"), Err(InstanceIdError::Charset));
        assert_eq!(InstanceId::parse("a:b"), Err(InstanceIdError::Charset));
    }
}
