//! End-to-end: a guest that blocks in a WASI call (`std::thread::sleep`) keeps its own
//! thread; every other session keeps answering, and deadlines hold.
//!
//! Each blocked message waits off the async worker threads (`offload.rs`), within the host's
//! `max_blocked_messages`. The neighbours run as tasks on the same two worker threads the
//! blocked calls came from, as HTTP requests would.

#![expect(
    clippy::unwrap_used,
    reason = "a test panics on what it did not expect"
)]

use std::time::{Duration, Instant};

use serde_json::json;
use sessionhost::{Host, SessionError, SessionEvent, StartOptions, StopReason, TrapKind};
use sessionhost_tests::support::{self, call, eventually, terminated};

/// Starts `n` hostile sessions.
async fn hostiles(host: &Host, n: usize) -> Vec<sessionhost::SessionId> {
    let mut ids = Vec::new();
    for _ in 0..n {
        ids.push(host.start(StartOptions::guest("hostile")).await.unwrap());
    }
    ids
}

/// Spawns a call `{"op":"block_ms","ms":ms}` on each session; each task returns the call's
/// result and when it returned.
fn block_all(
    host: &Host,
    ids: &[sessionhost::SessionId],
    ms: u64,
) -> Vec<tokio::task::JoinHandle<(Result<serde_json::Value, SessionError>, Instant)>> {
    ids.iter()
        .map(|id| {
            let (host, id) = (host.clone(), id.clone());
            tokio::spawn(async move {
                let result = call(&host, &id, json!({"op":"block_ms","ms":ms})).await;
                (result, Instant::now())
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocked_guests_do_not_stall_their_neighbours() {
    const BLOCKED: usize = 32;
    let host = support::host_with(support::config().call_timeout(Duration::from_secs(10))).await;
    let blockers = hostiles(&host, BLOCKED).await;
    let neighbour = host.start(StartOptions::guest("counter")).await.unwrap();
    let blocked = block_all(&host, &blockers, 3_000);
    eventually("every blocked call waits in its sleep", || {
        host.stats().blocked == BLOCKED
    })
    .await;

    // 200 calls to the neighbour, from a task on the same worker threads, while all 32
    // sleep: each answers, and all of them before any of the sleepers wakes.
    let calls = {
        let (host, id) = (host.clone(), neighbour.clone());
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            for _ in 0..200 {
                let began = Instant::now();
                call(&host, &id, json!({"op":"incr"})).await.unwrap();
                latencies.push(began.elapsed());
            }
            (latencies, Instant::now(), host.stats().blocked)
        })
    };
    let (mut latencies, neighbour_done, still_blocked) = calls.await.unwrap();
    assert_eq!(
        still_blocked, BLOCKED,
        "the neighbour finished while every sleeper still slept"
    );
    let mut first_wake = None::<Instant>;
    for task in blocked {
        let (result, returned) = task.await.unwrap();
        let reply = result.expect("a 3 s sleep within a 10 s deadline completes");
        assert!(reply["blocked_ms"].as_u64().unwrap() >= 3_000, "{reply}");
        first_wake = Some(first_wake.map_or(returned, |t| t.min(returned)));
    }
    assert!(neighbour_done < first_wake.unwrap());
    assert_eq!(
        call(&host, &neighbour, json!({"op":"get"})).await.unwrap(),
        json!({"value":200})
    );
    assert_eq!(
        host.stats().blocked,
        0,
        "every blocked place was given back"
    );
    latencies.sort();
    eprintln!(
        "neighbour call latency with {BLOCKED} guests blocked: p50 {:?}, p99 {:?}, max {:?}",
        latencies[100], latencies[197], latencies[199]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_call_is_stopped_at_its_deadline() {
    let host = support::host_with(support::config().call_timeout(Duration::from_millis(500))).await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let neighbour = host.start(StartOptions::guest("counter")).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();
    let began = Instant::now();
    let error = call(&host, &id, json!({"op":"block_ms","ms":60_000}))
        .await
        .expect_err("a 60 s sleep cannot fit a 500 ms deadline");
    assert_eq!(error, SessionError::Timeout { ms: 500 });
    assert!(
        began.elapsed() < Duration::from_secs(60),
        "the sleep was cut at the deadline, not slept through"
    );
    assert_eq!(
        terminated(&mut events).await,
        StopReason::Limit("timeout".into())
    );
    assert_eq!(
        call(&host, &neighbour, json!({"op":"incr"})).await.unwrap(),
        json!({"value":1})
    );
    assert_eq!(host.stats().blocked, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_blocked_past_the_host_bound_are_refused_with_a_typed_limit() {
    let host = support::host_with(
        support::config()
            .call_timeout(Duration::from_secs(10))
            .max_blocked_messages(2),
    )
    .await;
    let ids = hostiles(&host, 3).await;
    let two = block_all(&host, &ids[..2], 2_000);
    eventually("two calls block", || host.stats().blocked == 2).await;

    let mut events = host.subscribe(&ids[2]).unwrap();
    let error = call(&host, &ids[2], json!({"op":"block_ms","ms":2_000}))
        .await
        .expect_err("a third blocked message is over the bound");
    match &error {
        SessionError::GuestTrap { kind, message } => {
            assert_eq!(*kind, TrapKind::BlockingLimit);
            assert!(message.contains("max_blocked_messages"), "{message}");
        }
        other => panic!("expected a blocking_limit trap, got {other:?}"),
    }
    assert_eq!(
        terminated(&mut events).await,
        StopReason::Limit("blocking_limit".into())
    );
    // The two within the bound sleep on undisturbed.
    for task in two {
        let (result, _) = task.await.unwrap();
        assert!(result.unwrap()["blocked_ms"].as_u64().unwrap() >= 2_000);
    }
    assert_eq!(host.stats().blocked, 0);
    // With the places back, a new session may block again.
    let again = host.start(StartOptions::guest("hostile")).await.unwrap();
    assert!(
        call(&host, &again, json!({"op":"block_ms","ms":10}))
            .await
            .is_ok()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_interrupts_a_busy_guest_and_refuses_its_waiting_callers() {
    let host = support::host_with(support::config().call_timeout(Duration::from_secs(30))).await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();
    // One call loops (for up to 30 s); 20 more wait behind it, and casts queue up.
    let looping = {
        let (host, id) = (host.clone(), id.clone());
        tokio::spawn(async move { call(&host, &id, json!({"op":"loop","announce":true})).await })
    };
    match events.recv().await.unwrap() {
        SessionEvent::Published(bytes) => assert_eq!(&bytes[..], br#"{"looping":true}"#),
        other => panic!("expected the loop's announcement, got {other:?}"),
    }
    let waiting: Vec<_> = (0..20)
        .map(|_| {
            let (host, id) = (host.clone(), id.clone());
            tokio::spawn(async move { call(&host, &id, json!({"op":"count"})).await })
        })
        .collect();
    for n in 0..20 {
        support::cast(&host, &id, json!({"op":"record","n":n}))
            .await
            .unwrap();
    }
    eventually("20 calls and 20 casts wait", || {
        host.info(&id).is_ok_and(|info| info.mailbox == 40)
    })
    .await;

    let began = Instant::now();
    host.kill(&id, "test").await.unwrap();
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(30),
        "the kill did not wait for the loop's deadline ({took:?})"
    );
    assert_eq!(
        looping.await.unwrap().unwrap_err(),
        SessionError::SessionNotFound,
        "the interrupted call is told its session ended"
    );
    for task in waiting {
        assert_eq!(
            task.await.unwrap().unwrap_err(),
            SessionError::SessionNotFound
        );
    }
    assert_eq!(
        terminated(&mut events).await,
        StopReason::Killed("test".into())
    );
    assert!(!host.is_started(&id));
    assert_eq!(host.metrics().counters.discarded_total, 20);
}
