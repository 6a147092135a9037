//! Live subscriptions: Server-Sent Events and WebSocket.
//!
//! Both forward what the guest publishes, in order, and tell the client when the session
//! ends. Each subscriber has its own bounded buffer ([`SUBSCRIBER_BUFFER`] events): one that
//! falls further behind is dropped with a clear reason — it never slows the session or the
//! other subscribers.
//!
//! **SSE** (`GET /v1/session/events`): a first comment `: subscribed` once the subscription
//! is in place, then `event: publish` with the event as data (UTF-8 text;
//! other bytes as unpadded base64 in `event: publish-base64`), then `event: terminated` with
//! the stop reason as JSON (`{"reason":"normal"}`), or `event: dropped` if the subscriber fell
//! behind; the stream then ends.
//!
//! **WebSocket** (`GET /v1/session/ws`), JSON envelopes in text frames:
//! - client → server: `{"type":"call","id":X,"data":D}` calls the guest with `D` (as JSON
//!   text) and gets `{"type":"reply","id":X,"data":R}` or
//!   `{"type":"error","id":X,"error":kind,"message":text}`; `{"type":"cast","data":D}` casts;
//!   any other frame (text or binary) is cast as it is.
//! - server → client: `{"type":"event","data":E}` for each published event (`E` is the
//!   event's JSON, or `{"type":"event","text":T}` when it is not JSON; binary frames when not
//!   UTF-8). When the session ends: a close frame, code 1000, with the stop reason as JSON;
//!   when the subscriber fell behind: code 1008; when a client frame is larger than
//!   `max_message_bytes` or breaks the protocol: code 1009 with a reason, and only that socket
//!   ends (the session and its other subscribers carry on).
//!
//! [`SUBSCRIBER_BUFFER`]: crate::SUBSCRIBER_BUFFER

use std::convert::Infallible;

use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade, close_code};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use futures_util::Stream;
use serde_json::{Value, json};
use sessionhost_wire::ws::{self, ClientFrame, EventFrame};
use tokio::sync::broadcast::error::RecvError;

use crate::http::error::ApiError;
use crate::http::session::Session;
use crate::{SessionEvent, SessionEvents, StopReason};

/// `GET /v1/session/events`.
pub(crate) async fn events(
    session: Session,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let receiver = session.subscribe().await?;
    let stream = futures_util::stream::unfold(Some(receiver), |state| async move {
        let mut receiver = state?;
        let (event, next) = match receiver.recv().await {
            Ok(SessionEvent::Published(bytes)) => (published(&bytes), Some(receiver)),
            Ok(SessionEvent::Restarted {
                reason,
                from_checkpoint,
                lost_messages,
            }) => (
                Event::default()
                    .event("restarted")
                    .data(restarted(&reason, from_checkpoint, lost_messages).to_string()),
                Some(receiver),
            ),
            Ok(SessionEvent::Terminated(reason)) => {
                let data = serde_json::to_string(&reason).unwrap_or_default();
                (Event::default().event("terminated").data(data), None)
            }
            Err(RecvError::Lagged(n)) => (
                Event::default().event("dropped").data(format!(
                    "this subscriber fell {n} events behind and was dropped"
                )),
                None,
            ),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), next))
    });
    // A first comment line says the subscription is in place (EventSource ignores comments;
    // a script can wait for it before it makes the session publish or end).
    let opened = futures_util::stream::once(std::future::ready(Ok(
        Event::default().comment("subscribed")
    )));
    Ok(Sse::new(futures_util::StreamExt::chain(opened, stream)).keep_alive(KeepAlive::default()))
}

fn published(bytes: &[u8]) -> Event {
    match std::str::from_utf8(bytes) {
        Ok(text) => Event::default().event("publish").data(text),
        Err(_) => Event::default()
            .event("publish-base64")
            .data(STANDARD_NO_PAD.encode(bytes)),
    }
}

/// `GET /v1/session/ws`.
pub(crate) async fn websocket(
    session: Session,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let events = session.subscribe().await?;
    let max = session.host().config().max_message_bytes.as_u64() as usize;
    Ok(upgrade
        .max_message_size(max)
        .on_upgrade(move |socket| serve_socket(socket, session, events, max))
        .into_response())
}

async fn serve_socket(
    mut socket: WebSocket,
    session: Session,
    mut events: SessionEvents,
    max: usize,
) {
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let outgoing = match incoming {
                    None | Some(Ok(Message::Close(_))) => return,
                    Some(Err(error)) => {
                        // A frame over `max_message_bytes` or a protocol violation: say so
                        // in a close frame (best effort, the socket may be unusable), end
                        // this socket only; the session is not touched.
                        tracing::debug!(%error, "websocket frame rejected");
                        let reason = format!("frame rejected: malformed or larger than {max} bytes");
                        let _ = socket.send(close(close_code::SIZE, &reason)).await;
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
                    && socket.send(Message::Text(reply.to_string().into())).await.is_err()
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
                    Err(RecvError::Lagged(n)) => (
                        close(close_code::POLICY, &format!("subscriber too slow: {n} events dropped")),
                        true,
                    ),
                    Err(RecvError::Closed) => return,
                };
                if socket.send(frame).await.is_err() || last {
                    return;
                }
            }
        }
    }
}

/// Handles a client frame; returns the answer to send, if any.
async fn on_frame(session: &Session, frame: ClientFrame<'_>) -> Option<Value> {
    match frame {
        ClientFrame::Call { id, request } => Some(match session.call(&request).await {
            Ok(reply) => ws::reply_frame(id, &reply),
            Err(e) => error_frame(Some(id), &e),
        }),
        ClientFrame::Cast { message } => cast(session, &message).await,
        ClientFrame::Raw(bytes) => cast(session, bytes).await,
    }
}

async fn cast(session: &Session, bytes: &[u8]) -> Option<Value> {
    match session.cast(bytes).await {
        Ok(()) => None,
        Err(e) => Some(error_frame(None, &e)),
    }
}

fn error_frame(id: Option<Value>, error: &ApiError) -> Value {
    let (_, problem) = error.parts();
    ws::error_frame(id, problem.error, &problem.message)
}

/// What subscribers are told of a restart.
fn restarted(reason: &StopReason, from_checkpoint: bool, lost_messages: u64) -> Value {
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
