//! End-to-end: loading guests (good and bad components), and each example guest's protocol.
//!
//! Every guest built by `tests/build.rs` must have a test here named after it; a guest
//! without one fails to compile this file.

use serde_json::json;
use sessionhost::{GuestSource, LoadOptions};
use sessionhost::{Host, SessionError, StartOptions};
use sessionhost_tests::guests;
use sessionhost_tests::support::{self, call, cast};

macro_rules! assert_has_test {
    ($name:ident) => {
        #[expect(unused_imports, reason = "only checks that the guest has a test")]
        use self::$name as _;
    };
}
sessionhost_tests::foreach_guest!(assert_has_test);

/// The reason loading `bytes` gives, for a host with the test limits.
async fn rejection(bytes: &[u8]) -> String {
    let config = support::config().build().expect("valid config");
    let host = Host::new(config).expect("host");
    let error = host
        .load_guest("bad", bytes, LoadOptions::default())
        .await
        .expect_err("the component is rejected");
    assert_eq!(error.name, "bad");
    assert!(
        host.guests().is_empty(),
        "a rejected guest is not registered"
    );
    let text = error.to_string();
    assert!(text.starts_with("invalid guest `bad`: "), "{text}");
    assert!(
        !text.contains("/work/") && !text.contains("wasmtime::"),
        "leaks internals: {text}"
    );
    error.reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_that_are_not_session_guests_are_rejected_with_a_reason() {
    let garbage = rejection(b"definitely not wasm").await;
    assert!(garbage.contains("not a WebAssembly file"), "{garbage}");

    let core = rejection(&wat::parse_str("(module)").unwrap()).await;
    assert!(
        core.contains("core WebAssembly module, not a component"),
        "{core}"
    );

    let counter = sessionhost_tests::guest_bytes(guests::COUNTER);
    let truncated = rejection(&counter[..counter.len() / 2]).await;
    assert!(truncated.contains("truncated or corrupt"), "{truncated}");

    let mut random = counter.clone();
    for (i, byte) in random.iter_mut().enumerate().skip(8) {
        *byte = (i as u8).wrapping_mul(31).wrapping_add(7);
    }
    let scrambled = rejection(&random).await;
    assert!(
        scrambled.contains("not a valid WebAssembly component"),
        "{scrambled}"
    );

    let empty = rejection(&wat::parse_str("(component)").unwrap()).await;
    assert!(
        empty.contains("does not export `sessionhost:session/session@0.1.0`"),
        "{empty}"
    );
    assert!(empty.contains("exports nothing"), "{empty}");

    let extra_import = rejection(
        &wat::parse_str(r#"(component (import "acme:payments/charge@1.0.0" (instance)))"#).unwrap(),
    )
    .await;
    assert!(
        extra_import.contains("`acme:payments/charge@1.0.0`"),
        "{extra_import}"
    );
    assert!(extra_import.contains("does not provide"), "{extra_import}");

    let wrong_shape = rejection(
        &wat::parse_str(
            r#"(component
                (core module $m (func (export "init")))
                (core instance $i (instantiate $m))
                (func $init (canon lift (core func $i "init")))
                (instance $session (export "init" (func $init)))
                (export "sessionhost:session/session@0.1.0" (instance $session)))"#,
        )
        .unwrap(),
    )
    .await;
    assert!(
        wrong_shape.contains("does not match the contract"),
        "{wrong_shape}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loading_again_replaces_the_guest_for_new_sessions_only() {
    let host = support::host().await;
    let old = host.start(StartOptions::guest("counter")).await.unwrap();
    let old_version = host.info(&old).unwrap().version;
    // Load the cart component under the name `counter`: a different version.
    let info = host
        .load_guest(
            "counter",
            GuestSource::file(guests::CART),
            LoadOptions::default(),
        )
        .await
        .unwrap();
    assert_ne!(info.version, old_version);
    let new = host.start(StartOptions::guest("counter")).await.unwrap();
    assert_eq!(host.info(&new).unwrap().version, info.version);
    // The running session keeps its version and its protocol.
    assert_eq!(
        call(&host, &old, json!({"op":"incr"})).await.unwrap(),
        json!({"value":1})
    );
    assert_eq!(
        call(&host, &new, json!({"op":"total"})).await.unwrap(),
        json!({"items":0,"total_cents":0})
    );
    let names: Vec<_> = host.guests().into_iter().map(|g| g.name).collect();
    assert_eq!(names, ["cart", "counter", "counter-lean", "hostile"]);
}

/// The counter protocol (shared with the other languages' counters), plus the Rust
/// counters' memory layout: one memory fixed at 256 KiB.
async fn counter_protocol(guest: &str) {
    let host = support::host().await;
    sessionhost_tests::protocol::counter_protocol(&host, guest).await;
    // Snapshots restore into either Rust counter: the format is the same.
    let id = host
        .start(StartOptions::guest(guest).args(r#"{"start":3}"#))
        .await
        .expect("success");
    let state = host
        .snapshot(&id)
        .await
        .expect("success")
        .expect("a counter snapshots");
    for other in ["counter", "counter-lean"] {
        let copy = host
            .start(StartOptions::guest(other).restore(state.clone(), "test"))
            .await
            .expect("success");
        assert_eq!(
            call(&host, &copy, json!({"op":"get"}))
                .await
                .expect("success"),
            json!({"value":3})
        );
    }
    let info = host
        .guests()
        .into_iter()
        .find(|g| g.name == guest)
        .expect("success");
    assert_eq!(info.memories.len(), 1);
    assert_eq!(info.memories[0].initial_bytes, 256 * 1024);
    assert_eq!(info.memories[0].maximum_bytes, Some(256 * 1024));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter() {
    counter_protocol("counter").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn counter_lean() {
    counter_protocol("counter-lean").await;
    // The lean guest imports nothing from WASI.
    let host = support::host().await;
    let info = host
        .guests()
        .into_iter()
        .find(|g| g.name == "counter-lean")
        .unwrap();
    assert!(
        info.imports.iter().all(|i| i.starts_with("sessionhost:")),
        "{:?}",
        info.imports
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cart() {
    let host = support::host().await;
    let id = host.start(StartOptions::guest("cart")).await.unwrap();
    call(
        &host,
        &id,
        json!({"op":"add","sku":"apple","qty":3,"price_cents":50}),
    )
    .await
    .unwrap();
    cast(
        &host,
        &id,
        json!({"op":"add","sku":"pear","qty":1,"price_cents":120}),
    )
    .await
    .unwrap();
    assert_eq!(
        call(&host, &id, json!({"op":"total"})).await.unwrap(),
        json!({"items":4,"total_cents":270})
    );
    call(&host, &id, json!({"op":"remove","sku":"apple","qty":1}))
        .await
        .unwrap();
    let list = call(&host, &id, json!({"op":"list"})).await.unwrap();
    assert_eq!(
        list,
        json!({"items":[
            {"sku":"apple","qty":2,"price_cents":50},
            {"sku":"pear","qty":1,"price_cents":120}
        ]})
    );
    let e = call(&host, &id, json!({"op":"remove","sku":"kiwi"}))
        .await
        .unwrap_err();
    assert_eq!(e, SessionError::GuestError("no such item: kiwi".into()));
    let e = call(
        &host,
        &id,
        json!({"op":"add","sku":"fig","qty":0,"price_cents":1}),
    )
    .await
    .unwrap_err();
    assert_eq!(e.kind(), "guest_error");
    // Its state survives a snapshot and restore.
    let state = host.snapshot(&id).await.unwrap().unwrap();
    let copy = host
        .start(StartOptions::guest("cart").restore(state, "test"))
        .await
        .unwrap();
    assert_eq!(
        call(&host, &copy, json!({"op":"list"})).await.unwrap(),
        list
    );
    call(&host, &id, json!({"op":"clear"})).await.unwrap();
    assert_eq!(
        call(&host, &id, json!({"op":"total"})).await.unwrap(),
        json!({"items":0,"total_cents":0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile() {
    // Its misbehaviours are tested in isolation.rs; here, that it behaves when asked to.
    let host = support::host().await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    assert_eq!(
        call(&host, &id, json!({"op":"echo","data":{"a":[1,"b"]}}))
            .await
            .unwrap(),
        json!({"data":{"a":[1,"b"]}})
    );
    assert_eq!(
        call(&host, &id, json!({"op":"count"})).await.unwrap(),
        json!({"calls":1,"casts":0})
    );
    let bad_mode = host
        .start(StartOptions::guest("hostile").args(r#"{"mode":"nonsense"}"#))
        .await
        .unwrap_err();
    assert_eq!(bad_mode.kind(), "guest_error");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guest_output_and_logs_go_to_the_host_log_tagged_with_the_session() {
    let logs = support::guest_logs();
    let host = support::host().await;
    let id = host.start(StartOptions::guest("hostile")).await.unwrap();
    call(
        &host,
        &id,
        json!({"op":"stdout","text":"hello from the guest"}),
    )
    .await
    .unwrap();
    call(&host, &id, json!({"op":"log_spam","n":150}))
        .await
        .unwrap();
    // Only this session's lines (`of_session` matches the `session_id` tag).
    let lines: Vec<String> = logs.of_session(&id).into_iter().map(|(_, l)| l).collect();
    let hello = lines
        .iter()
        .find(|l| l.contains("hello from the guest"))
        .expect("stdout reached the log, tagged with the session");
    assert!(hello.contains("stream=\"stdout\""), "{hello}");
    let spam = lines.iter().filter(|l| l.contains("log spam line")).count();
    assert_eq!(spam, 100, "at most 100 log lines per message");
    assert_eq!(
        lines.iter().filter(|l| l.contains("dropped=50")).count(),
        1,
        "the overflow is reported once"
    );
}
