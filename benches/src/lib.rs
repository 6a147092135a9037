//! Measuring what a session costs: shared pieces of the `report` binary and the criterion
//! benches.
//!
//! Every figure is taken in the process (or child process) that runs it, against a baseline
//! from the same run, so a busy machine cannot flatter one number and not the other.
//! Resident memory comes from the kernel's own accounting (`VmRSS` in `/proc/self/status`).
//!
//! # Layout
//! - `lib.rs` — the guests, a host set up for benchmarking, resident memory, latency samples.
//! - `plan.rs` — session counts, labels, JSON key names, the memory-fit check (pure helpers).
//! - `figures.rs` — every figure of a run by subject, and its JSON keys.
//! - `create.rs` — creating many live sessions in a child process, and what that costs.
//! - `bare.rs` — the bare-wasmtime baseline of creation and memory.
//! - `native.rs` — the native actor baseline (a tokio task per session, same counter work).
//! - `measure.rs` — calls and casts, one loop for the host and the native baseline.
//! - `hibernate.rs` — hibernated sessions: footprint and wake latency (child process).
//! - `http.rs` — calls through the HTTP server on loopback, and the plain axum baseline.
//! - `languages.rs` — the same counter in each guest language: size, start, call, memory.
//! - `soak/` — the load and soak harness (`make soak`, and a short run in `make test`).
//! - `chart.rs` — the SVG chart of memory and creation rate against the session count.
//! - `bin/report/` — `make bench`: runs it all and prints the table.
//! - `bin/soak.rs` — `make soak`: one soak run, its summary, exit status 1 on failure.

use std::time::Duration;

pub mod bare;
pub mod chart;
pub mod create;
pub mod figures;
pub mod hibernate;
pub mod http;
pub mod languages;
pub mod measure;
pub mod native;
pub mod plan;
pub mod soak;

use sessionhost::{GuestSource, LoadOptions};
use sessionhost::{Host, HostConfig, SessionId, StartOptions};

/// The guests the benchmarks run, by name: the SDK counter (serde JSON, Rust std) and the
/// same protocol without std or serde (`counter-lean`), the floor of what a session costs.
pub const GUESTS: [(&str, &str); 2] = [
    ("counter", sessionhost_tests::guests::COUNTER),
    ("counter-lean", sessionhost_tests::guests::COUNTER_LEAN),
];

/// The component file of bench guest `name` (one of [`GUESTS`]).
pub fn guest_path(name: &str) -> anyhow::Result<&'static str> {
    GUESTS
        .iter()
        .find(|(guest, _)| *guest == name)
        .map(|(_, path)| *path)
        .ok_or_else(|| anyhow::anyhow!("unknown bench guest {name}"))
}

/// A host for benchmarking: room for `sessions`, no rate limit, `guest` (one of [`GUESTS`])
/// loaded as the default guest.
pub async fn counter_host(sessions: usize, guest: &str) -> anyhow::Result<Host> {
    let path = guest_path(guest)?;
    let config = HostConfig::builder()
        .max_sessions(sessions.max(16))
        .rate_limit(0)
        .default_guest(guest)
        .build()?;
    let host = Host::new(config)?;
    host.load_guest(guest, GuestSource::file(path), LoadOptions::default())
        .await?;
    Ok(host)
}

/// Starts `n` counter sessions from one task.
pub async fn start_many(host: &Host, n: usize) -> anyhow::Result<Vec<SessionId>> {
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(host.start(StartOptions::default()).await?);
    }
    Ok(ids)
}

/// Resident memory of this process, in KiB.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kib| kib.parse().ok())
        })
        .unwrap_or(0)
}

/// Latency samples, in nanoseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<u32>,
}

impl Latencies {
    /// Records one sample.
    pub fn record(&mut self, d: Duration) {
        self.samples
            .push(u32::try_from(d.as_nanos()).unwrap_or(u32::MAX));
    }

    /// Adds another set of samples.
    pub fn merge(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
    }

    /// The `q` quantile (0.0–1.0) in microseconds.
    pub fn quantile_us(&mut self, q: f64) -> f64 {
        if self.samples.is_empty() {
            return 0.0;
        }
        self.samples.sort_unstable();
        let last = self.samples.len() - 1;
        let index = ((last as f64) * q).round() as usize;
        f64::from(self.samples[index.min(last)]) / 1000.0
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_pick_from_sorted_samples() {
        let mut l = Latencies::default();
        for us in [5, 1, 3, 2, 4] {
            l.record(Duration::from_micros(us));
        }
        assert_eq!(l.quantile_us(0.0), 1.0);
        assert_eq!(l.quantile_us(0.5), 3.0);
        assert_eq!(l.quantile_us(1.0), 5.0);
        assert_eq!(l.len(), 5);
    }

    #[test]
    fn rss_is_read_from_the_kernel() {
        assert!(rss_kib() > 0);
    }
}
