//! What a session costs in each guest language: the same counter protocol written with the
//! Rust, Python, JavaScript, C and Zig SDKs, measured the same way in a fresh child process.
//!
//! For each language: the component's size; the time to load (compile) it; the time of one
//! `Host::start` (instantiate + `init`), p50 over `n` starts; the resident memory each of those
//! `n` live sessions adds once it has handled a call; and the latency of a call
//! (`{"op":"incr"}`), p50/p99 over sequential calls to one session. The Rust row is the SDK
//! `counter`. The other languages' components are built by `make guests` to
//! `target/guests/lang/`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sessionhost::{GuestSource, LoadOptions};
use sessionhost::{Host, HostConfig, StartOptions};

use crate::{Latencies, rss_kib};

/// The languages, by JSON key, with the guest name of their counter.
pub const LANGUAGES: [(&str, &str); 5] = [
    ("rust", "counter"),
    ("python", "counter-python"),
    ("javascript", "counter-js"),
    ("c", "counter-c"),
    ("zig", "counter-zig"),
];

/// Sequential calls timed per language.
const CALLS: usize = 2_000;

/// What one language's counter costs.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LanguageCost {
    /// Size of the component, in bytes.
    pub component_bytes: u64,
    /// The memory layout the host chose for it (`dense` or `large`).
    pub layout: String,
    /// Time to load (validate and compile) the component, in milliseconds.
    pub load_ms: f64,
    /// One session start (instantiate + `init`), p50, in microseconds.
    pub instantiate_init_us: f64,
    /// A call, p50, in microseconds.
    pub call_p50_us: f64,
    /// A call, p99, in microseconds.
    pub call_p99_us: f64,
    /// Resident memory added per live session, in KiB.
    pub kib_per_session: f64,
    /// Sessions the memory figure was taken over.
    pub sessions: usize,
}

/// The component of a language's counter.
pub fn component(guest: &str) -> anyhow::Result<PathBuf> {
    if guest == "counter" {
        return Ok(PathBuf::from(sessionhost_tests::guests::COUNTER));
    }
    let path = sessionhost_tests::protocol::lang_dir().join(format!("{guest}.wasm"));
    anyhow::ensure!(
        path.exists(),
        "{} is missing: run `make guests` (make bench does)",
        path.display()
    );
    Ok(path)
}

/// Measures `guest` over `n` live sessions (see the module docs).
pub async fn language_cost(guest: &str, n: usize) -> anyhow::Result<LanguageCost> {
    let path = component(guest)?;
    let component_bytes = std::fs::metadata(&path)?.len();
    let config = HostConfig::builder()
        .max_sessions(n + 16)
        .rate_limit(0)
        .default_guest(guest)
        .build()?;
    let host = Host::new(config)?;
    let loading = Instant::now();
    host.load_guest(guest, GuestSource::file(&path), LoadOptions::default())
        .await
        .with_context(|| format!("loading {guest}"))?;
    let load_ms = loading.elapsed().as_secs_f64() * 1000.0;
    let layout = host
        .guests()
        .first()
        .map(|g| g.layout.to_string())
        .unwrap_or_default();

    // Warm the engine and allocator, then measure from here.
    for _ in 0..4 {
        let id = host.start(StartOptions::default()).await?;
        call_once(&host, &id).await?;
        host.terminate(&id).await?;
    }
    let baseline = rss_kib();
    let mut starts = Latencies::default();
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        let began = Instant::now();
        ids.push(host.start(StartOptions::default()).await?);
        starts.record(began.elapsed());
    }
    for id in &ids {
        call_once(&host, id).await?;
    }
    let kib_per_session = rss_kib().saturating_sub(baseline) as f64 / n.max(1) as f64;

    let mut calls = Latencies::default();
    let one = &ids[0];
    for _ in 0..CALLS {
        let began = Instant::now();
        call_once(&host, one).await?;
        calls.record(began.elapsed());
    }
    Ok(LanguageCost {
        component_bytes,
        layout,
        load_ms,
        instantiate_init_us: starts.quantile_us(0.5),
        call_p50_us: calls.quantile_us(0.5),
        call_p99_us: calls.quantile_us(0.99),
        kib_per_session,
        sessions: n,
    })
}

async fn call_once(host: &Host, id: &str) -> anyhow::Result<()> {
    let reply = host.call(id, br#"{"op":"incr"}"#, None).await?;
    anyhow::ensure!(
        reply.starts_with(br#"{"value":"#),
        "unexpected reply {reply:?}"
    );
    Ok(())
}
