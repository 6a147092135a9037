//! # sessionhost
//!
//! One isolated WebAssembly component instance per user session: found by ID, driven by
//! call / cast, limited in fuel, time and memory, ended by terminate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sessionhost::{Host, HostConfig, StartOptions};
//!
//! let host = Host::new(HostConfig::default())?;
//! host.load_guest_file("counter", "counter.wasm").await?;
//! let id = host.start(StartOptions::guest("counter")).await?;
//! let reply = host.call(&id, br#"{"op":"incr","by":2}"#, None).await?;
//! assert_eq!(reply, br#"{"value":2}"#);
//! host.terminate(&id).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! Data flows from the top of this list to the bottom.
//!
//! - [`host`](crate::Host) (`host.rs`) — the public API: start, call, cast, terminate, touch,
//!   info, stats, subscribe, snapshot, shutdown. Owns everything below.
//! - `registry.rs` — ID → session map (sharded, seeded hashing).
//! - `session.rs` — one session: the lock that enforces one message at a time, the mailbox
//!   (queued casts, bound, drainer), and ending a session exactly once.
//! - `exec.rs` — running one guest export within the limits (fuel, deadline), and turning
//!   traps into typed errors.
//! - `ctx.rs` — the data in each session's wasmtime `Store`: limits, per-message bookkeeping.
//! - `imports.rs` — the host functions guests import (`session-id`, `log`, `publish`...).
//! - `timers.rs` — `send-after` / `cancel-timer`, delivered through the mailbox.
//! - `supervisor.rs` — restart policies, intensity, checkpoints.
//! - `hibernate.rs` — idle sessions reduced to a snapshot in the store, woken on demand.
//! - `checkpoint.rs` — checkpoints written to a durable store (group commit), and sessions
//!   brought back from them after a crash.
//! - [`store`] — where hibernated sessions live: in memory, or durable (redb).
//! - `watch.rs` — hot-load from a guests directory (`notify`).
//! - `upgrade.rs` — moving running sessions to a new guest version (`migrate`).
//! - `deadlines.rs` — an ordered set of deadlines and its one task (timers, reaper).
//! - `reaper.rs` — idle expiry (`session_ttl`, `session_max_lifetime`), one ordered map.
//! - `events.rs` — what subscribers receive; their queues, bounded in events and bytes.
//! - `offload.rs` — guests run synchronously on the caller's thread; long-running messages
//!   leave the async worker thread so they cannot stall other sessions.
//! - `wasi.rs`, `wasi_link.rs` — WASI linked in full (synchronously) with nothing granted;
//!   guest stdout/stderr go to the log.
//! - `guest.rs`, `check.rs` — loading and validating guest components.
//! - `layout.rs` — per-guest memory layouts: dense pool slots for small guests, growable
//!   on-demand memories for large ones (Python, JavaScript), side by side.
//! - `http` (feature `http`, on by default) — `SessionLayer` and the `Session` extractor
//!   for axum apps, and the routes and server the `sessionhost` binary (the `server/` crate)
//!   runs (session API, SSE/WebSocket, admin API, metrics). Nothing else names axum, hyper
//!   or tower: with `default-features = false` the library is the host alone.
//! - `engine.rs` — the one place that configures wasmtime: the dense engine (pooling
//!   allocator) and the large one, fuel, epoch clock.
//! - `bindings.rs` — host bindings generated from `wit/session.wit`.
//! - `metrics.rs` — lock-free counters and the snapshot exporters read.
//! - `config.rs`, `error.rs`, `id.rs`, `reason.rs`, `info.rs`, `ratelimit.rs` — the
//!   vocabulary types.

mod bindings;
mod check;
mod checkpoint;
mod config;
mod ctx;
mod deadlines;
mod engine;
mod error;
mod events;
mod exec;
mod guest;
mod hibernate;
mod host;
#[cfg(feature = "http")]
pub mod http;
mod id;
mod imports;
mod info;
mod layout;
mod metrics;
mod offload;
#[cfg_attr(
    not(feature = "http"),
    expect(
        dead_code,
        reason = "KeyedRateLimiter serves only the http layer's rate_limit_per_ip"
    )
)]
mod ratelimit;
mod reaper;
mod reason;
mod registry;
mod session;
pub mod store;
mod supervisor;
mod timers;
mod upgrade;
mod wasi;
mod wasi_link;
mod watch;

pub use check::{MemoryDecl, SESSION_EXPORT};
pub use checkpoint::CheckpointDurability;
pub use config::{HostConfig, HostConfigBuilder};
pub use error::{ConfigError, GuestLoadError, HostError, SessionError, TrapKind};
pub use events::{
    EndWatch, RecvError, SUBSCRIBER_BUFFER, SessionEvent, SessionEvents, TryRecvError,
};
pub use guest::{GuestInfo, GuestVersion};
pub use host::{Host, RestoreFrom, ShutdownReport, StartOptions};
pub use id::{IdError, SessionId};
pub use info::{HibernatedInfo, HostStats, SessionInfo, SessionStatus};
pub use layout::GuestLayout;
pub use metrics::{
    CALL_OUTCOMES, CounterSnapshot, DURATION_BUCKETS, MetricsSnapshot, STOP_REASONS,
};
pub use reason::StopReason;
pub use supervisor::{GuestOptions, RestartPolicy, UpgradePolicy};
pub use watch::{GuestsDir, LoadOutcome};

/// For the benchmarks' baselines only: the engine exactly as a [`Host`] configures it, so a
/// bare-wasmtime loop measures the same layout. Not a stable API.
#[doc(hidden)]
pub mod bench_support {
    pub use crate::engine::{build_engine, build_large_engine};
}
