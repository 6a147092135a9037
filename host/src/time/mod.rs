//! Time for the host: [`HostClock`], the one clock sessions keep their activity in, and
//! [`deadlines`], an ordered set of deadlines with the one task that acts on them (guest
//! timers and idle expiry both use it).
//!
//! Both read tokio's clock, so tests that pause time (`tokio::time::pause`) drive expiry
//! and timers without sleeping. Nothing here knows what a session is.

pub(crate) mod deadlines;

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

/// Monotonic milliseconds since the host started, convertible to wall-clock time. Lets
/// sessions keep "last active" in one `AtomicU64`. It reads tokio's clock, so tests that
/// pause time (`tokio::time::pause`) drive idle expiry too.
#[derive(Debug)]
pub(crate) struct HostClock {
    base: Instant,
    base_wall: SystemTime,
}

impl HostClock {
    pub(crate) fn new() -> Self {
        Self {
            base: Instant::now(),
            base_wall: SystemTime::now(),
        }
    }

    pub(crate) fn now_ms(&self) -> u64 {
        self.ms_at(Instant::now())
    }

    /// `at` as milliseconds since the host started.
    pub(crate) fn ms_at(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.base).as_millis()).unwrap_or(u64::MAX)
    }

    /// The instant `ms` milliseconds after the host started.
    pub(crate) fn instant_at(&self, ms: u64) -> Instant {
        self.base + Duration::from_millis(ms)
    }

    pub(crate) fn to_system_time(&self, ms: u64) -> SystemTime {
        self.base_wall + Duration::from_millis(ms)
    }
}
