//! HTTP calls through the `sessionhost` server on loopback, next to a plain axum handler doing
//! the same counter update natively ([`sessionhost_bench::http`]).
//!
//! Each guest subject is served by the real router and server (`sessionhost::http::serve`);
//! the `native-actor` column holds the plain axum handler. The JSON keys the HTTP issue names
//! are `http_call_per_s` and `http_p99_ms` (the `counter` guest) and `http_native_per_s`
//! (the axum handler); `http_vs_native_pct` is the first as a share of the second. Each
//! figure is the median of [`ROUNDS`] interleaved rounds.

use std::time::Duration;

use sessionhost_bench::counter_host;
use sessionhost_bench::figures::Figures;
use sessionhost_bench::http::{LoadRun, load, serve_host, serve_native};
use sessionhost_bench::plan::{NATIVE, SUBJECTS, UNPREFIXED};

use crate::Progress;
use crate::table::{Table, rate};

/// Concurrent visitors (one session and one keep-alive connection each).
pub(crate) const CLIENTS: usize = 16;

/// Rounds per subject: the subjects take turns, round after round, and each figure is the
/// median round, so a burst of noise on the machine lands on one round of one subject.
const ROUNDS: usize = 3;

/// Measures every subject for `run_for` per round.
pub(crate) async fn measure(
    figures: &mut Figures,
    run_for: Duration,
    progress: &Progress,
) -> anyhow::Result<()> {
    let mut runs: Vec<Vec<LoadRun>> = SUBJECTS.iter().map(|_| Vec::new()).collect();
    for round in 1..=ROUNDS {
        for (subject, runs) in SUBJECTS.iter().zip(&mut runs) {
            let server = if *subject == NATIVE {
                serve_native().await?
            } else {
                serve_host(counter_host(4 * CLIENTS, subject).await?).await?
            };
            let mut run = load(server.addr, CLIENTS, run_for).await?;
            server.stop().await;
            progress.say(format!(
                "{subject}, HTTP round {round}/{ROUNDS}: {} calls/s, p99 {:.2} ms",
                rate(run.per_s),
                run.latencies.quantile_us(0.99) / 1000.0
            ));
            runs.push(run);
        }
    }
    for (subject, mut runs) in SUBJECTS.iter().zip(runs) {
        runs.sort_by(|a, b| a.per_s.total_cmp(&b.per_s));
        let median = &mut runs[ROUNDS / 2];
        figures.set(subject, "http_call_per_s", median.per_s);
        figures.set(
            subject,
            "http_p50_ms",
            median.latencies.quantile_us(0.5) / 1000.0,
        );
        figures.set(
            subject,
            "http_p99_ms",
            median.latencies.quantile_us(0.99) / 1000.0,
        );
    }
    if let Some(native) = figures.get(NATIVE, "http_call_per_s") {
        figures.set(UNPREFIXED, "http_native_per_s", native);
        for subject in SUBJECTS.iter().filter(|s| **s != NATIVE) {
            if let Some(ours) = figures.get(subject, "http_call_per_s") {
                figures.set(subject, "http_vs_native_pct", 100.0 * ours / native);
            }
        }
    }
    Ok(())
}

/// The table rows of the HTTP section.
pub(crate) fn rows(table: &mut Table, figures: &Figures) {
    let cells = |name: &str, show: &dyn Fn(f64) -> String| {
        SUBJECTS.map(|subject| figures.get(subject, name).map(show).unwrap_or_default())
    };
    table.section(&format!(
        "HTTP on loopback, {CLIENTS} keep-alive clients (native-actor: plain axum handler, same work)"
    ));
    table.row("calls/s", cells("http_call_per_s", &rate), "");
    table.row(
        "  share of the native handler",
        cells("http_vs_native_pct", &|pct| format!("{pct:.0} %")),
        "≥ 70 %",
    );
    let latency = SUBJECTS.map(|subject| {
        match (
            figures.get(subject, "http_p50_ms"),
            figures.get(subject, "http_p99_ms"),
        ) {
            (Some(a), Some(b)) => format!("{a:.2} / {b:.2}"),
            _ => String::new(),
        }
    });
    table.row("  p50 / p99 ms", latency, "");
}
