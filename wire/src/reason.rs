//! [`StopReason`]: why a session ended — one definition for the host and the Rust guest SDK.
//!
//! It mirrors the WIT variant `stop-reason`: the host decides it when a session ends, passes
//! it to the guest's `terminate` export when the instance can still run, logs it and sends it
//! to subscribers as their final event; a Rust guest receives the same type. The WIT carries a
//! limit as a string; here it is a [`LimitKind`], with [`LimitKind::Other`] for a name this
//! build does not know (a guest built against another host version).
//!
//! The variants are those of the WIT variant, which only a new contract version changes; a
//! limit this build does not know arrives as [`LimitKind::Other`].
//!
//! Serialized (for subscribers) as `{"reason": kind}` or `{"reason": kind, "detail": text}`:
//! `{"reason":"limit","detail":"timeout"}`. `Display` is `kind` or `kind: detail`.

use std::fmt;

use serde::Serialize;

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
pub enum StopReason {
    /// The application ended it (`Host::terminate`, a logout).
    Normal,
    /// The guest asked to stop through `host.stop`, with this reason.
    Requested(String),
    /// It was idle for longer than `session_ttl`.
    IdleTimeout,
    /// The host shut down.
    Shutdown,
    /// The host killed it (an operator), for this reason.
    Killed(String),
    /// The guest exceeded this limit. Subscribers see it; the guest never does (its instance
    /// cannot run any more).
    Limit(LimitKind),
    /// The guest trapped, with this description (and could not be restarted).
    Crashed(String),
    /// It moved to a new version of its guest.
    Upgrade,
}

impl StopReason {
    /// Every [`kind`](Self::kind), in a fixed order (metrics label values).
    pub const KINDS: [&'static str; 8] = [
        "normal",
        "requested",
        "idle_timeout",
        "shutdown",
        "killed",
        "limit",
        "crashed",
        "upgrade",
    ];

    /// Short machine name, one of [`KINDS`](Self::KINDS).
    pub fn kind(&self) -> &'static str {
        Self::KINDS[match self {
            Self::Normal => 0,
            Self::Requested(_) => 1,
            Self::IdleTimeout => 2,
            Self::Shutdown => 3,
            Self::Killed(_) => 4,
            Self::Limit(_) => 5,
            Self::Crashed(_) => 6,
            Self::Upgrade => 7,
        }]
    }
}

impl fmt::Display for StopReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Requested(s) | Self::Killed(s) | Self::Crashed(s) => {
                write!(f, "{}: {s}", self.kind())
            }
            Self::Limit(which) => write!(f, "{}: {which}", self.kind()),
            _ => f.write_str(self.kind()),
        }
    }
}

/// Which limit stopped a guest.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum LimitKind {
    /// Still running at its deadline (`call_timeout`).
    Timeout,
    /// Used up its fuel (`fuel_per_call`).
    OutOfFuel,
    /// Tried to grow its memory past its limit.
    MemoryLimit,
    /// Blocked in a WASI call while the host's `max_blocked_messages` were already blocked.
    BlockingLimit,
    /// A limit this build does not know, by name.
    Other(String),
}

impl LimitKind {
    /// Its name: `timeout`, `out_of_fuel`, `memory_limit`, `blocking_limit`, or the other's.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Timeout => "timeout",
            Self::OutOfFuel => "out_of_fuel",
            Self::MemoryLimit => "memory_limit",
            Self::BlockingLimit => "blocking_limit",
            Self::Other(name) => name,
        }
    }
}

impl From<&str> for LimitKind {
    fn from(name: &str) -> Self {
        match name {
            "timeout" => Self::Timeout,
            "out_of_fuel" => Self::OutOfFuel,
            "memory_limit" => Self::MemoryLimit,
            "blocking_limit" => Self::BlockingLimit,
            other => Self::Other(other.to_owned()),
        }
    }
}

impl From<String> for LimitKind {
    fn from(name: String) -> Self {
        Self::from(name.as_str())
    }
}

impl fmt::Display for LimitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for LimitKind {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_display_and_json() {
        let limit = StopReason::Limit(LimitKind::Timeout);
        assert_eq!(limit.kind(), "limit");
        assert_eq!(limit.to_string(), "limit: timeout");
        assert_eq!(
            serde_json::to_string(&limit).unwrap(),
            r#"{"reason":"limit","detail":"timeout"}"#
        );
        assert_eq!(StopReason::IdleTimeout.to_string(), "idle_timeout");
        assert_eq!(
            serde_json::to_string(&StopReason::Normal).unwrap(),
            r#"{"reason":"normal"}"#
        );
        assert_eq!(
            StopReason::Requested("done".into()).to_string(),
            "requested: done"
        );
        for name in [
            "timeout",
            "out_of_fuel",
            "memory_limit",
            "blocking_limit",
            "new",
        ] {
            assert_eq!(LimitKind::from(name).as_str(), name);
        }
        assert_eq!(LimitKind::from("new"), LimitKind::Other("new".into()));
    }
}
