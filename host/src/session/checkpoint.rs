//! Durable checkpoints: live sessions' checkpoints written to a durable snapshot store, so a
//! crash (an OOM kill, `kill -9`, a power cut) loses no more than
//! [`CheckpointDurability`] says.
//!
//! Checkpoints themselves are taken by the supervisor (`checkpoint_every`, see
//! `supervisor.rs`) and kept in memory for restarts. With a durable store, each is also
//! handed to the one [`CheckpointWriter`] of the host: a thread that commits checkpoints
//! together, one store transaction for all of those that arrived while the previous commit
//! ran (`sync`), or for all of those of the last `checkpoint_group_commit` interval
//! (`group`). A session's newer checkpoint replaces its older one still waiting, so what
//! waits is at most one record per live session. A session that ends, hibernates or moves to
//! another ID hands over the removal of its checkpoint the same way, in order.
//!
//! After a crash, the host finds the checkpoints left in the store and turns each into a
//! hibernated record ([`SnapshotStore::recover_checkpoints`]): the session comes back on its
//! next message, from its last checkpoint, with its timers; nothing is woken all at once.
//! A hibernated record stored under the same ID is newer than any checkpoint left beside it
//! (hibernation stores it after the last checkpoint was handed over) and wins.
//!
//! Invariant: the writer is the only one to write checkpoints; it commits them in the order
//! they were handed over, and a session hands them over under its lock.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use crate::config::CheckpointDurability;
use crate::store::{SnapshotRecord, SnapshotStore};

/// A wait for a commit: true when it succeeded.
pub(crate) type CommitAck = oneshot::Receiver<bool>;

/// What waits for the next commit.
#[derive(Default)]
struct Pending {
    /// Session ID → its newest checkpoint, or `None` to remove it.
    writes: HashMap<String, Option<SnapshotRecord>>,
    /// Told when the next commit is done.
    acks: Vec<oneshot::Sender<bool>>,
    /// The host is gone: commit what is left and stop.
    closed: bool,
}

struct Shared {
    pending: Mutex<Pending>,
    wake: Condvar,
}

/// The thread that commits checkpoints (see the module docs). Dropping it commits what is
/// still pending and joins the thread.
pub(crate) struct CheckpointWriter {
    shared: Arc<Shared>,
    durability: CheckpointDurability,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl std::fmt::Debug for CheckpointWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointWriter")
            .field("durability", &self.durability)
            .finish_non_exhaustive()
    }
}

impl CheckpointWriter {
    /// Starts the writer of `store`.
    pub(crate) fn start(
        store: Arc<dyn SnapshotStore>,
        durability: CheckpointDurability,
        group_commit: Duration,
    ) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            pending: Mutex::new(Pending::default()),
            wake: Condvar::new(),
        });
        let gather = match durability {
            CheckpointDurability::Sync => Duration::ZERO,
            CheckpointDurability::Group => group_commit,
        };
        let thread = {
            let shared = Arc::clone(&shared);
            std::thread::Builder::new()
                .name("sessionhost-checkpoints".into())
                .spawn(move || run(&shared, &*store, gather))?
        };
        Ok(Self {
            shared,
            durability,
            thread: Some(thread),
        })
    }

    pub(crate) fn durability(&self) -> CheckpointDurability {
        self.durability
    }

    /// Hands over session `id`'s newest checkpoint (`None`: remove it). With `ack`, the
    /// returned receiver is told when it (or a newer one) is committed.
    pub(crate) fn submit(
        &self,
        id: &str,
        record: Option<SnapshotRecord>,
        ack: bool,
    ) -> Option<CommitAck> {
        let mut pending = self.shared.pending.lock();
        pending.writes.insert(id.to_owned(), record);
        let receiver = ack.then(|| {
            let (tx, rx) = oneshot::channel();
            pending.acks.push(tx);
            rx
        });
        drop(pending);
        self.shared.wake.notify_one();
        receiver
    }

    /// A receiver told once everything handed over so far is committed.
    pub(crate) fn flush(&self) -> CommitAck {
        let (tx, rx) = oneshot::channel();
        self.shared.pending.lock().acks.push(tx);
        self.shared.wake.notify_one();
        rx
    }
}

impl Drop for CheckpointWriter {
    fn drop(&mut self) {
        self.shared.pending.lock().closed = true;
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The writer thread: wait for work, gather for `gather`, commit it all, tell the waiters.
fn run(shared: &Shared, store: &dyn SnapshotStore, gather: Duration) {
    loop {
        let mut pending = shared.pending.lock();
        while pending.writes.is_empty() && pending.acks.is_empty() && !pending.closed {
            shared.wake.wait(&mut pending);
        }
        if !gather.is_zero() {
            // Group commit: what arrives in the next `gather` joins this commit.
            let until = std::time::Instant::now() + gather;
            while !pending.closed && !shared.wake.wait_until(&mut pending, until).timed_out() {}
        }
        let writes = std::mem::take(&mut pending.writes);
        let acks = std::mem::take(&mut pending.acks);
        let closed = pending.closed;
        drop(pending);
        let ok = writes.is_empty() || commit(store, writes);
        for ack in acks {
            let _ = ack.send(ok);
        }
        if closed && shared.pending.lock().writes.is_empty() {
            return;
        }
    }
}

fn commit(store: &dyn SnapshotStore, writes: HashMap<String, Option<SnapshotRecord>>) -> bool {
    let writes: Vec<(String, Option<SnapshotRecord>)> = writes.into_iter().collect();
    match store.write_checkpoints(&writes) {
        Ok(()) => true,
        Err(error) => {
            tracing::error!(
                target: "sessionhost::session",
                %error,
                checkpoints = writes.len(),
                "checkpoints could not be written: a crash now would lose them"
            );
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, StoreError};

    /// A durable-looking store that keeps checkpoints in memory and counts commits.
    #[derive(Debug, Default)]
    struct Recording {
        records: MemoryStore,
        checkpoints: Mutex<HashMap<String, SnapshotRecord>>,
        commits: Mutex<Vec<usize>>,
    }

    impl SnapshotStore for Recording {
        fn put(&self, id: &str, record: &SnapshotRecord) -> Result<(), StoreError> {
            self.records.put(id, record)
        }
        fn get(&self, id: &str) -> Result<Option<SnapshotRecord>, StoreError> {
            self.records.get(id)
        }
        fn take(&self, id: &str) -> Result<Option<SnapshotRecord>, StoreError> {
            self.records.take(id)
        }
        fn remove(&self, id: &str) -> Result<bool, StoreError> {
            self.records.remove(id)
        }
        fn touch(&self, id: &str, last_active_ms: u64) -> Result<bool, StoreError> {
            self.records.touch(id, last_active_ms)
        }
        fn contains(&self, id: &str) -> Result<bool, StoreError> {
            self.records.contains(id)
        }
        fn len(&self) -> Result<usize, StoreError> {
            self.records.len()
        }
        fn ids(&self) -> Result<Vec<String>, StoreError> {
            self.records.ids()
        }
        fn write_checkpoints(
            &self,
            writes: &[(String, Option<SnapshotRecord>)],
        ) -> Result<(), StoreError> {
            let mut checkpoints = self.checkpoints.lock();
            for (id, record) in writes {
                match record {
                    Some(record) => checkpoints.insert(id.clone(), record.clone()),
                    None => checkpoints.remove(id),
                };
            }
            self.commits.lock().push(writes.len());
            Ok(())
        }
    }

    fn state(n: u8) -> SnapshotRecord {
        SnapshotRecord {
            guest: "counter".into(),
            state: vec![n],
            ..SnapshotRecord::default()
        }
    }

    #[tokio::test]
    async fn sync_acks_come_after_the_commit_that_holds_them() {
        let store = Arc::new(Recording::default());
        let writer = CheckpointWriter::start(
            store.clone(),
            CheckpointDurability::Sync,
            Duration::from_millis(10),
        )
        .unwrap();
        let ack = writer.submit("a", Some(state(1)), true).unwrap();
        assert!(ack.await.unwrap());
        assert_eq!(store.checkpoints.lock()["a"].state, vec![1]);
        // A newer checkpoint replaces one still waiting; a removal is a write like another.
        let acks: Vec<_> = (2..=9)
            .filter_map(|n| writer.submit("a", Some(state(n)), true))
            .collect();
        writer.submit("b", Some(state(1)), false);
        writer.submit("b", None, false);
        for ack in acks {
            assert!(ack.await.unwrap());
        }
        assert!(writer.flush().await.unwrap());
        let checkpoints = store.checkpoints.lock();
        assert_eq!(checkpoints["a"].state, vec![9]);
        assert!(!checkpoints.contains_key("b"));
        let commits = store.commits.lock();
        assert!(
            commits.iter().all(|&n| n <= 2),
            "one write per session: {commits:?}"
        );
    }

    #[tokio::test]
    async fn group_commits_gather_an_interval_and_drop_commits_the_rest() {
        let store = Arc::new(Recording::default());
        let writer = CheckpointWriter::start(
            store.clone(),
            CheckpointDurability::Group,
            Duration::from_millis(50),
        )
        .unwrap();
        for id in ["a", "b", "c"] {
            assert!(writer.submit(id, Some(state(1)), false).is_none());
        }
        assert!(writer.flush().await.unwrap());
        assert_eq!(
            *store.commits.lock(),
            vec![3],
            "one commit for the interval"
        );
        writer.submit("d", Some(state(2)), false);
        drop(writer);
        assert_eq!(
            store.checkpoints.lock()["d"].state,
            vec![2],
            "committed on drop"
        );
    }
}
