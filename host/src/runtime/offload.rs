//! Keeping long-running and blocked guests off the async runtime's worker threads.
//!
//! Guest exports run synchronously on the caller's thread: no fiber, no execution stack kept
//! per session, ~0.4 µs per call. Almost every message finishes in microseconds. Two kinds
//! of message must not keep a worker thread, or every other session on the runtime waits:
//!
//! - **Blocked in WASI** (a sleep, a poll on a clock): [`wait_blocking`]. The first poll is
//!   free (a ready operation costs nothing more); one that must wait takes a place in the
//!   host's [`BlockingLimit`] and waits inside [`tokio::task::block_in_place`], which hands
//!   the thread's worker role to another thread for as long as the wait lasts — however long
//!   that thread takes to start — and takes it back afterwards if nobody picked it up. The
//!   wait is bounded by the message's deadline (then it traps like an epoch interruption).
//!   The limit bounds the threads blocked guests can hold (`max_blocked_messages`); a
//!   message that would block past it traps at once with `blocking_limit`, its caller gets
//!   a typed error, and nobody else waits. One session runs one message at a time, so one
//!   session holds at most one place.
//! - **Running long** (computing): seen at an epoch tick [`OFFLOAD_AFTER`] after it started,
//!   it hands its worker role away once with `block_in_place` and carries on as an ordinary
//!   blocking thread. `block_in_place` gives the role away only if a new thread picks it up
//!   before the closure returns, so the closure pauses for [`HANDOFF_PAUSE`]; if the new
//!   thread was slower, the next tick tries again.
//!
//! On a current-thread runtime there is no other worker to hand over to: such messages then
//! simply block (documented in the README).

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, RuntimeFlavor};

/// How long a message runs before it leaves the worker thread.
pub(crate) const OFFLOAD_AFTER: Duration = Duration::from_millis(2);
/// How long the guest pauses while another thread takes over the worker role.
const HANDOFF_PAUSE: Duration = Duration::from_micros(200);
/// Hand-offs a long-running message attempts (one per epoch tick) before it stops trying.
const HANDOFF_ATTEMPTS: u8 = 8;

/// Per-message offload state, kept in the session's store data.
#[derive(Debug)]
pub(crate) struct Offload {
    /// When the current message started.
    pub(crate) started: Instant,
    /// Hand-offs attempted for this message; [`HANDOFF_ATTEMPTS`] once it left for good.
    attempts: u8,
}

impl Offload {
    pub(crate) fn new() -> Self {
        Self {
            started: Instant::now(),
            attempts: 0,
        }
    }

    /// Resets for a new message that started at `started`.
    pub(crate) fn begin(&mut self, started: Instant) {
        self.started = started;
        self.attempts = 0;
    }

    /// Called at every epoch tick: offloads a message that has run long enough.
    pub(crate) fn on_tick(&mut self) {
        if self.attempts < HANDOFF_ATTEMPTS && self.started.elapsed() >= OFFLOAD_AFTER {
            self.attempts += 1;
            hand_off();
        }
    }

    /// This message has left the worker thread for good (it waited in `block_in_place`):
    /// no further hand-off attempts.
    fn left(&mut self) {
        self.attempts = HANDOFF_ATTEMPTS;
    }
}

/// Gives the current thread's worker role to another thread, if it has one.
fn hand_off() {
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

/// The host-wide bound on messages blocked in a WASI call at once (each holds a thread).
#[derive(Debug)]
pub(crate) struct BlockingLimit {
    max: usize,
    in_use: AtomicUsize,
    /// Waits that took a place, and refusals at the limit (for metrics).
    pub(crate) waits: AtomicU64,
    pub(crate) refused: AtomicU64,
}

/// A place in the [`BlockingLimit`], given back on drop.
struct BlockingPlace<'a>(&'a BlockingLimit);

impl Drop for BlockingPlace<'_> {
    fn drop(&mut self) {
        self.0.in_use.fetch_sub(1, Ordering::AcqRel);
    }
}

impl BlockingLimit {
    pub(crate) fn new(max: usize) -> Self {
        Self {
            max,
            in_use: AtomicUsize::new(0),
            waits: AtomicU64::new(0),
            refused: AtomicU64::new(0),
        }
    }

    /// The bound.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Messages blocked now.
    pub(crate) fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Acquire)
    }

    fn enter(&self) -> Option<BlockingPlace<'_>> {
        if self.in_use.fetch_add(1, Ordering::AcqRel) >= self.max {
            self.in_use.fetch_sub(1, Ordering::AcqRel);
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.waits.fetch_add(1, Ordering::Relaxed);
        Some(BlockingPlace(self))
    }
}

/// Why a blocking wait did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WaitError {
    /// The message's deadline passed.
    Deadline,
    /// `max_blocked_messages` messages were already blocked.
    Limit,
}

/// Drives a WASI operation to completion for a guest that runs synchronously; see the
/// module docs. `limit` is the runtime's [`BlockingLimit`].
pub(crate) fn wait_blocking<F: Future>(
    deadline: Instant,
    offload: &mut Offload,
    limit: &BlockingLimit,
    future: F,
) -> Result<F::Output, WaitError> {
    let mut future = std::pin::pin!(future);
    if let Poll::Ready(output) = future
        .as_mut()
        .poll(&mut Context::from_waker(Waker::noop()))
    {
        return Ok(output);
    }
    if Instant::now() >= deadline {
        return Err(WaitError::Deadline);
    }
    let _place = limit.enter().ok_or(WaitError::Limit)?;
    if let Ok(runtime) = Handle::try_current()
        && runtime.runtime_flavor() == RuntimeFlavor::MultiThread
    {
        // Whether the wait itself ran: a panic before it is `block_in_place` refusing (a
        // current-thread `block_on` or a `LocalSet`), one inside it is the operation's own.
        let mut entered = false;
        let waited = std::panic::catch_unwind(AssertUnwindSafe(|| {
            tokio::task::block_in_place(|| {
                entered = true;
                runtime.block_on(tokio::time::timeout_at(deadline.into(), future.as_mut()))
            })
        }));
        match waited {
            Ok(outcome) => {
                offload.left();
                return outcome.map_err(|_| WaitError::Deadline);
            }
            Err(panic) if entered => std::panic::resume_unwind(panic),
            Err(_) => {} // could not leave the worker thread: wait on it below
        }
    }
    poll_until(deadline, future)
}

/// Polls `future` every millisecond on this thread until it completes or `deadline` passes.
fn poll_until<F: Future>(
    deadline: Instant,
    mut future: std::pin::Pin<&mut F>,
) -> Result<F::Output, WaitError> {
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return Ok(output);
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(WaitError::Deadline);
        }
        std::thread::sleep((deadline - now).min(Duration::from_millis(1)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_gives_places_back() {
        let limit = BlockingLimit::new(2);
        let a = limit.enter().expect("first place");
        let b = limit.enter().expect("second place");
        assert!(limit.enter().is_none(), "only two places");
        assert_eq!(limit.in_use(), 2);
        drop(a);
        let c = limit.enter().expect("a place came back");
        drop((b, c));
        assert_eq!(limit.in_use(), 0);
        assert_eq!(limit.refused.load(Ordering::Relaxed), 1);
        assert_eq!(limit.waits.load(Ordering::Relaxed), 3);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wait_leaves_the_worker_and_meets_its_deadline() {
        let limit = BlockingLimit::new(4);
        let mut offload = Offload::new();
        let deadline = Instant::now() + Duration::from_millis(30);
        let slept = wait_blocking(deadline, &mut offload, &limit, async {
            tokio::time::sleep(Duration::from_millis(5)).await;
            7
        });
        assert_eq!(slept, Ok(7));
        let late = wait_blocking(deadline, &mut offload, &limit, async {
            tokio::time::sleep(Duration::from_secs(30)).await;
        });
        assert_eq!(late, Err(WaitError::Deadline));
        assert_eq!(limit.in_use(), 0, "places are given back");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn on_a_current_thread_runtime_the_wait_stays_on_the_thread() {
        let mut offload = Offload::new();
        let deadline = Instant::now() + Duration::from_secs(5);
        let ready = Instant::now() + Duration::from_millis(3);
        let limit = BlockingLimit::new(1);
        let out = wait_blocking(
            deadline,
            &mut offload,
            &limit,
            std::future::poll_fn(|_| {
                if Instant::now() >= ready {
                    Poll::Ready(1)
                } else {
                    Poll::Pending
                }
            }),
        );
        assert_eq!(out, Ok(1));
    }
}
