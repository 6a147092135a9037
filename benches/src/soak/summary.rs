//! The verdict of a soak run: every figure the run collected, printed as a short report
//! ending in `PASS` or `FAIL` and the reasons.
//!
//! A run fails when any request was lost, any session's value differed from the ledger or
//! went back, a counter session met an error it must never get, a published event went
//! missing, no session woke from hibernation although the run was long enough for some to
//! sleep, or the run did not stop by itself within its drain limit.

use std::fmt;
use std::time::Duration;

use sessionhost::{CounterSnapshot, HostStats};

use crate::Latencies;
use crate::soak::config::SoakConfig;
use crate::soak::ledger::{Count, Tally};

/// What a run measured and checked.
#[derive(Debug)]
pub struct Summary {
    /// The plan it ran.
    pub config: SoakConfig,
    /// How long traffic ran (from every client ready to the last client done).
    pub elapsed: Duration,
    /// Every client's tally, merged; shared counters' final checks included.
    pub tally: Tally,
    /// Resident memory (KiB) before the host was built.
    pub rss_start_kib: u64,
    /// Once every session was started.
    pub rss_ready_kib: u64,
    /// Highest sampled during the run.
    pub rss_peak_kib: u64,
    /// After the final checks, sessions still open.
    pub rss_end_kib: u64,
    /// After the server shut down (every session ended).
    pub rss_stopped_kib: u64,
    /// The host's statistics after the final checks.
    pub stats: Option<HostStats>,
    /// The host's counters after the final checks.
    pub counters: Option<CounterSnapshot>,
    /// The clients did not finish within the drain limit.
    pub stuck: bool,
    /// The server shut down within its grace time.
    pub shutdown_ok: bool,
}

impl Summary {
    /// Why the run failed; empty when it passed.
    pub fn failures(&self) -> Vec<String> {
        let t = &self.tally;
        let mut failures = Vec::new();
        let mut fail = |bad: bool, what: String| {
            if bad {
                failures.push(what);
            }
        };
        fail(t.lost() > 0, format!("{} requests lost", t.lost()));
        fail(
            t.mismatches > 0,
            format!(
                "{} values differ from the accepted increments",
                t.mismatches
            ),
        );
        fail(
            t.regressions > 0,
            format!("{} values went backwards", t.regressions),
        );
        fail(
            t.unexpected > 0,
            format!("{} unexpected answers", t.unexpected),
        );
        fail(
            t.events_lost > 0,
            format!("{} published events missing", t.events_lost),
        );
        fail(
            self.stuck,
            format!(
                "clients did not finish within {:?} after the deadline",
                self.config.drain_limit
            ),
        );
        fail(!self.shutdown_ok, "the server did not shut down".to_owned());
        let woken = self.counters.as_ref().map_or(0, |c| c.woken_total);
        fail(
            self.config.hibernate_after * 4 < self.config.duration && woken == 0,
            "no session woke from hibernation".to_owned(),
        );
        fail(
            t.final_checked == 0,
            "no session's final state was checked".to_owned(),
        );
        failures
    }

    /// Whether the run passed.
    pub fn passed(&self) -> bool {
        self.failures().is_empty()
    }

    /// Requests per second, all classes.
    pub fn requests_per_s(&self) -> f64 {
        let t = &self.tally;
        let sent = t.calls.sent() + t.casts.sent() + t.hostile.sent() + t.control.sent();
        sent as f64 / self.elapsed.as_secs_f64().max(0.001)
    }
}

fn count_row(f: &mut fmt::Formatter<'_>, name: &str, c: Count) -> fmt::Result {
    writeln!(
        f,
        "  {name:<16}{:>10}{:>10}{:>10}{:>8}",
        c.sent(),
        c.answered,
        c.typed,
        c.lost
    )
}

fn latency_row(f: &mut fmt::Formatter<'_>, name: &str, l: &Latencies) -> fmt::Result {
    let mut l = l.clone();
    writeln!(
        f,
        "  {name:<16}{:>9.2}{:>9.2}{:>9.1}{:>10}",
        l.quantile_us(0.5) / 1000.0,
        l.quantile_us(0.99) / 1000.0,
        l.quantile_us(1.0) / 1000.0,
        l.len()
    )
}

fn kinds(map: &std::collections::BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".to_owned();
    }
    map.iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (c, t) = (&self.config, &self.tally);
        writeln!(
            f,
            "soak: {} sessions ({} hostile) + {} shared, {} clients, {:.0} s of traffic, hibernate_after {:?}, mailbox {}",
            c.sessions,
            c.hostile_sessions(),
            c.shared,
            c.clients,
            self.elapsed.as_secs_f64(),
            c.hibernate_after,
            c.mailbox
        )?;
        writeln!(
            f,
            "  {:<16}{:>10}{:>10}{:>10}{:>8}",
            "requests", "sent", "answered", "typed err", "lost"
        )?;
        count_row(f, "counter calls", t.calls)?;
        count_row(f, "counter casts", t.casts)?;
        count_row(f, "hostile", t.hostile)?;
        count_row(f, "control", t.control)?;
        writeln!(f, "  throughput: {:.0} requests/s", self.requests_per_s())?;
        writeln!(f, "  counter typed errors: {}", kinds(&t.counter_errors))?;
        writeln!(f, "  hostile typed errors: {}", kinds(&t.hostile_errors))?;
        writeln!(
            f,
            "  checks: {} increments accepted; {} sessions' final state checked; mismatches {}, regressions {}, unexpected {}, events missing {}",
            t.increments, t.final_checked, t.mismatches, t.regressions, t.unexpected, t.events_lost
        )?;
        let (hibernated, woken, restarted) = self.counters.as_ref().map_or((0, 0, 0), |c| {
            (c.hibernated_total, c.woken_total, c.restarted_total)
        });
        writeln!(
            f,
            "  sessions: {} counter started, {} terminated, {} hostile ended; {} hibernations, {} wake-ups, {} restarts; {} WebSockets, {} SSE, {} cast bursts",
            t.started,
            t.terminated,
            t.hostile_ended,
            hibernated,
            woken,
            restarted,
            t.websockets,
            t.subscriptions,
            t.bursts
        )?;
        writeln!(
            f,
            "  {:<16}{:>9}{:>9}{:>9}{:>10}",
            "latency (ms)", "p50", "p99", "max", "n"
        )?;
        latency_row(f, "call", &t.call_latency)?;
        latency_row(f, "call, wake-up", &t.wake_latency)?;
        latency_row(f, "cast", &t.cast_latency)?;
        latency_row(f, "start", &t.start_latency)?;
        writeln!(
            f,
            "  RSS: {:.1} MiB at start, {:.1} with sessions up, {:.1} peak, {:.1} at end, {:.1} after shutdown",
            mib(self.rss_start_kib),
            mib(self.rss_ready_kib),
            mib(self.rss_peak_kib),
            mib(self.rss_end_kib),
            mib(self.rss_stopped_kib)
        )?;
        if let Some(s) = &self.stats {
            writeln!(
                f,
                "  host at end: {} live, {} hibernated, {} started, {} ended, {} traps, {} mailbox full",
                s.sessions,
                s.hibernated,
                s.started_total,
                s.ended_total,
                s.traps_total,
                s.mailbox_full_total
            )?;
        }
        for problem in &t.problems {
            writeln!(f, "  problem: {problem}")?;
        }
        let failures = self.failures();
        if failures.is_empty() {
            writeln!(f, "PASS: 0 lost calls, 0 lost casts, 0 state regressions")
        } else {
            writeln!(f, "FAIL: {}", failures.join("; "))
        }
    }
}
