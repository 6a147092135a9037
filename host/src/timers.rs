//! Guest timers: `host.send-after` and `host.cancel-timer`.
//!
//! One [`TimerService`] per host keeps every pending timer of every session in one ordered
//! map, keyed by (due time, creation sequence), and one task fires them — the shape of
//! mini-redis's expiry task: sleep until the earliest entry or until a new, earlier one is
//! added. Timers due at the same instant fire in the order they were created, and a timer's
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
//! The service task starts with the first timer and stops when the host is dropped.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::error::SessionError;
use crate::host::HostInner;
use crate::session::{Mail, Session};
use crate::store::TimerRecord;

/// Longest delay accepted by `send-after` (one year): longer ones are almost surely bugs.
const MAX_DELAY_MS: u64 = 365 * 24 * 3600 * 1000;
/// How long a timer waits before trying a full mailbox again.
const RETRY_FULL_MAILBOX: Duration = Duration::from_millis(10);

/// Where a timer sits in the service: due time, then creation order.
type Key = (Instant, u64);

/// A timer waiting to fire.
struct Pending {
    session: Weak<Session>,
    id: u64,
    message: Vec<u8>,
}

/// Every pending timer of the host, and the task that fires them.
pub(crate) struct TimerService {
    state: Arc<ServiceState>,
    /// Set once the firing task runs.
    started: AtomicBool,
}

struct ServiceState {
    queue: parking_lot::Mutex<BTreeMap<Key, Pending>>,
    /// Wakes the task: a new earliest timer, or the host going away.
    wake: Notify,
    closed: AtomicBool,
    sequence: AtomicU64,
}

impl TimerService {
    pub(crate) fn new() -> Self {
        Self {
            state: Arc::new(ServiceState {
                queue: parking_lot::Mutex::new(BTreeMap::new()),
                wake: Notify::new(),
                closed: AtomicBool::new(false),
                sequence: AtomicU64::new(0),
            }),
            started: AtomicBool::new(false),
        }
    }

    fn schedule(
        &self,
        host: &Weak<HostInner>,
        due: Instant,
        pending: Pending,
    ) -> Result<Key, String> {
        if !self.started.swap(true, Ordering::AcqRel) {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                self.started.store(false, Ordering::Release);
                return Err("timers need the host's async runtime".into());
            };
            runtime.spawn(run(Arc::clone(&self.state), host.clone()));
        }
        let key = (due, self.state.sequence.fetch_add(1, Ordering::Relaxed));
        let earliest = {
            let mut queue = self.state.queue.lock();
            queue.insert(key, pending);
            queue.keys().next() == Some(&key)
        };
        if earliest {
            self.state.wake.notify_one();
        }
        Ok(key)
    }

    fn cancel(&self, key: &Key) -> bool {
        self.state.queue.lock().remove(key).is_some()
    }

    /// The message of a pending timer.
    fn peek(&self, key: &Key) -> Option<Vec<u8>> {
        self.state.queue.lock().get(key).map(|p| p.message.clone())
    }
}

impl Drop for TimerService {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::Release);
        self.state.wake.notify_one();
    }
}

/// The firing task: sleeps until the earliest timer (or a wake-up), then delivers what is due.
async fn run(state: Arc<ServiceState>, host: Weak<HostInner>) {
    loop {
        if state.closed.load(Ordering::Acquire) {
            return;
        }
        let next = state.queue.lock().keys().next().map(|(due, _)| *due);
        match next {
            Some(due) if due <= Instant::now() => {}
            Some(due) => {
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    () = state.wake.notified() => continue,
                }
            }
            None => {
                state.wake.notified().await;
                continue;
            }
        }
        let Some(host) = host.upgrade() else { return };
        fire_due(&state, &host);
    }
}

/// Delivers every timer due now, in key order.
fn fire_due(state: &ServiceState, host: &Arc<HostInner>) {
    let now = Instant::now();
    loop {
        let entry = {
            let mut queue = state.queue.lock();
            match queue.first_key_value() {
                Some(((due, _), _)) if *due <= now => queue.pop_first(),
                _ => None,
            }
        };
        let Some((_, pending)) = entry else { return };
        let Some(session) = pending.session.upgrade() else {
            continue;
        };
        let mail = Mail::Timer {
            id: pending.id,
            message: pending.message,
        };
        if let Err((Mail::Timer { id, message }, SessionError::MailboxFull { .. })) =
            Session::enqueue(&session, host, mail)
        {
            let retry = (
                now + RETRY_FULL_MAILBOX,
                state.sequence.fetch_add(1, Ordering::Relaxed),
            );
            let pending = Pending {
                session: Arc::downgrade(&session),
                id,
                message,
            };
            // The session's own list still holds the old key. That is fine: a cancel from
            // now on removes the ID there, and delivery (`take_fired`) then skips the
            // message; a session that ends leaves this entry to find its session gone.
            state.queue.lock().insert(retry, pending);
        }
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
    service: Weak<HostInner>,
}

impl SessionTimers {
    /// Starts a timer that delivers `message` to `session` after `delay_ms`.
    pub(crate) fn start(
        &mut self,
        max: usize,
        host: &Weak<HostInner>,
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
        let Some(strong) = host.upgrade() else {
            return Err("the host is shutting down".into());
        };
        let id = self.next_id + 1;
        let pending = Pending {
            session: session.clone(),
            id,
            message,
        };
        let due = Instant::now() + Duration::from_millis(delay_ms);
        let key = strong.timers.schedule(host, due, pending)?;
        self.next_id = id;
        self.service = host.clone();
        self.pending.insert(id, key);
        Ok(id)
    }

    /// The pending timers as records for a snapshot store: due times in wall-clock
    /// milliseconds, in ID order. Timers stay pending (the caller drops the store next).
    pub(crate) fn export(&self) -> Vec<TimerRecord> {
        let Some(host) = self.service.upgrade() else {
            return Vec::new();
        };
        let now = Instant::now();
        let wall_now = host.wall_now_ms();
        let mut records: Vec<TimerRecord> = self
            .pending
            .iter()
            .filter_map(|(id, key)| {
                let message = host.timers.peek(key)?;
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
        host: &Weak<HostInner>,
        session: &Weak<Session>,
        records: Vec<TimerRecord>,
    ) -> Result<(), String> {
        let Some(strong) = host.upgrade() else {
            return Err("the host is shutting down".into());
        };
        let wall_now = strong.wall_now_ms();
        for record in records {
            let delay = Duration::from_millis(record.due_at_ms.saturating_sub(wall_now));
            let pending = Pending {
                session: session.clone(),
                id: record.id,
                message: record.message,
            };
            let key = strong
                .timers
                .schedule(host, Instant::now() + delay, pending)?;
            self.next_id = self.next_id.max(record.id);
            self.pending.insert(record.id, key);
        }
        self.service = host.clone();
        Ok(())
    }

    /// Cancels a pending timer; false when it was already delivered, cancelled or unknown.
    pub(crate) fn cancel(&mut self, id: u64) -> bool {
        let Some(key) = self.pending.remove(&id) else {
            return false;
        };
        if let Some(host) = self.service.upgrade() {
            host.timers.cancel(&key);
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

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

impl Drop for SessionTimers {
    fn drop(&mut self) {
        if let Some(host) = self.service.upgrade() {
            for key in self.pending.values() {
                host.timers.cancel(key);
            }
        }
    }
}
