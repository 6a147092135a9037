//! The data each instance's wasmtime `Store` carries: [`SessionCtx`].
//!
//! A `Store<SessionCtx>` lives exactly as long as its one component instance, and is only ever
//! touched by whoever holds its session's lock, so nothing here needs synchronisation. It
//! holds what the host imports need of their own (the session's ID, the per-message
//! bookkeeping: deadline, stop request, log budget), the resource limits, and a narrow
//! [`GuestLink`] through which `publish` and timers reach the rest of the host. The store
//! data never holds the host or the session itself: the runtime knows no session, and the
//! session layer hands each instance the link it wants it to have.
//!
//! Density matters: a live session costs this struct plus wasmtime's own store. WASI state
//! (a random generator, clocks, stdio streams, a resource table) is built only the first time
//! the guest calls a WASI function; many small guests never do.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use wasmtime::{ResourceLimiter, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::{WasiCtxView, WasiView};

use crate::error::TrapKind;
use crate::id::SessionId;
use crate::runtime::layout::Placement;
use crate::runtime::offload::{BlockingLimit, Offload};
use crate::runtime::wasi::WasiState;

/// What a guest's imports reach beyond its own store: its session's subscribers, its timers,
/// and whether an operator asked the running message to stop. Implemented by the session
/// layer, one link per instance; owned by the instance's store data.
pub(crate) trait GuestLink: Send + 'static {
    /// `publish`: hands the event (already within `max_message_bytes`) to the subscribers.
    fn publish(&mut self, event: Vec<u8>);
    /// `send-after`: delivers `message` to the session after `delay_ms`; the timer's ID, or
    /// why not.
    fn send_after(&mut self, message: Vec<u8>, delay_ms: u64) -> Result<u64, String>;
    /// `cancel-timer`: false when the timer already fired, was cancelled, or is unknown.
    fn cancel_timer(&mut self, id: u64) -> bool;
    /// Whether the message running now must stop at the next epoch tick (a kill).
    fn interrupted(&self) -> bool;
    /// The link as its own type, for the layer that made it.
    fn as_any(&self) -> &dyn Any;
    /// The link as its own type, mutably.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// What every instance of a runtime shares: the bound on blocked messages and the count of
/// instances alive.
#[derive(Debug)]
pub(crate) struct RuntimeShared {
    /// Messages blocked in a WASI call now, within `max_blocked_messages`.
    pub(crate) blocking: BlockingLimit,
    /// Instances alive (each holds one pool slot until its store is dropped).
    instances: AtomicUsize,
}

impl RuntimeShared {
    pub(crate) fn new(max_blocked_messages: usize) -> Self {
        Self {
            blocking: BlockingLimit::new(max_blocked_messages),
            instances: AtomicUsize::new(0),
        }
    }

    /// Instances alive now.
    pub(crate) fn instances(&self) -> usize {
        self.instances.load(Ordering::Relaxed)
    }
}

/// Store data of one instance. See the module docs.
pub(crate) struct SessionCtx {
    /// The session's ID, as `host.session-id` reports it.
    pub(crate) id: SessionId,
    /// Name of the guest, for log lines.
    pub(crate) guest_name: Arc<str>,
    /// Memory and table limits; also tracks current memory size.
    pub(crate) limits: Limits,
    /// When the message being handled must be finished; checked at every epoch tick.
    pub(crate) deadline: Instant,
    /// Whether the current message has left the async worker thread (see `offload.rs`).
    pub(crate) offload: Offload,
    /// Set by `host.stop`: end the session once the current message is handled.
    pub(crate) stop_requested: Option<String>,
    /// Log lines the guest may still write during the current message.
    pub(crate) log_budget: u32,
    /// Log lines dropped during the current message because the budget ran out.
    pub(crate) logs_dropped: u32,
    /// Largest event `publish` accepts.
    pub(crate) max_message_bytes: usize,
    /// The session's link; `None` for an instance that serves no session (the probe a guest
    /// load runs): its `publish` goes nowhere and its timers are refused.
    pub(crate) link: Option<Box<dyn GuestLink>>,
    /// Counts this instance; bounds blocked messages.
    shared: Arc<RuntimeShared>,
    /// WASI state, built on first use.
    wasi: Option<Box<WasiState>>,
}

/// A context counts its store (and so one pool slot) in [`RuntimeShared`] from its creation
/// ([`SessionCtx::new`]) to its drop.
impl Drop for SessionCtx {
    fn drop(&mut self) {
        self.shared.instances.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Log lines a guest may write per message before further lines are dropped (and counted).
pub(crate) const LOG_LINES_PER_MESSAGE: u32 = 100;

impl SessionCtx {
    /// A context for session `id` of guest `guest_name`, whose memories and tables may grow
    /// as far as its `placement` allows (see `layout.rs`), and whose events and timers go
    /// through `link`.
    pub(crate) fn new(
        shared: &Arc<RuntimeShared>,
        id: SessionId,
        guest_name: Arc<str>,
        placement: Placement,
        max_message_bytes: usize,
        link: Option<Box<dyn GuestLink>>,
    ) -> Self {
        let memory = usize::try_from(placement.memory_limit).unwrap_or(usize::MAX);
        shared.instances.fetch_add(1, Ordering::Relaxed);
        Self {
            id,
            guest_name,
            limits: Limits {
                memory_max: memory,
                memory_bytes: 0,
                table_elements_max: placement.table_elements(),
                exceeded: None,
            },
            deadline: Instant::now(),
            offload: Offload::new(),
            stop_requested: None,
            log_budget: LOG_LINES_PER_MESSAGE,
            logs_dropped: 0,
            max_message_bytes,
            link,
            shared: Arc::clone(shared),
            wasi: None,
        }
    }

    /// Resets the per-message bookkeeping before a guest export runs.
    pub(crate) fn begin_message(&mut self, started: Instant, deadline: Instant) {
        self.deadline = deadline;
        self.offload.begin(started);
        self.log_budget = LOG_LINES_PER_MESSAGE;
        self.logs_dropped = 0;
        self.limits.exceeded = None;
    }

    /// The epoch callback installed on every session store: interrupt the guest once its
    /// deadline has passed (or a kill asked for it), and move a message that runs long off the async worker thread so
    /// it cannot stall other sessions (see `offload.rs`).
    pub(crate) fn on_epoch(
        mut store: StoreContextMut<'_, Self>,
    ) -> wasmtime::Result<UpdateDeadline> {
        let ctx = store.data_mut();
        if Instant::now() >= ctx.deadline || ctx.link.as_ref().is_some_and(|l| l.interrupted()) {
            return Ok(UpdateDeadline::Interrupt);
        }
        ctx.offload.on_tick();
        Ok(UpdateDeadline::Continue(1))
    }

    /// WASI state, deadline and offload state at once, for WASI calls that may wait.
    pub(crate) fn io_parts(&mut self) -> IoParts<'_> {
        let (id, guest) = (&self.id, &self.guest_name);
        let wasi = self
            .wasi
            .get_or_insert_with(|| Box::new(WasiState::new(id, guest)))
            .view();
        IoParts {
            wasi,
            deadline: self.deadline,
            offload: &mut self.offload,
            exceeded: &mut self.limits.exceeded,
            blocking: &self.shared.blocking,
        }
    }
}

/// What a WASI call that may wait needs of the store data (see `wasi_link.rs`).
pub(crate) struct IoParts<'a> {
    pub(crate) wasi: WasiCtxView<'a>,
    pub(crate) deadline: Instant,
    pub(crate) offload: &'a mut Offload,
    /// Where to record the limit that stopped the message.
    pub(crate) exceeded: &'a mut Option<TrapKind>,
    /// The runtime's bound on blocked messages.
    pub(crate) blocking: &'a BlockingLimit,
}

impl WasiView for SessionCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.io_parts().wasi
    }
}

/// Resource limits of one session, enforced through wasmtime's [`ResourceLimiter`].
///
/// Growth past `memory_max` traps (rather than making `memory.grow` return -1) so that a
/// memory bomb ends with a clear `memory_limit` error instead of an allocator abort. A table
/// past `table_elements_max` (or its own maximum) does not grow: `table.grow` returns -1.
#[derive(Debug)]
pub(crate) struct Limits {
    /// Most linear memory, in bytes, across the instance's memories.
    pub(crate) memory_max: usize,
    /// Current linear memory, in bytes.
    pub(crate) memory_bytes: usize,
    /// Most elements of any one table.
    pub(crate) table_elements_max: usize,
    /// Which limit was hit during the current message, to classify the trap.
    pub(crate) exceeded: Option<TrapKind>,
}

/// The error a limit trap carries; `instance.rs` recognises it.
#[derive(Debug, thiserror::Error)]
#[error("{what} limit exceeded: {desired} requested, {max} allowed")]
pub(crate) struct LimitExceeded {
    pub(crate) what: &'static str,
    pub(crate) desired: usize,
    pub(crate) max: usize,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            // Beyond the memory's own declared maximum: `memory.grow` returns -1, as the
            // WebAssembly spec says, and nothing changes.
            return Ok(false);
        }
        let total = self.memory_bytes - current.min(self.memory_bytes) + desired;
        if total > self.memory_max {
            self.exceeded = Some(TrapKind::MemoryLimit);
            return Err(wasmtime::Error::new(LimitExceeded {
                what: "memory",
                desired: total,
                max: self.memory_max,
            }));
        }
        self.memory_bytes = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        // Beyond the table's own maximum (for a dense session, the pool's table size) or the
        // host's cap: `table.grow` returns -1, as the spec has it for a table that cannot
        // grow. Tables hold references, not data: a guest that cannot grow one can say so;
        // one that loops regardless meets its deadline and fuel.
        Ok(maximum.is_none_or(|max| desired <= max) && desired <= self.table_elements_max)
    }
}
