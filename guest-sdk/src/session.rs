//! The [`Session`] trait a guest implements, and the [`StopReason`] it is told
//! when its session ends.
//!
//! The host drives one value of the guest's `Session` type per session, one
//! message at a time and in order (like an Erlang `gen_server`): `init` or
//! `restore` first, then any number of `handle_call` / `handle_cast` /
//! `snapshot`, then at most one `terminate`. No two methods ever run at the
//! same time, so the state needs no locking.

use serde::Serialize;
use serde::de::DeserializeOwned;

/// The logic and state of one session.
///
/// Implement it on your state type and export it with
/// [`export_session!`](crate::export_session). Messages are typed; the
/// session's [`Codec`](crate::Codec) (JSON unless chosen otherwise) turns them
/// into bytes. Errors are `String`s: they travel to the caller through the WIT
/// contract's `result<_, string>` and never stop the session. A panic, on the
/// other hand, traps: the host drops the instance and may restart the session
/// from its last snapshot.
pub trait Session: Sized + 'static {
    /// Arguments given to `Host::start`. Empty arguments decode as JSON `null`
    /// would, so `()` or `Option<T>` accept "no arguments".
    type Args: DeserializeOwned;
    /// Requests handled by [`handle_call`](Session::handle_call).
    type Call: DeserializeOwned;
    /// Replies returned by [`handle_call`](Session::handle_call).
    type Reply: Serialize;
    /// Messages handled by [`handle_cast`](Session::handle_cast): casts from
    /// the application and timers set with
    /// [`ctx::send_after`](crate::ctx::send_after).
    type Cast: DeserializeOwned;

    /// Creates the session's state when it starts.
    ///
    /// # Errors
    /// An error aborts the start: the session is never registered and the
    /// caller of `Host::start` gets the message.
    fn init(args: Self::Args) -> Result<Self, String>;

    /// Handles a request that expects a reply.
    ///
    /// # Errors
    /// An error is returned to the caller; the session keeps running.
    fn handle_call(&mut self, call: Self::Call) -> Result<Self::Reply, String>;

    /// Handles a message that expects no reply. The default ignores it.
    fn handle_cast(&mut self, cast: Self::Cast) {
        let _ = cast;
    }

    /// Called once when the session ends normally (not after a trap or a
    /// limit), to flush or publish a last event. The default does nothing.
    /// The state stays alive afterwards: on [`StopReason::Upgrade`] the host
    /// calls [`snapshot`](Session::snapshot) next.
    fn terminate(&mut self, reason: StopReason) {
        let _ = reason;
    }

    /// Returns the state as bytes for hibernation, crash recovery and live
    /// upgrade, or `None` (the default) when this guest does not support it.
    ///
    /// Ignored when the session is exported with `snapshot = serde`, which
    /// serializes the whole state with the session's codec instead.
    fn snapshot(&self) -> Option<Vec<u8>> {
        None
    }

    /// Rebuilds a session from bytes returned by an earlier
    /// [`snapshot`](Session::snapshot), on a fresh instance and instead of
    /// [`init`](Session::init). `from_version` names the guest version that
    /// took the snapshot, so a newer version can migrate the state.
    ///
    /// Ignored when the session is exported with `snapshot = serde`.
    ///
    /// # Errors
    /// An error rejects the snapshot (the host then keeps or restarts the old
    /// version). The default always fails.
    fn restore(state: &[u8], from_version: &str) -> Result<Self, String> {
        let _ = (state, from_version);
        Err("this guest does not support restore".to_owned())
    }
}

/// Why a session ended; mirrors the WIT variant `stop-reason`. The host's own type: one
/// definition for host and guest (`Display` is `kind` or `kind: detail`, e.g.
/// `idle_timeout`, `requested: done`).
pub use sessionhost_wire::{LimitKind, StopReason};

#[cfg(test)]
mod tests {
    use super::*;

    struct Minimal;

    impl Session for Minimal {
        type Args = ();
        type Call = ();
        type Reply = ();
        type Cast = ();

        fn init((): ()) -> Result<Self, String> {
            Ok(Minimal)
        }

        fn handle_call(&mut self, (): ()) -> Result<(), String> {
            Ok(())
        }
    }

    #[test]
    fn defaults() {
        let mut s = Minimal::init(()).expect("init");
        s.handle_cast(());
        s.terminate(StopReason::Normal);
        assert_eq!(s.snapshot(), None);
        let err = Minimal::restore(b"x", "0.1.0").err();
        assert_eq!(err.as_deref(), Some("this guest does not support restore"));
    }

    #[test]
    fn stop_reason_display() {
        assert_eq!(
            StopReason::Requested("done".into()).to_string(),
            "requested: done"
        );
        assert_eq!(StopReason::IdleTimeout.to_string(), "idle_timeout");
        assert_eq!(
            StopReason::Limit("out_of_fuel".into()).to_string(),
            "limit: out_of_fuel"
        );
    }
}
