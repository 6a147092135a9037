//! End-to-end: a mailbox is bounded in bytes as well as in messages, per session and for the
//! whole host, and a terminate or a kill jumps it.
//!
//! A busy session (its guest sleeps in a call) cannot take more casts or waiting calls than
//! `mailbox_bytes` hold; all sessions together cannot hold more than `mailbox_bytes_total`.
//! Refused messages get `mailbox_full` at once; accepted ones are all delivered.

#![expect(
    clippy::unwrap_used,
    reason = "a test panics on what it did not expect"
)]

use std::time::Duration;

use serde_json::{Value, json};
use sessionhost::{Host, SessionError, SessionEvent, StartOptions, StopReason};
use sessionhost_tests::support::{self, call, cast, eventually, terminated};

const MIB: u64 = 1024 * 1024;

/// A `record` cast of about `bytes` bytes (the guest ignores the padding), encoded once so
/// that a flood takes microseconds, not the encoding time of each message.
fn padded_record(n: i64, bytes: usize) -> Vec<u8> {
    json!({"op":"record","n":n,"pad":"x".repeat(bytes)})
        .to_string()
        .into_bytes()
}

/// Starts a hostile session and makes it sleep `ms` in a call (spawned); returns its ID once
/// the call holds the session.
async fn busy(host: &Host, ms: u64) -> sessionhost::SessionId {
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let before = host.stats().blocked;
    let (h, i) = (host.clone(), id.clone());
    tokio::spawn(async move { call(&h, &i, json!({"op":"block_ms","ms":ms})).await });
    eventually("the call holds the session", || {
        host.stats().blocked > before
    })
    .await;
    id
}

fn mailbox_bytes_full(e: &SessionError) -> &'static str {
    match e {
        SessionError::MailboxBytesFull { scope, .. } => scope,
        other => panic!("expected mailbox_full (bytes), got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn casts_past_the_session_bytes_are_refused_and_the_accepted_ones_all_run() {
    let host = support::host_with(
        support::config()
            .call_timeout(Duration::from_secs(30))
            .memory_per_session(16 * MIB)
            .max_message_bytes(MIB)
            .mailbox_bytes(4 * MIB),
    )
    .await;
    // The hold is long so that a loaded machine still sends every cast while it lasts.
    let id = busy(&host, 10_000).await;
    let (mut accepted, mut refused) = (Vec::new(), 0);
    let messages: Vec<Vec<u8>> = (0..8).map(|n| padded_record(n, 900_000)).collect();
    for (n, message) in messages.iter().enumerate() {
        match host.cast(&id, message).await {
            Ok(()) => accepted.push(n as i64),
            Err(e) => {
                assert_eq!(mailbox_bytes_full(&e), "session");
                assert_eq!(e.kind(), "mailbox_full");
                refused += 1;
            }
        }
    }
    // 900 kB each: four fit in 4 MiB, the fifth would not.
    assert_eq!(host.stats().blocked, 1, "the session was held throughout");
    assert_eq!(accepted, vec![0, 1, 2, 3]);
    assert_eq!(refused, 4);
    let info = host.info(&id).unwrap();
    assert_eq!(info.mailbox, 4);
    // The sleeper wakes; every accepted cast runs, in order.
    assert_eq!(
        call(&host, &id, json!({"op":"casts"})).await.unwrap(),
        json!({"seen": accepted})
    );
    // A small cast still fits a full-by-bytes mailbox once it drained.
    host.cast(&id, &padded_record(99, 10)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_calls_count_their_bytes() {
    let host = support::host_with(
        support::config()
            .call_timeout(Duration::from_secs(30))
            .memory_per_session(16 * MIB)
            .max_message_bytes(MIB)
            .mailbox_bytes(2 * MIB),
    )
    .await;
    let id = busy(&host, 8_000).await;
    let request = json!({"op":"echo","data":"y".repeat(700_000)});
    let callers: Vec<_> = (0..6)
        .map(|_| {
            let (host, id, request) = (host.clone(), id.clone(), request.clone());
            tokio::spawn(async move { call(&host, &id, request).await.map(drop) })
        })
        .collect();
    let mut outcomes = Vec::new();
    for caller in callers {
        outcomes.push(caller.await.unwrap());
    }
    let ok = outcomes.iter().filter(|o| o.is_ok()).count();
    // Two 700 kB requests fit in 2 MiB while the session is busy; the others are refused.
    assert_eq!(ok, 2, "{outcomes:?}");
    for refused in outcomes.iter().filter_map(|o| o.as_ref().err()) {
        assert_eq!(mailbox_bytes_full(refused), "session");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_mailboxes_together_are_bounded_by_the_host_total() {
    let host = support::host_with(
        support::config()
            .call_timeout(Duration::from_secs(30))
            .memory_per_session(16 * MIB)
            .max_message_bytes(MIB)
            .mailbox_bytes(4 * MIB)
            .mailbox_bytes_total(6 * MIB),
    )
    .await;
    let first = busy(&host, 10_000).await;
    let second = busy(&host, 10_000).await;
    let messages: Vec<Vec<u8>> = (0..4).map(|n| padded_record(n, 900_000)).collect();
    for message in &messages {
        host.cast(&first, message).await.unwrap();
    }
    // 3.6 MB pending in the first; the second may add two more before the host's 6 MiB.
    let mut second_accepted = 0;
    let mut scopes = Vec::new();
    for message in &messages {
        match host.cast(&second, message).await {
            Ok(()) => second_accepted += 1,
            Err(e) => scopes.push(mailbox_bytes_full(&e)),
        }
    }
    assert_eq!(second_accepted, 2);
    assert_eq!(scopes, vec!["host", "host"]);
    // Both drain; then the host has room again.
    call(&host, &first, json!({"op":"count"})).await.unwrap();
    call(&host, &second, json!({"op":"count"})).await.unwrap();
    for message in &messages {
        host.cast(&second, message).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminate_jumps_a_full_mailbox() {
    let host = support::host_with(
        support::config()
            .call_timeout(Duration::from_secs(10))
            .mailbox(64),
    )
    .await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();
    // A 5 s block holds the session (long enough for a loaded machine to fill the mailbox
    // meanwhile); 32 sleeps of 300 ms and 32 casts fill it. Delivered in turn they would
    // take ~10 s more.
    let (h, i) = (host.clone(), id.clone());
    let running =
        tokio::spawn(async move { call(&h, &i, json!({"op":"block_ms","ms":5_000})).await });
    eventually("the first sleep runs", || host.stats().blocked == 1).await;
    let waiting: Vec<_> = (0..32)
        .map(|_| {
            let (host, id) = (host.clone(), id.clone());
            tokio::spawn(async move { call(&host, &id, json!({"op":"block_ms","ms":300})).await })
        })
        .collect();
    eventually("32 calls wait", || {
        host.info(&id).is_ok_and(|i| i.mailbox == 32)
    })
    .await;
    for n in 0..32 {
        cast(&host, &id, json!({"op":"record","n":n}))
            .await
            .unwrap();
    }
    assert_eq!(
        cast(&host, &id, json!({"op":"record","n":99}))
            .await
            .unwrap_err(),
        SessionError::MailboxFull { capacity: 64 }
    );

    host.terminate(&id).await.unwrap();
    // The running message finished; everything waiting was refused, nothing else ran.
    assert!(running.await.unwrap().is_ok());
    for task in waiting {
        assert_eq!(
            task.await.unwrap().unwrap_err(),
            SessionError::SessionNotFound
        );
    }
    match events.recv().await.unwrap() {
        SessionEvent::Published(bytes) => {
            let last: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(last, json!({"terminated":"normal","casts":0}));
        }
        other => panic!("expected the guest's last event, got {other:?}"),
    }
    assert_eq!(terminated(&mut events).await, StopReason::Normal);
    assert_eq!(host.metrics().counters.discarded_total, 32);
    assert_eq!(
        cast(&host, &id, json!({"op":"record","n":1}))
            .await
            .unwrap_err(),
        SessionError::SessionNotFound
    );
}
