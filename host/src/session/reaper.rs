//! Idle expiry: ends sessions idle for longer than `session_ttl`, and sessions older than
//! `session_max_lifetime` when one is configured.
//!
//! One [`Reaper`] per host keeps every session's next deadline in one [`DeadlineQueue`]
//! (shared with the guest timers) whose one task sleeps until the earliest — never a scan
//! over all sessions. The hot path does not touch the map: a call, cast or touch
//! only stores the session's last-active time (one atomic store). Each session has exactly one
//! entry, made when it starts. When an entry comes due the reaper reads the session's real
//! deadline: if activity moved it later, the entry is put back at that time (one O(log n)
//! step per postponement); if it has passed, the session is ended. So an active session costs
//! the reaper one re-insertion per `session_ttl`, not one per message. A session that ends
//! removes its entry at once ([`Reaper::forget`]), so ended sessions never linger in the map.
//!
//! Ending happens in a task of its own under the session's lock, after queued casts are
//! delivered, and the deadline is checked once more there: a message that arrived in between
//! wins and the session lives on. Expired sessions end with reason `idle_timeout` (or
//! `killed: session_max_lifetime reached`), log a `session.cleanup` event and count in
//! `sessionhost_sessions_expired_total`.
//!
//! Hibernation deadlines (`hibernate.rs`) share the same entry: a session's deadline is the
//! sooner of expiry and hibernation, and hibernated sessions stay watched by ID. The task
//! starts with the first session and stops when the host is dropped.

use std::sync::{Arc, Weak};

use tokio::time::Instant;

use crate::session::env::SessionEnv;
use crate::session::state::Session;
use crate::time::deadlines::{DeadlineQueue, Key};

/// Every session's next deadline, and the task that acts on them.
pub(crate) struct Reaper {
    queue: Arc<DeadlineQueue<Watched>>,
}

/// What an entry watches.
enum Watched {
    /// A live session: it may expire or hibernate.
    Live(Weak<Session>),
    /// A hibernated session, by ID: its record is dropped when its idle TTL runs out, and it
    /// is woken when one of its timers falls due.
    Hibernated(Box<str>),
}

impl Reaper {
    pub(crate) fn new() -> Self {
        Self {
            queue: DeadlineQueue::new(),
        }
    }

    /// Watches `session` until `deadline_ms` (host clock). Needs the host's runtime the first
    /// time (the task is spawned then); without one, expiry is off and a warning says so.
    pub(crate) fn watch(&self, env: &Arc<SessionEnv>, session: &Arc<Session>, deadline_ms: u64) {
        if self.start(env) {
            enter(&self.queue, env, session, deadline_ms);
        }
    }

    /// Watches a hibernated session until `deadline_ms` (its idle TTL or its first timer).
    pub(crate) fn watch_hibernated(&self, env: &Arc<SessionEnv>, id: &str, deadline_ms: u64) {
        if self.start(env) {
            let due = env.clock.instant_at(deadline_ms);
            self.queue.insert(due, Watched::Hibernated(id.into()));
        }
    }

    fn start(&self, env: &Arc<SessionEnv>) -> bool {
        let started = self.queue.start(&Arc::downgrade(env), fire);
        if !started {
            tracing::warn!(
                target: "sessionhost::session",
                "no async runtime: idle sessions will not expire"
            );
        }
        started
    }

    /// Drops an ended session's entry, so its memory is freed now rather than at its
    /// deadline (a host with many short sessions and a long TTL would otherwise hold them).
    pub(crate) fn forget(&self, env: &SessionEnv, session: &Session) {
        let (deadline_ms, sequence) = session.reaper_key();
        self.queue
            .remove(&(env.clock.instant_at(deadline_ms), sequence));
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// Enters `session` at `deadline_ms` and records the key in the session (under the queue's
/// lock, so a concurrent [`Reaper::forget`] finds it).
fn enter(
    queue: &DeadlineQueue<Watched>,
    env: &SessionEnv,
    session: &Arc<Session>,
    deadline_ms: u64,
) -> Key {
    queue.insert_with(env.clock.instant_at(deadline_ms), |(_, sequence)| {
        session.set_reaper_key((deadline_ms, sequence));
        Watched::Live(Arc::downgrade(session))
    })
}

/// Handles one due entry: re-enters a session that was active since, hands one whose
/// deadline has come to a task of its own (so a busy session never holds up the sweep).
fn fire(
    queue: &Arc<DeadlineQueue<Watched>>,
    env: &Arc<SessionEnv>,
    watched: Watched,
    now: Instant,
) {
    let session = match watched {
        Watched::Live(session) => session.upgrade(),
        Watched::Hibernated(id) => {
            let env = Arc::clone(env);
            // The store may block (a durable one writes to disk).
            let tasks = env.tasks.clone();
            tasks.spawn_blocking(move || env.expire_hibernated(&id));
            None
        }
    };
    let Some(session) = session.filter(|s| s.is_live()) else {
        return;
    };
    let now = env.clock.ms_at(now);
    match session.next_deadline_ms(env) {
        Some(deadline) if deadline > now => {
            let key = enter(queue, env, &session, deadline);
            if !session.is_live() {
                // It ended while being re-entered: do not keep it.
                queue.remove(&key);
            }
        }
        Some(_) => {
            let env = Arc::clone(env);
            env.tasks.clone().spawn(async move {
                if let Some(later) = session.on_deadline(&env).await {
                    env.reaper.watch(&env, &session, later);
                }
            });
        }
        None => {}
    }
}
