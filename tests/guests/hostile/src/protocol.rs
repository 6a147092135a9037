//! The hostile guest's messages: init args, calls and casts, as serde types
//! (JSON, internally tagged by `op`). What each one does is documented at the
//! crate root.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How the session misbehaves outside of calls and casts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// Behaves.
    #[default]
    Ok,
    /// `init` fails.
    Fail,
    /// `init` never returns.
    Loop,
    /// `init` panics.
    Trap,
    /// `terminate` panics.
    TrapTerminate,
    /// `terminate` never returns.
    LoopTerminate,
    /// `snapshot` never returns.
    LoopSnapshot,
    /// `restore` of this state never returns.
    LoopRestore,
    /// `restore` of this state panics.
    TrapRestore,
    /// `init` calls `ctx::stop` and succeeds.
    StopInit,
}

/// Init args.
#[derive(Debug, Default, Deserialize)]
pub struct Args {
    /// How to misbehave; `ok` when absent.
    #[serde(default)]
    pub(crate) mode: Mode,
}

/// A request that expects a reply; see the crate docs.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Call {
    /// Replies with `data`.
    Echo {
        /// Anything.
        #[serde(default)]
        data: Value,
    },
    /// Never returns; first publishes `{"looping":true}` when `announce`.
    Loop {
        /// Publish an event before looping.
        #[serde(default)]
        announce: bool,
    },
    /// Panics.
    Trap,
    /// Executes `unreachable`.
    Unreachable,
    /// Overflows the stack.
    Stack,
    /// Allocates and keeps `mib` MiB.
    Grow {
        /// MiB to allocate.
        mib: u32,
    },
    /// Replies with `bytes` bytes.
    Huge {
        /// Size of the encoded reply.
        bytes: usize,
    },
    /// Fails with `message`.
    Error {
        /// The error.
        message: String,
    },
    /// Asks the host to stop the session.
    Stop {
        /// Given to `ctx::stop`.
        reason: String,
    },
    /// Logs `n` lines.
    LogSpam {
        /// Lines to log.
        n: u32,
    },
    /// Prints `text` on stdout.
    Stdout {
        /// The line.
        text: String,
    },
    /// Prints `text` on stderr.
    Stderr {
        /// The line.
        text: String,
    },
    /// Publishes `n` events of `bytes` bytes.
    Publish {
        /// Events to publish.
        n: u32,
        /// Size of each event.
        bytes: usize,
    },
    /// Sets `n` timers of `delay_ms`.
    Timers {
        /// Timers to set.
        n: u32,
        /// Their delay.
        delay_ms: u64,
    },
    /// Cancels timer `id`.
    CancelTimer {
        /// The timer, as numbered by the host (1, 2, 3... per session).
        id: u64,
    },
    /// Replies with the recorded casts.
    Casts,
    /// Replies with the message counters.
    Count,
    /// Busy-waits `ms` milliseconds; first publishes `{"sleeping":true}` when `announce`.
    SleepMs {
        /// How long.
        ms: u64,
        /// Publish an event before busy-waiting.
        #[serde(default)]
        announce: bool,
    },
    /// Blocks in WASI for `ms` milliseconds (`std::thread::sleep`).
    BlockMs {
        /// How long.
        ms: u64,
    },
    /// Adds `n` to the `value` counter (kept in snapshots).
    Add {
        /// How much.
        n: i64,
    },
    /// The next `snapshot` overflows the stack (not kept in snapshots).
    BreakSnapshot,
}

/// A message that expects no reply.
#[derive(Debug, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Cast {
    /// Records `n`.
    Record {
        /// The value to record.
        n: i64,
    },
    /// Never returns.
    Loop,
    /// Panics.
    Trap,
}
