//! Hibernation: idle sessions reduced to a snapshot in the [`SnapshotStore`], and woken
//! transparently by their next message.
//!
//! After `hibernate_after` without a message (the reaper's deadline, see `reaper.rs`), a
//! session whose guest allows it is asked for its `snapshot`. The record — guest, version,
//! state, init arguments, last activity and pending timers — goes to the store, then the
//! instance is dropped: its pool slot, memory and `max_sessions` place are freed. A session
//! is never hibernated while it has messages pending or subscribers listening, and a guest
//! whose `snapshot` returns `none` is never asked again.
//!
//! The session object itself is retired (state `hibernated`): a caller that looked it up just
//! before sees it refuse, looks the ID up again, and wakes it. Lookups pass over a retired
//! object still in the registry, and the woken session takes its place there, so the waker
//! never waits for the retiring thread. Waking ([`resolve`](crate::session::resolver::resolve))
//! instantiates the guest under the same ID, runs `restore` with the stored state and re-arms
//! the timers with their remaining delays. The idle TTL keeps running while a session is
//! stored (its record carries its last activity); waking counts as activity. Concurrent
//! wakers of one ID race to register it; the loser uses the winner's session. The record is
//! removed once the session is registered again, before its lock is released (so it cannot
//! hibernate anew and then lose its new record to the late removal of the old one). A touch
//! of a hibernated session updates its record in place, atomically
//! ([`SnapshotStore::touch`](crate::store::SnapshotStore::touch)),
//! so a touch racing a wake never puts back a record the waker took.
//!
//! A hibernated session whose idle TTL runs out is dropped from the store by the reaper
//! (counted as expired) without waking it: its `terminate` does not run.
//!
//! Store calls may block (a durable store writes to disk): they run on a blocking thread
//! where the runtime allows it.

use std::sync::Arc;
use std::time::Instant;

use tokio::sync::MutexGuard;

use crate::error::SessionError;
use crate::info::HibernateOutcome;
use crate::reason::StopReason;
use crate::runtime::instance::Failure;
use crate::session::env::SessionEnv;
use crate::session::lifecycle::Ending;
use crate::session::live::Live;
use crate::session::start::StartExtras;
use crate::session::start::{RestoreFrom, StartOptions};
use crate::session::state::{Session, Slot, millis};
use crate::session::timers::wall_ms;
use crate::store::{SnapshotRecord, StoreError};

/// Expired hibernated sessions woken at once to run their `terminate` (see
/// [`SessionEnv::expire_hibernated`]): a burst of expiries never takes more than this many
/// instances or `max_sessions` places.
pub(crate) const EXPIRY_WAKES: usize = 16;

/// What storing a live session's snapshot came to.
enum Stored {
    /// The record is in the store.
    Saved(SnapshotRecord),
    /// The guest does not support snapshots.
    NoSnapshots,
    /// The store refused it (logged).
    Refused,
    /// `snapshot` failed: the instance is finished.
    Failed(Failure),
}

/// Takes the session's snapshot (its lock held) and puts its record in the store.
fn store_locked(session: &Session, live: &mut Live, env: &SessionEnv) -> Stored {
    let state = match session.snapshot_locked(env, live) {
        Ok(Some(state)) => state,
        Ok(None) => return Stored::NoSnapshots,
        Err(failure) => return Stored::Failed(failure),
    };
    let record = session.record_locked(env, live, state);
    let id = session.id();
    if let Some(writer) = &env.checkpoints {
        // The hibernated record replaces the session's durable checkpoint; the removal is
        // handed over before the record is stored, so no older checkpoint can land after.
        writer.submit(&id, None, false);
    }
    match blocking(|| env.store.put(&id, &record)) {
        Ok(()) => Stored::Saved(record),
        Err(error) => {
            tracing::warn!(target: "sessionhost::session", session_id = %id, %error, "the session's snapshot was not stored");
            Stored::Refused
        }
    }
}

/// Hibernates `session` (its lock held, its queued casts delivered, `now` on the host clock).
/// Returns what happened, and the next deadline of a session that stays live (busy,
/// watched, or its snapshot could not be stored); `None` once it is hibernated or has ended.
pub(crate) fn hibernate_locked(
    session: &Arc<Session>,
    slot: &mut MutexGuard<'_, Slot>,
    env: &Arc<SessionEnv>,
    now: u64,
) -> (HibernateOutcome, Option<u64>) {
    let retry = now.saturating_add(millis(env.config.hibernate_after).max(1_000));
    if session.has_subscribers() {
        return (HibernateOutcome::Busy, Some(retry));
    }
    let Slot::Live(live) = &mut **slot else {
        return (HibernateOutcome::Ended, None);
    };
    let began = Instant::now();
    let record = match store_locked(session, live, env) {
        Stored::Saved(record) => record,
        Stored::NoSnapshots => {
            session.set_no_snapshots();
            return (HibernateOutcome::Unsupported, session.next_deadline_ms(env));
        }
        Stored::Refused => return (HibernateOutcome::StoreRefused, Some(retry)),
        Stored::Failed(failure) => {
            session.fail_locked(slot, env, failure);
            let next = matches!(&**slot, Slot::Live(_))
                .then(|| session.next_deadline_ms(env))
                .flatten();
            return (HibernateOutcome::Failed, next);
        }
    };
    let id = session.id();
    if !session.mark_retired(true) {
        // A message arrived meanwhile: stay live, forget the record — which, for a session
        // with durable checkpoints, becomes its checkpoint again.
        if let Some(writer) = &env.checkpoints
            && session.guest.options.checkpoint_every > 0
        {
            session.mark_checkpointed();
            writer.submit(&id, Some(record), false);
        }
        let _ = blocking(|| env.store.remove(&id));
        return (HibernateOutcome::Busy, Some(now.saturating_add(1_000)));
    }
    session.retire_hibernated(slot, env);
    // A touch that raced the retirement saw the object still live and only updated it:
    // carry its activity over to the record.
    let active = env.wall_ms_of(session.active_since_retired());
    if active > record.last_active_ms {
        let _ = blocking(|| env.store.touch(&id, active));
    }
    if let Some(deadline) = env.hibernated_deadline_ms(&record) {
        env.reaper.watch_hibernated(env, &id, deadline);
    }
    tracing::debug!(
        target: "sessionhost::session",
        event = "session.hibernate",
        session_id = %id,
        guest = %session.guest.name,
        state_bytes = record.state.len(),
        duration_us = began.elapsed().as_micros() as u64,
        "session hibernated"
    );
    (HibernateOutcome::Hibernated, None)
}

/// Hibernates `session` now (after its queued casts). A session that stays live keeps its
/// reaper entry, which goes on watching it.
pub(crate) async fn hibernate_now(
    session: &Arc<Session>,
    env: &Arc<SessionEnv>,
) -> HibernateOutcome {
    if !session.guest.options.hibernate || !session.supports_snapshots() {
        return HibernateOutcome::Unsupported;
    }
    let mut slot = session.slot.lock().await;
    session.prepare_locked(&mut slot, env);
    if !session.is_live() || !matches!(&*slot, Slot::Live(_)) {
        return if session.was_retired() {
            HibernateOutcome::AlreadyHibernated
        } else {
            HibernateOutcome::Ended
        };
    }
    let now = env.clock.now_ms();
    hibernate_locked(session, &mut slot, env, now).0
}

/// At shutdown with a durable store: stores the session's snapshot (so it comes back after
/// a restart), then ends it with reason `shutdown` (its `terminate` runs). Returns whether a
/// snapshot was stored.
pub(crate) async fn save_and_end(session: &Arc<Session>, env: &Arc<SessionEnv>) -> bool {
    let mut slot = session.slot.lock().await;
    session.prepare_locked(&mut slot, env);
    if !session.is_live() {
        return false; // being terminated: that ending stands
    }
    let Slot::Live(live) = &mut *slot else {
        return false;
    };
    let saved = match store_locked(session, live, env) {
        Stored::Saved(_) => true,
        Stored::NoSnapshots | Stored::Refused => false,
        Stored::Failed(failure) => {
            session.fail_locked(&mut slot, env, failure);
            return false;
        }
    };
    session.end_locked(&mut slot, env, StopReason::Shutdown);
    saved
}

impl SessionEnv {
    /// Whether a session with this ID is hibernated.
    pub(crate) fn is_hibernated(&self, id: &str) -> bool {
        self.store.contains(id).unwrap_or(false)
    }

    /// Wakes the hibernated session `id`, stored as `record`, for a message (see the module
    /// docs). One whose idle TTL ran out is not woken for it: it is ended as the reaper would
    /// ([`Self::expire_stored`]) and the message gets `session_not_found`. `already_started`
    /// when another waker registered it first (the resolver then finds that one).
    pub(crate) async fn wake(
        self: &Arc<Self>,
        id: &str,
        record: SnapshotRecord,
    ) -> Result<Arc<Session>, SessionError> {
        if self.end_if_expired(id, &record) {
            return Err(crate::id::not_found(id));
        }
        self.wake_record(id, record).await
    }

    /// When the stored session's idle TTL has run out, starts ending it
    /// ([`Self::expire_stored`], in a task of its own) and says so.
    fn end_if_expired(self: &Arc<Self>, id: &str, record: &SnapshotRecord) -> bool {
        let expired = self
            .hibernated_expiry_ms(record.last_active_ms)
            .is_some_and(|deadline| deadline <= self.clock.now_ms());
        if expired {
            let (env, id) = (Arc::clone(self), id.to_string());
            env.tasks
                .clone()
                .spawn(async move { env.expire_stored(&id).await });
        }
        expired
    }

    /// Ends a hibernated session whose idle TTL ran out the way a live one ends: woken
    /// (instantiate + `restore`), then `terminate(idle-timeout)`, so the guest can flush or
    /// publish a last event and subscribers see the reason. At most [`EXPIRY_WAKES`] such
    /// wakes run at once. When it cannot be woken (its guest is gone, `max_sessions` is
    /// reached, its `restore` fails) the record is dropped without `terminate`, and the log
    /// says why.
    pub(crate) async fn expire_stored(self: &Arc<Self>, id: &str) {
        let Ok(_permit) = self.expiry_wakes.acquire().await else {
            return;
        };
        let record = match blocking(|| self.store.get(id)) {
            Ok(Some(record)) => record,
            _ => return, // woken, dropped or expired by someone else meanwhile
        };
        let woken = match self.wake_record(id, record).await {
            // Woken by a message meanwhile: that session is the one to end.
            Err(SessionError::AlreadyStarted) => self.live_session(id),
            woken => woken,
        };
        match woken {
            Ok(session) => {
                self.counters.expired.add(1);
                tracing::info!(
                    target: "sessionhost::session",
                    event = "session.cleanup",
                    session_id = %id,
                    guest = %session.guest.name,
                    reason = "idle_timeout",
                    "hibernated session expired"
                );
                if let Err(error) = session
                    .terminate(self, StopReason::IdleTimeout, Ending::Drain)
                    .await
                {
                    tracing::debug!(target: "sessionhost::session", session_id = %id, %error, "expired session already ending");
                }
            }
            Err(error) => {
                tracing::warn!(target: "sessionhost::session", session_id = %id, %error, "an expired hibernated session could not be woken for its terminate; dropping it");
                self.drop_hibernated(id, "idle_timeout");
            }
        }
    }

    /// Starts the session stored in `record` under its ID and takes the record.
    async fn wake_record(
        self: &Arc<Self>,
        id: &str,
        record: SnapshotRecord,
    ) -> Result<Arc<Session>, SessionError> {
        let began = Instant::now();
        let options = StartOptions {
            id: Some(id.to_string()),
            guest: Some(record.guest.clone()),
            args: Vec::new(),
            restore: Some(RestoreFrom {
                state: record.state,
                from_version: record.version,
            }),
        };
        let extras = StartExtras {
            woken: true,
            args: record.args,
            timers: record.timers,
        };
        // The woken session's last activity is now: waking is activity (a message, a touch
        // or a due timer is about to arrive).
        match crate::session::start::start_session(self, options, extras).await {
            Ok(session) => {
                self.counters.woken.add(1);
                tracing::debug!(
                    target: "sessionhost::session",
                    event = "session.wake",
                    session_id = %id,
                    duration_us = began.elapsed().as_micros() as u64,
                    "session woken"
                );
                Ok(session)
            }
            Err(e @ SessionError::AlreadyStarted) => Err(e),
            Err(
                e @ (SessionError::SessionLimitReached { .. }
                | SessionError::ShuttingDown
                | SessionError::GuestNotFound { .. }),
            ) => Err(e),
            Err(e) => {
                // Its restore fails: it can never wake. Drop it rather than fail forever.
                tracing::error!(target: "sessionhost::session", session_id = %id, error = %e, "a hibernated session could not be restored; dropping it");
                self.drop_hibernated(id, "restore failed");
                Err(e)
            }
        }
    }

    /// The reaper's deadline for a hibernated session: its idle TTL from its last activity
    /// (wall-clock milliseconds), on the host clock.
    pub(crate) fn hibernated_expiry_ms(&self, last_active_wall_ms: u64) -> Option<u64> {
        let ttl = self.config.session_ttl;
        // Converted as a wall-clock deadline: a last activity from before this host started
        // (a durable store after a restart) still expires on time.
        (!ttl.is_zero())
            .then(|| self.clock_ms_of_wall(last_active_wall_ms.saturating_add(millis(ttl))))
    }

    /// Enters the sessions already in the store (a durable store after a restart) into the
    /// reaper, so they still expire and their timers still fire. Needs the async runtime;
    /// without one (or if the store cannot be read) they are only woken on demand.
    pub(crate) fn watch_stored(self: &Arc<Self>) {
        if tokio::runtime::Handle::try_current().is_err() {
            return;
        }
        let ids = match self.store.ids() {
            Ok(ids) => ids,
            Err(error) => {
                tracing::warn!(target: "sessionhost::session", %error, "could not list the stored sessions");
                return;
            }
        };
        for id in ids {
            if let Ok(Some(record)) = self.store.get(&id)
                && let Some(deadline) = self.hibernated_deadline_ms(&record)
            {
                self.reaper.watch_hibernated(self, &id, deadline);
            }
        }
    }

    /// The reaper's deadline for a hibernated session: its idle TTL, or its first timer
    /// (a due timer wakes the session, so timers fire on time across hibernation).
    pub(crate) fn hibernated_deadline_ms(&self, record: &SnapshotRecord) -> Option<u64> {
        let expiry = self.hibernated_expiry_ms(record.last_active_ms);
        let timer = record
            .timers
            .iter()
            .map(|t| self.clock_ms_of_wall(t.due_at_ms))
            .min();
        match (expiry, timer) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Run by the reaper at a hibernated session's deadline (on a blocking thread): ends it
    /// when its idle TTL ran out ([`Self::expire_stored`]), wakes it when a timer is due.
    pub(crate) fn expire_hibernated(self: &Arc<Self>, id: &str) {
        let Ok(Some(record)) = self.store.get(id) else {
            return; // woken or dropped meanwhile
        };
        if self.end_if_expired(id, &record) {
            return;
        }
        let now = self.clock.now_ms();
        match self.hibernated_deadline_ms(&record) {
            Some(deadline) if deadline <= now => {
                // A timer is due: wake the session; its timers are re-armed and fire.
                let (env, id) = (Arc::clone(self), id.to_string());
                env.tasks.clone().spawn(async move {
                    if let Err(error) = crate::session::resolver::resolve(&env, &id).await {
                        tracing::warn!(target: "sessionhost::session", session_id = %id, %error, "could not wake a session for its timer");
                    }
                });
            }
            Some(deadline) => self.reaper.watch_hibernated(self, id, deadline),
            None => {}
        }
    }

    fn drop_hibernated(&self, id: &str, why: &str) {
        if matches!(self.store.remove(id), Ok(true)) {
            self.counters.expired.add(1);
            tracing::info!(target: "sessionhost::session", event = "session.cleanup", session_id = %id, reason = why, "hibernated session dropped");
        }
    }

    /// Logs a store failure and gives the caller the error it may see (no internals).
    pub(crate) fn unreadable(&self, id: &str, error: StoreError) -> SessionError {
        tracing::error!(target: "sessionhost::session", session_id = %id, %error, "snapshot store failed");
        SessionError::StartFailed {
            reason: "the session's snapshot could not be read".into(),
        }
    }

    /// A host-clock time as wall-clock milliseconds.
    pub(crate) fn wall_ms_of(&self, clock_ms: u64) -> u64 {
        wall_ms(self.clock.to_system_time(clock_ms))
    }

    /// Now, in wall-clock milliseconds as the host's clock counts them: the wall time at
    /// start plus the monotonic time since (so paused test time and wall time agree).
    pub(crate) fn wall_now_ms(&self) -> u64 {
        self.wall_ms_of(self.clock.now_ms())
    }

    /// Wall-clock milliseconds as a host-clock time (times before the host started are 0).
    pub(crate) fn clock_ms_of_wall(&self, wall: u64) -> u64 {
        let (now, now_wall) = (self.clock.now_ms(), self.wall_now_ms());
        if wall >= now_wall {
            now.saturating_add(wall - now_wall)
        } else {
            now.saturating_sub(now_wall - wall)
        }
    }

    /// Touches a hibernated session: its stored last activity becomes now. `false` when no
    /// record is stored under `id` (never hibernated, ended, or just woken).
    pub(crate) fn touch_hibernated(&self, id: &str) -> Result<bool, SessionError> {
        let now = self.wall_now_ms();
        blocking(|| self.store.touch(id, now)).map_err(|error| self.unreadable(id, error))
    }
}

/// Runs a store call, off the async worker thread when the runtime allows it.
pub(crate) fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(f),
        _ => f(),
    }
}
