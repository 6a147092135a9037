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

#[cfg(test)]
impl Reaper {
    /// Entries watched (live sessions and hibernated ones).
    pub(crate) fn watched(&self) -> usize {
        self.queue.len()
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;
    use tokio::time::sleep;

    use crate::config::HostConfig;
    use crate::reason::StopReason;
    use crate::session::lifecycle::Ending;
    use crate::session::testkit::{self, call};

    fn ttl(session_ttl: Duration) -> HostConfig {
        HostConfig {
            session_ttl,
            ..testkit::config()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_session_expires_after_its_ttl_and_activity_postpones_it() {
        let env = testkit::env(ttl(Duration::from_secs(60))).await;
        let session = testkit::start(&env, "idle").await;
        let mut events = testkit::subscribe(&env, &session);
        sleep(Duration::from_secs(40)).await;
        call(&env, &session, json!({"op": "count"})).await.unwrap();
        sleep(Duration::from_secs(40)).await;
        session.touch(&env);
        sleep(Duration::from_secs(59)).await;
        assert!(session.is_live(), "active 59 s ago, its TTL is 60 s");
        assert_eq!(env.counters.expired.get(), 0);
        // Postponed twice: one entry still, moved, never one per message.
        assert_eq!(env.reaper.watched(), 1);

        assert_eq!(
            testkit::stop_reason(&mut events).await,
            StopReason::IdleTimeout
        );
        assert!(!session.is_live() && !env.registry.contains("idle"));
        assert_eq!(env.counters.expired.get(), 1);
        assert_eq!(env.reaper.watched(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_session_past_its_max_lifetime_ends_however_active() {
        let config = HostConfig {
            session_max_lifetime: Some(Duration::from_secs(30)),
            ..ttl(Duration::from_secs(3600))
        };
        let env = testkit::env(config).await;
        let session = testkit::start(&env, "old").await;
        let mut events = testkit::subscribe(&env, &session);
        for _ in 0..2 {
            sleep(Duration::from_secs(10)).await;
            call(&env, &session, json!({"op": "count"})).await.unwrap();
        }
        assert!(session.is_live());
        assert_eq!(
            testkit::stop_reason(&mut events).await,
            StopReason::Killed("session_max_lifetime reached".into())
        );
        assert_eq!(env.counters.expired.get(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_busy_session_is_not_ended_under_its_running_message() {
        let env = testkit::env(ttl(Duration::from_secs(1))).await;
        let session = testkit::start(&env, "busy").await;
        // Hold the lock past the deadline, as a long message would; a cast waits behind it.
        let slot = session.slot.lock().await;
        session
            .enqueue_cast(&env, br#"{"op":"record","n":7}"#)
            .unwrap();
        sleep(Duration::from_secs(5)).await;
        assert!(session.is_live(), "the expiry waits for the lock");
        drop(slot);
        // The queued cast counted as activity: delivered first, and the session lives on.
        assert_eq!(
            call(&env, &session, json!({"op": "casts"})).await.unwrap()["seen"],
            json!([7])
        );
        assert!(session.is_live());
    }

    #[tokio::test(start_paused = true)]
    async fn an_ended_session_leaves_the_reaper_at_once() {
        let env = testkit::env(ttl(Duration::from_secs(3600))).await;
        let mut sessions = Vec::new();
        for n in 0..20 {
            sessions.push(testkit::start(&env, &format!("short-{n}")).await);
        }
        assert_eq!(env.reaper.watched(), 20);
        for session in &sessions {
            session
                .terminate(&env, StopReason::Normal, Ending::Now)
                .await
                .unwrap();
        }
        assert_eq!(
            env.reaper.watched(),
            0,
            "no entry waits an hour for an ended session"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_session_hibernates_and_its_stored_ttl_still_runs() {
        let config = HostConfig {
            hibernate_after: Duration::from_secs(30),
            ..ttl(Duration::from_secs(600))
        };
        let env = testkit::env(config).await;
        let session = testkit::start(&env, "dozy").await;
        call(&env, &session, json!({"op": "add", "n": 3}))
            .await
            .unwrap();
        sleep(Duration::from_secs(31)).await;
        assert!(session.was_retired() && env.is_hibernated("dozy"));
        assert_eq!(env.counters.hibernated.get(), 1);
        assert_eq!(env.live.load(std::sync::atomic::Ordering::SeqCst), 0);
        assert_eq!(env.reaper.watched(), 1, "watched by ID while stored");

        // The TTL counts from the last activity, stored with the record: at 600 s the
        // session is woken for its `terminate` and its record dropped.
        sleep(Duration::from_secs(600)).await;
        for _ in 0..100 {
            if !env.is_hibernated("dozy") && env.counters.ended.get() == 1 {
                break;
            }
            sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(env.counters.expired.get(), 1);
        assert_eq!(env.counters.woken.get(), 1, "woken to run its terminate");
        assert!(!env.registry.contains("dozy"));
        assert!(matches!(
            crate::session::resolver::resolve(&env, "dozy").await,
            Err(crate::error::SessionError::SessionNotFound)
        ));
    }
}
