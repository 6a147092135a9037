//! What the harness expects of each session, and the tally of what it saw.
//!
//! A counter session's state is one number, and the harness knows what it must be: its
//! start value plus every *accepted* increment — an `incr` call that was answered, a cast that
//! got 202 (or no error frame on a WebSocket). A refused message (a typed error such as
//! `mailbox_full`) is never delivered, so it is not counted. Because one client owns a session
//! and sends its next message only once the previous one was accepted (a cast is queued
//! before the next call runs), every reply must carry *exactly* the expected value
//! ([`CounterSession::observe`]); a value below the last one seen is also a regression.
//!
//! Shared counter sessions are hit by every client at once; there the harness checks that
//! each reply is at least what this client saw last and at least every increment accepted
//! (by anyone) before the request was sent, and that the final value is the exact sum.
//!
//! [`Tally`] is per client (no locks on the hot path) and merged at the end.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Instant;

use crate::Latencies;
use crate::soak::api::Outcome;

/// At most this many problem descriptions are kept (counts are always complete).
const PROBLEMS_KEPT: usize = 25;

/// Requests of one class, by outcome.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Count {
    /// Answered with a success.
    pub answered: u64,
    /// Answered with a typed error.
    pub typed: u64,
    /// Not answered, or answered with something that is not the API's.
    pub lost: u64,
}

impl Count {
    /// Requests sent: each ends answered, refused with a typed error, or lost.
    pub fn sent(&self) -> u64 {
        self.answered + self.typed + self.lost
    }

    /// Counts one request by its outcome.
    pub(crate) fn record(&mut self, outcome: &Outcome) {
        match outcome {
            Outcome::Ok(..) => self.answered += 1,
            Outcome::Typed(..) => self.typed += 1,
            Outcome::Lost(_) => self.lost += 1,
        }
    }

    fn merge(&mut self, other: Count) {
        self.answered += other.answered;
        self.typed += other.typed;
        self.lost += other.lost;
    }
}

/// Everything one client counted.
#[derive(Debug, Default)]
pub struct Tally {
    /// Calls to counter sessions (HTTP and WebSocket).
    pub calls: Count,
    /// Casts to counter sessions; `answered` are the accepted ones.
    pub casts: Count,
    /// Requests to hostile sessions (their errors are expected).
    pub hostile: Count,
    /// Starts, ends, touches, subscriptions.
    pub control: Count,
    /// Typed errors met by counter sessions and control requests, by kind.
    pub counter_errors: BTreeMap<String, u64>,
    /// Typed errors met by hostile sessions, by kind.
    pub hostile_errors: BTreeMap<String, u64>,
    /// Replies or final values below the last value seen.
    pub regressions: u64,
    /// Replies or final values other than the expected one (lost or doubled increments).
    pub mismatches: u64,
    /// Errors a counter session must never get (`guest_trap`, `session_not_found`...), wrong
    /// replies from hostile sessions, missing final events.
    pub unexpected: u64,
    /// Published events that did not arrive, or arrived out of order.
    pub events_lost: u64,
    /// Increments accepted (calls and casts, counter sessions).
    pub increments: u64,
    /// Sessions whose final state was read and checked.
    pub final_checked: u64,
    /// Counter sessions started.
    pub started: u64,
    /// Counter sessions ended by the client (final state checked first).
    pub terminated: u64,
    /// Hostile sessions that ended (trap, limit, `stop`) or were ended.
    pub hostile_ended: u64,
    /// WebSocket and SSE sessions opened.
    pub websockets: u64,
    /// SSE subscriptions opened.
    pub subscriptions: u64,
    /// Cast bursts sent.
    pub bursts: u64,
    /// Latency of counter calls to sessions that were recently active.
    pub call_latency: Latencies,
    /// Latency of counter calls to sessions idle longer than `hibernate_after` (wake-ups).
    pub wake_latency: Latencies,
    /// Latency of accepted casts.
    pub cast_latency: Latencies,
    /// Latency of session starts.
    pub start_latency: Latencies,
    /// The first problems, described.
    pub problems: Vec<String>,
}

impl Tally {
    /// Notes a problem (the counter it belongs to is bumped by the caller).
    pub(crate) fn problem(&mut self, what: impl Into<String>) {
        if self.problems.len() < PROBLEMS_KEPT {
            self.problems.push(what.into());
        }
    }

    /// Counts a typed error of a counter session or control request; `allowed` kinds are
    /// load signals (a full mailbox, shedding), any other is unexpected.
    pub(crate) fn counter_error(&mut self, outcome: &Outcome, allowed: &[&str], what: &str) {
        match outcome {
            Outcome::Typed(status, kind) => {
                *self.counter_errors.entry(kind.clone()).or_default() += 1;
                if !allowed.contains(&kind.as_str()) {
                    self.unexpected += 1;
                    self.problem(format!("{what}: unexpected {status} {kind}"));
                }
            }
            Outcome::Lost(why) => self.problem(format!("{what}: lost: {why}")),
            // Callers get here with a success only when its body was not what the API
            // promises (not JSON, or no token).
            Outcome::Ok(status, body) => {
                self.unexpected += 1;
                let body = String::from_utf8_lossy(body);
                self.problem(format!("{what}: unusable {status} reply: {body:.80}"));
            }
        }
    }

    /// Counts a typed error of a hostile session.
    pub(crate) fn hostile_error(&mut self, kind: &str) {
        *self.hostile_errors.entry(kind.to_owned()).or_default() += 1;
    }

    /// Adds another client's tally.
    pub fn merge(&mut self, other: Tally) {
        self.calls.merge(other.calls);
        self.casts.merge(other.casts);
        self.hostile.merge(other.hostile);
        self.control.merge(other.control);
        for (kind, n) in other.counter_errors {
            *self.counter_errors.entry(kind).or_default() += n;
        }
        for (kind, n) in other.hostile_errors {
            *self.hostile_errors.entry(kind).or_default() += n;
        }
        self.regressions += other.regressions;
        self.mismatches += other.mismatches;
        self.unexpected += other.unexpected;
        self.events_lost += other.events_lost;
        self.increments += other.increments;
        self.final_checked += other.final_checked;
        self.started += other.started;
        self.terminated += other.terminated;
        self.hostile_ended += other.hostile_ended;
        self.websockets += other.websockets;
        self.subscriptions += other.subscriptions;
        self.bursts += other.bursts;
        self.call_latency.merge(other.call_latency);
        self.wake_latency.merge(other.wake_latency);
        self.cast_latency.merge(other.cast_latency);
        self.start_latency.merge(other.start_latency);
        for problem in other.problems {
            self.problem(problem);
        }
    }

    /// Requests lost, all classes together.
    pub fn lost(&self) -> u64 {
        self.calls.lost + self.casts.lost + self.hostile.lost + self.control.lost
    }
}

/// A counter session one client owns.
#[derive(Debug)]
pub(crate) struct CounterSession {
    /// Its signed token.
    pub(crate) token: String,
    /// Start value plus every accepted increment.
    expected: i64,
    /// The highest value any reply carried.
    last_seen: i64,
    /// When it last got a message (to tell wake-ups from warm calls).
    pub(crate) last_active: Instant,
}

impl CounterSession {
    /// A session started at `start`.
    pub(crate) fn new(token: String, start: i64) -> Self {
        Self {
            token,
            expected: start,
            last_seen: start,
            last_active: Instant::now(),
        }
    }

    /// Records an accepted increment.
    pub(crate) fn accepted(&mut self, by: i64, tally: &mut Tally) {
        self.expected += by;
        tally.increments += 1;
    }

    /// Checks a value the session reported: exactly the expected one, never below the last.
    pub(crate) fn observe(&mut self, value: i64, tally: &mut Tally, what: &str) {
        if value < self.last_seen {
            tally.regressions += 1;
            tally.problem(format!(
                "{what}: value went back from {} to {value}",
                self.last_seen
            ));
        }
        if value != self.expected {
            tally.mismatches += 1;
            tally.problem(format!(
                "{what}: value {value}, expected {} (start + accepted increments)",
                self.expected
            ));
        }
        self.last_seen = self.last_seen.max(value);
    }
}

/// A counter session every client hits at once.
#[derive(Debug)]
pub(crate) struct SharedCounter {
    /// Its signed token.
    pub(crate) token: String,
    /// Every increment accepted by any client.
    accepted: AtomicI64,
}

impl SharedCounter {
    /// A session started at 0.
    pub(crate) fn new(token: String) -> Self {
        Self {
            token,
            accepted: AtomicI64::new(0),
        }
    }

    /// The sum of increments accepted so far: a lower bound of the value any call sent
    /// from now on must see.
    pub(crate) fn floor(&self) -> i64 {
        self.accepted.load(Ordering::SeqCst)
    }

    /// Records an accepted increment.
    pub(crate) fn accepted(&self, by: i64) {
        self.accepted.fetch_add(by, Ordering::SeqCst);
    }

    /// Checks a reply: not below `floor` (taken before the request was sent) and not below
    /// `last_seen` (this client's last reply), which it then raises.
    pub(crate) fn observe(
        &self,
        value: i64,
        floor: i64,
        last_seen: &mut i64,
        tally: &mut Tally,
        what: &str,
    ) {
        if value < *last_seen {
            tally.regressions += 1;
            tally.problem(format!(
                "{what}: value went back from {last_seen} to {value}"
            ));
        }
        if value < floor {
            tally.mismatches += 1;
            tally.problem(format!(
                "{what}: value {value} misses accepted increments (at least {floor} expected)"
            ));
        }
        *last_seen = (*last_seen).max(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_values_pass_and_lost_increments_fail() {
        let mut tally = Tally::default();
        let mut session = CounterSession::new("t".into(), 10);
        session.accepted(2, &mut tally);
        session.observe(12, &mut tally, "call");
        assert_eq!((tally.mismatches, tally.regressions), (0, 0));
        session.accepted(3, &mut tally);
        session.observe(12, &mut tally, "call"); // the cast of 3 was lost
        assert_eq!((tally.mismatches, tally.regressions), (1, 0));
        session.observe(11, &mut tally, "call");
        assert_eq!((tally.mismatches, tally.regressions), (2, 1));
        assert_eq!(tally.increments, 2);
    }

    #[test]
    fn shared_counters_check_floors_and_order() {
        let mut tally = Tally::default();
        let shared = SharedCounter::new("t".into());
        shared.accepted(5);
        let mut seen = 0;
        shared.observe(7, shared.floor(), &mut seen, &mut tally, "call");
        assert_eq!((tally.mismatches, tally.regressions, seen), (0, 0, 7));
        shared.observe(6, shared.floor(), &mut seen, &mut tally, "call");
        assert_eq!((tally.mismatches, tally.regressions), (0, 1));
        shared.observe(4, shared.floor(), &mut seen, &mut tally, "call");
        assert_eq!((tally.mismatches, tally.regressions), (1, 2));
    }

    #[test]
    fn tallies_merge_and_count_outcomes() {
        let mut a = Tally::default();
        a.calls
            .record(&Outcome::Ok(reqwest::StatusCode::OK, Vec::new()));
        a.calls.record(&Outcome::Lost("reset".into()));
        let mut b = Tally::default();
        let full = Outcome::Typed(
            reqwest::StatusCode::SERVICE_UNAVAILABLE,
            "mailbox_full".into(),
        );
        b.casts.record(&full);
        b.counter_error(&full, &["mailbox_full"], "cast");
        b.counter_error(
            &Outcome::Typed(reqwest::StatusCode::NOT_FOUND, "session_not_found".into()),
            &["mailbox_full"],
            "call",
        );
        a.merge(b);
        assert_eq!(a.calls.sent(), 2);
        assert_eq!(a.lost(), 1);
        assert_eq!(a.casts.typed, 1);
        assert_eq!(a.counter_errors["mailbox_full"], 1);
        assert_eq!(a.unexpected, 1);
        assert_eq!(a.problems.len(), 1);
    }
}
