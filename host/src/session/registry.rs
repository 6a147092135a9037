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
//! A retired session (hibernated, see `hibernate.rs`) stays in the map for the moment
//! between its retirement and its removal. [`get_live`] does not return it, and
//! [`insert_new`] replaces it: a sender that meets it goes on to wake the session at once,
//! whatever the retiring thread is doing, instead of waiting for it to finish.
//!
//! [`remove_if_same`]: SessionRegistry::remove_if_same
//! [`get_live`]: SessionRegistry::get_live
//! [`insert_new`]: SessionRegistry::insert_new

use std::sync::Arc;

use papaya::{Compute, Operation};

use crate::error::SessionError;
use crate::id::SessionId;
use crate::session::state::Session;

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

    /// The session under `id` unless the object there was retired (its successor is in the
    /// snapshot store, or about to be registered).
    pub(crate) fn get_live(&self, id: &str) -> Option<Arc<Session>> {
        self.map
            .pin()
            .get(id)
            .filter(|session| !session.was_retired())
            .cloned()
    }

    /// The object under `id`, retired or not.
    pub(crate) fn get_any(&self, id: &str) -> Option<Arc<Session>> {
        self.map.pin().get(id).cloned()
    }

    pub(crate) fn contains(&self, id: &str) -> bool {
        self.map.pin().contains_key(id)
    }

    /// Whether a session that is not retired is registered under `id`.
    pub(crate) fn contains_live(&self, id: &str) -> bool {
        self.map
            .pin()
            .get(id)
            .is_some_and(|session| !session.was_retired())
    }

    /// Registers a new session, in place of a retired one under its ID (its successor);
    /// fails if a session that is not retired holds the ID.
    pub(crate) fn insert_new(&self, session: Arc<Session>) -> Result<(), SessionError> {
        let map = self.map.pin();
        let outcome = map.compute(session.id(), |entry| match entry {
            Some((_, current)) if !current.was_retired() => Operation::Abort(()),
            _ => Operation::Insert(Arc::clone(&session)),
        });
        match outcome {
            Compute::Aborted(()) => Err(SessionError::AlreadyStarted),
            _ => Ok(()),
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

    /// `f` summed over the registered sessions, without collecting them.
    pub(crate) fn sum(&self, f: impl Fn(&Session) -> usize) -> usize {
        self.map.pin().values().map(|session| f(session)).sum()
    }

    pub(crate) fn sessions(&self) -> Vec<Arc<Session>> {
        self.map.pin().values().cloned().collect()
    }
}
