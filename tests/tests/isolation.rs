//! End-to-end: hostile guests are stopped with typed errors and nobody else notices.
//!
//! Each test runs a misbehaving `hostile` session next to healthy `counter` sessions and
//! checks three things: the offender's caller gets the documented error, the offender's
//! session has ended (or lives on, where the error is its own), and the neighbours keep
//! answering.

use std::time::Duration;

use serde_json::json;
use sessionhost::{HibernateOutcome, Host, SessionError, StartOptions, StopReason, TrapKind};
use sessionhost_tests::support::{self, call, call_within, published, terminated};

/// Starts `n` counter sessions, each incremented once.
async fn neighbours(host: &Host, n: usize) -> Vec<sessionhost::SessionId> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = host
            .start(StartOptions::guest("counter"))
            .await
            .expect("expected success");
        call(host, &id, json!({"op":"incr"}))
            .await
            .expect("expected success");
        ids.push(id);
    }
    ids
}

/// Every neighbour still answers, with its state intact.
async fn neighbours_answer(host: &Host, ids: &[sessionhost::SessionId]) {
    for id in ids {
        assert_eq!(
            call(host, id, json!({"op":"incr"}))
                .await
                .expect("expected success"),
            json!({"value":2}),
            "neighbour {id} was disturbed"
        );
        call(host, id, json!({"op":"incr","by":-1}))
            .await
            .expect("expected success");
    }
}

/// A host with unlimited fuel, so a deadline of `timeout` is what stops a guest that loops.
async fn deadline_host(timeout: Duration) -> Host {
    support::host_with(support::config().fuel_per_call(0).call_timeout(timeout)).await
}

/// Runs `request` on a fresh hostile session; returns the error and the stop reason.
async fn offend(host: &Host, request: serde_json::Value) -> (SessionError, StopReason) {
    let id = host
        .start(StartOptions::guest("hostile"))
        .await
        .expect("expected success");
    let mut events = host.subscribe(&id).expect("expected success");
    let error = call(host, &id, request)
        .await
        .expect_err("expected an error");
    let reason = terminated(&mut events).await;
    assert!(!host.is_started(&id), "the offender's session must end");
    assert_eq!(
        host.call(&id, b"{}", None)
            .await
            .expect_err("expected an error"),
        SessionError::SessionNotFound
    );
    (error, reason)
}

fn trap_kind(e: &SessionError) -> TrapKind {
    match e {
        SessionError::GuestTrap { kind, .. } => *kind,
        other => panic!("expected a guest trap, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_is_interrupted_at_its_deadline() {
    let host = deadline_host(Duration::from_millis(300)).await;
    let ids = neighbours(&host, 5).await;
    let (e, reason) = offend(&host, json!({"op":"loop"})).await;
    assert_eq!(e, SessionError::Timeout { ms: 300 });
    assert_eq!(reason, StopReason::Limit("timeout".into()));
    neighbours_answer(&host, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neighbours_answer_while_a_guest_loops() {
    let host = deadline_host(Duration::from_secs(3)).await;
    let ids = neighbours(&host, 4).await;
    let looping = host.start(StartOptions::guest("hostile")).await.unwrap();
    let mut events = host.subscribe(&looping).unwrap();
    let offender = {
        let (host, id) = (host.clone(), looping.clone());
        tokio::spawn(async move { call(&host, &id, json!({"op":"loop","announce":true})).await })
    };
    assert_eq!(published(&mut events).await, json!({"looping":true}));
    // While the loop runs (3 s), 400 calls to the neighbours complete.
    for round in 0..100 {
        for id in &ids {
            call(&host, id, json!({"op":"get"})).await.unwrap();
        }
        assert!(
            !offender.is_finished(),
            "round {round}: the loop ended early"
        );
    }
    let e = offender.await.unwrap().unwrap_err();
    assert_eq!(e.kind(), "timeout");
    neighbours_answer(&host, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fuel_exhaustion_stops_a_busy_guest() {
    let host = support::host_with(
        support::config()
            .fuel_per_call(5_000_000)
            .call_timeout(Duration::from_secs(30)),
    )
    .await;
    let ids = neighbours(&host, 3).await;
    let (e, reason) = offend(&host, json!({"op":"loop"})).await;
    assert_eq!(trap_kind(&e), TrapKind::OutOfFuel);
    assert_eq!(reason, StopReason::Limit("out_of_fuel".into()));
    neighbours_answer(&host, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_bomb_hits_the_memory_limit() {
    let host = support::host().await;
    let ids = neighbours(&host, 3).await;
    let (e, reason) = offend(&host, json!({"op":"grow","mib":64})).await;
    assert_eq!(trap_kind(&e), TrapKind::MemoryLimit);
    assert!(e.to_string().contains("memory limit exceeded"), "{e}");
    assert_eq!(reason, StopReason::Limit("memory_limit".into()));
    neighbours_answer(&host, &ids).await;
    // Its memory went back to the pool: the slots can all be used again.
    assert_eq!(host.stats().sessions, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_traps_and_ends_only_that_session() {
    let host = support::host().await;
    let ids = neighbours(&host, 3).await;
    let (e, reason) = offend(&host, json!({"op":"trap"})).await;
    assert_eq!(trap_kind(&e), TrapKind::Unreachable);
    assert!(matches!(reason, StopReason::Crashed(_)), "{reason:?}");
    let (e, _) = offend(&host, json!({"op":"unreachable"})).await;
    assert_eq!(trap_kind(&e), TrapKind::Unreachable);
    neighbours_answer(&host, &ids).await;
    assert_eq!(host.stats().traps_total, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stack_overflow_is_contained() {
    let host = support::host().await;
    let ids = neighbours(&host, 3).await;
    let (e, reason) = offend(&host, json!({"op":"stack"})).await;
    // Deep recursion exhausts either the engine's native stack or the guest's own shadow
    // stack in linear memory (which then runs off the bottom of memory).
    assert!(
        matches!(
            trap_kind(&e),
            TrapKind::StackOverflow | TrapKind::MemoryOutOfBounds
        ),
        "{e:?}"
    );
    assert!(matches!(reason, StopReason::Crashed(_)), "{reason:?}");
    neighbours_answer(&host, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_with_callers_queued_behind_it_answers_every_one() {
    let host = deadline_host(Duration::from_millis(300)).await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();
    let first = {
        let (host, id) = (host.clone(), id.clone());
        tokio::spawn(async move { call(&host, &id, json!({"op":"loop","announce":true})).await })
    };
    // The loop holds the session: the callers below queue behind it.
    assert_eq!(published(&mut events).await, json!({"looping":true}));
    let mut queued = Vec::new();
    for _ in 0..10 {
        let (host, id) = (host.clone(), id.clone());
        queued.push(tokio::spawn(async move {
            call_within(
                &host,
                &id,
                json!({"op":"count"}),
                Some(Duration::from_secs(5)),
            )
            .await
        }));
    }
    assert_eq!(first.await.unwrap().unwrap_err().kind(), "timeout");
    for waiter in queued {
        let result = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("no queued caller hangs")
            .unwrap();
        assert_eq!(result.unwrap_err(), SessionError::SessionNotFound);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_init_that_never_returns_fails_the_start() {
    let host = deadline_host(Duration::from_millis(200)).await;
    let e = host
        .start(StartOptions::guest("hostile").args(r#"{"mode":"loop"}"#))
        .await
        .unwrap_err();
    assert_eq!(e, SessionError::Timeout { ms: 200 });
    assert_eq!(host.stats().sessions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminate_that_traps_or_loops_still_ends_the_session() {
    let host = support::host_with(support::config().call_timeout(Duration::from_millis(200))).await;
    for mode in ["trap_terminate", "loop_terminate"] {
        let id = host
            .start(StartOptions::guest("hostile").args(json!({"mode": mode}).to_string()))
            .await
            .unwrap();
        let mut events = host.subscribe(&id).unwrap();
        host.terminate(&id).await.unwrap();
        assert_eq!(terminated(&mut events).await, StopReason::Normal);
        assert!(!host.is_started(&id), "{mode}");
    }
    assert_eq!(host.stats().sessions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_caller_that_gives_up_never_cuts_a_message_in_half() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();
    // A caller drops its call future while the guest runs: the message runs inside one poll,
    // so it completes (and is counted) before the caller can let go of it.
    let running = {
        let (host, id) = (host.clone(), id.clone());
        let sleep = json!({"op":"sleep_ms","ms":200,"announce":true});
        tokio::spawn(async move {
            tokio::time::timeout(Duration::from_millis(20), call(&host, &id, sleep)).await
        })
    };
    assert_eq!(published(&mut events).await, json!({"sleeping":true}));
    // Another caller gives up while waiting in the mailbox: its message is withdrawn.
    let waiting = tokio::time::timeout(
        Duration::from_millis(20),
        call(&host, &id, json!({"op":"echo"})),
    )
    .await;
    assert!(waiting.is_err(), "the waiting caller gave up");
    let first = running.await.unwrap();
    let reply = first.expect("a running message finishes").unwrap();
    assert!(reply["slept_ms"].as_u64().unwrap() >= 200);
    assert_eq!(
        call(&host, &id, json!({"op":"count"})).await.unwrap(),
        json!({"calls":1,"casts":0})
    );
    assert_eq!(host.info(&id).unwrap().mailbox, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn floods_of_logs_output_and_stops_are_bounded() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    call(&host, &id, json!({"op":"log_spam","n":100_000}))
        .await
        .unwrap();
    call(
        &host,
        &id,
        json!({"op":"stdout","text":"hello from the guest\n".repeat(1000)}),
    )
    .await
    .unwrap();
    call(
        &host,
        &id,
        json!({"op":"stderr","text":"x".repeat(100_000)}),
    )
    .await
    .unwrap();
    let mut events = host.subscribe(&id).unwrap();
    let reply = call(&host, &id, json!({"op":"publish","n":5000,"bytes":10}))
        .await
        .unwrap();
    assert_eq!(reply["ok"], json!(5000));
    // A subscriber that did not read falls behind its budget, is dropped, and told why.
    match events.recv().await {
        Err(sessionhost::RecvError::Dropped(reason)) => {
            assert!(reason.contains("events unread"), "{reason}");
        }
        other => panic!("expected lag, got {other:?}"),
    }
    assert!(host.is_started(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_that_never_returns_is_interrupted_and_ends_only_that_session() {
    let host = deadline_host(Duration::from_millis(200)).await;
    let ids = neighbours(&host, 3).await;
    let id = host
        .start(StartOptions::guest("hostile").args(r#"{"mode":"loop_snapshot"}"#))
        .await
        .unwrap();
    let mut events = host.subscribe(&id).unwrap();
    assert_eq!(
        host.snapshot(&id).await.unwrap_err(),
        SessionError::Timeout { ms: 200 }
    );
    assert_eq!(
        terminated(&mut events).await,
        StopReason::Limit("timeout".into())
    );
    // Hibernating it on demand meets the same limit.
    let id = host
        .start(StartOptions::guest("hostile").args(r#"{"mode":"loop_snapshot"}"#))
        .await
        .unwrap();
    assert_eq!(host.hibernate(&id).await.unwrap(), HibernateOutcome::Failed);
    assert!(!host.is_started(&id));
    neighbours_answer(&host, &ids).await;
    assert_eq!(host.stats().sessions, ids.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_that_loops_traps_or_cannot_parse_fails_the_start_cleanly() {
    let host = deadline_host(Duration::from_millis(200)).await;
    let ids = neighbours(&host, 3).await;
    let restore = |state: &str| StartOptions::guest("hostile").restore(state, "test");
    // A snapshot it cannot parse: the guest's own error, nothing left behind.
    match host.start(restore("not json")).await.unwrap_err() {
        SessionError::GuestError(message) => {
            assert!(message.contains("not a hostile snapshot"), "{message}");
        }
        other => panic!("expected the guest's error, got {other:?}"),
    }
    // A state whose restore loops: interrupted at the deadline.
    let looping = json!({"mode":"loop_restore","seen":[],"casts":0,"calls":0});
    let e = host.start(restore(&looping.to_string())).await.unwrap_err();
    assert_eq!(e, SessionError::Timeout { ms: 200 });
    // A state whose restore panics: a trap.
    let trapping = json!({"mode":"trap_restore","seen":[],"casts":0,"calls":0});
    let e = host
        .start(restore(&trapping.to_string()))
        .await
        .unwrap_err();
    assert_eq!(trap_kind(&e), TrapKind::Unreachable);
    assert_eq!(host.stats().sessions, ids.len());
    neighbours_answer(&host, &ids).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cast_that_loops_is_interrupted_and_later_messages_get_typed_errors() {
    let host = deadline_host(Duration::from_millis(200)).await;
    let ids = neighbours(&host, 3).await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();
    support::cast(&host, &id, json!({"op":"loop"}))
        .await
        .unwrap();
    // A call queued behind the looping cast: an answer or a typed error, never a hang.
    let behind = call_within(
        &host,
        &id,
        json!({"op":"echo"}),
        Some(Duration::from_secs(5)),
    )
    .await;
    assert!(
        matches!(
            behind,
            Err(SessionError::SessionNotFound | SessionError::Timeout { .. })
        ),
        "{behind:?}"
    );
    assert_eq!(
        terminated(&mut events).await,
        StopReason::Limit("timeout".into())
    );
    neighbours_answer(&host, &ids).await;
}
