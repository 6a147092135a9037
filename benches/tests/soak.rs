//! The short soak of `make test`: a few hundred sessions, 16 clients, about 12 s of mixed
//! traffic (calls, casts, bursts, SSE, WebSocket, terminations, hibernation wake-ups,
//! hostile sessions) against a real server on loopback, then the same checks as `make soak`:
//! no lost call or cast, no value other than the ledger's, no state regression, no error a
//! counter session must not get, no missing event, no stuck client, a clean shutdown, and
//! wake-ups from hibernation.

use sessionhost_bench::soak::{self, SoakConfig};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn short_soak_loses_nothing() {
    let config = SoakConfig::short();
    let summary = soak::run(&config, |line| eprintln!("soak: {line}"))
        .await
        .expect("the soak runs");
    eprintln!("{summary}");
    // Everything `make soak` fails on (lost requests, ledger mismatches, regressions,
    // unexpected answers, missing events, stuck clients, a failed shutdown)…
    assert!(summary.passed(), "{:?}\n{summary}", summary.failures());
    // …and enough of every kind of traffic to mean something.
    let t = &summary.tally;
    assert!(
        t.increments > 1_000,
        "too little traffic to mean anything\n{summary}"
    );
    assert!(t.final_checked as usize >= config.sessions / 2, "{summary}");
    assert!(t.terminated > 0 && t.hostile_ended > 0, "{summary}");
    assert!(t.websockets > 0 && t.subscriptions > 0, "{summary}");
}
