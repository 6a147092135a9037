//! `GET /v1/session/ws`: calls, casts and a session's events over one WebSocket.
//!
//! JSON envelopes in text frames:
//! - client → server: `{"type":"call","id":X,"data":D}` calls the guest with `D` (as JSON
//!   text) and gets `{"type":"reply","id":X,"data":R}` or
//!   `{"type":"error","id":X,"error":kind,"message":text}`; `{"type":"cast","data":D}` casts;
//!   any other frame (text or binary) is cast as it is.
//! - A reply that is not UTF-8 comes as a **binary** frame: the envelope
//!   `{"type":"reply","id":X}`, a newline, then the reply's bytes unaltered.
//! - server → client: `{"type":"event","data":E}` for each published event (`E` is the
//!   event's JSON, or `{"type":"event","text":T}` when it is not JSON; binary frames when not
//!   UTF-8), `{"type":"restarted",...}` after a supervised restart. When the session ends: a
//!   close frame, code 1000, with the stop reason as JSON; when the subscriber was dropped
//!   for falling behind: 1008 with the reason; when a client frame is larger than
//!   `max_message_bytes` (refused from its header, before its payload is read) or breaks the
//!   protocol: 1009 with a reason, and only that socket ends.
//!
//! The route never starts a session (204 without one, like SSE). The server pings every
//! `ws_ping_interval` so proxies keep idle sockets open. A client that stops reading cannot
//! hold the socket past the end: once the session ends or the subscriber is dropped, what is
//! left to send (the close frame included) has `stream_close_grace`, then the socket is
//! dropped. The socket keeps its place under `max_connections` for its whole life
//! (`conn.rs`) and its stream place (`streams.rs`) until it ends.

use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, close_code};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use sessionhost_wire::ws::{self, ClientFrame, EventFrame, ReplyFrame};
use tokio::time::Instant;

use crate::http::error::{ApiError, Problem};
use crate::http::extract::Upgrade;
use crate::http::session::{Pending, Session};
use crate::http::sse::{existing_or_204, subscribe};
use crate::http::streams::StreamPermit;
use crate::{EndWatch, RecvError, SessionEvent, SessionEvents, StopReason};

/// What a socket's task needs to know.
#[derive(Clone, Copy, Debug)]
struct Settings {
    max: usize,
    ping_every: Duration,
    grace: Duration,
}

/// `GET /v1/session/ws`. The handshake is checked first: a request that is not one is
/// refused (400) before anything else is looked at.
#[utoipa::path(
    get,
    path = "/v1/session/ws",
    tag = "session",
    operation_id = "websocket",
    summary = "Subscribe and talk over a WebSocket",
    description = "Client frames: `{\"type\":\"call\",\"id\":X,\"data\":D}` (answered by `{\"type\":\"reply\",\"id\":X,\"data\":R}` — or, for a reply that is not UTF-8, a binary frame: `{\"type\":\"reply\",\"id\":X}`, a newline, the reply's bytes — or `{\"type\":\"error\",...}`), `{\"type\":\"cast\",\"data\":D}`, or raw casts. Server frames: `{\"type\":\"event\",\"data\":E}`, pings every `ws_ping_interval`; a close frame 1000 carrying the stop reason when the session ends, 1008 when the subscriber was dropped for falling behind, 1009 for a frame over `max_message_bytes`. Never starts a session.",
    params(
        ("upgrade" = String, Header, description = "`websocket`.", pattern = "^[Ww][Ee][Bb][Ss][Oo][Cc][Kk][Ee][Tt]$"),
        ("connection" = String, Header, description = "`Upgrade`.", pattern = "^[Uu][Pp][Gg][Rr][Aa][Dd][Ee]$"),
        ("sec-websocket-version" = String, Header, description = "`13`.", pattern = "^13$"),
        ("sec-websocket-key" = String, Header, description = "16 random bytes in base64.", pattern = "^[A-Za-z0-9+/]{21}[AQgw]==$"),
    ),
    responses(
        (status = 101, description = "Switching protocols."),
        (status = 204, description = "No session (no token, or its session has ended); the cookie is expired.",
            headers(("set-cookie" = String, description = "The session cookie (`HttpOnly; SameSite=Lax; Path=/`): set when a session was started, expired when it was ended or its token did not verify."))),
        (status = 400, description = "Not a WebSocket handshake (`bad_request`), or a token that does not verify (`invalid_session_id`).", body = Problem),
        (status = 429, description = "Too many streams for this session or client (`too_many_streams`).", body = Problem),
        (status = 503, description = "The streams' share of the connections is taken, or overloaded.", body = Problem),
    )
)]
pub(crate) async fn websocket(
    Upgrade(upgrade): Upgrade,
    pending: Pending,
) -> Result<Response, ApiError> {
    let session = match existing_or_204(pending).await? {
        Ok(session) => session,
        Err(no_content) => return Ok(no_content),
    };
    let (permit, events) = subscribe(&session).await?;
    let config = &session.request().state.config;
    let max =
        usize::try_from(session.host().config().max_message_bytes.as_u64()).unwrap_or(usize::MAX);
    let settings = Settings {
        max,
        ping_every: config.ws_ping_interval,
        grace: config.stream_close_grace,
    };
    Ok(upgrade
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| serve_socket(socket, session, events, permit, settings))
        .into_response())
}

/// The socket's sending side: every send is bounded once the subscription is over.
struct Sender {
    socket: WebSocket,
    watch: EndWatch,
    grace: Duration,
    /// Set when the subscription ended: nothing more may be sent after it.
    deadline: Option<Instant>,
}

impl Sender {
    /// Sends `message`; false if the socket is gone or the client did not take it in time.
    async fn send(&mut self, message: Message) -> bool {
        let send = self.socket.send(message);
        let mut send = std::pin::pin!(send);
        if self.deadline.is_none() {
            tokio::select! {
                sent = &mut send => return sent.is_ok(),
                () = self.watch.over() => {
                    self.deadline = Some(Instant::now() + self.grace);
                }
            }
        }
        let deadline = self.deadline.unwrap_or_else(Instant::now);
        matches!(tokio::time::timeout_at(deadline, send).await, Ok(Ok(())))
    }
}

async fn serve_socket(
    socket: WebSocket,
    session: Session,
    mut events: SessionEvents,
    permit: StreamPermit,
    settings: Settings,
) {
    let _place = permit;
    let mut out = Sender {
        socket,
        watch: events.watch(),
        grace: settings.grace,
        deadline: None,
    };
    let mut pings = (!settings.ping_every.is_zero()).then(|| {
        let mut pings =
            tokio::time::interval_at(Instant::now() + settings.ping_every, settings.ping_every);
        pings.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        pings
    });
    loop {
        let ping = async {
            match pings.as_mut() {
                Some(pings) => drop(pings.tick().await),
                None => std::future::pending::<()>().await,
            }
        };
        tokio::select! {
            incoming = out.socket.recv() => {
                let outgoing = match incoming {
                    None | Some(Ok(Message::Close(_))) => return,
                    Some(Err(error)) => {
                        // A frame over `max_message_bytes` or a protocol violation: say so
                        // in a close frame (best effort, the socket may be unusable), end
                        // this socket only; the session is not touched.
                        tracing::debug!(%error, "websocket frame rejected");
                        let reason = format!(
                            "frame rejected: malformed or larger than {} bytes",
                            settings.max
                        );
                        let close = close(close_code::SIZE, &reason);
                        let _ = tokio::time::timeout(settings.grace, out.socket.send(close)).await;
                        return;
                    }
                    Some(Ok(Message::Text(text))) => {
                        on_frame(&session, ClientFrame::parse_text(text.as_bytes())).await
                    }
                    Some(Ok(Message::Binary(bytes))) => {
                        on_frame(&session, ClientFrame::parse_binary(&bytes)).await
                    }
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => None,
                };
                if let Some(reply) = outgoing
                    && !out.send(reply).await
                {
                    return;
                }
            }
            event = events.recv() => {
                let (frame, last) = match event {
                    Ok(SessionEvent::Published(bytes)) => (event_frame(&bytes), false),
                    Ok(SessionEvent::Restarted { reason, from_checkpoint, lost_messages }) => {
                        let mut frame = restarted(&reason, from_checkpoint, lost_messages);
                        frame["type"] = json!("restarted");
                        (Message::Text(frame.to_string().into()), false)
                    }
                    Ok(SessionEvent::Terminated(reason)) => {
                        let reason = serde_json::to_string(&reason).unwrap_or_default();
                        (close(close_code::NORMAL, &reason), true)
                    }
                    Err(RecvError::Dropped(reason)) => (
                        close(close_code::POLICY, &format!("subscriber dropped: {reason}")),
                        true,
                    ),
                    Err(RecvError::Closed) => return,
                };
                if !out.send(frame).await || last {
                    return;
                }
            }
            () = ping => {
                if !out.send(Message::Ping(Default::default())).await {
                    return;
                }
            }
        }
    }
}

/// Handles a client frame; returns the answer to send, if any.
async fn on_frame(session: &Session, frame: ClientFrame<'_>) -> Option<Message> {
    match frame {
        ClientFrame::Call { id, request } => Some(match session.call(&request).await {
            Ok(reply) => match ws::reply_message(id, &reply) {
                ReplyFrame::Text(text) => Message::Text(text.into()),
                ReplyFrame::Binary(bytes) => Message::Binary(bytes.into()),
            },
            Err(e) => text(&error_frame(Some(id), &e)),
        }),
        ClientFrame::Cast { message } => cast(session, &message).await,
        ClientFrame::Raw(bytes) => cast(session, bytes).await,
    }
}

async fn cast(session: &Session, bytes: &[u8]) -> Option<Message> {
    match session.cast(bytes).await {
        Ok(()) => None,
        Err(e) => Some(text(&error_frame(None, &e))),
    }
}

fn text(value: &Value) -> Message {
    Message::Text(value.to_string().into())
}

fn error_frame(id: Option<Value>, error: &ApiError) -> Value {
    let (_, problem) = error.parts();
    ws::error_frame(id, problem.error, &problem.message)
}

/// What subscribers are told of a restart.
pub(crate) fn restarted(reason: &StopReason, from_checkpoint: bool, lost_messages: u64) -> Value {
    json!({
        "reason": reason,
        "from_checkpoint": from_checkpoint,
        "lost_messages": lost_messages,
    })
}

fn event_frame(bytes: &[u8]) -> Message {
    match ws::event_frame(bytes) {
        EventFrame::Text(text) => Message::Text(text.into()),
        EventFrame::Binary(bytes) => Message::Binary(bytes.into()),
    }
}

/// A close frame; the reason is cut to the 123 bytes a close frame can carry.
fn close(code: u16, reason: &str) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: Utf8Bytes::from(ws::close_reason(reason)),
    }))
}
