//! Write [sessionhost] session guests in Rust.
//!
//! A session guest is a WebAssembly component holding the state and logic of
//! one user session (a cart, a game room, an editor buffer...). The host runs
//! one instance per session and hands it that session's messages one at a
//! time, in order, like an Erlang `gen_server`. With this crate a guest is a
//! type implementing [`Session`], exported with [`export_session!`]; it talks
//! to its host through the functions of [`ctx`]. Messages are typed and
//! encoded with a [`Codec`]: JSON by default, so guests in other languages
//! speak the same protocol.
//!
//! [sessionhost]: https://github.com/sessionhost/sessionhost
//!
//! # Example: a counter
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use sessionhost_guest::{Session, ctx, export_session};
//!
//! /// The state of one session.
//! #[derive(Serialize, Deserialize)]
//! pub struct Counter {
//!     value: i64,
//! }
//!
//! /// Init args, e.g. `{"start": 5}`; no args at all means start at 0.
//! #[derive(Deserialize)]
//! pub struct Args {
//!     start: i64,
//! }
//!
//! /// `{"op":"incr","by":2}` or `{"op":"get"}`.
//! #[derive(Deserialize)]
//! #[serde(tag = "op", rename_all = "snake_case")]
//! pub enum Call {
//!     Incr { by: Option<i64> },
//!     Get,
//! }
//!
//! /// `{"value": 7}`.
//! #[derive(Serialize)]
//! pub struct Reply {
//!     value: i64,
//! }
//!
//! impl Session for Counter {
//!     type Args = Option<Args>;
//!     type Call = Call;
//!     type Reply = Reply;
//!     type Cast = Call;
//!
//!     fn init(args: Option<Args>) -> Result<Self, String> {
//!         Ok(Counter { value: args.map_or(0, |a| a.start) })
//!     }
//!
//!     fn handle_call(&mut self, call: Call) -> Result<Reply, String> {
//!         if let Call::Incr { by } = call {
//!             self.value = self.value.checked_add(by.unwrap_or(1)).ok_or("overflow")?;
//!             // Tell the session's subscribers (SSE, WebSocket); best effort.
//!             let _ = ctx::publish(&Reply { value: self.value });
//!         }
//!         Ok(Reply { value: self.value })
//!     }
//!
//!     fn handle_cast(&mut self, cast: Call) {
//!         if let Err(e) = self.handle_call(cast) {
//!             ctx::warn(&e);
//!         }
//!     }
//! }
//!
//! // JSON messages; snapshots (hibernation, upgrades) serialize the whole state.
//! export_session!(Counter, snapshot = serde);
//! ```
//!
//! Errors are `String`s: a call's error goes back to its caller and the
//! session goes on. A panic traps: the host drops the instance (and may
//! restart the session from its last snapshot).
//!
//! # Messages and codecs
//!
//! Every message of a session (init args, calls, replies, casts, published
//! events, timer messages) is encoded with the codec named in
//! [`export_session!`]: [`Json`] (default) or `Bincode` (cargo feature
//! `bincode`, Rust-to-Rust only). Empty init args decode as JSON `null`, so
//! `type Args = ()` or `Option<T>` accept a start without args. A call that
//! does not decode fails with `invalid call message: ...`; a cast that does
//! not decode is logged as a warning and dropped; init args that do not decode
//! fail the start with `invalid init args: ...`.
//!
//! # Building a guest
//!
//! A guest is a `cdylib` built for `wasm32-wasip2` (a WASI 0.2 component):
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! sessionhost-guest = "0.1"          # features = ["bincode"] for the Bincode codec
//! serde = { version = "1", features = ["derive"] }
//!
//! [profile.release]                  # or a dedicated profile, as below
//! opt-level = "s"
//! lto = true
//! codegen-units = 1
//! panic = "abort"
//! strip = "debuginfo"
//! ```
//!
//! ```sh
//! rustup target add wasm32-wasip2
//! cargo build --target wasm32-wasip2 --release
//! # in this repository: the workspace's `guest` profile has the settings above
//! cargo build --target wasm32-wasip2 --profile guest -p counter
//! # → target/wasm32-wasip2/guest/counter.wasm
//! ```
//!
//! ## Dense memory layout
//!
//! The host's default pool slot for a session is **256 KiB of fixed linear
//! memory**. Link the guest so its memory exactly fills it, with this
//! `build.rs` beside its `Cargo.toml`:
//!
//! ```no_run
//! // build.rs
//! fn main() {
//!     // Only for the wasm build (not for native unit tests): a 16 KiB stack,
//!     // and a linear memory of exactly 256 KiB (4 pages) that never grows.
//!     if std::env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("wasm32") {
//!         println!("cargo:rustc-link-arg=-zstack-size=16384");
//!         println!("cargo:rustc-link-arg=--initial-memory=262144");
//!         println!("cargo:rustc-link-arg=--max-memory=262144");
//!     }
//!     println!("cargo:rerun-if-changed=build.rs");
//! }
//! ```
//!
//! Why: a memory whose minimum equals its maximum and equals the pool slot
//! can live in the slot as it is, with no guard region and no growth
//! reservation, so a live session costs about **zero extra kernel memory
//! mappings** (the default layout costs ~4 per instance, and Linux caps a
//! process at ~65 000 mappings, i.e. ~16 000 sessions). The slot is reserved,
//! not committed: **only the pages a guest touches cost RAM**, so the guest's
//! stack (16 KiB, placed first), its initialized data and its heap high-water
//! mark are what a session really costs. Keep guests small: no large statics,
//! no big buffers, little data kept per session. Rust's default 1 MiB stack
//! would not even fit in the slot. A guest that needs more memory (or to grow)
//! leaves out `--max-memory` and gets a larger, growable slot from the host's
//! per-guest limits instead, at the price of extra mappings.
//!
//! What that leaves, measured with this crate's example guests: the linker
//! puts the stack first (bytes 0–16 KiB) and the initialized data right
//! after it, and the host copies that data into every new instance, so its
//! pages are always touched. A guest that only moves bytes through the raw
//! bindings has ~0.1 KiB of data; one using this crate with JSON has ~15–17
//! KiB (4–5 pages of 4 KiB), mostly what serde_json's error messages reach:
//! std's I/O error and panic machinery, libc's `strerror` table, number
//! formatting and Unicode tables. The heap starts right after the data.
//!
//! # Testing a guest natively
//!
//! The crate also compiles for the build machine, where [`ctx`] talks to a
//! recording fake host ([`testing`]), so a guest's logic can be unit-tested
//! with plain `cargo test` by calling its [`Session`] methods directly.
//!
//! # Layout
//!
//! - `session`: the [`Session`] trait and [`StopReason`].
//! - [`codec`]: [`Codec`], [`Json`], `Bincode` (feature `bincode`).
//! - [`ctx`]: host functions (session ID, log, clock, publish, timers, stop).
//! - `export`: the glue behind [`export_session!`] (decode → trait → encode).
//! - `bindings`: the WIT bindings, generated here and nowhere else (hidden).
//! - [`testing`]: the fake host used off wasm32.
#![deny(missing_docs)]
#![expect(
    clippy::needless_doctest_main,
    reason = "the build.rs snippet above is a whole file, `fn main` included"
)]

pub mod codec;
pub mod ctx;
mod export;
mod session;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

#[cfg(feature = "bincode")]
pub use codec::Bincode;
pub use codec::{Codec, Json};
pub use session::{LimitKind, Session, StopReason};

/// Bindings of the WIT world `session-guest` (`wit/` at the repository root),
/// generated by wit-bindgen. The only place bindings are generated; users never
/// see them.
#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "session-guest",
        pub_export_macro: true,
        export_macro_name: "__export_session_guest",
        default_bindings_module: "::sessionhost_guest::bindings",
    });
}

/// What [`export_session!`] expands to needs; not a public API.
#[doc(hidden)]
pub mod __private {
    pub use std::string::String;
    pub use std::vec::Vec;

    pub use crate::bindings::exports::sessionhost::session::session::Guest;
    pub use crate::bindings::sessionhost::session::types::StopReason as WitStopReason;
    pub use crate::export::{
        SerdeSnapshot, Slot, SnapshotMode, TraitSnapshot, handle_call, handle_cast, init, restore,
        snapshot, terminate,
    };
}
