//! What the host reports about sessions and about itself: [`SessionInfo`] (live sessions),
//! [`HibernatedInfo`] (hibernated ones) and [`HostStats`].
//!
//! Both are snapshots read from atomic counters without taking any session's lock, so asking
//! for them never waits behind a busy guest.

use std::time::SystemTime;

use serde::Serialize;

use crate::config::GuestLayout;
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

/// What [`Host::hibernate`](crate::Host::hibernate) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum HibernateOutcome {
    /// Reduced to its snapshot in the store; its instance is freed.
    Hibernated,
    /// It was hibernated already.
    AlreadyHibernated,
    /// It stays live: it has messages pending or subscribers watching.
    Busy,
    /// It stays live: its guest's `snapshot` returns `none`, or its options say
    /// `hibernate = false`.
    Unsupported,
    /// It stays live: the snapshot store refused the record (the log says why).
    StoreRefused,
    /// Its `snapshot` failed: the session was restarted or ended by its guest's policy.
    Failed,
    /// It was ending, or ended, meanwhile.
    Ended,
}

impl HibernateOutcome {
    /// Whether the session is hibernated now.
    pub fn is_hibernated(self) -> bool {
        matches!(self, Self::Hibernated | Self::AlreadyHibernated)
    }
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

/// Identifies one version of a guest: its content hash, plus an optional label.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct GuestVersion {
    /// First 16 hex digits of the SHA-256 of the component bytes.
    pub hash: String,
    /// A version string given when loading (e.g. `"1.4.0"`), if any.
    pub label: Option<String>,
}

impl std::fmt::Display for GuestVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.label {
            Some(label) => write!(f, "{label} ({})", self.hash),
            None => f.write_str(&self.hash),
        }
    }
}

/// What the host knows about a loaded guest.
#[derive(Clone, Debug, Serialize)]
pub struct GuestInfo {
    /// Registered name.
    pub name: String,
    /// Current version.
    pub version: GuestVersion,
    /// Size of the component, in bytes.
    pub size_bytes: usize,
    /// When this version was loaded.
    pub loaded_at: SystemTime,
    /// Interfaces it imports.
    pub imports: Vec<String>,
    /// Linear memories its core modules define.
    pub memories: Vec<MemoryDecl>,
    /// The memory layout its sessions use: `dense` or `large`.
    pub layout: GuestLayout,
    /// Most linear memory one of its sessions may use, in bytes.
    pub memory_limit: u64,
}

/// A linear memory declared by one of the component's core modules.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct MemoryDecl {
    /// Initial size in bytes.
    pub initial_bytes: u64,
    /// Maximum size in bytes, when declared.
    pub maximum_bytes: Option<u64>,
}
