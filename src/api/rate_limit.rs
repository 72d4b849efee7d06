//! Per-caller rate limits on `governor`: a GCRA limiter keyed by caller
//! (`device:<id>`), equivalent to a token bucket of `burst` events refilled
//! at `per_second`. A caller over its limit hears 429 with `Retry-After`.
//!
//! `governor` keeps one small state per key in a concurrent map; the map is
//! swept of keys indistinguishable from a fresh (full) bucket once it holds
//! [`RATE_BUCKETS_MAX`] keys, as the hand-written bucket map before it was.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::{DefaultKeyedRateLimiter, Quota};

use crate::limits::RATE_BUCKETS_MAX;

/// Events per second and burst of one caller.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    pub per_second: f64,
    pub burst: f64,
}

impl Rate {
    /// The rate the settings name: a positive, finite rate, a burst of at
    /// least one event.
    pub fn from_settings(per_second: f64, burst: f64) -> Result<Self, super::SettingsError> {
        if !(per_second > 0.0 && burst >= 1.0 && per_second.is_finite() && burst.is_finite()) {
            return Err(super::SettingsError::Rate);
        }
        Ok(Self { per_second, burst })
    }

    /// The quota: one event every `1 / per_second` (at least a nanosecond),
    /// a burst of `burst` events (its whole part, within `u32`).
    fn quota(self) -> Quota {
        let period = Duration::from_secs_f64(1.0 / self.per_second).max(Duration::from_nanos(1));
        let burst = NonZeroU32::new(self.burst.min(f64::from(u32::MAX)) as u32).unwrap_or(NonZeroU32::MIN);
        // `period` is never zero, so there is always a quota.
        Quota::with_period(period).unwrap_or_else(|| Quota::per_second(NonZeroU32::MAX)).allow_burst(burst)
    }
}

pub struct RateLimiter {
    rate: Rate,
    limiter: DefaultKeyedRateLimiter<String>,
}

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        Self { rate, limiter: DefaultKeyedRateLimiter::keyed(rate.quota()) }
    }

    /// Takes `n` events from `key`'s allowance; on refusal, the seconds
    /// (at least one) until the request could pass. A request larger than
    /// the burst never passes; it hears the time until the allowance is
    /// full.
    pub fn take(&self, key: &str, n: usize) -> Result<(), u64> {
        if self.limiter.len() >= RATE_BUCKETS_MAX {
            self.limiter.retain_recent();
        }
        let Some(cells) = NonZeroU32::new(u32::try_from(n).unwrap_or(u32::MAX)) else { return Ok(()) };
        let key = key.to_string();
        match self.limiter.check_key_n(&key, cells) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(not_until)) => Err(whole_seconds(not_until.wait_time_from(self.limiter.clock().now()))),
            Err(_insufficient) => Err(whole_seconds(Duration::from_secs_f64(self.rate.burst / self.rate.per_second))),
        }
    }
}

/// A wait as `Retry-After` seconds: rounded up, at least one.
fn whole_seconds(wait: Duration) -> u64 {
    (wait.as_secs_f64().ceil() as u64).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refusal_with_retry_after() {
        let l = RateLimiter::new(Rate { per_second: 1.0, burst: 3.0 });
        assert!(l.take("a", 2).is_ok());
        assert!(l.take("a", 1).is_ok());
        assert_eq!(l.take("a", 1), Err(1));
        assert!(l.take("b", 3).is_ok(), "buckets are per caller");
    }

    #[test]
    fn a_request_beyond_the_burst_never_passes() {
        let l = RateLimiter::new(Rate { per_second: 2.0, burst: 4.0 });
        assert_eq!(l.take("a", 5), Err(2));
        assert!(l.take("a", 4).is_ok(), "the refused request took nothing");
    }

    #[test]
    fn a_slow_rate_waits_longer() {
        let l = RateLimiter::new(Rate { per_second: 0.1, burst: 1.0 });
        assert!(l.take("a", 1).is_ok());
        assert_eq!(l.take("a", 1), Err(10));
    }
}
