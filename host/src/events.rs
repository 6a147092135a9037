//! What subscribers of a session receive, and how much of it the host may hold for them.
//!
//! A session's [`Hub`] is created on the first [`Host::subscribe`](crate::Host::subscribe), so
//! sessions nobody watches pay one empty pointer for it. Each subscriber ([`SessionEvents`])
//! has its own queue. The guest's `publish` appends [`SessionEvent::Published`] to every
//! queue, in publishing order; when the session ends every queue gets
//! [`SessionEvent::Terminated`] with the reason, and then reads end with
//! [`RecvError::Closed`].
//!
//! # Bounds
//! An event's bytes are one shared [`Bytes`]: N subscribers hold N references, never N
//! copies. What the queues hold is bounded three ways ([`HostConfig`] keys):
//! - `subscriber_buffer` events and `subscriber_buffer_bytes` bytes per subscriber: a
//!   subscriber that would go past either is **dropped** at once — its queue is freed there
//!   and then, by the publisher, and its next read returns [`RecvError::Dropped`] with the
//!   reason (the HTTP layer turns it into SSE `event: dropped` or WebSocket close 1008);
//! - `subscriber_bytes_total` bytes held for all subscribers of the host (each event counted
//!   once however many queues hold it): while the host is over it, a subscriber that is
//!   behind (its queue is not empty) is dropped instead of being given more; subscribers that
//!   keep up still get every event. The host can go over by at most the events being
//!   published at that moment.
//!
//! The final `Terminated` and the `Restarted` notices are small and never refused. A slow
//! reader never makes the session, or the other subscribers, wait. Mailbox messages are never
//! treated this way; only events are.
//!
//! Ownership: the session owns its hub (dropping it closes every queue); each
//! [`SessionEvents`] owns its queue and leaves the hub when dropped; the host owns the
//! [`Budget`] every hub of it shares.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

use bytes::Bytes;
use tokio::sync::Notify;

use crate::config::HostConfig;
use crate::reason::StopReason;

/// Default `subscriber_buffer`: events one subscriber may have unread before it is dropped.
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

impl SessionEvent {
    /// Bytes this event counts against the budgets (its payload).
    fn weight(&self) -> usize {
        match self {
            Self::Published(bytes) => bytes.len(),
            _ => 0,
        }
    }
}

/// Why a read gave no event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecvError {
    /// The session is gone and every event was read.
    #[error("the session's event channel is closed")]
    Closed,
    /// This subscriber fell behind its budget and was dropped; its queued events are gone.
    #[error("subscriber dropped: {0}")]
    Dropped(String),
}

/// Why [`SessionEvents::try_recv`] gave no event.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TryRecvError {
    /// Nothing queued now.
    #[error("no event queued")]
    Empty,
    /// The channel ended ([`RecvError`]).
    #[error(transparent)]
    Ended(#[from] RecvError),
}

/// The host-wide side of the bounds: the limits, and the bytes all queues hold.
#[derive(Debug)]
pub(crate) struct Budget {
    per_subscriber_events: usize,
    per_subscriber_bytes: usize,
    total_bytes: usize,
    /// Bytes of events held by at least one queue, each event counted once.
    held: AtomicUsize,
}

impl Budget {
    pub(crate) fn new(config: &HostConfig) -> Arc<Self> {
        let bytes = |b: bytesize::ByteSize| usize::try_from(b.as_u64()).unwrap_or(usize::MAX);
        Arc::new(Self {
            per_subscriber_events: config.subscriber_buffer,
            per_subscriber_bytes: bytes(config.subscriber_buffer_bytes),
            total_bytes: bytes(config.subscriber_bytes_total),
            held: AtomicUsize::new(0),
        })
    }

    /// Bytes held for subscribers now, over the whole host.
    pub(crate) fn held(&self) -> usize {
        self.held.load(Ordering::Relaxed)
    }
}

/// One published event's share of the host budget: counted while any queue holds it.
#[derive(Debug)]
struct Charge {
    budget: Arc<Budget>,
    bytes: usize,
}

impl Drop for Charge {
    fn drop(&mut self) {
        self.budget.held.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

#[derive(Debug)]
struct Queued {
    event: SessionEvent,
    /// Shared by every queue holding this event; the last one out gives the bytes back.
    _charge: Option<Arc<Charge>>,
}

/// How a queue ended.
#[derive(Clone, Debug)]
enum End {
    /// The final event was queued (or the session went away): read what is left, then stop.
    Closed,
    /// Dropped for falling behind: nothing more to read.
    Dropped(String),
}

#[derive(Debug, Default)]
struct QueueState {
    queue: VecDeque<Queued>,
    bytes: usize,
    end: Option<End>,
}

/// One subscriber's queue, shared by its [`SessionEvents`] and the hub.
#[derive(Debug, Default)]
struct Slot {
    /// A std-style mutex: held for a push or a pop only, never across an await.
    state: parking_lot::Mutex<QueueState>,
    /// Wakes the reader (one permit is kept, so a wake-up before the wait is not lost).
    notify: Notify,
    /// Wakes every [`EndWatch`] when the queue ends.
    ended: Notify,
}

impl Slot {
    fn end(&self, end: End) {
        let mut state = self.state.lock();
        if matches!(end, End::Dropped(_)) {
            state.queue.clear(); // frees the events (and their host budget) now
            state.bytes = 0;
        }
        if state.end.is_none() || matches!(end, End::Dropped(_)) {
            state.end = Some(end);
        }
        drop(state);
        self.notify.notify_one();
        self.ended.notify_waiters();
    }
}

#[derive(Debug)]
struct HubShared {
    budget: Arc<Budget>,
    /// The queues still attached. A std-style mutex, held for a push to each queue.
    subscribers: parking_lot::Mutex<Vec<Arc<Slot>>>,
}

/// A session's subscribers. Dropping it closes every queue (like the end of the session).
#[derive(Debug)]
pub(crate) struct Hub {
    shared: Arc<HubShared>,
}

impl Hub {
    pub(crate) fn new(budget: Arc<Budget>) -> Self {
        Self {
            shared: Arc::new(HubShared {
                budget,
                subscribers: parking_lot::Mutex::new(Vec::new()),
            }),
        }
    }

    /// A new subscriber, which gets every event sent from now on.
    pub(crate) fn subscribe(&self) -> SessionEvents {
        let slot = Arc::new(Slot::default());
        self.shared.subscribers.lock().push(Arc::clone(&slot));
        SessionEvents {
            slot,
            hub: Arc::downgrade(&self.shared),
        }
    }

    /// Subscribers attached (dropped ones are not counted).
    pub(crate) fn receiver_count(&self) -> usize {
        self.shared.subscribers.lock().len()
    }

    /// Queues `event` for every subscriber, dropping those past their budget (see the module
    /// docs). `Terminated` also closes every queue. Returns how many subscribers got it.
    pub(crate) fn send(&self, event: SessionEvent) -> usize {
        let weight = event.weight();
        let budget = &self.shared.budget;
        let last = matches!(event, SessionEvent::Terminated(_));
        let mut subscribers = self.shared.subscribers.lock();
        let mut charge = None;
        if weight > 0 && !subscribers.is_empty() {
            budget.held.fetch_add(weight, Ordering::Relaxed);
            charge = Some(Arc::new(Charge {
                budget: Arc::clone(budget),
                bytes: weight,
            }));
        }
        // Whether the host was already over its total before this event.
        let host_over = weight > 0 && budget.held() > budget.total_bytes;
        let mut delivered = 0;
        subscribers.retain(|slot| {
            let mut state = slot.state.lock();
            if state.end.is_some() {
                return false;
            }
            if weight > 0 {
                let reason = if state.queue.len() + 1 > budget.per_subscriber_events {
                    Some(format!(
                        "more than {} events unread",
                        budget.per_subscriber_events
                    ))
                } else if state.bytes + weight > budget.per_subscriber_bytes {
                    Some(format!(
                        "more than {} bytes of events unread",
                        budget.per_subscriber_bytes
                    ))
                } else if host_over && !state.queue.is_empty() {
                    Some(format!(
                        "behind while the host holds more than {} bytes of events",
                        budget.total_bytes
                    ))
                } else {
                    None
                };
                if let Some(reason) = reason {
                    drop(state);
                    slot.end(End::Dropped(reason));
                    return false;
                }
            }
            state.bytes += weight;
            state.queue.push_back(Queued {
                event: event.clone(),
                _charge: charge.clone(),
            });
            if last {
                state.end = Some(End::Closed);
            }
            drop(state);
            slot.notify.notify_one();
            if last {
                slot.ended.notify_waiters();
            }
            delivered += 1;
            !last
        });
        delivered
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        for slot in self.shared.subscribers.lock().drain(..) {
            slot.end(End::Closed);
        }
    }
}

/// Receives a session's events; see [`Host::subscribe`](crate::Host::subscribe) and the
/// module docs. Dropping it unsubscribes and frees what it had queued.
#[derive(Debug)]
pub struct SessionEvents {
    slot: Arc<Slot>,
    hub: Weak<HubShared>,
}

impl SessionEvents {
    /// The next event, waiting for one. After the final [`SessionEvent::Terminated`]:
    /// [`RecvError::Closed`]; for a subscriber that fell behind: [`RecvError::Dropped`].
    pub async fn recv(&mut self) -> Result<SessionEvent, RecvError> {
        loop {
            match self.try_recv() {
                Ok(event) => return Ok(event),
                Err(TryRecvError::Ended(end)) => return Err(end),
                Err(TryRecvError::Empty) => self.slot.notify.notified().await,
            }
        }
    }

    /// The next event if one is queued now.
    pub fn try_recv(&mut self) -> Result<SessionEvent, TryRecvError> {
        let mut state = self.slot.state.lock();
        if let Some(queued) = state.queue.pop_front() {
            state.bytes -= queued.event.weight();
            return Ok(queued.event);
        }
        match &state.end {
            None => Err(TryRecvError::Empty),
            Some(End::Closed) => Err(RecvError::Closed.into()),
            Some(End::Dropped(reason)) => Err(RecvError::Dropped(reason.clone()).into()),
        }
    }

    /// A handle that tells when this subscription is over, usable while another task reads.
    pub fn watch(&self) -> EndWatch {
        EndWatch {
            slot: Arc::clone(&self.slot),
        }
    }

    /// Bytes of events queued for this subscriber, unread.
    pub fn queued_bytes(&self) -> usize {
        self.slot.state.lock().bytes
    }
}

impl Drop for SessionEvents {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            hub.subscribers
                .lock()
                .retain(|slot| !Arc::ptr_eq(slot, &self.slot));
        }
        let mut state = self.slot.state.lock();
        state.queue.clear();
        state.bytes = 0;
    }
}

/// Tells when a subscription is over: dropped, or the session's final event queued.
#[derive(Debug, Clone)]
pub struct EndWatch {
    slot: Arc<Slot>,
}

impl EndWatch {
    /// Whether the subscription is over now.
    pub fn is_over(&self) -> bool {
        self.slot.state.lock().end.is_some()
    }

    /// Waits until the subscription is over. Several waiters may wait; each is woken.
    pub async fn over(&self) {
        loop {
            let notified = self.slot.ended.notified();
            let mut notified = std::pin::pin!(notified);
            // Registered before the check, so an end in between still wakes us.
            notified.as_mut().enable();
            if self.is_over() {
                return;
            }
            notified.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(events: usize, bytes: u64, total: u64) -> Arc<Budget> {
        let config = HostConfig {
            subscriber_buffer: events,
            subscriber_buffer_bytes: bytesize::ByteSize::b(bytes),
            subscriber_bytes_total: bytesize::ByteSize::b(total),
            ..HostConfig::default()
        };
        Budget::new(&config)
    }

    fn published(n: usize) -> SessionEvent {
        SessionEvent::Published(Bytes::from(vec![b'x'; n]))
    }

    #[tokio::test]
    async fn events_arrive_in_order_then_the_end() {
        let hub = Hub::new(budget(8, 1024, 4096));
        let mut a = hub.subscribe();
        assert_eq!(hub.send(published(3)), 1);
        hub.send(SessionEvent::Terminated(StopReason::Normal));
        assert_eq!(a.recv().await, Ok(published(3)));
        assert_eq!(
            a.recv().await,
            Ok(SessionEvent::Terminated(StopReason::Normal))
        );
        assert_eq!(a.recv().await, Err(RecvError::Closed));
        assert_eq!(hub.receiver_count(), 0);
    }

    #[tokio::test]
    async fn a_subscriber_past_its_bytes_is_dropped_and_its_queue_freed() {
        let budget = budget(100, 1000, 1 << 20);
        let hub = Hub::new(Arc::clone(&budget));
        let mut slow = hub.subscribe();
        let mut fast = hub.subscribe();
        for _ in 0..3 {
            hub.send(published(300));
            assert_eq!(fast.recv().await, Ok(published(300)));
        }
        assert_eq!(
            budget.held(),
            900,
            "each event counted once, for the slow one"
        );
        hub.send(published(300));
        assert_eq!(slow.queued_bytes(), 0, "freed at once");
        assert_eq!(budget.held(), 300, "only the fast one's event is held");
        assert!(matches!(slow.recv().await, Err(RecvError::Dropped(r)) if r.contains("1000")));
        assert_eq!(fast.recv().await, Ok(published(300)));
        assert_eq!(budget.held(), 0);
        assert_eq!(hub.receiver_count(), 1);
    }

    #[tokio::test]
    async fn a_subscriber_past_its_count_is_dropped() {
        let hub = Hub::new(budget(2, 1 << 20, 1 << 20));
        let mut slow = hub.subscribe();
        for _ in 0..3 {
            hub.send(published(1));
        }
        assert!(matches!(slow.recv().await, Err(RecvError::Dropped(r)) if r.contains("2 events")));
    }

    #[tokio::test]
    async fn over_the_host_total_laggards_are_dropped_and_readers_served() {
        let budget = budget(100, 1000, 1000);
        let budget = Arc::new(Budget {
            per_subscriber_bytes: 10_000,
            total_bytes: 1000,
            ..Arc::into_inner(budget).unwrap()
        });
        let one = Hub::new(Arc::clone(&budget));
        let two = Hub::new(Arc::clone(&budget));
        let mut stalled = one.subscribe();
        let mut reader = two.subscribe();
        one.send(published(600));
        one.send(published(300));
        // 900 held; 600 more takes the host over: the stalled one is dropped, the reader
        // (empty queue) still gets its event.
        two.send(published(200));
        assert_eq!(reader.recv().await, Ok(published(200)));
        one.send(published(200));
        assert!(matches!(stalled.recv().await, Err(RecvError::Dropped(r)) if r.contains("host")));
        assert_eq!(budget.held(), 0);
    }

    #[tokio::test]
    async fn dropping_the_hub_or_the_subscriber_ends_and_frees() {
        let budget = budget(100, 1 << 20, 1 << 20);
        let hub = Hub::new(Arc::clone(&budget));
        let mut a = hub.subscribe();
        let b = hub.subscribe();
        let watch = a.watch();
        hub.send(published(10));
        drop(b);
        assert_eq!(hub.receiver_count(), 1);
        assert!(!watch.is_over());
        drop(hub);
        watch.over().await;
        assert_eq!(a.recv().await, Ok(published(10)));
        assert_eq!(a.recv().await, Err(RecvError::Closed));
        drop(a);
        assert_eq!(budget.held(), 0);
    }
}
