//! Session lifecycle over (paused) time: idle expiry, touch, maximum lifetime, the rate limit.
//!
//! Hosts are built on the real clock (guests compile), then time is paused: tokio jumps
//! straight to the next timer whenever every task is idle, so an hour of idleness takes no
//! time and the reaper's deadlines are hit to the millisecond.

use std::time::Duration;

use serde_json::json;
use sessionhost::{SessionError, StartOptions, StopReason};
use sessionhost_tests::support::{self, call, terminated};
use tokio::time::sleep;

const MINUTE: Duration = Duration::from_secs(60);

/// A host built from `config` with `counter` as the default guest; time is paused once its
/// guests are loaded.
async fn paused_host(config: sessionhost::HostConfigBuilder) -> sessionhost::Host {
    let host = support::host_with(config.default_guest("counter")).await;
    tokio::time::pause();
    host
}

#[tokio::test]
async fn idle_sessions_expire_and_activity_postpones_expiry() {
    let host = paused_host(support::config().session_ttl(MINUTE)).await;
    let touched = host.start(StartOptions::default()).await.unwrap();
    let called = host.start(StartOptions::default()).await.unwrap();
    let idle = host.start(StartOptions::default()).await.unwrap();
    let mut idle_events = host.subscribe(&idle).unwrap();

    sleep(Duration::from_secs(40)).await;
    host.touch(&touched).unwrap();
    call(&host, &called, json!({"op":"incr"})).await.unwrap();

    // t = 70 s: `idle` passed its deadline at 60 s; the others were active at 40 s.
    sleep(Duration::from_secs(30)).await;
    assert!(!host.is_started(&idle));
    assert_eq!(terminated(&mut idle_events).await, StopReason::IdleTimeout);
    assert!(host.is_started(&touched) && host.is_started(&called));
    assert_eq!(
        call(&host, &called, json!({"op":"get"})).await.unwrap(),
        json!({"value":1})
    );

    // `touched` was last active at 40 s, `called` at 70 s.
    sleep(Duration::from_secs(31)).await; // t = 101 s
    assert!(!host.is_started(&touched));
    assert!(host.is_started(&called));
    sleep(Duration::from_secs(30)).await; // t = 131 s
    assert!(!host.is_started(&called));
    assert!(matches!(
        host.call(&called, b"{}", None).await,
        Err(SessionError::SessionNotFound)
    ));

    let metrics = host.metrics();
    assert_eq!(metrics.counters.expired_total, 3);
    let idle_timeouts = metrics
        .counters
        .stopped_total
        .iter()
        .find(|(reason, _)| *reason == "idle_timeout")
        .map(|(_, n)| *n);
    assert_eq!(idle_timeouts, Some(3));
    assert_eq!(host.stats().sessions, 0);
}

#[tokio::test]
async fn a_busy_session_still_ends_at_its_maximum_lifetime() {
    let host = paused_host(
        support::config()
            .session_ttl(MINUTE)
            .session_max_lifetime(Duration::from_secs(150)),
    )
    .await;
    let id = host.start(StartOptions::default()).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();
    for _ in 0..7 {
        // Active every 20 s: never idle for a minute.
        sleep(Duration::from_secs(20)).await;
        assert!(host.is_started(&id));
        call(&host, &id, json!({"op":"incr"})).await.unwrap();
    }
    sleep(Duration::from_secs(20)).await; // t = 160 s
    assert!(!host.is_started(&id));
    assert_eq!(
        terminated(&mut events).await,
        StopReason::Killed("session_max_lifetime reached".into())
    );
}

#[tokio::test]
async fn a_zero_ttl_means_sessions_never_idle_out() {
    let host = paused_host(support::config().session_ttl(Duration::ZERO)).await;
    let id = host.start(StartOptions::default()).await.unwrap();
    sleep(Duration::from_secs(30 * 24 * 3600)).await;
    assert!(host.is_started(&id));
    assert_eq!(host.metrics().counters.expired_total, 0);
}

#[tokio::test]
async fn a_cast_counts_as_activity() {
    let host = paused_host(support::config().session_ttl(MINUTE)).await;
    let id = host.start(StartOptions::default()).await.unwrap();
    sleep(Duration::from_secs(59)).await;
    support::cast(&host, &id, json!({"op":"incr","by":5}))
        .await
        .unwrap();
    sleep(Duration::from_secs(2)).await; // past the first deadline; the cast was activity
    assert!(host.is_started(&id));
    assert_eq!(
        call(&host, &id, json!({"op":"get"})).await.unwrap(),
        json!({"value":5})
    );
}

#[tokio::test]
async fn the_rate_limit_refills_one_token_at_a_time() {
    // One token every 10 s, a bucket of 6.
    let host = paused_host(support::config().max_sessions(64).rate_limit(6)).await;
    for _ in 0..6 {
        host.start(StartOptions::default()).await.unwrap();
    }
    let Err(SessionError::RateLimited { retry_after }) = host.start(StartOptions::default()).await
    else {
        panic!("the seventh start in a minute is refused");
    };
    assert!(
        retry_after > Duration::ZERO && retry_after <= Duration::from_secs(10),
        "{retry_after:?}"
    );
    sleep(retry_after).await;
    host.start(StartOptions::default()).await.unwrap();
    assert!(matches!(
        host.start(StartOptions::default()).await,
        Err(SessionError::RateLimited { .. })
    ));
    assert_eq!(host.stats().sessions, 7);
}

/// A guest that calls `stop()` inside `init`: the start reports it (nothing is handed out
/// for a session that already ended), its `terminate` ran, and nothing is left behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_stops_itself_in_init_fails_its_start() {
    let host = support::host().await;
    let error = host
        .start(StartOptions::guest("hostile").args(br#"{"mode":"stop_init"}"#))
        .await
        .expect_err("a session that stopped while starting is not started");
    assert_eq!(error.kind(), "guest_error");
    assert!(error.to_string().contains("stopped in init"), "{error}");
    let stats = host.stats();
    assert_eq!((stats.sessions, stats.instances), (0, 0));
    assert!(host.list().is_empty());
    let stopped = host.metrics().counters.stopped_total;
    assert!(stopped.contains(&("requested", 1)), "{stopped:?}");
}
