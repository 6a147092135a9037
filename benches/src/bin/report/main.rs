//! `make bench`: what a session costs, side by side with its baselines, as a table, as
//! `target/bench-report.json` and as a chart, `target/bench-chart.svg`.
//!
//! Three subjects are measured: the SDK `counter` guest, the `no_std` `counter-lean` guest and
//! the native actor baseline (a tokio task per session doing the counter's work natively).
//! Creation rate and memory per live session are measured at 1 k to 1 M sessions, each run in
//! a fresh child process (this binary re-run with `--child`, see `creation.rs`), with the
//! bare-wasmtime baseline at the same counts; calls, casts and lookups are measured in this
//! process (`calls.rs`), and so are the same calls with durable checkpoints (`durable.rs`)
//! and HTTP calls through the server on loopback (`web.rs`);
//! hibernated sessions get child processes of their own (`sleep.rs`), and so does each guest
//! language's counter (`langs.rs`). `--quick` uses 1 k / 10 k / 50 k sessions and shorter runs (about a
//! minute in all); the full run takes about ten minutes on two cores. Progress goes to stderr,
//! the table to stdout.

mod calls;
mod creation;
mod durable;
mod langs;
mod sleep;
mod table;
mod web;

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use sessionhost_bench::chart;
use sessionhost_bench::create::{CreateRun, host_sessions, native_actors};
use sessionhost_bench::figures::{Figures, STAND_IN};
use sessionhost_bench::plan::{
    FULL_COUNTS, NATIVE, QUICK_COUNTS, SUBJECTS, UNPREFIXED, label, reference_count,
};

use crate::table::Table;

/// Progress lines on stderr, stamped with the time since the report started.
#[derive(Debug)]
pub(crate) struct Progress {
    started: Instant,
}

impl Progress {
    /// Prints one progress line.
    pub(crate) fn say(&self, line: impl AsRef<str>) {
        eprintln!(
            "[{:>4.0} s] {}",
            self.started.elapsed().as_secs_f64(),
            line.as_ref()
        );
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    if args.first().map(String::as_str) == Some("--child") {
        let line = if args.get(1).map(String::as_str) == Some("language") {
            let guest = args.get(2).context("guest")?;
            let n: usize = args.get(3).context("session count")?.parse()?;
            let cost = runtime.block_on(sessionhost_bench::languages::language_cost(guest, n))?;
            serde_json::to_string(&cost)?
        } else if args.get(1).map(String::as_str) == Some("hibernate") {
            let guest = args.get(2).context("guest")?;
            let n: usize = args.get(3).context("session count")?.parse()?;
            let run =
                runtime.block_on(sessionhost_bench::hibernate::hibernated_sessions(guest, n))?;
            serde_json::to_string(&run)?
        } else {
            serde_json::to_string(&child(&runtime, &args[1..])?)?
        };
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "{line}")?;
        stdout.flush()?;
        // Leave without tearing down a million sessions: the kernel frees them at once.
        std::process::exit(0);
    }
    let quick = args.iter().any(|a| a == "--quick");
    runtime.block_on(report(quick))
}

/// A child run: `create <subject> <n> <tasks>` or `bare <guest> <n>`.
fn child(runtime: &tokio::runtime::Runtime, args: &[String]) -> anyhow::Result<CreateRun> {
    let arg = |i: usize, what: &str| args.get(i).map(String::as_str).context(what.to_string());
    let subject = arg(1, "subject")?;
    let n: usize = arg(2, "session count")?.parse()?;
    match arg(0, "child kind")? {
        "create" => {
            let tasks: usize = arg(3, "task count")?.parse()?;
            if subject == NATIVE {
                runtime.block_on(native_actors(n, tasks))
            } else {
                runtime.block_on(host_sessions(subject, n, tasks))
            }
        }
        "bare" => {
            let path = sessionhost_bench::guest_path(subject)?;
            sessionhost_bench::bare::instances(path, n).map_err(|e| anyhow::anyhow!("{e:?}"))
        }
        other => anyhow::bail!("unknown child kind {other}"),
    }
}

async fn report(quick: bool) -> anyhow::Result<()> {
    let progress = Progress {
        started: Instant::now(),
    };
    let counts: &[usize] = if quick { &QUICK_COUNTS } else { &FULL_COUNTS };
    let budget = calls::Budget {
        run_for: Duration::from_millis(if quick { 700 } else { 4_000 }),
        casts: if quick { 100_000 } else { 1_000_000 },
    };
    let mut figures = Figures::default();

    creation::measure(&mut figures, counts, &progress)?;
    calls::measure(&mut figures, budget, &progress).await?;
    durable::measure(&mut figures, budget.run_for, &progress).await?;
    web::measure(&mut figures, budget.run_for, &progress).await?;
    sleep::measure(&mut figures, quick, &progress)?;
    let (languages, language_failures) = langs::measure(quick, &progress);

    // Headline keys: creation and its floor at the reference count (100 k in a full run).
    let reference = label(reference_count(counts));
    for subject in SUBJECTS {
        figures.alias(
            subject,
            "create_per_s",
            &format!("create_per_s_{reference}"),
        );
        figures.alias(
            subject,
            "bare_wasmtime_create_per_s",
            &format!("bare_wasmtime_create_per_s_{reference}"),
        );
    }

    let target = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target");
    std::fs::create_dir_all(&target)?;
    let target = target.canonicalize()?;
    let chart_path = target.join("bench-chart.svg");
    chart::draw(&chart_path, &creation::panels(&figures, counts)).context("drawing the chart")?;

    let mut table = Table::default();
    creation::rows(&mut table, &figures, counts);
    calls::rows(&mut table, &figures);
    durable::rows(&mut table, &figures);
    web::rows(&mut table, &figures);
    sleep::rows(&mut table, &figures, quick);
    table.notes.extend(langs::lines(&languages, quick));
    table.notes.extend(language_failures);
    table.notes.push(String::new());
    for (subject, n, why) in figures.skips() {
        table
            .notes
            .push(format!("{subject} at {} sessions: {why}", label(n)));
    }
    for n in figures.stand_in_counts() {
        table.notes.push(format!(
            "JSON keys at {0} without a prefix (e.g. create_per_s_{0}) hold {STAND_IN}'s figures, \
             as {UNPREFIXED} was skipped there",
            label(n)
        ));
    }
    table.notes.push(format!(
        "bare wasmtime: the same component instantiated + init on the host's engine, 1 thread; \
         {NATIVE}: a tokio task + mpsc({}) per session, serde_json, no sandbox",
        sessionhost_bench::native::MAILBOX
    ));
    table.notes.push(format!(
        "chart: {} (left: memory per live session, right: creations/s)",
        chart_path.display()
    ));
    let text = table.render(quick, progress.started.elapsed());
    #[expect(clippy::print_stdout, reason = "the table is the report")]
    {
        println!("{text}");
    }

    let path = target.join("bench-report.json");
    let mut json = figures.to_json();
    json.insert("languages".into(), serde_json::to_value(&languages)?);
    std::fs::write(&path, serde_json::to_string_pretty(&json)? + "\n")?;
    progress.say(format!("wrote {}", path.display()));
    Ok(())
}
