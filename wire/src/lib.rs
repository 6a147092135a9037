//! The parsing sessionhost does on bytes that come from untrusted clients, kept apart from the
//! engine so that it can be fuzzed on its own (`fuzz/`, `make fuzz-smoke`).
//!
//! # Layout
//! - `id.rs` — [`SessionId`]: generated IDs (128 bits from a CSPRNG) and the validation of
//!   IDs chosen by applications.
//! - `token.rs` — [`TokenKeys`]: the HMAC-signed session tokens clients hold (they name the
//!   session's guest: [`Claims`]), verified in constant time.
//! - `ws.rs` — [`ClientFrame`]: how a WebSocket frame from a client is read (call, cast or a
//!   raw cast), and the pure parts of what the server sends back.
//! - `reason.rs` — [`StopReason`], [`LimitKind`]: why a session ended, one definition for the
//!   host and the Rust guest SDK (the only part without the default `client` feature).
//!
//! Invariants: nothing here panics on any input (the fuzz targets check it), allocates more
//! than a small multiple of its input, or does I/O. The `sessionhost` crate re-exports every
//! public item; applications never need this crate directly.

#[cfg(feature = "client")]
mod id;
mod reason;
#[cfg(feature = "client")]
pub mod token;
#[cfg(feature = "client")]
pub mod ws;

#[cfg(feature = "client")]
pub use id::{IdError, SessionId};
pub use reason::{LimitKind, StopReason};
#[cfg(feature = "client")]
pub use token::{Claims, KeyError, MIN_KEY_BYTES, TokenError, TokenKeys};
#[cfg(feature = "client")]
pub use ws::ClientFrame;
