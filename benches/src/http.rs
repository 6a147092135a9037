//! HTTP figures: counter calls through the `sessionhost` server on loopback, next to a plain
//! axum handler doing the same counter update natively.
//!
//! Both servers run in this process on the report's runtime and answer the same request,
//! `POST /v1/session/call` with `{"op":"incr","by":1}` and a session cookie, with
//! `{"value":N}`. The load generator ([`load`]) is a set of `reqwest` clients, each with its
//! own cookie jar (one visitor, one session) and one keep-alive connection, each sending its
//! next request when the previous one is answered, for a fixed time. Every reply is checked:
//! a client's last value must equal the number of increments it sent, so a server that
//! answers fast but wrong fails the report instead of flattering it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;
use serde_json::{Value, json};
use sessionhost::Host;
use sessionhost::http::{HttpConfig, TokenKeys};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::Latencies;

/// The request every client sends.
pub const INCR: &str = r#"{"op":"incr","by":1}"#;

/// The cookie both servers use.
const COOKIE: &str = "sessionhost";

/// A server under load: where it listens and how to stop it.
#[derive(Debug)]
pub struct Running {
    /// The loopback address it listens on.
    pub addr: SocketAddr,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    /// Stops the server and waits until it has finished (for the host: every session ended).
    pub async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// Serves `host` with the `sessionhost` router (default HTTP configuration) on `127.0.0.1:0`.
pub async fn serve_host(host: Host) -> anyhow::Result<Running> {
    let config = HttpConfig::default();
    let keys = TokenKeys::new(&[[42u8; 32]])?;
    let router = sessionhost::http::router(host.clone(), &config, keys)?;
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        sessionhost::http::serve(listener, router, host, &config, async {
            let _ = stopped.await;
        })
        .await;
    });
    Ok(Running { addr, stop, task })
}

/// The counters of the native baseline: one per visitor, found by cookie value.
#[derive(Debug, Default)]
struct Counters {
    by_visitor: papaya::HashMap<u64, AtomicI64>,
    next: AtomicU64,
}

/// The request body of the native handler: the counter guest's protocol.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Call {
    Incr { by: Option<i64> },
    Get,
}

/// The native baseline's handler: find (or create) the visitor's counter by cookie, apply the
/// call, reply with the value; the same JSON in and out as the counter guest.
async fn native_call(
    State(counters): State<Arc<Counters>>,
    headers: HeaderMap,
    Json(call): Json<Call>,
) -> Response {
    let known = headers
        .get(header::COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split("; ").find_map(|c| c.strip_prefix("sessionhost=")))
        .and_then(|v| v.parse::<u64>().ok());
    let (visitor, fresh) = match known {
        Some(visitor) => (visitor, false),
        None => (counters.next.fetch_add(1, Ordering::Relaxed), true),
    };
    let map = counters.by_visitor.pin();
    let counter = map.get_or_insert_with(visitor, || AtomicI64::new(0));
    let value = match call {
        Call::Incr { by } => {
            counter.fetch_add(by.unwrap_or(1), Ordering::Relaxed) + by.unwrap_or(1)
        }
        Call::Get => counter.load(Ordering::Relaxed),
    };
    let mut response = Json(json!({ "value": value })).into_response();
    if fresh {
        let cookie = format!("{COOKIE}={visitor}; Path=/; HttpOnly; SameSite=Lax");
        if let Ok(cookie) = HeaderValue::from_str(&cookie) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
    }
    response
}

/// Serves the native baseline (plain `axum::serve`) on `127.0.0.1:0`.
pub async fn serve_native() -> anyhow::Result<Running> {
    let router = axum::Router::new()
        .route("/v1/session/call", post(native_call))
        .with_state(Arc::new(Counters::default()));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok(Running { addr, stop, task })
}

/// What a load run measured.
#[derive(Debug, Default)]
pub struct LoadRun {
    /// Answered calls per second, all clients together.
    pub per_s: f64,
    /// Every call's latency, as the client saw it.
    pub latencies: Latencies,
}

/// Drives `addr` with `clients` concurrent visitors for `run_for` (after a short warm-up that
/// creates each visitor's session) and checks every answer.
pub async fn load(addr: SocketAddr, clients: usize, run_for: Duration) -> anyhow::Result<LoadRun> {
    let url = format!("http://{addr}/v1/session/call");
    let start = Arc::new(tokio::sync::Barrier::new(clients + 1));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (url, start) = (url.clone(), Arc::clone(&start));
            tokio::spawn(async move { visitor(url, start, run_for).await })
        })
        .collect();
    start.wait().await;
    let clock = Instant::now();
    let mut run = LoadRun::default();
    let mut answered = 0usize;
    for task in tasks {
        let latencies = task.await.context("load client panicked")??;
        answered += latencies.len();
        run.latencies.merge(latencies);
    }
    run.per_s = answered as f64 / clock.elapsed().as_secs_f64();
    Ok(run)
}

/// One visitor: creates its session with a first call, waits for the others, then calls until
/// `run_for` has passed, checking that the counter counts every call exactly once.
async fn visitor(
    url: String,
    start: Arc<tokio::sync::Barrier>,
    run_for: Duration,
) -> anyhow::Result<Latencies> {
    let client = reqwest::Client::builder()
        .cookie_store(true)
        .pool_max_idle_per_host(1)
        .build()?;
    let mut sent: i64 = 0;
    for _ in 0..10 {
        sent += 1;
        counted(&send(&client, &url).await?, sent)?;
    }
    start.wait().await;
    let mut latencies = Latencies::default();
    let deadline = Instant::now() + run_for;
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let clock = Instant::now();
        last = send(&client, &url).await?;
        latencies.record(clock.elapsed());
        sent += 1;
    }
    if !latencies.is_empty() {
        counted(&last, sent)?;
    }
    Ok(latencies)
}

/// Checks that a reply carries the number of increments sent so far.
fn counted(reply: &Value, sent: i64) -> anyhow::Result<()> {
    anyhow::ensure!(
        reply["value"].as_i64() == Some(sent),
        "expected value {sent}, got {reply}"
    );
    Ok(())
}

/// One call; a reply other than 200 with a JSON body is an error.
async fn send(client: &reqwest::Client, url: &str) -> anyhow::Result<Value> {
    let response = client
        .post(url)
        .header(header::CONTENT_TYPE, "application/json")
        .body(INCR)
        .send()
        .await?;
    let status = response.status();
    let body = response.bytes().await?;
    anyhow::ensure!(
        status.is_success(),
        "status {status}: {}",
        String::from_utf8_lossy(&body)
    );
    Ok(serde_json::from_slice(&body)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_native_baseline_counts_per_visitor() {
        let server = serve_native().await.unwrap();
        let run = load(server.addr, 3, Duration::from_millis(100))
            .await
            .unwrap();
        assert!(run.latencies.len() > 3, "{}", run.latencies.len());
        assert!(run.per_s > 0.0);
        server.stop().await;
    }
}
