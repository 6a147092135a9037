//! The per-language section: the same counter in Rust, Python, JavaScript, C and Zig
//! ([`sessionhost_bench::languages`]), each in a child process of its own
//! (`--child language <guest> <n>`). JSON: `languages`, a map from `rust`, `python`,
//! `javascript`, `c`, `zig` to `component_bytes`, `instantiate_init_us`, `call_p50_us`,
//! `call_p99_us`, `kib_per_session` (and `layout`, `load_ms`, `sessions`).

use std::collections::BTreeMap;

use sessionhost_bench::languages::{LANGUAGES, LanguageCost};

use crate::Progress;
use crate::creation::child_json;

/// Live sessions per language.
pub(crate) fn count(quick: bool) -> usize {
    if quick { 100 } else { 1_000 }
}

/// Measures every language; a language whose component is missing or fails is reported as
/// such (the run goes on).
pub(crate) fn measure(
    quick: bool,
    progress: &Progress,
) -> (BTreeMap<String, LanguageCost>, Vec<String>) {
    let n = count(quick).to_string();
    let mut costs = BTreeMap::new();
    let mut failures = Vec::new();
    for (key, guest) in LANGUAGES {
        progress.say(format!("{key}: {n} sessions of {guest}..."));
        match child_json::<LanguageCost>(&["language", guest, &n]) {
            Ok(cost) => {
                progress.say(format!(
                    "{key}: start {:.0} µs, call p50 {:.1} µs, {:.0} KiB per session",
                    cost.instantiate_init_us, cost.call_p50_us, cost.kib_per_session
                ));
                costs.insert(key.to_string(), cost);
            }
            Err(e) => {
                progress.say(format!("{key}: not measured: {e:#}"));
                failures.push(format!("{key} not measured: {e:#}"));
            }
        }
    }
    (costs, failures)
}

/// The section, as lines under the main table.
pub(crate) fn lines(costs: &BTreeMap<String, LanguageCost>, quick: bool) -> Vec<String> {
    let mut out = vec![
        String::new(),
        format!(
            "per language: the counter protocol, {} live sessions each (fresh process)",
            count(quick)
        ),
        format!(
            "  {:<11} {:>10} {:>7} {:>10} {:>12} {:>16} {:>12}",
            "language",
            "component",
            "layout",
            "load ms",
            "start µs p50",
            "call µs p50/p99",
            "KiB/session"
        ),
    ];
    for (key, _) in LANGUAGES {
        let Some(c) = costs.get(key) else {
            out.push(format!("  {key:<11} not measured"));
            continue;
        };
        out.push(format!(
            "  {:<11} {:>10} {:>7} {:>10.0} {:>12.0} {:>16} {:>12.1}",
            key,
            size(c.component_bytes),
            c.layout,
            c.load_ms,
            c.instantiate_init_us,
            format!("{:.1} / {:.1}", c.call_p50_us, c.call_p99_us),
            c.kib_per_session
        ));
    }
    out
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}
