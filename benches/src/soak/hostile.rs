//! Hostile sessions mixed into the soak: the `hostile` test guest asked to loop, trap,
//! overflow its stack, bomb its memory, reply too large, spam logs, events and timers, stop
//! itself — between ordinary echo calls and counted casts.
//!
//! Their typed errors are expected and tallied apart (`hostile_errors`); what is checked is
//! that each answer is one the API promises (a reply or a typed error, never lost), that an
//! `echo` returns its data, that a misbehaving request is refused rather than answered, and
//! that the guest received exactly the casts the harness had accepted (its `count` call, plus
//! at most the timers it set, which arrive as casts). A session that ends (`temporary` restart
//! policy: a trap or limit ends it) answers `session_not_found` and is replaced. Some starts
//! ask for a misbehaving `init` and must be refused.

use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};

use crate::soak::api::Outcome;
use crate::soak::client::{Driver, pick};

/// Operations after which a hostile session is ended by the client and replaced.
const MAX_OPS: u32 = 150;

/// A hostile session one client owns.
#[derive(Debug)]
pub(crate) struct HostileSession {
    token: String,
    /// Casts the server accepted.
    casts: u64,
    /// Timers the guest set (each delivers one cast).
    timers: u64,
    /// Operations so far.
    ops: u32,
}

/// Hostile operations, by weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Echo,
    Record,
    Count,
    Grow,
    Loop,
    Trap,
    Stack,
    Huge,
    Error,
    LogSpam,
    Publish,
    Timers,
    Stop,
    CastTrap,
}

const MIX: &[(Op, u32)] = &[
    (Op::Echo, 25),
    (Op::Record, 20),
    (Op::Count, 10),
    (Op::Grow, 6),
    (Op::Loop, 1),
    (Op::Trap, 3),
    (Op::Stack, 2),
    (Op::Huge, 3),
    (Op::Error, 4),
    (Op::LogSpam, 3),
    (Op::Publish, 3),
    (Op::Timers, 3),
    (Op::Stop, 1),
    (Op::CastTrap, 1),
];

/// How long the final check waits for a hostile session's timers.
const SETTLE: Duration = Duration::from_secs(5);

/// What a `count` call told.
enum Received {
    /// The casts the guest received (`None`: the reply had no count).
    Casts(Option<u64>),
    /// The session has ended.
    Gone,
    /// A typed load error: nothing to check this time.
    Unknown,
}

/// `init` modes that must make a start fail.
const BAD_INITS: [&str; 3] = ["fail", "trap", "loop"];

impl Driver {
    /// Starts a hostile session; one start in five first asks for a failing `init`.
    pub(crate) async fn start_hostile(&mut self) -> Option<HostileSession> {
        if self.rng.random_ratio(1, 5) {
            let mode = BAD_INITS[self.rng.random_range(0..BAD_INITS.len())];
            let outcome = self
                .hostile_post(
                    "/v1/sessions",
                    None,
                    json!({"guest": "hostile", "args": {"mode": mode}}),
                )
                .await;
            if matches!(outcome, Outcome::Ok(..)) {
                self.tally.unexpected += 1;
                self.tally
                    .problem(format!("a hostile init in mode {mode} started"));
            }
        }
        let spec = json!({"guest": "hostile", "args": {"mode": "ok"}});
        let outcome = self.hostile_post("/v1/sessions", None, spec).await;
        let token = outcome.json().ok()?["token"].as_str()?.to_owned();
        Some(HostileSession {
            token,
            casts: 0,
            timers: 0,
            ops: 0,
        })
    }

    /// One request to a hostile session or its start, counted in the hostile class.
    async fn hostile_post(&mut self, path: &str, token: Option<&str>, body: Value) -> Outcome {
        let outcome = self.api.post(path, token, body.to_string()).await;
        self.tally.hostile.record(&outcome);
        match &outcome {
            Outcome::Typed(_, kind) => self.tally.hostile_error(kind),
            Outcome::Lost(why) => self.tally.problem(format!("hostile {path}: lost: {why}")),
            Outcome::Ok(..) => {}
        }
        outcome
    }

    /// One operation; `false` when the session ended and must be replaced.
    pub(crate) async fn hostile_op(&mut self, session: &mut HostileSession) -> bool {
        session.ops += 1;
        if session.ops > MAX_OPS {
            if self.check_counts(session).await {
                let outcome = self.api.delete(&session.token).await;
                self.tally.hostile.record(&outcome);
                if let Outcome::Typed(_, kind) = &outcome {
                    self.tally.hostile_error(kind);
                }
                self.tally.hostile_ended += 1;
            }
            return false;
        }
        let op = pick(&mut self.rng, MIX);
        let (path, body) = match op {
            Op::Echo => {
                let data = self.rng.random_range(0..1_000_000);
                let outcome = self
                    .hostile_call(session, json!({"op": "echo", "data": data}))
                    .await;
                return match outcome.json() {
                    Ok(reply) if reply["data"] == data => true,
                    Ok(reply) => self.wrong(format!("echo {data} replied {reply}")),
                    Err(_) => self.still_there(session, &outcome).await,
                };
            }
            Op::Count => return self.check_counts(session).await,
            Op::Record => {
                let n = i64::from(session.ops);
                ("/v1/session/cast", json!({"op": "record", "n": n}))
            }
            Op::CastTrap => ("/v1/session/cast", json!({"op": "trap"})),
            Op::Grow => (
                "/v1/session/call",
                json!({"op": "grow", "mib": self.rng.random_range(1..=8)}),
            ),
            Op::Loop => ("/v1/session/call", json!({"op": "loop"})),
            Op::Trap => ("/v1/session/call", json!({"op": "trap"})),
            Op::Stack => ("/v1/session/call", json!({"op": "stack"})),
            Op::Huge => ("/v1/session/call", json!({"op": "huge", "bytes": 2 << 20})),
            Op::Error => ("/v1/session/call", json!({"op": "error", "message": "no"})),
            Op::LogSpam => ("/v1/session/call", json!({"op": "log_spam", "n": 200})),
            Op::Publish => (
                "/v1/session/call",
                json!({"op": "publish", "n": 50, "bytes": 200}),
            ),
            Op::Timers => (
                "/v1/session/call",
                json!({"op": "timers", "n": self.rng.random_range(1..=80), "delay_ms": self.rng.random_range(5..=50)}),
            ),
            Op::Stop => ("/v1/session/call", json!({"op": "stop", "reason": "soak"})),
        };
        let outcome = self.hostile_post(path, Some(&session.token), body).await;
        match (op, &outcome) {
            (Op::Record, Outcome::Ok(..)) => session.casts += 1,
            (Op::CastTrap, Outcome::Ok(..)) => return self.still_there(session, &outcome).await,
            (Op::Timers, Outcome::Ok(..)) => {
                session.timers += outcome
                    .json()
                    .ok()
                    .and_then(|r| r["ok"].as_u64())
                    .unwrap_or(0);
            }
            (Op::Stop, Outcome::Ok(..)) => return self.still_there(session, &outcome).await,
            (Op::Loop | Op::Trap | Op::Stack | Op::Huge | Op::Error, Outcome::Ok(..)) => {
                return self.wrong(format!("{op:?} was answered: {:?}", outcome.json()));
            }
            (_, Outcome::Typed(..)) => return self.still_there(session, &outcome).await,
            _ => {}
        }
        true
    }

    async fn hostile_call(&mut self, session: &HostileSession, request: Value) -> Outcome {
        self.hostile_post("/v1/session/call", Some(&session.token), request)
            .await
    }

    /// After an error or a self-inflicted end: is the session still there? `false` (replace
    /// it) when it answers `session_not_found`; otherwise its counts are checked.
    async fn still_there(&mut self, session: &mut HostileSession, outcome: &Outcome) -> bool {
        if outcome.kind() == Some("session_not_found") {
            self.tally.hostile_ended += 1;
            return false;
        }
        self.check_counts(session).await
    }

    /// Asks the guest how many casts it received.
    async fn received(&mut self, session: &HostileSession) -> Received {
        let outcome = self.hostile_call(session, json!({"op": "count"})).await;
        match outcome.json() {
            Ok(reply) => Received::Casts(reply["casts"].as_u64()),
            Err(_) if outcome.kind() == Some("session_not_found") => Received::Gone,
            Err(_) => Received::Unknown,
        }
    }

    /// Checks that the guest received at least the accepted casts and at most those plus
    /// its timers. `false` when the session is gone.
    async fn check_counts(&mut self, session: &mut HostileSession) -> bool {
        match self.received(session).await {
            Received::Gone => {
                self.tally.hostile_ended += 1;
                false
            }
            Received::Unknown => true,
            Received::Casts(n) => {
                let (low, high) = (session.casts, session.casts + session.timers);
                if !n.is_some_and(|n| n >= low && n <= high) {
                    self.count_mismatch(session, n);
                }
                true
            }
        }
    }

    /// The final check of a hostile session still owned at the end: once its timers have
    /// fired (polled for up to [`SETTLE`]), it must have received exactly every accepted
    /// cast and every timer.
    pub(crate) async fn final_hostile(&mut self, session: &mut HostileSession) {
        let until = Instant::now() + SETTLE;
        let expected = session.casts + session.timers;
        loop {
            match self.received(session).await {
                Received::Casts(Some(n)) if n == expected => {
                    self.tally.final_checked += 1;
                    return;
                }
                Received::Casts(Some(n)) if n >= session.casts && n < expected => {}
                Received::Casts(n) => return self.count_mismatch(session, n),
                Received::Unknown => {}
                Received::Gone => {
                    self.tally.hostile_ended += 1;
                    return;
                }
            }
            if Instant::now() >= until {
                self.tally.mismatches += 1;
                self.tally.problem(format!(
                    "hostile: timers not all delivered within {SETTLE:?} ({expected} casts due)"
                ));
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn count_mismatch(&mut self, session: &HostileSession, received: Option<u64>) {
        self.tally.mismatches += 1;
        self.tally.problem(format!(
            "hostile: guest received {received:?} casts, accepted {} + {} timers",
            session.casts, session.timers
        ));
    }

    fn wrong(&mut self, what: String) -> bool {
        self.tally.unexpected += 1;
        self.tally.problem(format!("hostile: {what}"));
        true
    }
}
