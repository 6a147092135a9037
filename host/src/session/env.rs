//! [`SessionEnv`]: what a session may reach of the host.
//!
//! Configuration, counters, the clock, the loaded guests (to start one by name), the
//! registry of live sessions, the snapshot store and its checkpoint writer, the timer and
//! expiry services, the mailbox byte budget, the subscribers' budget, the creation rate
//! limit and the `max_sessions` places — never the engine (a session instantiates through
//! its [`Guest`](crate::guest::Guest), which knows its own) and never the host facade. One per
//! host, shared as `Arc<SessionEnv>` by every session and by the facade; background tasks
//! hold it weakly.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::config::HostConfig;
use crate::error::SessionError;
use crate::events::Budget as EventBudget;
use crate::guest::GuestRegistry;
use crate::metrics::Counters;
use crate::ratelimit::RateLimiter;
use crate::session::checkpoint::CheckpointWriter;
use crate::session::reaper::Reaper;
use crate::session::registry::SessionRegistry;
use crate::session::timers::TimerService;
use crate::store::SnapshotStore;
use crate::time::HostClock;

/// What a session may reach. See the module docs.
pub(crate) struct SessionEnv {
    pub(crate) config: HostConfig,
    /// The loaded guests: name → current version.
    pub(crate) guests: GuestRegistry,
    /// Live sessions by ID.
    pub(crate) registry: SessionRegistry,
    pub(crate) clock: HostClock,
    pub(crate) counters: Counters,
    /// Every session's pending `send-after` timers.
    pub(crate) timers: TimerService,
    /// Every session's expiry deadline.
    pub(crate) reaper: Reaper,
    /// Hibernated sessions.
    pub(crate) store: Arc<dyn SnapshotStore>,
    /// Commits checkpoints to `store` when it is durable (see `checkpoint.rs`).
    pub(crate) checkpoints: Option<CheckpointWriter>,
    /// Bounds the expired hibernated sessions woken at once for their `terminate`.
    pub(crate) expiry_wakes: tokio::sync::Semaphore,
    /// The subscribers' byte and count budgets, shared by every session's event hub.
    pub(crate) events: Arc<EventBudget>,
    /// Every task sessions spawn — drainers, endings, expiry and hibernation work, timer
    /// wakes, migrations — so that a shutdown can wait for them (`Host::shutdown`).
    pub(crate) tasks: tokio_util::task::TaskTracker,
    /// Bytes of every session's pending messages (see `mailbox.rs`).
    pub(crate) pending_bytes: AtomicUsize,
    /// Live sessions, counted against `max_sessions`. Taken before a session is
    /// instantiated, released exactly once when it ends (or when its start fails).
    pub(crate) live: AtomicUsize,
    rate: Option<RateLimiter>,
    shutting_down: AtomicBool,
    max_message_bytes: usize,
}

impl std::fmt::Debug for SessionEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionEnv")
            .field("live", &self.live.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl SessionEnv {
    /// The environment of a host with `config`, keeping hibernated sessions in `store`.
    pub(crate) fn new(
        config: HostConfig,
        store: Arc<dyn SnapshotStore>,
        checkpoints: Option<CheckpointWriter>,
    ) -> Self {
        Self {
            guests: GuestRegistry::default(),
            registry: SessionRegistry::new(config.max_sessions),
            clock: HostClock::new(),
            counters: Counters::default(),
            timers: TimerService::new(),
            reaper: Reaper::new(),
            store,
            checkpoints,
            expiry_wakes: tokio::sync::Semaphore::new(crate::session::hibernate::EXPIRY_WAKES),
            events: EventBudget::new(&config),
            tasks: tokio_util::task::TaskTracker::new(),
            pending_bytes: AtomicUsize::new(0),
            live: AtomicUsize::new(0),
            rate: RateLimiter::new(config.rate_limit),
            shutting_down: AtomicBool::new(false),
            max_message_bytes: usize::try_from(config.max_message_bytes.as_u64())
                .unwrap_or(usize::MAX),
            config,
        }
    }

    pub(crate) fn max_message_bytes(&self) -> usize {
        self.max_message_bytes
    }

    /// The bytes of pending messages one session, and all together, may hold: the
    /// configured `mailbox_bytes` and `mailbox_bytes_total`, raised where needed so that one
    /// message of `max_message_bytes` always fits an empty mailbox.
    pub(crate) fn mailbox_bytes_bounds(&self) -> (usize, usize) {
        let bytes = |b: bytesize::ByteSize| usize::try_from(b.as_u64()).unwrap_or(usize::MAX);
        let session = bytes(self.config.mailbox_bytes).max(self.max_message_bytes);
        let host = bytes(self.config.mailbox_bytes_total).max(session);
        (session, host)
    }

    /// A message of `size` bytes is within `max_message_bytes`.
    pub(crate) fn check_size(&self, size: usize) -> Result<(), SessionError> {
        if size > self.max_message_bytes {
            return Err(SessionError::MessageTooLarge {
                size,
                max: self.max_message_bytes,
            });
        }
        Ok(())
    }

    /// Takes a creation token from `rate_limit`, if one is set.
    pub(crate) fn take_rate_token(&self) -> Result<(), SessionError> {
        match &self.rate {
            Some(rate) => rate.try_take().map_err(|retry_after| {
                self.counters.rate_limited.add(1);
                SessionError::RateLimited { retry_after }
            }),
            None => Ok(()),
        }
    }

    /// Gives back the `max_sessions` place of a hibernated session.
    pub(crate) fn release_hibernated(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
        self.counters.hibernated.add(1);
    }

    /// Gives back the `max_sessions` place of an ended session.
    pub(crate) fn release_session(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
        self.counters.ended.add(1);
    }

    /// The live session under `id` (not woken if hibernated).
    pub(crate) fn live_session(
        &self,
        id: &str,
    ) -> Result<Arc<crate::session::state::Session>, SessionError> {
        self.registry
            .get_live(id)
            .ok_or_else(|| crate::id::not_found(id))
    }

    /// Stops accepting new sessions (a shutdown has begun).
    pub(crate) fn stop_accepting(&self) {
        self.shutting_down.store(true, Ordering::Release);
    }

    /// Whether a shutdown has begun.
    pub(crate) fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }
}
