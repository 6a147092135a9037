//! Quickstart: run counter sessions through the library and show what happens.
//!
//! `make run` builds the example guests and runs this with the counter component:
//!
//! ```text
//! cargo run --release -p sessionhost --example quickstart -- target/guests/counter.wasm
//! ```
//!
//! It loads the guest, starts a few sessions, sends them calls and casts, shows that their
//! states are separate, snapshots one and restores it as a new session, then terminates them
//! and prints the host's figures.

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use sessionhost::{GuestSource, LoadOptions};
use sessionhost::{Host, HostConfig, SessionEvent, StartOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "sessionhost=info".into()),
        )
        .with_target(false)
        .init();

    let Some(path) = std::env::args().nth(1) else {
        bail!("usage: quickstart PATH/TO/counter.wasm");
    };
    let config = HostConfig::builder()
        .default_guest("counter")
        .rate_limit(0)
        .call_timeout(Duration::from_secs(2))
        .build()?;
    let host = Host::new(config)?;
    let guest = host
        .load_guest("counter", GuestSource::file(&path), LoadOptions::default())
        .await
        .with_context(|| format!("loading {path}"))?;
    say(&format!(
        "loaded guest `counter` version {} ({} KiB)",
        guest.version,
        guest.size_bytes / 1024
    ));

    // Two sessions of the same guest: separate instances, separate state.
    let alice = host.start(StartOptions::default()).await?;
    let bob = host
        .start(StartOptions::default().args(r#"{"start":100}"#))
        .await?;
    say(&format!("started sessions {alice} and {bob}"));

    let mut events = host.subscribe(&alice)?;
    show(&host, &alice, r#"{"op":"incr","by":2}"#).await?;
    show(&host, &alice, r#"{"op":"incr"}"#).await?;
    host.cast(&alice, br#"{"op":"incr","by":10}"#).await?;
    say("cast {\"op\":\"incr\",\"by\":10} to alice (no reply; handled before her next call)");
    show(&host, &alice, r#"{"op":"get"}"#).await?;
    show(&host, &bob, r#"{"op":"get"}"#).await?;

    while let Ok(SessionEvent::Published(event)) = events.try_recv() {
        say(&format!(
            "alice published {}",
            String::from_utf8_lossy(&event)
        ));
    }

    // A guest error is a reply, not a crash: the session keeps running.
    match host.call(&alice, br#"{"op":"fly"}"#, None).await {
        Err(e) => say(&format!("bad request -> {} ({})", e, e.kind())),
        Ok(reply) => say(&format!(
            "unexpected reply {}",
            String::from_utf8_lossy(&reply)
        )),
    }

    // Snapshot alice and bring the state back as a new session.
    if let Some(state) = host.snapshot(&alice).await? {
        let version = host.info(&alice)?.version.hash;
        let copy = host
            .start(StartOptions::default().restore(state, version))
            .await?;
        say(&format!("restored alice's snapshot as {copy}"));
        show(&host, &copy, r#"{"op":"get"}"#).await?;
    }

    let info = host.info(&alice)?;
    say(&format!(
        "alice: {} calls, {} casts, {} fuel, {} KiB linear memory",
        info.calls,
        info.casts,
        info.fuel_used,
        info.memory_bytes / 1024
    ));

    // Creation speed, for a feel of the cost of a session.
    let n = 2_000;
    let t = Instant::now();
    let mut ids = Vec::with_capacity(n);
    for _ in 0..n {
        ids.push(host.start(StartOptions::default()).await?);
    }
    let elapsed = t.elapsed();
    say(&format!(
        "started {n} more sessions in {:.1} ms ({:.0}/s on one task)",
        elapsed.as_secs_f64() * 1e3,
        n as f64 / elapsed.as_secs_f64()
    ));

    for id in host.list() {
        host.terminate(&id).await?;
    }
    match events.recv().await {
        Ok(SessionEvent::Terminated(reason)) => say(&format!("alice's subscriber saw: {reason}")),
        other => say(&format!("alice's subscriber saw {other:?}")),
    }
    let stats = host.stats();
    say(&format!(
        "done: {} started, {} ended, {} guest messages, {} live",
        stats.started_total, stats.ended_total, stats.messages_total, stats.sessions
    ));
    Ok(())
}

async fn show(host: &Host, id: &str, request: &str) -> anyhow::Result<()> {
    let reply = host.call(id, request.as_bytes(), None).await?;
    say(&format!(
        "call {request} -> {}",
        String::from_utf8_lossy(&reply)
    ));
    Ok(())
}

fn say(line: &str) {
    #[expect(clippy::print_stdout, reason = "the example's output is the point")]
    {
        println!("  {line}");
    }
}
