//! What the host reports about sessions and about itself: [`SessionInfo`] and [`HostStats`].
//!
//! Both are snapshots read from atomic counters without taking any session's lock, so asking
//! for them never waits behind a busy guest.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;

use crate::guest::GuestVersion;
use crate::id::SessionId;

/// Where a session is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionStatus {
    /// Accepting and handling messages.
    Running,
    /// Ending: running its `terminate`, refusing new messages.
    Ending,
    /// Ended.
    Ended,
}

/// A snapshot of one session ([`Host::info`](crate::Host::info)).
#[derive(Clone, Debug, Serialize)]
pub struct SessionInfo {
    /// Its ID.
    pub id: SessionId,
    /// Name of its guest.
    pub guest: String,
    /// Version of the guest it runs.
    pub version: GuestVersion,
    /// Where it is in its life.
    pub status: SessionStatus,
    /// When it started.
    pub created_at: SystemTime,
    /// Its last call, cast or touch.
    pub last_active_at: SystemTime,
    /// Calls handled.
    pub calls: u64,
    /// Casts (and timer messages) handled.
    pub casts: u64,
    /// Fuel burned by all its messages, `init` and `terminate` included.
    pub fuel_used: u64,
    /// Size of its linear memory, in bytes.
    pub memory_bytes: usize,
    /// Messages waiting in its mailbox.
    pub mailbox: usize,
}

/// Host-wide figures ([`Host::stats`](crate::Host::stats)).
#[derive(Clone, Debug, Default, Serialize)]
pub struct HostStats {
    /// Sessions alive now.
    pub sessions: usize,
    /// Configured `max_sessions`.
    pub max_sessions: usize,
    /// Sessions started since the host was created.
    pub started_total: u64,
    /// Sessions ended since the host was created.
    pub ended_total: u64,
    /// Starts refused by `max_sessions` or `rate_limit`.
    pub rejected_total: u64,
    /// Guest messages run (calls, casts, snapshots).
    pub messages_total: u64,
    /// Guest traps (each ended a session).
    pub traps_total: u64,
    /// Messages refused because a mailbox was full.
    pub mailbox_full_total: u64,
    /// Guests loaded.
    pub guests: usize,
}

/// The host's counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) started: StripedCounter,
    pub(crate) ended: StripedCounter,
    pub(crate) rejected: StripedCounter,
    pub(crate) messages: StripedCounter,
    pub(crate) traps: StripedCounter,
    pub(crate) mailbox_full: StripedCounter,
}

/// Stripes of a [`StripedCounter`]; a power of two.
const STRIPES: usize = 8;

/// A counter bumped on every message from every thread: one shared atomic would bounce its
/// cache line between cores on each call. Each thread adds to its own stripe (each on its
/// own cache line); reading sums them.
#[derive(Debug, Default)]
pub(crate) struct StripedCounter {
    stripes: [Stripe; STRIPES],
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

thread_local! {
    /// This thread's stripe: threads take stripes in turn as they first count.
    static STRIPE: usize = {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        (NEXT.fetch_add(1, Ordering::Relaxed) as usize) % STRIPES
    };
}

impl StripedCounter {
    pub(crate) fn add(&self, n: u64) {
        let stripe = STRIPE.with(|s| *s);
        self.stripes[stripe].0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

/// Monotonic milliseconds since the host started, convertible to wall-clock time. Lets
/// sessions keep "last active" in one `AtomicU64`.
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

    pub(crate) fn to_system_time(&self, ms: u64) -> SystemTime {
        self.base_wall + Duration::from_millis(ms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn striped_counters_sum_every_thread() {
        let counter = std::sync::Arc::new(StripedCounter::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = std::sync::Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.add(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.get(), 4000);
    }
}
