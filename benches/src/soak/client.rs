//! One soak client: a task that owns a share of the sessions and drives them until the
//! deadline, then reads every live session's final state.
//!
//! A client sends one request at a time (a cast burst is the one exception: many casts to one
//! session at once), so the harness knows the exact state of each session it owns; see
//! `ledger.rs`. Each step picks a session at random — so sessions sit idle for random times,
//! and those idle past `hibernate_after` are woken by the step — and an operation from a
//! fixed mix: counter operations in `counter.rs`, SSE and WebSocket ones in `stream.rs`,
//! hostile ones in `hostile.rs`; one step in twenty goes to a shared counter instead. A
//! session that ends (terminated by the client, or a hostile one that trapped or stopped)
//! is replaced by a new one, after its final state was read.
//!
//! [`Driver`] holds what every operation needs (the HTTP client, the random source, the
//! tally); [`Client`] adds the sessions, so an operation can borrow one session and the
//! driver at once.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Barrier;
use tokio::time::Instant;

use crate::soak::api::Api;
use crate::soak::hostile::HostileSession;
use crate::soak::ledger::{CounterSession, SharedCounter, Tally};

/// Attempts to start a session before the client gives that session up.
const START_ATTEMPTS: u32 = 5;

/// What every operation needs.
#[derive(Debug)]
pub(crate) struct Driver {
    /// This client's connection pool.
    pub(crate) api: Api,
    /// The operation mix's random source, seeded per client.
    pub(crate) rng: SmallRng,
    /// What this client counted.
    pub(crate) tally: Tally,
    /// The host's `hibernate_after`: calls after a longer idle time are wake-ups.
    pub(crate) hibernate_after: Duration,
    /// The host's mailbox size: cast bursts go a little beyond it.
    pub(crate) mailbox: usize,
}

/// Picks a value by weight.
pub(crate) fn pick<T: Copy>(rng: &mut SmallRng, weighted: &[(T, u32)]) -> T {
    let total: u32 = weighted.iter().map(|(_, w)| w).sum();
    let mut roll = rng.random_range(0..total.max(1));
    for (value, weight) in weighted {
        if roll < *weight {
            return *value;
        }
        roll -= weight;
    }
    weighted[0].0
}

/// One client and the sessions it owns.
#[derive(Debug)]
pub(crate) struct Client {
    driver: Driver,
    counters: Vec<CounterSession>,
    hostiles: Vec<HostileSession>,
    shared: Arc<Vec<SharedCounter>>,
    /// This client's last value seen per shared counter.
    shared_seen: Vec<i64>,
    want_counters: usize,
    want_hostiles: usize,
}

impl Client {
    /// A client that will own `counters` counter and `hostiles` hostile sessions.
    pub(crate) fn new(
        api: Api,
        seed: u64,
        (counters, hostiles): (usize, usize),
        shared: Arc<Vec<SharedCounter>>,
        hibernate_after: Duration,
        mailbox: usize,
    ) -> Self {
        Self {
            driver: Driver {
                api,
                rng: SmallRng::seed_from_u64(seed),
                tally: Tally::default(),
                hibernate_after,
                mailbox,
            },
            counters: Vec::with_capacity(counters),
            hostiles: Vec::with_capacity(hostiles),
            shared_seen: vec![0; shared.len()],
            shared,
            want_counters: counters,
            want_hostiles: hostiles,
        }
    }

    /// Starts the sessions, waits at `ready` for every client, drives traffic for
    /// `duration`, checks every live session's final state, and returns the tally.
    pub(crate) async fn run(mut self, ready: Arc<Barrier>, duration: Duration) -> Tally {
        self.top_up().await;
        ready.wait().await;
        let deadline = Instant::now() + duration;
        while Instant::now() < deadline {
            self.step().await;
        }
        self.finish().await;
        self.driver.tally
    }

    /// Starts sessions until this client owns its share (bounded attempts each).
    async fn top_up(&mut self) {
        for _ in 0..START_ATTEMPTS {
            while self.counters.len() < self.want_counters {
                match self.driver.start_counter().await {
                    Some(session) => self.counters.push(session),
                    None => break,
                }
            }
            while self.hostiles.len() < self.want_hostiles {
                match self.driver.start_hostile().await {
                    Some(session) => self.hostiles.push(session),
                    None => break,
                }
            }
            if self.counters.len() == self.want_counters
                && self.hostiles.len() == self.want_hostiles
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// One operation on one session.
    async fn step(&mut self) {
        let d = &mut self.driver;
        if !self.shared.is_empty() && d.rng.random_ratio(1, 20) {
            let i = d.rng.random_range(0..self.shared.len());
            d.shared_op(&self.shared[i], &mut self.shared_seen[i]).await;
            return;
        }
        let owned = self.counters.len() + self.hostiles.len();
        if owned == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.top_up().await;
            return;
        }
        let i = d.rng.random_range(0..owned);
        if i < self.counters.len() {
            if !d.counter_op(&mut self.counters[i]).await {
                self.counters.swap_remove(i);
                if let Some(session) = self.driver.start_counter().await {
                    self.counters.push(session);
                }
            }
        } else {
            let i = i - self.counters.len();
            if !d.hostile_op(&mut self.hostiles[i]).await {
                self.hostiles.swap_remove(i);
                if let Some(session) = self.driver.start_hostile().await {
                    self.hostiles.push(session);
                }
            }
        }
    }

    /// Reads and checks the final state of every session this client still owns.
    async fn finish(&mut self) {
        for session in &mut self.counters {
            self.driver.final_counter(session).await;
        }
        for session in &mut self.hostiles {
            self.driver.final_hostile(session).await;
        }
    }
}
