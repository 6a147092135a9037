//! The load and soak harness behind `make soak` and the short soak test of `make test`.
//!
//! One run ([`run`]) starts a real `sessionhost` server in this process on a loopback port
//! (`server.rs`), with the `counter` and `hostile` guests, a short `hibernate_after` and
//! small mailboxes. Concurrent clients (`client.rs`) each own a share of the sessions and,
//! for the configured duration, mix calls, casts, cast bursts past the mailbox, touches,
//! SSE and WebSocket subscriptions, terminations followed by new sessions, wake-ups from
//! hibernation (idle sessions hibernate by themselves), shared sessions hit by every client,
//! and hostile sessions that loop, trap and bomb their memory. Then every client reads the
//! final state of the sessions it still owns, the server is shut down, and the [`Summary`]
//! says PASS or FAIL.
//!
//! What is checked (see `ledger.rs`): every request got a reply or a typed error (none lost);
//! every reply and final value of a counter equals its start plus its accepted increments
//! (so every accepted cast was handled, none twice); no value ever went back; the hostile
//! guest received exactly the casts accepted for it; counter sessions met no error but load
//! signals; published events arrived in order; the run stopped by itself.
//!
//! The run is bounded: a fixed number of sessions, a fixed duration, and a drain limit
//! after which unfinished clients are abandoned and the run fails.
//!
//! # Layout
//! - `config.rs` — the plan ([`SoakConfig`]) and its command-line flags.
//! - `server.rs` — the host and server under test, the RSS sampler.
//! - `api.rs` — one request, one outcome (reply, typed error, lost).
//! - `ledger.rs` — expected state per session, the tally of outcomes and checks.
//! - `client.rs` — a client task and its operation loop.
//! - `counter.rs`, `stream.rs`, `hostile.rs` — the operations.
//! - `summary.rs` — the verdict and its printout.

mod api;
mod client;
pub mod config;
mod counter;
mod hostile;
mod ledger;
mod server;
mod stream;
mod summary;

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::json;
use tokio::sync::Barrier;

pub use config::SoakConfig;
pub use ledger::{Count, Tally};
pub use summary::Summary;

use crate::rss_kib;
use api::Api;
use client::Client;
use ledger::SharedCounter;
use server::SoakServer;

/// How often progress is reported while traffic runs.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// How long the server may take to shut down.
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(60);

/// Runs the soak described by `config`; `progress` receives a line now and then.
pub async fn run(config: &SoakConfig, progress: impl Fn(String)) -> anyhow::Result<Summary> {
    config.check()?;
    let rss_start_kib = rss_kib();
    let server = SoakServer::start(config).await?;
    let api = Api::new(server.base_url())?;

    let mut shared = Vec::new();
    for _ in 0..config.shared {
        let outcome = api
            .post(
                "/v1/sessions",
                None,
                json!({"guest": "counter"}).to_string(),
            )
            .await;
        let created = outcome.json().map_err(anyhow::Error::msg)?;
        let token = created["token"].as_str().unwrap_or_default().to_owned();
        shared.push(SharedCounter::new(token));
    }
    let shared = Arc::new(shared);

    let hostile = config.hostile_sessions();
    let counters = config.sessions - hostile;
    let ready = Arc::new(Barrier::new(config.clients + 1));
    let mut tasks = Vec::with_capacity(config.clients);
    for c in 0..config.clients {
        let share = |total: usize| total / config.clients + usize::from(c < total % config.clients);
        let client = Client::new(
            Api::new(server.base_url())?,
            config.seed.wrapping_mul(1_000_003).wrapping_add(c as u64),
            (share(counters), share(hostile)),
            Arc::clone(&shared),
            config.hibernate_after,
            config.mailbox,
        );
        tasks.push(tokio::spawn(
            client.run(Arc::clone(&ready), config.duration),
        ));
    }
    ready.wait().await;
    let clock = Instant::now();
    let rss_ready_kib = rss_kib();
    let stats = server.host().stats();
    progress(format!(
        "{} sessions started ({} hibernated already), {:.1} MiB RSS; traffic for {:?}",
        stats.sessions + stats.hibernated,
        stats.hibernated,
        rss_ready_kib as f64 / 1024.0,
        config.duration
    ));

    let limit = tokio::time::Instant::now() + config.duration + config.drain_limit;
    let mut tally = Tally::default();
    let mut stuck = false;
    let mut next_report = clock + PROGRESS_EVERY;
    for mut task in tasks {
        loop {
            let tick = tokio::time::Instant::from_std(next_report).min(limit);
            match tokio::time::timeout_at(tick, &mut task).await {
                Ok(Ok(client)) => {
                    tally.merge(client);
                    break;
                }
                Ok(Err(e)) => {
                    tally.unexpected += 1;
                    tally.problem(format!("a client task failed: {e}"));
                    break;
                }
                Err(_) if tick >= limit => {
                    stuck = true;
                    task.abort();
                    break;
                }
                Err(_) => {
                    let stats = server.host().stats();
                    let woken = server.host().metrics().counters.woken_total;
                    progress(format!(
                        "{:>4.0} s: {} live, {} hibernated, {} woken so far, {:.1} MiB RSS",
                        clock.elapsed().as_secs_f64(),
                        stats.sessions,
                        stats.hibernated,
                        woken,
                        rss_kib() as f64 / 1024.0
                    ));
                    next_report += PROGRESS_EVERY;
                }
            }
        }
    }
    let elapsed = clock.elapsed();
    for counter in shared.iter() {
        check_shared(&api, counter, &mut tally).await;
    }
    let rss_end_kib = rss_kib();
    let rss_peak_kib = server.peak_rss_kib();
    let stats = server.host().stats();
    let counters = server.host().metrics().counters;
    let shutdown_ok = tokio::time::timeout(SHUTDOWN_LIMIT, server.stop())
        .await
        .is_ok();
    Ok(Summary {
        config: config.clone(),
        elapsed,
        tally,
        rss_start_kib,
        rss_ready_kib,
        rss_peak_kib,
        rss_end_kib,
        rss_stopped_kib: rss_kib(),
        stats: Some(stats),
        counters: Some(counters),
        stuck,
        shutdown_ok,
    })
}

/// The final check of a shared counter, once every client is done: exactly the sum of the
/// increments every client had accepted.
async fn check_shared(api: &Api, counter: &SharedCounter, tally: &mut Tally) {
    let outcome = api
        .post(
            "/v1/session/call",
            Some(&counter.token),
            json!({"op": "get"}).to_string(),
        )
        .await;
    tally.calls.record(&outcome);
    match outcome.json().map(|reply| reply["value"].as_i64()) {
        Ok(Some(value)) if value == counter.floor() => tally.final_checked += 1,
        Ok(value) => {
            tally.mismatches += 1;
            tally.problem(format!(
                "shared counter: final value {value:?}, accepted increments {}",
                counter.floor()
            ));
        }
        Err(_) => tally.counter_error(&outcome, &[], "shared final get"),
    }
}
