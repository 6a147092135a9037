//! What a session can ask of its host: free functions over the WIT `host`
//! imports.
//!
//! Every function acts on the calling session only. They may be called from
//! any [`Session`](crate::Session) method, including `init` and `restore`.
//!
//! Typed messages ([`publish`], [`send_after`]) are encoded with **the
//! session's codec**, the one given to
//! [`export_session!`](crate::export_session) (JSON unless `codec = ...` says
//! otherwise), so a timer's message decodes as the session's `Cast` type and
//! subscribers read events in the same format as replies. The `*_bytes`
//! variants send bytes as they are.
//!
//! On targets other than `wasm32` (unit tests of a guest on the build
//! machine) the functions talk to a fake host that records what they did; see
//! [`testing`](crate::testing).

use std::cell::Cell;
use std::time::Duration;

use serde::Serialize;

use crate::codec::CodecId;

thread_local! {
    /// The codec chosen by `export_session!`, set when `init` or `restore`
    /// runs; JSON until then. wasm32 guests are single-threaded, so this is a
    /// plain static there.
    static SESSION_CODEC: Cell<CodecId> = const { Cell::new(CodecId::Json) };
}

/// Records the session's codec; called by the export glue.
pub(crate) fn set_session_codec(codec: CodecId) {
    SESSION_CODEC.with(|c| c.set(codec));
}

/// Severity of a log line, mapped onto the host's `tracing` levels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Very verbose diagnostics.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal events.
    Info,
    /// Something unexpected that the session survived.
    Warn,
    /// Something failed.
    Error,
}

/// Identifies a timer created by [`send_after`]; unique within one session
/// for its whole life. Serializable, so it can live in a snapshot.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct TimerId(pub u64);

/// The ID of this session. It can change when the application rotates it
/// (after a login), so do not cache it across messages.
pub fn session_id() -> String {
    imports::session_id()
}

/// Writes `message` to the host's log at `level`, tagged with the session ID.
/// The host may truncate long lines and rate-limit floods.
pub fn log(level: Level, message: &str) {
    imports::log(level, message);
}

/// Logs `message` at [`Level::Trace`].
pub fn trace(message: &str) {
    log(Level::Trace, message);
}

/// Logs `message` at [`Level::Debug`].
pub fn debug(message: &str) {
    log(Level::Debug, message);
}

/// Logs `message` at [`Level::Info`].
pub fn info(message: &str) {
    log(Level::Info, message);
}

/// Logs `message` at [`Level::Warn`].
pub fn warn(message: &str) {
    log(Level::Warn, message);
}

/// Logs `message` at [`Level::Error`].
pub fn error(message: &str) {
    log(Level::Error, message);
}

/// Wall-clock time in milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    imports::now_ms()
}

/// Sends `event`, encoded with the session's codec, to every current
/// subscriber of this session, in publishing order. Without subscribers the
/// event is discarded (and this still succeeds).
///
/// # Errors
/// When the event cannot be encoded or is larger than the host allows.
pub fn publish<T: Serialize + ?Sized>(event: &T) -> Result<(), String> {
    let bytes = SESSION_CODEC.with(Cell::get).encode(event)?;
    publish_bytes(&bytes)
}

/// Sends `event` as is to every current subscriber of this session.
///
/// # Errors
/// When the event is larger than the host allows.
pub fn publish_bytes(event: &[u8]) -> Result<(), String> {
    imports::publish(event)
}

/// Delivers `message`, encoded with the session's codec, to this session's
/// `handle_cast` after `delay` (rounded down to whole milliseconds), through
/// the normal mailbox and in order with other messages. Timers end with the
/// session.
///
/// # Errors
/// When the message cannot be encoded or the session already has as many
/// pending timers as the host allows.
pub fn send_after<T: Serialize + ?Sized>(message: &T, delay: Duration) -> Result<TimerId, String> {
    let bytes = SESSION_CODEC.with(Cell::get).encode(message)?;
    send_after_bytes(&bytes, delay)
}

/// Like [`send_after`], with `message` sent as is.
///
/// # Errors
/// When the session already has as many pending timers as the host allows.
pub fn send_after_bytes(message: &[u8], delay: Duration) -> Result<TimerId, String> {
    let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
    imports::send_after(message, delay_ms).map(TimerId)
}

/// Cancels a timer made by [`send_after`]. Returns `false` when it already
/// fired, was cancelled, or never existed.
pub fn cancel_timer(id: TimerId) -> bool {
    imports::cancel_timer(id.0)
}

/// Ends this session once the current message has been handled; its
/// `terminate` then sees [`StopReason::Requested`](crate::StopReason::Requested)
/// with `reason`. Calling it again before the session ends changes nothing.
pub fn stop(reason: &str) {
    imports::stop(reason);
}

#[cfg(target_arch = "wasm32")]
mod imports {
    //! The real host: forwards to the generated bindings of the WIT `host`
    //! interface.

    use super::Level;
    use crate::bindings::sessionhost::session::host;
    use crate::bindings::sessionhost::session::types::LogLevel;

    pub(super) fn session_id() -> String {
        host::session_id()
    }

    pub(super) fn log(level: Level, message: &str) {
        let level = match level {
            Level::Trace => LogLevel::Trace,
            Level::Debug => LogLevel::Debug,
            Level::Info => LogLevel::Info,
            Level::Warn => LogLevel::Warn,
            Level::Error => LogLevel::Error,
        };
        host::log(level, message);
    }

    pub(super) fn now_ms() -> u64 {
        host::now_ms()
    }

    pub(super) fn publish(event: &[u8]) -> Result<(), String> {
        host::publish(event)
    }

    pub(super) fn send_after(message: &[u8], delay_ms: u64) -> Result<u64, String> {
        host::send_after(message, delay_ms)
    }

    pub(super) fn cancel_timer(id: u64) -> bool {
        host::cancel_timer(id)
    }

    pub(super) fn stop(reason: &str) {
        host::stop(reason);
    }
}

/// Off wasm32: the recording fake host of [`crate::testing`].
#[cfg(not(target_arch = "wasm32"))]
use crate::testing::fake as imports;

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use crate::testing;

    #[test]
    fn typed_helpers_use_the_session_codec() {
        testing::reset();
        publish(&serde_json::json!({"value": 1})).expect("publish");
        let id = send_after(&"tick", Duration::from_millis(1500)).expect("timer");
        assert!(cancel_timer(id));
        assert!(!cancel_timer(id));
        let rec = testing::take();
        assert_eq!(rec.published, vec![br#"{"value":1}"#.to_vec()]);
        assert_eq!(rec.timers.len(), 1);
        assert_eq!(rec.timers[0].message, br#""tick""#.to_vec());
        assert_eq!(rec.timers[0].delay_ms, 1500);
        assert_eq!(rec.cancelled, vec![id]);
    }

    #[cfg(feature = "bincode")]
    #[test]
    fn bincode_session_publishes_bincode() {
        use crate::Codec;
        testing::reset();
        set_session_codec(CodecId::Bincode);
        publish(&7_u32).expect("publish");
        set_session_codec(CodecId::Json);
        let rec = testing::take();
        assert_eq!(
            rec.published,
            vec![crate::Bincode::encode(&7_u32).expect("encode")]
        );
    }

    #[test]
    fn logs_and_stop_are_recorded() {
        testing::reset();
        testing::set_session_id("abc");
        assert_eq!(session_id(), "abc");
        warn("careful");
        stop("bye");
        let rec = testing::take();
        assert_eq!(rec.logs, vec![(Level::Warn, "careful".to_owned())]);
        assert_eq!(rec.stop.as_deref(), Some("bye"));
        assert!(now_ms() > 1_600_000_000_000);
    }
}
