//! Creating many live sessions and measuring what they cost; runs in a fresh child process.
//!
//! Each function builds what it measures, warms it with a few throw-away sessions, takes the
//! process's resident memory as the baseline, creates `n` sessions from `tasks` tasks (timed),
//! then handles one increment on each (so every session has run a message and touched what
//! a live session touches) and takes the resident memory again. The sessions are left alive:
//! the child prints its [`CreateRun`] and exits without tearing a million sessions down.

use std::sync::Arc;
use std::time::Instant;

use serde::{Deserialize, Serialize};
use sessionhost::SessionId;

use crate::measure::{Actors, Callee, INCR};
use crate::native::{Actor, spawn_many};
use crate::{counter_host, rss_kib, start_many};

/// What a creation run in a child reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CreateRun {
    /// Sessions created and alive at the end.
    pub sessions: usize,
    /// Creations per second, over all tasks.
    pub per_s: f64,
    /// Resident memory before creating, in KiB.
    pub baseline_kib: u64,
    /// Resident memory added per live session, in KiB.
    pub kib_per_session: f64,
}

impl CreateRun {
    /// Builds the report of `sessions` created in `seconds`, the process having grown from
    /// `baseline_kib` to `after_kib`.
    pub fn new(sessions: usize, seconds: f64, baseline_kib: u64, after_kib: u64) -> Self {
        CreateRun {
            sessions,
            per_s: sessions as f64 / seconds,
            baseline_kib,
            kib_per_session: after_kib.saturating_sub(baseline_kib) as f64 / sessions.max(1) as f64,
        }
    }
}

/// Splits `n` into `tasks` near-equal shares that add up to `n`.
pub fn shares(n: usize, tasks: usize) -> Vec<usize> {
    let tasks = tasks.max(1);
    (0..tasks)
        .map(|t| n / tasks + usize::from(t < n % tasks))
        .collect()
}

/// `n` sessions of `guest` through `Host::start`, from `tasks` tasks.
pub async fn host_sessions(guest: &str, n: usize, tasks: usize) -> anyhow::Result<CreateRun> {
    let host = counter_host(n + 64, guest).await?;
    // Warm the allocator and the engine with a few sessions, then measure from here.
    for id in start_many(&host, 16).await? {
        host.terminate(&id).await?;
    }
    let baseline_kib = rss_kib();
    let clock = Instant::now();
    let mut handles = Vec::new();
    for share in shares(n, tasks) {
        let host = host.clone();
        handles.push(tokio::spawn(async move { start_many(&host, share).await }));
    }
    let mut ids: Vec<SessionId> = Vec::with_capacity(n);
    for handle in handles {
        ids.extend(handle.await??);
    }
    let seconds = clock.elapsed().as_secs_f64();
    for id in &ids {
        host.call(id, INCR, None).await?;
    }
    let run = CreateRun::new(ids.len(), seconds, baseline_kib, rss_kib());
    // The sessions stay alive until the process exits.
    std::mem::forget(ids);
    std::mem::forget(host);
    Ok(run)
}

/// `n` native actors, spawned from `tasks` tasks.
pub async fn native_actors(n: usize, tasks: usize) -> anyhow::Result<CreateRun> {
    // Warm the runtime's task machinery.
    let warm = Actors(Arc::new(spawn_many(16)));
    for i in 0..16 {
        warm.call(&i, INCR).await?;
    }
    drop(warm);
    let baseline_kib = rss_kib();
    let clock = Instant::now();
    let mut handles = Vec::new();
    for share in shares(n, tasks) {
        handles.push(tokio::spawn(async move { spawn_many(share) }));
    }
    let mut actors: Vec<Actor> = Vec::with_capacity(n);
    for handle in handles {
        actors.extend(handle.await?);
    }
    let seconds = clock.elapsed().as_secs_f64();
    for actor in &actors {
        actor.call(INCR).await?;
    }
    let run = CreateRun::new(actors.len(), seconds, baseline_kib, rss_kib());
    std::mem::forget(actors);
    Ok(run)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        assert_eq!(shares(10, 3), vec![4, 3, 3]);
        assert_eq!(shares(1_000_000, 2), vec![500_000, 500_000]);
        assert_eq!(shares(5, 0), vec![5]);
    }

    #[test]
    fn runs_report_per_session_growth() {
        let run = CreateRun::new(1_000, 0.5, 10_000, 26_000);
        assert_eq!(run.per_s, 2_000.0);
        assert_eq!(run.kib_per_session, 16.0);
        // Memory that shrank is reported as no growth, not as a wrapped-around number.
        assert_eq!(CreateRun::new(10, 1.0, 100, 50).kib_per_session, 0.0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn native_actors_are_created_and_called() -> anyhow::Result<()> {
        let run = native_actors(100, 2).await?;
        assert_eq!(run.sessions, 100);
        assert!(run.per_s > 0.0);
        Ok(())
    }
}
