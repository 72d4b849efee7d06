//! Newtypes for the client-chosen natural keys of the ledger.
//!
//! Keys are short, printable and URL-safe, so that they can stand in a path
//! segment and an index without escaping: `[A-Za-z0-9._:-]`, 1..=N chars.

use std::fmt;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use super::ViolationCode;

/// Why a key was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {max} characters")]
    TooLong { max: usize },
    #[error("may contain only letters, digits, '.', '_', ':' and '-'")]
    Charset,
}

impl KeyError {
    pub fn code(&self) -> ViolationCode {
        match self {
            KeyError::Empty => ViolationCode::Empty,
            KeyError::TooLong { .. } => ViolationCode::TooLong,
            KeyError::Charset => ViolationCode::Charset,
        }
    }
}

fn check_key(s: &str, max: usize) -> Result<(), KeyError> {
    if s.is_empty() {
        return Err(KeyError::Empty);
    }
    if s.chars().count() > max {
        return Err(KeyError::TooLong { max });
    }
    if !s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-')) {
        return Err(KeyError::Charset);
    }
    Ok(())
}

fn key_schema(max: usize, example: &str) -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{ObjectBuilder, Type};
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(1))
        .max_length(Some(max))
        .pattern(Some(KEY_PATTERN))
        .examples([serde_json::Value::from(example)])
        .into()
}

/// The characters a key may hold, as a regular expression.
pub const KEY_PATTERN: &str = "^[A-Za-z0-9._:-]+$";

macro_rules! key_newtype {
    ($(#[$doc:meta])* $name:ident, $max:expr, $example:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
        #[serde(into = "String")]
        pub struct $name(String);

        /// A malformed key is a serde error that keeps its code.
        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(s).map_err(|e| serde::de::Error::custom(e.code().tag(&e)))
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                key_schema($max, $example)
            }
        }

        impl ToSchema for $name {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($name))
            }
        }

        impl $name {
            pub const MAX_LEN: usize = $max;

            pub fn parse(s: impl Into<String>) -> Result<Self, KeyError> {
                let s = s.into();
                check_key(&s, $max)?;
                Ok(Self(s))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = KeyError;
            fn try_from(s: String) -> Result<Self, KeyError> {
                Self::parse(s)
            }
        }

        impl From<$name> for String {
            fn from(k: $name) -> String {
                k.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

key_newtype!(
    /// A shoot's natural key, chosen by Live Director (`sessionKey`).
    SessionKey, 128, "shoot-2026-11-30-studio-b"
);
key_newtype!(
    /// A camera's key within one session: "A", "hero", "wide-left".
    CameraKey, 64, "hero"
);
key_newtype!(
    /// A phone's or iPad's stable id in the device registry.
    DeviceId, 128, "ipad-7f3a"
);
key_newtype!(
    /// Pairs a `hold_start` with its `hold_end`.
    HoldId, 128, "hold-1"
);
key_newtype!(
    /// A still photo's id, chosen by the capturing app.
    StillId, 128, "still-0001"
);

/// Every write's idempotency key: a UUID the sender makes, or the service
/// derives from an `Idempotency-Key` header, or mints.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[schema(value_type = String, format = Uuid, example = "6f1c1b1e-3c7a-4d59-9a43-2f4b8d0e9a10")]
pub struct EventId(Uuid);

/// Namespace of event ids derived from `Idempotency-Key` headers and webhook
/// ids (UUID v5), fixed forever so that a retried request maps to the same id.
const DERIVED_ID_NAMESPACE: Uuid = Uuid::from_u128(0x5b0e_2c1d_8f4a_4e6b_9c3d_1a2b_3c4d_5e6f);

impl EventId {
    /// A new id for an event that came without one: a UUID v7, ordered by
    /// time, so that the journal's id index grows at its end instead of
    /// touching a random page per insert.
    pub fn new_random() -> Self {
        Self(Uuid::now_v7())
    }

    /// The id for an idempotency key of a given scope (route and position).
    pub fn derived(scope: &str, key: &str) -> Self {
        let mut name = Vec::with_capacity(scope.len() + key.len() + 1);
        name.extend_from_slice(scope.as_bytes());
        name.push(b'\n');
        name.extend_from_slice(key.as_bytes());
        Self(Uuid::new_v5(&DERIVED_ID_NAMESPACE, &name))
    }

    pub fn parse(s: &str) -> Option<Self> {
        Uuid::parse_str(s).ok().map(Self)
    }

    pub fn as_uuid(&self) -> Uuid {
        self.0
    }
}

impl fmt::Display for EventId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_accept_the_documented_charset() {
        assert!(SessionKey::parse("shoot-2026.11_30:b").is_ok());
        assert_eq!(SessionKey::parse(""), Err(KeyError::Empty));
        assert_eq!(CameraKey::parse("wide left"), Err(KeyError::Charset));
        assert_eq!(CameraKey::parse("é"), Err(KeyError::Charset));
        assert_eq!(CameraKey::parse("x".repeat(65)), Err(KeyError::TooLong { max: 64 }));
        assert!(CameraKey::parse("x".repeat(64)).is_ok());
    }

    #[test]
    fn minted_ids_are_time_ordered_v7() {
        let ids: Vec<EventId> = (0..100).map(|_| EventId::new_random()).collect();
        assert!(ids.iter().all(|id| id.as_uuid().get_version_num() == 7));
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "later ids sort after earlier ones");
    }

    #[test]
    fn derived_ids_are_stable_and_scoped() {
        let a = EventId::derived("POST /v1/devices", "k1");
        assert_eq!(a, EventId::derived("POST /v1/devices", "k1"));
        assert_ne!(a, EventId::derived("POST /v1/sessions", "k1"));
        assert_ne!(a, EventId::derived("POST /v1/devices", "k2"));
    }
}
