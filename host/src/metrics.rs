//! The host's counters and the metrics snapshot exporters read.
//!
//! Everything here is updated on the hot path (every call, every session start), so nothing
//! takes a lock and nothing is shared between cores: counters are striped (each thread adds to
//! its own cache line; reading sums the stripes) and the call-duration histogram is a fixed set
//! of striped buckets. An exporter (the HTTP server's `/metrics`) reads a [`MetricsSnapshot`]
//! when scraped; between scrapes the host pays a few relaxed atomic adds per message.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use serde::Serialize;

use crate::error::SessionError;
use crate::reason::StopReason;

/// Outcomes of a call, as `calls_total{outcome}` labels: `ok`, then every error kind
/// ([`SessionError::KINDS`]).
pub const CALL_OUTCOMES: [&str; SessionError::KINDS.len() + 1] = {
    let mut outcomes = ["ok"; SessionError::KINDS.len() + 1];
    let mut i = 0;
    while i < SessionError::KINDS.len() {
        outcomes[i + 1] = SessionError::KINDS[i];
        i += 1;
    }
    outcomes
};

/// Stop reasons, as `sessions_stopped_total{reason}` labels ([`StopReason::KINDS`]).
pub const STOP_REASONS: [&str; StopReason::KINDS.len()] = StopReason::KINDS;

/// Upper bounds of the call-duration histogram buckets, in seconds (Prometheus `le`).
pub const DURATION_BUCKETS: [f64; 12] = [
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.005, 0.025, 0.1,
    1.0,
];

/// The host's counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) started: StripedCounter,
    pub(crate) ended: StripedCounter,
    pub(crate) rejected: StripedCounter,
    pub(crate) rate_limited: StripedCounter,
    pub(crate) messages: StripedCounter,
    pub(crate) traps: StripedCounter,
    pub(crate) mailbox_full: StripedCounter,
    /// Sessions ended by the reaper (idle TTL or max lifetime).
    pub(crate) expired: StripedCounter,
    /// Sessions started again by their restart policy.
    pub(crate) restarts: StripedCounter,
    /// Sessions hibernated / woken.
    pub(crate) hibernated: StripedCounter,
    pub(crate) woken: StripedCounter,
    /// Sessions moved to a new guest version, and moves that failed.
    pub(crate) upgrades: StripedCounter,
    pub(crate) upgrades_failed: StripedCounter,
    pub(crate) casts: StripedCounter,
    /// Queued messages discarded because their session was terminated before they ran.
    pub(crate) discarded: StripedCounter,
    /// Checkpoints whose `snapshot` failed (the session restarted from the previous one).
    pub(crate) checkpoints_failed: StripedCounter,
    /// Calls answered although the durable store failed to commit their checkpoint.
    pub(crate) checkpoint_writes_failed: StripedCounter,
    pub(crate) fuel: StripedCounter,
    pub(crate) calls: [StripedCounter; CALL_OUTCOMES.len()],
    pub(crate) stopped: [StripedCounter; STOP_REASONS.len()],
    /// Call durations: one counter per bucket, plus one for "above the last bound".
    pub(crate) call_buckets: [StripedCounter; DURATION_BUCKETS.len() + 1],
    /// Sum of call durations, in nanoseconds.
    pub(crate) call_nanos: StripedCounter,
}

impl Counters {
    /// Counts a finished call: its outcome and how long it took.
    pub(crate) fn record_call(&self, result: Result<(), &SessionError>, took: Duration) {
        let outcome = match result {
            Ok(()) => 0,
            Err(e) => CALL_OUTCOMES
                .iter()
                .position(|k| *k == e.kind())
                .unwrap_or(0),
        };
        self.calls[outcome].add(1);
        let seconds = took.as_secs_f64();
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|le| seconds <= *le)
            .unwrap_or(DURATION_BUCKETS.len());
        self.call_buckets[bucket].add(1);
        self.call_nanos
            .add(u64::try_from(took.as_nanos()).unwrap_or(u64::MAX));
    }

    /// Counts a session that ended for `reason`.
    pub(crate) fn record_stop(&self, reason: &StopReason) {
        let index = STOP_REASONS
            .iter()
            .position(|k| *k == reason.kind())
            .unwrap_or(0);
        self.stopped[index].add(1);
    }

    pub(crate) fn snapshot(&self) -> CounterSnapshot {
        let mut cumulative = 0;
        let buckets = self.call_buckets[..DURATION_BUCKETS.len()]
            .iter()
            .map(|b| {
                cumulative += b.get();
                cumulative
            })
            .collect();
        CounterSnapshot {
            started_total: self.started.get(),
            rate_limited_total: self.rate_limited.get(),
            mailbox_full_total: self.mailbox_full.get(),
            expired_total: self.expired.get(),
            restarted_total: self.restarts.get(),
            hibernated_total: self.hibernated.get(),
            woken_total: self.woken.get(),
            upgrades_total: self.upgrades.get(),
            upgrades_failed_total: self.upgrades_failed.get(),
            casts_total: self.casts.get(),
            discarded_total: self.discarded.get(),
            checkpoints_failed_total: self.checkpoints_failed.get(),
            checkpoint_writes_failed_total: self.checkpoint_writes_failed.get(),
            fuel_consumed_total: self.fuel.get(),
            calls_total: CALL_OUTCOMES
                .iter()
                .zip(&self.calls)
                .map(|(k, c)| (*k, c.get()))
                .collect(),
            stopped_total: STOP_REASONS
                .iter()
                .zip(&self.stopped)
                .map(|(k, c)| (*k, c.get()))
                .collect(),
            call_duration_buckets: buckets,
            call_duration_count: self.call_buckets.iter().map(StripedCounter::get).sum(),
            call_duration_sum_seconds: self.call_nanos.get() as f64 / 1e9,
        }
    }
}

/// Counter values at one instant.
#[derive(Clone, Debug, Serialize)]
pub struct CounterSnapshot {
    /// Sessions started.
    pub started_total: u64,
    /// Starts refused by `rate_limit`.
    pub rate_limited_total: u64,
    /// Messages refused because a mailbox was full.
    pub mailbox_full_total: u64,
    /// Sessions ended by the reaper (idle TTL or max lifetime).
    pub expired_total: u64,
    /// Sessions started again by their guest's restart policy.
    pub restarted_total: u64,
    /// Sessions hibernated (snapshot stored, instance freed).
    pub hibernated_total: u64,
    /// Hibernated sessions woken by a message.
    pub woken_total: u64,
    /// Sessions moved to a new guest version (`migrate`).
    pub upgrades_total: u64,
    /// Moves that failed (the session stayed on its version).
    pub upgrades_failed_total: u64,
    /// Casts accepted.
    pub casts_total: u64,
    /// Queued messages discarded because their session was terminated before they ran.
    pub discarded_total: u64,
    /// Checkpoints whose `snapshot` failed (the session restarted from the previous one).
    pub checkpoints_failed_total: u64,
    /// Calls answered although the durable store failed to commit their checkpoint (the
    /// error is logged): their state is live, but a crash would lose it.
    pub checkpoint_writes_failed_total: u64,
    /// Fuel burned by all guests.
    pub fuel_consumed_total: u64,
    /// Calls by outcome (`ok` or an error kind).
    pub calls_total: Vec<(&'static str, u64)>,
    /// Sessions ended, by stop reason.
    pub stopped_total: Vec<(&'static str, u64)>,
    /// Cumulative call counts per bucket of [`DURATION_BUCKETS`].
    pub call_duration_buckets: Vec<u64>,
    /// Calls measured.
    pub call_duration_count: u64,
    /// Sum of call durations, in seconds.
    pub call_duration_sum_seconds: f64,
}

/// What an exporter reads ([`Host::metrics`](crate::Host::metrics)).
#[derive(Clone, Debug, Serialize)]
pub struct MetricsSnapshot {
    /// The counters.
    pub counters: CounterSnapshot,
    /// Live sessions, by guest name.
    pub sessions_by_guest: Vec<(String, u64)>,
    /// Linear memory of the live sessions, by guest name, in bytes.
    pub memory_bytes_by_guest: Vec<(String, u64)>,
}

/// Stripes of a [`StripedCounter`]; a power of two.
const STRIPES: usize = 8;

/// A counter bumped on every message from every thread: one shared atomic would bounce its
/// cache line between cores on each call. Each thread adds to its own stripe (each on its
/// own cache line); reading sums them.
#[derive(Debug, Default)]
pub(crate) struct StripedCounter {
    stripes: [Stripe; STRIPES],
}

#[derive(Debug, Default)]
#[repr(align(128))]
struct Stripe(AtomicU64);

thread_local! {
    /// This thread's stripe: threads take stripes in turn as they first count.
    static STRIPE: usize = {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        (NEXT.fetch_add(1, Ordering::Relaxed) as usize) % STRIPES
    };
}

impl StripedCounter {
    pub(crate) fn add(&self, n: u64) {
        let stripe = STRIPE.with(|s| *s);
        self.stripes[stripe].0.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> u64 {
        self.stripes
            .iter()
            .map(|s| s.0.load(Ordering::Relaxed))
            .fold(0, u64::wrapping_add)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn striped_counters_sum_every_thread() {
        let counter = std::sync::Arc::new(StripedCounter::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let counter = std::sync::Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..1000 {
                        counter.add(1);
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        assert_eq!(counter.get(), 4000);
    }

    #[test]
    fn calls_are_counted_by_outcome_and_bucket() {
        let c = Counters::default();
        c.record_call(Ok(()), Duration::from_micros(3));
        c.record_call(
            Err(&SessionError::Timeout { ms: 1 }),
            Duration::from_secs(2),
        );
        c.record_stop(&StopReason::IdleTimeout);
        let s = c.snapshot();
        assert!(s.calls_total.contains(&("ok", 1)));
        assert!(s.calls_total.contains(&("timeout", 1)));
        assert!(s.stopped_total.contains(&("idle_timeout", 1)));
        assert_eq!(s.call_duration_buckets[0], 1, "3 µs is in the 5 µs bucket");
        assert_eq!(
            *s.call_duration_buckets.last().unwrap(),
            1,
            "2 s is above every bound"
        );
        assert_eq!(s.call_duration_count, 2);
        assert!((s.call_duration_sum_seconds - 2.000_003).abs() < 1e-9);
    }
}
