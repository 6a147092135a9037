//! A fake host for unit-testing guests on the build machine (any target but
//! `wasm32`).
//!
//! Off wasm32 the functions of [`ctx`](crate::ctx) do not reach a real host:
//! they record what they were asked into a per-thread [`Recorded`] that a test
//! inspects with [`take`]. Rust runs each `#[test]` on its own thread, so tests
//! do not see each other's records. Timers are recorded, never fired; publish
//! and send-after always succeed; the clock is the system clock unless
//! [`set_now_ms`] pins it.
//!
//! ```
//! use sessionhost_guest::{ctx, testing};
//!
//! ctx::info("hello");
//! ctx::publish(&serde_json::json!({"value": 1})).unwrap();
//! let rec = testing::take();
//! assert_eq!(rec.logs, vec![(ctx::Level::Info, "hello".to_owned())]);
//! assert_eq!(rec.published, vec![br#"{"value":1}"#.to_vec()]);
//! ```

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::ctx::{Level, TimerId};

/// Everything the guest asked of the fake host since the last [`take`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recorded {
    /// Log lines, in order.
    pub logs: Vec<(Level, String)>,
    /// Published events, in order.
    pub published: Vec<Vec<u8>>,
    /// Timers created with `send_after`, in order.
    pub timers: Vec<Timer>,
    /// Timers successfully cancelled, in order.
    pub cancelled: Vec<TimerId>,
    /// The reason given to the last `ctx::stop`, if any.
    pub stop: Option<String>,
}

/// A timer recorded by the fake host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timer {
    /// The ID returned to the guest.
    pub id: TimerId,
    /// The encoded message it would deliver.
    pub message: Vec<u8>,
    /// The requested delay.
    pub delay_ms: u64,
}

/// State of the fake host of one thread.
#[derive(Debug, Default)]
struct FakeHost {
    /// `None` means the default ID.
    session_id: Option<String>,
    /// `None` means the system clock.
    now_ms: Option<u64>,
    /// Timers created and neither cancelled nor reset.
    pending: BTreeSet<u64>,
    /// Last timer ID handed out.
    last_timer: u64,
    /// What a test reads with [`take`].
    recorded: Recorded,
}

thread_local! {
    static HOST: RefCell<FakeHost> = RefCell::new(FakeHost::default());
}

/// The session ID reported before [`set_session_id`] is called.
pub const DEFAULT_SESSION_ID: &str = "test-session-0000000000";

/// Returns what was recorded on this thread and clears the record.
pub fn take() -> Recorded {
    HOST.with(|h| std::mem::take(&mut h.borrow_mut().recorded))
}

/// Forgets everything: records, pending timers, session ID and pinned clock.
pub fn reset() {
    HOST.with(|h| *h.borrow_mut() = FakeHost::default());
}

/// Sets what `ctx::session_id` returns on this thread.
pub fn set_session_id(id: &str) {
    HOST.with(|h| h.borrow_mut().session_id = Some(id.to_owned()));
}

/// Pins what `ctx::now_ms` returns on this thread (`None`: system clock).
pub fn set_now_ms(now: Option<u64>) {
    HOST.with(|h| h.borrow_mut().now_ms = now);
}

pub(crate) mod fake {
    //! The backend of [`ctx`](crate::ctx) off wasm32: functions with the
    //! shapes of the WIT `host` imports, over [`HOST`].

    use super::{DEFAULT_SESSION_ID, HOST, Level, SystemTime, Timer, TimerId, UNIX_EPOCH};

    pub(crate) fn session_id() -> String {
        HOST.with(|h| h.borrow().session_id.clone())
            .unwrap_or_else(|| DEFAULT_SESSION_ID.to_owned())
    }

    pub(crate) fn log(level: Level, message: &str) {
        HOST.with(|h| {
            h.borrow_mut()
                .recorded
                .logs
                .push((level, message.to_owned()))
        });
    }

    pub(crate) fn now_ms() -> u64 {
        HOST.with(|h| h.borrow().now_ms).unwrap_or_else(|| {
            let since = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
    }

    pub(crate) fn publish(event: &[u8]) -> Result<(), String> {
        HOST.with(|h| h.borrow_mut().recorded.published.push(event.to_vec()));
        Ok(())
    }

    pub(crate) fn send_after(message: &[u8], delay_ms: u64) -> Result<u64, String> {
        HOST.with(|h| {
            let mut h = h.borrow_mut();
            h.last_timer += 1;
            let id = h.last_timer;
            h.pending.insert(id);
            let timer = Timer {
                id: TimerId(id),
                message: message.to_vec(),
                delay_ms,
            };
            h.recorded.timers.push(timer);
            Ok(id)
        })
    }

    pub(crate) fn cancel_timer(id: u64) -> bool {
        HOST.with(|h| {
            let mut h = h.borrow_mut();
            let found = h.pending.remove(&id);
            if found {
                h.recorded.cancelled.push(TimerId(id));
            }
            found
        })
    }

    pub(crate) fn stop(reason: &str) {
        HOST.with(|h| h.borrow_mut().recorded.stop = Some(reason.to_owned()));
    }
}
