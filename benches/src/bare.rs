//! The floor our host adds to: the same guest instantiated and initialised on bare wasmtime.
//!
//! Same engine (built by the host's own engine setup, so the same pooling allocator and
//! memory layout), the same component, the same instantiate-then-`init` sequence, instances
//! kept alive like live sessions — but no session object, no registry, no ID, no limits
//! armed per message. WASI is linked with wasmtime-wasi's sync flavour (this runs on a plain
//! thread), and the `sessionhost:session/host` imports are no-op stubs (`publish` accepts and
//! drops the event). Runs on one thread.

use std::time::Instant;

use sessionhost::HostConfig;
use wasmtime::component::{Component, ComponentExportIndex, Instance, Linker, ResourceTable, Val};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use crate::create::CreateRun;
use crate::measure::INCR;
use crate::rss_kib;

/// Store data: WASI built on first use, as the host does.
#[derive(Default)]
struct BareCtx {
    wasi: Option<Box<(WasiCtx, ResourceTable)>>,
}

impl WasiView for BareCtx {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let (ctx, table) = &mut **self
            .wasi
            .get_or_insert_with(|| Box::new((WasiCtx::builder().build(), ResourceTable::new())));
        WasiCtxView { ctx, table }
    }
}

/// Instantiates `n` instances of the component at `path` and runs `init` (empty args) on
/// each (timed), then one `handle-call` increment on each, keeping them all alive like live
/// sessions; reports instances per second and resident memory per live instance.
pub fn instances(path: &str, n: usize) -> wasmtime::Result<CreateRun> {
    let config = HostConfig::builder()
        .max_sessions(n + 16)
        .build()
        .map_err(wasmtime::Error::new)?;
    let engine = sessionhost::bench_support::build_engine(&config)
        .map_err(|e| wasmtime::format_err!("{e}"))?;
    let component = Component::from_file(&engine, path)?;
    let mut linker = Linker::<BareCtx>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    stub_host_imports(&mut linker)?;
    let pre = linker.instantiate_pre(&component)?;
    let (_, session) = component
        .get_export(None, "sessionhost:session/session@0.1.0")
        .ok_or_else(|| wasmtime::format_err!("no session interface"))?;
    let export = |name: &str| {
        component
            .get_export(Some(&session), name)
            .map(|(_, index)| index)
            .ok_or_else(|| wasmtime::format_err!("no {name} export"))
    };
    let (init, handle_call) = (export("init")?, export("handle-call")?);

    // Warm the allocator and the engine, as the host's run does, then measure from here.
    for _ in 0..16 {
        drop(instantiate_and_init(&engine, &pre, &init)?);
    }
    let baseline_kib = rss_kib();
    let mut live = Vec::with_capacity(n);
    let clock = Instant::now();
    for _ in 0..n {
        live.push(instantiate_and_init(&engine, &pre, &init)?);
    }
    let seconds = clock.elapsed().as_secs_f64();
    for (store, instance) in &mut live {
        let call = instance
            .get_typed_func::<(&[u8],), (Result<Vec<u8>, String>,)>(&mut *store, &handle_call)?;
        let (reply,) = call.call(&mut *store, (INCR,))?;
        reply.map_err(wasmtime::Error::msg)?;
    }
    let run = CreateRun::new(live.len(), seconds, baseline_kib, rss_kib());
    // The instances stay alive until the process exits.
    std::mem::forget(live);
    Ok(run)
}

fn instantiate_and_init(
    engine: &Engine,
    pre: &wasmtime::component::InstancePre<BareCtx>,
    init: &ComponentExportIndex,
) -> wasmtime::Result<(Store<BareCtx>, Instance)> {
    let mut store = Store::new(engine, BareCtx::default());
    store.set_fuel(u64::MAX)?;
    store.set_epoch_deadline(u64::MAX / 2);
    let instance = pre.instantiate(&mut store)?;
    let init = instance.get_typed_func::<(&[u8],), (Result<(), String>,)>(&mut store, init)?;
    let (result,) = init.call(&mut store, (&[],))?;
    result.map_err(wasmtime::Error::msg)?;
    Ok((store, instance))
}

/// No-op `sessionhost:session/host` functions; fallible ones succeed.
fn stub_host_imports(linker: &mut Linker<BareCtx>) -> wasmtime::Result<()> {
    let mut host = linker.instance("sessionhost:session/host@0.1.0")?;
    for name in ["log", "stop"] {
        host.func_new(name, |_, _, _, _| Ok(()))?;
    }
    host.func_new("session-id", |_, _, _, results| {
        results[0] = Val::String("bench".into());
        Ok(())
    })?;
    host.func_new("now-ms", |_, _, _, results| {
        results[0] = Val::U64(0);
        Ok(())
    })?;
    host.func_new("publish", |_, _, _, results| {
        results[0] = Val::Result(Ok(None));
        Ok(())
    })?;
    host.func_new("send-after", |_, _, _, results| {
        results[0] = Val::Result(Err(Some(Box::new(Val::String("no timers".into())))));
        Ok(())
    })?;
    host.func_new("cancel-timer", |_, _, _, results| {
        results[0] = Val::Bool(false);
        Ok(())
    })?;
    Ok(())
}
