//! The resolver: the one place that answers "which session object serves this ID now?".
//!
//! An ID maps to at most one live session object at a time, but objects are replaced under
//! it: a hibernating session's object is *retired* (its state moves to the snapshot store,
//! and the next message wakes a new object), and a session that moves to a new guest version
//! is replaced by a new object in one step. A sender may meet a retired object at any moment.
//! The rules, all here:
//!
//! - **Lookup** ([`resolve`]): a live object in the registry serves; else a record in the
//!   store is woken (instantiated, `restore`d, registered); else the session does not exist.
//! - **Successor**: a retired object in the registry with no record in the store is being
//!   replaced right now (an upgrade, or a wake whose record was already removed), and always
//!   under the retired object's lock. Waiting for that lock is waiting for the replacement to
//!   be registered; then the lookup runs again. No polling.
//! - **Operations** ([`on_session`]): an operation that reaches an object just as it is
//!   retired is refused (`session_not_found` from a retired object); it is run again on the
//!   successor. Each attempt finds a newer object; the number of attempts is bounded, so a
//!   session that keeps retiring under a sender cannot hold it forever.
//! - **Touch** ([`touch`]): updates a live object's activity, or a hibernated record's,
//!   without waking anything.
//! - **Start** is [`start_session`](crate::session::lifecycle::start_session); a wake is a
//!   start from a record.

use std::sync::Arc;

use crate::error::SessionError;
use crate::session::env::SessionEnv;
use crate::session::hibernate::blocking;
use crate::session::state::Session;

/// Attempts an operation makes before it gives a retired object's refusal back.
const RETIRED_ATTEMPTS: u32 = 16;

/// The live session object under `id`: registered, woken from the store, or the successor
/// of a retired one. `session_not_found` when there is none.
pub(crate) async fn resolve(env: &Arc<SessionEnv>, id: &str) -> Result<Arc<Session>, SessionError> {
    for _ in 0..RETIRED_ATTEMPTS {
        match env.registry.get_any(id) {
            Some(session) if !session.was_retired() => return Ok(session),
            retired => match blocking(|| env.store.get(id)) {
                Ok(Some(record)) => match env.wake(id, record).await {
                    // Another waker registered it first: the next lookup finds it.
                    Err(SessionError::AlreadyStarted) => continue,
                    woken => return woken,
                },
                Ok(None) => match retired.or_else(|| env.registry.get_any(id)) {
                    // Being replaced under its lock: once we have the lock, it is done.
                    Some(session) if session.was_retired() => drop(session.slot.lock().await),
                    Some(session) => return Ok(session),
                    None => return Err(crate::id::not_found(id)),
                },
                Err(error) => return Err(env.unreadable(id, error)),
            },
        }
    }
    env.registry
        .get_live(id)
        .ok_or_else(|| crate::id::not_found(id))
}

/// Runs `op` on the session `id` — woken first if it is hibernated — and returns the object
/// it ran on with the result. `first` is an object found earlier for this ID (a handle's):
/// tried first while it is live, so a handle does not look its ID up again. When the object
/// was retired meanwhile and refused, `op` runs again on its successor (see the module docs).
pub(crate) async fn on_session<T, Fut>(
    env: &Arc<SessionEnv>,
    id: &str,
    first: Option<Arc<Session>>,
    mut op: impl FnMut(Arc<Session>) -> Fut,
) -> Result<(Arc<Session>, Result<T, SessionError>), SessionError>
where
    Fut: Future<Output = Result<T, SessionError>>,
{
    let mut first = first.filter(|session| !session.was_retired());
    let mut attempt = 1;
    loop {
        let session = match first.take() {
            Some(session) => session,
            None => resolve(env, id).await?,
        };
        let result = op(Arc::clone(&session)).await;
        let refused = matches!(result, Err(SessionError::SessionNotFound));
        if !(refused && session.was_retired()) || attempt == RETIRED_ATTEMPTS {
            return Ok((session, result));
        }
        attempt += 1;
    }
}

/// Marks the session `id` active now without waking it: a live object's activity, or a
/// hibernated record's.
pub(crate) fn touch(env: &SessionEnv, id: &str) -> Result<(), SessionError> {
    // Live, hibernated, or between the two: a session being hibernated has its record stored
    // before its object is retired, and a woken one is registered before its record goes,
    // so one of the lookups below finds it. A touch cannot wait for a lock (it is not async):
    // it tries again, as often as an operation would.
    for _ in 0..RETIRED_ATTEMPTS {
        if let Some(session) = env.registry.get_live(id)
            && session.touch_unless_retired(env)
        {
            return Ok(());
        }
        if env.touch_hibernated(id)? {
            return Ok(());
        }
        if !env.registry.contains(id) {
            return Err(crate::id::not_found(id));
        }
        std::thread::yield_now();
    }
    Err(crate::id::not_found(id))
}

/// Whether a session has this ID: live, or hibernated (its next message wakes it).
pub(crate) fn exists(env: &SessionEnv, id: &str) -> bool {
    // A wake registers the session, then removes its record: between the two lookups below
    // it may have done both, so the registry is asked again last.
    env.registry.contains(id) || env.is_hibernated(id) || env.registry.contains(id)
}
