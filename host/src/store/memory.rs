//! The in-memory snapshot store: the default when the host has no data dir.
//!
//! Records live as long as the process. Each is kept **encoded** — one `Box<str>` key and one
//! `Box<[u8]>` of [`SnapshotRecord::encode`] output, allocated at its exact size — because
//! hibernation exists to shrink a session: a decoded record would cost two `String`s and two
//! `Vec`s of headers and slack per session. A hibernated counter costs its ~50-byte record,
//! its 22-byte ID and the map's entry, well under the 512 bytes a session may keep.
//!
//! The map is the registry's: lock-free [`papaya`] with a per-process random hash seed, so IDs
//! chosen by an attacker cannot be aimed at one bucket. Each method is one map operation and so
//! atomic on its own; `take` is a single remove, so two wakers never both get a record.

use std::fmt;

use papaya::{Compute, Operation};

use super::{SnapshotRecord, SnapshotStore, StoreError};

type Map = papaya::HashMap<Box<str>, Box<[u8]>, foldhash::fast::RandomState>;

/// A [`SnapshotStore`] in memory. See the module docs.
pub struct MemoryStore {
    map: Map,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            map: papaya::HashMap::builder()
                .hasher(foldhash::fast::RandomState::default())
                .build(),
        }
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.map.len())
            .finish_non_exhaustive()
    }
}

fn decode(id: &str, bytes: &[u8]) -> Result<SnapshotRecord, StoreError> {
    SnapshotRecord::decode(bytes).map_err(|e| e.with_id(id))
}

impl SnapshotStore for MemoryStore {
    fn put(&self, id: &str, record: &SnapshotRecord) -> Result<(), StoreError> {
        self.map
            .pin()
            .insert(id.into(), record.encode().into_boxed_slice());
        Ok(())
    }

    fn get(&self, id: &str) -> Result<Option<SnapshotRecord>, StoreError> {
        self.map
            .pin()
            .get(id)
            .map(|bytes| decode(id, bytes))
            .transpose()
    }

    fn take(&self, id: &str) -> Result<Option<SnapshotRecord>, StoreError> {
        self.map
            .pin()
            .remove(id)
            .map(|bytes| decode(id, bytes))
            .transpose()
    }

    fn remove(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.map.pin().remove(id).is_some())
    }

    fn touch(&self, id: &str, last_active_ms: u64) -> Result<bool, StoreError> {
        let map = self.map.pin();
        // Compare-and-swap on the entry: a record removed meanwhile is not re-inserted.
        let outcome = map.compute(id.into(), |entry| match entry {
            None => Operation::Abort(None),
            Some((_, bytes)) => match decode(id, bytes) {
                Ok(mut record) => {
                    record.last_active_ms = last_active_ms;
                    Operation::Insert(record.encode().into_boxed_slice())
                }
                Err(error) => Operation::Abort(Some(error)),
            },
        });
        match outcome {
            Compute::Updated { .. } | Compute::Inserted(..) => Ok(true),
            Compute::Aborted(None) | Compute::Removed(..) => Ok(false),
            Compute::Aborted(Some(error)) => Err(error),
        }
    }

    fn contains(&self, id: &str) -> Result<bool, StoreError> {
        Ok(self.map.pin().contains_key(id))
    }

    fn len(&self) -> Result<usize, StoreError> {
        Ok(self.map.len())
    }

    fn ids(&self) -> Result<Vec<String>, StoreError> {
        Ok(self.map.pin().keys().map(|id| id.to_string()).collect())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::conformance;

    #[test]
    fn every_method_works() {
        conformance::exercise(&MemoryStore::new());
    }

    #[test]
    fn concurrent_puts_all_land() {
        conformance::concurrent_puts(Arc::new(MemoryStore::new()));
    }

    #[test]
    fn records_are_kept_encoded_at_their_exact_size() {
        let store = MemoryStore::new();
        let record = conformance::record("counter", &[1; 16]);
        store.put("AAAAAAAAAAAAAAAAAAAAAA", &record).expect("put");
        let map = store.map.pin();
        let (id, bytes) = map.iter().next().expect("one entry");
        assert_eq!(id.len(), 22);
        assert_eq!(bytes.len(), record.encoded_len());
    }

    #[test]
    fn a_corrupt_record_is_reported_with_its_id_and_taken_away() {
        let store = MemoryStore::new();
        store.map.pin().insert("room-1".into(), Box::new([9, 9, 9]));
        let err = store.get("room-1").expect_err("corrupt");
        assert_eq!(
            err.to_string(),
            "snapshot record of session `room-1` has format version 9; this host reads version 1"
        );
        assert!(matches!(
            store.take("room-1"),
            Err(StoreError::UnsupportedFormat { found: 9, .. })
        ));
        assert!(!store.contains("room-1").expect("contains"));
    }

    #[test]
    fn shared_as_a_trait_object() {
        let store: Arc<dyn SnapshotStore> = Arc::new(MemoryStore::default());
        store
            .put("x", &conformance::record("counter", b"1"))
            .expect("put");
        assert!(format!("{store:?}").starts_with("MemoryStore { len: 1"));
    }
}
