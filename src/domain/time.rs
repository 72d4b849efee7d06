//! Time on the wire: epoch milliseconds, accepted as a number or an RFC 3339
//! string, always written back as a number.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa::ToSchema;

use super::ViolationCode;

/// Milliseconds since the Unix epoch (UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, ToSchema)]
#[schema(value_type = i64, example = 1764531000000_i64)]
pub struct Millis(pub i64);

/// A sender's clock as a request may carry it (`at`, a webhook's
/// `timestamp`): epoch milliseconds or an RFC 3339 date-time, from
/// 2020-01-01 on and at most 24 hours ahead of the service's clock.
/// (Documentation only: such fields are [`Millis`], checked with
/// [`Millis::check_sane`].)
pub struct SenderClock;

impl utoipa::PartialSchema for SenderClock {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, OneOfBuilder, SchemaFormat, Type};
        OneOfBuilder::new()
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::Integer)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int64)))
                    .minimum(Some(EARLIEST))
                    .examples([serde_json::json!(1_764_531_000_000_i64)]),
            )
            .item(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
                    .examples([serde_json::json!("2026-11-30T19:30:00Z")]),
            )
            .description(Some(
                "Epoch milliseconds or an RFC 3339 date-time, from 2020-01-01 on and at most 24 hours ahead of \
                 the service's clock.",
            ))
            .into()
    }
}

impl ToSchema for SenderClock {}

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    #[error("must be epoch milliseconds or an RFC 3339 date-time")]
    Format,
    #[error("is before 2020-01-01, which no shoot of this service can be")]
    TooOld,
    #[error("is more than 24 hours ahead of the service's clock")]
    TooFarAhead,
}

impl TimeError {
    pub fn code(&self) -> ViolationCode {
        match self {
            TimeError::Format => ViolationCode::Format,
            TimeError::TooOld | TimeError::TooFarAhead => ViolationCode::OutOfRange,
        }
    }
}

/// 2020-01-01T00:00:00Z.
const EARLIEST: i64 = 1_577_836_800_000;
const MAX_AHEAD_MS: i64 = 24 * 3600 * 1000;

impl Millis {
    pub fn now() -> Self {
        let ns = OffsetDateTime::now_utc().unix_timestamp_nanos();
        Self((ns / 1_000_000) as i64)
    }

    pub fn parse_rfc3339(s: &str) -> Result<Self, TimeError> {
        let t = OffsetDateTime::parse(s, &Rfc3339).map_err(|_| TimeError::Format)?;
        Ok(Self((t.unix_timestamp_nanos() / 1_000_000) as i64))
    }

    /// A sender's clock is believed if it is after 2020 and less than a day
    /// ahead of ours; anything else is a broken clock or a unit mistake
    /// (seconds for milliseconds).
    pub fn check_sane(self, now: Millis) -> Result<Self, TimeError> {
        if self.0 < EARLIEST {
            Err(TimeError::TooOld)
        } else if self.0 > now.0 + MAX_AHEAD_MS {
            Err(TimeError::TooFarAhead)
        } else {
            Ok(self)
        }
    }

    pub fn to_rfc3339(self) -> String {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.0) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| self.0.to_string())
    }
}

impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl serde::de::Visitor<'_> for V {
            type Value = Millis;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("epoch milliseconds or an RFC 3339 date-time")
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Millis, E> {
                Ok(Millis(v))
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Millis, E> {
                i64::try_from(v)
                    .map(Millis)
                    .map_err(|_| E::custom(ViolationCode::OutOfRange.tag("timestamp out of range")))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Millis, E> {
                if v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15 {
                    Ok(Millis(v as i64))
                } else {
                    Err(E::custom(ViolationCode::Format.tag("epoch milliseconds must be a whole number")))
                }
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Millis, E> {
                Millis::parse_rfc3339(v).map_err(|e| E::custom(e.code().tag(&e)))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_numbers_and_rfc3339() {
        let a: Millis = serde_json::from_str("1764531000000").unwrap();
        let b: Millis = serde_json::from_str("\"2025-11-30T19:30:00Z\"").unwrap();
        assert_eq!(a, b);
        assert_eq!(serde_json::to_string(&b).unwrap(), "1764531000000");
        assert!(serde_json::from_str::<Millis>("\"yesterday\"").is_err());
        assert!(serde_json::from_str::<Millis>("1.5").is_err());
    }

    #[test]
    fn sanity_window() {
        let now = Millis(1_764_531_000_000);
        assert_eq!(Millis(1_764_531_000).check_sane(now), Err(TimeError::TooOld));
        assert_eq!(Millis(now.0 + MAX_AHEAD_MS + 1).check_sane(now), Err(TimeError::TooFarAhead));
        assert!(Millis(now.0 - 1000).check_sane(now).is_ok());
    }
}
