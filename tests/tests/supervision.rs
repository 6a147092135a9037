//! Supervision: restart policies, intensity, and coming back from a checkpoint after a trap.
//!
//! One host loads the hostile guest several times under different names, each with its own
//! [`GuestOptions`]. The hostile guest keeps the `record` casts it received (`seen`) and
//! snapshots them, so "how much state survived" is one call away.

#![expect(clippy::unwrap_used, reason = "test helpers panic on a broken fixture")]

use std::time::Duration;

use serde_json::{Value, json};
use sessionhost::GuestSource;
use sessionhost::{
    GuestOptions, Host, RestartPolicy, SessionError, SessionEvent, SessionEvents, SessionId,
    StartOptions, StopReason, TrapKind,
};
use sessionhost_tests::guests;
use sessionhost_tests::support::{self, call, cast, terminated};

async fn supervised_host() -> Host {
    let host = Host::new(support::config().build().unwrap()).unwrap();
    let with = |restart, checkpoint_every, max_restarts| GuestOptions {
        restart,
        checkpoint_every,
        max_restarts,
        restart_window: Duration::from_secs(60),
        ..GuestOptions::default()
    };
    for (name, options) in [
        ("transient", with(RestartPolicy::Transient, 0, 3)),
        ("checkpointed", with(RestartPolicy::Transient, 1, 3)),
        ("every10", with(RestartPolicy::Transient, 10, 3)),
        ("temporary", with(RestartPolicy::Temporary, 1, 3)),
        ("permanent", with(RestartPolicy::Permanent, 1, 3)),
        ("fragile", with(RestartPolicy::Transient, 1, 2)),
    ] {
        host.load_guest(name, GuestSource::file(guests::HOSTILE), options)
            .await
            .unwrap();
    }
    host
}

/// Starts a session and subscribes to its events.
async fn watched(host: &Host, options: StartOptions) -> (SessionId, SessionEvents) {
    let id = host.start(options).await.unwrap();
    let events = host.subscribe(&id).unwrap();
    (id, events)
}

async fn record(host: &Host, id: &str, n: usize) {
    for i in 0..n {
        cast(host, id, json!({"op":"record","n":i})).await.unwrap();
    }
}

async fn seen(host: &Host, id: &str) -> usize {
    let reply = call(host, id, json!({"op":"casts"})).await.unwrap();
    reply["seen"].as_array().map_or(0, Vec::len)
}

async fn trap(host: &Host, id: &str) {
    match call(host, id, json!({"op":"trap"})).await {
        Err(SessionError::GuestTrap { kind, .. }) => assert_eq!(kind, TrapKind::Unreachable),
        other => panic!("expected a guest trap, got {other:?}"),
    }
}

/// The next `Restarted` event (skipping published ones).
async fn restarted(events: &mut SessionEvents) -> (StopReason, bool, u64) {
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("an event within 10 s")
            .expect("the channel is open")
        {
            SessionEvent::Restarted {
                reason,
                from_checkpoint,
                lost_messages,
            } => return (reason, from_checkpoint, lost_messages),
            SessionEvent::Terminated(reason) => panic!("ended instead of restarting: {reason}"),
            _ => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_at_41_comes_back_at_41_from_its_checkpoint() {
    let host = supervised_host().await;
    let (id, mut events) = watched(&host, StartOptions::guest("checkpointed")).await;
    record(&host, &id, 41).await;
    assert_eq!(seen(&host, &id).await, 41);

    trap(&host, &id).await;
    let (reason, from_checkpoint, lost) = restarted(&mut events).await;
    assert!(matches!(reason, StopReason::Crashed(_)), "{reason:?}");
    assert!(from_checkpoint);
    assert_eq!(lost, 0, "a checkpoint after every message loses nothing");

    // Same ID, same state, still serving.
    assert!(host.is_started(&id));
    assert_eq!(seen(&host, &id).await, 41);
    record(&host, &id, 1).await;
    assert_eq!(seen(&host, &id).await, 42);
    assert_eq!(host.metrics().counters.restarted_total, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_recent_checkpoint_the_restart_says_what_was_lost() {
    let host = supervised_host().await;
    // Checkpoints every 10 messages: 25 handled, the last checkpoint after the 20th.
    let (id, mut events) = watched(&host, StartOptions::guest("every10")).await;
    record(&host, &id, 24).await;
    assert_eq!(seen(&host, &id).await, 24); // the 25th message
    trap(&host, &id).await;
    let (_, from_checkpoint, lost) = restarted(&mut events).await;
    assert!(from_checkpoint);
    assert_eq!(lost, 5);
    assert_eq!(seen(&host, &id).await, 20);

    // No checkpoints at all: `init` runs again with the original arguments.
    let (id, mut events) = watched(
        &host,
        StartOptions::guest("transient").args(r#"{"mode":"ok"}"#),
    )
    .await;
    record(&host, &id, 7).await;
    trap(&host, &id).await;
    let (_, from_checkpoint, lost) = restarted(&mut events).await;
    assert!(!from_checkpoint);
    assert_eq!(lost, 7);
    assert_eq!(seen(&host, &id).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_restart_transient_sessions_too() {
    let host = supervised_host().await;
    let (id, mut events) = watched(&host, StartOptions::guest("checkpointed")).await;
    record(&host, &id, 3).await;
    let looped = support::call_within(
        &host,
        &id,
        json!({"op":"loop"}),
        Some(Duration::from_millis(100)),
    )
    .await;
    // Whichever limit stops the loop first (its deadline, or its fuel on a fast, idle
    // machine), the transient session is restarted from its checkpoint.
    let limit = match looped {
        Err(SessionError::Timeout { .. }) => "timeout",
        Err(SessionError::GuestTrap {
            kind: TrapKind::OutOfFuel,
            ..
        }) => "out_of_fuel",
        other => panic!("{other:?}"),
    };
    let (reason, ..) = restarted(&mut events).await;
    assert_eq!(reason, StopReason::Limit(limit.into()));
    assert_eq!(seen(&host, &id).await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn temporary_sessions_end_at_their_first_trap() {
    let host = supervised_host().await;
    let (id, mut events) = watched(&host, StartOptions::guest("temporary")).await;
    trap(&host, &id).await;
    assert!(matches!(
        terminated(&mut events).await,
        StopReason::Crashed(_)
    ));
    assert!(!host.is_started(&id));
    assert_eq!(host.metrics().counters.restarted_total, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn permanent_sessions_restart_when_the_guest_stops_itself() {
    let host = supervised_host().await;
    let stop = json!({"op":"stop","reason":"done"});

    let (id, mut events) = watched(&host, StartOptions::guest("permanent")).await;
    record(&host, &id, 2).await;
    call(&host, &id, stop.clone()).await.unwrap();
    let (reason, from_checkpoint, _) = restarted(&mut events).await;
    assert_eq!(reason, StopReason::Requested("done".into()));
    assert!(from_checkpoint);
    assert_eq!(seen(&host, &id).await, 2);
    // An end decided outside the guest is final, even for a permanent session.
    host.terminate(&id).await.unwrap();
    assert_eq!(terminated(&mut events).await, StopReason::Normal);

    // A transient session that stops itself just ends.
    let (id, mut events) = watched(&host, StartOptions::guest("checkpointed")).await;
    call(&host, &id, stop).await.unwrap();
    assert_eq!(
        terminated(&mut events).await,
        StopReason::Requested("done".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_intensity_the_session_ends_crashed() {
    let host = supervised_host().await;
    let (id, mut events) = watched(&host, StartOptions::guest("fragile")).await;
    for _ in 0..2 {
        trap(&host, &id).await;
        restarted(&mut events).await;
    }
    trap(&host, &id).await;
    match terminated(&mut events).await {
        StopReason::Crashed(why) => assert!(why.contains("more than 2 restarts"), "{why}"),
        other => panic!("expected crashed, got {other:?}"),
    }
    assert!(!host.is_started(&id));
    assert_eq!(host.stats().sessions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_whose_restore_traps_ends_the_session() {
    let host = supervised_host().await;
    let (id, mut events) = watched(
        &host,
        StartOptions::guest("checkpointed").args(r#"{"mode":"trap_restore"}"#),
    )
    .await;
    record(&host, &id, 1).await;
    trap(&host, &id).await;
    match terminated(&mut events).await {
        StopReason::Crashed(why) => assert!(why.contains("restore"), "{why}"),
        other => panic!("expected crashed, got {other:?}"),
    }
    assert!(!host.is_started(&id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_sessions_are_untouched_by_a_restart() {
    let host = supervised_host().await;
    let calm = host
        .start(StartOptions::guest("checkpointed"))
        .await
        .unwrap();
    let crashy = host
        .start(StartOptions::guest("checkpointed"))
        .await
        .unwrap();
    record(&host, &calm, 5).await;
    for _ in 0..3 {
        trap(&host, &crashy).await;
    }
    assert_eq!(seen(&host, &calm).await, 5);
    let echo: Value = call(&host, &calm, json!({"op":"echo","data":1}))
        .await
        .unwrap();
    assert_eq!(echo, json!({"data":1}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_checkpoint_that_overflows_goes_back_to_the_last_good_one_and_says_so() {
    let host = supervised_host().await;
    let (id, mut events) = watched(&host, StartOptions::guest("checkpointed")).await;
    for n in 1..=5 {
        assert_eq!(
            call(&host, &id, json!({"op":"add","n":1})).await.unwrap(),
            json!({"value": n})
        );
    }
    // The message itself succeeds, but the checkpoint after it overflows the stack: the
    // caller must not be told it worked, since its effects went with the instance.
    match call(&host, &id, json!({"op":"break_snapshot"})).await {
        Err(SessionError::GuestTrap { kind, message }) => {
            // The engine's stack or the guest's shadow stack in linear memory, whichever
            // runs out first (see `isolation.rs`).
            assert!(
                matches!(kind, TrapKind::StackOverflow | TrapKind::MemoryOutOfBounds),
                "{kind}"
            );
            assert!(
                message.contains("checkpoint after this message failed"),
                "{message}"
            );
        }
        other => panic!("expected a guest trap, got {other:?}"),
    }
    let (reason, from_checkpoint, lost) = restarted(&mut events).await;
    assert_eq!(reason.kind(), "crashed", "{reason}");
    assert!(
        from_checkpoint,
        "restarted from the checkpoint after the fifth add"
    );
    assert_eq!(lost, 1, "the failed message is the only one lost");
    assert_eq!(
        call(&host, &id, json!({"op":"add","n":0})).await.unwrap(),
        json!({"value": 5}),
        "the state of the last good checkpoint"
    );
    let counters = host.metrics().counters;
    assert_eq!(counters.checkpoints_failed_total, 1);
    assert_eq!(counters.restarted_total, 1);
}
