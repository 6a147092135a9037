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
