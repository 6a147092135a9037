//! End-to-end: the counter of every guest language runs the same protocol in the real host.
//!
//! The Rust counters are built by `tests/build.rs`; the Python, JavaScript, C and Zig
//! counters by `make guests` (their toolchains come from PyPI, npm and Debian, installed by
//! `make setup`), into `target/guests/lang/`. Each test here loads one language's counter
//! beside the Rust `counter` and runs [`counter_protocol`] against it: calls, casts, events,
//! errors, a snapshot round trip through the Rust counter, terminate. An SDK with more to
//! check has more tests here (`zig_host_imports`: every host import through the Zig SDK and
//! the C SDK beneath it; `js_host_imports`: the same through the JavaScript SDK).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sessionhost::{
    GuestLayout, Host, SessionError, SessionEvent, SessionEvents, StartOptions, StopReason,
};
use sessionhost::{GuestSource, LoadOptions};
use sessionhost_tests::protocol::{counter_protocol, lang_dir, lang_guest};
use sessionhost_tests::support::{self, call, terminated};

/// A test host with the other language's guest `name` (built by `make guests`) loaded
/// beside the Rust guests, in the memory layout `auto` must pick for it: dense for C and Zig,
/// large for the Python and JavaScript runtimes (whose compiled code is cached under
/// `target/`, as compiling one takes a debug build minutes).
async fn lang_host(name: &str, layout: GuestLayout) -> Host {
    let config = support::config().compile_cache_dir(lang_dir().join("compiled"));
    let host = support::host_with(config).await;
    let started = Instant::now();
    let info = host
        .load_guest(
            name,
            GuestSource::file(&lang_guest(name)),
            LoadOptions::default(),
        )
        .await
        .unwrap_or_else(|e| panic!("loading {name}: {e}"));
    eprintln!("{name} loaded in {:?}", started.elapsed());
    assert_eq!(info.layout, layout, "{name}: {info:?}");
    host
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust() {
    let host = support::host().await;
    counter_protocol(&host, "counter-lean").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c() {
    let host = lang_host("counter-c", GuestLayout::Dense).await;
    counter_protocol(&host, "counter-c").await;
    malformed_messages_are_refused(&host, "counter-c").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zig() {
    let host = lang_host("counter-zig", GuestLayout::Dense).await;
    counter_protocol(&host, "counter-zig").await;
    malformed_messages_are_refused(&host, "counter-zig").await;
}

/// The C and Zig counters read messages with the C SDK's JSON scanner (sh_json.c): anything
/// but one well-formed object with the right member types is refused, and changes nothing.
async fn malformed_messages_are_refused(host: &Host, guest: &str) {
    let id = host.start(StartOptions::guest(guest)).await.expect("start");
    for bad in [
        "",
        "nope",
        r#"{"op":"incr""#,
        r#"{"op":"incr",}"#,
        r#"{"op":"incr","by":1.5}"#,
        r#"{"op":"incr","by":"2"}"#,
        r#"{"op":"incr","by":99999999999999999999}"#,
        r#"{"op":"incr"} trailing"#,
        r#"["op","incr"]"#,
        r#"{"op":get}"#,
    ] {
        let e = host
            .call(&id, bad.as_bytes(), None)
            .await
            .expect_err("refused");
        assert!(
            matches!(e, SessionError::GuestError(ref m) if m.starts_with("invalid call message")),
            "{guest}: {bad:?}: {e:?}"
        );
        host.cast(&id, bad.as_bytes())
            .await
            .expect("a cast is queued");
    }
    // Whitespace, unknown members, nesting and escapes elsewhere in the object are fine.
    let reply = host
        .call(
            &id,
            br#" { "x" : [1, {"y": "a\"b"}], "by" : -2 , "op" : "incr" } "#,
            None,
        )
        .await
        .expect("a valid call");
    assert_eq!(reply, br#"{"value":-2}"#, "{guest}");
    let reply = host
        .call(&id, br#"{"op":"incr","by":null}"#, None)
        .await
        .expect("null is absent");
    assert_eq!(
        reply, br#"{"value":-1}"#,
        "{guest}: the casts changed nothing"
    );
}

/// Every host import through the Zig SDK and the C SDK beneath it (`imports-zig`, built from
/// guest-sdk/zig/tests/imports.zig): session ID, clock, timers set, fired and cancelled, stop
/// with the terminate callback, and a panic reported as a trap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zig_host_imports() {
    let host = lang_host("imports-zig", GuestLayout::Dense).await;
    let text = async |id: &str, request: &str| {
        let reply = host.call(id, request.as_bytes(), None).await;
        String::from_utf8(reply.unwrap_or_else(|e| panic!("{request}: {e}"))).expect("utf-8")
    };
    let id = host
        .start(StartOptions::guest("imports-zig"))
        .await
        .expect("start");
    let mut events = host.subscribe(&id).expect("subscribe");

    assert_eq!(text(&id, "id").await, id.to_string());
    let now: u64 = text(&id, "now").await.parse().expect("a number");
    let wall = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    assert!(u128::from(now).abs_diff(wall) < 60_000, "{now} vs {wall}");

    let pending: u64 = text(&id, "later:60000").await.parse().expect("a timer id");
    text(&id, "later:10").await;
    match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
        Ok(Ok(SessionEvent::Published(event))) => assert_eq!(&event[..], b"fired"),
        other => panic!("expected the timer's event, got {other:?}"),
    }
    assert_eq!(text(&id, &format!("cancel:{pending}")).await, "true");
    assert_eq!(text(&id, &format!("cancel:{pending}")).await, "false");

    assert_eq!(text(&id, "stop").await, "stopping");
    match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
        Ok(Ok(SessionEvent::Published(event))) => assert_eq!(&event[..], b"bye:requested:done"),
        other => panic!("expected terminate's event, got {other:?}"),
    }
    assert_eq!(
        terminated(&mut events).await,
        StopReason::Requested("done".into())
    );

    let id = host
        .start(StartOptions::guest("imports-zig"))
        .await
        .expect("start");
    let e = host
        .call(&id, b"panic", None)
        .await
        .expect_err("a panic traps");
    assert_eq!(e.kind(), "guest_trap", "{e:?}");
    let e = host
        .call(&id, b"nonsense", None)
        .await
        .expect_err("refused");
    assert!(
        matches!(e, SessionError::GuestError(ref m) if m == "unknown request"),
        "{e:?}"
    );
}

/// The Python counter (`make guest-python`): the protocol, then its log lines (`ctx.warn`
/// from the SDK and the guest, Python `logging` from its `terminate`) in the host log,
/// tagged with the session.
///
/// The component embeds CPython (~20 MB, a 13.6 MiB linear memory that grows, a 5 678-entry
/// table), so the host loads it with the large layout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python() {
    let logs = support::guest_logs();
    let host = lang_host("counter-python", GuestLayout::Large).await;
    counter_protocol(&host, "counter-python").await;

    let start = format!(r#"{{"start":{}}}"#, i64::MAX);
    let id = host
        .start(StartOptions::guest("counter-python").args(start))
        .await
        .unwrap();
    host.cast(&id, br#"{"op":"incr"}"#).await.unwrap();
    host.cast(&id, b"not json").await.unwrap();
    // A call is handled after the casts queued before it.
    host.call(&id, br#"{"op":"get"}"#, None).await.unwrap();
    host.terminate(&id).await.unwrap();

    let of_session = logs.of_session(&id);
    let logged = |level: tracing::Level, text: &str| {
        of_session
            .iter()
            .any(|(l, fields)| *l == level && fields.contains(text))
    };
    assert!(
        logged(tracing::Level::WARN, "overflow adding 1"),
        "the guest's ctx.warn: {of_session:#?}"
    );
    assert!(
        logged(tracing::Level::WARN, "dropped an invalid cast message: "),
        "the SDK's warning: {of_session:#?}"
    );
    let last = format!("counter: ended at {} (normal)", i64::MAX);
    assert!(
        logged(tracing::Level::INFO, &last),
        "Python logging from terminate: {of_session:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js() {
    let host = lang_host("counter-js", GuestLayout::Large).await;
    counter_protocol(&host, "counter-js").await;
}

/// The SDK's `ctx` through the real host: session ID, clock, timers (fired, cancelled),
/// publish, stop and the reason `terminate` sees; thrown strings, errors and bugs as guest
/// errors that leave the session running; async methods; no snapshot without `snapshot`;
/// `ctx.info` and `console.log` lines in the host log, tagged with the session.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn js_host_imports() {
    let logs = support::guest_logs();
    let host = lang_host("probe-js", GuestLayout::Large).await;
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
    {
        let of_session = logs.of_session(&id);
        let hello = |stream: bool| {
            of_session.iter().any(|(level, fields)| {
                *level == tracing::Level::INFO
                    && fields.contains("hello from js")
                    && fields.contains("stream=") == stream
            })
        };
        assert!(hello(false), "ctx.info: {of_session:#?}");
        assert!(hello(true), "console.log: {of_session:#?}");
        assert!(
            of_session
                .iter()
                .any(|(level, fields)| *level == tracing::Level::ERROR
                    && fields.contains("TypeError")),
            "the SDK logs a bug with its stack: {of_session:#?}"
        );
    }

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
