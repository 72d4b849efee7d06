//! Per-caller rate limits: a token bucket per device, refilled continuously.
//! A caller over its limit hears 429 with `Retry-After`.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

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
}

pub struct RateLimiter {
    rate: Rate,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

use crate::limits::RATE_BUCKETS_MAX;

impl RateLimiter {
    pub fn new(rate: Rate) -> Self {
        Self { rate, buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes `n` tokens from `key`'s bucket; on refusal, the seconds until
    /// enough are back.
    pub fn take(&self, key: &str, n: usize) -> Result<(), u64> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() >= RATE_BUCKETS_MAX && !buckets.contains_key(key) {
            let rate = self.rate;
            buckets.retain(|_, (tokens, at)| *tokens + at.elapsed().as_secs_f64() * rate.per_second < rate.burst);
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((self.rate.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.rate.per_second).min(self.rate.burst);
        *at = now;
        let n = n as f64;
        if *tokens >= n {
            *tokens -= n;
            Ok(())
        } else {
            let missing = n.min(self.rate.burst) - *tokens;
            Err((missing / self.rate.per_second).ceil().max(1.0) as u64)
        }
    }
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
}
