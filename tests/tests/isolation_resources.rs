//! End-to-end: the hostile cases that are about resources — a published event over the
//! maximum, thousands of timers — and what the host holds afterwards.
//!
//! After each offending case the session must be gone from the registry, its store (and so
//! its pool slot) dropped, and no subscriber left: `HostStats::{sessions, instances,
//! subscribers}` are back to their baseline.

use std::time::Duration;

use serde_json::json;
use sessionhost::{Host, HostStats, SessionError, SessionEvent, StartOptions, StopReason};
use sessionhost_tests::support::{self, call, eventually, terminated};

/// What must be back to where it was once an offending session has ended.
fn baseline(stats: &HostStats) -> (usize, usize, usize) {
    (stats.sessions, stats.instances, stats.subscribers)
}

async fn back_to(host: &Host, expected: (usize, usize, usize)) {
    eventually(
        "sessions, instances and subscribers back to the baseline",
        || baseline(&host.stats()) == expected,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_event_is_refused_to_the_guest_and_reaches_no_subscriber() {
    let host = support::host_with(support::config().max_message_bytes(1024)).await;
    let base = baseline(&host.stats());
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();
    assert_eq!(host.stats().subscribers, 1);
    let reply = call(&host, &id, json!({"op":"publish","n":3,"bytes":4096}))
        .await
        .unwrap();
    assert_eq!(reply["ok"], json!(0), "{reply}");
    assert!(
        reply["error"]
            .as_str()
            .is_some_and(|e| e.contains("max_message_bytes")),
        "{reply}"
    );
    // The next event that fits is the first one the subscriber sees.
    let reply = call(&host, &id, json!({"op":"publish","n":1,"bytes":10}))
        .await
        .unwrap();
    assert_eq!(reply["ok"], json!(1), "{reply}");
    match events.recv().await.unwrap() {
        SessionEvent::Published(bytes) => assert_eq!(bytes, vec![b'x'; 10]),
        other => panic!("expected the small event, got {other:?}"),
    }
    assert!(events.try_recv().is_err(), "nothing else was delivered");
    assert!(host.is_started(&id));
    host.terminate(&id).await.unwrap();
    assert_eq!(terminated(&mut events).await, StopReason::Normal);
    drop(events);
    back_to(&host, base).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_timers_are_bounded_and_die_with_the_session() {
    // The default bound (64 pending timers per session).
    let host = support::host().await;
    let limit = host.config().max_timers_per_session;
    let base = baseline(&host.stats());
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let made = call(
        &host,
        &id,
        json!({"op":"timers","n":5000,"delay_ms":60_000}),
    )
    .await
    .unwrap();
    assert_eq!(made["ok"], json!(limit), "{made}");
    assert_eq!(
        made["error"],
        json!(format!("too many pending timers (the limit is {limit})"))
    );
    // Short timers fire and free their places: more can be set once they have.
    let id2 = host.start(StartOptions::guest("hostile")).await.unwrap();
    let made = call(&host, &id2, json!({"op":"timers","n":5000,"delay_ms":1}))
        .await
        .unwrap();
    assert_eq!(made["ok"], json!(limit), "{made}");
    let mut fired = 0;
    for _ in 0..1_000 {
        let seen = call(&host, &id2, json!({"op":"casts"})).await.unwrap();
        fired = seen["seen"].as_array().map_or(0, Vec::len);
        if fired == limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(fired, limit, "every short timer fired once");
    host.terminate(&id).await.unwrap();
    host.terminate(&id2).await.unwrap();
    back_to(&host, base).await;
    // Nothing fires into the ended sessions.
    assert_eq!(
        call(&host, &id, json!({"op":"casts"})).await.unwrap_err(),
        SessionError::SessionNotFound
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_count_instances_and_subscribers_back_to_zero() {
    let host = support::host().await;
    let base = baseline(&host.stats());
    assert_eq!(base, (0, 0, 0), "no session, no instance, no subscriber");
    let ids = [
        host.start(StartOptions::guest("counter")).await.unwrap(),
        host.start(StartOptions::guest("hostile")).await.unwrap(),
    ];
    let subscribers: Vec<_> = (0..5).map(|_| host.subscribe(&ids[0]).unwrap()).collect();
    assert_eq!(baseline(&host.stats()), (2, 2, 5));
    // A trap drops the store at once.
    let e = call(&host, &ids[1], json!({"op":"trap"}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "guest_trap");
    back_to(&host, (1, 1, 5)).await;
    drop(subscribers);
    back_to(&host, (1, 1, 0)).await;
    host.terminate(&ids[0]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    back_to(&host, base).await;
}
