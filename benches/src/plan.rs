//! What the report measures, at which session counts, and whether a count fits in memory.
//!
//! Pure helpers, unit-tested: the session-count ladders of the full and quick runs, the labels
//! (`1k`, `300k`, `1m`) that name a count in JSON keys and in the table, the naming of JSON keys
//! per subject, the medians of repeated runs, and the check that skips a count the machine's
//! free memory cannot hold (with a margin, so a benchmark never drives the machine into swap
//! or the OOM killer).

use std::fmt;

/// The subjects measured, in table order: the two guests on the host, then the native actor
/// baseline (a tokio task per session doing the counter's work natively).
pub const SUBJECTS: [&str; 3] = ["counter", "counter-lean", NATIVE];

/// The subject name of the native actor baseline.
pub const NATIVE: &str = "native-actor";

/// The subject whose JSON keys carry no prefix.
pub const UNPREFIXED: &str = "counter";

/// Session counts of the full run. Each is tried for every subject; a count that does not
/// fit in memory is skipped (on 24 GiB, `counter` at 1 M).
pub const FULL_COUNTS: [usize; 5] = [1_000, 10_000, 100_000, 300_000, 1_000_000];

/// Session counts of the quick run.
pub const QUICK_COUNTS: [usize; 3] = [1_000, 10_000, 50_000];

/// Free memory kept back when deciding whether a count fits, in KiB (2 GiB).
pub const MARGIN_KIB: u64 = 2 * 1024 * 1024;

/// The count whose figures are the headline keys (`create_per_s`,
/// `bare_wasmtime_create_per_s`): 100 k in the full run, the largest count in a quick one.
pub fn reference_count(counts: &[usize]) -> usize {
    if counts.contains(&100_000) {
        100_000
    } else {
        counts.iter().copied().max().unwrap_or(0)
    }
}

/// How many times a creation run is repeated at `n` sessions (the median is kept): small
/// counts take milliseconds and swing with whatever else the machine does.
pub fn repetitions(n: usize) -> usize {
    if n <= 10_000 { 3 } else { 1 }
}

/// The short name of a session count: `1k`, `300k`, `1m`.
pub fn label(n: usize) -> String {
    if n >= 1_000_000 && n.is_multiple_of(1_000_000) {
        format!("{}m", n / 1_000_000)
    } else if n >= 1_000 && n.is_multiple_of(1_000) {
        format!("{}k", n / 1_000)
    } else {
        n.to_string()
    }
}

/// The JSON key of figure `name` for `subject`: unprefixed for [`UNPREFIXED`], else prefixed
/// with the subject's name in snake case (`counter_lean_...`, `native_actor_...`).
pub fn key(subject: &str, name: &str) -> String {
    if subject == UNPREFIXED {
        name.to_string()
    } else {
        format!("{}_{name}", subject.replace('-', "_"))
    }
}

/// The median of `values` (the mean of the middle two for an even count); 0 when empty.
pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// A count the machine cannot hold: what it would need and what is available, in KiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Skip {
    /// Memory the run would need, margin included.
    pub need_kib: u64,
    /// `MemAvailable` when checked.
    pub available_kib: u64,
}

impl fmt::Display for Skip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let gib = |kib: u64| kib as f64 / (1024.0 * 1024.0);
        write!(
            f,
            "skipped: needs {:.1} GiB, {:.1} GiB available",
            gib(self.need_kib),
            gib(self.available_kib)
        )
    }
}

/// Whether `n` sessions of `kib_per_session` each, plus `fixed_kib` for the process itself and
/// [`MARGIN_KIB`], fit in `available_kib`.
pub fn check_fit(
    n: usize,
    kib_per_session: f64,
    fixed_kib: u64,
    available_kib: u64,
) -> Result<(), Skip> {
    let sessions_kib = (n as f64 * kib_per_session).ceil() as u64;
    let need_kib = sessions_kib + fixed_kib + MARGIN_KIB;
    if need_kib <= available_kib {
        Ok(())
    } else {
        Err(Skip {
            need_kib,
            available_kib,
        })
    }
}

/// `MemAvailable` from the text of `/proc/meminfo`, in KiB.
pub fn parse_mem_available(meminfo: &str) -> Option<u64> {
    meminfo
        .lines()
        .find(|l| l.starts_with("MemAvailable:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kib| kib.parse().ok())
}

/// The machine's available memory now (`MemAvailable`), in KiB.
pub fn mem_available_kib() -> Option<u64> {
    parse_mem_available(&std::fs::read_to_string("/proc/meminfo").ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_counts_briefly() {
        assert_eq!(label(1_000), "1k");
        assert_eq!(label(50_000), "50k");
        assert_eq!(label(300_000), "300k");
        assert_eq!(label(1_000_000), "1m");
        assert_eq!(label(1_500_000), "1500k");
        assert_eq!(label(900), "900");
    }

    #[test]
    fn keys_prefix_every_subject_but_the_sdk_counter() {
        assert_eq!(key("counter", "create_per_s_1m"), "create_per_s_1m");
        assert_eq!(
            key("counter-lean", "create_per_s_1m"),
            "counter_lean_create_per_s_1m"
        );
        assert_eq!(key(NATIVE, "call_per_s"), "native_actor_call_per_s");
    }

    #[test]
    fn reference_count_is_100k_when_measured() {
        assert_eq!(reference_count(&FULL_COUNTS), 100_000);
        assert_eq!(reference_count(&QUICK_COUNTS), 50_000);
        assert_eq!(reference_count(&[]), 0);
    }

    #[test]
    fn medians() {
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(repetitions(1_000), 3);
        assert_eq!(repetitions(1_000_000), 1);
    }

    #[test]
    fn fit_keeps_a_margin() {
        let gib = 1024 * 1024;
        // 1 M sessions of 16 KiB: ~15.3 GiB, + 1 GiB fixed + 2 GiB margin.
        assert!(check_fit(1_000_000, 16.0, gib, 22 * gib).is_ok());
        let skip = check_fit(1_000_000, 45.0, gib, 22 * gib).expect_err("45 GB do not fit");
        assert_eq!(skip.available_kib, 22 * gib);
        assert_eq!(skip.need_kib, 45_000_000 + 3 * gib);
        assert_eq!(
            skip.to_string(),
            "skipped: needs 45.9 GiB, 22.0 GiB available"
        );
        // Exactly at the margin still fits; one KiB more does not.
        assert!(check_fit(0, 0.0, 0, MARGIN_KIB).is_ok());
        assert!(check_fit(1, 1.0, 0, MARGIN_KIB).is_err());
    }

    #[test]
    fn mem_available_is_parsed() {
        let text = "MemTotal:       24683656 kB\nMemFree:        16358804 kB\n\
                    MemAvailable:   23976972 kB\n";
        assert_eq!(parse_mem_available(text), Some(23_976_972));
        assert_eq!(parse_mem_available("MemTotal: 1 kB\n"), None);
        assert!(mem_available_kib().is_some_and(|kib| kib > 0));
    }
}
