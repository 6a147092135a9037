//! Guest timers: `host.send-after` and `host.cancel-timer`.
//!
//! One [`TimerService`] per host keeps every pending timer of every session in one
//! [`DeadlineQueue`], keyed by (due time, creation sequence), whose one task fires them. Timers due at the same instant fire in the order they were created, and a timer's
//! message enters its session's mailbox as a [`Mail::Timer`], so it is delivered through
//! `handle-cast` in order with everything else, one message at a time.
//!
//! Each session's own list ([`SessionTimers`], in its store data, touched only under its lock)
//! maps its timer IDs to their keys in the service:
//! - `cancel-timer` removes the timer from both. A timer that already fired but whose message
//!   is still queued counts as cancelled too: delivery skips messages whose timer is gone.
//! - When a session ends its store is dropped, and dropping [`SessionTimers`] removes every
//!   one of its timers from the service.
//! - A timer that fires while the mailbox is full is put back 10 ms later, again and again
//!   until it fits or the session is gone: timer messages are never dropped.
//!
//! The queue and its task are the shared [`DeadlineQueue`]; the task starts with the first
//! timer and stops when the host is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::time::Instant;

use crate::error::SessionError;
use crate::session::env::SessionEnv;
use crate::session::mailbox::Mail;
use crate::session::state::{Session, millis};
use crate::store::TimerRecord;
use crate::time::deadlines::{DeadlineQueue, Key};

/// Longest delay accepted by `send-after` (one year): longer ones are almost surely bugs.
const MAX_DELAY_MS: u64 = 365 * 24 * 3600 * 1000;
/// How long a timer waits before trying a full mailbox again.
const RETRY_FULL_MAILBOX: Duration = Duration::from_millis(10);

/// A timer waiting to fire.
struct Pending {
    session: Weak<Session>,
    id: u64,
    message: Vec<u8>,
}

/// Every pending timer of the host, and the task that fires them.
pub(crate) struct TimerService {
    queue: Arc<DeadlineQueue<Pending>>,
}

impl TimerService {
    pub(crate) fn new() -> Self {
        Self {
            queue: DeadlineQueue::new(),
        }
    }

    fn schedule(
        &self,
        env: &Weak<SessionEnv>,
        due: Instant,
        pending: Pending,
    ) -> Result<Key, String> {
        if !self.queue.start(env, fire) {
            return Err("timers need the host's async runtime".into());
        }
        Ok(self.queue.insert(due, pending))
    }

    fn cancel(&self, key: &Key) -> bool {
        self.queue.remove(key).is_some()
    }

    /// The message of a pending timer.
    fn peek(&self, key: &Key) -> Option<Vec<u8>> {
        self.queue.inspect(key, |p| p.message.clone())
    }
}

#[cfg(test)]
impl TimerService {
    /// Timers waiting to fire, every session's.
    pub(crate) fn pending(&self) -> usize {
        self.queue.len()
    }
}

impl Drop for TimerService {
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// Delivers one due timer. A full mailbox puts it back [`RETRY_FULL_MAILBOX`] later.
fn fire(
    queue: &Arc<DeadlineQueue<Pending>>,
    env: &Arc<SessionEnv>,
    pending: Pending,
    now: Instant,
) {
    let Some(session) = pending.session.upgrade() else {
        return;
    };
    let mail = Mail::Timer {
        id: pending.id,
        message: pending.message,
    };
    if let Err((
        Mail::Timer { id, message },
        SessionError::MailboxFull { .. } | SessionError::MailboxBytesFull { .. },
    )) = Session::enqueue(&session, env, mail)
    {
        // The session's own list still holds the old key. That is fine: a cancel from now
        // on removes the ID there, and delivery (`take_fired`) then skips the message; a
        // session that ends leaves this entry to find its session gone.
        let pending = Pending {
            session: Arc::downgrade(&session),
            id,
            message,
        };
        queue.insert(now + RETRY_FULL_MAILBOX, pending);
    }
}

/// One session's pending timers (in its store data).
#[derive(Debug, Default)]
pub(crate) struct SessionTimers {
    /// Next ID to hand out; IDs are 1, 2, 3... and never reused within a session.
    next_id: u64,
    /// Timers not yet delivered: ID → key in the service.
    pending: HashMap<u64, Key>,
    /// The service, to cancel from; set with the first timer.
    service: Weak<SessionEnv>,
}

impl SessionTimers {
    /// Starts a timer that delivers `message` to `session` after `delay_ms`.
    pub(crate) fn start(
        &mut self,
        max: usize,
        env: &Weak<SessionEnv>,
        session: &Weak<Session>,
        message: Vec<u8>,
        delay_ms: u64,
    ) -> Result<u64, String> {
        if self.pending.len() >= max {
            return Err(format!("too many pending timers (the limit is {max})"));
        }
        if delay_ms > MAX_DELAY_MS {
            return Err(format!(
                "delay of {delay_ms} ms is longer than a year ({MAX_DELAY_MS} ms)"
            ));
        }
        let id = self.next_id + 1;
        self.arm(env, session, id, message, Duration::from_millis(delay_ms))?;
        Ok(id)
    }

    /// Schedules timer `id` to deliver `message` after `delay`.
    fn arm(
        &mut self,
        env: &Weak<SessionEnv>,
        session: &Weak<Session>,
        id: u64,
        message: Vec<u8>,
        delay: Duration,
    ) -> Result<(), String> {
        let Some(strong) = env.upgrade() else {
            return Err("the host is shutting down".into());
        };
        let pending = Pending {
            session: session.clone(),
            id,
            message,
        };
        let key = strong
            .timers
            .schedule(env, Instant::now() + delay, pending)?;
        self.next_id = self.next_id.max(id);
        self.service = env.clone();
        self.pending.insert(id, key);
        Ok(())
    }

    /// The pending timers as records for a snapshot store: due times in wall-clock
    /// milliseconds, in ID order. Timers stay pending (the caller drops the store next).
    pub(crate) fn export(&self) -> Vec<TimerRecord> {
        let Some(env) = self.service.upgrade() else {
            return Vec::new();
        };
        let now = Instant::now();
        let wall_now = env.wall_now_ms();
        let mut records: Vec<TimerRecord> = self
            .pending
            .iter()
            .filter_map(|(id, key)| {
                let message = env.timers.peek(key)?;
                let left = key.0.saturating_duration_since(now);
                Some(TimerRecord {
                    id: *id,
                    due_at_ms: wall_now.saturating_add(millis(left)),
                    message,
                })
            })
            .collect();
        records.sort_by_key(|t| t.id);
        records
    }

    /// Re-schedules timers of a woken session (IDs kept; overdue ones fire at once), and
    /// resumes ID numbering after the largest.
    pub(crate) fn import(
        &mut self,
        env: &Weak<SessionEnv>,
        session: &Weak<Session>,
        records: Vec<TimerRecord>,
    ) -> Result<(), String> {
        let Some(wall_now) = env.upgrade().map(|h| h.wall_now_ms()) else {
            return Err("the host is shutting down".into());
        };
        for record in records {
            let delay = Duration::from_millis(record.due_at_ms.saturating_sub(wall_now));
            self.arm(env, session, record.id, record.message, delay)?;
        }
        Ok(())
    }

    /// Cancels a pending timer; false when it was already delivered, cancelled or unknown.
    pub(crate) fn cancel(&mut self, id: u64) -> bool {
        let Some(key) = self.pending.remove(&id) else {
            return false;
        };
        if let Some(env) = self.service.upgrade() {
            env.timers.cancel(&key);
        }
        true
    }

    /// Marks a fired timer as delivered. False means it was cancelled after firing: its
    /// message must be skipped.
    pub(crate) fn take_fired(&mut self, id: u64) -> bool {
        self.pending.remove(&id).is_some()
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn wall_ms(at: SystemTime) -> u64 {
    at.duration_since(std::time::UNIX_EPOCH).map_or(0, millis)
}

impl Drop for SessionTimers {
    fn drop(&mut self) {
        if let Some(env) = self.service.upgrade() {
            for key in self.pending.values() {
                env.timers.cancel(key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::{Value, json};
    use tokio::time::sleep;

    use crate::config::HostConfig;
    use crate::info::HibernateOutcome;
    use crate::reason::StopReason;
    use crate::session::hibernate::hibernate_now;
    use crate::session::lifecycle::Ending;
    use crate::session::testkit::{self, call};

    use super::{Session, SessionEnv};

    /// The `record` casts the session received, in order.
    async fn seen(env: &std::sync::Arc<SessionEnv>, session: &std::sync::Arc<Session>) -> Value {
        call(env, session, json!({"op": "casts"})).await.unwrap()["seen"].clone()
    }

    #[tokio::test(start_paused = true)]
    async fn timers_fire_at_their_due_time_in_creation_order() {
        let env = testkit::env(testkit::config()).await;
        let session = testkit::start(&env, "ticking").await;
        let set = call(
            &env,
            &session,
            json!({"op": "timers", "n": 3, "delay_ms": 1000}),
        );
        assert_eq!(set.await.unwrap()["ok"], 3);
        assert_eq!(env.timers.pending(), 3);
        sleep(Duration::from_millis(999)).await;
        assert_eq!(seen(&env, &session).await, json!([]), "not due yet");
        sleep(Duration::from_millis(2)).await;
        assert_eq!(seen(&env, &session).await, json!([0, 1, 2]));
        assert_eq!(env.timers.pending(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_cancelled_timer_never_delivers() {
        let env = testkit::env(testkit::config()).await;
        let session = testkit::start(&env, "cancelling").await;
        call(
            &env,
            &session,
            json!({"op": "timers", "n": 3, "delay_ms": 500}),
        )
        .await
        .unwrap();
        let cancel = |id: u64| call(&env, &session, json!({"op": "cancel_timer", "id": id}));
        assert_eq!(cancel(2).await.unwrap()["cancelled"], true);
        assert_eq!(cancel(2).await.unwrap()["cancelled"], false, "only once");
        assert_eq!(cancel(9).await.unwrap()["cancelled"], false, "unknown");
        assert_eq!(env.timers.pending(), 2);
        sleep(Duration::from_secs(1)).await;
        assert_eq!(seen(&env, &session).await, json!([0, 2]));
    }

    #[tokio::test(start_paused = true)]
    async fn a_timer_cancelled_after_it_fired_is_skipped() {
        let env = testkit::env(testkit::config()).await;
        let session = testkit::start(&env, "late-cancel").await;
        call(
            &env,
            &session,
            json!({"op": "timers", "n": 1, "delay_ms": 100}),
        )
        .await
        .unwrap();
        // The timer fires while a message runs: its cast waits in the mailbox...
        let mut slot = session.slot.lock().await;
        sleep(Duration::from_millis(200)).await;
        assert_eq!(env.timers.pending(), 0, "fired");
        assert_eq!(session.queued.load(std::sync::atomic::Ordering::SeqCst), 1);
        // ... and that message cancels it (what `cancel-timer` does in the guest).
        let crate::session::state::Slot::Live(live) = &mut *slot else {
            panic!("live")
        };
        let link = live.instance.ctx_mut().link.as_mut().unwrap();
        assert!(
            link.cancel_timer(1),
            "a fired, undelivered timer counts as pending"
        );
        drop(slot);
        assert_eq!(
            seen(&env, &session).await,
            json!([]),
            "its message is skipped"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_mailbox_delays_a_timer_but_never_drops_it() {
        let config = HostConfig {
            mailbox: 1,
            ..testkit::config()
        };
        let env = testkit::env(config).await;
        let session = testkit::start(&env, "crowded").await;
        call(
            &env,
            &session,
            json!({"op": "timers", "n": 1, "delay_ms": 100}),
        )
        .await
        .unwrap();
        let slot = session.slot.lock().await;
        session
            .enqueue_cast(&env, br#"{"op":"record","n":99}"#)
            .unwrap();
        sleep(Duration::from_secs(2)).await;
        assert_eq!(
            env.timers.pending(),
            1,
            "put back, again and again, while full"
        );
        drop(slot);
        sleep(Duration::from_millis(50)).await;
        assert_eq!(seen(&env, &session).await, json!([99, 0]));
    }

    #[tokio::test(start_paused = true)]
    async fn an_ended_session_takes_its_timers_with_it() {
        let env = testkit::env(testkit::config()).await;
        let session = testkit::start(&env, "leaving").await;
        call(
            &env,
            &session,
            json!({"op": "timers", "n": 5, "delay_ms": 3_600_000}),
        )
        .await
        .unwrap();
        assert_eq!(env.timers.pending(), 5);
        session
            .terminate(&env, StopReason::Normal, Ending::Now)
            .await
            .unwrap();
        assert_eq!(env.timers.pending(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn timers_outlive_hibernation_and_wake_their_session_when_due() {
        let env = testkit::env(testkit::config()).await;
        let session = testkit::start(&env, "alarm").await;
        call(
            &env,
            &session,
            json!({"op": "timers", "n": 2, "delay_ms": 10_000}),
        )
        .await
        .unwrap();
        sleep(Duration::from_secs(4)).await;
        assert_eq!(
            hibernate_now(&session, &env).await,
            HibernateOutcome::Hibernated
        );
        assert_eq!(
            env.timers.pending(),
            0,
            "stored with the session, not in the service"
        );
        let record = env.store.get("alarm").unwrap().unwrap();
        let left = record.timers[0].due_at_ms.saturating_sub(env.wall_now_ms());
        assert!(
            (5_900..=6_000).contains(&left),
            "6 s left, not 10: {left} ms"
        );

        sleep(Duration::from_millis(5_900)).await;
        assert!(
            env.is_hibernated("alarm"),
            "not woken before its first timer"
        );
        sleep(Duration::from_millis(200)).await;
        let woken = env.registry.get_live("alarm").expect("woken by its timer");
        assert_eq!(env.counters.woken.get(), 1);
        assert_eq!(seen(&env, &woken).await, json!([0, 1]));
    }
}
