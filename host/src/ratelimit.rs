//! The session-creation rate limits, as token buckets: the host-wide `rate_limit` per
//! minute ([`RateLimiter`]), and the HTTP layer's optional per-client-IP one
//! (`KeyedRateLimiter`, feature `http`: one bucket per key, buckets that have refilled forgotten).
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

impl Bucket {
    fn full(per_minute: f64, now: Instant) -> Self {
        Self {
            tokens: per_minute,
            refreshed: now,
        }
    }

    /// Refills for the time since the last take, then takes a token or says how long until
    /// one is available.
    fn take(&mut self, per_minute: f64, now: Instant) -> Result<(), Duration> {
        let elapsed = now.saturating_duration_since(self.refreshed).as_secs_f64();
        self.tokens = (self.tokens + elapsed * per_minute / 60.0).min(per_minute);
        self.refreshed = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) * 60.0 / per_minute;
            Err(Duration::from_secs_f64(wait).max(Duration::from_millis(1)))
        }
    }

    /// Whether it would be full again at `now` (then it is the same as no bucket at all).
    #[cfg(feature = "http")]
    fn refilled(&self, per_minute: f64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.refreshed).as_secs_f64();
        self.tokens + elapsed * per_minute / 60.0 >= per_minute
    }
}

impl RateLimiter {
    /// `None` when `per_minute` is 0 (no limit).
    pub(crate) fn new(per_minute: u32) -> Option<Self> {
        (per_minute > 0).then(|| Self {
            per_minute: f64::from(per_minute),
            state: parking_lot::Mutex::new(Bucket::full(f64::from(per_minute), Instant::now())),
        })
    }

    /// Takes a token, or says how long until one is available.
    pub(crate) fn try_take(&self) -> Result<(), Duration> {
        self.try_take_at(Instant::now())
    }

    fn try_take_at(&self, now: Instant) -> Result<(), Duration> {
        self.state.lock().take(self.per_minute, now)
    }
}

#[cfg(feature = "http")]
/// One token bucket per key (a client IP), `per_minute` each. Only keys that took a token
/// in the last minute have a bucket: when the map has doubled since it was last pruned,
/// buckets that have refilled are dropped, so memory follows the recent clients, not every
/// client ever seen.
#[derive(Debug)]
pub(crate) struct KeyedRateLimiter<K> {
    per_minute: f64,
    state: parking_lot::Mutex<Keyed<K>>,
}

#[cfg(feature = "http")]
#[derive(Debug)]
struct Keyed<K> {
    buckets: std::collections::HashMap<K, Bucket>,
    /// Size after the last pruning; the next one happens at twice this (at least 1 024).
    pruned_at: usize,
}

#[cfg(feature = "http")]
impl<K: std::hash::Hash + Eq> KeyedRateLimiter<K> {
    /// `None` when `per_minute` is 0 (no limit).
    pub(crate) fn new(per_minute: u32) -> Option<Self> {
        (per_minute > 0).then(|| Self {
            per_minute: f64::from(per_minute),
            state: parking_lot::Mutex::new(Keyed {
                buckets: std::collections::HashMap::new(),
                pruned_at: 0,
            }),
        })
    }

    /// Takes a token from `key`'s bucket, or says how long until one is available.
    pub(crate) fn try_take(&self, key: K) -> Result<(), Duration> {
        self.try_take_at(key, Instant::now())
    }

    fn try_take_at(&self, key: K, now: Instant) -> Result<(), Duration> {
        let per_minute = self.per_minute;
        let mut state = self.state.lock();
        if state.buckets.len() >= (state.pruned_at * 2).max(1024) {
            state.buckets.retain(|_, b| !b.refilled(per_minute, now));
            state.pruned_at = state.buckets.len();
        }
        state
            .buckets
            .entry(key)
            .or_insert_with(|| Bucket::full(per_minute, now))
            .take(per_minute, now)
    }

    /// Keys with a bucket now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.state.lock().buckets.len()
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

    #[cfg(feature = "http")]
    #[test]
    fn each_key_has_its_own_bucket_and_refilled_ones_are_forgotten() {
        let limiter = KeyedRateLimiter::new(2).expect("limit on");
        let t0 = Instant::now();
        assert!(limiter.try_take_at(1, t0).is_ok());
        assert!(limiter.try_take_at(1, t0).is_ok());
        assert!(limiter.try_take_at(1, t0).is_err(), "key 1 is out");
        assert!(limiter.try_take_at(2, t0).is_ok(), "key 2 is not");
        // A thousand clients later, a minute on: the old buckets are gone.
        for key in 3..1100 {
            let _ = limiter.try_take_at(key, t0);
        }
        let later = t0 + Duration::from_secs(61);
        for key in 5000..6000 {
            assert!(limiter.try_take_at(key, later).is_ok());
        }
        // The map pruned itself on the way: only the clients of the last minute are left.
        assert!(limiter.len() <= 1000, "{}", limiter.len());
        assert!(limiter.try_take_at(1, later).is_ok(), "key 1 refilled");
        assert!(KeyedRateLimiter::<u8>::new(0).is_none());
    }
}
