//! Ending a session, and starting it again after a failure.
//!
//! [`Session::terminate`] jumps the mailbox: it marks the session ending at once, so new
//! messages are refused, callers waiting for the lock give up with `session_not_found` as
//! they get it, queued casts are discarded (counted in the stop event's `lost_messages`),
//! and a kill also interrupts the message running now. Only a shutdown drains the mailbox
//! first. The ending runs in a task of its own, so it completes even if its caller goes away.
//!
//! A session ends exactly once, under its lock, in [`Session::end_locked`]: the slot becomes
//! [`Slot::Ended`], the guest's `terminate` runs when the instance is still usable, the store
//! (and with it every timer) is dropped, the registry entry is removed, subscribers get the
//! final event and the host's live count is released. Callers still waiting for the lock then
//! find the slot ended and get `session_not_found`. A failed message ends the instance; the
//! guest's restart policy decides whether the session starts again (`supervisor.rs`).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use tokio::sync::MutexGuard;

use crate::error::SessionError;
use crate::events::SessionEvent;
use crate::reason::StopReason;
use crate::runtime::instance::Failure;
use crate::session::env::SessionEnv;
use crate::session::state::{Session, Slot, State, millis};
use crate::session::supervisor::{self, Restarted};

/// How [`Session::terminate`] treats the mailbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Deliver the queued casts first (a graceful shutdown).
    Drain,
    /// End at once: queued casts are discarded, waiting callers refused.
    Now,
    /// [`Ending::Now`], and interrupt the message running now (an operator's kill).
    Kill,
}

impl Session {
    /// At a reaper deadline, under the lock and after queued casts: ends the session if it
    /// has expired, hibernates it if it is due. Returns the next deadline when it lives on
    /// (the reaper watches again until then).
    pub(crate) async fn on_deadline(self: &Arc<Self>, env: &Arc<SessionEnv>) -> Option<u64> {
        let mut slot = self.slot.lock().await;
        self.prepare_locked(&mut slot, env);
        if !self.is_live() || !matches!(&*slot, Slot::Live(_)) {
            return None;
        }
        let now = env.clock.now_ms();
        let expired = self.expires_at_ms(&env.config).is_some_and(|d| d <= now);
        if !expired {
            if self.hibernates_at_ms(&env.config).is_some_and(|d| d <= now) {
                return crate::session::hibernate::hibernate_locked(self, &mut slot, env, now).1;
            }
            return self.next_deadline_ms(env);
        }
        let idle_ms = now.saturating_sub(self.last_active_ms.load(Ordering::Relaxed));
        let reason = match env.config.session_max_lifetime {
            Some(max) if now.saturating_sub(self.created_ms) >= millis(max) => {
                StopReason::Killed("session_max_lifetime reached".into())
            }
            _ => StopReason::IdleTimeout,
        };
        env.counters.expired.add(1);
        tracing::info!(
            target: "sessionhost::session",
            event = "session.cleanup",
            session_id = %self.id(),
            guest = %self.guest.name,
            idle_ms,
            reason = %reason,
            "session expired"
        );
        self.end_locked(&mut slot, env, reason);
        None
    }

    /// Ends the session after a failed export call.
    pub(crate) fn fail_locked(
        self: &Arc<Self>,
        slot: &mut MutexGuard<'_, Slot>,
        env: &Arc<SessionEnv>,
        failure: Failure,
    ) {
        env.counters.traps.add(1);
        if self.state.load(Ordering::Acquire) == State::Ending {
            // A terminate is waiting for the lock and ends the session with its reason; the
            // instance cannot run the guest's `terminate` any more.
            if let Slot::Live(live) = &mut **slot {
                live.poisoned = true;
            }
            return;
        }
        tracing::warn!(
            target: "sessionhost::session",
            session_id = %self.id(),
            guest = %self.guest.name,
            error = %failure.error,
            "guest failed"
        );
        self.restart_or_end_locked(slot, env, failure.reason);
    }

    /// Starts the session again when its guest's restart policy says so (see
    /// `supervisor.rs`), else ends it.
    pub(super) fn restart_or_end_locked(
        self: &Arc<Self>,
        slot: &mut MutexGuard<'_, Slot>,
        env: &Arc<SessionEnv>,
        reason: StopReason,
    ) {
        if !self.guest.options.restart.restarts_after(&reason)
            || env.is_shutting_down()
            || !matches!(&**slot, Slot::Live(_))
        {
            self.end_locked(slot, env, reason);
            return;
        }
        let started = Instant::now();
        let Slot::Live(mut old) = std::mem::replace(&mut **slot, Slot::Starting) else {
            return;
        };
        let recovery = old.recovery.take();
        drop(old);
        match supervisor::restart(env, self, &reason, recovery) {
            Restarted::Live {
                live,
                from_checkpoint,
                lost,
            } => {
                self.set_live(slot, live);
                env.counters.restarts.add(1);
                tracing::info!(
                    target: "sessionhost::session",
                    event = "session.restart",
                    session_id = %self.id(),
                    guest = %self.guest.name,
                    reason = %reason,
                    from_checkpoint,
                    lost_messages = lost,
                    duration_us = started.elapsed().as_micros() as u64,
                    "session restarted"
                );
                if let Some(events) = self.events.get() {
                    let _ = events.send(SessionEvent::Restarted {
                        reason,
                        from_checkpoint,
                        lost_messages: lost,
                    });
                }
            }
            Restarted::Failed(reason) => {
                **slot = Slot::Ended;
                self.state.store(State::Ending, Ordering::SeqCst);
                self.finish_end(env, reason, started);
            }
        }
    }

    /// Ends a session whose lock the caller holds; does nothing if it already ended.
    pub(crate) fn end_locked(
        self: &Arc<Self>,
        slot: &mut MutexGuard<'_, Slot>,
        env: &Arc<SessionEnv>,
        reason: StopReason,
    ) {
        let previous = std::mem::replace(&mut **slot, Slot::Ended);
        let Slot::Live(mut live) = previous else {
            **slot = previous;
            return;
        };
        self.state.store(State::Ending, Ordering::SeqCst);
        let started = Instant::now();
        if crate::reason::instance_usable(&reason) && !live.poisoned {
            let wit_reason = (&reason).into();
            let outcome =
                self.run_on_own_account(env, &mut live, |e, s| e.call_terminate(s, &wit_reason));
            if let Err(failure) = outcome {
                tracing::warn!(
                    target: "sessionhost::session",
                    session_id = %self.id(),
                    guest = %self.guest.name,
                    error = %failure.error,
                    "guest terminate failed; the session ends anyway"
                );
            }
        }
        drop(live);
        self.finish_end(env, reason, started);
    }

    /// The bookkeeping of an ending, once the instance is gone: registry, mailbox, live
    /// count, metrics, subscribers, log.
    pub(super) fn finish_end(
        self: &Arc<Self>,
        env: &Arc<SessionEnv>,
        reason: StopReason,
        started: Instant,
    ) {
        self.state.store(State::Ended, Ordering::SeqCst);
        env.registry.remove_if_same(&self.id(), self);
        env.reaper.forget(env, self);
        let lost = {
            let mut queue = self.queue.lock();
            let lost = queue.len();
            for mail in queue.drain(..) {
                self.release(env, mail.bytes());
            }
            self.queued.fetch_sub(lost, Ordering::AcqRel);
            lost
        };
        if lost > 0 {
            env.counters.discarded.add(lost as u64);
        }
        if let Some(writer) = &env.checkpoints
            && self.checkpointed.load(Ordering::Acquire)
        {
            writer.submit(&self.id(), None, false);
        }
        env.release_session();
        env.counters.record_stop(&reason);
        if let Some(events) = self.events.get() {
            let _ = events.send(SessionEvent::Terminated(reason.clone()));
        }
        tracing::debug!(
            target: "sessionhost::session",
            event = "session.stop",
            session_id = %self.id(),
            guest = %self.guest.name,
            reason = %reason,
            lost_messages = lost,
            duration_us = started.elapsed().as_micros() as u64,
            calls = self.calls.load(Ordering::Relaxed),
            casts = self.casts.load(Ordering::Relaxed),
            "session ended"
        );
    }

    /// Ends the session for `reason`. With [`Ending::Drain`] the casts it already accepted
    /// are delivered first; otherwise the ending jumps the mailbox (see the module docs):
    /// from this call on the session refuses every message, and [`Ending::Kill`] also
    /// interrupts the message running now. The ending runs in a task of its own, so it
    /// completes even if the caller stops waiting. `session_not_found` when the session had
    /// already ended (or is being ended, or was retired: look it up again).
    pub(crate) async fn terminate(
        self: &Arc<Self>,
        env: &Arc<SessionEnv>,
        reason: StopReason,
        ending: Ending,
    ) -> Result<(), SessionError> {
        if ending != Ending::Drain {
            if !self.state.swap_from(State::Live, State::Ending) {
                return Err(SessionError::SessionNotFound);
            }
            if ending == Ending::Kill {
                self.interrupt.store(true, Ordering::Release);
            }
        }
        let (session, env) = (Arc::clone(self), Arc::clone(env));
        let ended = env.tasks.clone().spawn(async move {
            let mut slot = session.slot.lock().await;
            if ending == Ending::Drain {
                session.prepare_locked(&mut slot, &env);
                if !session.is_live() {
                    return Err(SessionError::SessionNotFound);
                }
            }
            if !matches!(&*slot, Slot::Live(_)) {
                return Err(SessionError::SessionNotFound);
            }
            session.end_locked(&mut slot, &env, reason);
            Ok(())
        });
        ended.await.unwrap_or(Err(SessionError::SessionNotFound))
    }

    /// Whether a kill asked the running message to stop (checked at every epoch tick).
    pub(crate) fn interrupt_requested(&self) -> bool {
        self.interrupt.load(Ordering::Acquire)
    }

    /// What the caller of a failed message gets: its own error, or `session_not_found` when
    /// a kill interrupted it (the session is being ended).
    pub(super) fn failure_error(&self, failure: &Failure) -> SessionError {
        if self.interrupt_requested() {
            SessionError::SessionNotFound
        } else {
            failure.error.clone()
        }
    }
}
