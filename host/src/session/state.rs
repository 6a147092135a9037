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
//! The session's parts live beside this file: `mailbox.rs` (the queue, its bounds, the
//! drainer), `messages.rs` (running calls, casts on the drainer, checkpoints after them),
//! `lifecycle.rs` (starting, ending, restarting), `hibernate.rs`, `upgrade.rs`.
//!
//! A guest export runs synchronously inside one poll of the caller's future (see
//! `offload.rs`), so a caller that gives up can only do so while waiting for the lock: a
//! message is either never delivered or fully handled, never cut in half.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use tokio::sync::MutexGuard;

use crate::events::{self, SessionEvent, SessionEvents};
use crate::guest::Guest;
use crate::id::SessionId;
use crate::session::env::SessionEnv;
use crate::session::live::Live;
use crate::session::mailbox::Mail;
use crate::{HostConfig, SessionError, SessionInfo, SessionStatus};

/// What a session's slot holds.
pub(crate) enum Slot {
    /// Being created; only the starting task can see it.
    Starting,
    /// Running.
    Live(Live),
    /// Ended; callers still waiting for the lock get `session_not_found`.
    Ended,
}

/// Where a session object is in its life. Kept in an atomic byte (see [`AtomicState`]), so
/// senders can refuse mail without taking the session's lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum State {
    /// Accepting and handling messages.
    Live = 0,
    /// Being ended (a terminate jumped the mailbox, or `end_locked` runs): refuses messages.
    Ending = 1,
    /// Ended.
    Ended = 2,
    /// Replaced by another object for the same ID — hibernated (the store holds it, the next
    /// message wakes a new object) or moved to a new guest version (the registry holds the
    /// new object). Whoever reaches a retired object looks the ID up again.
    Retired = 3,
}

/// A [`State`] in an atomic byte.
#[derive(Debug)]
pub(crate) struct AtomicState(AtomicU8);

impl AtomicState {
    fn new(state: State) -> Self {
        Self(AtomicU8::new(state as u8))
    }

    pub(super) fn load(&self, order: Ordering) -> State {
        match self.0.load(order) {
            0 => State::Live,
            1 => State::Ending,
            2 => State::Ended,
            _ => State::Retired,
        }
    }

    pub(super) fn store(&self, state: State, order: Ordering) {
        self.0.store(state as u8, order);
    }

    /// Moves from `from` to `to`; false (and nothing changes) when it was not in `from`.
    pub(super) fn swap_from(&self, from: State, to: State) -> bool {
        self.0
            .compare_exchange(from as u8, to as u8, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
}

/// One session. Shared as `Arc<Session>` by the registry and by callers in flight.
pub(crate) struct Session {
    /// The session's ID; changes only through [`Session::rotate_id`], under the slot lock.
    pub(super) id: parking_lot::RwLock<SessionId>,
    /// The guest version this session runs.
    pub(crate) guest: Arc<Guest>,
    /// When it started.
    pub(super) created: SystemTime,
    /// When it started, in host clock milliseconds (for `session_max_lifetime`).
    pub(super) created_ms: u64,
    /// Milliseconds since the host's clock base of the last call, cast or touch.
    pub(super) last_active_ms: AtomicU64,
    /// The guest's `snapshot` returned `none`: no checkpoints, no hibernation.
    pub(super) no_snapshots: AtomicBool,
    /// Why the last `migrate` upgrade of this session failed (it stayed on its version).
    pub(super) upgrade_error: parking_lot::Mutex<Option<Box<str>>>,
    /// This session's entry in the reaper: (deadline, sequence). Written under the reaper's
    /// lock; read when the session ends, to remove the entry.
    pub(super) reaper_deadline: AtomicU64,
    pub(super) reaper_sequence: AtomicU64,
    /// Calls and casts handled, fuel burned, current linear memory: read by `info`.
    pub(super) calls: AtomicU64,
    pub(super) casts: AtomicU64,
    pub(super) fuel_used: AtomicU64,
    pub(super) memory_bytes: AtomicUsize,
    /// Calls waiting for the lock plus queued casts (the mailbox occupancy).
    pub(super) pending: AtomicUsize,
    /// Bytes of those messages.
    pub(super) pending_bytes: AtomicUsize,
    /// A kill asked the running message to stop at the next epoch tick.
    pub(super) interrupt: AtomicBool,
    /// A checkpoint of this session was handed to the durable checkpoint writer: its
    /// ending must remove it (see `checkpoint.rs`).
    pub(super) checkpointed: AtomicBool,
    /// Length of `queue`, readable without locking it (the common case is "empty").
    pub(super) queued: AtomicUsize,
    /// Where this object is in its life: lets senders refuse mail without taking the lock.
    pub(super) state: AtomicState,
    /// Queued casts and timer messages, in arrival order. A std-style mutex: it is held for
    /// a push or a pop only, never across an await.
    pub(super) queue: parking_lot::Mutex<VecDeque<Mail>>,
    /// True while a drainer task is scheduled or running.
    pub(super) drain_scheduled: AtomicBool,
    /// Subscribers' queues, created on first subscribe (bounded: see `events.rs`).
    pub(super) events: OnceLock<events::Hub>,
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
            state: AtomicState::new(State::Live),
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

    pub(crate) fn is_live(&self) -> bool {
        self.state.load(Ordering::Acquire) == State::Live
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
        self.state.load(Ordering::SeqCst) != State::Retired
    }

    /// The last activity, read after this object was retired (see
    /// [`Self::touch_unless_retired`]).
    pub(crate) fn active_since_retired(&self) -> u64 {
        self.last_active_ms.load(Ordering::SeqCst)
    }

    /// Whether this session object was retired (hibernated or upgraded): the ID lives on,
    /// look it up again.
    pub(crate) fn was_retired(&self) -> bool {
        self.state.load(Ordering::Acquire) == State::Retired
    }

    /// Whether anyone subscribes to this session's events.
    pub(crate) fn subscriber_count(&self) -> usize {
        self.events.get().map_or(0, |tx| tx.receiver_count())
    }

    pub(crate) fn has_subscribers(&self) -> bool {
        self.subscriber_count() > 0
    }

    /// When this session hibernates (host clock milliseconds), if it can.
    pub(super) fn hibernates_at_ms(&self, config: &HostConfig) -> Option<u64> {
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
        self.state.swap_from(State::Live, State::Retired)
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
            State::Ended | State::Retired
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
            State::Live => SessionStatus::Running,
            State::Ending => SessionStatus::Ending,
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

/// A duration in whole milliseconds, saturating.
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;

    use serde_json::json;

    use super::*;
    use crate::reason::StopReason;
    use crate::session::lifecycle::Ending;
    use crate::session::testkit::{self, call};

    #[test]
    fn the_state_moves_only_from_where_it_is() {
        let state = AtomicState::new(State::Live);
        assert!(!state.swap_from(State::Ending, State::Ended));
        assert_eq!(state.load(Ordering::SeqCst), State::Live);
        assert!(state.swap_from(State::Live, State::Ending));
        // An ending session can no longer be retired (hibernated or moved), nor ended twice
        // from `live`.
        assert!(!state.swap_from(State::Live, State::Retired));
        assert!(!state.swap_from(State::Live, State::Ending));
        assert_eq!(state.load(Ordering::SeqCst), State::Ending);
        for s in [State::Live, State::Ending, State::Ended, State::Retired] {
            state.store(s, Ordering::SeqCst);
            assert_eq!(state.load(Ordering::SeqCst), s, "{s:?} round-trips");
        }
    }

    #[tokio::test]
    async fn a_started_session_is_live_registered_and_counted() {
        let env = testkit::env(testkit::config()).await;
        let session = testkit::start(&env, "fresh").await;
        assert!(session.is_live() && !session.was_retired());
        assert!(env.registry.contains_live("fresh"));
        assert_eq!(env.live.load(Ordering::SeqCst), 1);
        assert_eq!(session.info(&env).status, SessionStatus::Running);
        assert_eq!(
            call(&env, &session, json!({"op": "count"})).await.unwrap()["calls"],
            0
        );
    }

    #[tokio::test]
    async fn a_terminated_session_refuses_everything_and_ends_once() {
        let env = testkit::env(testkit::config()).await;
        let session = testkit::start(&env, "done").await;
        let mut events = testkit::subscribe(&env, &session);
        session
            .terminate(&env, StopReason::Normal, Ending::Now)
            .await
            .unwrap();
        assert_eq!(testkit::stop_reason(&mut events).await, StopReason::Normal);
        assert!(!session.is_live());
        assert!(matches!(
            session
                .terminate(&env, StopReason::Normal, Ending::Now)
                .await,
            Err(SessionError::SessionNotFound)
        ));
        assert!(matches!(
            call(&env, &session, json!({"op": "count"})).await,
            Err(SessionError::SessionNotFound)
        ));
        assert!(matches!(
            session.enqueue_cast(&env, b"{}"),
            Err(SessionError::SessionNotFound)
        ));
        assert!(matches!(
            session.subscribe(&env.events),
            Err(SessionError::SessionNotFound)
        ));
        assert!(!env.registry.contains("done"));
        assert_eq!(
            env.live.load(Ordering::SeqCst),
            0,
            "its place is given back once"
        );
        assert_eq!(env.counters.ended.get(), 1);
    }

    #[tokio::test]
    async fn a_terminate_jumps_the_queued_casts_and_counts_them() {
        let env = testkit::env(testkit::config()).await;
        let session = testkit::start(&env, "queued").await;
        let mut events = testkit::subscribe(&env, &session);
        // Hold the lock, as a long message would: the casts wait in the mailbox.
        let slot = session.slot.lock().await;
        for n in 0..3 {
            let cast = json!({"op": "record", "n": n}).to_string();
            session.enqueue_cast(&env, cast.as_bytes()).unwrap();
        }
        let ending = {
            let (session, env) = (Arc::clone(&session), Arc::clone(&env));
            tokio::spawn(async move {
                session
                    .terminate(&env, StopReason::Normal, Ending::Now)
                    .await
            })
        };
        tokio::task::yield_now().await;
        assert!(!session.is_live(), "refused from the terminate call on");
        assert_eq!(session.info(&env).status, SessionStatus::Ending);
        drop(slot);
        ending.await.unwrap().unwrap();
        assert_eq!(testkit::stop_reason(&mut events).await, StopReason::Normal);
        assert_eq!(env.counters.discarded.get(), 3);
        assert_eq!(
            env.pending_bytes.load(Ordering::SeqCst),
            0,
            "their bytes are released"
        );
    }

    #[tokio::test]
    async fn only_an_idle_unwatched_session_is_retired() {
        let env = testkit::env(testkit::config()).await;
        let session = testkit::start(&env, "resting").await;

        // A queued cast keeps it live.
        let slot = session.slot.lock().await;
        session
            .enqueue_cast(&env, br#"{"op":"record","n":1}"#)
            .unwrap();
        assert!(!session.mark_retired(false), "a queued message keeps it");
        drop(slot);
        assert_eq!(
            call(&env, &session, json!({"op": "casts"})).await.unwrap()["seen"],
            json!([1])
        );

        // A subscriber keeps it when subscribers count.
        let events = testkit::subscribe(&env, &session);
        assert!(!session.mark_retired(true), "a subscriber keeps it");
        drop(events);

        assert!(session.mark_retired(true));
        assert!(session.was_retired() && !session.is_live());
        // A retired object refuses senders, who look the ID up again.
        assert!(matches!(
            session.enqueue_cast(&env, b"{}"),
            Err(SessionError::SessionNotFound)
        ));
        assert!(matches!(
            session.subscribe(&env.events),
            Err(SessionError::SessionNotFound)
        ));
        assert!(!env.registry.contains_live("resting"));
        assert!(
            !session.touch_unless_retired(&env),
            "a touch goes to the successor"
        );
    }
}
