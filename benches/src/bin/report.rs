//! `make bench`: what a session costs, as a table and as `target/bench-report.json`.
//!
//! Creation rate and memory are measured in child processes (this binary re-run with
//! `--child`), one per session count, so each starts from an empty heap and its resident
//! memory is not polluted by the previous run; the baseline is the child's own resident memory
//! after the host is built and the guest loaded. Calls, casts and lookups are measured in this
//! process. `--quick` uses smaller counts and shorter runs (about a minute in all).

use std::collections::BTreeMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sessionhost::{Host, SessionId};
use sessionhost_bench::{GUESTS, Latencies, counter_host, rss_kib, start_many};

/// What a `--child create` run reports.
#[derive(Debug, Serialize, Deserialize)]
struct CreateRun {
    guest: String,
    sessions: usize,
    tasks: usize,
    per_s: f64,
    baseline_kib: u64,
    kib_per_session: f64,
}

/// One line of the table.
struct Row {
    figure: String,
    value: String,
    target: &'static str,
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("--child")
        && args.get(1).map(String::as_str) == Some("bare")
    {
        let guest = args.get(2).context("guest")?;
        let n: usize = args.get(3).context("session count")?.parse()?;
        let path = GUESTS
            .iter()
            .find(|(name, _)| name == guest)
            .map(|(_, path)| *path)
            .context("known guest")?;
        let per_s =
            sessionhost_bench::bare::create_per_s(path, n).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        #[expect(clippy::print_stdout, reason = "the child's report is its output")]
        {
            println!("{per_s}");
        }
        return Ok(());
    }
    if args.first().map(String::as_str) == Some("--child") {
        let guest = args.get(2).context("guest")?.clone();
        let n: usize = args.get(3).context("session count")?.parse()?;
        let tasks: usize = args.get(4).context("task count")?.parse()?;
        let run = runtime.block_on(child_create(guest, n, tasks))?;
        #[expect(clippy::print_stdout, reason = "the child's report is its output")]
        {
            println!("{}", serde_json::to_string(&run)?);
        }
        return Ok(());
    }
    let quick = args.iter().any(|a| a == "--quick");
    runtime.block_on(report(quick))
}

async fn report(quick: bool) -> anyhow::Result<()> {
    let started = Instant::now();
    let mut json = BTreeMap::<String, serde_json::Value>::new();
    let mut rows = Vec::new();
    let sizes: &[usize] = if quick {
        &[2_000, 20_000]
    } else {
        &[10_000, 100_000]
    };

    for (guest, _) in GUESTS {
        eprintln!("measuring session creation and memory ({guest})...");
        // Keys for the SDK counter are unprefixed; the lean counter's carry its name.
        let key = |name: String| match guest {
            "counter" => name,
            other => format!("{}_{name}", other.replace('-', "_")),
        };
        for &n in sizes {
            let label = label(n);
            for tasks in [1, 2] {
                let run = create_in_child(guest, n, tasks)?;
                rows.push(Row {
                    figure: format!("{guest}: creations/s, {tasks} task(s), to {label} live"),
                    value: format!("{:.0}", run.per_s),
                    target: "≥ 150 000",
                });
                json.insert(
                    key(format!("create_per_s_{label}_{tasks}_tasks")),
                    run.per_s.into(),
                );
                if tasks == 2 {
                    rows.push(Row {
                        figure: format!(
                            "{guest}: memory per live session, {label} (baseline {} MiB)",
                            run.baseline_kib / 1024
                        ),
                        value: format!("{:.1} KiB", run.kib_per_session),
                        target: "≤ 16 KiB",
                    });
                    json.insert(
                        key(format!("live_kib_per_session_{label}")),
                        run.kib_per_session.into(),
                    );
                }
            }
        }
        let largest = label(*sizes.last().unwrap_or(&0));
        if let Some(rate) = json
            .get(&key(format!("create_per_s_{largest}_2_tasks")))
            .cloned()
        {
            json.insert(key("create_per_s".into()), rate);
        }
        let n = *sizes.last().unwrap_or(&0);
        let bare = bare_in_child(guest, n)?;
        rows.push(Row {
            figure: format!(
                "{guest}: baseline, bare wasmtime instantiate+init, to {} live",
                label(n)
            ),
            value: format!("{bare:.0}"),
            target: "(the floor)",
        });
        json.insert(key("bare_wasmtime_create_per_s".into()), bare.into());
    }

    let run_for = if quick {
        Duration::from_millis(700)
    } else {
        Duration::from_secs(3)
    };
    let mut hosts = Vec::new();
    for (guest, _) in GUESTS {
        eprintln!("measuring calls ({guest})...");
        let key = |name: &str| match guest {
            "counter" => name.to_string(),
            other => format!("{}_{name}", other.replace('-', "_")),
        };
        let host = counter_host(2_000, guest).await?;
        let ids = start_many(&host, 1_000).await?;
        // "own": each caller drives one session of its own (how the seed library's figure
        // was taken); "spread": the callers share 1 000 sessions round-robin, so every call
        // finds its instance cold in the CPU caches.
        for (scenario, pool) in [("own session", 2), ("1 000 sessions", ids.len())] {
            for callers in [1, 2] {
                let share = &ids[..pool.max(callers)];
                let (per_s, mut latencies) = calls(&host, share, callers, run_for).await?;
                let (p50, p99, p999) = (
                    latencies.quantile_us(0.5),
                    latencies.quantile_us(0.99),
                    latencies.quantile_us(0.999),
                );
                let own = pool == 2;
                rows.push(Row {
                    figure: format!("{guest}: calls/s, {callers} caller(s), {scenario}"),
                    value: format!("{per_s:.0}"),
                    target: if callers == 2 && own {
                        "≥ 1 000 000"
                    } else {
                        ""
                    },
                });
                rows.push(Row {
                    figure: format!(
                        "{guest}: call p50 / p99 / p99.9, {callers} caller(s), {scenario}"
                    ),
                    value: format!("{p50:.1} / {p99:.1} / {p999:.1} µs"),
                    target: if callers == 2 && own {
                        "p99 ≤ 20 µs"
                    } else {
                        ""
                    },
                });
                let suffix = match (callers, own) {
                    (1, true) => "1_caller",
                    (_, true) => "2_callers",
                    (1, false) => "1_caller_spread",
                    (_, false) => "2_callers_spread",
                };
                json.insert(key(&format!("call_per_s_{suffix}")), per_s.into());
                json.insert(key(&format!("call_p50_us_{suffix}")), p50.into());
                json.insert(key(&format!("call_p99_us_{suffix}")), p99.into());
                if suffix == "2_callers" {
                    json.insert(key("call_p99_us"), p99.into());
                }
            }
        }
        hosts.push((host, ids));
    }
    let (host, ids) = hosts.swap_remove(0);
    drop(hosts);
    eprintln!("measuring casts and lookups...");
    let casts = casts_per_s(&host, &ids[0], if quick { 100_000 } else { 500_000 }).await?;
    rows.push(Row {
        figure: "casts/s, 1 sender, handled".into(),
        value: format!("{casts:.0}"),
        target: "",
    });
    json.insert("cast_per_s".into(), casts.into());

    let lookup_ids = start_many(&host, 900).await?;
    let lookups = lookups_per_s(&host, &lookup_ids, run_for);
    rows.push(Row {
        figure: "registry lookups/s, 2 threads".into(),
        value: format!("{lookups:.0}"),
        target: "≥ 20 000 000",
    });
    json.insert("lookup_per_s".into(), lookups.into());

    print_table(&rows, quick, started.elapsed());
    write_json(&json)?;
    Ok(())
}

fn label(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}m", n / 1_000_000)
    } else {
        format!("{}k", n / 1_000)
    }
}

/// Runs `--child create` in a fresh process.
fn create_in_child(guest: &str, n: usize, tasks: usize) -> anyhow::Result<CreateRun> {
    let me = std::env::current_exe()?;
    let output = Command::new(me)
        .args([
            "--child",
            "create",
            guest,
            &n.to_string(),
            &tasks.to_string(),
        ])
        .output()?;
    if !output.status.success() {
        bail!(
            "child run for {n} sessions failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = String::from_utf8(output.stdout)?;
    Ok(serde_json::from_str(line.trim())?)
}

/// Runs `--child bare` in a fresh process.
fn bare_in_child(guest: &str, n: usize) -> anyhow::Result<f64> {
    let me = std::env::current_exe()?;
    let output = Command::new(me)
        .args(["--child", "bare", guest, &n.to_string()])
        .output()?;
    if !output.status.success() {
        bail!(
            "bare run for {n} instances failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?.trim().parse()?)
}

/// In a child: start `n` sessions from `tasks` tasks, call each once, measure.
async fn child_create(guest: String, n: usize, tasks: usize) -> anyhow::Result<CreateRun> {
    let host = counter_host(n + 64, &guest).await?;
    // Warm the allocator and the engine with a few sessions, then measure from here.
    for id in start_many(&host, 16).await? {
        host.terminate(&id).await?;
    }
    let baseline_kib = rss_kib();
    let per_task = n / tasks;
    let clock = Instant::now();
    let mut handles = Vec::new();
    for _ in 0..tasks {
        let host = host.clone();
        handles.push(tokio::spawn(
            async move { start_many(&host, per_task).await },
        ));
    }
    let mut ids = Vec::with_capacity(n);
    for handle in handles {
        ids.extend(handle.await??);
    }
    let per_s = ids.len() as f64 / clock.elapsed().as_secs_f64();
    for id in &ids {
        host.call(id, br#"{"op":"incr"}"#, None).await?;
    }
    let kib = rss_kib().saturating_sub(baseline_kib);
    Ok(CreateRun {
        guest,
        sessions: ids.len(),
        tasks,
        per_s,
        baseline_kib,
        kib_per_session: kib as f64 / ids.len() as f64,
    })
}

/// `callers` tasks call their own share of `ids` round-robin for `run_for`.
async fn calls(
    host: &Host,
    ids: &[SessionId],
    callers: usize,
    run_for: Duration,
) -> anyhow::Result<(f64, Latencies)> {
    let share = ids.len() / callers;
    let mut handles = Vec::new();
    let clock = Instant::now();
    for c in 0..callers {
        let host = host.clone();
        let mine: Vec<SessionId> = ids[c * share..(c + 1) * share].to_vec();
        handles.push(tokio::spawn(async move {
            let mut latencies = Latencies::default();
            let deadline = Instant::now() + run_for;
            let mut i = 0;
            while Instant::now() < deadline {
                let t = Instant::now();
                host.call(&mine[i % mine.len()], br#"{"op":"incr"}"#, None)
                    .await?;
                latencies.record(t.elapsed());
                i += 1;
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut all = Latencies::default();
    for handle in handles {
        all.merge(handle.await??);
    }
    let per_s = all.len() as f64 / clock.elapsed().as_secs_f64();
    Ok((per_s, all))
}

/// Casts `n` messages to one session, then waits (with a call) until all are handled.
async fn casts_per_s(host: &Host, id: &SessionId, n: usize) -> anyhow::Result<f64> {
    let clock = Instant::now();
    let mut sent = 0;
    while sent < n {
        match host.cast(id, br#"{"op":"incr"}"#).await {
            Ok(()) => sent += 1,
            // The mailbox is bounded: let the drainer catch up.
            Err(sessionhost::SessionError::MailboxFull { .. }) => tokio::task::yield_now().await,
            Err(e) => return Err(e.into()),
        }
    }
    host.call(id, br#"{"op":"get"}"#, None).await?;
    Ok(n as f64 / clock.elapsed().as_secs_f64())
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

fn print_table(rows: &[Row], quick: bool, took: Duration) {
    let width = rows
        .iter()
        .map(|r| r.figure.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    out.push_str(&format!(
        "\nsessionhost bench report ({}, counter guest, {} cores, took {:.0} s)\n\n",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        took.as_secs_f64()
    ));
    out.push_str(&format!(
        "{:width$}  {:>22}  {}\n",
        "figure", "measured", "target (BRIEF)"
    ));
    out.push_str(&format!("{}\n", "-".repeat(width + 42)));
    for row in rows {
        out.push_str(&format!(
            "{:width$}  {:>22}  {}\n",
            row.figure, row.value, row.target
        ));
    }
    #[expect(clippy::print_stdout, reason = "the table is the report")]
    {
        println!("{out}");
    }
}

fn write_json(json: &BTreeMap<String, serde_json::Value>) -> anyhow::Result<()> {
    let target = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target");
    std::fs::create_dir_all(&target)?;
    let path = target.join("bench-report.json");
    std::fs::write(&path, serde_json::to_string_pretty(json)? + "\n")?;
    eprintln!("wrote {}", path.display());
    Ok(())
}
