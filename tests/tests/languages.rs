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
async fn c() {
    let host = support::host().await;
    host.load_guest_file("counter-c", lang_guest("counter-c"))
        .await
        .expect("load the C counter");
    counter_protocol(&host, "counter-c").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zig() {
    let host = support::host().await;
    host.load_guest_file("counter-zig", lang_guest("counter-zig"))
        .await
        .expect("load the Zig counter");
    counter_protocol(&host, "counter-zig").await;
}
