//! Running messages: a call ([`Session::call`]), the checkpoint and `stop` bookkeeping after
//! any message, the exports the host calls on its own account (`snapshot`, `terminate`,
//! `init`/`restore` of restarts and upgrades), and moving a session to a new ID.
//!
//! A guest export runs synchronously inside one poll of the caller's future (see
//! `offload.rs`), so a caller that gives up can only do so while waiting for the lock: a
//! message is either never delivered or fully handled, never cut in half.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::sync::MutexGuard;

use crate::error::SessionError;
use crate::id::SessionId;
use crate::reason::StopReason;
use crate::runtime::bindings::exports::sessionhost::session::session::Guest as Exports;
use crate::runtime::ctx::SessionCtx;
use crate::runtime::instance::{Budget, Failure};
use crate::session::checkpoint::CommitAck;
use crate::session::env::SessionEnv;
use crate::session::live::Live;
use crate::session::state::{Session, Slot, millis};
use crate::session::supervisor;

impl Session {
    /// Handles a call: waits for the lock (within `timeout`), delivers earlier casts, runs
    /// `handle-call`.
    pub(crate) async fn call(
        self: &Arc<Self>,
        env: &Arc<SessionEnv>,
        request: &[u8],
        timeout: Duration,
    ) -> Result<Vec<u8>, SessionError> {
        let mut started = Instant::now();
        let deadline = started + timeout;
        let timeout_ms = millis(timeout);
        // A call that gets the lock at once never waits in the mailbox; one that must wait
        // takes a place (and its bytes) there until it gets the lock or gives up.
        let mut slot = match self.slot.try_lock() {
            Ok(slot) => slot,
            Err(_) => {
                let _waiting = self.admit(env, request.len())?;
                let slot = tokio::time::timeout_at(deadline.into(), self.slot.lock())
                    .await
                    .map_err(|_| SessionError::Timeout { ms: timeout_ms })?;
                started = Instant::now();
                slot
            }
        };
        self.prepare_locked(&mut slot, env);
        if !self.is_live() {
            // Ended, or being terminated: the ending jumped the mailbox.
            return Err(SessionError::SessionNotFound);
        }
        let Slot::Live(live) = &mut *slot else {
            return Err(SessionError::SessionNotFound);
        };
        let budget = Budget {
            fuel: env.config.fuel_budget(),
            started,
            deadline,
            timeout_ms,
        };
        let ran = live
            .instance
            .run(&budget, |e, s| e.call_handle_call(s, request));
        self.account(env, live, ran.fuel_used);
        self.calls.fetch_add(1, Ordering::Relaxed);
        let result = match ran.result {
            Ok(Ok(reply)) => {
                let max = env.max_message_bytes();
                if reply.len() > max {
                    Err(SessionError::MessageTooLarge {
                        size: reply.len(),
                        max,
                    })
                } else {
                    Ok(reply)
                }
            }
            Ok(Err(message)) => Err(SessionError::GuestError(message)),
            Err(failure) => {
                let error = self.failure_error(&failure);
                self.fail_locked(&mut slot, env, failure);
                return Err(error);
            }
        };
        let checkpointed = self.after_message_locked(&mut slot, env);
        drop(slot);
        self.schedule_drain_if_needed(env);
        // Under `sync` checkpoint durability the reply waits until the checkpoint taken
        // after this message is on disk (the session's lock is already free).
        if let Ok(Some(ack)) = checkpointed {
            if !ack.await.unwrap_or(false) {
                env.counters.checkpoint_writes_failed.add(1);
            }
            return result;
        }
        checkpointed.and(result)
    }

    /// Bookkeeping after a handled message: activity (now), a checkpoint when one is due,
    /// and `host.stop`. When the checkpoint fails (its `snapshot` trapped) the instance is
    /// finished: the session restarts from its last good checkpoint (or ends), and the
    /// message's effects are lost with the instance — the error says so, for its caller.
    pub(super) fn after_message_locked(
        self: &Arc<Self>,
        slot: &mut MutexGuard<'_, Slot>,
        env: &Arc<SessionEnv>,
    ) -> Result<Option<CommitAck>, SessionError> {
        self.touch(env);
        let Slot::Live(live) = &mut **slot else {
            return Ok(None);
        };
        let ack = match supervisor::after_message(env, self, live) {
            Ok(ack) => ack,
            Err(failure) => {
                env.counters.checkpoints_failed.add(1);
                let error = match &failure.error {
                    SessionError::GuestTrap { kind, message } => SessionError::GuestTrap {
                        kind: *kind,
                        message: format!(
                            "the checkpoint after this message failed ({message}); its effects \
                         are lost with the instance that handled it"
                        ),
                    },
                    other => other.clone(),
                };
                tracing::warn!(
                    target: "sessionhost::session",
                    session_id = %self.id(),
                    guest = %self.guest.name,
                    error = %failure.error,
                    "checkpoint failed"
                );
                self.fail_locked(slot, env, failure);
                return Err(error);
            }
        };
        if let Slot::Live(live) = &mut **slot
            && let Some(reason) = live.take_stop_request()
            && self.is_live()
        {
            self.restart_or_end_locked(slot, env, StopReason::Requested(reason));
        }
        Ok(ack)
    }

    /// Books what an export cost: its fuel (session and host totals) and the instance's
    /// memory now.
    pub(crate) fn book(&self, env: &SessionEnv, live: &Live, fuel_used: u64) {
        self.add_fuel(env, fuel_used);
        let memory = live.memory_bytes();
        self.memory_bytes.store(memory, Ordering::Relaxed);
    }

    /// Books a message: [`book`](Self::book), and one more message run.
    pub(super) fn account(&self, env: &SessionEnv, live: &Live, fuel_used: u64) {
        self.book(env, live, fuel_used);
        env.counters.messages.add(1);
    }

    /// Runs the guest's `snapshot` on `live` (the lock held): its state, `None` when the
    /// guest does not support snapshots, or the failure.
    pub(crate) fn snapshot_locked(
        &self,
        env: &SessionEnv,
        live: &mut Live,
    ) -> Result<Option<Vec<u8>>, Failure> {
        self.run_on_own_account(env, live, |e, s| e.call_snapshot(s))
    }

    /// Runs an export the host calls on its own account — `snapshot`, `terminate`, the `init`
    /// or `restore` of a restart or an upgrade — within `call_timeout` and one message's fuel
    /// from now, and books what it burned on this session (see [`Self::book`]).
    pub(crate) fn run_on_own_account<T>(
        &self,
        env: &SessionEnv,
        live: &mut Live,
        call: impl FnOnce(&Exports, &mut wasmtime::Store<SessionCtx>) -> wasmtime::Result<T>,
    ) -> Result<T, Failure> {
        let budget = env.budget(Instant::now(), env.config.call_timeout);
        let ran = live.instance.run(&budget, call);
        self.book(env, live, ran.fuel_used);
        ran.result
    }

    /// Asks the guest for a snapshot of its state (after delivering queued casts).
    pub(crate) async fn snapshot(
        self: &Arc<Self>,
        env: &Arc<SessionEnv>,
    ) -> Result<Option<Vec<u8>>, SessionError> {
        let mut slot = self.slot.lock().await;
        self.prepare_locked(&mut slot, env);
        if !self.is_live() {
            return Err(SessionError::SessionNotFound);
        }
        let Slot::Live(live) = &mut *slot else {
            return Err(SessionError::SessionNotFound);
        };
        let outcome = self.snapshot_locked(env, live);
        env.counters.messages.add(1);
        match outcome {
            Ok(state) => Ok(state),
            Err(failure) => {
                let error = failure.error.clone();
                self.fail_locked(&mut slot, env, failure);
                Err(error)
            }
        }
    }

    /// Gives the live session a new random ID: registered under the new one, then removed
    /// under the old one, so the actor and its state stay and the old ID stops working.
    pub(crate) async fn rotate_id(
        self: &Arc<Self>,
        env: &Arc<SessionEnv>,
    ) -> Result<SessionId, SessionError> {
        let mut slot = self.slot.lock().await;
        if !self.is_live() {
            return Err(SessionError::SessionNotFound);
        }
        let Slot::Live(live) = &mut *slot else {
            return Err(SessionError::SessionNotFound);
        };
        let new = loop {
            let candidate = SessionId::generate();
            if env.registry.insert_as(candidate.clone(), Arc::clone(self)) {
                break candidate;
            }
        };
        let old = std::mem::replace(&mut *self.id.write(), new.clone());
        env.registry.remove_if_same(&old, self);
        live.instance.ctx_mut().id = new.clone();
        if let Some(writer) = &env.checkpoints
            && self.checkpointed.load(Ordering::Acquire)
        {
            // The durable checkpoint moves to the new ID; the old one must not come back.
            let checkpoint = live
                .recovery
                .as_ref()
                .and_then(|r| r.checkpoint.as_deref())
                .map(|state| self.record_locked(env, live, state.to_vec()));
            writer.submit(&old, None, false);
            if checkpoint.is_some() {
                writer.submit(&new, checkpoint, false);
            }
        }
        tracing::debug!(
            target: "sessionhost::session",
            event = "session.rotate",
            session_id = %new,
            "session id rotated"
        );
        Ok(new)
    }

    /// The store record of this session with `state` as its snapshot (its lock held): a
    /// hibernation's record, or a durable checkpoint.
    pub(crate) fn record_locked(
        &self,
        env: &SessionEnv,
        live: &Live,
        state: Vec<u8>,
    ) -> crate::store::SnapshotRecord {
        crate::store::SnapshotRecord {
            guest: self.guest.name.to_string(),
            version: self.guest.version.hash.clone(),
            state,
            args: live.init_args(),
            saved_at_ms: env.wall_now_ms(),
            last_active_ms: env.wall_ms_of(self.last_active_ms()),
            timers: live.export_timers(),
        }
    }
}
