//! Why a session ended: [`StopReason`] and [`LimitKind`], shared with the Rust guest SDK
//! (defined in `sessionhost-wire`, so that host and guest read one definition).
//!
//! The host decides a reason when a session ends, passes it to the guest's `terminate` export
//! when the instance can still run ([`instance_usable`]), logs it in the `session.stop` event
//! and sends it to subscribers as their final event.

pub use sessionhost_wire::{LimitKind, StopReason};

/// Whether the guest instance can still run its `terminate` export after `reason`: false
/// after a trap or an interrupted call.
pub(crate) fn instance_usable(reason: &StopReason) -> bool {
    !matches!(reason, StopReason::Limit(_) | StopReason::Crashed(_))
}
