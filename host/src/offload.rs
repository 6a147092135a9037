//! Keeping long-running guests off the async runtime's worker threads.
//!
//! Guest exports run synchronously on the caller's thread: no fiber, no execution stack kept
//! per session, ~0.4 µs per call. Almost every message finishes in microseconds. One that is
//! still running [`OFFLOAD_AFTER`] after it started (seen at an epoch tick), or that blocks in
//! a WASI call, hands its thread's worker role to a fresh thread with
//! [`tokio::task::block_in_place`] and carries on as an ordinary blocking thread; the runtime
//! keeps serving every other task. It then runs until it finishes or reaches its deadline.
//!
//! `block_in_place` gives the worker role away only if a new thread picks it up before the
//! closure returns, so the closure pauses for [`HANDOFF_PAUSE`] — once per long message, which
//! by then has already run for milliseconds. On a current-thread runtime there is no other
//! worker to hand over to: long messages then simply block (documented in the README).

use std::time::{Duration, Instant};

use tokio::runtime::{Handle, RuntimeFlavor};

/// How long a message runs before it leaves the worker thread.
pub(crate) const OFFLOAD_AFTER: Duration = Duration::from_millis(2);
/// How long the guest pauses while another thread takes over the worker role.
const HANDOFF_PAUSE: Duration = Duration::from_micros(200);

/// Per-message offload state, kept in the session's store data.
#[derive(Debug)]
pub(crate) struct Offload {
    /// When the current message started.
    pub(crate) started: Instant,
    /// Whether this message already left (or tried to leave) the worker thread.
    done: bool,
}

impl Offload {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            done: false,
        }
    }

    /// Resets for a new message that started at `started`.
    pub(crate) fn begin(&mut self, started: Instant) {
        self.started = started;
        self.done = false;
    }

    /// Called at every epoch tick: offloads a message that has run long enough.
    pub(crate) fn on_tick(&mut self) {
        if !self.done && self.started.elapsed() >= OFFLOAD_AFTER {
            self.now();
        }
    }

    /// Leaves the worker thread now (at most once per message).
    pub(crate) fn now(&mut self) {
        if self.done {
            return;
        }
        self.done = true;
        let Ok(runtime) = Handle::try_current() else {
            return; // not on a runtime thread: blocking hurts no one
        };
        if runtime.runtime_flavor() != RuntimeFlavor::MultiThread {
            return;
        }
        // `block_in_place` refuses (panics) inside a `LocalSet` or a current-thread
        // `block_on`; then the message simply keeps this thread.
        let handed_off = std::panic::catch_unwind(|| {
            tokio::task::block_in_place(|| std::thread::sleep(HANDOFF_PAUSE));
        });
        if handed_off.is_err() {
            tracing::debug!(
                target: "sessionhost::session",
                "a long-running guest could not leave its worker thread"
            );
        }
    }
}
