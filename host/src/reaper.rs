//! Idle expiry: ends sessions idle for longer than `session_ttl`, and sessions older than
//! `session_max_lifetime` when one is configured.
//!
//! One [`Reaper`] per host keeps one ordered map of (deadline, sequence) → session and one
//! task that sleeps until the earliest deadline — the shape of mini-redis's expiry task, and
//! never a scan over all sessions. The hot path does not touch the map: a call, cast or touch
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
//! The task starts with the first session and stops when the host is dropped.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::Notify;

use crate::host::HostInner;
use crate::session::Session;

/// Where an entry sits: deadline (host clock milliseconds), then insertion order.
pub(crate) type Key = (u64, u64);

/// Every session's expiry deadline, and the task that acts on them.
pub(crate) struct Reaper {
    state: Arc<ReaperState>,
    /// Set once the task runs.
    started: AtomicBool,
}

/// What an entry watches.
enum Watched {
    /// A live session: it may expire or hibernate.
    Live(Weak<Session>),
    /// A hibernated session, by ID: its record is dropped when its idle TTL runs out.
    Hibernated(Box<str>),
}

struct ReaperState {
    queue: parking_lot::Mutex<BTreeMap<Key, Watched>>,
    /// Wakes the task: a new earliest deadline, or the host going away.
    wake: Notify,
    closed: AtomicBool,
    sequence: AtomicU64,
}

impl Reaper {
    pub(crate) fn new() -> Self {
        Self {
            state: Arc::new(ReaperState {
                queue: parking_lot::Mutex::new(BTreeMap::new()),
                wake: Notify::new(),
                closed: AtomicBool::new(false),
                sequence: AtomicU64::new(0),
            }),
            started: AtomicBool::new(false),
        }
    }

    /// Watches `session` until `deadline_ms` (host clock). Needs the host's runtime the first
    /// time (the task is spawned then); without one, expiry is off and a warning says so.
    pub(crate) fn watch(&self, host: &Arc<HostInner>, session: &Arc<Session>, deadline_ms: u64) {
        if !self.start(host) {
            return;
        }
        let key = self.state.enter(session, deadline_ms);
        self.wake_if_first(key);
    }

    /// Watches a hibernated session until its idle TTL runs out at `deadline_ms`.
    pub(crate) fn watch_hibernated(&self, host: &Arc<HostInner>, id: &str, deadline_ms: u64) {
        if !self.start(host) {
            return;
        }
        let key = (
            deadline_ms,
            self.state.sequence.fetch_add(1, Ordering::Relaxed),
        );
        self.state
            .queue
            .lock()
            .insert(key, Watched::Hibernated(id.into()));
        self.wake_if_first(key);
    }

    fn wake_if_first(&self, key: Key) {
        let earliest = self.state.queue.lock().keys().next() == Some(&key);
        if earliest {
            self.state.wake.notify_one();
        }
    }

    /// Spawns the task on first use; false when there is no runtime to spawn it on.
    fn start(&self, host: &Arc<HostInner>) -> bool {
        if !self.started.swap(true, Ordering::AcqRel) {
            let Ok(runtime) = tokio::runtime::Handle::try_current() else {
                self.started.store(false, Ordering::Release);
                tracing::warn!(
                    target: "sessionhost::session",
                    "no async runtime: idle sessions will not expire"
                );
                return false;
            };
            runtime.spawn(run(Arc::clone(&self.state), Arc::downgrade(host)));
        }
        true
    }

    /// Drops an ended session's entry, so its memory is freed now rather than at its
    /// deadline (a host with many short sessions and a long TTL would otherwise hold them).
    pub(crate) fn forget(&self, session: &Session) {
        let key = session.reaper_key();
        self.state.queue.lock().remove(&key);
    }
}

impl ReaperState {
    /// Enters `session` at `deadline_ms` and records the key in the session.
    fn enter(&self, session: &Arc<Session>, deadline_ms: u64) -> Key {
        let key = (deadline_ms, self.sequence.fetch_add(1, Ordering::Relaxed));
        let mut queue = self.queue.lock();
        session.set_reaper_key(key);
        queue.insert(key, Watched::Live(Arc::downgrade(session)));
        key
    }
}

impl Drop for Reaper {
    fn drop(&mut self) {
        self.state.closed.store(true, Ordering::Release);
        self.state.wake.notify_one();
    }
}

/// The reaper task: sleeps until the earliest deadline (or a wake-up), then handles what is
/// due.
async fn run(state: Arc<ReaperState>, host: Weak<HostInner>) {
    loop {
        if state.closed.load(Ordering::Acquire) {
            return;
        }
        let next = state.queue.lock().keys().next().map(|(due, _)| *due);
        let Some(due) = next else {
            state.wake.notified().await;
            continue;
        };
        let Some(strong) = host.upgrade() else { return };
        let now = strong.clock.now_ms();
        if due > now {
            let at = strong.clock.instant_at(due);
            drop(strong); // do not keep the host alive while sleeping
            tokio::select! {
                () = tokio::time::sleep_until(at) => {}
                () = state.wake.notified() => {}
            }
            continue;
        }
        sweep(&state, &strong, now);
    }
}

/// Handles every entry due at `now`: re-enters sessions that were active since, ends the
/// others (each in a task of its own, so a busy session never holds up the sweep).
fn sweep(state: &ReaperState, host: &Arc<HostInner>, now: u64) {
    loop {
        let entry = {
            let mut queue = state.queue.lock();
            match queue.first_key_value() {
                Some(((due, _), _)) if *due <= now => queue.pop_first(),
                _ => None,
            }
        };
        let Some((_, watched)) = entry else { return };
        let session = match watched {
            Watched::Live(session) => session.upgrade(),
            Watched::Hibernated(id) => {
                let host = Arc::clone(host);
                // The store may block (a durable one writes to disk).
                tokio::task::spawn_blocking(move || host.expire_hibernated(&id));
                None
            }
        };
        let Some(session) = session else {
            continue;
        };
        if !session.is_live() {
            continue;
        }
        match session.next_deadline_ms(host) {
            Some(deadline) if deadline > now => {
                let key = state.enter(&session, deadline);
                if !session.is_live() {
                    // It ended while being re-entered: do not keep it.
                    state.queue.lock().remove(&key);
                }
            }
            Some(_) => {
                let host = Arc::clone(host);
                tokio::spawn(async move {
                    if let Some(later) = session.on_deadline(&host).await {
                        host.reaper.watch(&host, &session, later);
                    }
                });
            }
            None => {}
        }
    }
}
