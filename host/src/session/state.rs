//! One session: its instance, its mailbox, and the rule that it handles one message at a time.
//!
//! # Model
//! A [`Session`] is not a task. It is a lock-protected slot holding the instance ([`Slot`]),
//! which callers drive directly: a call takes the lock, runs the guest's `handle-call` on its
//! own future, and releases the lock. Holding the lock *is* the gen_server rule — no two
//! messages of one session ever run at once — and an uncontended call costs no task switch and
//! no channel. The lock is tokio's fair mutex, so waiting callers are served in arrival order.
//!
//! Casts must not make their sender wait for the guest. A cast is pushed on the session's
//! queue and a drainer task is scheduled (at most one at a time) that takes the lock and
//! delivers queued casts in order. Whoever takes the lock delivers the queued casts *before*
//! its own message, so a sender that casts and then calls sees its cast handled first.
//!
//! # The mailbox bound
//! `pending` counts calls waiting for the lock plus queued casts, `pending_bytes` their bytes,
//! and the host adds up every session's bytes. A message that would take the count past
//! `mailbox`, the session's bytes past `mailbox_bytes` or the host's past
//! `mailbox_bytes_total` is refused with `mailbox_full` — never silently dropped. Whoever
//! takes a message out of the mailbox (it starts running, or it is discarded) gives its
//! place and bytes back.
//!
//! # Ending
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
//! find the slot ended and get `session_not_found`.
//!
//! A guest export runs synchronously inside one poll of the caller's future (see
//! `offload.rs`), so a caller that gives up can only do so while waiting for the lock: a
//! message is either never delivered or fully handled, never cut in half.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::MutexGuard;

use crate::events::{self, SessionEvent, SessionEvents};
use crate::guest::Guest;
use crate::id::SessionId;
use crate::reason::StopReason;
use crate::runtime::bindings::exports::sessionhost::session::session::Guest as Exports;
use crate::runtime::ctx::SessionCtx;
use crate::runtime::instance::{Budget, Failure};
use crate::session::checkpoint::CommitAck;
use crate::session::env::SessionEnv;
use crate::session::live::Live;
use crate::session::supervisor::{self, Restarted};
use crate::{HostConfig, SessionError, SessionInfo, SessionStatus};

/// A message waiting in a session's queue.
#[derive(Debug)]
pub(crate) enum Mail {
    /// A cast from a sender.
    Cast(Vec<u8>),
    /// A timer's message; skipped when the timer was cancelled after it fired.
    Timer { id: u64, message: Vec<u8> },
}

impl Mail {
    /// The bytes it holds, as the mailbox bounds count them.
    fn bytes(&self) -> usize {
        match self {
            Self::Cast(message) | Self::Timer { message, .. } => message.len(),
        }
    }
}

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

/// What a session's slot holds.
pub(crate) enum Slot {
    /// Being created; only the starting task can see it.
    Starting,
    /// Running.
    Live(Live),
    /// Ended; callers still waiting for the lock get `session_not_found`.
    Ended,
}

const STATE_LIVE: u8 = 0;
const STATE_ENDING: u8 = 1;
const STATE_ENDED: u8 = 2;
/// Replaced by another object for the same ID — hibernated (the store holds it, the next
/// message wakes a new object) or moved to a new guest version (the registry holds the new
/// object). Whoever reaches a retired object looks the ID up again.
const STATE_RETIRED: u8 = 3;

/// One session. Shared as `Arc<Session>` by the registry and by callers in flight.
pub(crate) struct Session {
    /// The session's ID; changes only through [`Session::rotate_id`], under the slot lock.
    id: parking_lot::RwLock<SessionId>,
    /// The guest version this session runs.
    pub(crate) guest: Arc<Guest>,
    /// When it started.
    created: SystemTime,
    /// When it started, in host clock milliseconds (for `session_max_lifetime`).
    created_ms: u64,
    /// Milliseconds since the host's clock base of the last call, cast or touch.
    last_active_ms: AtomicU64,
    /// The guest's `snapshot` returned `none`: no checkpoints, no hibernation.
    no_snapshots: AtomicBool,
    /// Why the last `migrate` upgrade of this session failed (it stayed on its version).
    upgrade_error: parking_lot::Mutex<Option<Box<str>>>,
    /// This session's entry in the reaper: (deadline, sequence). Written under the reaper's
    /// lock; read when the session ends, to remove the entry.
    reaper_deadline: AtomicU64,
    reaper_sequence: AtomicU64,
    /// Calls and casts handled, fuel burned, current linear memory: read by `info`.
    calls: AtomicU64,
    casts: AtomicU64,
    fuel_used: AtomicU64,
    memory_bytes: AtomicUsize,
    /// Calls waiting for the lock plus queued casts (the mailbox occupancy).
    pending: AtomicUsize,
    /// Bytes of those messages.
    pending_bytes: AtomicUsize,
    /// A kill asked the running message to stop at the next epoch tick.
    interrupt: AtomicBool,
    /// A checkpoint of this session was handed to the durable checkpoint writer: its
    /// ending must remove it (see `checkpoint.rs`).
    checkpointed: AtomicBool,
    /// Length of `queue`, readable without locking it (the common case is "empty").
    queued: AtomicUsize,
    /// `STATE_*`: lets senders refuse mail without taking the lock.
    state: AtomicU8,
    /// Queued casts and timer messages, in arrival order. A std-style mutex: it is held for
    /// a push or a pop only, never across an await.
    queue: parking_lot::Mutex<VecDeque<Mail>>,
    /// True while a drainer task is scheduled or running.
    drain_scheduled: AtomicBool,
    /// Subscribers' queues, created on first subscribe (bounded: see `events.rs`).
    events: OnceLock<events::Hub>,
    /// The instance. Tokio's fair mutex: holding it is the right to run a message.
    pub(crate) slot: tokio::sync::Mutex<Slot>,
}

impl Session {
    pub(crate) fn new(env: &SessionEnv, id: SessionId, guest: Arc<Guest>) -> Self {
        Self {
            id: parking_lot::RwLock::new(id),
            guest,
            created: SystemTime::now(),
            created_ms: env.clock.now_ms(),
            last_active_ms: AtomicU64::new(env.clock.now_ms()),
            no_snapshots: AtomicBool::new(false),
            upgrade_error: parking_lot::Mutex::new(None),
            reaper_deadline: AtomicU64::new(u64::MAX),
            reaper_sequence: AtomicU64::new(u64::MAX),
            calls: AtomicU64::new(0),
            casts: AtomicU64::new(0),
            fuel_used: AtomicU64::new(0),
            memory_bytes: AtomicUsize::new(0),
            pending: AtomicUsize::new(0),
            pending_bytes: AtomicUsize::new(0),
            interrupt: AtomicBool::new(false),
            checkpointed: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            state: AtomicU8::new(STATE_LIVE),
            queue: parking_lot::Mutex::new(VecDeque::new()),
            drain_scheduled: AtomicBool::new(false),
            events: OnceLock::new(),
            slot: tokio::sync::Mutex::new(Slot::Starting),
        }
    }

    /// The session's current ID.
    pub(crate) fn id(&self) -> SessionId {
        self.id.read().clone()
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

    pub(crate) fn is_live(&self) -> bool {
        self.state.load(Ordering::Acquire) == STATE_LIVE
    }

    /// Records activity now (calls, casts and touches all count).
    pub(crate) fn touch(&self, env: &SessionEnv) {
        self.last_active_ms
            .store(env.clock.now_ms(), Ordering::Relaxed);
    }

    /// A touch from outside the session's lock ([`crate::Host::touch`]): records activity
    /// now; false when the object was retired, so the touch must go to its successor (the
    /// stored record or the woken session). Paired with [`Self::active_since_retired`] after
    /// `mark_retired`: of a touch and a hibernation that race, at least one sees the other.
    pub(crate) fn touch_unless_retired(&self, env: &SessionEnv) -> bool {
        self.last_active_ms
            .store(env.clock.now_ms(), Ordering::SeqCst);
        self.state.load(Ordering::SeqCst) != STATE_RETIRED
    }

    /// The last activity, read after this object was retired (see
    /// [`Self::touch_unless_retired`]).
    pub(crate) fn active_since_retired(&self) -> u64 {
        self.last_active_ms.load(Ordering::SeqCst)
    }

    /// Whether this session object was retired (hibernated or upgraded): the ID lives on,
    /// look it up again.
    pub(crate) fn was_retired(&self) -> bool {
        self.state.load(Ordering::Acquire) == STATE_RETIRED
    }

    /// Whether anyone subscribes to this session's events.
    pub(crate) fn subscriber_count(&self) -> usize {
        self.events.get().map_or(0, |tx| tx.receiver_count())
    }

    pub(crate) fn has_subscribers(&self) -> bool {
        self.subscriber_count() > 0
    }

    /// When this session hibernates (host clock milliseconds), if it can.
    fn hibernates_at_ms(&self, config: &HostConfig) -> Option<u64> {
        let after = config.hibernate_after;
        (!after.is_zero() && self.guest.options.hibernate && self.supports_snapshots()).then(|| {
            self.last_active_ms
                .load(Ordering::Relaxed)
                .saturating_add(millis(after))
        })
    }

    /// The reaper's next deadline for this session: expiry or hibernation, the sooner.
    pub(crate) fn next_deadline_ms(&self, env: &SessionEnv) -> Option<u64> {
        match (
            self.expires_at_ms(&env.config),
            self.hibernates_at_ms(&env.config),
        ) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Whether the guest may support snapshots (it has not yet returned `none`).
    pub(crate) fn supports_snapshots(&self) -> bool {
        !self.no_snapshots.load(Ordering::Relaxed)
    }

    /// Records that the guest's `snapshot` returned `none`: no more checkpoints or
    /// hibernation attempts for this session.
    pub(crate) fn set_no_snapshots(&self) {
        self.no_snapshots.store(true, Ordering::Relaxed);
    }

    /// Last activity, in host clock milliseconds.
    pub(crate) fn last_active_ms(&self) -> u64 {
        self.last_active_ms.load(Ordering::Relaxed)
    }

    /// No message queued or waiting.
    pub(crate) fn is_idle(&self) -> bool {
        self.queued.load(Ordering::Acquire) == 0 && self.pending.load(Ordering::Acquire) == 0
    }

    /// Marks this object retired, under the queue lock, unless messages are pending (or,
    /// with `unless_watched`, someone subscribed): from then on senders are refused and look
    /// the ID up again. False: it is busy. [`subscribe`](Self::subscribe) takes the same
    /// lock, so a subscriber of a hibernating session either keeps it live or is refused —
    /// it never lands unnoticed on a retired object.
    pub(crate) fn mark_retired(&self, unless_watched: bool) -> bool {
        let queue = self.queue.lock();
        if !queue.is_empty()
            || self.pending.load(Ordering::Acquire) > 0
            || (unless_watched && self.has_subscribers())
        {
            return false;
        }
        self.state
            .compare_exchange(
                STATE_LIVE,
                STATE_RETIRED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }

    /// Drops the instance of a session marked hibernated: out of the registry, the reaper
    /// and the live count. No `terminate`, no final event: the session lives on in the store.
    pub(crate) fn retire_hibernated(
        self: &Arc<Self>,
        slot: &mut MutexGuard<'_, Slot>,
        env: &SessionEnv,
    ) {
        **slot = Slot::Ended;
        env.registry.remove_if_same(&self.id(), self);
        env.reaper.forget(env, self);
        env.release_hibernated();
    }

    /// When this session expires (host clock milliseconds): `session_ttl` after its last
    /// activity, or at `session_max_lifetime`, whichever is first. `None`: never.
    pub(crate) fn expires_at_ms(&self, config: &HostConfig) -> Option<u64> {
        let idle = (!config.session_ttl.is_zero()).then(|| {
            self.last_active_ms
                .load(Ordering::Relaxed)
                .saturating_add(millis(config.session_ttl))
        });
        let lifetime = config
            .session_max_lifetime
            .map(|max| self.created_ms.saturating_add(millis(max)));
        match (idle, lifetime) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

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

    /// Takes a mailbox place for a message of `bytes` bytes, or refuses with `mailbox_full`
    /// (see the module docs). The place is given back when the guard drops, or, for a
    /// queued message whose guard was forgotten, by [`Self::release`].
    fn admit<'a>(
        &'a self,
        env: &'a SessionEnv,
        bytes: usize,
    ) -> Result<PendingGuard<'a>, SessionError> {
        let capacity = env.config.mailbox;
        if self.pending.fetch_add(1, Ordering::AcqRel) >= capacity {
            self.pending.fetch_sub(1, Ordering::AcqRel);
            env.counters.mailbox_full.add(1);
            return Err(SessionError::MailboxFull { capacity });
        }
        let refuse = |pending: usize, max: usize, scope: &'static str| {
            env.counters.mailbox_full.add(1);
            Err(SessionError::MailboxBytesFull {
                pending,
                max,
                scope,
            })
        };
        let (session_max, host_max) = env.mailbox_bytes_bounds();
        let before = self.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
        if before + bytes > session_max {
            self.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return refuse(before, session_max, "session");
        }
        let host_before = env.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
        if host_before + bytes > host_max {
            env.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.pending.fetch_sub(1, Ordering::AcqRel);
            return refuse(host_before, host_max, "host");
        }
        Ok(PendingGuard {
            session: self,
            env,
            bytes,
        })
    }

    /// Gives back the mailbox place and bytes of a message taken out of the queue.
    fn release(&self, env: &SessionEnv, bytes: usize) {
        self.pending.fetch_sub(1, Ordering::AcqRel);
        self.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
        env.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
    }

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

    /// Queues a timer's message (or any prepared mail) and makes sure a drainer will deliver
    /// it. Gives the mail back when it cannot be queued.
    pub(crate) fn enqueue(
        self: &Arc<Self>,
        env: &Arc<SessionEnv>,
        mail: Mail,
    ) -> Result<(), (Mail, SessionError)> {
        let bytes = mail.bytes();
        let mut mail = Some(mail);
        match self.enqueue_with(env, bytes, || mail.take().expect("made once")) {
            Ok(()) => Ok(()),
            Err(e) => Err((mail.expect("not queued"), e)),
        }
    }

    /// Queues a cast of `message`, copied only once it has a place in the mailbox.
    pub(crate) fn enqueue_cast(
        self: &Arc<Self>,
        env: &Arc<SessionEnv>,
        message: &[u8],
    ) -> Result<(), SessionError> {
        self.enqueue_with(env, message.len(), || Mail::Cast(message.to_vec()))
    }

    /// Queues the mail `make` builds (`bytes` long) once it has a place in the mailbox.
    fn enqueue_with(
        self: &Arc<Self>,
        env: &Arc<SessionEnv>,
        bytes: usize,
        make: impl FnOnce() -> Mail,
    ) -> Result<(), SessionError> {
        if !self.is_live() {
            return Err(SessionError::SessionNotFound);
        }
        let admitted = self.admit(env, bytes)?;
        let mail = make();
        {
            // The state is checked again under the queue lock: hibernation changes it under
            // the same lock, so a message is either queued before (and hibernation backs off)
            // or refused after (and the sender wakes the session).
            let mut queue = self.queue.lock();
            if !self.is_live() {
                return Err(SessionError::SessionNotFound);
            }
            queue.push_back(mail);
            self.queued.fetch_add(1, Ordering::AcqRel);
        }
        // The place is now held by the queued message; whoever takes it out releases it.
        std::mem::forget(admitted);
        self.schedule_drain(env);
        Ok(())
    }

    fn schedule_drain_if_needed(self: &Arc<Self>, env: &Arc<SessionEnv>) {
        if self.queued.load(Ordering::Acquire) > 0 {
            self.schedule_drain(env);
        }
    }

    /// Spawns the drainer unless one is already scheduled.
    fn schedule_drain(self: &Arc<Self>, env: &Arc<SessionEnv>) {
        if self.drain_scheduled.swap(true, Ordering::SeqCst) {
            return;
        }
        let (session, env) = (Arc::clone(self), Arc::clone(env));
        env.tasks.clone().spawn(async move {
            loop {
                {
                    let mut slot = session.slot.lock().await;
                    session.prepare_locked(&mut slot, &env);
                }
                session.drain_scheduled.store(false, Ordering::SeqCst);
                if !session.is_live() {
                    return; // ending (it discards the queue) or retired (its queue was empty)
                }
                // A cast queued after the last pop but before the flag was cleared saw the
                // flag set and spawned nothing: look once more.
                if session.queued.load(Ordering::SeqCst) == 0
                    || session.drain_scheduled.swap(true, Ordering::SeqCst)
                {
                    return;
                }
            }
        });
    }

    /// Run by every holder of the lock before its own message: delivers the queued casts in
    /// order (or, once the session is ending, discards them; see [`Self::terminate`]).
    pub(crate) fn prepare_locked(
        self: &Arc<Self>,
        slot: &mut MutexGuard<'_, Slot>,
        env: &Arc<SessionEnv>,
    ) {
        // Being terminated (or gone): the queue stays as it is, and the ending discards
        // and counts it.
        while self.queued.load(Ordering::Acquire) > 0 && self.is_live() {
            let Some(mail) = self.queue.lock().pop_front() else {
                return;
            };
            self.queued.fetch_sub(1, Ordering::AcqRel);
            self.release(env, mail.bytes());
            let Slot::Live(live) = &mut **slot else {
                // Queued in the instant the session ended: nothing can handle it any more.
                tracing::debug!(
                    target: "sessionhost::session",
                    session_id = %self.id(),
                    "message for an ended session discarded"
                );
                continue;
            };
            let message = match mail {
                Mail::Cast(message) => message,
                Mail::Timer { id, message } => {
                    if !live.take_fired(id) {
                        continue; // cancelled after it fired
                    }
                    message
                }
            };
            let budget = env.budget(Instant::now(), env.config.call_timeout);
            let ran = live
                .instance
                .run(&budget, |e, s| e.call_handle_cast(s, &message));
            self.account(env, live, ran.fuel_used);
            self.casts.fetch_add(1, Ordering::Relaxed);
            match ran.result {
                Ok(()) => {
                    // A failed checkpoint is logged and counted there; a cast has no caller.
                    let _ = self.after_message_locked(slot, env);
                }
                Err(failure) => {
                    tracing::warn!(
                        target: "sessionhost::session",
                        event = "session.cast",
                        session_id = %self.id(),
                        guest = %self.guest.name,
                        outcome = failure.error.kind(),
                        "cast failed: {}", failure.error
                    );
                    self.fail_locked(slot, env, failure);
                }
            }
        }
    }

    /// Bookkeeping after a handled message: activity (now), a checkpoint when one is due,
    /// and `host.stop`. When the checkpoint fails (its `snapshot` trapped) the instance is
    /// finished: the session restarts from its last good checkpoint (or ends), and the
    /// message's effects are lost with the instance — the error says so, for its caller.
    fn after_message_locked(
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
    fn account(&self, env: &SessionEnv, live: &Live, fuel_used: u64) {
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

    /// Ends the session after a failed export call.
    pub(crate) fn fail_locked(
        self: &Arc<Self>,
        slot: &mut MutexGuard<'_, Slot>,
        env: &Arc<SessionEnv>,
        failure: Failure,
    ) {
        env.counters.traps.add(1);
        if self.state.load(Ordering::Acquire) == STATE_ENDING {
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
    fn restart_or_end_locked(
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
                self.state.store(STATE_ENDING, Ordering::SeqCst);
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
        self.state.store(STATE_ENDING, Ordering::SeqCst);
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
    fn finish_end(self: &Arc<Self>, env: &Arc<SessionEnv>, reason: StopReason, started: Instant) {
        self.state.store(STATE_ENDED, Ordering::SeqCst);
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
            if self
                .state
                .compare_exchange(STATE_LIVE, STATE_ENDING, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
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
    fn failure_error(&self, failure: &Failure) -> SessionError {
        if self.interrupt_requested() {
            SessionError::SessionNotFound
        } else {
            failure.error.clone()
        }
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

    /// A receiver of this session's events.
    /// Refused (`session_not_found`) once the object is retired: the session is hibernated
    /// (or moved) and the caller must wake it and subscribe again.
    pub(crate) fn subscribe(
        &self,
        budget: &Arc<events::Budget>,
    ) -> Result<SessionEvents, SessionError> {
        // Under the queue lock, like `mark_retired`: see there.
        let _queue = self.queue.lock();
        let receiver = self
            .events
            .get_or_init(|| events::Hub::new(Arc::clone(budget)))
            .subscribe();
        // Checked after subscribing: if the session ends later, the final event reaches us.
        if matches!(
            self.state.load(Ordering::SeqCst),
            STATE_ENDED | STATE_RETIRED
        ) {
            return Err(SessionError::SessionNotFound);
        }
        Ok(receiver)
    }

    /// Sends a published event to the subscribers, if any.
    pub(crate) fn publish(&self, event: Vec<u8>) {
        if let Some(events) = self.events.get() {
            let _ = events.send(SessionEvent::Published(event.into()));
        }
    }

    pub(crate) fn info(&self, env: &SessionEnv) -> SessionInfo {
        let status = match self.state.load(Ordering::Acquire) {
            STATE_LIVE => SessionStatus::Running,
            STATE_ENDING => SessionStatus::Ending,
            _ => SessionStatus::Ended,
        };
        SessionInfo {
            id: self.id(),
            guest: self.guest.name.to_string(),
            version: self.guest.version.clone(),
            status,
            created_at: self.created,
            last_active_at: env
                .clock
                .to_system_time(self.last_active_ms.load(Ordering::Relaxed)),
            calls: self.calls.load(Ordering::Relaxed),
            casts: self.casts.load(Ordering::Relaxed),
            fuel_used: self.fuel_used.load(Ordering::Relaxed),
            memory_bytes: self.memory_bytes.load(Ordering::Relaxed),
            mailbox: self.pending.load(Ordering::Relaxed),
            upgrade_error: self.upgrade_error.lock().as_deref().map(str::to_owned),
        }
    }

    /// Records why a `migrate` upgrade of this session failed.
    pub(crate) fn set_upgrade_error(&self, error: String) {
        *self.upgrade_error.lock() = Some(error.into());
    }

    /// The session's events channel, if anyone ever subscribed.
    pub(crate) fn events_sender(&self) -> Option<&events::Hub> {
        self.events.get()
    }

    /// Activity and counters carried from an older session object (an upgrade).
    pub(crate) fn carry_over(&self, old: &Session) {
        self.last_active_ms.store(
            old.last_active_ms.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        self.calls
            .store(old.calls.load(Ordering::Relaxed), Ordering::Relaxed);
        self.casts
            .store(old.casts.load(Ordering::Relaxed), Ordering::Relaxed);
        self.fuel_used
            .store(old.fuel_used.load(Ordering::Relaxed), Ordering::Relaxed);
        self.checkpointed
            .store(old.checkpointed.load(Ordering::Acquire), Ordering::Release);
    }

    /// Records that a checkpoint of this session went to the durable writer.
    pub(crate) fn mark_checkpointed(&self) {
        self.checkpointed.store(true, Ordering::Release);
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

    /// Fills a freshly started session's slot.
    pub(crate) fn set_live(&self, slot: &mut MutexGuard<'_, Slot>, live: Live) {
        self.memory_bytes
            .store(live.memory_bytes(), Ordering::Relaxed);
        **slot = Slot::Live(live);
    }

    /// Records where the reaper keeps this session: (deadline on the host clock, sequence).
    pub(crate) fn set_reaper_key(&self, (deadline, sequence): (u64, u64)) {
        self.reaper_deadline.store(deadline, Ordering::Relaxed);
        self.reaper_sequence.store(sequence, Ordering::Relaxed);
    }

    pub(crate) fn reaper_key(&self) -> (u64, u64) {
        (
            self.reaper_deadline.load(Ordering::Relaxed),
            self.reaper_sequence.load(Ordering::Relaxed),
        )
    }

    /// Calls and casts run so far (including one that failed).
    pub(crate) fn messages_run(&self) -> u64 {
        self.calls.load(Ordering::Relaxed) + self.casts.load(Ordering::Relaxed)
    }

    /// Adds fuel burned by this session to its total and the host's.
    pub(crate) fn add_fuel(&self, env: &SessionEnv, fuel: u64) {
        self.fuel_used.fetch_add(fuel, Ordering::Relaxed);
        env.counters.fuel.add(fuel);
    }
}

/// Releases a mailbox place when a waiting call stops waiting (got the lock or gave up).
struct PendingGuard<'a> {
    session: &'a Session,
    env: &'a SessionEnv,
    bytes: usize,
}

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.session.release(self.env, self.bytes);
    }
}

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
