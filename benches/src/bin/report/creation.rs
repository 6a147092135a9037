//! Creation rate and memory per live session, at every session count, in child processes.
//!
//! Every run is this binary started again with `--child`, so each starts from an empty heap
//! and a fresh pool, and its resident memory is not polluted by the previous run; the child
//! exits without tearing its sessions down. Before a run the parent checks `MemAvailable`
//! against what the run will touch (see [`Estimate`]), and skips a count that would not fit
//! with a 2 GiB margin.

use std::process::Command;

use anyhow::{Context, bail};
use sessionhost_bench::chart::{Panel, Series, Style};
use sessionhost_bench::create::CreateRun;
use sessionhost_bench::figures::Figures;
use sessionhost_bench::plan::{
    NATIVE, SUBJECTS, check_fit, label, median, mem_available_kib, repetitions,
};

use crate::Progress;
use crate::table::{Table, rate};

/// What a run of one subject is expected to need: before anything is measured, generous
/// guesses; then 5 % above the per-session memory measured at the largest count so far (it is
/// flat from 1 k sessions on) and 25 % above the largest baseline.
#[derive(Debug, Clone, Copy)]
struct Estimate {
    /// Resident memory per live session, KiB.
    kib_per_session: f64,
    /// What the child holds besides its sessions (runtime, engine, compiled guest), KiB.
    fixed_kib: u64,
    /// Whether the figures are still guesses.
    guessed: bool,
}

impl Estimate {
    fn guess(subject: &str) -> Self {
        let kib_per_session = match subject {
            "counter" => 48.0,
            NATIVE => 4.0,
            _ => 18.0,
        };
        Estimate {
            kib_per_session,
            fixed_kib: 512 * 1024,
            guessed: true,
        }
    }

    /// Takes in runs measured at one count, larger than any before.
    fn update(&mut self, runs: &[CreateRun]) {
        let kib = runs.iter().map(|r| r.kib_per_session).fold(0.0, f64::max) * 1.05;
        let fixed = runs.iter().map(|r| r.baseline_kib).max().unwrap_or(0) * 5 / 4;
        if self.guessed {
            *self = Estimate {
                kib_per_session: kib,
                fixed_kib: fixed,
                guessed: false,
            };
        } else {
            self.kib_per_session = self.kib_per_session.max(kib);
            self.fixed_kib = self.fixed_kib.max(fixed);
        }
    }
}

/// Measures every subject at every count in `counts`.
pub(crate) fn measure(
    figures: &mut Figures,
    counts: &[usize],
    progress: &Progress,
) -> anyhow::Result<()> {
    for subject in SUBJECTS {
        let mut estimate = Estimate::guess(subject);
        for &n in counts {
            let count = label(n);
            let available = mem_available_kib().unwrap_or(u64::MAX);
            if let Err(skip) = check_fit(n, estimate.kib_per_session, estimate.fixed_kib, available)
            {
                progress.say(format!("{subject}, {count} sessions: {skip}"));
                figures.skip(subject, n, skip);
                continue;
            }
            for tasks in [1, 2] {
                let runs = (0..repetitions(n))
                    .map(|_| child(&["create", subject, &n.to_string(), &tasks.to_string()]))
                    .collect::<anyhow::Result<Vec<_>>>()?;
                let (per_s, kib) = medians(&runs);
                progress.say(format!(
                    "{subject}, {count} sessions, {}: {} /s, {kib:.1} KiB/session",
                    tasks_label(tasks),
                    rate(per_s)
                ));
                figures.set(
                    subject,
                    format!("create_per_s_{count}_{tasks}_tasks"),
                    per_s,
                );
                if tasks == 2 {
                    figures.set(subject, format!("create_per_s_{count}"), per_s);
                    figures.set(subject, format!("live_kib_per_session_{count}"), kib);
                }
                if n >= 10_000 {
                    // Below that, the fixed costs spread over few sessions inflate the figure.
                    estimate.update(&runs);
                }
            }
            if subject == NATIVE {
                continue;
            }
            let runs = (0..repetitions(n))
                .map(|_| child(&["bare", subject, &n.to_string()]))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if n >= 10_000 {
                estimate.update(&runs);
            }
            let (per_s, kib) = medians(&runs);
            progress.say(format!(
                "{subject}, {count} bare wasmtime instances: {} /s, {kib:.1} KiB/instance",
                rate(per_s)
            ));
            figures.set(
                subject,
                format!("bare_wasmtime_create_per_s_{count}"),
                per_s,
            );
            figures.set(
                subject,
                format!("bare_wasmtime_kib_per_instance_{count}"),
                kib,
            );
        }
    }
    Ok(())
}

/// `1 task`, `2 tasks`.
fn tasks_label(tasks: usize) -> String {
    if tasks == 1 {
        "1 task".into()
    } else {
        format!("{tasks} tasks")
    }
}

/// The medians of the creation rates and of the memory per session of `runs`.
fn medians(runs: &[CreateRun]) -> (f64, f64) {
    let per_s: Vec<f64> = runs.iter().map(|r| r.per_s).collect();
    let kib: Vec<f64> = runs.iter().map(|r| r.kib_per_session).collect();
    (median(&per_s), median(&kib))
}

/// Runs this binary with `--child <args>` and reads its [`CreateRun`].
fn child(args: &[&str]) -> anyhow::Result<CreateRun> {
    child_json(args)
}

/// Runs this binary with `--child <args>` and reads the JSON line it prints.
pub(crate) fn child_json<T: serde::de::DeserializeOwned>(args: &[&str]) -> anyhow::Result<T> {
    let me = std::env::current_exe()?;
    let output = Command::new(me)
        .arg("--child")
        .args(args)
        .output()
        .context("starting a child run")?;
    if !output.status.success() {
        bail!(
            "child run `{}` failed ({}): {}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let line = String::from_utf8(output.stdout)?;
    serde_json::from_str(line.trim()).with_context(|| format!("child output {line:?}"))
}

/// The table rows of the creation section: rates from 1 and 2 tasks with the bare-wasmtime
/// floor under them, then memory per live session with its floor; one row per count.
pub(crate) fn rows(table: &mut Table, figures: &Figures, counts: &[usize]) {
    let cells = |name: &dyn Fn(&str) -> String, n: usize, kib: bool, guests_only: bool| {
        SUBJECTS.map(|subject| {
            if guests_only && subject == NATIVE {
                return String::new();
            }
            if figures.skipped(subject, n).is_some() {
                return "skipped".to_string();
            }
            match figures.get(subject, &name(&label(n))) {
                Some(v) if kib => format!("{v:.1} KiB"),
                Some(v) => rate(v),
                None => String::new(),
            }
        })
    };
    table.section("session creation (fresh child process per run, sessions kept alive)");
    for tasks in [1, 2] {
        for &n in counts {
            table.row(
                format!("creations/s, {}, to {} live", tasks_label(tasks), label(n)),
                cells(
                    &|c| format!("create_per_s_{c}_{tasks}_tasks"),
                    n,
                    false,
                    false,
                ),
                "≥ 150 000, flat",
            );
        }
    }
    for &n in counts {
        table.row(
            format!("  baseline: bare wasmtime, 1 thread, to {} live", label(n)),
            cells(
                &|c| format!("bare_wasmtime_create_per_s_{c}"),
                n,
                false,
                true,
            ),
            "(the floor)",
        );
    }
    table.section("memory per live session (resident memory added / sessions)");
    for &n in counts {
        table.row(
            format!("memory per live session, {} live", label(n)),
            cells(&|c| format!("live_kib_per_session_{c}"), n, true, false),
            if n == 100_000 { "≤ 16 KiB" } else { "" },
        );
    }
    for &n in counts {
        table.row(
            format!("  baseline: bare wasmtime instance, {} live", label(n)),
            cells(
                &|c| format!("bare_wasmtime_kib_per_instance_{c}"),
                n,
                true,
                true,
            ),
            "(the floor)",
        );
    }
}

/// The chart's two panels: memory per live session, and creation rate.
pub(crate) fn panels(figures: &Figures, counts: &[usize]) -> Vec<Panel> {
    let points = |subject: &str, name: &dyn Fn(&str) -> String| -> Vec<(f64, f64)> {
        counts
            .iter()
            .filter_map(|&n| {
                figures
                    .get(subject, &name(&label(n)))
                    .map(|v| (n as f64, v))
            })
            .collect()
    };
    let mut memory = Vec::new();
    let mut creation = Vec::new();
    for (colour, subject) in SUBJECTS.iter().enumerate() {
        memory.push(Series {
            name: subject.to_string(),
            colour,
            style: Style::Main,
            points: points(subject, &|c| format!("live_kib_per_session_{c}")),
        });
        if *subject == NATIVE {
            // Its creation rate is tens of times the guests': it would flatten their lines.
            continue;
        }
        memory.push(Series {
            name: format!("{subject}, bare wasmtime"),
            colour,
            style: Style::Baseline,
            points: points(subject, &|c| format!("bare_wasmtime_kib_per_instance_{c}")),
        });
        creation.push(Series {
            name: format!("{subject}, 2 tasks"),
            colour,
            style: Style::Main,
            points: points(subject, &|c| format!("create_per_s_{c}_2_tasks")),
        });
        creation.push(Series {
            name: format!("{subject}, 1 task"),
            colour,
            style: Style::Thin,
            points: points(subject, &|c| format!("create_per_s_{c}_1_tasks")),
        });
        creation.push(Series {
            name: format!("{subject}, bare wasmtime, 1 thread"),
            colour,
            style: Style::Baseline,
            points: points(subject, &|c| format!("bare_wasmtime_create_per_s_{c}")),
        });
    }
    vec![
        Panel {
            title: "memory per live session".into(),
            y_desc: "KiB".into(),
            series: memory,
        },
        Panel {
            title: "session creations per second".into(),
            y_desc: "sessions/s".into(),
            series: creation,
        },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(kib_per_session: f64, baseline_kib: u64) -> CreateRun {
        CreateRun {
            sessions: 10_000,
            per_s: 1.0,
            baseline_kib,
            kib_per_session,
        }
    }

    #[test]
    fn estimates_follow_measurements() {
        let mut e = Estimate::guess("counter-lean");
        assert_eq!(e.kib_per_session, 18.0);
        // The first measurement replaces the guesses, even when it is smaller.
        e.update(&[run(15.0, 40_000), run(16.0, 80_000)]);
        assert!((e.kib_per_session - 16.8).abs() < 1e-9);
        assert_eq!(e.fixed_kib, 100_000);
        // Later ones only raise them.
        e.update(&[run(10.0, 1_000)]);
        assert!((e.kib_per_session - 16.8).abs() < 1e-9);
        assert_eq!(e.fixed_kib, 100_000);
    }

    #[test]
    fn tasks_are_counted_in_words() {
        assert_eq!(tasks_label(1), "1 task");
        assert_eq!(tasks_label(2), "2 tasks");
    }
}
