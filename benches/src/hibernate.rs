//! Hibernated sessions: what one costs while it sleeps, and how long waking it takes. Runs in
//! a fresh child process, like the creation runs.
//!
//! The host gets a small pool (1 000 live sessions): `n` sessions are each started, handed one
//! increment and hibernated right away ([`Host::hibernate`]), so at most one is live at a
//! time and the process holds `n` hibernated sessions in the (in-memory) snapshot store. The
//! resident memory added, divided by `n`, is the footprint of a hibernated session — the
//! store's record plus everything else the host keeps for it. Then 1 000 of them, spread over
//! the whole range, are woken by a call each: the call's latency is the wake latency
//! (instantiate + `restore` + the call), checked to return the counter's value.

use std::time::Instant;

use serde::{Deserialize, Serialize};
use sessionhost::{Host, SessionId, StartOptions};

use crate::measure::INCR;
use crate::{Latencies, counter_host, rss_kib};

/// Sessions woken for the latency figures.
pub const WAKE_SAMPLE: usize = 1_000;

/// What a hibernation run reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct HibernateRun {
    /// Sessions hibernated.
    pub sessions: usize,
    /// Start + call + hibernate cycles per second.
    pub per_s: f64,
    /// Resident memory added per hibernated session, in bytes.
    pub bytes_per_session: f64,
    /// Resident memory of the process with them all hibernated, in MiB.
    pub rss_mib: f64,
    /// Wake latency (a call to a hibernated session), p50 and p99, in microseconds.
    pub wake_p50_us: f64,
    /// See `wake_p50_us`.
    pub wake_p99_us: f64,
}

/// `n` hibernated sessions of `guest` (one of [`GUESTS`](crate::GUESTS)), then [`WAKE_SAMPLE`] wakes.
pub async fn hibernated_sessions(guest: &str, n: usize) -> anyhow::Result<HibernateRun> {
    // A pool of 1 000 live sessions: at most one is live at a time here.
    let host = counter_host(1_000, guest).await?;
    // Warm the allocator, the pool and the store, then measure from here.
    for _ in 0..64 {
        cycle(&host).await?;
    }
    let baseline_kib = rss_kib();
    let every = (n / WAKE_SAMPLE).max(1);
    let mut sample: Vec<SessionId> = Vec::with_capacity(WAKE_SAMPLE);
    let clock = Instant::now();
    for i in 0..n {
        let id = cycle(&host).await?;
        if i % every == 0 && sample.len() < WAKE_SAMPLE {
            sample.push(id);
        }
    }
    let per_s = n as f64 / clock.elapsed().as_secs_f64();
    let after_kib = rss_kib();
    let mut wakes = Latencies::default();
    for id in &sample {
        let started = Instant::now();
        let reply = host.call(id, br#"{"op":"get"}"#, None).await?;
        wakes.record(started.elapsed());
        anyhow::ensure!(
            reply == br#"{"value":1}"#,
            "a woken session lost its state: {}",
            String::from_utf8_lossy(&reply)
        );
    }
    let run = HibernateRun {
        sessions: n,
        per_s,
        bytes_per_session: after_kib.saturating_sub(baseline_kib) as f64 * 1024.0 / n.max(1) as f64,
        rss_mib: after_kib as f64 / 1024.0,
        wake_p50_us: wakes.quantile_us(0.5),
        wake_p99_us: wakes.quantile_us(0.99),
    };
    std::mem::forget(host);
    Ok(run)
}

/// Starts a session, increments it once and hibernates it.
async fn cycle(host: &Host) -> anyhow::Result<SessionId> {
    let id = host.start(StartOptions::default()).await?;
    host.call(&id, INCR, None).await?;
    anyhow::ensure!(
        host.hibernate(&id).await?.is_hibernated(),
        "session {id} did not hibernate"
    );
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn hibernated_sessions_are_measured_and_woken() -> anyhow::Result<()> {
        let run = hibernated_sessions("counter-lean", 200).await?;
        assert_eq!(run.sessions, 200);
        assert!(run.per_s > 0.0 && run.wake_p99_us > 0.0);
        Ok(())
    }
}
