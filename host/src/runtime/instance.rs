//! Running one guest export on a live instance, within the session's limits.
//!
//! [`Live`] is a session's running instance: its `Store` and the typed handle on the guest's
//! exports. Every export call goes through [`Live::run`], which arms the limits first (fuel
//! for this message, the epoch deadline, the per-message log budget), awaits the call, then
//! reads back what the message cost. A failed call is turned into a [`Failure`] that says which
//! error the caller gets and why the instance is finished: after a trap or an interruption a
//! component instance cannot be entered again, so a failure always ends the instance (the
//! session then ends or, by its guest's restart policy, starts again; see `supervisor.rs`).

use std::time::Instant;

use wasmtime::Store;

use crate::error::{SessionError, TrapKind};
use crate::reason::StopReason;
use crate::runtime::bindings::SessionGuest;
use crate::runtime::ctx::{LimitExceeded, SessionCtx};
use crate::store::TimerRecord;

/// A session's running instance. Owned by the session's slot and used under its lock.
pub(crate) struct Live {
    pub(crate) store: Store<SessionCtx>,
    pub(crate) guest: SessionGuest,
    /// What a restart needs (see `supervisor.rs`); `None` for sessions that need nothing.
    pub(crate) recovery: Option<Box<crate::session::supervisor::Recovery>>,
    /// An export trapped while the session was being terminated: the instance cannot be
    /// entered again, so its `terminate` is skipped.
    pub(crate) poisoned: bool,
}

/// Why an export call failed; the session must end.
#[derive(Debug)]
pub(crate) struct Failure {
    /// What the caller of the failed message gets.
    pub(crate) error: SessionError,
    /// Why the session ends.
    pub(crate) reason: StopReason,
}

impl Live {
    /// The arguments `init` first ran with (kept for restarts); empty when none were kept.
    pub(crate) fn init_args(&self) -> Vec<u8> {
        self.recovery
            .as_ref()
            .map(|r| r.args.to_vec())
            .unwrap_or_default()
    }

    /// The pending `send-after` timers, as store records.
    pub(crate) fn export_timers(&self) -> Vec<TimerRecord> {
        self.store
            .data()
            .timers
            .as_ref()
            .map(|t| t.export())
            .unwrap_or_default()
    }

    /// Re-arms timers carried over from another instance of the same session (woken from
    /// the store, or moved to a new guest version).
    pub(crate) fn import_timers(&mut self, records: Vec<TimerRecord>) {
        if records.is_empty() {
            return;
        }
        let ctx = self.store.data_mut();
        let (host, session) = (ctx.host.clone(), ctx.session.clone());
        let timers = ctx.timers.get_or_insert_with(Box::default);
        if let Err(reason) = timers.import(&host, &session, records) {
            tracing::warn!(target: "sessionhost::session", session_id = %ctx.id, %reason, "carried-over timers were not re-armed");
        }
    }

    /// Arms the limits for one message, started at `started`, that must finish by `deadline`.
    pub(crate) fn arm(
        store: &mut Store<SessionCtx>,
        fuel: u64,
        started: Instant,
        deadline: Instant,
    ) {
        store.data_mut().begin_message(started, deadline);
        // Setting fuel only fails when fuel metering is off, and the engine always enables it.
        let _ = store.set_fuel(fuel);
        store.set_epoch_deadline(1);
    }

    /// Marks the end of a message: returns the fuel it burned.
    pub(crate) fn disarm(store: &mut Store<SessionCtx>, fuel: u64) -> u64 {
        let ctx = store.data_mut();
        if ctx.logs_dropped > 0 {
            tracing::warn!(
                target: "sessionhost::guest",
                session_id = %ctx.id,
                guest = &*ctx.guest_name,
                dropped = ctx.logs_dropped,
                "guest log lines dropped: more than {} in one message",
                crate::runtime::ctx::LOG_LINES_PER_MESSAGE
            );
        }
        fuel.saturating_sub(store.get_fuel().unwrap_or(0))
    }

    /// Classifies an error returned by an export call.
    pub(crate) fn failure(
        store: &Store<SessionCtx>,
        error: &wasmtime::Error,
        timeout_ms: u64,
    ) -> Failure {
        let kind = classify(store.data().limits.exceeded, error);
        let (message, reason) = match kind {
            TrapKind::Interrupted => {
                return Failure {
                    error: SessionError::Timeout { ms: timeout_ms },
                    reason: StopReason::Limit("timeout".into()),
                };
            }
            TrapKind::OutOfFuel => (
                "the message used up its fuel (fuel_per_call)".to_string(),
                StopReason::Limit("out_of_fuel".into()),
            ),
            TrapKind::MemoryLimit => (
                match error.downcast_ref::<LimitExceeded>() {
                    Some(e) => e.to_string(),
                    None => "memory limit exceeded".to_string(),
                },
                StopReason::Limit("memory_limit".into()),
            ),
            TrapKind::BlockingLimit => (
                "the guest blocked in a WASI call while the host's max_blocked_messages \
                 messages were already blocked"
                    .to_string(),
                StopReason::Limit("blocking_limit".into()),
            ),
            other => {
                let text = describe(other).to_string();
                (text.clone(), StopReason::Crashed(text))
            }
        };
        Failure {
            error: SessionError::GuestTrap { kind, message },
            reason,
        }
    }
}

fn classify(limit: Option<TrapKind>, error: &wasmtime::Error) -> TrapKind {
    if let Some(kind) = limit {
        return kind;
    }
    if error.downcast_ref::<LimitExceeded>().is_some() {
        return TrapKind::MemoryLimit;
    }
    let Some(trap) = error.downcast_ref::<wasmtime::Trap>() else {
        return TrapKind::AbiViolation;
    };
    use wasmtime::Trap as T;
    match *trap {
        T::OutOfFuel => TrapKind::OutOfFuel,
        T::Interrupt => TrapKind::Interrupted,
        T::StackOverflow => TrapKind::StackOverflow,
        T::UnreachableCodeReached => TrapKind::Unreachable,
        T::MemoryOutOfBounds | T::HeapMisaligned | T::TableOutOfBounds => {
            TrapKind::MemoryOutOfBounds
        }
        T::IntegerOverflow | T::IntegerDivisionByZero | T::BadConversionToInteger => {
            TrapKind::Arithmetic
        }
        T::IndirectCallToNull | T::BadSignature | T::NullReference => TrapKind::BadCall,
        T::CannotEnterComponent => TrapKind::Poisoned,
        _ => TrapKind::Other,
    }
}

/// What a trap means, in words for the session's user.
fn describe(kind: TrapKind) -> &'static str {
    match kind {
        TrapKind::OutOfFuel => "the message used up its fuel",
        TrapKind::Interrupted => "the guest was interrupted at its deadline",
        TrapKind::MemoryLimit => "memory limit exceeded",
        TrapKind::StackOverflow => "the guest overflowed its call stack",
        TrapKind::Unreachable => "the guest panicked or aborted (unreachable executed)",
        TrapKind::MemoryOutOfBounds => "the guest accessed memory out of bounds",
        TrapKind::Arithmetic => "integer overflow or division by zero in the guest",
        TrapKind::BadCall => "the guest made an invalid indirect call",
        TrapKind::AbiViolation => "the guest broke the component model's calling rules",
        TrapKind::Poisoned => "the guest instance had already failed",
        TrapKind::BlockingLimit => "too many guests were blocked at once",
        TrapKind::Other => "the guest trapped",
    }
}

/// Runs one export call on `live` (a message that started at `$started`), within its limits. Expands to `(result, fuel_used)`: the
/// call's result or a [`Failure`], and the fuel the message burned either way.
macro_rules! run_export {
    ($live:expr, $fuel:expr, $started:expr, $deadline:expr, $timeout_ms:expr, |$e:ident, $s:ident| $call:expr) => {{
        let live: &mut $crate::runtime::instance::Live = $live;
        $crate::runtime::instance::Live::arm(&mut live.store, $fuel, $started, $deadline);
        let result = {
            let $e = live.guest.sessionhost_session_session();
            let $s = &mut live.store;
            $call
        };
        let fuel_used = $crate::runtime::instance::Live::disarm(&mut live.store, $fuel);
        let result = result.map_err(|error| {
            let failure = $crate::runtime::instance::Live::failure(&live.store, &error, $timeout_ms);
            tracing::debug!(target: "sessionhost::session", error = ?error, "guest export failed");
            failure
        });
        (result, fuel_used)
    }};
}
pub(crate) use run_export;

/// Runs an export the host calls on its own account — `snapshot`, `terminate`, the `init` or
/// `restore` of a restart or an upgrade — within `call_timeout` and one message's fuel from
/// now, and books what it burned on `$session` (see [`Session::book`]). Expands to the
/// call's result or a [`Failure`].
///
/// [`Session::book`]: crate::session::state::Session::book
macro_rules! run_host_export {
    ($host:expr, $session:expr, $live:expr, |$e:ident, $s:ident| $call:expr) => {{
        let host: &$crate::host::HostInner = $host;
        let live: &mut $crate::runtime::instance::Live = $live;
        let began = std::time::Instant::now();
        let timeout = host.config.call_timeout;
        let (result, fuel_used) = $crate::runtime::instance::run_export!(
            live,
            host.config.fuel_budget(),
            began,
            began + timeout,
            $crate::session::state::millis(timeout),
            |$e, $s| $call
        );
        $session.book(host, live, fuel_used);
        result
    }};
}
pub(crate) use run_host_export;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traps_are_classified() {
        let e = wasmtime::Error::new(wasmtime::Trap::OutOfFuel);
        assert_eq!(classify(None, &e), TrapKind::OutOfFuel);
        let e = wasmtime::Error::new(wasmtime::Trap::UnreachableCodeReached);
        assert_eq!(classify(None, &e), TrapKind::Unreachable);
        let e = wasmtime::Error::new(wasmtime::Trap::Interrupt);
        assert_eq!(classify(None, &e), TrapKind::Interrupted);
        let e = wasmtime::format_err!("invalid utf-8 in string");
        assert_eq!(classify(None, &e), TrapKind::AbiViolation);
        assert_eq!(
            classify(Some(TrapKind::MemoryLimit), &e),
            TrapKind::MemoryLimit
        );
    }
}
