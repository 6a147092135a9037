//! End-to-end: the counter of every guest language runs the same protocol in the real host.
//!
//! The Rust counters are built by `tests/build.rs`; the Python, JavaScript, C and Zig
//! counters by `make guests` (their toolchains come from PyPI, npm and Debian, installed by
//! `make setup`), into `target/guests/lang/`. Each test here loads one language's counter
//! beside the Rust `counter` and runs [`counter_protocol`] against it: calls, casts, events,
//! errors, a snapshot round trip through the Rust counter, terminate.

use sessionhost_tests::protocol::{counter_protocol, lang_guest};
use sessionhost_tests::support;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust() {
    let host = support::host().await;
    counter_protocol(&host, "counter-lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js() {
    let host = support::host_with(support::config().memory_per_session(64 * 1024 * 1024)).await;
    let started = std::time::Instant::now();
    host.load_guest_file("counter-js", lang_guest("counter-js"))
        .await
        .unwrap();
    eprintln!("counter-js loaded in {:?}", started.elapsed());
    counter_protocol(&host, "counter-js").await;
}
