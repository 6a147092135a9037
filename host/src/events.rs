//! What subscribers of a session receive.
//!
//! A session's event channel is a tokio `broadcast` created on the first
//! [`Host::subscribe`](crate::Host::subscribe), so sessions nobody watches pay one empty pointer
//! for it. The guest's `publish` sends [`SessionEvent::Published`] to every receiver, in
//! publishing order; when the session ends every receiver gets [`SessionEvent::Terminated`]
//! with the reason, and then the channel closes.
//!
//! A subscriber that falls more than [`SUBSCRIBER_BUFFER`] events behind loses the oldest ones
//! and is told how many (`RecvError::Lagged`): a slow reader can never make the session, or
//! other subscribers, wait. Mailbox messages are never treated this way; only events are.

use bytes::Bytes;
use tokio::sync::broadcast;

use crate::reason::StopReason;

/// Events one subscriber may have unread before it starts losing the oldest.
pub const SUBSCRIBER_BUFFER: usize = 1024;

/// Something that happened in a session.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionEvent {
    /// The guest published these bytes.
    Published(Bytes),
    /// The session ended, for this reason. Always the last event.
    Terminated(StopReason),
    /// The guest failed for `reason` and the session was started again under the same ID
    /// (its guest's restart policy): from its last checkpoint when `from_checkpoint`, else
    /// through `init`. `lost_messages` handled messages since the checkpoint were lost.
    Restarted {
        /// Why the previous instance ended.
        reason: StopReason,
        /// Whether the state came back from a checkpoint.
        from_checkpoint: bool,
        /// Handled messages whose effects the restart lost.
        lost_messages: u64,
    },
}

/// Receives a session's events; see [`Host::subscribe`](crate::Host::subscribe).
pub type SessionEvents = broadcast::Receiver<SessionEvent>;

/// A new, empty event channel.
pub(crate) fn channel() -> broadcast::Sender<SessionEvent> {
    broadcast::Sender::new(SUBSCRIBER_BUFFER)
}
