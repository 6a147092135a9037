//! The session registry: ID → live session.
//!
//! A sharded concurrent map ([`DashMap`]) with a seeded fast hasher (foldhash): lookups from
//! many threads rarely touch the same shard lock, and an attacker who picks session IDs cannot
//! predict bucket placement. The registry holds the only long-lived strong reference to each
//! session; callers clone the `Arc` for the duration of one operation.
//!
//! Invariant: an entry is removed only by the session it points to ([`remove_if_same`]), so an
//! ID that was ended and started again is never removed by the old session's late cleanup.
//!
//! [`remove_if_same`]: SessionRegistry::remove_if_same

use std::sync::Arc;

use dashmap::DashMap;
use dashmap::mapref::entry::Entry;

use crate::error::SessionError;
use crate::id::SessionId;
use crate::session::Session;

type Map = DashMap<SessionId, Arc<Session>, foldhash::fast::RandomState>;

/// ID → session. See the module docs.
pub(crate) struct SessionRegistry {
    map: Map,
}

impl SessionRegistry {
    pub(crate) fn new(capacity_hint: usize) -> Self {
        let shards = (std::thread::available_parallelism().map_or(4, |n| n.get()) * 16)
            .next_power_of_two()
            .max(64);
        Self {
            map: DashMap::with_capacity_and_hasher_and_shard_amount(
                capacity_hint.min(1 << 16),
                foldhash::fast::RandomState::default(),
                shards,
            ),
        }
    }

    pub(crate) fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.map.get(id).map(|s| Arc::clone(s.value()))
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.map.contains_key(id)
    }

    /// Registers a new session; fails if the ID is taken.
    pub(crate) fn insert_new(&self, session: Arc<Session>) -> Result<(), SessionError> {
        match self.map.entry(session.id.clone()) {
            Entry::Occupied(_) => Err(SessionError::AlreadyStarted),
            Entry::Vacant(slot) => {
                slot.insert(session);
                Ok(())
            }
        }
    }

    /// Removes `id` if it still maps to `session`.
    pub(crate) fn remove_if_same(&self, id: &str, session: &Arc<Session>) {
        self.map
            .remove_if(id, |_, current| Arc::ptr_eq(current, session));
    }

    pub(crate) fn ids(&self) -> Vec<SessionId> {
        self.map.iter().map(|e| e.key().clone()).collect()
    }

    pub(crate) fn sessions(&self) -> Vec<Arc<Session>> {
        self.map.iter().map(|e| Arc::clone(e.value())).collect()
    }
}
