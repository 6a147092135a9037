//! Snapshot stores: where hibernated (or shut-down) sessions are kept until they wake.
//!
//! A session that hibernates is reduced to a [`SnapshotRecord`]: its guest and version, the
//! bytes of its `snapshot` export, the init args it was started with, and its pending timers.
//! A [`SnapshotStore`] maps session ID → record. [`MemoryStore`] keeps records in a concurrent
//! map (the default without a data dir); [`PersistentStore`] keeps them in a redb file, one
//! durable commit per write, so they outlive the process.
//!
//! Both stores hold records in one binary format, [`SnapshotRecord::encode`]: a leading
//! format-version byte ([`FORMAT_VERSION`]), then LEB128 varints and length-prefixed byte
//! strings. A counter session's record is about 50 bytes. Decoding checks every length against
//! the bytes that remain and never panics: damaged bytes are [`StoreError::Corrupt`], a record
//! from another format version is [`StoreError::UnsupportedFormat`].
//!
//! Store methods block (a persistent write waits for its fsync): async callers run them on a
//! blocking thread. Stores are shared as `Arc<dyn SnapshotStore>`; each method is atomic on its
//! own, and [`SnapshotStore::take`] is how a waking session claims its record exactly once.

mod memory;
mod persistent;

use std::fmt;
use std::path::PathBuf;

use thiserror::Error;

pub use memory::MemoryStore;
pub use persistent::PersistentStore;

/// The format-version byte every encoded record starts with.
pub const FORMAT_VERSION: u8 = 1;

/// What a hibernated (or shut-down) session is reduced to.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SnapshotRecord {
    /// The name of the session's guest.
    pub guest: String,
    /// The guest version that took the snapshot (its content hash, hex).
    pub version: String,
    /// The bytes returned by the guest's `snapshot` export.
    pub state: Vec<u8>,
    /// The init args the session was started with (for restarts).
    pub args: Vec<u8>,
    /// When the record was saved, in milliseconds since the Unix epoch.
    pub saved_at_ms: u64,
    /// When the session last handled a message or was touched, in milliseconds since the
    /// Unix epoch: its idle TTL keeps running while it is stored.
    pub last_active_ms: u64,
    /// The session's pending `send-after` timers.
    pub timers: Vec<TimerRecord>,
}

/// A pending `send-after` timer of a hibernated session.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TimerRecord {
    /// The timer's ID, as returned to the guest by `send-after`.
    pub id: u64,
    /// When the timer is due, in milliseconds since the Unix epoch.
    pub due_at_ms: u64,
    /// The message to deliver when it fires.
    pub message: Vec<u8>,
}

/// Session ID → [`SnapshotRecord`]. Implementations are safe to share between threads.
pub trait SnapshotStore: Send + Sync + fmt::Debug + 'static {
    /// Stores `record` under `id`, replacing any record already there.
    fn put(&self, id: &str, record: &SnapshotRecord) -> Result<(), StoreError>;

    /// The record stored under `id`, if any.
    fn get(&self, id: &str) -> Result<Option<SnapshotRecord>, StoreError>;

    /// Removes and returns the record under `id` (a woken session takes its record). A record
    /// that cannot be decoded is removed all the same, and reported as the error.
    fn take(&self, id: &str) -> Result<Option<SnapshotRecord>, StoreError>;

    /// Removes the record under `id`; true when there was one.
    fn remove(&self, id: &str) -> Result<bool, StoreError>;

    /// Sets the `last_active_ms` of the record under `id` (a touch of a hibernated session);
    /// true when there was one. Atomic with the other writes: a record taken or removed
    /// meanwhile is never stored again (a get-then-put would bring back a woken session's
    /// old state).
    fn touch(&self, id: &str, last_active_ms: u64) -> Result<bool, StoreError>;

    /// Whether a record is stored under `id`.
    fn contains(&self, id: &str) -> Result<bool, StoreError>;

    /// How many records are stored.
    fn len(&self) -> Result<usize, StoreError>;

    /// Whether no record is stored.
    fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.len()? == 0)
    }

    /// All stored session IDs (for admin listing / startup); order unspecified.
    fn ids(&self) -> Result<Vec<String>, StoreError>;

    /// Makes every completed write durable. Durable stores flush; the memory store does
    /// nothing.
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Whether records outlive the process. A host snapshots every live session into a
    /// durable store when it shuts down, so they come back after a restart.
    fn durable(&self) -> bool {
        false
    }

    /// Writes live sessions' checkpoints in one durable commit: `(id, Some(record))` stores
    /// the newest checkpoint of session `id`, `(id, None)` removes it. Checkpoints are kept
    /// apart from hibernated records (nothing else reads them) until
    /// [`recover_checkpoints`](Self::recover_checkpoints). A store that does not outlive the
    /// process keeps none: its default does nothing.
    fn write_checkpoints(
        &self,
        writes: &[(String, Option<SnapshotRecord>)],
    ) -> Result<(), StoreError> {
        let _ = writes;
        Ok(())
    }

    /// After a crash (checkpoints left behind by sessions that were live): makes each
    /// checkpoint a hibernated record — unless a hibernated record is stored under the same ID,
    /// which is newer and stays — and removes every checkpoint, in one commit. Returns how
    /// many sessions came back this way.
    fn recover_checkpoints(&self) -> Result<usize, StoreError> {
        Ok(0)
    }

    /// How many live sessions' checkpoints are stored.
    fn checkpoints(&self) -> Result<usize, StoreError> {
        Ok(0)
    }
}

/// What went wrong in a snapshot store.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The store's file could not be read or written.
    #[error("i/o error on snapshot store `{}`: {source}", path.display())]
    Io {
        /// The store's file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a snapshot database, or it is damaged.
    #[error("snapshot store `{}` is not a valid database: {reason}", path.display())]
    InvalidDatabase {
        /// The store's file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The database failed for another reason (for example, another process has it open).
    #[error("snapshot store `{}` failed: {reason}", path.display())]
    Backend {
        /// The store's file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// A stored record could not be decoded.
    #[error("corrupt snapshot record{}: {reason}", for_session(id))]
    Corrupt {
        /// The session whose record it is (empty when decoded without a store).
        id: String,
        /// What is wrong with the bytes.
        reason: String,
    },
    /// A stored record was written in a format this host does not read.
    #[error(
        "snapshot record{} has format version {found}; this host reads version {supported}",
        for_session(id),
        supported = FORMAT_VERSION
    )]
    UnsupportedFormat {
        /// The session whose record it is (empty when decoded without a store).
        id: String,
        /// The format-version byte found.
        found: u8,
    },
}

impl StoreError {
    /// Names the session whose record failed to decode.
    pub(crate) fn with_id(self, session: &str) -> Self {
        match self {
            Self::Corrupt { reason, .. } => Self::Corrupt {
                id: session.to_owned(),
                reason,
            },
            Self::UnsupportedFormat { found, .. } => Self::UnsupportedFormat {
                id: session.to_owned(),
                found,
            },
            other => other,
        }
    }
}

fn for_session(id: &str) -> String {
    if id.is_empty() {
        String::new()
    } else {
        format!(" of session `{id}`")
    }
}

fn corrupt(reason: impl Into<String>) -> StoreError {
    StoreError::Corrupt {
        id: String::new(),
        reason: reason.into(),
    }
}

impl SnapshotRecord {
    /// The record in the stores' binary format (format [`FORMAT_VERSION`]):
    ///
    /// ```text
    /// version:u8  saved_at_ms:varint  last_active_ms:varint  guest:bytes  version:bytes  state:bytes  args:bytes
    /// timer_count:varint  { id:varint  due_at_ms:varint  message:bytes }*
    /// ```
    ///
    /// where `varint` is unsigned LEB128 and `bytes` is a varint length then the bytes. The
    /// vector is allocated at its exact size.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(FORMAT_VERSION);
        put_varint(&mut out, self.saved_at_ms);
        put_varint(&mut out, self.last_active_ms);
        put_bytes(&mut out, self.guest.as_bytes());
        put_bytes(&mut out, self.version.as_bytes());
        put_bytes(&mut out, &self.state);
        put_bytes(&mut out, &self.args);
        put_varint(&mut out, self.timers.len() as u64);
        for timer in &self.timers {
            put_varint(&mut out, timer.id);
            put_varint(&mut out, timer.due_at_ms);
            put_bytes(&mut out, &timer.message);
        }
        debug_assert_eq!(out.len(), self.encoded_len());
        out
    }

    /// The length of [`encode`](Self::encode)'s output.
    pub fn encoded_len(&self) -> usize {
        let timers: usize = self
            .timers
            .iter()
            .map(|t| varint_len(t.id) + varint_len(t.due_at_ms) + bytes_len(&t.message))
            .sum();
        1 + varint_len(self.saved_at_ms)
            + varint_len(self.last_active_ms)
            + bytes_len(self.guest.as_bytes())
            + bytes_len(self.version.as_bytes())
            + bytes_len(&self.state)
            + bytes_len(&self.args)
            + varint_len(self.timers.len() as u64)
            + timers
    }

    /// Reads a record written by [`encode`](Self::encode). Damaged bytes are
    /// [`StoreError::Corrupt`]; another format version is [`StoreError::UnsupportedFormat`].
    pub fn decode(bytes: &[u8]) -> Result<Self, StoreError> {
        let (&format, rest) = bytes.split_first().ok_or_else(|| corrupt("empty record"))?;
        if format != FORMAT_VERSION {
            return Err(StoreError::UnsupportedFormat {
                id: String::new(),
                found: format,
            });
        }
        let mut r = Reader { rest };
        let saved_at_ms = r.varint("saved_at_ms")?;
        let last_active_ms = r.varint("last_active_ms")?;
        let guest = r.string("guest")?;
        let version = r.string("version")?;
        let state = r.bytes("state")?.to_vec();
        let args = r.bytes("args")?.to_vec();
        let count = r.varint("timer count")?;
        // Each timer takes at least 3 bytes: bound the allocation by what is there.
        if count > (r.rest.len() / 3) as u64 {
            return Err(corrupt(format!(
                "{count} timers cannot fit in the {} bytes left",
                r.rest.len()
            )));
        }
        let mut timers = Vec::with_capacity(count as usize);
        for _ in 0..count {
            timers.push(TimerRecord {
                id: r.varint("timer id")?,
                due_at_ms: r.varint("timer due_at_ms")?,
                message: r.bytes("timer message")?.to_vec(),
            });
        }
        if !r.rest.is_empty() {
            return Err(corrupt(format!(
                "{} trailing bytes after the record",
                r.rest.len()
            )));
        }
        Ok(Self {
            guest,
            version,
            state,
            args,
            saved_at_ms,
            last_active_ms,
            timers,
        })
    }
}

fn varint_len(value: u64) -> usize {
    // 7 bits per byte; zero still takes one byte.
    (64 - (value | 1).leading_zeros() as usize).div_ceil(7)
}

fn bytes_len(bytes: &[u8]) -> usize {
    varint_len(bytes.len() as u64) + bytes.len()
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value & 0x7f) as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// The unread part of an encoded record.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn varint(&mut self, field: &str) -> Result<u64, StoreError> {
        let mut value = 0u64;
        for (i, &byte) in self.rest.iter().enumerate().take(10) {
            let bits = u64::from(byte & 0x7f);
            // The tenth byte may only hold the top bit of a u64.
            if i == 9 && byte > 1 {
                break;
            }
            value |= bits << (7 * i);
            if byte & 0x80 == 0 {
                self.rest = &self.rest[i + 1..];
                return Ok(value);
            }
        }
        if self.rest.len() < 10 && self.rest.iter().all(|b| b & 0x80 != 0) {
            Err(corrupt(format!("truncated in `{field}`")))
        } else {
            Err(corrupt(format!("`{field}` does not fit in 64 bits")))
        }
    }

    fn bytes(&mut self, field: &str) -> Result<&'a [u8], StoreError> {
        let len = self.varint(field)?;
        if len > self.rest.len() as u64 {
            return Err(corrupt(format!(
                "truncated in `{field}`: {len} bytes announced, {} left",
                self.rest.len()
            )));
        }
        let (bytes, rest) = self.rest.split_at(len as usize);
        self.rest = rest;
        Ok(bytes)
    }

    fn string(&mut self, field: &str) -> Result<String, StoreError> {
        let bytes = self.bytes(field)?;
        std::str::from_utf8(bytes)
            .map(str::to_owned)
            .map_err(|_| corrupt(format!("`{field}` is not utf-8")))
    }
}

#[cfg(test)]
pub(crate) mod conformance {
    //! Checks every [`SnapshotStore`] implementation must pass.

    use std::sync::Arc;

    use super::*;

    pub(crate) fn record(guest: &str, state: &[u8]) -> SnapshotRecord {
        SnapshotRecord {
            guest: guest.to_owned(),
            version: "0123456789abcdef".to_owned(),
            state: state.to_vec(),
            args: b"{}".to_vec(),
            saved_at_ms: 1_790_000_000_000,
            last_active_ms: 1_789_999_700_000,
            timers: vec![TimerRecord {
                id: 7,
                due_at_ms: 1_790_000_005_000,
                message: b"tick".to_vec(),
            }],
        }
    }

    /// Checkpoints of a durable store: written apart from hibernated records, replaced,
    /// removed, and recovered as hibernated records after a crash (a hibernated record under
    /// the same ID wins), on an empty store.
    pub(crate) fn checkpoints(store: &dyn SnapshotStore) {
        let old = record("counter", b"{\"value\":1}");
        let new = record("counter", b"{\"value\":2}");
        let hibernated = record("counter", b"{\"value\":9}");
        let writes = |w: &[(&str, Option<&SnapshotRecord>)]| {
            let w: Vec<_> = w
                .iter()
                .map(|(id, r)| ((*id).to_owned(), r.cloned()))
                .collect();
            store.write_checkpoints(&w).expect("write checkpoints");
        };
        writes(&[("a", Some(&old)), ("b", Some(&old)), ("c", Some(&old))]);
        writes(&[("a", Some(&new)), ("b", None)]);
        assert_eq!(store.checkpoints().expect("checkpoints"), 2);
        // Checkpoints are not hibernated sessions.
        assert!(!store.contains("a").expect("contains"));
        assert_eq!(store.len().expect("len"), 0);
        store.put("c", &hibernated).expect("put");

        assert_eq!(store.recover_checkpoints().expect("recover"), 1);
        assert_eq!(store.checkpoints().expect("checkpoints"), 0);
        assert_eq!(store.get("a").expect("get"), Some(new));
        assert_eq!(store.get("b").expect("get"), None, "removed");
        assert_eq!(
            store.get("c").expect("get"),
            Some(hibernated),
            "the newer record"
        );
        assert_eq!(store.recover_checkpoints().expect("recover"), 0);
    }

    /// Every trait method, on an empty store.
    pub(crate) fn exercise(store: &dyn SnapshotStore) {
        assert_eq!(store.len().expect("len"), 0);
        assert!(store.is_empty().expect("is_empty"));
        assert_eq!(store.get("a").expect("get"), None);
        assert_eq!(store.take("a").expect("take"), None);
        assert!(!store.remove("a").expect("remove"));
        assert!(!store.contains("a").expect("contains"));
        assert!(store.ids().expect("ids").is_empty());

        let a = record("counter", b"{\"value\":1}");
        let b = record("cart", &[]);
        store.put("a", &a).expect("put a");
        store.put("b", &b).expect("put b");
        assert_eq!(store.len().expect("len"), 2);
        assert!(!store.is_empty().expect("is_empty"));
        assert!(store.contains("a").expect("contains"));
        assert_eq!(store.get("a").expect("get").as_ref(), Some(&a));
        assert_eq!(store.get("b").expect("get").as_ref(), Some(&b));
        let mut ids = store.ids().expect("ids");
        ids.sort();
        assert_eq!(ids, ["a", "b"]);

        // Overwrite replaces, and does not add.
        let a2 = record("counter", b"{\"value\":2}");
        store.put("a", &a2).expect("overwrite");
        assert_eq!(store.len().expect("len"), 2);
        assert_eq!(store.get("a").expect("get"), Some(a2.clone()));

        // take removes and returns, once.
        assert_eq!(store.take("a").expect("take"), Some(a2));
        assert_eq!(store.take("a").expect("take again"), None);
        assert!(!store.contains("a").expect("contains"));
        assert_eq!(store.len().expect("len"), 1);

        // touch sets the last activity of an existing record only.
        assert!(store.touch("b", 42).expect("touch"));
        let touched = store.get("b").expect("get").expect("still there");
        assert_eq!(touched.last_active_ms, 42);
        assert_eq!(touched.state, b.state);
        assert!(!store.touch("a", 42).expect("touch a taken record"));
        assert!(
            !store.contains("a").expect("contains"),
            "touch brought it back"
        );

        assert!(store.remove("b").expect("remove"));
        assert!(!store.remove("b").expect("remove again"));
        assert_eq!(store.len().expect("len"), 0);
        assert!(store.ids().expect("ids").is_empty());
        store.flush().expect("flush");
    }

    /// 4 threads put 50 records each; all of them land.
    pub(crate) fn concurrent_puts(store: Arc<dyn SnapshotStore>) {
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    for i in 0..50 {
                        let state = format!("{t}:{i}");
                        store
                            .put(&format!("s-{t}-{i}"), &record("counter", state.as_bytes()))
                            .expect("put");
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("no thread panicked");
        }
        assert_eq!(store.len().expect("len"), 200);
        assert_eq!(store.ids().expect("ids").len(), 200);
        for t in 0..4 {
            for i in 0..50 {
                let got = store.get(&format!("s-{t}-{i}")).expect("get");
                assert_eq!(got.map(|r| r.state), Some(format!("{t}:{i}").into_bytes()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full_record() -> SnapshotRecord {
        SnapshotRecord {
            guest: "counter".into(),
            version: "9f86d081884c7d65".into(),
            state: b"{\"value\":41}".to_vec(),
            args: b"{\"start\":1}".to_vec(),
            saved_at_ms: 1_790_000_000_123,
            last_active_ms: 1_790_000_000_000,
            timers: vec![
                TimerRecord {
                    id: 0,
                    due_at_ms: 0,
                    message: Vec::new(),
                },
                TimerRecord {
                    id: 1,
                    due_at_ms: 1_790_000_001_000,
                    message: b"tick".to_vec(),
                },
                TimerRecord {
                    id: u64::MAX,
                    due_at_ms: u64::MAX,
                    message: vec![0xff; 300],
                },
            ],
        }
    }

    #[test]
    fn round_trips() {
        let cases = [
            SnapshotRecord::default(),
            full_record(),
            SnapshotRecord {
                state: (0..1 << 20).map(|i| (i % 251) as u8).collect(),
                ..full_record()
            },
        ];
        for record in cases {
            let bytes = record.encode();
            assert_eq!(bytes[0], FORMAT_VERSION);
            assert_eq!(bytes.len(), record.encoded_len());
            assert_eq!(SnapshotRecord::decode(&bytes).expect("decodes"), record);
        }
    }

    #[test]
    fn varints_round_trip_at_every_width() {
        for shift in 0..64 {
            for value in [1u64 << shift, (1u64 << shift) - 1, u64::MAX >> shift] {
                let mut out = Vec::new();
                put_varint(&mut out, value);
                assert_eq!(out.len(), varint_len(value), "{value}");
                let mut r = Reader { rest: &out };
                assert_eq!(r.varint("v").expect("decodes"), value);
                assert!(r.rest.is_empty());
            }
        }
    }

    #[test]
    fn every_truncation_is_corrupt() {
        let bytes = full_record().encode();
        for len in 0..bytes.len() {
            match SnapshotRecord::decode(&bytes[..len]) {
                Err(StoreError::Corrupt { .. }) => {}
                other => panic!("truncated to {len}: {other:?}"),
            }
        }
        let mut longer = bytes;
        longer.push(0);
        let err = SnapshotRecord::decode(&longer).expect_err("trailing byte");
        assert_eq!(
            err.to_string(),
            "corrupt snapshot record: 1 trailing bytes after the record"
        );
    }

    #[test]
    fn other_format_versions_are_refused() {
        let mut bytes = full_record().encode();
        for version in [0, 2, 0xff] {
            bytes[0] = version;
            match SnapshotRecord::decode(&bytes) {
                Err(StoreError::UnsupportedFormat { found, .. }) => assert_eq!(found, version),
                other => panic!("version {version}: {other:?}"),
            }
        }
        let err = SnapshotRecord::decode(&[2]).expect_err("v2").with_id("abc");
        assert_eq!(
            err.to_string(),
            "snapshot record of session `abc` has format version 2; this host reads version 1"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        let cases: [&[u8]; 6] = [
            &[],
            &[
                FORMAT_VERSION,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0x7f,
            ],
            &[FORMAT_VERSION, 0, 0xff, 0xff, 0xff, 0xff, 0x0f],
            &[FORMAT_VERSION, 0, 2, 0xc3, 0x28, 0, 0, 0, 0, 0],
            &[FORMAT_VERSION, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0x7f],
            b"\x01 this is not a snapshot record at all",
        ];
        for bytes in cases {
            match SnapshotRecord::decode(bytes) {
                Err(StoreError::Corrupt { reason, .. }) => assert!(!reason.is_empty()),
                other => panic!("{bytes:?}: {other:?}"),
            }
        }
        // A pseudo-random stream of inputs: any outcome but a panic.
        let mut x = 0x9e37_79b9_7f4a_7c15_u64;
        for _ in 0..2_000 {
            let mut bytes = vec![FORMAT_VERSION];
            for _ in 0..(x % 64) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                bytes.push(x as u8);
            }
            let _ = SnapshotRecord::decode(&bytes);
        }
    }

    #[test]
    fn counter_sized_records_are_small() {
        let id = "AAAAAAAAAAAAAAAAAAAAAA";
        assert_eq!(id.len(), 22);
        let record = SnapshotRecord {
            guest: "counter".into(),
            version: "0123456789abcdef".into(),
            state: vec![7; 16],
            args: Vec::new(),
            saved_at_ms: 1_790_000_000_000,
            last_active_ms: 1_789_999_700_000,
            timers: Vec::new(),
        };
        let encoded = record.encode().len();
        assert_eq!(encoded, 57);
        // What a memory store keeps per record, before the map's own overhead.
        assert!(encoded + id.len() <= 96, "{encoded} + {}", id.len());
    }

    #[test]
    fn errors_are_lowercase_and_name_the_path_or_session() {
        let errors = [
            StoreError::Io {
                path: "/data/snapshots.redb".into(),
                source: std::io::Error::other("disk full"),
            },
            StoreError::InvalidDatabase {
                path: "/data/snapshots.redb".into(),
                reason: "Invalid magic number".into(),
            },
            StoreError::Backend {
                path: "/data/snapshots.redb".into(),
                reason: "database already open".into(),
            },
            StoreError::Corrupt {
                id: "room-1".into(),
                reason: "truncated".into(),
            },
        ];
        for e in &errors {
            let msg = e.to_string();
            assert!(
                msg.chars().next().is_some_and(|c| c.is_lowercase()),
                "{msg}"
            );
            assert!(
                msg.contains("/data/snapshots.redb") || msg.contains("`room-1`"),
                "{msg}"
            );
        }
    }
}
