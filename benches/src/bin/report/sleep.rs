//! Hibernated sessions, per guest: bytes per hibernated session, wake latency, and the
//! process's resident memory with them all hibernated ([`sessionhost_bench::hibernate`]).
//!
//! Each guest runs in a child process of its own (`--child hibernate <guest> <n>`): 1 M
//! sessions in the full run, 50 k in a quick one. JSON keys (unprefixed for `counter`):
//! `hibernated_bytes_per_session`, `wake_p50_us`, `wake_p99_us`, `hibernate_cycle_per_s`,
//! `hibernated_rss_mib_<count>`.

use sessionhost_bench::figures::Figures;
use sessionhost_bench::hibernate::HibernateRun;
use sessionhost_bench::plan::{NATIVE, SUBJECTS, label};

use crate::Progress;
use crate::creation::child_json;
use crate::table::{Table, rate};

/// Hibernated sessions per guest.
pub(crate) fn count(quick: bool) -> usize {
    if quick { 50_000 } else { 1_000_000 }
}

/// Measures every guest subject.
pub(crate) fn measure(
    figures: &mut Figures,
    quick: bool,
    progress: &Progress,
) -> anyhow::Result<()> {
    let n = count(quick);
    for subject in SUBJECTS.iter().filter(|s| **s != NATIVE) {
        progress.say(format!("hibernating {} {subject} sessions...", label(n)));
        let run: HibernateRun = child_json(&["hibernate", subject, &n.to_string()])?;
        progress.say(format!(
            "{subject}: {:.0} bytes per hibernated session, wake p99 {:.0} µs, {:.0} MiB resident",
            run.bytes_per_session, run.wake_p99_us, run.rss_mib
        ));
        figures.set(
            subject,
            "hibernated_bytes_per_session",
            run.bytes_per_session,
        );
        figures.set(subject, "wake_p50_us", run.wake_p50_us);
        figures.set(subject, "wake_p99_us", run.wake_p99_us);
        figures.set(subject, "hibernate_cycle_per_s", run.per_s);
        figures.set(
            subject,
            format!("hibernated_rss_mib_{}", label(n)),
            run.rss_mib,
        );
    }
    Ok(())
}

/// The table rows of the hibernation section.
pub(crate) fn rows(table: &mut Table, figures: &Figures, quick: bool) {
    let n = count(quick);
    let cells = |name: &str, show: &dyn Fn(f64) -> String| {
        SUBJECTS.map(|subject| figures.get(subject, name).map(show).unwrap_or_default())
    };
    table.section(&format!(
        "hibernated sessions ({} per guest, in-memory store, pool of 1 000 live)",
        label(n)
    ));
    table.row(
        "bytes per hibernated session (resident memory added / sessions)",
        cells("hibernated_bytes_per_session", &|b| format!("{b:.0} B")),
        "≤ 512 B",
    );
    table.row(
        "  wake latency p50 / p99 µs (call to a hibernated session)",
        SUBJECTS.map(|subject| {
            match (
                figures.get(subject, "wake_p50_us"),
                figures.get(subject, "wake_p99_us"),
            ) {
                (Some(a), Some(b)) => format!("{a:.0} / {b:.0}"),
                _ => String::new(),
            }
        }),
        "",
    );
    table.row(
        format!("  resident memory with {} hibernated", label(n)),
        cells(&format!("hibernated_rss_mib_{}", label(n)), &|m| {
            format!("{m:.0} MiB")
        }),
        "",
    );
    table.row(
        "  start + call + hibernate cycles/s, 1 task",
        cells("hibernate_cycle_per_s", &rate),
        "",
    );
}
