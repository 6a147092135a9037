//! Calls, casts and lookups, measured in this process for each guest and the native actors.
//!
//! Each subject gets 1 000 live sessions. "Own session": each caller drives one session of its
//! own (how the seed library's figure was taken); "1 000 sessions": the callers share all of
//! them round-robin, so every call finds its session cold in the CPU caches. The native actor
//! baseline runs through the very same loops ([`sessionhost_bench::measure`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use sessionhost::{Host, SessionId};
use sessionhost_bench::figures::Figures;
use sessionhost_bench::measure::{Actors, Callee, calls, casts_per_s};
use sessionhost_bench::native::spawn_many;
use sessionhost_bench::plan::{NATIVE, SUBJECTS, UNPREFIXED};
use sessionhost_bench::{counter_host, start_many};

use crate::Progress;
use crate::table::{Table, rate};

/// Sessions each subject runs for the call figures.
const SESSIONS: usize = 1_000;

/// The call scenarios: name in the table, key suffix, sessions shared by the callers
/// (`None`: one per caller).
const SCENARIOS: [(&str, &str, Option<usize>); 2] = [
    ("own session", "", None),
    ("1 000 sessions", "_spread", Some(SESSIONS)),
];

/// How long each call scenario and the lookups run, and how many casts are sent.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Budget {
    pub(crate) run_for: Duration,
    pub(crate) casts: usize,
}

/// Measures every subject.
pub(crate) async fn measure(
    figures: &mut Figures,
    budget: Budget,
    progress: &Progress,
) -> anyhow::Result<()> {
    for subject in SUBJECTS {
        progress.say(format!("measuring calls and casts ({subject})..."));
        if subject == NATIVE {
            let actors = Actors(Arc::new(spawn_many(SESSIONS)));
            let ids: Vec<usize> = (0..SESSIONS).collect();
            subject_calls(figures, subject, &actors, &ids, budget, progress).await?;
            continue;
        }
        let host = counter_host(2 * SESSIONS, subject).await?;
        let ids = start_many(&host, SESSIONS).await?;
        subject_calls(figures, subject, &host, &ids, budget, progress).await?;
        if subject == UNPREFIXED {
            progress.say("measuring registry lookups...");
            let lookup_ids = start_many(&host, 900).await?;
            let lookups = lookups_per_s(&host, &lookup_ids, budget.run_for);
            figures.set(subject, "lookup_per_s", lookups);
        }
        host.shutdown().await;
    }
    Ok(())
}

async fn subject_calls<C: Callee>(
    figures: &mut Figures,
    subject: &str,
    callee: &C,
    ids: &[C::Id],
    budget: Budget,
    progress: &Progress,
) -> anyhow::Result<()> {
    for (scenario, spread, pool) in SCENARIOS {
        for callers in [1, 2] {
            let share = &ids[..pool.unwrap_or(callers)];
            let (per_s, mut latencies) = calls(callee, share, callers, budget.run_for).await?;
            let suffix = format!(
                "{callers}_caller{}{spread}",
                if callers == 1 { "" } else { "s" }
            );
            let p50 = latencies.quantile_us(0.5);
            let p99 = latencies.quantile_us(0.99);
            let p999 = latencies.quantile_us(0.999);
            progress.say(format!(
                "{subject}, {}, {scenario}: {} calls/s, p99 {p99:.1} µs",
                callers_label(callers),
                rate(per_s)
            ));
            figures.set(subject, format!("call_per_s_{suffix}"), per_s);
            figures.set(subject, format!("call_p50_us_{suffix}"), p50);
            figures.set(subject, format!("call_p99_us_{suffix}"), p99);
            figures.set(subject, format!("call_p999_us_{suffix}"), p999);
        }
    }
    figures.alias(subject, "call_per_s", "call_per_s_2_callers");
    figures.alias(subject, "call_p99_us", "call_p99_us_2_callers");
    let casts = casts_per_s(callee, &ids[0], budget.casts).await?;
    progress.say(format!("{subject}: {} casts/s", rate(casts)));
    figures.set(subject, "cast_per_s", casts);
    Ok(())
}

/// `1 caller`, `2 callers`.
fn callers_label(callers: usize) -> String {
    if callers == 1 {
        "1 caller".into()
    } else {
        format!("{callers} callers")
    }
}

/// Two threads look sessions up by ID for `run_for`.
fn lookups_per_s(host: &Host, ids: &[SessionId], run_for: Duration) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let threads: Vec<_> = (0..2)
        .map(|t| {
            let (host, ids, stop) = (host.clone(), ids.to_vec(), Arc::clone(&stop));
            std::thread::spawn(move || {
                let mut count = 0u64;
                let mut found = 0u64;
                let mut i = t * 7;
                while !stop.load(Ordering::Relaxed) {
                    for _ in 0..1024 {
                        found += u64::from(host.is_started(&ids[i % ids.len()]));
                        i += 1;
                    }
                    count += 1024;
                }
                assert_eq!(found, count, "every looked-up session exists");
                count
            })
        })
        .collect();
    let clock = Instant::now();
    std::thread::sleep(run_for);
    stop.store(true, Ordering::Relaxed);
    let total: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
    total as f64 / clock.elapsed().as_secs_f64()
}

/// The table rows of the call section, then casts and lookups.
pub(crate) fn rows(table: &mut Table, figures: &Figures) {
    let cells = |name: &str, show: &dyn Fn(f64) -> String| {
        SUBJECTS.map(|subject| figures.get(subject, name).map(show).unwrap_or_default())
    };
    table.section("calls through the public async API (native-actor: mpsc + oneshot, same work)");
    for (scenario, spread, _) in SCENARIOS {
        for callers in [1, 2] {
            let suffix = format!(
                "{callers}_caller{}{spread}",
                if callers == 1 { "" } else { "s" }
            );
            let headline = callers == 2 && spread.is_empty();
            table.row(
                format!("calls/s, {}, {scenario}", callers_label(callers)),
                cells(&format!("call_per_s_{suffix}"), &rate),
                if headline { "≥ 1 000 000" } else { "" },
            );
            let latency = SUBJECTS.map(|subject| {
                let q = |name: &str| figures.get(subject, &format!("{name}_{suffix}"));
                match (q("call_p50_us"), q("call_p99_us"), q("call_p999_us")) {
                    (Some(a), Some(b), Some(c)) => format!("{a:.1} / {b:.1} / {c:.1}"),
                    _ => String::new(),
                }
            });
            table.row(
                format!(
                    "  p50 / p99 / p99.9 µs, {}, {scenario}",
                    callers_label(callers)
                ),
                latency,
                if headline { "p99 ≤ 20 µs" } else { "" },
            );
        }
    }
    table.section("casts and lookups");
    table.row(
        "casts/s, 1 sender, all handled",
        cells("cast_per_s", &rate),
        "",
    );
    table.row(
        "registry lookups/s, 2 threads",
        cells("lookup_per_s", &rate),
        "≥ 20 000 000",
    );
}
