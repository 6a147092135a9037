//! Host-side bindings of the WIT world `sessionhost:session/session-guest`.
//!
//! Generated in this one place from `wit/session.wit`. Everything is synchronous: guest
//! exports run on the caller's thread (see `offload.rs` for long-running ones), and host
//! imports are implemented on [`SessionCtx`](crate::runtime::ctx::SessionCtx) in `imports.rs`.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "session-guest",
});

pub(crate) use self::sessionhost::session::types::{LogLevel, StopReason as WitStopReason};

impl From<&crate::reason::StopReason> for WitStopReason {
    fn from(reason: &crate::reason::StopReason) -> Self {
        use crate::reason::StopReason as R;
        match reason {
            R::Normal => Self::Normal,
            R::Requested(s) => Self::Requested(s.clone()),
            R::IdleTimeout => Self::IdleTimeout,
            R::Shutdown => Self::Shutdown,
            R::Killed(s) => Self::Killed(s.clone()),
            R::Limit(which) => Self::Limit(which.to_string()),
            R::Crashed(s) => Self::Crashed(s.clone()),
            R::Upgrade => Self::Upgrade,
        }
    }
}
