//! End-to-end: per-guest memory layouts. Dense guests live in pool slots, large guests in
//! growable memories, side by side in one host; each guest's memory limit holds.

use bytesize::ByteSize;
use serde_json::json;
use sessionhost::{GuestLayout, GuestOptions, Host, RestartPolicy, StartOptions, TrapKind};
use sessionhost::{GuestSource, LoadOptions};
use sessionhost_tests::guests;
use sessionhost_tests::support::{self, call};

/// A host whose dense slots (128 KiB) are too small for the counter's 256 KiB memory.
fn small_slot_host() -> Host {
    let config = support::config()
        .memory_per_session(128 * 1024)
        .build()
        .expect("valid");
    Host::new(config).expect("host")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_that_does_not_fit_a_dense_slot_is_refused_when_dense_is_required() {
    let host = small_slot_host();
    let dense = GuestOptions {
        layout: GuestLayout::Dense,
        ..GuestOptions::default()
    };
    let error = host
        .load_guest("counter", GuestSource::file(guests::COUNTER), dense)
        .await
        .expect_err("does not fit");
    assert!(error.reason.contains("starts at 256 KiB"), "{error}");
    assert!(
        error.reason.contains("memory_per_session is 128 KiB"),
        "{error}"
    );
    assert!(error.reason.contains("--initial-memory=131072"), "{error}");
    assert!(host.guests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_loads_a_guest_that_does_not_fit_with_the_large_layout() {
    let host = small_slot_host();
    host.load_guest(
        "counter",
        GuestSource::file(guests::COUNTER),
        LoadOptions::default(),
    )
    .await
    .expect("auto falls back to large");
    let info = &host.guests()[0];
    assert_eq!(info.layout, GuestLayout::Large);
    assert_eq!(info.memory_limit, 256 << 20, "large_memory_per_session");
    let id = host
        .start(StartOptions::guest("counter"))
        .await
        .expect("start");
    assert_eq!(
        call(&host, &id, json!({"op":"incr","by":2}))
            .await
            .expect("incr"),
        json!({"value":2})
    );
    // The default host's counter is dense.
    let dense = support::host().await;
    let info = dense
        .guests()
        .into_iter()
        .find(|g| g.name == "counter")
        .expect("loaded");
    assert_eq!(info.layout, GuestLayout::Dense);
    assert_eq!(info.memory_limit, 256 << 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_sessions_grow_to_their_own_limit_beside_dense_sessions() {
    let host = support::host().await;
    let large = GuestOptions {
        layout: GuestLayout::Large,
        max_memory: Some(ByteSize::mib(8)),
        restart: RestartPolicy::Temporary,
        ..GuestOptions::default()
    };
    host.load_guest("roomy", GuestSource::file(guests::HOSTILE), large)
        .await
        .expect("loads large");
    let counter = host
        .start(StartOptions::guest("counter"))
        .await
        .expect("dense session");
    let roomy = host
        .start(StartOptions::guest("roomy"))
        .await
        .expect("large session");
    // A dense hostile session cannot grow at all past its 256 KiB slot; a large one can,
    // up to its guest's 8 MiB.
    let grown = call(&host, &roomy, json!({"op":"grow","mib":4}))
        .await
        .expect("4 MiB fits in 8 MiB");
    assert!(grown.is_object(), "{grown}");
    let info = host.info(&roomy).expect("live");
    assert!(info.memory_bytes >= 4 << 20, "{info:?}");
    let e = call(&host, &roomy, json!({"op":"grow","mib":16}))
        .await
        .expect_err("16 MiB does not fit");
    assert_eq!(
        match e {
            sessionhost::SessionError::GuestTrap { kind, .. } => kind,
            ref other => panic!("{other:?}"),
        },
        TrapKind::MemoryLimit
    );
    // The dense neighbour never noticed.
    assert_eq!(
        call(&host, &counter, json!({"op":"incr"}))
            .await
            .expect("incr"),
        json!({"value":1})
    );
    assert_eq!(host.stats().sessions, 1, "only the counter is left");
}
