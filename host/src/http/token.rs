//! Session tokens: what a client holds to prove which session it owns.
//!
//! A token is `<id>.<tag>`, the tag an HMAC-SHA256 of the ID checked in constant time; the
//! code lives in `sessionhost-wire` (`wire/src/token.rs`, fuzzed by `fuzz/`) and is
//! re-exported here unchanged.

pub use sessionhost_wire::token::Claims;
pub(crate) use sessionhost_wire::token::request_token;
pub use sessionhost_wire::token::{KeyError, MIN_KEY_BYTES, TokenError, TokenKeys};
