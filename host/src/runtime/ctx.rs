//! The data each session's wasmtime `Store` carries: [`SessionCtx`].
//!
//! A `Store<SessionCtx>` lives exactly as long as its one component instance, and is only ever
//! touched by whoever holds the session's lock (see `session.rs`), so nothing here needs
//! synchronisation. It holds what the host imports need (the session's ID, a weak link back
//! to the session for `publish` and timers), the per-message bookkeeping (deadline, stop
//! request, log budget) and the session's resource limits.
//!
//! Density matters: a live session costs this struct plus wasmtime's own store. WASI state
//! (a random generator, clocks, stdio streams, a resource table) is built only the first time
//! the guest calls a WASI function; many small guests never do.

use std::sync::{Arc, Weak};
use std::time::Instant;

use wasmtime::{ResourceLimiter, StoreContextMut, UpdateDeadline};
use wasmtime_wasi::{WasiCtxView, WasiView};

use crate::error::TrapKind;
use crate::host::HostInner;
use crate::id::SessionId;
use crate::runtime::layout::Placement;
use crate::runtime::offload::Offload;
use crate::runtime::wasi::WasiState;
use crate::session::state::Session;
use crate::session::timers::SessionTimers;

/// Store data of one session. See the module docs.
pub(crate) struct SessionCtx {
    /// The session's ID, as `host.session-id` reports it.
    pub(crate) id: SessionId,
    /// Name of the guest, for log lines.
    pub(crate) guest_name: Arc<str>,
    /// Back to the session (for `publish` and timers). Weak: the session owns this store.
    pub(crate) session: Weak<Session>,
    /// Back to the host (for spawning timers). Weak for the same reason.
    pub(crate) host: Weak<HostInner>,
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
    /// Most timers this session may have pending.
    pub(crate) max_timers: usize,
    /// WASI state, built on first use.
    wasi: Option<Box<WasiState>>,
    /// Pending timers, created on first `send-after`.
    pub(crate) timers: Option<Box<SessionTimers>>,
}

/// A context counts its store (and so one pool slot) in [`HostInner::instances`] from its
/// creation ([`SessionCtx::new`]) to its drop.
impl Drop for SessionCtx {
    fn drop(&mut self) {
        if let Some(host) = self.host.upgrade() {
            host.instances
                .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Log lines a guest may write per message before further lines are dropped (and counted).
pub(crate) const LOG_LINES_PER_MESSAGE: u32 = 100;

impl SessionCtx {
    /// A context for session `id` of guest `guest_name`, whose memories and tables may grow
    /// as far as its `placement` allows (see `layout.rs`).
    pub(crate) fn new(
        host: &Arc<HostInner>,
        id: SessionId,
        guest_name: Arc<str>,
        placement: Placement,
    ) -> Self {
        let config = &host.config;
        let memory = usize::try_from(placement.memory_limit).unwrap_or(usize::MAX);
        host.instances
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Self {
            id,
            guest_name,
            session: Weak::new(),
            host: Arc::downgrade(host),
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
            max_message_bytes: usize::try_from(config.max_message_bytes.as_u64())
                .unwrap_or(usize::MAX),
            max_timers: config.max_timers_per_session,
            wasi: None,
            timers: None,
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
        if Instant::now() >= ctx.deadline
            || ctx
                .session
                .upgrade()
                .is_some_and(|session| session.interrupt_requested())
        {
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
            host: &self.host,
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
    pub(crate) host: &'a Weak<HostInner>,
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

/// The error a limit trap carries; `exec.rs` recognises it.
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
