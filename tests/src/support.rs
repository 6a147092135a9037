//! Helpers shared by the end-to-end tests: a host with the test guests loaded, JSON calls,
//! waits.
//!
//! Tests use small pools (`max_sessions` 64 by default) so that building a host is quick, no
//! creation rate limit, and short timeouts so hostile guests are stopped fast.
//!
//! Tests do not sleep to let something happen: they wait for the state or the event that
//! says it happened ([`eventually`], [`eventually_some`], [`published`], [`terminated`]), or
//! fake time (`tokio::time::pause`). A sleep left in a test is part of what it tests (a
//! client that is slow on purpose) and a comment says so.

use std::time::Duration;

use serde_json::Value;
use sessionhost::{
    GuestOptions, Host, HostConfig, HostConfigBuilder, RestartPolicy, SessionError, SessionEvent,
    SessionEvents,
};
use sessionhost::{GuestSource, LoadOptions};

use crate::guests;

/// Test defaults: 64 sessions, no rate limit, 2 s call timeout, 5 ms epoch tick.
pub fn config() -> HostConfigBuilder {
    HostConfig::builder()
        .max_sessions(64)
        .rate_limit(0)
        .call_timeout(Duration::from_secs(2))
}

/// A host with `counter`, `counter-lean`, `cart` and `hostile` loaded, built from `config`.
///
/// `hostile` is loaded with the `temporary` restart policy: the tests that drive it check
/// what a failure does to a session, so a failed session must stay ended. The others have
/// the default policy (`transient`); `supervision.rs` tests the policies.
pub async fn host_with(config: HostConfigBuilder) -> Host {
    let host = Host::new(config.build().expect("valid test config")).expect("host");
    for (name, path) in [
        ("counter", guests::COUNTER),
        ("counter-lean", guests::COUNTER_LEAN),
        ("cart", guests::CART),
    ] {
        host.load_guest(name, GuestSource::file(path), LoadOptions::default())
            .await
            .unwrap_or_else(|e| panic!("loading {name}: {e}"));
    }
    let temporary = GuestOptions {
        restart: RestartPolicy::Temporary,
        ..GuestOptions::default()
    };
    host.load_guest("hostile", GuestSource::file(guests::HOSTILE), temporary)
        .await
        .unwrap_or_else(|e| panic!("loading hostile: {e}"));
    host
}

/// A host with the test defaults and every test guest loaded.
pub async fn host() -> Host {
    host_with(config()).await
}

/// Calls with a JSON request and parses the JSON reply.
pub async fn call(host: &Host, id: &str, request: Value) -> Result<Value, SessionError> {
    call_within(host, id, request, None).await
}

/// [`call`] with an explicit timeout.
pub async fn call_within(
    host: &Host,
    id: &str,
    request: Value,
    timeout: Option<Duration>,
) -> Result<Value, SessionError> {
    let reply = host
        .call(id, request.to_string().as_bytes(), timeout)
        .await?;
    Ok(serde_json::from_slice(&reply).expect("the guest replied with JSON"))
}

/// Casts a JSON message.
pub async fn cast(host: &Host, id: &str, message: Value) -> Result<(), SessionError> {
    host.cast(id, message.to_string().as_bytes()).await
}

/// Waits (up to 10 s) for the session's final event and returns it.
pub async fn terminated(events: &mut SessionEvents) -> sessionhost::StopReason {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(SessionEvent::Terminated(reason)) => return reason,
                Ok(_) => continue,
                Err(e) => panic!("event stream ended without a terminated event: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), wait)
        .await
        .expect("the session ended within 10 s")
}

/// The process's resident set, in MiB (`/proc/self/statm`). Tests that compare it keep to
/// a test binary of their own, so that no other test's allocations move it.
pub fn rss_mib() -> f64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: f64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .expect("statm's second field");
    pages * 4096.0 / (1024.0 * 1024.0)
}

/// Waits until `condition` holds: checks it at once, then every millisecond, for up to 10 s
/// of real time. For a state the host exposes (`Host::info`, `Host::stats`...); to wait for
/// an event, await it (an event of [`Host::subscribe`], a response).
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    eventually_some(what, async || condition().then_some(())).await;
}

/// Waits until `attempt` returns `Some` and returns its value: tries at once, then every
/// millisecond after each `None`, for up to 10 s of real time. For a condition that takes an
/// async step to check, such as a request that is refused until a place frees up.
///
/// The 10 s are measured on the system clock, not tokio's: under paused time
/// (`tokio::time::pause`) the pauses between attempts are fake and take no time, so a
/// deadline on tokio's clock would give up after 10 000 quick attempts instead of 10 s.
pub async fn eventually_some<T>(what: &str, mut attempt: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(value) = attempt().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

/// Waits (up to 10 s) for the next event of `events`, which must be a published one, and
/// parses it as JSON: the hostile guest's `{"looping":true}` or `{"sleeping":true}` (its
/// `loop` and `sleep_ms` calls with `"announce":true`) say that the call is running and
/// holds the session.
pub async fn published(events: &mut SessionEvents) -> Value {
    let event = tokio::time::timeout(Duration::from_secs(10), events.recv())
        .await
        .expect("an event within 10 s")
        .expect("the event stream is open");
    match event {
        SessionEvent::Published(bytes) => {
            serde_json::from_slice(&bytes).expect("the guest published JSON")
        }
        other => panic!("expected a published event, got {other:?}"),
    }
}

/// `sessionhost::guest` log lines of this test process, as (level, fields as text): what
/// guests write through `log`, stdout and stderr, tagged with their session ID, and what
/// the host says about guests (loads, upgrades, rejected guest files).
#[derive(Debug, Default)]
pub struct GuestLogs(std::sync::Mutex<Vec<(tracing::Level, String)>>);

impl GuestLogs {
    /// The lines whose fields contain `text`.
    pub fn containing(&self, text: &str) -> Vec<(tracing::Level, String)> {
        self.0
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|(_, fields)| fields.contains(text))
            .cloned()
            .collect()
    }

    /// The lines tagged with session `id`.
    pub fn of_session(&self, id: &str) -> Vec<(tracing::Level, String)> {
        let tag = format!("session_id={id}");
        self.0
            .lock()
            .expect("not poisoned")
            .iter()
            .filter(|(_, fields)| fields.contains(&tag))
            .cloned()
            .collect()
    }
}

/// The guest log lines of this process, captured by a global subscriber installed on first
/// use: lines logged on any thread are seen (a guest message that runs long moves off its
/// worker thread, where a thread-local subscriber would miss it). Tests filter by session or
/// by text.
///
/// # Panics
/// When another global subscriber was installed first in this test binary.
pub fn guest_logs() -> &'static GuestLogs {
    static LOGS: std::sync::OnceLock<&'static GuestLogs> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let logs: &'static GuestLogs = Box::leak(Box::default());
        let layer = CaptureLayer(logs);
        use tracing_subscriber::layer::SubscriberExt as _;
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(layer))
            .expect("no other global subscriber in this test binary");
        logs
    })
}

struct CaptureLayer(&'static GuestLogs);

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for CaptureLayer {
    fn on_event(&self, event: &tracing::Event<'_>, _: tracing_subscriber::layer::Context<'_, S>) {
        if event.metadata().target() != "sessionhost::guest" {
            return;
        }
        struct Fields(String);
        impl tracing::field::Visit for Fields {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                use std::fmt::Write as _;
                let _ = write!(self.0, "{}={:?} ", field.name(), value);
            }
        }
        let mut fields = Fields(String::new());
        event.record(&mut fields);
        let level = *event.metadata().level();
        (self.0)
            .0
            .lock()
            .expect("not poisoned")
            .push((level, fields.0));
    }
}
