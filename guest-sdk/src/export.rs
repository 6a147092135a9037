//! The glue between the WIT `session` exports and a [`Session`] type:
//! decode → call the trait → encode. No session logic lives here.
//!
//! [`export_session!`](crate::export_session) defines, in the guest crate, a
//! `thread_local!` `RefCell<Option<S>>` slot holding the session's state and an
//! implementation of the generated `Guest` trait whose every method forwards
//! to one generic function below. Keeping the logic in generic functions keeps
//! the macro small and lets these functions be unit-tested natively.
//!
//! Invariants:
//! - the slot is `None` until `init` or `restore` succeeds; either replaces
//!   whatever it held;
//! - a call before that returns an error, a cast is logged and dropped;
//! - the state survives `terminate`, because an upgrade snapshots it next;
//! - the host runs one export at a time, so the slot's `RefCell` is never
//!   borrowed twice (the `ctx` functions never re-enter the guest).

use std::cell::RefCell;
use std::thread::LocalKey;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::sessionhost::session::types::StopReason as WitStopReason;
use crate::codec::Codec;
use crate::ctx;
use crate::session::{Session, StopReason};

/// Where `export_session!` keeps the state of the session.
pub type Slot<S> = LocalKey<RefCell<Option<S>>>;

/// The message for an export that needs a state before `init` or `restore`.
const NOT_INITIALIZED: &str = "session is not initialized (init or restore has not succeeded)";

/// Glue of the `init` export.
///
/// # Errors
/// When the args do not decode, or [`Session::init`] fails.
pub fn init<S: Session, C: Codec>(slot: &'static Slot<S>, args: &[u8]) -> Result<(), String> {
    ctx::set_session_codec(C::ID);
    let args = C::decode(args).map_err(|e| format!("invalid init args: {e}"))?;
    let state = S::init(args)?;
    slot.with(|s| *s.borrow_mut() = Some(state));
    Ok(())
}

/// Glue of the `handle-call` export.
///
/// # Errors
/// When the request does not decode, the session is not initialized,
/// [`Session::handle_call`] fails, or the reply does not encode.
pub fn handle_call<S: Session, C: Codec>(
    slot: &'static Slot<S>,
    request: &[u8],
) -> Result<Vec<u8>, String> {
    let call = C::decode(request).map_err(|e| format!("invalid call message: {e}"))?;
    let reply = slot.with(|s| match s.borrow_mut().as_mut() {
        Some(state) => state.handle_call(call),
        None => Err(NOT_INITIALIZED.to_owned()),
    })?;
    C::encode(&reply).map_err(|e| format!("could not encode the reply: {e}"))
}

/// Glue of the `handle-cast` export: a message that cannot be handled is
/// logged at warn level and dropped, as a cast has nobody to answer to.
pub fn handle_cast<S: Session, C: Codec>(slot: &'static Slot<S>, message: &[u8]) {
    let cast = match C::decode(message) {
        Ok(cast) => cast,
        Err(e) => return ctx::warn(&format!("dropped an invalid cast message: {e}")),
    };
    slot.with(|s| match s.borrow_mut().as_mut() {
        Some(state) => state.handle_cast(cast),
        None => ctx::warn(&format!("dropped a cast: {NOT_INITIALIZED}")),
    });
}

/// Glue of the `terminate` export; does nothing before `init`.
pub fn terminate<S: Session>(slot: &'static Slot<S>, reason: WitStopReason) {
    let reason = match reason {
        WitStopReason::Normal => StopReason::Normal,
        WitStopReason::Requested(why) => StopReason::Requested(why),
        WitStopReason::IdleTimeout => StopReason::IdleTimeout,
        WitStopReason::Shutdown => StopReason::Shutdown,
        WitStopReason::Killed(why) => StopReason::Killed(why),
        WitStopReason::Limit(which) => StopReason::Limit(which.into()),
        WitStopReason::Crashed(trap) => StopReason::Crashed(trap),
        WitStopReason::Upgrade => StopReason::Upgrade,
    };
    slot.with(|s| {
        if let Some(state) = s.borrow_mut().as_mut() {
            state.terminate(reason);
        }
    });
}

/// How a session is snapshotted: chosen by `export_session!`'s `snapshot`
/// option.
#[diagnostic::on_unimplemented(
    message = "`snapshot = serde` needs `{S}` to implement `Serialize` and `Deserialize`",
    label = "exported with `snapshot = serde`"
)]
pub trait SnapshotMode<S: Session, C: Codec> {
    /// Glue of the `snapshot` export.
    fn snapshot(state: &S) -> Option<Vec<u8>>;
    /// Glue of the `restore` export, minus storing the state.
    ///
    /// # Errors
    /// When the snapshot is rejected.
    fn restore(state: &[u8], from_version: &str) -> Result<S, String>;
}

/// The default: [`Session::snapshot`] and [`Session::restore`].
#[derive(Debug)]
pub enum TraitSnapshot {}

impl<S: Session, C: Codec> SnapshotMode<S, C> for TraitSnapshot {
    fn snapshot(state: &S) -> Option<Vec<u8>> {
        state.snapshot()
    }

    fn restore(state: &[u8], from_version: &str) -> Result<S, String> {
        S::restore(state, from_version)
    }
}

/// `snapshot = serde`: the whole state, serialized with the session's codec.
/// The version that took the snapshot is not looked at.
#[derive(Debug)]
pub enum SerdeSnapshot {}

impl<S, C> SnapshotMode<S, C> for SerdeSnapshot
where
    S: Session + Serialize + DeserializeOwned,
    C: Codec,
{
    fn snapshot(state: &S) -> Option<Vec<u8>> {
        match C::encode(state) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                ctx::error(&format!("could not snapshot the session: {e}"));
                None
            }
        }
    }

    fn restore(state: &[u8], _from_version: &str) -> Result<S, String> {
        C::decode(state).map_err(|e| format!("invalid snapshot: {e}"))
    }
}

/// Glue of the `snapshot` export; `None` before `init`.
pub fn snapshot<S: Session, C: Codec, M: SnapshotMode<S, C>>(
    slot: &'static Slot<S>,
) -> Option<Vec<u8>> {
    slot.with(|s| s.borrow().as_ref().and_then(M::snapshot))
}

/// Glue of the `restore` export: replaces `init` on a fresh instance.
///
/// # Errors
/// When the snapshot is rejected; the slot is then left as it was.
pub fn restore<S: Session, C: Codec, M: SnapshotMode<S, C>>(
    slot: &'static Slot<S>,
    state: &[u8],
    from_version: &str,
) -> Result<(), String> {
    ctx::set_session_codec(C::ID);
    let state = M::restore(state, from_version)?;
    slot.with(|s| *s.borrow_mut() = Some(state));
    Ok(())
}

/// Exports a [`Session`] type as this component's `session` interface.
///
/// ```text
/// export_session!(MyType);                                    // JSON, trait snapshots
/// export_session!(MyType, codec = Bincode);                   // bincode (feature `bincode`)
/// export_session!(MyType, snapshot = serde);                  // whole state as snapshot
/// export_session!(MyType, codec = Bincode, snapshot = serde); // both, in either order
/// ```
///
/// - `codec` names a codec of this crate ([`Json`](crate::Json), the default,
///   or `Bincode`). It encodes every message of the session,
///   including those sent through [`ctx`](crate::ctx).
/// - `snapshot = serde` serializes the whole state with the codec for
///   `snapshot`, and deserializes it for `restore` (whatever version took it);
///   `MyType` must then implement `Serialize` and `Deserialize`, and the
///   trait's `snapshot` / `restore` are not called.
///
/// Use it once per guest crate, at module level. It defines the state slot (a
/// `thread_local!`; a wasm32 guest is single-threaded) and the component's
/// exports; all it does is decode, call the trait, encode.
#[macro_export]
macro_rules! export_session {
    ($ty:ty $(,)?) => {
        $crate::__export_session!($ty, Json, TraitSnapshot);
    };
    ($ty:ty, codec = $codec:ident $(,)?) => {
        $crate::__export_session!($ty, $codec, TraitSnapshot);
    };
    ($ty:ty, snapshot = serde $(,)?) => {
        $crate::__export_session!($ty, Json, SerdeSnapshot);
    };
    ($ty:ty, codec = $codec:ident, snapshot = serde $(,)?) => {
        $crate::__export_session!($ty, $codec, SerdeSnapshot);
    };
    ($ty:ty, snapshot = serde, codec = $codec:ident $(,)?) => {
        $crate::__export_session!($ty, $codec, SerdeSnapshot);
    };
    ($($other:tt)*) => {
        ::core::compile_error!(
            "usage: export_session!(Type), optionally followed by `, codec = Json|Bincode` \
             and/or `, snapshot = serde`"
        );
    };
}

/// The expansion of [`export_session!`] once its options are parsed.
#[doc(hidden)]
#[macro_export]
macro_rules! __export_session {
    ($ty:ty, $codec:ident, $mode:ident) => {
        const _: () = {
            use $crate::__private::{String, Vec};
            type __Codec = $crate::codec::$codec;
            type __Mode = $crate::__private::$mode;

            ::std::thread_local! {
                static __SESSION: ::core::cell::RefCell<::core::option::Option<$ty>> =
                    const { ::core::cell::RefCell::new(::core::option::Option::None) };
            }

            struct __SessionExport;

            impl $crate::__private::Guest for __SessionExport {
                fn init(args: Vec<u8>) -> ::core::result::Result<(), String> {
                    $crate::__private::init::<$ty, __Codec>(&__SESSION, &args)
                }

                fn handle_call(request: Vec<u8>) -> ::core::result::Result<Vec<u8>, String> {
                    $crate::__private::handle_call::<$ty, __Codec>(&__SESSION, &request)
                }

                fn handle_cast(message: Vec<u8>) {
                    $crate::__private::handle_cast::<$ty, __Codec>(&__SESSION, &message);
                }

                fn terminate(reason: $crate::__private::WitStopReason) {
                    $crate::__private::terminate::<$ty>(&__SESSION, reason);
                }

                fn snapshot() -> ::core::option::Option<Vec<u8>> {
                    $crate::__private::snapshot::<$ty, __Codec, __Mode>(&__SESSION)
                }

                fn restore(state: Vec<u8>, from_version: String) -> ::core::result::Result<(), String> {
                    $crate::__private::restore::<$ty, __Codec, __Mode>(&__SESSION, &state, &from_version)
                }
            }

            $crate::bindings::__export_session_guest!(__SessionExport with_types_in $crate::bindings);
        };
    };
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests;
