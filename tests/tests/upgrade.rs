//! Hot-load and live upgrade: `keep` leaves running sessions on their version, `migrate`
//! moves them at their next idle point with their state, and a version whose `restore` fails
//! is rolled back (the session stays where it was, the failure is reported).

#![expect(clippy::unwrap_used, reason = "test helpers panic on a broken fixture")]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde_json::json;
use sessionhost::{GuestOptions, Host, SessionId, SessionInfo, StartOptions, UpgradePolicy};
use sessionhost::{GuestSource, LoadOptions};
use sessionhost_tests::support::{self, call, cast, eventually};
use sessionhost_tests::{guest_bytes, guests};

fn migrate() -> GuestOptions {
    GuestOptions {
        upgrade: UpgradePolicy::Migrate,
        ..GuestOptions::default()
    }
}

async fn host_with(name: &str, path: &str, options: GuestOptions) -> Host {
    let host = Host::new(support::config().build().unwrap()).unwrap();
    host.load_guest(name, GuestSource::file(path), options)
        .await
        .unwrap();
    host
}

/// The same component with a custom section appended: another version (another hash) of
/// identical code.
fn another_build(bytes: &[u8]) -> Vec<u8> {
    let name = b"sessionhost-test-build";
    let payload = b"2";
    let mut section = vec![u8::try_from(name.len()).unwrap()];
    section.extend_from_slice(name);
    section.extend_from_slice(payload);
    let mut out = bytes.to_vec();
    out.push(0); // custom section id
    out.push(u8::try_from(section.len()).unwrap()); // size (< 128: one LEB128 byte)
    out.extend_from_slice(&section);
    out
}

fn version_label(host: &Host, id: &str) -> Option<String> {
    host.info(id).ok().and_then(|i| i.version.label)
}

/// A host with the SDK counter loaded under `migrate`, and a session of it at 41.
async fn counter_at_41() -> (Host, SessionId) {
    let host = host_with("counter", guests::COUNTER, migrate()).await;
    let id = host.start(StartOptions::guest("counter")).await.unwrap();
    call(&host, &id, json!({"op":"incr","by":41}))
        .await
        .unwrap();
    (host, id)
}

/// Waits until the session reports a failed upgrade, and returns its info.
async fn failed_upgrade(host: &Host, id: &str) -> SessionInfo {
    eventually("the failure is reported", || {
        host.info(id).is_ok_and(|i| i.upgrade_error.is_some())
    })
    .await;
    host.info(id).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_moves_a_counter_at_41_to_the_new_version_with_its_state() {
    let (host, id) = counter_at_41().await;
    let mut events = host.subscribe(&id).unwrap();

    // The lean counter reads the SDK counter's snapshots.
    let lean = guest_bytes(guests::COUNTER_LEAN);
    host.load_guest("counter", &lean, LoadOptions::label("2.0"))
        .await
        .unwrap();
    eventually("the session moved", || {
        version_label(&host, &id).as_deref() == Some("2.0")
    })
    .await;
    assert_eq!(
        call(&host, &id, json!({"op":"get"})).await.unwrap(),
        json!({"value":41})
    );
    assert_eq!(
        call(&host, &id, json!({"op":"incr"})).await.unwrap(),
        json!({"value":42})
    );
    // Subscribers of the old instance were told; the session itself lives on.
    assert_eq!(
        support::terminated(&mut events).await,
        sessionhost::StopReason::Upgrade
    );
    let metrics = host.metrics();
    assert_eq!(metrics.counters.upgrades_total, 1);
    assert_eq!(host.stats().sessions, 1);
    // Only the new version is in use.
    let versions = host.sessions_by_version();
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(host.info(&id).unwrap().upgrade_error, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_whose_restore_fails_is_rolled_back() {
    // restore refuses: the cart cannot read a counter's snapshot.
    let (host, id) = counter_at_41().await;
    let old = host.info(&id).unwrap().version;
    host.load_guest(
        "counter",
        &guest_bytes(guests::CART),
        LoadOptions::label("cart"),
    )
    .await
    .unwrap();
    let info = failed_upgrade(&host, &id).await;
    assert_eq!(info.version, old, "it stays on its version");
    assert!(
        info.upgrade_error
            .as_deref()
            .unwrap()
            .contains("restore refused"),
        "{info:?}"
    );
    assert_eq!(
        call(&host, &id, json!({"op":"incr"})).await.unwrap(),
        json!({"value":42})
    );
    assert_eq!(host.metrics().counters.upgrades_failed_total, 1);

    // restore traps: the hostile guest's `trap_restore` state, on another build of itself.
    let host = host_with("hostile", guests::HOSTILE, migrate()).await;
    let id = host
        .start(StartOptions::guest("hostile").args(r#"{"mode":"trap_restore"}"#))
        .await
        .unwrap();
    cast(&host, &id, json!({"op":"record","n":7}))
        .await
        .unwrap();
    let rebuilt = another_build(&guest_bytes(guests::HOSTILE));
    host.load_guest("hostile", &rebuilt, LoadOptions::label("rebuilt"))
        .await
        .unwrap();
    let info = failed_upgrade(&host, &id).await;
    assert!(
        info.upgrade_error
            .as_deref()
            .unwrap()
            .contains("restore failed"),
        "{info:?}"
    );
    assert_eq!(info.version.label, None, "still the first build");
    assert_eq!(
        call(&host, &id, json!({"op":"casts"})).await.unwrap(),
        json!({"seen":[7]})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_leaves_running_sessions_on_their_version() {
    let host = host_with("counter", guests::COUNTER, GuestOptions::default()).await;
    let old_session = host.start(StartOptions::guest("counter")).await.unwrap();
    call(&host, &old_session, json!({"op":"incr","by":5}))
        .await
        .unwrap();
    host.load_guest(
        "counter",
        &guest_bytes(guests::COUNTER_LEAN),
        LoadOptions::label("2.0"),
    )
    .await
    .unwrap();
    let new_session = host.start(StartOptions::guest("counter")).await.unwrap();
    assert_eq!(version_label(&host, &old_session), None);
    assert_eq!(version_label(&host, &new_session).as_deref(), Some("2.0"));
    assert_eq!(host.sessions_by_version().len(), 2);
    assert_eq!(
        call(&host, &old_session, json!({"op":"incr"}))
            .await
            .unwrap(),
        json!({"value":6})
    );
    // A corrupt component never replaces the current version.
    let error = host
        .load_guest("counter", b"\0asm garbage", LoadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.name, "counter");
    let third = host.start(StartOptions::guest("counter")).await.unwrap();
    assert_eq!(version_label(&host, &third).as_deref(), Some("2.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guests_directory_is_hot_loaded_and_bad_files_change_nothing() {
    let root = std::env::temp_dir().join(format!("sessionhost-guests-dir-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let (dir, cache) = (root.join("guests"), root.join("compiled"));
    let logs = support::guest_logs();
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("counter.wasm"), guest_bytes(guests::COUNTER)).unwrap();
    std::fs::write(dir.join("not-a-guest.txt"), b"ignored").unwrap();
    let host = Host::new(support::config().compile_cache_dir(&cache).build().unwrap()).unwrap();
    let options = [("counter".to_string(), migrate())].into();
    let (_watching, loaded) = sessionhost::GuestsDir::watch(host.clone(), &dir, options)
        .await
        .unwrap();
    assert_eq!(loaded.len(), 1);
    assert!(loaded[0].1.is_ok(), "{loaded:?}");
    // Compiled code went to the cache directory.
    assert!(std::fs::read_dir(&cache).unwrap().next().is_some());

    let id = host.start(StartOptions::guest("counter")).await.unwrap();
    call(&host, &id, json!({"op":"incr","by":41}))
        .await
        .unwrap();
    let first = host.info(&id).unwrap().version.hash;

    // A garbage file is refused; the current version keeps serving.
    let file = dir.join("counter.wasm");
    std::fs::write(&file, b"\0asm not really").unwrap();
    let refusal = format!("file={} ", file.display());
    eventually("the watcher rejected the garbage file", || {
        logs.containing("guest file rejected")
            .iter()
            .any(|(_, fields)| fields.contains(&refusal))
    })
    .await;
    assert_eq!(host.guests().len(), 1);
    assert_eq!(host.guests()[0].version.hash, first);

    // A new version dropped in: loaded, and the session migrates with its state.
    let lean = guest_bytes(guests::COUNTER_LEAN);
    std::fs::write(dir.join("counter.wasm"), &lean).unwrap();
    eventually("the session moved to the new file's version", || {
        host.info(&id).is_ok_and(|i| i.version.hash != first)
    })
    .await;
    assert_eq!(
        call(&host, &id, json!({"op":"get"})).await.unwrap(),
        json!({"value":41})
    );
    // A new guest file is a new guest.
    std::fs::write(dir.join("cart.wasm"), guest_bytes(guests::CART)).unwrap();
    eventually("the cart guest appears", || {
        host.guests().iter().any(|g| g.name == "cart")
    })
    .await;
    let _ = std::fs::remove_dir_all(&root);
}

/// Messages that race a live upgrade all reach the session: a sender that meets the old
/// object as it is retired waits for the new one to take its place, never answered
/// `session_not_found`. Eight sessions take casts and calls from their own tasks, without
/// pause, for as long as the guest is upgraded back and forth; every message is accepted
/// and counted once, and the sessions moved while the messages flowed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_racing_an_upgrade_all_reach_the_session() {
    let host = host_with("counter", guests::COUNTER, migrate()).await;
    let builds = [
        guest_bytes(guests::COUNTER),
        another_build(&guest_bytes(guests::COUNTER)),
    ];
    // Both builds compiled once before the race, so the upgrades below are quick.
    for build in builds.iter().rev() {
        host.load_guest("counter", build, LoadOptions::default())
            .await
            .unwrap();
    }
    let mut ids = Vec::new();
    for _ in 0..8 {
        ids.push(host.start(StartOptions::guest("counter")).await.unwrap());
    }
    let done = Arc::new(AtomicBool::new(false));
    let senders: Vec<_> = ids
        .iter()
        .map(|id| {
            let (host, id, done) = (host.clone(), id.clone(), Arc::clone(&done));
            tokio::spawn(async move {
                let mut sent = 0_u64;
                while !done.load(Ordering::Relaxed) {
                    if sent.is_multiple_of(4) {
                        call(&host, &id, json!({"op":"incr"})).await.map(drop)
                    } else {
                        cast(&host, &id, json!({"op":"incr"})).await
                    }
                    .unwrap_or_else(|e| panic!("message {sent}: {e}"));
                    sent += 1;
                    if sent.is_multiple_of(16) {
                        tokio::task::yield_now().await;
                    }
                }
                sent
            })
        })
        .collect();
    let before = host.metrics().counters.upgrades_total;
    for round in 0..6 {
        let loaded = host
            .load_guest("counter", &builds[round % 2], LoadOptions::default())
            .await
            .unwrap();
        // The next upgrade waits until this one has reached every session, messages flowing.
        eventually("every session moved to the version just loaded", || {
            ids.iter().all(|id| {
                host.info(id)
                    .is_ok_and(|info| info.version.hash == loaded.version.hash)
            })
        })
        .await;
    }
    let moved = host.metrics().counters.upgrades_total - before;
    done.store(true, Ordering::Relaxed);
    for (id, sender) in ids.iter().zip(senders) {
        let sent = sender.await.unwrap();
        assert!(sent > 0, "{id}: sent nothing");
        assert_eq!(
            call(&host, id, json!({"op":"get"})).await.unwrap(),
            json!({ "value": sent }),
            "{id}"
        );
    }
    assert!(moved > 0, "no session moved while messages were flowing");
}
