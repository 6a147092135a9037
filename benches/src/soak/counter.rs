//! Operations on counter sessions over plain HTTP: start, `incr` and `get` calls, casts,
//! cast bursts past the mailbox, touch, terminate (final state first, then the session must
//! be gone), and the final check; plus the shared counters every client hits.
//!
//! Every reply is checked against the ledger (`ledger.rs`). The only typed errors a counter
//! session may meet are load signals — `mailbox_full` (a burst overflowed its mailbox),
//! `overloaded` (load shedding), `timeout` — and a refused message is not counted as
//! accepted. Anything else (`session_not_found` for a live session, `guest_trap`...) is
//! unexpected: a counter session must not feel its hostile neighbours.

use std::time::Instant;

use futures_util::future::join_all;
use rand::Rng;
use serde_json::json;

use crate::soak::api::Outcome;
use crate::soak::client::{Driver, pick};
use crate::soak::ledger::{CounterSession, SharedCounter};

/// Typed errors a counter session may get under load.
pub(crate) const LOAD_ERRORS: &[&str] = &["mailbox_full", "overloaded", "timeout"];

/// Times the final `get` is retried while the answer is a load error.
const FINAL_ATTEMPTS: u32 = 20;

/// The operations on a counter session, by weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Incr,
    Get,
    Cast,
    Burst,
    Touch,
    WebSocket,
    Subscribe,
    Terminate,
}

const MIX: &[(Op, u32)] = &[
    (Op::Incr, 30),
    (Op::Get, 10),
    (Op::Cast, 25),
    (Op::Burst, 4),
    (Op::Touch, 3),
    (Op::WebSocket, 3),
    (Op::Subscribe, 3),
    (Op::Terminate, 2),
];

impl Driver {
    /// Starts a counter session at a random value.
    pub(crate) async fn start_counter(&mut self) -> Option<CounterSession> {
        let start = self.rng.random_range(-1_000..1_000);
        let body = json!({"guest": "counter", "args": {"start": start}}).to_string();
        let clock = Instant::now();
        let outcome = self.api.post("/v1/sessions", None, body).await;
        self.tally.control.record(&outcome);
        match outcome.json() {
            Ok(created) => {
                self.tally.start_latency.record(clock.elapsed());
                self.tally.started += 1;
                let token = created["token"].as_str()?.to_owned();
                Some(CounterSession::new(token, start))
            }
            Err(_) => {
                self.tally
                    .counter_error(&outcome, &["overloaded"], "counter start");
                None
            }
        }
    }

    /// One operation; `false` when the session is gone (ended by this client) and must be
    /// replaced.
    pub(crate) async fn counter_op(&mut self, session: &mut CounterSession) -> bool {
        match pick(&mut self.rng, MIX) {
            Op::Incr => {
                let by = self.rng.random_range(1..=5);
                self.counter_call(session, Some(by)).await;
            }
            Op::Get => {
                self.counter_call(session, None).await;
            }
            Op::Cast => {
                let by = self.rng.random_range(1..=5);
                self.counter_cast(session, by).await;
            }
            Op::Burst => self.burst(session).await,
            Op::Touch => {
                let outcome = self
                    .api
                    .post("/v1/session/touch", Some(&session.token), String::new())
                    .await;
                self.tally.control.record(&outcome);
                if !matches!(outcome, Outcome::Ok(..)) {
                    self.tally.counter_error(&outcome, LOAD_ERRORS, "touch");
                }
            }
            Op::WebSocket => self.websocket(session).await,
            Op::Subscribe => self.subscribe(session).await,
            Op::Terminate => return !self.terminate(session).await,
        }
        true
    }

    /// A call, `incr` by `by` or `get`; returns the value replied, if any.
    pub(crate) async fn counter_call(
        &mut self,
        session: &mut CounterSession,
        by: Option<i64>,
    ) -> Option<i64> {
        let request = match by {
            Some(by) => json!({"op": "incr", "by": by}),
            None => json!({"op": "get"}),
        };
        let idle = session.last_active.elapsed();
        let clock = Instant::now();
        let outcome = self
            .api
            .post(
                "/v1/session/call",
                Some(&session.token),
                request.to_string(),
            )
            .await;
        let latency = clock.elapsed();
        session.last_active = Instant::now();
        self.tally.calls.record(&outcome);
        let Ok(reply) = outcome.json() else {
            self.tally
                .counter_error(&outcome, LOAD_ERRORS, "counter call");
            return None;
        };
        if idle >= self.hibernate_after {
            self.tally.wake_latency.record(latency);
        } else {
            self.tally.call_latency.record(latency);
        }
        if let Some(by) = by {
            session.accepted(by, &mut self.tally);
        }
        let Some(value) = reply["value"].as_i64() else {
            self.tally.unexpected += 1;
            self.tally.problem(format!("counter call: reply {reply}"));
            return None;
        };
        session.observe(value, &mut self.tally, "counter call");
        Some(value)
    }

    /// A cast of `incr` by `by`; counted as accepted on 202.
    async fn counter_cast(&mut self, session: &mut CounterSession, by: i64) {
        let message = json!({"op": "incr", "by": by}).to_string();
        let clock = Instant::now();
        let outcome = self
            .api
            .post("/v1/session/cast", Some(&session.token), message)
            .await;
        session.last_active = Instant::now();
        self.tally.casts.record(&outcome);
        match outcome {
            Outcome::Ok(..) => {
                self.tally.cast_latency.record(clock.elapsed());
                session.accepted(by, &mut self.tally);
            }
            _ => self
                .tally
                .counter_error(&outcome, LOAD_ERRORS, "counter cast"),
        }
    }

    /// Many casts at once, a few more than the mailbox holds, then a `get` that must see
    /// exactly the accepted ones.
    async fn burst(&mut self, session: &mut CounterSession) {
        self.tally.bursts += 1;
        let n = self.rng.random_range(2..=self.mailbox + 8);
        let message = json!({"op": "incr", "by": 1}).to_string();
        let api = &self.api;
        let sends =
            (0..n).map(|_| api.post("/v1/session/cast", Some(&session.token), message.clone()));
        let outcomes = join_all(sends).await;
        for outcome in &outcomes {
            self.tally.casts.record(outcome);
            match outcome {
                Outcome::Ok(..) => session.accepted(1, &mut self.tally),
                _ => self.tally.counter_error(outcome, LOAD_ERRORS, "burst cast"),
            }
        }
        self.counter_call(session, None).await;
    }

    /// Reads the final state, ends the session, and checks that it is gone. `true` when the
    /// session ended (it must then be replaced).
    async fn terminate(&mut self, session: &mut CounterSession) -> bool {
        let subscribe = self.rng.random_bool(0.5);
        if self.counter_call(session, None).await.is_none() {
            return false;
        }
        let events = if subscribe {
            self.open_events(session).await
        } else {
            None
        };
        let outcome = self.api.delete(&session.token).await;
        self.tally.control.record(&outcome);
        if !matches!(outcome, Outcome::Ok(..)) {
            self.tally.counter_error(&outcome, LOAD_ERRORS, "terminate");
            return false;
        }
        self.tally.terminated += 1;
        self.tally.final_checked += 1;
        if let Some(events) = events {
            self.expect_terminated(events).await;
        }
        let gone = self
            .api
            .post(
                "/v1/session/call",
                Some(&session.token),
                json!({"op": "get"}).to_string(),
            )
            .await;
        self.tally.control.record(&gone);
        if gone.kind() != Some("session_not_found") {
            self.tally.unexpected += 1;
            self.tally
                .problem(format!("a terminated session still answers: {gone:?}"));
        }
        true
    }

    /// The final check of a session still owned at the end: a `get` equal to the start
    /// value plus every accepted increment.
    pub(crate) async fn final_counter(&mut self, session: &mut CounterSession) {
        for _ in 0..FINAL_ATTEMPTS {
            let before = self.tally.calls.typed;
            if self.counter_call(session, None).await.is_some() {
                self.tally.final_checked += 1;
                return;
            }
            if self.tally.calls.typed == before {
                return; // lost or unexpected: already counted
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        self.tally.unexpected += 1;
        self.tally
            .problem("final get: load errors on every attempt".to_owned());
    }

    /// An `incr` call or a cast to a shared counter.
    pub(crate) async fn shared_op(&mut self, shared: &SharedCounter, last_seen: &mut i64) {
        let by = self.rng.random_range(1..=3);
        let message = json!({"op": "incr", "by": by}).to_string();
        if self.rng.random_bool(0.5) {
            let floor = shared.floor();
            let outcome = self
                .api
                .post("/v1/session/call", Some(&shared.token), message)
                .await;
            self.tally.calls.record(&outcome);
            match outcome.json().map(|reply| reply["value"].as_i64()) {
                Ok(Some(value)) => {
                    shared.accepted(by);
                    self.tally.increments += 1;
                    shared.observe(value, floor + by, last_seen, &mut self.tally, "shared call");
                }
                Ok(None) => {
                    self.tally.unexpected += 1;
                    self.tally.problem("shared call: no value in the reply");
                }
                Err(_) => self
                    .tally
                    .counter_error(&outcome, LOAD_ERRORS, "shared call"),
            }
        } else {
            let outcome = self
                .api
                .post("/v1/session/cast", Some(&shared.token), message)
                .await;
            self.tally.casts.record(&outcome);
            if matches!(outcome, Outcome::Ok(..)) {
                shared.accepted(by);
                self.tally.increments += 1;
            } else {
                self.tally
                    .counter_error(&outcome, LOAD_ERRORS, "shared cast");
            }
        }
    }
}
