//! End-to-end over a real socket: what hostile stream clients cost the server's memory. Alone
//! in its test binary so that no other test's allocations move the process's resident set;
//! the server runs in this process.
//!
//! Two cases, each run once to warm up and then [`ROUNDS`] times, the resident set
//! (`/proc/self/statm`) compared with the baseline taken after the warm-up:
//! - a session floods a stalled SSE client and a stalled WebSocket client (neither reads)
//!   with 2 000 events of 100 kB (200 MB), then is deleted;
//! - 20 WebSocket clients each announce a 9 MB frame (and send 64 KiB of it).
//!
//! Before the subscriber budgets, the first case grew the resident set by ~250 MiB and held
//! it after the session was deleted; the second read 9 MB per socket before refusing.

use std::time::Duration;

use serde_json::json;
use sessionhost::StartOptions;
use sessionhost::http::HttpConfig;
use sessionhost_tests::server::TestServer;
use sessionhost_tests::support::{self, eventually};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// Rounds of each case after the warm-up.
const ROUNDS: usize = 3;
/// Most the resident set may stay above its baseline after a case: allocator caches, not
/// the events (one round queues 200 MB; a leak of them would show many times over).
const MARGIN_MIB: f64 = 48.0;

/// The process's resident set, in MiB.
fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("statm's second field");
    pages * 4096.0 / (1024.0 * 1024.0)
}

async fn stalled_subscribers_flooded(server: &TestServer) -> f64 {
    let id = server
        .host
        .start(StartOptions::guest("hostile"))
        .await
        .expect("starts");
    let token = server.keys.sign_for(&id, "hostile");
    let sse = server.raw_event_stream(&token).await;
    let ws = server.raw_websocket(&token).await;
    eventually("both attached", || server.host.stats().subscribers == 2).await;
    for _ in 0..40 {
        let reply = support::call(
            &server.host,
            &id,
            json!({"op":"publish","n":50,"bytes":100_000}),
        )
        .await
        .expect("published");
        assert_eq!(reply["ok"], 50, "{reply}");
    }
    let peak = rss_mib();
    let reply = reqwest::Client::new()
        .delete(server.url("/v1/session"))
        .header("x-session-id", &token)
        .send()
        .await
        .expect("answered");
    assert_eq!(reply.status(), reqwest::StatusCode::NO_CONTENT);
    eventually("no subscriber, no session", || {
        let stats = server.host.stats();
        (stats.sessions, stats.subscribers) == (0, 0)
    })
    .await;
    // Their connections are closed by the server although they never read.
    for mut stream in [sse, ws] {
        let mut sink = vec![0u8; 1 << 16];
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match stream.read(&mut sink).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "a stalled connection was left open");
    }
    peak
}

async fn wide_frames(server: &TestServer) -> f64 {
    let (id, token) = server.counter_session().await;
    let mut sockets = Vec::new();
    for _ in 0..20 {
        let mut socket = server.raw_websocket(&token).await;
        let mut frame = vec![0x82, 0x80 | 127];
        frame.extend_from_slice(&9_000_000u64.to_be_bytes());
        frame.extend_from_slice(&[1, 2, 3, 4]);
        frame.extend_from_slice(&vec![b'x'; 64 * 1024]);
        // The server may close before taking it all.
        let _ = socket.write_all(&frame).await;
        sockets.push(socket);
    }
    let peak = rss_mib();
    for socket in &mut sockets {
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut rest))
            .await
            .expect("the server closes a socket that announced a 9 MB frame");
    }
    drop(sockets);
    eventually("no subscriber left", || {
        server.host.stats().subscribers == 0
    })
    .await;
    server.host.terminate(&id).await.expect("ends");
    peak
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_stream_clients_leave_the_servers_memory_at_its_baseline() {
    let server = TestServer::start_with(
        support::config().default_guest("counter"),
        HttpConfig {
            stream_close_grace: Duration::from_millis(300),
            ..HttpConfig::default()
        },
    )
    .await;
    stalled_subscribers_flooded(&server).await;
    wide_frames(&server).await;
    let baseline = rss_mib();
    for round in 0..ROUNDS {
        let peak = stalled_subscribers_flooded(&server).await;
        let after = rss_mib();
        eprintln!(
            "stalled SSE+WS flooded with 200 MB, round {round}: baseline {baseline:.1} MiB, \
             right after the flood {peak:.1}, after the delete {after:.1} (+{:.1})",
            after - baseline
        );
        assert!(
            after - baseline <= MARGIN_MIB,
            "resident memory stayed {:.1} MiB above its baseline",
            after - baseline
        );
        let peak = wide_frames(&server).await;
        let after = rss_mib();
        eprintln!(
            "20 sockets announcing 9 MB frames, round {round}: baseline {baseline:.1} MiB, \
             with the sockets open {peak:.1}, after they close {after:.1} (+{:.1})",
            after - baseline
        );
        assert!(
            after - baseline <= MARGIN_MIB,
            "resident memory stayed {:.1} MiB above its baseline",
            after - baseline
        );
    }
    server.stop().await;
}
