//! The session-creation rate limit (`rate_limit` per minute), as a token bucket.
//!
//! The bucket holds at most one minute's worth of tokens and refills continuously, so a quiet
//! host can absorb a burst of `rate_limit` creations and then sustains `rate_limit` per minute.
//! A refused creation learns how long until the next token ([`SessionError::RateLimited`]).
//! The lock is held for a few arithmetic operations; a host with the limit off (`0`) has no
//! bucket at all and pays nothing.
//!
//! [`SessionError::RateLimited`]: crate::SessionError::RateLimited

use std::time::Duration;

use tokio::time::Instant;

/// A token bucket refilled at `per_minute` tokens per minute.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_minute: f64,
    state: parking_lot::Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    refreshed: Instant,
}

impl RateLimiter {
    /// `None` when `per_minute` is 0 (no limit).
    pub(crate) fn new(per_minute: u32) -> Option<Self> {
        (per_minute > 0).then(|| Self {
            per_minute: f64::from(per_minute),
            state: parking_lot::Mutex::new(Bucket {
                tokens: f64::from(per_minute),
                refreshed: Instant::now(),
            }),
        })
    }

    /// Takes a token, or says how long until one is available.
    pub(crate) fn try_take(&self) -> Result<(), Duration> {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&self, now: Instant) -> Result<(), Duration> {
        let mut bucket = self.state.lock();
        let elapsed = now
            .saturating_duration_since(bucket.refreshed)
            .as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.per_minute / 60.0).min(self.per_minute);
        bucket.refreshed = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - bucket.tokens) * 60.0 / self.per_minute;
            Err(Duration::from_secs_f64(wait).max(Duration::from_millis(1)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_means_no_limit() {
        assert!(RateLimiter::new(0).is_none());
    }

    #[test]
    fn burst_then_refill() {
        let limiter = RateLimiter::new(60).expect("limit on");
        let t0 = Instant::now();
        for _ in 0..60 {
            limiter.try_take_at(t0).expect("a full minute of burst");
        }
        let wait = limiter.try_take_at(t0).unwrap_err();
        assert!(
            wait <= Duration::from_secs(1) && wait > Duration::from_millis(900),
            "{wait:?}"
        );
        // One second later one token (60/min) has come back.
        limiter
            .try_take_at(t0 + Duration::from_secs(1))
            .expect("refilled");
        assert!(limiter.try_take_at(t0 + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn bucket_never_exceeds_one_minute_of_tokens() {
        let limiter = RateLimiter::new(2).expect("limit on");
        let later = Instant::now() + Duration::from_secs(3600);
        assert!(limiter.try_take_at(later).is_ok());
        assert!(limiter.try_take_at(later).is_ok());
        assert!(limiter.try_take_at(later).is_err());
    }
}
