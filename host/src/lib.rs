//! # sessionhost
//!
//! One isolated WebAssembly component instance per user session: found by ID, driven by
//! call / cast, limited in fuel, time and memory, ended by terminate.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use sessionhost::{GuestSource, Host, HostConfig, LoadOptions, StartOptions};
//!
//! let host = Host::new(HostConfig::default())?;
//! host.load_guest("counter", GuestSource::file("counter.wasm"), LoadOptions::default()).await?;
//! let id = host.start(StartOptions::guest("counter")).await?;
//! let reply = host.call(&id, br#"{"op":"incr","by":2}"#, None).await?;
//! assert_eq!(reply, br#"{"value":2}"#);
//! host.terminate(&id).await?;
//! # Ok(()) }
//! ```
//!
//! # Layers
//! The crate is built in layers whose imports point one way — down this list. A lower layer
//! never names a higher one; `make lint` checks it (`scripts/check_layers.py`).
//!
//! 1. **Vocabulary** — what every layer speaks: `error.rs` ([`SessionError`] and its
//!    [`KINDS`](SessionError::KINDS)), `id.rs`, `reason.rs` ([`StopReason`], [`LimitKind`]:
//!    shared with the Rust guest SDK through `sessionhost-wire`), `events.rs` (what
//!    subscribers receive; their queues, bounded in events and bytes), `info.rs` (what the
//!    host reports), `metrics.rs` (lock-free counters), `config.rs` ([`HostConfig`],
//!    [`GuestOptions`]), `ratelimit.rs`, `time/` (the host clock; a deadline queue generic
//!    over its owner) and [`store`] (where hibernated sessions and checkpoints live: memory
//!    or redb). Rule: `config` never names `guest/`.
//! 2. **`runtime/`** — everything that runs guest code and nothing that knows a session:
//!    `engine.rs` (the one place that configures wasmtime: dense and large engines, fuel,
//!    epoch ticker), `layout.rs` (memory layouts), `bindings.rs` (from `wit/session.wit`),
//!    `ctx.rs` (a store's data, and the narrow `GuestLink` its imports reach a session
//!    through), `instance.rs` (one `Instance` type: created with its store set up once, an
//!    export run within a `Budget`, traps turned into typed failures), `imports.rs`,
//!    `wasi.rs`/`wasi_link.rs` (WASI with nothing granted; one table links it and lists
//!    it), `offload.rs` (long-running and blocked guests off the async workers). Rule: never
//!    names `guest/`, `session/`, the facade or `http/`.
//! 3. **`guest/`** — compiled guests: `mod.rs` (compile with a cache shared by content,
//!    validate, the registry of current versions), `check.rs` (the static checks `sessionhost
//!    check` prints), `watch.rs` (the guests directory, loading through a `Loader`).
//! 4. **`session/`** — sessions: `env.rs` (`SessionEnv`, all a session may reach: config,
//!    counters, clock, guests, registry, store, timers — never the engine or the facade),
//!    `state.rs` (the object and its `State`), `mailbox.rs`, `messages.rs`, `start.rs`,
//!    `lifecycle.rs`, `live.rs` (a session's instance and its link), `supervisor.rs`,
//!    `hibernate.rs`, `upgrade.rs`, `checkpoint.rs` (durable checkpoints), `registry.rs`,
//!    `reaper.rs`, `timers.rs`, and `resolver.rs`: the one place that finds the object
//!    serving an ID (lookup, wake, successor). Rule: never names the facade or `http/`.
//! 5. **[`Host`]** (`host/`) — the thin public facade: start, call, cast, terminate, touch,
//!    info, stats, subscribe, snapshot, shutdown, loading guests ([`GuestSource`],
//!    [`LoadOptions`]), and [`SessionHandle`] (a session found once for a request).
//! 6. **`http`** (feature `http`, on by default) — `SessionLayer` and the `Session`
//!    extractor (which keeps the handle it resolved) for axum apps, and the routes and server
//!    the `sessionhost` binary (the `server/` crate) runs: session API, SSE/WebSocket, admin
//!    API, metrics, OpenAPI. Nothing else names axum, hyper or tower: with
//!    `default-features = false` the library is the host alone.

mod config;
mod error;
mod events;
mod guest;
mod host;
#[cfg(feature = "http")]
pub mod http;
mod id;
mod info;
mod metrics;
mod ratelimit;
mod reason;
mod runtime;
mod session;
pub mod store;
mod time;

pub use config::{
    CheckpointDurability, GuestLayout, GuestOptions, HostConfig, HostConfigBuilder, RestartPolicy,
    UpgradePolicy,
};
pub use error::{ConfigError, GuestLoadError, HostError, SessionError, TrapKind};
pub use events::{
    EndWatch, RecvError, SUBSCRIBER_BUFFER, SessionEvent, SessionEvents, TryRecvError,
};
pub use guest::check::SESSION_EXPORT;
pub use guest::watch::{GuestsDir, LoadOutcome};
pub use host::{GuestSource, Host, LoadOptions, SessionHandle, ShutdownReport};
pub use id::{IdError, SessionId};
pub use info::{
    GuestInfo, GuestVersion, HibernateOutcome, HibernatedInfo, HostStats, MemoryDecl, SessionInfo,
    SessionStatus,
};
pub use metrics::{
    CALL_OUTCOMES, CounterSnapshot, DURATION_BUCKETS, MetricsSnapshot, STOP_REASONS,
};
pub use reason::{LimitKind, StopReason};
pub use session::start::{RestoreFrom, StartOptions};

/// For the benchmarks' baselines only: the engine exactly as a [`Host`] configures it, so a
/// bare-wasmtime loop measures the same layout. Not a stable API.
#[doc(hidden)]
pub mod bench_support {
    pub use crate::runtime::engine::{build_engine, build_large_engine};
}
