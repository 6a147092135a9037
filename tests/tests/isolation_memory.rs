//! End-to-end: offending sessions leave nothing behind in the host process. Alone in its test
//! binary so that no other test's allocations move the process's resident memory.
//!
//! A loop of offending sessions — traps, memory bombs, stack overflows, loops cut at their
//! deadline, timer and log floods, oversized replies and events, and a large-layout session
//! that grows a table to its 8 MiB cap (`tests/wat/table-bomb.wat`) — each checked to be gone
//! (`HostStats::{sessions, instances, subscribers}` back to zero) before the next; then the
//! process's resident set (`/proc/self/statm`) must not have grown by more than
//! [`RSS_BOUND_MIB`] over a warmed-up baseline.

use std::time::Duration;

use serde_json::{Value, json};
use sessionhost::GuestSource;
use sessionhost::{GuestLayout, GuestOptions, Host, RestartPolicy, StartOptions};
use sessionhost_tests::protocol::lang_guest;
use sessionhost_tests::support::{self, eventually, rss_mib};

/// Offending sessions run before the baseline is taken (each offence twice).
const WARM_UP: usize = 2 * 9;
/// Offending sessions run after the warm-up.
const ROUNDS: usize = 300;
/// Most the resident set may grow over the loop: allocator caches and tracing buffers, not
/// per-session leftovers (a leak of one 64 KiB pool slot per session would be ~19 MiB).
const RSS_BOUND_MIB: f64 = 8.0;

/// The offences, in turn: the guest and the request.
fn offence(round: usize) -> (&'static str, Value) {
    let hostile = match round % 9 {
        0 => json!({"op":"trap"}),
        1 => json!({"op":"grow","mib":64}),
        2 => json!({"op":"stack"}),
        3 => json!({"op":"loop"}),
        4 => json!({"op":"timers","n":1000,"delay_ms":60_000}),
        5 => json!({"op":"log_spam","n":1000}),
        6 => json!({"op":"huge","bytes":100_000}),
        7 => json!({"op":"publish","n":100,"bytes":100_000}),
        _ => return ("table-bomb", json!("grow")),
    };
    ("hostile", hostile)
}

async fn offend(host: &Host, round: usize) {
    let (guest, request) = offence(round);
    let id = host
        .start(StartOptions::guest(guest))
        .await
        .expect("the offender starts");
    let events = host.subscribe(&id).expect("a subscriber attaches");
    let _ = host.call(&id, request.to_string().as_bytes(), None).await;
    if host.is_started(&id) {
        host.terminate(&id).await.expect("the offender ends");
    }
    drop(events);
    eventually("the offender is gone, with its slot and subscriber", || {
        let stats = host.stats();
        (stats.sessions, stats.instances, stats.subscribers) == (0, 0, 0)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_host_returns_to_its_memory_baseline_after_offending_sessions() {
    let host = support::host_with(
        support::config()
            .max_message_bytes(64 * 1024)
            .fuel_per_call(0)
            .call_timeout(Duration::from_millis(50)),
    )
    .await;
    let large = GuestOptions {
        layout: GuestLayout::Large,
        restart: RestartPolicy::Temporary,
        ..GuestOptions::default()
    };
    host.load_guest(
        "table-bomb",
        GuestSource::file(&lang_guest("table-bomb")),
        large,
    )
    .await
    .expect("the table bomb loads");
    for round in 0..WARM_UP {
        offend(&host, round).await;
    }
    let before = rss_mib();
    for round in 0..ROUNDS {
        offend(&host, round).await;
    }
    let after = rss_mib();
    let stats = host.stats();
    assert_eq!(stats.started_total, (ROUNDS + WARM_UP) as u64);
    assert_eq!(stats.ended_total, stats.started_total);
    eprintln!(
        "rss before {before:.1} MiB, after {ROUNDS} offending sessions {after:.1} MiB (+{:.1})",
        after - before
    );
    assert!(
        after - before <= RSS_BOUND_MIB,
        "resident memory grew {:.1} MiB over {ROUNDS} offending sessions",
        after - before
    );
}
