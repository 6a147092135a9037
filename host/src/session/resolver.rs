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

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use serde_json::json;

    use super::*;
    use crate::info::HibernateOutcome;
    use crate::reason::StopReason;
    use crate::session::hibernate::hibernate_now;
    use crate::session::lifecycle::Ending;
    use crate::session::testkit::{self, call};

    /// Adds `n` to the session's counter through the resolver; the counter's new value.
    async fn add(env: &Arc<SessionEnv>, id: &str, n: i64) -> Result<i64, SessionError> {
        let (_, result) = on_session(env, id, None, |session| async move {
            call(env, &session, json!({"op": "add", "n": n})).await
        })
        .await?;
        Ok(result?["value"].as_i64().expect("a value"))
    }

    /// A session started under `id` and hibernated (its object retired).
    async fn hibernated(env: &Arc<SessionEnv>, id: &str) -> Arc<Session> {
        let session = testkit::start(env, id).await;
        assert_eq!(
            hibernate_now(&session, env).await,
            HibernateOutcome::Hibernated
        );
        assert!(session.was_retired() && env.is_hibernated(id));
        session
    }

    #[tokio::test]
    async fn an_unknown_id_is_not_found_and_a_malformed_one_is_invalid() {
        let env = testkit::env(testkit::config()).await;
        assert!(matches!(
            resolve(&env, "nobody").await,
            Err(SessionError::SessionNotFound)
        ));
        assert!(matches!(
            resolve(&env, "no spaces").await,
            Err(SessionError::InvalidSessionId { .. })
        ));
        assert!(!exists(&env, "nobody"));
    }

    #[tokio::test]
    async fn a_live_session_is_the_one_registered() {
        let env = testkit::env(testkit::config()).await;
        let session = testkit::start(&env, "live").await;
        let found = resolve(&env, "live").await.unwrap();
        assert!(Arc::ptr_eq(&found, &session));
        assert!(exists(&env, "live"));
        assert_eq!(env.counters.woken.get(), 0);
    }

    #[tokio::test]
    async fn a_hibernated_session_is_woken_with_its_state() {
        let env = testkit::env(testkit::config()).await;
        let old = testkit::start(&env, "sleeper").await;
        assert_eq!(add(&env, "sleeper", 5).await.unwrap(), 5);
        assert_eq!(
            hibernate_now(&old, &env).await,
            HibernateOutcome::Hibernated
        );
        assert!(exists(&env, "sleeper"), "a hibernated session exists");
        let woken = resolve(&env, "sleeper").await.unwrap();
        assert!(!Arc::ptr_eq(&woken, &old) && woken.is_live());
        assert!(!env.is_hibernated("sleeper"), "its record is gone");
        assert_eq!(add(&env, "sleeper", 1).await.unwrap(), 6);
        assert_eq!(env.counters.woken.get(), 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn racing_wakes_register_one_object_and_every_waker_gets_it() {
        let env = testkit::env(testkit::config()).await;
        hibernated(&env, "popular").await;
        let start = Arc::new(tokio::sync::Barrier::new(8));
        let wakers: Vec<_> = (0..8)
            .map(|_| {
                let (env, start) = (Arc::clone(&env), Arc::clone(&start));
                tokio::spawn(async move {
                    start.wait().await;
                    resolve(&env, "popular").await
                })
            })
            .collect();
        let mut found = Vec::new();
        for waker in wakers {
            found.push(waker.await.unwrap().expect("every waker finds the session"));
        }
        assert!(found.iter().all(|s| Arc::ptr_eq(s, &found[0])));
        assert_eq!(env.counters.woken.get(), 1, "woken once");
        assert_eq!(env.live.load(Ordering::SeqCst), 1, "one max_sessions place");
        assert!(!env.is_hibernated("popular"));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_sender_that_meets_a_retired_object_waits_for_its_successor() {
        let env = testkit::env(testkit::config()).await;
        let old = testkit::start(&env, "moving").await;
        // What an upgrade does: under the old object's lock, retire it (no record goes to
        // the store) and register its replacement.
        let slot = old.slot.lock().await;
        assert!(old.mark_retired(false));
        let sender = {
            let env = Arc::clone(&env);
            tokio::spawn(async move { resolve(&env, "moving").await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !sender.is_finished(),
            "it waits while the replacement is made"
        );
        let new = testkit::start(&env, "moving").await;
        drop(slot);
        let found = sender.await.unwrap().unwrap();
        assert!(Arc::ptr_eq(&found, &new), "it gets the successor");
    }

    #[tokio::test]
    async fn a_retired_object_without_a_successor_ends_in_not_found() {
        let env = testkit::env(testkit::config()).await;
        let old = testkit::start(&env, "orphan").await;
        // Retired, still registered, nothing stored and no lock held: a replacement that
        // failed and was never cleaned up. The resolver must not spin forever on it.
        assert!(old.mark_retired(false));
        assert!(matches!(
            resolve(&env, "orphan").await,
            Err(SessionError::SessionNotFound)
        ));
    }

    #[tokio::test]
    async fn an_operation_refused_by_a_retired_object_runs_again_on_its_successor() {
        let env = testkit::env(testkit::config()).await;
        let first = testkit::start(&env, "handle").await;
        let attempts = AtomicUsize::new(0);
        let (ran_on, result) = on_session(&env, "handle", Some(Arc::clone(&first)), |session| {
            let attempt = attempts.fetch_add(1, Ordering::SeqCst);
            let env = Arc::clone(&env);
            async move {
                if attempt == 0 {
                    // Retired just as the operation reached it; its successor registers.
                    assert!(session.mark_retired(false));
                    testkit::start(&env, "handle").await;
                    return Err(SessionError::SessionNotFound);
                }
                call(&env, &session, json!({"op": "add", "n": 1})).await
            }
        })
        .await
        .unwrap();
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        assert!(!Arc::ptr_eq(&ran_on, &first));
        assert_eq!(result.unwrap()["value"], 1);
    }

    #[tokio::test]
    async fn an_operation_refused_by_an_ended_session_is_not_retried() {
        let env = testkit::env(testkit::config()).await;
        let session = testkit::start(&env, "gone").await;
        session
            .terminate(&env, StopReason::Normal, Ending::Now)
            .await
            .unwrap();
        let attempts = AtomicUsize::new(0);
        let (_, result) = on_session(&env, "gone", Some(session), |session| {
            attempts.fetch_add(1, Ordering::SeqCst);
            let env = Arc::clone(&env);
            async move { call(&env, &session, json!({"op": "count"})).await }
        })
        .await
        .unwrap();
        assert!(matches!(result, Err(SessionError::SessionNotFound)));
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            1,
            "an ended session's refusal stands"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn messages_racing_hibernation_all_arrive() {
        let env = testkit::env(testkit::config()).await;
        testkit::start(&env, "busy").await;
        let rounds = 40;
        for _ in 0..rounds {
            let session = resolve(&env, "busy").await.unwrap();
            let sleeper = {
                let env = Arc::clone(&env);
                tokio::spawn(async move { hibernate_now(&session, &env).await })
            };
            add(&env, "busy", 1).await.expect("no message is lost");
            sleeper.await.unwrap();
        }
        assert_eq!(add(&env, "busy", 0).await.unwrap(), rounds);
        assert!(env.counters.hibernated.get() >= env.counters.woken.get());
        assert_eq!(env.live.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_touch_reaches_a_hibernated_record_without_waking_it() {
        let env = testkit::env(testkit::config()).await;
        hibernated(&env, "dozing").await;
        let before = env.store.get("dozing").unwrap().unwrap().last_active_ms;
        std::thread::sleep(Duration::from_millis(5));
        touch(&env, "dozing").unwrap();
        let after = env.store.get("dozing").unwrap().unwrap().last_active_ms;
        assert!(
            after > before,
            "the record's activity moved: {before} → {after}"
        );
        assert_eq!(env.counters.woken.get(), 0);
        assert!(!env.registry.contains_live("dozing"));
        assert!(matches!(
            touch(&env, "nobody"),
            Err(SessionError::SessionNotFound)
        ));
    }
}
