//! The one place that configures wasmtime.
//!
//! Everything the host asks of its engines is decided here, from [`HostConfig`]: the pooling
//! allocator sized to `max_sessions`, the dense memory layout, fuel metering and epoch
//! interruption. A host has two engines, one per memory layout (`layout.rs`): the dense one
//! described below, and the large one (on-demand allocation, copy-on-write images, memories
//! that grow up to `large_memory_per_session`) for guests with a language runtime inside.
//! Both meter fuel, check epoch deadlines, limit the wasm stack and share the compile cache.
//! The rest of the crate takes the [`Engine`]s as given.
//!
//! # The dense memory layout
//! With wasmtime's defaults every live instance costs several kernel memory mappings (guard
//! regions, copy-on-write images), and a process meets `vm.max_map_count` (65 530) at about
//! 16 000 sessions. Here each linear memory lives in a pool slot of exactly
//! `memory_per_session` bytes with no guard regions and no copy-on-write image: data segments
//! are copied in at instantiation, bounds are checked explicitly, and a guest whose memory is
//! fixed at the slot size (initial = maximum) adds no mapping at all. Only the pages a session
//! touches cost RAM. Decommits are batched so that freeing many instances does not flush TLBs
//! once per instance.
//!
//! # The epoch clock
//! [`EpochTicker`] owns a thread that advances the engines' epoch every `epoch_tick`. Stores
//! check their deadline at each tick: a guest that runs long yields to the executor, and one
//! past its deadline is interrupted. The thread holds only a weak reference to the engine and
//! is stopped and joined when the ticker is dropped.

use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, EngineWeak, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::config::HostConfig;
use crate::error::HostError;

/// Core wasm instances one dense component may contain (a Rust guest has about four: its
/// module, the WASI adapter and the canonical-ABI shims).
pub(crate) const CORE_INSTANCES_PER_COMPONENT: u32 = 16;
/// Linear memories one dense component may define.
pub(crate) const MEMORIES_PER_COMPONENT: u32 = 4;
/// Tables one dense component may contain.
pub(crate) const TABLES_PER_COMPONENT: u32 = 4;
/// Elements per table of a dense component: enough for the indirect-call tables of small
/// guests.
pub(crate) const TABLE_ELEMENTS: usize = 2_000;
/// Instance slots beyond `max_sessions`: load-time probes and instances being torn down.
const SLOT_HEADROOM: u32 = 64;
/// Native stack a guest may use, in bytes. Guests run on the calling thread's stack (tokio
/// workers have 2 MiB), so this leaves room for the host's own frames.
const MAX_WASM_STACK: usize = 512 * 1024;

/// Builds the engine every guest of this host is compiled for.
pub fn build_engine(config: &HostConfig) -> Result<Engine, HostError> {
    let slots = u32::try_from(config.max_sessions)
        .unwrap_or(u32::MAX)
        .saturating_add(SLOT_HEADROOM);
    let memory = config.memory_per_session.as_u64();

    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(slots)
        .total_core_instances(slots.saturating_mul(CORE_INSTANCES_PER_COMPONENT))
        .total_memories(slots)
        .total_tables(slots.saturating_mul(TABLES_PER_COMPONENT))
        .total_stacks(0)
        .max_memories_per_component(MEMORIES_PER_COMPONENT)
        .max_tables_per_component(TABLES_PER_COMPONENT)
        .max_core_instances_per_component(CORE_INSTANCES_PER_COMPONENT)
        .table_elements(TABLE_ELEMENTS)
        .max_memory_size(usize::try_from(memory).unwrap_or(usize::MAX))
        .max_core_instance_size(256 * 1024)
        .max_component_instance_size(256 * 1024)
        .decommit_batch_size(64)
        .linear_memory_keep_resident(0)
        .table_keep_resident(0)
        .max_unused_warm_slots(0);

    let mut wasm = base_config(config)?;
    wasm.memory_init_cow(false)
        .memory_reservation(memory)
        .memory_guard_size(0)
        .guard_before_linear_memory(false)
        .memory_reservation_for_growth(0)
        .memory_may_move(false)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&wasm).map_err(HostError::Engine)
}

/// Builds the engine of large guests: instances allocated on demand, each memory reserved
/// up to `large_memory_per_session` and grown as the guest asks, its initial image mapped
/// copy-on-write (a Python or JavaScript runtime's tens of MiB are shared, not copied).
pub fn build_large_engine(config: &HostConfig) -> Result<Engine, HostError> {
    let mut wasm = base_config(config)?;
    wasm.memory_init_cow(true)
        .memory_reservation(config.large_memory_per_session.as_u64())
        .memory_reservation_for_growth(0)
        .memory_may_move(false)
        .allocation_strategy(InstanceAllocationStrategy::OnDemand);
    Engine::new(&wasm).map_err(HostError::Engine)
}

/// What both engines share: components, fuel, epochs, the stack limit, the compile cache.
fn base_config(config: &HostConfig) -> Result<Config, HostError> {
    let mut wasm = Config::new();
    wasm.wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(MAX_WASM_STACK);
    if let Some(dir) = &config.compile_cache_dir {
        // wasmtime's own cache: compiled code keyed by the component and the engine's
        // settings, so a restart (or reloading an unchanged file) does not compile again.
        let mut cache = wasmtime::CacheConfig::new();
        cache.with_directory(dir);
        wasm.cache(Some(
            wasmtime::Cache::new(cache).map_err(HostError::Engine)?,
        ));
    }
    Ok(wasm)
}

/// Advances the epoch of some engines on a dedicated thread until dropped.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    /// Dropping this wakes the thread and tells it to stop.
    stop: Option<mpsc::Sender<()>>,
    /// Joined on drop, so no ticker outlives its owner.
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engines` every `tick`.
    pub(crate) fn start(engines: &[&Engine], tick: Duration) -> std::io::Result<Self> {
        let weak: Vec<EngineWeak> = engines.iter().map(|e| e.weak()).collect();
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sessionhost-epoch".into())
            .spawn(move || {
                while let Err(mpsc::RecvTimeoutError::Timeout) = stopped.recv_timeout(tick) {
                    let mut alive = false;
                    for engine in weak.iter().filter_map(EngineWeak::upgrade) {
                        engine.increment_epoch();
                        alive = true;
                    }
                    if !alive {
                        break;
                    }
                }
            })?;
        Ok(Self {
            stop: Some(stop),
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            // The thread only sleeps and increments a counter; it cannot panic in a way
            // worth propagating from a destructor.
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_builds_with_defaults_and_large_pools() {
        build_engine(&HostConfig::default()).expect("default engine");
        let big = HostConfig::builder()
            .max_sessions(1_000_000)
            .build()
            .expect("valid");
        build_engine(&big).expect("a million-slot pool only reserves address space");
        build_large_engine(&HostConfig::default()).expect("large engine");
    }

    #[test]
    fn ticker_stops_when_dropped() {
        let engine = build_engine(&HostConfig::default()).expect("engine");
        let ticker = EpochTicker::start(&[&engine], Duration::from_millis(1)).expect("thread");
        std::thread::sleep(Duration::from_millis(20));
        drop(ticker); // joins; would hang if the thread ignored the stop signal
    }
}
