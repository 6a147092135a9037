//! End-to-end: the counter of every guest language runs the same protocol in the real host.
//!
//! The Rust counters are built by `tests/build.rs`; the Python, JavaScript, C and Zig
//! counters by `make guests` (their toolchains come from PyPI, npm and Debian, installed by
//! `make setup`), into `target/guests/lang/`. Each test here loads one language's counter
//! beside the Rust `counter` and runs [`counter_protocol`] against it: calls, casts, events,
//! errors, a snapshot round trip through the Rust counter, terminate.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sessionhost::{
    GuestLayout, Host, SessionError, SessionEvent, SessionEvents, StartOptions, StopReason,
};
use sessionhost_tests::protocol::{counter_protocol, lang_guest};
use sessionhost_tests::support::{self, call, terminated};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust() {
    let host = support::host().await;
    counter_protocol(&host, "counter-lean").await;
}

/// A host with the JavaScript guests `names` loaded beside the Rust ones.
///
/// A componentize-js component carries the whole SpiderMonkey engine (~11.5 MiB, ~9 MiB of
/// initial linear memory, a 7 695-entry function table), so the host's `auto` layout puts
/// it in the large layout, beside the dense Rust guests. Compiling it takes minutes in a
/// debug build: compiled code is cached under `target/guests/lang/compiled` for the next run.
async fn js_host(names: &[&str]) -> Host {
    let cache = lang_guest("counter-js").with_file_name("compiled");
    let host = support::host_with(support::config().compile_cache_dir(cache)).await;
    for name in names {
        let started = Instant::now();
        let info = host
            .load_guest_file(name, lang_guest(name))
            .await
            .unwrap_or_else(|e| panic!("loading {name}: {e}"));
        eprintln!("{name} loaded in {:?}", started.elapsed());
        assert_eq!(info.layout, GuestLayout::Large, "{name}: {info:?}");
    }
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js() {
    let host = js_host(&["counter-js"]).await;
    counter_protocol(&host, "counter-js").await;
}

/// The SDK's `ctx` through the real host: session ID, clock, timers (fired, cancelled),
/// publish, stop and the reason `terminate` sees; thrown strings, errors and bugs as guest
/// errors that leave the session running; async methods; no snapshot without `snapshot`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_host_imports() {
    let host = js_host(&["probe-js"]).await;
    let id = host.start(StartOptions::guest("probe-js")).await.unwrap();
    let mut events = host.subscribe(&id).unwrap();

    let me = call(&host, &id, json!({"op":"whoami"})).await.unwrap();
    assert_eq!(me["id"], json!(id.as_str()));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let guest_now = u128::from(me["now"].as_u64().expect("now is a number"));
    assert!(now.abs_diff(guest_now) < 60_000, "{now} vs {guest_now}");

    let late = call(
        &host,
        &id,
        json!({"op":"timer","delay":60_000,"message":{"n":2}}),
    )
    .await
    .unwrap();
    let soon = call(
        &host,
        &id,
        json!({"op":"timer","delay":20,"message":{"n":1}}),
    )
    .await
    .unwrap();
    assert_ne!(late["timer"], soon["timer"]);
    let cancel = json!({"op":"cancel","timer":late["timer"]});
    assert_eq!(
        call(&host, &id, cancel.clone()).await.unwrap(),
        json!({"cancelled":true})
    );
    assert_eq!(
        call(&host, &id, cancel).await.unwrap(),
        json!({"cancelled":false})
    );
    assert_eq!(published(&mut events).await, json!({"cast":{"n":1}}));

    for (what, message) in [("string", "a thrown string"), ("error", "a thrown error")] {
        let e = call(&host, &id, json!({"op":"throw","what":what}))
            .await
            .expect_err("refused");
        assert!(
            matches!(e, SessionError::GuestError(ref m) if m == message),
            "{e:?}"
        );
    }
    let e = call(&host, &id, json!({"op":"throw","what":"bug"}))
        .await
        .expect_err("a TypeError");
    assert_eq!(e.kind(), "guest_error", "{e:?}");
    assert_eq!(
        call(&host, &id, json!({"op":"async"})).await.unwrap(),
        json!({"async":true})
    );
    call(&host, &id, json!({"op":"log","text":"hello from js"}))
        .await
        .unwrap();
    assert_eq!(host.snapshot(&id).await.unwrap(), None);

    call(&host, &id, json!({"op":"stop","reason":"done"}))
        .await
        .unwrap();
    assert_eq!(
        published(&mut events).await,
        json!({"terminated":"requested: done","tag":"requested"})
    );
    assert_eq!(
        terminated(&mut events).await,
        StopReason::Requested("done".into())
    );
}

/// The next event, which must be a published JSON value.
async fn published(events: &mut SessionEvents) -> Value {
    let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("an event");
    match event {
        SessionEvent::Published(bytes) => serde_json::from_slice(&bytes).expect("JSON"),
        other => panic!("expected a published event, got {other:?}"),
    }
}
