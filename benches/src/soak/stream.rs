//! Subscriptions to counter sessions: Server-Sent Events and WebSocket.
//!
//! **SSE**: the client subscribes, makes one to four `incr` calls, and must then receive
//! exactly one `publish` event per call, carrying the values the calls returned, in order.
//! Before a terminate it may subscribe too, and must then get `terminated` with reason
//! `normal`.
//!
//! **WebSocket**: the client sends a random sequence of casts (sent without waiting) and
//! calls (waiting for their reply), then a final `get`. The server handles frames in order,
//! so the error frames of refused casts arrive before the reply of the next call: at each
//! reply the casts sent since the previous one are settled (accepted = sent − refused), and
//! the reply must carry exactly the expected value. Published events must never go back.

use std::pin::Pin;
use std::time::Duration;

use futures_util::{SinkExt, Stream, StreamExt};
use rand::Rng;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::soak::api::{CLIENT_TIMEOUT, Outcome, TOKEN_HEADER, classify};
use crate::soak::client::Driver;
use crate::soak::counter::LOAD_ERRORS;
use crate::soak::ledger::{CounterSession, Tally};

/// How long a subscriber waits for an event it is owed.
const EVENT_WAIT: Duration = Duration::from_secs(5);

/// An open SSE stream and the text not yet parsed.
pub(crate) struct Events {
    body: Pin<Box<dyn Stream<Item = reqwest::Result<axum::body::Bytes>> + Send>>,
    buffer: String,
}

impl std::fmt::Debug for Events {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}

impl Events {
    /// The next event as (name, data); `None` when the stream ends or `until` passes.
    async fn next(&mut self, until: Instant) -> Option<(String, String)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let (mut name, mut data) = (String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event:") {
                        name = v.trim().to_owned();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.trim_start());
                    }
                }
                if name.is_empty() {
                    continue; // a keep-alive comment
                }
                return Some((name, data));
            }
            let chunk = timeout_at(until, self.body.next()).await.ok()??.ok()?;
            self.buffer.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

impl Driver {
    /// Subscribes to the session's events (SSE); `None` if refused (counted).
    pub(crate) async fn open_events(&mut self, session: &CounterSession) -> Option<Events> {
        let request = self
            .api
            .client()
            .get(self.api.url("/v1/session/events"))
            .header(TOKEN_HEADER, &session.token);
        let outcome = match request.send().await {
            Ok(response) if response.status().is_success() => {
                self.tally
                    .control
                    .record(&Outcome::Ok(response.status(), Vec::new()));
                self.tally.subscriptions += 1;
                return Some(Events {
                    body: Box::pin(response.bytes_stream()),
                    buffer: String::new(),
                });
            }
            Ok(response) => {
                let status = response.status();
                let body = response
                    .bytes()
                    .await
                    .map(|b| b.to_vec())
                    .unwrap_or_default();
                classify(status, body)
            }
            Err(e) => Outcome::Lost(format!("subscribe: {e}")),
        };
        self.tally.control.record(&outcome);
        self.tally.counter_error(&outcome, LOAD_ERRORS, "subscribe");
        None
    }

    /// Subscribes, calls one to four times, and checks that each call's value was published.
    pub(crate) async fn subscribe(&mut self, session: &mut CounterSession) {
        let Some(mut events) = self.open_events(session).await else {
            return;
        };
        let mut replied = Vec::new();
        for _ in 0..self.rng.random_range(1..=4) {
            let by = self.rng.random_range(1..=5);
            if let Some(value) = self.counter_call(session, Some(by)).await {
                replied.push(value);
            }
        }
        let until = Instant::now() + EVENT_WAIT;
        let mut published = Vec::new();
        while published.len() < replied.len() {
            match events.next(until).await {
                Some((name, data)) if name == "publish" => {
                    let value = serde_json::from_str::<Value>(&data)
                        .ok()
                        .and_then(|v| v["value"].as_i64());
                    published.push(value.unwrap_or(i64::MIN));
                }
                Some(_) | None => break,
            }
        }
        if published != replied {
            self.tally.events_lost += replied.len().abs_diff(published.len()).max(1) as u64;
            self.tally.problem(format!(
                "SSE: calls replied {replied:?}, events published {published:?}"
            ));
        }
    }

    /// Waits for the final `terminated` event with reason `normal`.
    pub(crate) async fn expect_terminated(&mut self, mut events: Events) {
        let until = Instant::now() + EVENT_WAIT;
        loop {
            match events.next(until).await {
                Some((name, data)) if name == "terminated" => {
                    if data != r#"{"reason":"normal"}"# {
                        self.tally.unexpected += 1;
                        self.tally
                            .problem(format!("SSE: terminated with {data}, not normal"));
                    }
                    return;
                }
                Some(_) => continue,
                None => {
                    self.tally.events_lost += 1;
                    self.tally
                        .problem("SSE: no terminated event after DELETE".to_owned());
                    return;
                }
            }
        }
    }

    /// Opens a WebSocket to the session; `None` if refused (counted).
    async fn connect(&mut self, session: &CounterSession) -> Option<Socket> {
        let url = self.api.url("/v1/session/ws").replacen("http", "ws", 1);
        let mut request = url.into_client_request().ok()?;
        request
            .headers_mut()
            .insert(TOKEN_HEADER, session.token.parse().ok()?);
        let outcome = match timeout(CLIENT_TIMEOUT, tokio_tungstenite::connect_async(request)).await
        {
            Ok(Ok((socket, _))) => {
                self.tally.control.record(&Outcome::Ok(
                    reqwest::StatusCode::SWITCHING_PROTOCOLS,
                    Vec::new(),
                ));
                self.tally.websockets += 1;
                return Some(socket);
            }
            Ok(Err(tungstenite::Error::Http(response))) => {
                let status = reqwest::StatusCode::from_u16(response.status().as_u16())
                    .unwrap_or(reqwest::StatusCode::INTERNAL_SERVER_ERROR);
                classify(status, response.body().clone().unwrap_or_default())
            }
            Ok(Err(e)) => Outcome::Lost(format!("websocket: {e}")),
            Err(_) => Outcome::Lost("websocket: no handshake".to_owned()),
        };
        self.tally.control.record(&outcome);
        self.tally.counter_error(&outcome, LOAD_ERRORS, "websocket");
        None
    }

    /// A random sequence of casts and calls over one WebSocket, each reply checked.
    pub(crate) async fn websocket(&mut self, session: &mut CounterSession) {
        let Some(mut socket) = self.connect(session).await else {
            return;
        };
        let mut ws = WsLedger {
            cast_by: self.rng.random_range(1..=3),
            pending: 0,
            last_event: i64::MIN,
        };
        let steps = self.rng.random_range(3..=12);
        for step in 0..=steps {
            let kind = if step == steps {
                2
            } else {
                self.rng.random_range(0..3)
            };
            let frame = match kind {
                0 => json!({"type": "cast", "data": {"op": "incr", "by": ws.cast_by}}),
                1 => json!({"type": "call", "id": step, "data": {"op": "incr", "by": 1}}),
                _ => json!({"type": "call", "id": step, "data": {"op": "get"}}),
            };
            if socket
                .send(Message::Text(frame.to_string().into()))
                .await
                .is_err()
            {
                // The frame that failed is lost too.
                match kind {
                    0 => ws.pending += 1,
                    _ => self.tally.calls.lost += 1,
                }
                self.ws_lost(&mut ws, "websocket: send failed");
                return;
            }
            if kind == 0 {
                ws.pending += 1;
                continue;
            }
            let by = (kind == 1).then_some(1);
            if !ws
                .await_reply(&mut socket, step, by, session, &mut self.tally)
                .await
            {
                return;
            }
            session.last_active = std::time::Instant::now();
        }
        let _ = socket.close(None).await;
        let _ = timeout(Duration::from_secs(2), async {
            while let Some(Ok(_)) = socket.next().await {}
        })
        .await;
    }

    fn ws_lost(&mut self, ws: &mut WsLedger, why: &str) {
        self.tally.casts.lost += ws.pending;
        self.tally.problem(why.to_owned());
    }
}

/// What one WebSocket session has sent and seen.
struct WsLedger {
    /// The `by` of every cast on this socket (so refused ones need no matching).
    cast_by: i64,
    /// Casts sent since the last reply.
    pending: u64,
    /// The last published value received.
    last_event: i64,
}

impl WsLedger {
    /// Reads frames until the answer to call `id`; settles the casts before it and checks
    /// the reply. `false` when the socket broke (counted as lost).
    async fn await_reply(
        &mut self,
        socket: &mut Socket,
        id: u64,
        by: Option<i64>,
        session: &mut CounterSession,
        tally: &mut Tally,
    ) -> bool {
        let until = Instant::now() + CLIENT_TIMEOUT;
        let mut refused = 0;
        loop {
            let frame = match timeout_at(until, socket.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => {
                    serde_json::from_str::<Value>(&text).unwrap_or(Value::Null)
                }
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                other => {
                    tally.calls.lost += 1;
                    tally.casts.lost += self.pending;
                    tally.problem(format!("websocket: no reply to call {id}: {other:?}"));
                    return false;
                }
            };
            match (frame["type"].as_str(), frame["id"].as_u64()) {
                (Some("event"), _) => {
                    let value = frame["data"]["value"].as_i64().unwrap_or(i64::MIN);
                    if value < self.last_event {
                        tally.regressions += 1;
                        tally.problem(format!(
                            "websocket: event {value} after {}",
                            self.last_event
                        ));
                    }
                    self.last_event = self.last_event.max(value);
                }
                (Some("error"), None) => {
                    refused += 1;
                    let kind = frame["error"].as_str().unwrap_or("?").to_owned();
                    let outcome = Outcome::Typed(reqwest::StatusCode::SERVICE_UNAVAILABLE, kind);
                    tally.counter_error(&outcome, LOAD_ERRORS, "websocket cast");
                }
                (Some("reply" | "error"), Some(reply_id)) if reply_id == id => {
                    let accepted = self.pending.saturating_sub(refused);
                    tally.casts.answered += accepted;
                    tally.casts.typed += refused.min(self.pending);
                    for _ in 0..accepted {
                        session.accepted(self.cast_by, tally);
                    }
                    self.pending = 0;
                    if frame["type"] == "error" {
                        tally.calls.typed += 1;
                        let kind = frame["error"].as_str().unwrap_or("?").to_owned();
                        let outcome =
                            Outcome::Typed(reqwest::StatusCode::SERVICE_UNAVAILABLE, kind);
                        tally.counter_error(&outcome, LOAD_ERRORS, "websocket call");
                        return true;
                    }
                    tally.calls.answered += 1;
                    if let Some(by) = by {
                        session.accepted(by, tally);
                    }
                    match frame["data"]["value"].as_i64() {
                        Some(value) => session.observe(value, tally, "websocket call"),
                        None => {
                            tally.unexpected += 1;
                            tally.problem(format!("websocket: reply {frame}"));
                        }
                    }
                    return true;
                }
                _ => {
                    tally.unexpected += 1;
                    tally.problem(format!("websocket: unexpected frame {frame}"));
                }
            }
        }
    }
}
