//! What the host reports about sessions and about itself: [`SessionInfo`] (live sessions),
//! [`HibernatedInfo`] (hibernated ones) and [`HostStats`].
//!
//! Both are snapshots read from atomic counters without taking any session's lock, so asking
//! for them never waits behind a busy guest.

use std::time::{Duration, SystemTime};

use tokio::time::Instant;

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
    /// Hibernated: stored as its snapshot, woken by its next message.
    Hibernated,
}

/// What the host knows of a hibernated session ([`Host::hibernated_info`]): what its stored
/// record says. Message and fuel counts are not kept across hibernation.
///
/// [`Host::hibernated_info`]: crate::Host::hibernated_info
#[derive(Clone, Debug, Serialize)]
pub struct HibernatedInfo {
    /// Its ID.
    pub id: SessionId,
    /// Always [`SessionStatus::Hibernated`].
    pub status: SessionStatus,
    /// Name of its guest.
    pub guest: String,
    /// Content hash of the guest version that took the snapshot.
    pub version_hash: String,
    /// When it was hibernated.
    pub hibernated_at: SystemTime,
    /// Its last call, cast or touch.
    pub last_active_at: SystemTime,
    /// Size of its snapshot, in bytes.
    pub snapshot_bytes: usize,
    /// Its pending `send-after` timers.
    pub timers: usize,
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
    /// Why the last `migrate` upgrade of this session failed (it stayed on `version`).
    pub upgrade_error: Option<String>,
}

/// Host-wide figures ([`Host::stats`](crate::Host::stats)).
#[derive(Clone, Debug, Default, Serialize)]
pub struct HostStats {
    /// Sessions alive now (instances in memory).
    pub sessions: usize,
    /// Sessions hibernated in the snapshot store (woken by their next message).
    pub hibernated: usize,
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
    /// Component instances alive, each holding one pool slot: `sessions` plus instances the
    /// host runs briefly (validating a guest at load). Back to `sessions` once every ended
    /// session's store is dropped.
    pub instances: usize,
    /// Subscribers (SSE, WebSocket, [`Host::subscribe`](crate::Host::subscribe)) attached to
    /// live sessions. Walks the live sessions.
    pub subscribers: usize,
    /// Messages blocked in a WASI call now (a sleep, a poll), each on a thread of its own;
    /// at most `max_blocked_messages`.
    pub blocked: usize,
    /// Compiled components held: the same component loaded under several names, or as
    /// several versions, is compiled and held once.
    pub compiled_components: usize,
    /// Guest compilations running now (at most `max_concurrent_compiles`).
    pub compiling: usize,
}

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
