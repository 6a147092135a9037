//! The runtime: everything that runs guest code, and nothing that knows what a session is.
//!
//! - `engine.rs` — the one place that configures wasmtime: the dense and the large engine,
//!   fuel, the epoch ticker.
//! - `layout.rs` — per-guest memory layouts (dense pool slots, large growable memories).
//! - `bindings.rs` — host bindings generated from `wit/session.wit`.
//! - `ctx.rs` — the data in each instance's `Store`: limits, per-message bookkeeping, and
//!   the narrow link through which a guest's imports reach its session.
//! - `instance.rs` — one guest instance and running one export within a budget (fuel,
//!   deadline), with traps turned into typed failures.
//! - `imports.rs` — the host functions guests import.
//! - `wasi.rs`, `wasi_link.rs` — WASI linked in full with nothing granted.
//! - `offload.rs` — keeping long-running and blocked guests off the async worker threads.
//!
//! Rule: nothing here imports `guest/`, `session/`, the host facade or `http/`.

pub(crate) mod bindings;
pub(crate) mod ctx;
pub(crate) mod engine;
pub(crate) mod imports;
pub(crate) mod instance;
pub(crate) mod layout;
pub(crate) mod offload;
pub(crate) mod wasi;
pub(crate) mod wasi_link;

use std::sync::Arc;

use wasmtime::Engine;
use wasmtime::component::{HasSelf, Linker};

use crate::config::{GuestLayout, HostConfig};
use crate::error::HostError;
use crate::runtime::bindings::SessionGuest;
use crate::runtime::ctx::{RuntimeShared, SessionCtx};
use crate::runtime::engine::{EpochTicker, build_engine, build_large_engine};

/// The engines guests are compiled for (one per memory layout), their linkers with every
/// import a guest may use, the epoch clock, and what all instances share. Built once per
/// host.
pub(crate) struct Runtime {
    /// The engine of dense guests (pool slots, see `engine.rs`).
    engine: Engine,
    /// WASI + `sessionhost:session/host` for dense guests, built once.
    linker: Linker<SessionCtx>,
    /// The engine of large guests (on-demand, growable memories, see `layout.rs`).
    large_engine: Engine,
    /// The same imports, for large guests.
    large_linker: Linker<SessionCtx>,
    /// The bound on blocked messages and the instance count.
    pub(crate) shared: Arc<RuntimeShared>,
    /// Dropped with the runtime: stops the epoch thread.
    _ticker: EpochTicker,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("shared", &self.shared)
            .finish_non_exhaustive()
    }
}

impl Runtime {
    /// Builds both engines and their linkers from `config`, and starts the epoch clock.
    pub(crate) fn new(config: &HostConfig) -> Result<Self, HostError> {
        let engine = build_engine(config)?;
        let large_engine = build_large_engine(config)?;
        let linker = guest_linker(&engine)?;
        let large_linker = guest_linker(&large_engine)?;
        let ticker = EpochTicker::start(&[&engine, &large_engine], config.epoch_tick)
            .map_err(|e| HostError::Engine(wasmtime::Error::new(e)))?;
        Ok(Self {
            engine,
            linker,
            large_engine,
            large_linker,
            shared: Arc::new(RuntimeShared::new(config.max_blocked_messages)),
            _ticker: ticker,
        })
    }

    /// The engine and linker guests of `layout` are compiled and linked with.
    pub(crate) fn engine_for(&self, layout: GuestLayout) -> (&Engine, &Linker<SessionCtx>) {
        match layout {
            GuestLayout::Large => (&self.large_engine, &self.large_linker),
            GuestLayout::Dense | GuestLayout::Auto => (&self.engine, &self.linker),
        }
    }
}

/// The interfaces of our own contract the linker links (from the bindings of
/// `wit/session.wit`), and their version series.
const CONTRACT: (&[&str], &str) = (
    &["sessionhost:session/host", "sessionhost:session/types"],
    "0.1",
);

/// Every interface a guest may import, with its version series: what [`guest_linker`] links
/// (`sessionhost check` and guest loading read it).
pub(crate) fn linked_interfaces() -> impl Iterator<Item = (&'static str, &'static str)> {
    let (ours, series) = CONTRACT;
    ours.iter()
        .map(move |name| (*name, series))
        .chain(wasi_link::interfaces().map(|name| (name, wasi_link::WASI_SERIES)))
}

/// WASI and `sessionhost:session/host`, for guests compiled with `engine`.
fn guest_linker(engine: &Engine) -> Result<Linker<SessionCtx>, HostError> {
    let mut linker = Linker::new(engine);
    wasi_link::add_to_linker(&mut linker).map_err(HostError::Engine)?;
    SessionGuest::add_to_linker::<SessionCtx, HasSelf<SessionCtx>>(&mut linker, |ctx| ctx)
        .map_err(HostError::Engine)?;
    Ok(linker)
}
