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
//!
//! Invariants: nothing here panics on any input (the fuzz targets check it), allocates more
//! than a small multiple of its input, or does I/O. The `sessionhost` crate re-exports every
//! public item; applications never need this crate directly.

mod id;
pub mod token;
pub mod ws;

pub use id::{IdError, SessionId};
pub use token::{Claims, KeyError, MIN_KEY_BYTES, TokenError, TokenKeys};
pub use ws::ClientFrame;
