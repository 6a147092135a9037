//! End-to-end: a flood of large casts cannot grow the host's memory past the mailbox byte
//! bounds, and the memory comes back when the flooded sessions end. Alone in its test binary
//! so that no other test's allocations move the process's resident memory.
//!
//! The case that used to cost +300 MiB: 300 casts of 1 MB to one busy session (all were
//! accepted, the mailbox being bounded by count only), then the same from 20 sessions at once.

#![expect(
    clippy::unwrap_used,
    reason = "a test panics on what it did not expect"
)]

use std::time::Duration;

use serde_json::json;
use sessionhost::{Host, StartOptions};
use sessionhost_tests::support::{self, eventually, rss_mib};

const MIB: u64 = 1024 * 1024;
/// Most the resident set may exceed its baseline by, at the flood's peak and after it: the
/// bytes the bounds let in plus allocator slack (freed 1 MB blocks may stay in the heap).
const PEAK_BOUND_MIB: f64 = 48.0;
const AFTER_BOUND_MIB: f64 = 40.0;

/// Starts `n` hostile sessions, each sleeping 3 s in a call (so casts queue up).
async fn busy_sessions(host: &Host, n: usize) -> Vec<sessionhost::SessionId> {
    let mut ids = Vec::new();
    for _ in 0..n {
        let id = host.start(StartOptions::guest("hostile")).await.unwrap();
        let (h, i) = (host.clone(), id.clone());
        tokio::spawn(async move {
            let _ = h.call(&i, br#"{"op":"block_ms","ms":3000}"#, None).await;
        });
        ids.push(id);
    }
    eventually("every session is busy", || host.stats().blocked == n).await;
    ids
}

/// Terminates every session at once (each waits for its running sleep, then jumps its
/// mailbox: the queued casts are discarded, never delivered).
async fn end_all(host: &Host, ids: &[sessionhost::SessionId]) {
    let ends = ids.iter().map(|id| host.terminate(id));
    for ended in futures_util::future::join_all(ends).await {
        ended.expect("a flooded session ends");
    }
}

/// Casts `per_session` messages of 1 MB to each session; returns how many were accepted.
async fn flood(host: &Host, ids: &[sessionhost::SessionId], per_session: usize) -> usize {
    let message = json!({"op":"record","n":0,"pad":"x".repeat(1_000_000)}).to_string();
    let mut accepted = 0;
    for _ in 0..per_session {
        for id in ids {
            match host.cast(id, message.as_bytes()).await {
                Ok(()) => accepted += 1,
                Err(e) => assert_eq!(e.kind(), "mailbox_full", "{e}"),
            }
        }
    }
    accepted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_cast_floods_are_bounded_and_their_memory_returns() {
    let host = support::host_with(
        support::config()
            .call_timeout(Duration::from_secs(10))
            .mailbox_bytes(8 * MIB)
            .mailbox_bytes_total(32 * MIB),
    )
    .await;
    // Warm up: one small round, so allocator arenas and caches exist before the baseline.
    let ids = busy_sessions(&host, 2).await;
    flood(&host, &ids, 2).await;
    end_all(&host, &ids).await;
    eventually("warm-up sessions gone", || host.stats().sessions == 0).await;
    let baseline = rss_mib();

    // One session, 300 casts of 1 MB: 8 fit its 8 MiB.
    let one = busy_sessions(&host, 1).await;
    let accepted = flood(&host, &one, 300).await;
    assert_eq!(accepted, 8);
    let peak_one = rss_mib() - baseline;
    end_all(&host, &one).await;

    // Twenty sessions, 20 casts each: the host's 32 MiB let 33 in, whoever sent them.
    let many = busy_sessions(&host, 20).await;
    let accepted = flood(&host, &many, 20).await;
    assert_eq!(accepted, 33);
    let peak_many = rss_mib() - baseline;
    end_all(&host, &many).await;
    eventually("flooded sessions gone", || {
        let stats = host.stats();
        (stats.sessions, stats.instances) == (0, 0)
    })
    .await;
    let after = rss_mib() - baseline;
    eprintln!(
        "resident set over baseline {baseline:.1} MiB: one flooded session {peak_one:+.1} MiB, \
         twenty {peak_many:+.1} MiB, after they ended {after:+.1} MiB"
    );
    assert!(peak_one < PEAK_BOUND_MIB, "one session: +{peak_one:.1} MiB");
    assert!(
        peak_many < PEAK_BOUND_MIB,
        "twenty sessions: +{peak_many:.1} MiB"
    );
    assert!(after < AFTER_BOUND_MIB, "after: +{after:.1} MiB");
}
