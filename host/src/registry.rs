//! The session registry: ID → live session.
//!
//! A lock-free concurrent hash map ([`papaya`]) with a seeded fast hasher (foldhash). Lookups
//! — the most frequent operation of the host — write no shared memory: a reader-writer lock
//! per shard (as in a sharded map) would bounce its cache line between cores on every read.
//! Hash seeds are random per process, so an attacker who picks session IDs cannot aim at
//! one bucket. The registry holds the only long-lived strong reference to each session;
//! callers clone the `Arc` for the duration of one operation.
//!
//! Invariant: an entry is removed only by the session it points to ([`remove_if_same`]), so an
//! ID that was ended and started again is never removed by the old session's late cleanup.
//!
//! [`remove_if_same`]: SessionRegistry::remove_if_same

use std::sync::Arc;

use crate::error::SessionError;
use crate::id::SessionId;
use crate::session::Session;

type Map = papaya::HashMap<SessionId, Arc<Session>, foldhash::fast::RandomState>;

/// ID → session. See the module docs.
pub(crate) struct SessionRegistry {
    map: Map,
}

impl SessionRegistry {
    pub(crate) fn new(capacity_hint: usize) -> Self {
        Self {
            map: papaya::HashMap::builder()
                .capacity(capacity_hint.min(1 << 16))
                .hasher(foldhash::fast::RandomState::default())
                .build(),
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.map.pin().get(id).cloned()
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.map.pin().contains_key(id)
    }

    /// Registers a new session; fails if the ID is taken.
    pub(crate) fn insert_new(&self, session: Arc<Session>) -> Result<(), SessionError> {
        if self.insert_as(session.id(), session) {
            Ok(())
        } else {
            Err(SessionError::AlreadyStarted)
        }
    }

    /// Registers `session` under `id` unless the ID is taken; true when registered.
    pub(crate) fn insert_as(&self, id: SessionId, session: Arc<Session>) -> bool {
        self.map.pin().try_insert(id, session).is_ok()
    }

    /// Removes `id` if it still maps to `session`.
    /// Puts `session` in place of whatever is registered under its ID, in one step (no
    /// lookup in between finds nothing).
    pub(crate) fn replace(&self, session: Arc<Session>) {
        self.map.pin().insert(session.id(), session);
    }

    pub(crate) fn remove_if_same(&self, id: &str, session: &Arc<Session>) {
        let _ = self
            .map
            .pin()
            .remove_if(id, |_, current| Arc::ptr_eq(current, session));
    }

    pub(crate) fn ids(&self) -> Vec<SessionId> {
        self.map.pin().keys().cloned().collect()
    }

    pub(crate) fn sessions(&self) -> Vec<Arc<Session>> {
        self.map.pin().values().cloned().collect()
    }
}
