//! Helpers shared by the end-to-end tests: a host with the test guests loaded, JSON calls.
//!
//! Tests use small pools (`max_sessions` 64 by default) so that building a host is quick, no
//! creation rate limit, and short timeouts so hostile guests are stopped fast.

use std::time::Duration;

use serde_json::Value;
use sessionhost::{
    GuestOptions, Host, HostConfig, HostConfigBuilder, RestartPolicy, SessionError, SessionEvent,
    SessionEvents,
};

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
        host.load_guest_file(name, path)
            .await
            .unwrap_or_else(|e| panic!("loading {name}: {e}"));
    }
    let temporary = GuestOptions {
        restart: RestartPolicy::Temporary,
        ..GuestOptions::default()
    };
    host.load_guest_file_with("hostile", guests::HOSTILE, temporary)
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

/// Polls `condition` every millisecond for up to 10 s.
pub async fn eventually(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting: {what}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}
