//! Live upgrade: moving running sessions to a new version of their guest (`migrate` policy).
//!
//! When a new version of a guest whose [`UpgradePolicy`](crate::UpgradePolicy) is `migrate`
//! is loaded, every live session on an older version is moved at its next idle point — under
//! its lock, after its queued casts, with no call waiting:
//!
//! 1. the old instance runs `terminate(upgrade)` and then `snapshot`;
//! 2. a new session object for the same ID is instantiated on the new version and runs
//!    `restore(state, old-version-hash)`;
//! 3. on success the registry entry is swapped in one step, the old object is retired (a
//!    caller that reached it meanwhile looks the ID up again and finds the new one), its
//!    timers are re-armed on the new instance, and its subscribers get a final `upgrade`
//!    event (they subscribe again to follow the new instance);
//! 4. if the snapshot is refused or `restore` errors or traps, the session stays on its old
//!    version, untouched, and the failure is recorded in its info (`upgrade_error`), the log
//!    and `sessionhost_upgrades_failed_total`.
//!
//! A busy session is retried a little later (up to a minute). The old version is unloaded
//! when its last session has moved or ended.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::SessionEvent;
use crate::guest::Guest;
use crate::reason::StopReason;
use crate::session::env::SessionEnv;
use crate::session::live::Live;
use crate::session::state::{Session, Slot};
use crate::session::supervisor::Recovery;

/// How often, and how long, a busy session is retried.
const RETRY_EVERY: Duration = Duration::from_millis(50);
const RETRY_FOR: Duration = Duration::from_secs(60);

/// Moves every live session of `guest`'s name on another version to `guest` (spawned).
pub(crate) fn migrate_all(env: &Arc<SessionEnv>, guest: &Arc<Guest>) {
    let sessions: Vec<Arc<Session>> = env
        .registry
        .sessions()
        .into_iter()
        .filter(|s| s.guest.name == guest.name && s.guest.version.hash != guest.version.hash)
        .collect();
    for session in sessions {
        let (env, guest) = (Arc::clone(env), Arc::clone(guest));
        env.tasks.clone().spawn(async move {
            let started = Instant::now();
            loop {
                match migrate(&env, &session, &guest).await {
                    Outcome::Busy if started.elapsed() < RETRY_FOR => {
                        tokio::time::sleep(RETRY_EVERY).await;
                    }
                    Outcome::Busy => {
                        session.set_upgrade_error("never idle long enough to migrate".into());
                        env.counters.upgrades_failed.add(1);
                        return;
                    }
                    _ => return,
                }
            }
        });
    }
}

/// What one attempt did.
enum Outcome {
    /// Moved to the new version.
    Moved,
    /// Messages were pending: try again later.
    Busy,
    /// Stayed on its version (the reason is recorded), or it had ended.
    Stayed,
}

async fn migrate(env: &Arc<SessionEnv>, old: &Arc<Session>, guest: &Arc<Guest>) -> Outcome {
    let mut slot = old.slot.lock().await;
    old.prepare_locked(&mut slot, env);
    if !old.is_live() {
        return Outcome::Stayed;
    }
    if !old.is_idle() {
        return Outcome::Busy;
    }
    let Slot::Live(live) = &mut *slot else {
        return Outcome::Stayed;
    };
    let reason = (&StopReason::Upgrade).into();
    let ended = old.run_on_own_account(env, live, |e, s| e.call_terminate(s, &reason));
    let state = match ended.and_then(|()| old.snapshot_locked(env, live)) {
        Ok(Some(state)) => state,
        Ok(None) => return stayed(env, old, "the guest does not support snapshots".into()),
        Err(failure) => {
            old.fail_locked(&mut slot, env, failure);
            return Outcome::Stayed;
        }
    };

    // The new instance, restored from the old one's state.
    let id = old.id();
    let began = Instant::now();
    let new = Arc::new(Session::new(env, id.clone(), Arc::clone(guest)));
    let Ok(mut new_slot) = new.slot.try_lock() else {
        return stayed(env, old, "internal: new session busy".into());
    };
    let mut new_live = match Live::start(env, &new, id.clone(), guest, began) {
        Ok(live) => live,
        Err(e) => return stayed(env, old, format!("instantiating the new version: {e}")),
    };
    let from_version = &old.guest.version.hash;
    match new.run_on_own_account(env, &mut new_live, |e, s| {
        e.call_restore(s, &state, from_version)
    }) {
        Ok(Ok(())) => {}
        Ok(Err(message)) => return stayed(env, old, format!("restore refused: {message}")),
        Err(failure) => return stayed(env, old, format!("restore failed: {}", failure.error)),
    }
    // Carry over what the old instance had: arguments (restarts), timers, activity.
    let Slot::Live(old_live) = &*slot else {
        return Outcome::Stayed;
    };
    new_live.recovery = Recovery::from_snapshot(&state, &old_live.init_args(), &guest.options);
    new_live.import_timers(old_live.export_timers());
    new.carry_over(old);
    if !old.mark_retired(false) {
        return Outcome::Busy; // a message arrived: the old instance keeps serving
    }
    new.set_live(&mut new_slot, new_live);
    env.registry.replace(Arc::clone(&new));
    // Retire the old object: it holds no `max_sessions` place of its own any more.
    *slot = Slot::Ended;
    env.reaper.forget(env, old);
    if let Some(events) = old.events_sender() {
        let _ = events.send(SessionEvent::Terminated(StopReason::Upgrade));
    }
    drop(slot);
    if let Some(deadline) = new.next_deadline_ms(env) {
        env.reaper.watch(env, &new, deadline);
    }
    drop(new_slot);
    env.counters.upgrades.add(1);
    tracing::info!(
        target: "sessionhost::session",
        event = "session.upgrade",
        session_id = %id,
        guest = %guest.name,
        from = %from_version,
        to = %guest.version,
        duration_us = began.elapsed().as_micros() as u64,
        "session moved to the new version"
    );
    Outcome::Moved
}

/// Records a failed migration: the session stays on its version.
fn stayed(env: &SessionEnv, session: &Session, reason: String) -> Outcome {
    tracing::warn!(
        target: "sessionhost::session",
        session_id = %session.id(),
        guest = %session.guest.name,
        version = %session.guest.version,
        %reason,
        "upgrade failed: the session stays on its version"
    );
    env.counters.upgrades_failed.add(1);
    session.set_upgrade_error(reason);
    Outcome::Stayed
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::config::{GuestOptions, UpgradePolicy};
    use crate::events::SessionEvent;
    use crate::session::resolver::{on_session, resolve};
    use crate::session::testkit::{self, call};

    /// The hostile guest again, under another version hash: a new version to migrate to.
    async fn next_version() -> Arc<Guest> {
        let options = GuestOptions {
            upgrade: UpgradePolicy::Migrate,
            ..GuestOptions::default()
        };
        let mut guest = testkit::hostile(options).await;
        guest.version.hash = "next-version".into();
        Arc::new(guest)
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn senders_racing_an_upgrade_reach_the_new_version_and_lose_nothing() {
        let env = testkit::env(testkit::config()).await;
        let old = testkit::start(&env, "moving").await;
        let mut old_events = testkit::subscribe(&env, &old);
        let senders: Vec<_> = (0..4)
            .map(|_| {
                let env = Arc::clone(&env);
                tokio::spawn(async move {
                    for _ in 0..25 {
                        let (_, result) = on_session(&env, "moving", None, |session| {
                            let env = Arc::clone(&env);
                            async move { call(&env, &session, json!({"op": "add", "n": 1})).await }
                        })
                        .await
                        .expect("the session is always found");
                        result.expect("every message is handled");
                        tokio::task::yield_now().await;
                    }
                })
            })
            .collect();
        let guest = next_version().await;
        migrate_all(&env, &guest);
        for sender in senders {
            sender.await.unwrap();
        }
        env.tasks.close();
        env.tasks.wait().await;

        assert_eq!(env.counters.upgrades.get(), 1);
        assert!(old.was_retired());
        let new = resolve(&env, "moving").await.unwrap();
        assert_eq!(new.guest.version.hash, "next-version");
        let total = call(&env, &new, json!({"op": "add", "n": 0}))
            .await
            .unwrap();
        assert_eq!(
            total["value"], 100,
            "the state moved with every message in it"
        );
        assert_eq!(env.live.load(std::sync::atomic::Ordering::SeqCst), 1);
        // The old instance's subscribers are told it moved.
        let mut last = None;
        while let Ok(event) = old_events.try_recv() {
            last = Some(event);
        }
        assert!(matches!(
            last,
            Some(SessionEvent::Terminated(StopReason::Upgrade))
        ));
    }

    #[tokio::test]
    async fn a_session_whose_state_does_not_restore_stays_on_its_version() {
        let env = testkit::env(testkit::config()).await;
        let session = testkit::start_with(&env, "stuck", json!({"mode": "trap_restore"})).await;
        let guest = next_version().await;
        migrate_all(&env, &guest);
        env.tasks.close();
        env.tasks.wait().await;
        assert_eq!(env.counters.upgrades_failed.get(), 1);
        let found = resolve(&env, "stuck").await.unwrap();
        assert!(Arc::ptr_eq(&found, &session), "the same object serves on");
        assert_ne!(found.guest.version.hash, "next-version");
        assert!(session.info(&env).upgrade_error.is_some());
        assert_eq!(
            call(&env, &found, json!({"op": "count"})).await.unwrap()["calls"],
            0
        );
    }
}
