//! One guest instance, and running one of its exports within a budget.
//!
//! An [`Instance`] is a component instance with its `Store`: created by
//! [`Instance::instantiate`] (the one place that sets a store up: limiter, epoch callback,
//! budget for the start functions), driven by [`Instance::run`], which arms the limits for one
//! message (fuel, the epoch deadline, the per-message log budget), runs the export on this
//! thread, then reads back what the message cost. A failed call becomes a [`Failure`] that
//! says which error the caller gets and why the instance is finished: after a trap or an
//! interruption a component instance cannot be entered again, so a failure always ends the
//! instance (what happens to its session is the session layer's business).

use std::time::Instant;

use wasmtime::Store;

use crate::error::{SessionError, TrapKind};
use crate::reason::{LimitKind, StopReason};
use crate::runtime::bindings::exports::sessionhost::session::session::Guest as Exports;
use crate::runtime::bindings::{SessionGuest, SessionGuestPre};
use crate::runtime::ctx::{LimitExceeded, SessionCtx};

/// What one message may spend: fuel, and the time from `started` to `deadline`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget {
    /// Fuel for this message.
    pub(crate) fuel: u64,
    /// When it started running (for the offload clock).
    pub(crate) started: Instant,
    /// When it must be finished.
    pub(crate) deadline: Instant,
    /// The timeout a caller is told about when the deadline passes, in milliseconds.
    pub(crate) timeout_ms: u64,
}

/// Why an export call failed; the instance is finished.
#[derive(Debug)]
pub(crate) struct Failure {
    /// What the caller of the failed message gets.
    pub(crate) error: SessionError,
    /// Why the instance (and so, unless restarted, its session) ends.
    pub(crate) reason: StopReason,
}

/// Why an instantiation failed: the failure as a message's would be classified (a trap or
/// the deadline in the start functions), and the engine's own error (a pool that is full,
/// for example), for the log and for a guest load's report.
#[derive(Debug)]
pub(crate) struct InstantiateError {
    pub(crate) failure: Failure,
    pub(crate) cause: wasmtime::Error,
}

/// What running an export came to: its result (or the failure) and the fuel it burned.
#[derive(Debug)]
pub(crate) struct Ran<T> {
    pub(crate) result: Result<T, Failure>,
    pub(crate) fuel_used: u64,
}

/// A guest instance and its store. Owned by its session's slot, used under its lock.
pub(crate) struct Instance {
    pub(crate) store: Store<SessionCtx>,
    exports: SessionGuest,
}

impl Instance {
    /// Instantiates `pre` in a new store holding `ctx`. The instantiation runs the
    /// component's start functions within `budget`.
    pub(crate) fn instantiate(
        pre: &SessionGuestPre<SessionCtx>,
        ctx: SessionCtx,
        budget: &Budget,
    ) -> Result<Self, InstantiateError> {
        let mut store = Store::new(pre.instance_pre().engine(), ctx);
        store.limiter(|ctx| &mut ctx.limits);
        store.epoch_deadline_callback(SessionCtx::on_epoch);
        arm(&mut store, budget);
        match pre.instantiate(&mut store) {
            Ok(exports) => Ok(Self { store, exports }),
            Err(cause) => Err(InstantiateError {
                failure: failure(&store, &cause, budget.timeout_ms),
                cause,
            }),
        }
    }

    /// Runs one export within `budget`: `call` gets the session exports and the store.
    pub(crate) fn run<T>(
        &mut self,
        budget: &Budget,
        call: impl FnOnce(&Exports, &mut Store<SessionCtx>) -> wasmtime::Result<T>,
    ) -> Ran<T> {
        arm(&mut self.store, budget);
        let result = call(self.exports.sessionhost_session_session(), &mut self.store);
        let fuel_used = disarm(&mut self.store, budget.fuel);
        let result = result.map_err(|error| {
            tracing::debug!(target: "sessionhost::session", error = ?error, "guest export failed");
            failure(&self.store, &error, budget.timeout_ms)
        });
        Ran { result, fuel_used }
    }

    /// The instance's store data.
    pub(crate) fn ctx(&self) -> &SessionCtx {
        self.store.data()
    }

    /// The instance's store data, mutably.
    pub(crate) fn ctx_mut(&mut self) -> &mut SessionCtx {
        self.store.data_mut()
    }
}

/// Arms the limits for one message.
fn arm(store: &mut Store<SessionCtx>, budget: &Budget) {
    store
        .data_mut()
        .begin_message(budget.started, budget.deadline);
    // Setting fuel only fails when fuel metering is off, and the engine always enables it.
    let _ = store.set_fuel(budget.fuel);
    store.set_epoch_deadline(1);
}

/// Marks the end of a message: returns the fuel it burned.
fn disarm(store: &mut Store<SessionCtx>, fuel: u64) -> u64 {
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

/// Classifies an error returned by an export call (or an instantiation).
fn failure(store: &Store<SessionCtx>, error: &wasmtime::Error, timeout_ms: u64) -> Failure {
    let kind = classify(store.data().limits.exceeded, error);
    let (message, reason) = match kind {
        TrapKind::Interrupted => {
            return Failure {
                error: SessionError::Timeout { ms: timeout_ms },
                reason: StopReason::Limit(LimitKind::Timeout),
            };
        }
        TrapKind::OutOfFuel => (
            "the message used up its fuel (fuel_per_call)".to_string(),
            StopReason::Limit(LimitKind::OutOfFuel),
        ),
        TrapKind::MemoryLimit => (
            match error.downcast_ref::<LimitExceeded>() {
                Some(e) => e.to_string(),
                None => "memory limit exceeded".to_string(),
            },
            StopReason::Limit(LimitKind::MemoryLimit),
        ),
        TrapKind::BlockingLimit => (
            "the guest blocked in a WASI call while the host's max_blocked_messages \
             messages were already blocked"
                .to_string(),
            StopReason::Limit(LimitKind::BlockingLimit),
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
