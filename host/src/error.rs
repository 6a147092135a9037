//! Errors of the host library.
//!
//! [`SessionError`] is the one error every session operation returns. Its kinds keep the
//! vocabulary of Phoenix.SessionProcess (`invalid_session_id`, `session_limit_reached`,
//! `session_not_found`, `timeout`) and add the ones a sandbox needs. `Display` is the human
//! message; [`SessionError::kind`] is the stable machine name used in HTTP bodies and metrics.
//!
//! Two failures are kept apart on purpose: a **guest error** is the guest's own `Err(..)`
//! reply — the session is fine and keeps running; a **guest trap** means the instance crashed
//! or hit a limit and the session has ended. Messages never carry host internals such as file
//! paths or wasmtime backtraces: those go to the log.

use std::time::Duration;

use thiserror::Error;

/// What went wrong with a session operation.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// The session ID is malformed (wrong length or characters).
    #[error("invalid session id: {reason}")]
    InvalidSessionId {
        /// Why the ID was rejected.
        reason: &'static str,
    },
    /// `max_sessions` sessions are already alive.
    #[error("session limit reached: {max} sessions are alive")]
    SessionLimitReached {
        /// The configured maximum.
        max: usize,
    },
    /// Too many sessions were created recently (`rate_limit`).
    #[error("too many new sessions: retry in {} ms", retry_after.as_millis())]
    RateLimited {
        /// Time until the next creation will be accepted.
        retry_after: Duration,
    },
    /// No live session has this ID (it never existed, ended, or expired).
    #[error("session not found")]
    SessionNotFound,
    /// A session with this ID is already alive.
    #[error("a session with this id is already started")]
    AlreadyStarted,
    /// The operation did not finish in time. When the guest was running at the deadline it
    /// was interrupted and the session ended.
    #[error("timed out after {ms} ms")]
    Timeout {
        /// The timeout that elapsed, in milliseconds.
        ms: u64,
    },
    /// The guest handled the message and returned an error; the session keeps running.
    #[error("{0}")]
    GuestError(String),
    /// The guest crashed or hit a limit while handling the message; the session has ended.
    #[error("guest trapped ({kind}): {message}")]
    GuestTrap {
        /// What kind of trap it was.
        kind: TrapKind,
        /// A short description, without host internals.
        message: String,
    },
    /// The session already has `mailbox` messages pending.
    #[error("mailbox full: {capacity} messages are already pending")]
    MailboxFull {
        /// The configured mailbox bound.
        capacity: usize,
    },
    /// Pending messages would hold more bytes than `mailbox_bytes` (this session) or
    /// `mailbox_bytes_total` (all sessions) allow. Kind `mailbox_full`, like
    /// [`SessionError::MailboxFull`].
    #[error(
        "mailbox full: {pending} bytes of messages are pending in this {scope}, the limit is {max}"
    )]
    MailboxBytesFull {
        /// Bytes pending before this message.
        pending: usize,
        /// The limit.
        max: usize,
        /// `session` or `host`.
        scope: &'static str,
    },
    /// A request, reply, cast or event exceeds `max_message_bytes`.
    #[error("message too large: {size} bytes, the limit is {max}")]
    MessageTooLarge {
        /// Size of the offending message.
        size: usize,
        /// The configured limit.
        max: usize,
    },
    /// No guest is loaded under this name (or no default guest is configured).
    #[error("guest not found: {name}")]
    GuestNotFound {
        /// The name asked for.
        name: String,
    },
    /// The component was rejected when it was loaded.
    #[error(transparent)]
    InvalidGuest(#[from] GuestLoadError),
    /// The host is shutting down and accepts no new work.
    #[error("the host is shutting down")]
    ShuttingDown,
    /// The engine could not create an instance (for example its pool is exhausted).
    #[error("could not start the session: {reason}")]
    StartFailed {
        /// Why, without host internals.
        reason: String,
    },
}

impl SessionError {
    /// Every [`kind`](Self::kind), in a fixed order: the one list the metrics' outcome
    /// labels and the HTTP layer's table are made from.
    pub const KINDS: [&'static str; 14] = [
        "invalid_session_id",
        "session_limit_reached",
        "rate_limited",
        "session_not_found",
        "already_started",
        "timeout",
        "guest_error",
        "guest_trap",
        "mailbox_full",
        "message_too_large",
        "guest_not_found",
        "invalid_guest",
        "shutting_down",
        "start_failed",
    ];

    /// The stable, machine-readable name of this error, as used in HTTP problem bodies and
    /// metric labels: one of [`KINDS`](Self::KINDS).
    pub fn kind(&self) -> &'static str {
        Self::KINDS[match self {
            Self::InvalidSessionId { .. } => 0,
            Self::SessionLimitReached { .. } => 1,
            Self::RateLimited { .. } => 2,
            Self::SessionNotFound => 3,
            Self::AlreadyStarted => 4,
            Self::Timeout { .. } => 5,
            Self::GuestError(_) => 6,
            Self::GuestTrap { .. } => 7,
            Self::MailboxFull { .. } | Self::MailboxBytesFull { .. } => 8,
            Self::MessageTooLarge { .. } => 9,
            Self::GuestNotFound { .. } => 10,
            Self::InvalidGuest(_) => 11,
            Self::ShuttingDown => 12,
            Self::StartFailed { .. } => 13,
        }]
    }

    /// The human message: the same text as `Display` (kept for readers coming from
    /// Phoenix.SessionProcess's `Error.message/1`).
    pub fn message(&self) -> String {
        self.to_string()
    }
}

/// Why a guest's execution was stopped. Every trap ends the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TrapKind {
    /// The message used up its `fuel_per_call`.
    OutOfFuel,
    /// The guest was still running at its deadline (reported to callers as `timeout`).
    Interrupted,
    /// The guest tried to grow its memory (or a table) beyond `memory_per_session`.
    MemoryLimit,
    /// The guest overflowed its call stack.
    StackOverflow,
    /// The guest executed `unreachable` (a Rust `panic!`, a C `abort()`...).
    Unreachable,
    /// The guest accessed memory out of bounds.
    MemoryOutOfBounds,
    /// Integer division by zero or overflow.
    Arithmetic,
    /// A bad indirect call (null or mismatched function reference).
    BadCall,
    /// The guest broke the component model's rules (bad pointer, invalid UTF-8...).
    AbiViolation,
    /// The guest's instance had already failed and could not be entered again.
    Poisoned,
    /// The guest blocked in a WASI call (a sleep, a poll) while `max_blocked_messages`
    /// messages were already blocked host-wide.
    BlockingLimit,
    /// Anything else.
    Other,
}

impl TrapKind {
    /// Stable machine-readable name, e.g. `out_of_fuel`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OutOfFuel => "out_of_fuel",
            Self::Interrupted => "interrupted",
            Self::MemoryLimit => "memory_limit",
            Self::StackOverflow => "stack_overflow",
            Self::Unreachable => "unreachable",
            Self::MemoryOutOfBounds => "memory_out_of_bounds",
            Self::Arithmetic => "arithmetic",
            Self::BadCall => "bad_call",
            Self::AbiViolation => "abi_violation",
            Self::Poisoned => "poisoned",
            Self::BlockingLimit => "blocking_limit",
            Self::Other => "other",
        }
    }
}

impl std::fmt::Display for TrapKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a component could not be loaded as a session guest.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("invalid guest `{name}`: {reason}")]
pub struct GuestLoadError {
    /// The name the guest was being loaded under.
    pub name: String,
    /// What is wrong, in words a guest author can act on.
    pub reason: String,
}

/// A configuration value the host cannot honour.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("invalid configuration: `{field}` {reason}")]
pub struct ConfigError {
    /// The offending field.
    pub field: &'static str,
    /// What is wrong with it.
    pub reason: String,
}

/// Failure to build a [`Host`](crate::Host).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum HostError {
    /// The configuration was rejected.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The WebAssembly engine could not be created with this configuration.
    #[error("could not create the webassembly engine")]
    Engine(#[source] wasmtime::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_lowercase_and_kinds_stable() {
        let errors = [
            SessionError::InvalidSessionId { reason: "too long" },
            SessionError::SessionLimitReached { max: 3 },
            SessionError::RateLimited {
                retry_after: Duration::from_millis(1500),
            },
            SessionError::SessionNotFound,
            SessionError::Timeout { ms: 5000 },
            SessionError::MailboxFull { capacity: 8 },
            SessionError::ShuttingDown,
        ];
        for e in &errors {
            let msg = e.to_string();
            assert!(
                msg.chars().next().is_some_and(|c| c.is_lowercase()),
                "{msg}"
            );
        }
        assert_eq!(errors[0].kind(), "invalid_session_id");
        assert_eq!(
            errors[2].to_string(),
            "too many new sessions: retry in 1500 ms"
        );
        assert_eq!(errors[4].to_string(), "timed out after 5000 ms");
    }

    #[test]
    fn guest_error_shows_the_guests_text() {
        let e = SessionError::GuestError("no such item: apple".into());
        assert_eq!(e.to_string(), "no such item: apple");
        assert_eq!(e.kind(), "guest_error");
    }
}
