//! End-to-end: the hostile cases that are about resources — a published event over the
//! maximum, thousands of timers, a table that grows without end — and what the host holds
//! afterwards.
//!
//! After each offending case the session must be gone from the registry, its store (and so
//! its pool slot) dropped, and no subscriber left: `HostStats::{sessions, instances,
//! subscribers}` are back to their baseline.

use serde_json::json;
use sessionhost::GuestSource;
use sessionhost::{
    GuestLayout, GuestOptions, Host, HostStats, RestartPolicy, SessionError, SessionEvent,
    StartOptions, StopReason,
};
use sessionhost_tests::protocol::lang_guest;
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
    // A timer that fires is a cast the session handles.
    eventually("the short timers fired", || {
        host.info(&id2)
            .is_ok_and(|info| info.casts >= u64::try_from(limit).unwrap())
    })
    .await;
    let seen = call(&host, &id2, json!({"op":"casts"})).await.unwrap();
    let fired = seen["seen"].as_array().map_or(0, Vec::len);
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
    back_to(&host, base).await;
}

/// A guest that grows a function table in a loop (`tests/wat/table-bomb.wat`: no declared
/// maximum, 65 536 elements a step, halved when refused) is refused past the host's table
/// cap, in both layouts — dense at the pool's table size, large at its own cap — instead of
/// claiming memory until the process dies (2^32 elements of 8 bytes). `table.grow` returns
/// -1 there, as the spec says of a table that cannot grow, so the guest carries on; the
/// neighbour keeps answering, and nothing is left once it ends.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_that_grows_without_end_is_refused_at_the_table_cap() {
    let host = support::host().await;
    let bomb = lang_guest("table-bomb");
    for (name, layout) in [
        ("bomb-dense", GuestLayout::Dense),
        ("bomb-large", GuestLayout::Large),
    ] {
        let options = GuestOptions {
            layout,
            restart: RestartPolicy::Temporary,
            ..GuestOptions::default()
        };
        host.load_guest(name, GuestSource::file(&bomb), options)
            .await
            .unwrap_or_else(|e| panic!("{name} loads: {e}"));
    }
    let neighbour = host.start(StartOptions::guest("counter")).await.unwrap();
    let base = baseline(&host.stats());
    for (round, (name, cap)) in [("bomb-dense", 2_000), ("bomb-large", 1 << 20)]
        .into_iter()
        .enumerate()
    {
        let id = host.start(StartOptions::guest(name)).await.unwrap();
        for _ in 0..2 {
            let reply = host
                .call(&id, b"grow", None)
                .await
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(
                String::from_utf8_lossy(&reply),
                format!("refused at {cap:08}"),
                "{name}"
            );
        }
        assert_eq!(
            call(&host, &neighbour, json!({"op":"incr"})).await.unwrap(),
            json!({"value": round + 1}),
            "{name}: the neighbour"
        );
        host.terminate(&id).await.unwrap();
        back_to(&host, base).await;
    }
}
