//! An ordered set of deadlines and the one task that acts on them — the shape of mini-redis's
//! expiry task, shared by guest timers (`timers.rs`) and idle expiry (`reaper.rs`).
//!
//! Entries sit in a [`BTreeMap`] keyed by (due instant, insertion sequence), so entries due at
//! the same instant come out in the order they went in. The task sleeps until the earliest
//! entry or until an insertion makes a new earliest one, then hands every due entry, one at
//! a time with the lock released, to its owner's `fire` function — which may insert again
//! (a retry, a postponed deadline). Nothing ever scans the map.
//!
//! The task is spawned by the first [`DeadlineQueue::start`] (it needs the host's tokio
//! runtime), holds the queue's owner only weakly while it sleeps, and stops once the queue is
//! [closed](DeadlineQueue::close) or the host is gone. Time is tokio's, so tests that pause
//! time drive it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use tokio::sync::Notify;
use tokio::time::Instant;

/// Where an entry sits: due instant, then insertion order.
pub(crate) type Key = (Instant, u64);

/// What the task does with each due entry: the queue (to insert again), the queue's owner
/// (held weakly by the task, strongly while it fires), the entry, and the instant the sweep
/// started.
pub(crate) type Fire<V, C> = fn(&Arc<DeadlineQueue<V>>, &Arc<C>, V, Instant);

/// Entries due at given instants, and the task that fires them.
pub(crate) struct DeadlineQueue<V> {
    entries: parking_lot::Mutex<BTreeMap<Key, V>>,
    /// Wakes the task: a new earliest entry, or the queue closing.
    wake: Notify,
    closed: AtomicBool,
    started: AtomicBool,
    sequence: AtomicU64,
}

impl<V: Send + 'static> DeadlineQueue<V> {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            entries: parking_lot::Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            closed: AtomicBool::new(false),
            started: AtomicBool::new(false),
            sequence: AtomicU64::new(0),
        })
    }

    /// Spawns the task on first use, firing due entries with `fire` for `owner`. False when
    /// there is no tokio runtime to spawn it on (nothing fires then).
    pub(crate) fn start<C: Send + Sync + 'static>(
        self: &Arc<Self>,
        owner: &Weak<C>,
        fire: Fire<V, C>,
    ) -> bool {
        if self.started.swap(true, Ordering::AcqRel) {
            return true;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            self.started.store(false, Ordering::Release);
            return false;
        };
        runtime.spawn(run(Arc::clone(self), owner.clone(), fire));
        true
    }

    /// Adds the entry `make(key)` due at `due` and returns its key; `make` runs under the
    /// queue's lock, so a caller can record the key where a concurrent [`remove`] finds it.
    ///
    /// [`remove`]: Self::remove
    pub(crate) fn insert_with(&self, due: Instant, make: impl FnOnce(Key) -> V) -> Key {
        let key = (due, self.sequence.fetch_add(1, Ordering::Relaxed));
        let earliest = {
            let mut entries = self.entries.lock();
            entries.insert(key, make(key));
            entries.keys().next() == Some(&key)
        };
        if earliest {
            self.wake.notify_one();
        }
        key
    }

    /// Adds `value` due at `due`.
    pub(crate) fn insert(&self, due: Instant, value: V) -> Key {
        self.insert_with(due, |_| value)
    }

    /// Takes an entry out; `None` when it already fired or was removed.
    pub(crate) fn remove(&self, key: &Key) -> Option<V> {
        self.entries.lock().remove(key)
    }

    /// Reads an entry without taking it out.
    pub(crate) fn inspect<R>(&self, key: &Key, read: impl FnOnce(&V) -> R) -> Option<R> {
        self.entries.lock().get(key).map(read)
    }

    /// Entries waiting.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().len()
    }

    /// Stops the task (its owner is going away).
    pub(crate) fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// The first entry if it is due at `now`.
    fn pop_due(&self, now: Instant) -> Option<V> {
        let mut entries = self.entries.lock();
        match entries.first_key_value() {
            Some(((due, _), _)) if *due <= now => entries.pop_first().map(|(_, v)| v),
            _ => None,
        }
    }
}

/// The task: sleeps until the earliest entry (or a wake-up), then fires what is due.
async fn run<V: Send + 'static, C: Send + Sync + 'static>(
    queue: Arc<DeadlineQueue<V>>,
    owner: Weak<C>,
    fire: Fire<V, C>,
) {
    loop {
        if queue.closed.load(Ordering::Acquire) {
            return;
        }
        let next = queue.entries.lock().keys().next().map(|(due, _)| *due);
        match next {
            Some(due) if due <= Instant::now() => {}
            Some(due) => {
                tokio::select! {
                    () = tokio::time::sleep_until(due) => {}
                    () = queue.wake.notified() => continue,
                }
            }
            None => {
                queue.wake.notified().await;
                continue;
            }
        }
        let Some(owner) = owner.upgrade() else { return };
        let now = Instant::now();
        while let Some(entry) = queue.pop_due(now) {
            fire(&queue, &owner, entry, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    /// The queue's owner in these tests: what fired, in order.
    #[derive(Default)]
    struct Log(parking_lot::Mutex<Vec<(&'static str, Instant)>>);

    fn record(
        _: &Arc<DeadlineQueue<&'static str>>,
        log: &Arc<Log>,
        name: &'static str,
        at: Instant,
    ) {
        log.0.lock().push((name, at));
    }

    /// Lets the queue's task run until it sleeps again.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn entries_fire_in_due_order_and_ties_in_insertion_order() {
        let log = Arc::new(Log::default());
        let queue = DeadlineQueue::new();
        assert!(queue.start(&Arc::downgrade(&log), record));
        let t0 = Instant::now();
        queue.insert(t0 + Duration::from_secs(3), "c");
        queue.insert(t0 + Duration::from_secs(1), "a");
        queue.insert(t0 + Duration::from_secs(2), "b1");
        queue.insert(t0 + Duration::from_secs(2), "b2");
        let removed = queue.insert(t0 + Duration::from_secs(2), "gone");
        assert_eq!(queue.remove(&removed), Some("gone"));

        tokio::time::sleep(Duration::from_millis(1_500)).await;
        settle().await;
        assert_eq!(log.0.lock().iter().map(|e| e.0).collect::<Vec<_>>(), ["a"]);
        tokio::time::sleep(Duration::from_secs(2)).await;
        settle().await;
        let fired: Vec<_> = log
            .0
            .lock()
            .iter()
            .map(|(name, at)| (*name, *at - t0))
            .collect();
        assert_eq!(
            fired,
            [
                ("a", Duration::from_secs(1)),
                ("b1", Duration::from_secs(2)),
                ("b2", Duration::from_secs(2)),
                ("c", Duration::from_secs(3)),
            ]
        );
        queue.close();
    }

    #[tokio::test(start_paused = true)]
    async fn a_new_earliest_entry_wakes_the_task_and_a_closed_queue_fires_nothing() {
        let log = Arc::new(Log::default());
        let queue = DeadlineQueue::new();
        queue.start(&Arc::downgrade(&log), record);
        let t0 = Instant::now();
        queue.insert(t0 + Duration::from_secs(60), "late");
        settle().await; // the task sleeps until the 60 s entry
        queue.insert(t0 + Duration::from_secs(1), "early");
        tokio::time::sleep(Duration::from_secs(2)).await;
        settle().await;
        assert_eq!(
            log.0.lock().iter().map(|e| e.0).collect::<Vec<_>>(),
            ["early"]
        );

        queue.close();
        tokio::time::sleep(Duration::from_secs(120)).await;
        settle().await;
        assert_eq!(
            log.0.lock().len(),
            1,
            "nothing fires once the queue is closed"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_task_stops_with_its_owner() {
        let log = Arc::new(Log::default());
        let queue = DeadlineQueue::new();
        queue.start(&Arc::downgrade(&log), record);
        queue.insert(Instant::now() + Duration::from_secs(1), "orphan");
        let weak = Arc::downgrade(&log);
        drop(log);
        tokio::time::sleep(Duration::from_secs(2)).await;
        settle().await;
        assert!(weak.upgrade().is_none());
        // The entry is still there: nobody fired it.
        assert_eq!(queue.entries.lock().len(), 1);
    }

    #[test]
    fn without_a_runtime_nothing_starts() {
        let log = Arc::new(Log::default());
        let queue: Arc<DeadlineQueue<&'static str>> = DeadlineQueue::new();
        assert!(!queue.start(&Arc::downgrade(&log), record));
    }
}
