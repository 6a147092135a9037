//! End-to-end: the counter of every guest language runs the same protocol in the real host.
//!
//! The Rust counters are built by `tests/build.rs`; the Python, JavaScript, C and Zig
//! counters by `make guests` (their toolchains come from PyPI, npm and Debian, installed by
//! `make setup`), into `target/guests/lang/`. Each test here loads one language's counter
//! beside the Rust `counter` and runs [`counter_protocol`] against it: calls, casts, events,
//! errors, a snapshot round trip through the Rust counter, terminate.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use sessionhost::{GuestLayout, StartOptions};
use sessionhost_tests::protocol::{counter_protocol, lang_guest};
use sessionhost_tests::support;
use tracing_subscriber::layer::SubscriberExt as _;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust() {
    let host = support::host().await;
    counter_protocol(&host, "counter-lean").await;
}

/// The Python counter (`make guest-python`): the protocol, then its log lines (`ctx.warn`
/// from the SDK and the guest, Python `logging` from its `terminate`) in the host log,
/// tagged with the session.
///
/// The component embeds CPython (~20 MB, a 13.6 MiB linear memory that grows, a 5 678-entry
/// table), so the host loads it with the large layout. The test runs on one thread so that a
/// thread-local subscriber sees the guest's lines, and the compiled code is cached under
/// `target/`: compiling it takes a debug test build about a minute of CPU.
#[tokio::test(flavor = "current_thread")]
async fn python() {
    let lines = Captured::default();
    let _guard =
        tracing::subscriber::set_default(tracing_subscriber::registry().with(lines.clone()));
    let config = support::config().compile_cache_dir(compile_cache());
    let host = support::host_with(config).await;
    let info = host
        .load_guest_file("counter-python", lang_guest("counter-python"))
        .await
        .unwrap();
    assert_eq!(
        info.layout,
        GuestLayout::Large,
        "auto: CPython does not fit a dense slot"
    );
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

    let lines = lines.0.lock().unwrap().clone();
    let of_session: Vec<_> = lines
        .iter()
        .filter(|(_, fields)| fields.contains(&format!("session_id={id}")))
        .collect();
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

/// Where compiled non-Rust guests are cached between test runs.
fn compile_cache() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests/lang/compiled")
}

/// Captures `sessionhost::guest` log lines: their level and their fields as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<(tracing::Level, String)>>>);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Captured {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sessionhost::guest" {
            return;
        }
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                self.0.push_str(&format!("{}={:?} ", field.name(), value));
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let level = *event.metadata().level();
        self.0.lock().expect("not poisoned").push((level, fields.0));
    }
}
