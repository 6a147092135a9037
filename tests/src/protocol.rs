//! The counter protocol every language's counter speaks, as one reusable check.
//!
//! The Rust `counter` and `counter-lean` guests and the Python, JavaScript, C and Zig
//! counters (`make guests` builds those to `target/guests/lang/`) implement the same JSON
//! protocol and the same snapshot format, so one function checks them all and snapshots
//! move between languages. The protocol:
//!
//! - init args `{"start": n}`, or none to start at 0;
//! - call `{"op":"incr","by":n}` (`by` defaults to 1) and `{"op":"get"}` reply `{"value":v}`
//!   with no spaces; any other call is a guest error starting with `invalid call message`;
//!   an increment past the guest's integer range is a guest error;
//! - cast `{"op":"incr","by":n}`;
//! - every increment publishes `{"value":v}`;
//! - `snapshot` returns `{"value":v}`; `restore` of anything else is a guest error.

use std::path::PathBuf;

use serde_json::json;
use sessionhost::{Host, SessionError, SessionEvent, StartOptions, StopReason};

use crate::support::{call, cast, terminated};

/// Where `make guests` puts the components of the non-Rust guests (`target/guests/lang`).
pub fn lang_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/guests/lang")
}

/// Where `make guests` puts the component of a non-Rust guest, e.g. `counter-python`.
///
/// # Panics
/// When the component has not been built: run `make guests` (which `make test` does).
pub fn lang_guest(name: &str) -> PathBuf {
    let path = lang_dir().join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: it is built by `make guests` (and `make test`), not by cargo",
        path.display()
    );
    path
}

/// Runs the whole counter protocol against sessions of `guest` on `host`: calls, casts,
/// published events, init args, guest errors, a snapshot restored into the Rust `counter`
/// (which `host` must have loaded) and back, a bad snapshot refused, and terminate.
pub async fn counter_protocol(host: &Host, guest: &str) {
    let fresh = host
        .start(StartOptions::guest(guest))
        .await
        .unwrap_or_else(|e| panic!("{guest}: start: {e}"));
    assert_eq!(
        call(host, &fresh, json!({"op":"get"})).await.expect("get"),
        json!({"value":0}),
        "{guest}: a session without args starts at 0"
    );
    let mut events = host.subscribe(&fresh).expect("subscribe");
    call(host, &fresh, json!({"op":"incr","by":4}))
        .await
        .expect("incr");
    match events.recv().await.expect("an event") {
        SessionEvent::Published(bytes) => assert_eq!(&bytes[..], br#"{"value":4}"#, "{guest}"),
        other => panic!("{guest}: {other:?}"),
    }

    let id = host
        .start(StartOptions::guest(guest).args(r#"{"start":-5}"#))
        .await
        .expect("start with args");
    assert_eq!(
        call(host, &id, json!({"op":"get"})).await.expect("get"),
        json!({"value":-5})
    );
    assert_eq!(
        call(host, &id, json!({"op":"incr","by":7}))
            .await
            .expect("incr"),
        json!({"value":2})
    );
    cast(host, &id, json!({"op":"incr"})).await.expect("cast");
    assert_eq!(
        host.call(&id, br#"{"op":"get"}"#, None).await.expect("get"),
        br#"{"value":3}"#,
        "{guest}: replies are compact JSON"
    );
    let e = call(host, &id, json!({"op":"decr"}))
        .await
        .expect_err("an unknown op is refused");
    assert!(
        matches!(e, SessionError::GuestError(ref m) if m.starts_with("invalid call message")),
        "{guest}: {e:?}"
    );
    let e = call(host, &id, json!({"op":"incr","by":i64::MAX}))
        .await
        .expect_err("an overflow is refused");
    assert_eq!(e.kind(), "guest_error", "{guest}: {e:?}");
    assert_eq!(
        call(host, &id, json!({"op":"get"})).await.expect("get"),
        json!({"value":3}),
        "{guest}: a refused call changes nothing"
    );

    // Snapshot round trip, through the Rust counter and back.
    let state = host
        .snapshot(&id)
        .await
        .expect("snapshot")
        .expect("a counter supports snapshots");
    let rust = host
        .start(StartOptions::guest("counter").restore(state, guest))
        .await
        .expect("the Rust counter restores it");
    call(host, &rust, json!({"op":"incr","by":10}))
        .await
        .expect("incr");
    let state = host.snapshot(&rust).await.expect("snapshot").expect("some");
    let back = host
        .start(StartOptions::guest(guest).restore(state, "counter"))
        .await
        .expect("restores a Rust counter's snapshot");
    assert_eq!(
        call(host, &back, json!({"op":"get"})).await.expect("get"),
        json!({"value":13})
    );
    let e = host
        .start(StartOptions::guest(guest).restore(br#"{"nope":1}"#.to_vec(), "test"))
        .await
        .expect_err("a bad snapshot is refused");
    assert_eq!(e.kind(), "guest_error", "{guest}: {e:?}");

    // Terminate: subscribers see the end, the session is gone.
    let mut events = host.subscribe(&back).expect("subscribe");
    host.terminate(&back).await.expect("terminate");
    assert_eq!(terminated(&mut events).await, StopReason::Normal);
    let e = call(host, &back, json!({"op":"get"}))
        .await
        .expect_err("ended");
    assert_eq!(e.kind(), "session_not_found");
}
