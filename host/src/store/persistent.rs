//! The persistent snapshot store: records in a redb file, so they outlive the process.
//!
//! The table `snapshots` maps session ID (`&str`) → encoded record (`&[u8]`, the format of
//! [`SnapshotRecord::encode`]) of the hibernated sessions; `checkpoints` the same for live
//! sessions' last checkpoints (see `checkpoint.rs`), read only to recover after a crash. Every `put`, `take` and `remove` is one write transaction,
//! committed with redb's default durability (fsync before the commit returns), so a completed
//! call survives a crash; `take` reads and removes in the same transaction, so a record is
//! taken once. Reads run in read transactions beside the writer. redb serializes writers:
//! concurrent puts queue behind one another.
//!
//! The file is exclusively locked while open: a second open of the same path, in this process
//! or another, fails with [`StoreError::Backend`]. Opening runs redb's integrity check, so a
//! file that is not a redb database or was damaged outside redb is refused with
//! [`StoreError::InvalidDatabase`] naming its path, rather than trusted (which may panic). The
//! check reads the whole file: opening takes time in proportion to the store's size. redb's
//! page cache is capped at [`PersistentStore::CACHE_BYTES`] so a large store does not grow the host's memory.

use std::fmt;
use std::path::{Path, PathBuf};

use redb::{ReadableDatabase as _, ReadableTable as _, ReadableTableMetadata as _};

use super::{SnapshotRecord, SnapshotStore, StoreError};

/// Hibernated sessions: session ID → encoded record.
const TABLE: redb::TableDefinition<'static, &str, &[u8]> = redb::TableDefinition::new("snapshots");
/// Live sessions' last checkpoints: session ID → encoded record.
const CHECKPOINTS: redb::TableDefinition<'static, &str, &[u8]> =
    redb::TableDefinition::new("checkpoints");

/// A [`SnapshotStore`] in a redb file. See the module docs.
pub struct PersistentStore {
    db: redb::Database,
    path: PathBuf,
}

impl PersistentStore {
    /// The most memory redb's page cache may use.
    pub const CACHE_BYTES: usize = 32 << 20;

    /// Opens the store at `path`, creating the file (and its parent directories) if it does not
    /// exist. Fails, naming `path`, when the file is not a snapshot database, is damaged, or is
    /// already open.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: path.clone(),
                source,
            })?;
        }
        let db = redb::Builder::new()
            .set_cache_size(Self::CACHE_BYTES)
            .set_check_integrity_on_open(true)
            .create(&path)
            .map_err(|e| store_error(&path, e))?;
        let store = Self { db, path };
        // Create the tables now, so that reads of an empty store find them.
        store.write_both(|_, _| Ok(()))?;
        Ok(store)
    }

    /// The store's file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Runs `f` on the table in one write transaction and commits it.
    fn write<T>(
        &self,
        f: impl FnOnce(&mut redb::Table<'_, &str, &[u8]>) -> Result<T, redb::StorageError>,
    ) -> Result<T, StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.error(e))?;
        let out = {
            let mut table = txn.open_table(TABLE).map_err(|e| self.error(e))?;
            f(&mut table).map_err(|e| self.error(e))?
        };
        txn.commit().map_err(|e| self.error(e))?;
        Ok(out)
    }

    /// Runs `f` on both tables (hibernated, checkpoints) in one write transaction and
    /// commits it.
    fn write_both<T>(
        &self,
        f: impl FnOnce(
            &mut redb::Table<'_, &str, &[u8]>,
            &mut redb::Table<'_, &str, &[u8]>,
        ) -> Result<T, redb::StorageError>,
    ) -> Result<T, StoreError> {
        let txn = self.db.begin_write().map_err(|e| self.error(e))?;
        let out = {
            let mut snapshots = txn.open_table(TABLE).map_err(|e| self.error(e))?;
            let mut checkpoints = txn.open_table(CHECKPOINTS).map_err(|e| self.error(e))?;
            f(&mut snapshots, &mut checkpoints).map_err(|e| self.error(e))?
        };
        txn.commit().map_err(|e| self.error(e))?;
        Ok(out)
    }

    /// Runs `f` on the table in one read transaction.
    fn read<T>(
        &self,
        f: impl FnOnce(&redb::ReadOnlyTable<&str, &[u8]>) -> Result<T, redb::StorageError>,
    ) -> Result<T, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(TABLE).map_err(|e| self.error(e))?;
        f(&table).map_err(|e| self.error(e))
    }

    fn error(&self, e: impl Into<redb::Error>) -> StoreError {
        store_error(&self.path, e)
    }
}

/// A redb error as a [`StoreError`] naming the file.
fn store_error(path: &Path, e: impl Into<redb::Error>) -> StoreError {
    let path = path.to_path_buf();
    match e.into() {
        // redb reports a file that does not start with its magic number this way.
        redb::Error::Io(source) if source.kind() == std::io::ErrorKind::InvalidData => {
            StoreError::InvalidDatabase {
                path,
                reason: source.to_string(),
            }
        }
        redb::Error::Io(source) => StoreError::Io { path, source },
        redb::Error::Corrupted(reason) => StoreError::InvalidDatabase { path, reason },
        redb::Error::UpgradeRequired(format) => StoreError::InvalidDatabase {
            path,
            reason: format!("written in redb file format {format}, which this build cannot read"),
        },
        redb::Error::TableTypeMismatch { .. } | redb::Error::TableIsMultimap(_) => {
            StoreError::InvalidDatabase {
                path,
                reason: "its `snapshots` table does not hold snapshot records".to_owned(),
            }
        }
        other => StoreError::Backend {
            path,
            reason: other.to_string(),
        },
    }
}

fn decode(id: &str, bytes: &[u8]) -> Result<SnapshotRecord, StoreError> {
    SnapshotRecord::decode(bytes).map_err(|e| e.with_id(id))
}

impl fmt::Debug for PersistentStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PersistentStore")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl SnapshotStore for PersistentStore {
    fn durable(&self) -> bool {
        true
    }

    fn put(&self, id: &str, record: &SnapshotRecord) -> Result<(), StoreError> {
        let bytes = record.encode();
        self.write(|table| table.insert(id, bytes.as_slice()).map(drop))
    }

    fn get(&self, id: &str) -> Result<Option<SnapshotRecord>, StoreError> {
        self.read(|table| Ok(table.get(id)?.map(|bytes| decode(id, bytes.value()))))?
            .transpose()
    }

    fn take(&self, id: &str) -> Result<Option<SnapshotRecord>, StoreError> {
        // Decoded inside the transaction (no copy); committed even if the bytes are corrupt.
        self.write(|table| Ok(table.remove(id)?.map(|bytes| decode(id, bytes.value()))))?
            .transpose()
    }

    fn remove(&self, id: &str) -> Result<bool, StoreError> {
        self.write(|table| Ok(table.remove(id)?.is_some()))
    }

    fn touch(&self, id: &str, last_active_ms: u64) -> Result<bool, StoreError> {
        // One write transaction: read, change, write back, or nothing if it is gone.
        let record = self.write(|table| {
            let Some(bytes) = table.get(id)? else {
                return Ok(None);
            };
            let mut record = match decode(id, bytes.value()) {
                Ok(record) => record,
                Err(error) => return Ok(Some(Err(error))),
            };
            drop(bytes);
            record.last_active_ms = last_active_ms;
            table.insert(id, record.encode().as_slice())?;
            Ok(Some(Ok(())))
        })?;
        record.transpose().map(|done| done.is_some())
    }

    fn contains(&self, id: &str) -> Result<bool, StoreError> {
        self.read(|table| Ok(table.get(id)?.is_some()))
    }

    fn len(&self) -> Result<usize, StoreError> {
        let len = self.read(|table| table.len())?;
        usize::try_from(len).map_err(|_| StoreError::Backend {
            path: self.path.clone(),
            reason: format!("{len} records do not fit in memory"),
        })
    }

    fn ids(&self) -> Result<Vec<String>, StoreError> {
        self.read(|table| {
            table
                .iter()?
                .map(|entry| entry.map(|(id, _)| id.value().to_owned()))
                .collect()
        })
    }

    /// Every commit is already durable: nothing to do.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn write_checkpoints(
        &self,
        writes: &[(String, Option<SnapshotRecord>)],
    ) -> Result<(), StoreError> {
        self.write_both(|_, checkpoints| {
            for (id, record) in writes {
                match record {
                    Some(record) => {
                        checkpoints.insert(id.as_str(), record.encode().as_slice())?;
                    }
                    None => {
                        checkpoints.remove(id.as_str())?;
                    }
                }
            }
            Ok(())
        })
    }

    fn recover_checkpoints(&self) -> Result<usize, StoreError> {
        self.write_both(|snapshots, checkpoints| {
            let mut recovered = 0;
            while let Some((id, bytes)) = checkpoints.pop_first()? {
                let (id, bytes) = (id.value().to_owned(), bytes.value().to_vec());
                if snapshots.get(id.as_str())?.is_none() {
                    snapshots.insert(id.as_str(), bytes.as_slice())?;
                    recovered += 1;
                }
            }
            Ok(recovered)
        })
    }

    fn checkpoints(&self) -> Result<usize, StoreError> {
        let txn = self.db.begin_read().map_err(|e| self.error(e))?;
        let table = txn.open_table(CHECKPOINTS).map_err(|e| self.error(e))?;
        let len = table.len().map_err(|e| self.error(e))?;
        Ok(usize::try_from(len).unwrap_or(usize::MAX))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::store::conformance;

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(test: &str) -> Self {
            let dir = std::env::temp_dir()
                .join(format!("sessionhost-store-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("create temp dir");
            Self(dir)
        }

        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn every_method_works() {
        let dir = TempDir::new("every_method_works");
        let store = PersistentStore::open(dir.file("s.redb")).expect("open");
        conformance::exercise(&store);
    }

    #[test]
    fn checkpoints_are_kept_apart_and_recovered() {
        let dir = TempDir::new("checkpoints");
        let store = PersistentStore::open(dir.file("s.redb")).unwrap();
        conformance::checkpoints(&store);
    }

    #[test]
    fn concurrent_puts_all_land() {
        let dir = TempDir::new("concurrent_puts_all_land");
        let store = PersistentStore::open(dir.file("s.redb")).expect("open");
        conformance::concurrent_puts(Arc::new(store));
    }

    #[test]
    fn records_survive_reopening() {
        let dir = TempDir::new("records_survive_reopening");
        let path = dir.file("nested/dir/s.redb");
        let big = conformance::record("counter", &vec![0xab; 1 << 20]);
        let small = conformance::record("cart", b"[]");
        {
            let store = PersistentStore::open(&path).expect("open");
            store.put("big", &big).expect("put");
            store.put("small", &small).expect("put");
            store.put("gone", &small).expect("put");
            assert!(store.remove("gone").expect("remove"));
        }
        let store = PersistentStore::open(&path).expect("reopen");
        assert_eq!(store.path(), path);
        assert_eq!(store.len().expect("len"), 2);
        assert_eq!(store.get("big").expect("get"), Some(big));
        assert_eq!(store.take("small").expect("take"), Some(small));
        drop(store);
        let store = PersistentStore::open(&path).expect("reopen again");
        assert_eq!(store.ids().expect("ids"), ["big"]);
    }

    #[test]
    fn a_garbage_file_is_refused_naming_its_path() {
        let dir = TempDir::new("a_garbage_file_is_refused_naming_its_path");
        let path = dir.file("garbage.redb");
        let garbage: Vec<u8> = (0..64 * 1024u32).map(|i| (i * 7 + 3) as u8).collect();
        std::fs::write(&path, garbage).expect("write garbage");
        let err = PersistentStore::open(&path).expect_err("garbage is not a database");
        assert!(matches!(err, StoreError::InvalidDatabase { .. }), "{err:?}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }

    #[test]
    fn a_damaged_database_is_refused_not_trusted() {
        let dir = TempDir::new("a_damaged_database_is_refused_not_trusted");
        let path = dir.file("s.redb");
        {
            let store = PersistentStore::open(&path).expect("open");
            for i in 0..200 {
                let record = conformance::record("counter", format!("{i}").as_bytes());
                store.put(&format!("s-{i}"), &record).expect("put");
            }
        }
        // Overwrite everything past the header with junk.
        let mut bytes = std::fs::read(&path).expect("read");
        for byte in bytes.iter_mut().skip(4096) {
            *byte ^= 0x5a;
        }
        std::fs::write(&path, bytes).expect("write");
        let err = PersistentStore::open(&path).expect_err("damaged");
        assert!(matches!(err, StoreError::InvalidDatabase { .. }), "{err:?}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }

    #[test]
    fn a_second_open_of_the_same_file_fails() {
        let dir = TempDir::new("a_second_open_of_the_same_file_fails");
        let path = dir.file("s.redb");
        let _store = PersistentStore::open(&path).expect("open");
        let err = PersistentStore::open(&path).expect_err("already open");
        assert!(matches!(err, StoreError::Backend { .. }), "{err:?}");
        assert!(err.to_string().contains(&*path.to_string_lossy()), "{err}");
    }

    #[test]
    fn a_directory_is_an_io_error() {
        let dir = TempDir::new("a_directory_is_an_io_error");
        let err = PersistentStore::open(&dir.0).expect_err("a directory");
        assert!(matches!(err, StoreError::Io { .. }), "{err:?}");
        assert!(err.to_string().contains(&*dir.0.to_string_lossy()), "{err}");
    }

    #[test]
    fn a_corrupt_record_is_reported_with_its_id_and_taken_away() {
        let dir = TempDir::new("a_corrupt_record_is_reported_with_its_id_and_taken_away");
        let store = PersistentStore::open(dir.file("s.redb")).expect("open");
        store
            .write(|table| table.insert("room-1", [1u8, 0, 40].as_slice()).map(drop))
            .expect("raw insert");
        assert!(matches!(
            store.get("room-1"),
            Err(StoreError::Corrupt { ref id, .. }) if id == "room-1"
        ));
        assert!(store.take("room-1").is_err());
        assert!(!store.contains("room-1").expect("contains"));
    }
}
