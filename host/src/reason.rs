//! Why a session ended.
//!
//! [`StopReason`] mirrors the WIT `stop-reason` variant. The host decides it when a session
//! ends, passes it to the guest's `terminate` export when the instance can still run, logs it
//! in the `session.stop` event and sends it to subscribers as their final event.

use serde::Serialize;

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", content = "detail", rename_all = "snake_case")]
#[non_exhaustive]
pub enum StopReason {
    /// The application ended it ([`Host::terminate`](crate::Host::terminate)).
    Normal,
    /// The guest asked to stop through `host.stop`, with this reason.
    Requested(String),
    /// It was idle for longer than `session_ttl`.
    IdleTimeout,
    /// The host shut down.
    Shutdown,
    /// The host killed it, for this reason.
    Killed(String),
    /// The guest exceeded this limit (`timeout`, `out_of_fuel`, `memory_limit`...).
    Limit(String),
    /// The guest trapped, with this description.
    Crashed(String),
    /// It moved to a new version of its guest.
    Upgrade,
}

impl StopReason {
    /// Short machine name: `normal`, `requested`, `idle_timeout`, `shutdown`, `killed`,
    /// `limit`, `crashed`, `upgrade`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Normal => "normal",
            Self::Requested(_) => "requested",
            Self::IdleTimeout => "idle_timeout",
            Self::Shutdown => "shutdown",
            Self::Killed(_) => "killed",
            Self::Limit(_) => "limit",
            Self::Crashed(_) => "crashed",
            Self::Upgrade => "upgrade",
        }
    }

    /// Whether the guest instance can still run its `terminate` export after this reason:
    /// false after a trap or an interrupted call.
    pub(crate) fn instance_usable(&self) -> bool {
        !matches!(self, Self::Limit(_) | Self::Crashed(_))
    }
}

impl std::fmt::Display for StopReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Requested(s) | Self::Killed(s) | Self::Limit(s) | Self::Crashed(s) => {
                write!(f, "{}: {s}", self.kind())
            }
            _ => f.write_str(self.kind()),
        }
    }
}
