//! End-to-end: session lifecycle, ordering and every error kind, through the library API with
//! real compiled guests.

use std::time::Duration;

use serde_json::json;
use sessionhost::{SessionError, SessionEvent, SessionStatus, StartOptions, StopReason};
use sessionhost_tests::support::{self, call, call_within, cast, published, terminated};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_answers_calls_and_casts() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("counter")).await.unwrap();
    assert_eq!(
        call(&host, &id, json!({"op":"incr","by":2})).await.unwrap(),
        json!({"value":2})
    );
    assert_eq!(
        call(&host, &id, json!({"op":"incr"})).await.unwrap(),
        json!({"value":3})
    );
    cast(&host, &id, json!({"op":"incr","by":10}))
        .await
        .unwrap();
    assert_eq!(
        call(&host, &id, json!({"op":"get"})).await.unwrap(),
        json!({"value":13})
    );
    // The exact bytes of the documented protocol.
    assert_eq!(
        host.call(&id, br#"{"op":"get"}"#, None).await.unwrap(),
        br#"{"value":13}"#
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_have_separate_state_and_start_from_their_args() {
    let host = support::host().await;
    let a = host.start(StartOptions::guest("counter")).await.unwrap();
    let b = host
        .start(StartOptions::guest("counter").args(r#"{"start":100}"#))
        .await
        .unwrap();
    call(&host, &a, json!({"op":"incr","by":5})).await.unwrap();
    assert_eq!(
        call(&host, &a, json!({"op":"get"})).await.unwrap(),
        json!({"value":5})
    );
    assert_eq!(
        call(&host, &b, json!({"op":"get"})).await.unwrap(),
        json!({"value":100})
    );
    assert_ne!(a, b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_are_handled_in_order_and_before_a_later_call() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    for n in 0..200 {
        cast(&host, &id, json!({"op":"record","n":n}))
            .await
            .unwrap();
    }
    let seen = call(&host, &id, json!({"op":"casts"})).await.unwrap();
    let expected: Vec<i64> = (0..200).collect();
    assert_eq!(seen, json!({"seen": expected}));
    assert_eq!(host.info(&id).unwrap().casts, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_never_run_two_messages_at_once() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("counter")).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let (host, id) = (host.clone(), id.clone());
        tasks.push(tokio::spawn(async move {
            for _ in 0..250 {
                call(&host, &id, json!({"op":"incr"})).await.unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // A lost update would show as a smaller value.
    assert_eq!(
        call(&host, &id, json!({"op":"get"})).await.unwrap(),
        json!({"value":2000})
    );
    assert_eq!(host.info(&id).unwrap().calls, 2001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ids_are_generated_validated_and_unique() {
    let host = support::host().await;
    let generated = host.start(StartOptions::guest("counter")).await.unwrap();
    assert_eq!(generated.len(), 22);
    assert!(host.is_started(&generated));

    let chosen = host
        .start(StartOptions::guest("counter").id("room-42"))
        .await
        .unwrap();
    assert_eq!(chosen.as_str(), "room-42");
    let again = host
        .start(StartOptions::guest("counter").id("room-42"))
        .await;
    assert_eq!(again.unwrap_err(), SessionError::AlreadyStarted);

    let bad = host
        .start(StartOptions::guest("counter").id("no spaces"))
        .await
        .unwrap_err();
    assert_eq!(bad.kind(), "invalid_session_id");
    let long = host
        .start(StartOptions::guest("counter").id("x".repeat(65)))
        .await
        .unwrap_err();
    assert_eq!(long.kind(), "invalid_session_id");

    // Unknown but well-formed: not found. Malformed: invalid.
    let e = host.call("unknown-id", b"{}", None).await.unwrap_err();
    assert_eq!(e, SessionError::SessionNotFound);
    let e = host.call("bad id!", b"{}", None).await.unwrap_err();
    assert_eq!(e.kind(), "invalid_session_id");
    assert_eq!(host.stats().sessions, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_guest_and_missing_default_are_guest_not_found() {
    let host = support::host().await;
    let e = host.start(StartOptions::guest("nope")).await.unwrap_err();
    assert_eq!(e.kind(), "guest_not_found");
    assert!(e.to_string().contains("nope"), "{e}");
    let e = host.start(StartOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), "guest_not_found");

    let host = support::host_with(support::config().default_guest("counter")).await;
    let id = host.start(StartOptions::default()).await.unwrap();
    assert_eq!(host.info(&id).unwrap().guest, "counter");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_errors_and_traps_leave_nothing_behind() {
    let host = support::host().await;
    let e = host
        .start(StartOptions::guest("hostile").args(r#"{"mode":"fail"}"#))
        .await
        .unwrap_err();
    assert_eq!(e, SessionError::GuestError("init refused".into()));
    let e = host
        .start(StartOptions::guest("hostile").args(r#"{"mode":"trap"}"#))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "guest_trap");
    let e = host
        .start(StartOptions::guest("counter").args("not json"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "guest_error");
    assert_eq!(host.stats().sessions, 0);
    assert!(host.list().is_empty());
    // The places were given back: a full pool of sessions still starts.
    for _ in 0..64 {
        host.start(StartOptions::guest("counter")).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_sessions_is_enforced_and_places_come_back() {
    let host = support::host_with(support::config().max_sessions(3)).await;
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(host.start(StartOptions::guest("counter")).await.unwrap());
    }
    let e = host
        .start(StartOptions::guest("counter"))
        .await
        .unwrap_err();
    assert_eq!(e, SessionError::SessionLimitReached { max: 3 });
    assert_eq!(e.to_string(), "session limit reached: 3 sessions are alive");
    host.terminate(&ids[0]).await.unwrap();
    host.start(StartOptions::guest("counter")).await.unwrap();
    assert_eq!(host.stats().rejected_total, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creation_rate_is_limited() {
    let host = support::host_with(support::config().rate_limit(3)).await;
    for _ in 0..3 {
        host.start(StartOptions::guest("counter")).await.unwrap();
    }
    match host.start(StartOptions::guest("counter")).await {
        Err(SessionError::RateLimited { retry_after }) => {
            // 3 per minute: a token every 20 s.
            assert!(retry_after > Duration::from_secs(15), "{retry_after:?}");
            assert!(retry_after <= Duration::from_secs(20), "{retry_after:?}");
        }
        other => panic!("expected rate_limited, got {other:?}"),
    }
    assert_eq!(host.stats().sessions, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminate_runs_the_guest_terminate_and_forgets_the_session() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();
    cast(&host, &id, json!({"op":"record","n":1}))
        .await
        .unwrap();
    // A call runs after the casts before it (a terminate would jump them: `mailbox.rs`).
    call(&host, &id, json!({"op":"count"})).await.unwrap();
    host.terminate(&id).await.unwrap();

    // The guest's terminate ran (it publishes what it was told), after the cast.
    match events.recv().await.unwrap() {
        SessionEvent::Published(bytes) => {
            let event: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(event, json!({"terminated":"normal","casts":1}));
        }
        other => panic!("expected the guest's last event, got {other:?}"),
    }
    assert_eq!(terminated(&mut events).await, StopReason::Normal);

    assert!(!host.is_started(&id));
    assert!(host.list().is_empty());
    assert_eq!(
        host.call(&id, b"{}", None).await.unwrap_err(),
        SessionError::SessionNotFound
    );
    assert_eq!(
        host.terminate(&id).await.unwrap_err(),
        SessionError::SessionNotFound
    );
    assert_eq!(
        host.cast(&id, b"{}").await.unwrap_err(),
        SessionError::SessionNotFound
    );
    assert_eq!(host.touch(&id).unwrap_err(), SessionError::SessionNotFound);
    // The ID is free again.
    host.start(StartOptions::guest("counter").id(id.as_str()))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_error_is_a_reply_and_the_session_keeps_running() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let e = call(&host, &id, json!({"op":"error","message":"out of stock"}))
        .await
        .unwrap_err();
    assert_eq!(e, SessionError::GuestError("out of stock".into()));
    assert_eq!(e.to_string(), "out of stock");
    assert_eq!(
        call(&host, &id, json!({"op":"echo","data":[1,2]}))
            .await
            .unwrap(),
        json!({"data":[1,2]})
    );
    let e = host.call(&id, b"this is not json", None).await.unwrap_err();
    assert_eq!(e.kind(), "guest_error");
    assert!(host.is_started(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_mailbox_refuses_casts_and_loses_none_it_accepted() {
    let host = support::host_with(support::config().mailbox(8)).await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    // Keep the session busy so casts pile up: they are sent once the call runs.
    let mut events = host.subscribe(&id).unwrap();
    let busy = {
        let (host, id) = (host.clone(), id.clone());
        let sleep = json!({"op":"sleep_ms","ms":300,"announce":true});
        tokio::spawn(async move { call(&host, &id, sleep).await })
    };
    assert_eq!(published(&mut events).await, json!({"sleeping":true}));
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for n in 0..20 {
        match cast(&host, &id, json!({"op":"record","n":n})).await {
            Ok(()) => accepted.push(n),
            Err(SessionError::MailboxFull { capacity: 8 }) => refused += 1,
            Err(e) => panic!("unexpected {e}"),
        }
    }
    assert_eq!(accepted.len(), 8);
    assert_eq!(refused, 12);
    busy.await.unwrap().unwrap();
    // The mailbox holds 8: wait for the queued casts to be handled before calling.
    support::eventually("the mailbox drained", || {
        host.info(&id).unwrap().mailbox == 0
    })
    .await;
    let seen = call(&host, &id, json!({"op":"casts"})).await.unwrap();
    assert_eq!(seen, json!({"seen": accepted}));
    assert_eq!(host.stats().mailbox_full_total, 12);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_times_out_in_the_mailbox_is_never_delivered() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();
    let busy = {
        let (host, id) = (host.clone(), id.clone());
        let sleep = json!({"op":"sleep_ms","ms":400,"announce":true});
        tokio::spawn(async move { call(&host, &id, sleep).await })
    };
    // The busy call runs: the next one waits in the mailbox.
    assert_eq!(published(&mut events).await, json!({"sleeping":true}));
    let e = call_within(
        &host,
        &id,
        json!({"op":"echo"}),
        Some(Duration::from_millis(100)),
    )
    .await
    .unwrap_err();
    assert_eq!(e, SessionError::Timeout { ms: 100 });
    busy.await.unwrap().unwrap();
    // Only the busy call ran before this one: the timed-out call was withdrawn.
    assert_eq!(
        call(&host, &id, json!({"op":"count"})).await.unwrap(),
        json!({"calls":1,"casts":0})
    );
    assert!(host.is_started(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_and_restore_round_trip() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("counter")).await.unwrap();
    call(&host, &id, json!({"op":"incr","by":41}))
        .await
        .unwrap();
    cast(&host, &id, json!({"op":"incr"})).await.unwrap();
    let state = host
        .snapshot(&id)
        .await
        .unwrap()
        .expect("counter snapshots");
    let version = host.info(&id).unwrap().version.hash;
    let copy = host
        .start(StartOptions::guest("counter").restore(state, version))
        .await
        .unwrap();
    assert_eq!(
        call(&host, &copy, json!({"op":"get"})).await.unwrap(),
        json!({"value":42})
    );

    let e = host
        .start(StartOptions::guest("hostile").restore(b"garbage".to_vec(), "v0"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "guest_error");
}

/// On paused time (the host's clock is tokio's): `advance` moves the clock on, so the
/// activity times differ without a sleep.
#[tokio::test]
async fn info_and_stats_report_what_happened() {
    let host = support::host().await;
    tokio::time::pause();
    let id = host.start(StartOptions::guest("counter")).await.unwrap();
    let before = host.info(&id).unwrap();
    tokio::time::advance(Duration::from_millis(20)).await;
    call(&host, &id, json!({"op":"incr"})).await.unwrap();
    cast(&host, &id, json!({"op":"incr"})).await.unwrap();
    call(&host, &id, json!({"op":"get"})).await.unwrap();
    let info = host.info(&id).unwrap();
    assert_eq!(info.id, id);
    assert_eq!(info.guest, "counter");
    assert_eq!(info.status, SessionStatus::Running);
    assert_eq!(info.version.hash.len(), 16);
    assert_eq!((info.calls, info.casts), (2, 1));
    assert!(info.fuel_used > before.fuel_used, "{info:?}");
    assert_eq!(info.memory_bytes, 256 * 1024);
    assert!(info.last_active_at > before.last_active_at);
    assert!(info.created_at <= info.last_active_at);

    tokio::time::advance(Duration::from_millis(20)).await;
    host.touch(&id).unwrap();
    assert!(host.info(&id).unwrap().last_active_at > info.last_active_at);

    let stats = host.stats();
    assert_eq!(
        (stats.sessions, stats.started_total, stats.guests),
        (1, 1, 4)
    );
    assert!(stats.messages_total >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribers_get_published_events_then_the_end() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("counter")).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();
    call(&host, &id, json!({"op":"incr","by":3})).await.unwrap();
    cast(&host, &id, json!({"op":"incr","by":4})).await.unwrap();
    for expected in [json!({"value":3}), json!({"value":7})] {
        match events.recv().await.unwrap() {
            SessionEvent::Published(bytes) => {
                assert_eq!(
                    serde_json::from_slice::<serde_json::Value>(&bytes).unwrap(),
                    expected
                )
            }
            other => panic!("{other:?}"),
        }
    }
    host.terminate(&id).await.unwrap();
    assert_eq!(terminated(&mut events).await, StopReason::Normal);
    assert!(host.subscribe(&id).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_can_stop_itself_after_replying() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();
    let reply = call(&host, &id, json!({"op":"stop","reason":"game over"}))
        .await
        .unwrap();
    assert_eq!(reply, json!({"ok":true}));
    assert!(!host.is_started(&id));
    assert_eq!(
        terminated(&mut events).await,
        StopReason::Requested("game over".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_deliver_through_the_mailbox_and_can_be_cancelled() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let made = call(&host, &id, json!({"op":"timers","n":3,"delay_ms":20}))
        .await
        .unwrap();
    assert_eq!(made, json!({"ok":3,"error":null}));
    assert_eq!(
        call(&host, &id, json!({"op":"cancel_timer","id":2}))
            .await
            .unwrap(),
        json!({"cancelled":true})
    );
    support::eventually("two timers fired", || host.info(&id).unwrap().casts == 2).await;
    assert_eq!(
        call(&host, &id, json!({"op":"casts"})).await.unwrap(),
        json!({"seen":[0,2]})
    );
    assert_eq!(
        call(&host, &id, json!({"op":"cancel_timer","id":1}))
            .await
            .unwrap(),
        json!({"cancelled":false})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_timers_are_bounded_per_session() {
    let host = support::host_with(support::config().max_timers_per_session(5)).await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let made = call(&host, &id, json!({"op":"timers","n":9,"delay_ms":60000}))
        .await
        .unwrap();
    assert_eq!(made["ok"], json!(5));
    assert_eq!(
        made["error"],
        json!("too many pending timers (the limit is 5)")
    );
    // Ending the session cancels its timers: nothing fires into a dead session.
    host.terminate(&id).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_ends_every_session_and_refuses_new_ones() {
    let host = support::host().await;
    let a = host.start(StartOptions::guest("counter")).await.unwrap();
    let b = host.start(StartOptions::guest("hostile")).await.unwrap();
    let mut events = host.subscribe(&b).unwrap();
    let report = host.shutdown().await;
    assert_eq!(report.ended, 2);
    assert!(!host.is_started(&a) && !host.is_started(&b));
    match events.recv().await.unwrap() {
        SessionEvent::Published(bytes) => {
            let event: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(event["terminated"], json!("shutdown"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(terminated(&mut events).await, StopReason::Shutdown);
    assert_eq!(
        host.start(StartOptions::guest("counter"))
            .await
            .unwrap_err(),
        SessionError::ShuttingDown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages_are_refused_before_reaching_the_guest() {
    let host = support::host_with(support::config().max_message_bytes(1024)).await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let big = vec![b' '; 2000];
    assert_eq!(
        host.call(&id, &big, None).await.unwrap_err(),
        SessionError::MessageTooLarge {
            size: 2000,
            max: 1024
        }
    );
    assert_eq!(
        host.cast(&id, &big).await.unwrap_err().kind(),
        "message_too_large"
    );
    // A reply over the limit is refused too, and the session keeps running.
    let e = call(&host, &id, json!({"op":"huge","bytes":5000}))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), "message_too_large");
    assert!(host.is_started(&id));
    // So is a published event; the guest sees the error and counts it.
    let reply = call(&host, &id, json!({"op":"publish","n":2,"bytes":4096}))
        .await
        .unwrap();
    assert_eq!(reply["ok"], json!(0));
    assert!(
        reply["error"]
            .as_str()
            .unwrap()
            .contains("max_message_bytes"),
        "{reply}"
    );
}
