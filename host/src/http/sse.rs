//! `GET /v1/session/events`: a session's events as Server-Sent Events.
//!
//! A first comment line, `: subscribed`, once the subscription is in place (`EventSource`
//! ignores comments; a script can wait for it before it makes the session publish or end);
//! then `event: publish` with the event as data (UTF-8 text; other bytes as unpadded base64 in
//! `event: publish-base64`), `event: restarted` after a supervised restart, then
//! `event: terminated` with the stop reason as JSON (`{"reason":"normal"}`), or
//! `event: dropped` with the reason when the subscriber fell past its budget (see
//! `events.rs`); the stream then ends.
//!
//! The route never starts a session: without one (no token, or the session ended) it answers
//! 204, which tells a browser's `EventSource` to stop reconnecting, and expires the cookie.
//! Responses carry `Cache-Control: no-cache` and `X-Accel-Buffering: no` (nginx would buffer
//! the stream otherwise), and `Connection: close`: a stream's connection ends with it.
//!
//! A client that stops reading cannot hold its connection once the stream is over: when the
//! session ends or the subscriber is dropped, the stream has `stream_close_grace` to deliver
//! its last event; then the server closes the connection (`conn.rs`).

use std::convert::Infallible;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD_NO_PAD;
use tokio::sync::oneshot;

use crate::http::conn::ConnectionHandle;
use crate::http::error::{ApiError, Problem};
use crate::http::session::{Pending, Session};
use crate::http::streams::StreamPermit;
use crate::{RecvError, SessionError, SessionEvent, SessionEvents};

/// The session of a stream route, or the answer for none: 204 and the cookie expired.
pub(crate) async fn existing_or_204(
    pending: Pending,
) -> Result<Result<Session, Response>, ApiError> {
    let request = pending.0.clone();
    match pending.existing().await {
        Ok(session) => Ok(Ok(session)),
        Err(ApiError::Session(SessionError::SessionNotFound)) => {
            request.clear_cookie();
            Ok(Err(StatusCode::NO_CONTENT.into_response()))
        }
        Err(e) => Err(e),
    }
}

/// A stream's place and subscription: the session, woken if it hibernates.
pub(crate) async fn subscribe(
    session: &Session,
) -> Result<(StreamPermit, SessionEvents), ApiError> {
    let permit = session
        .request()
        .state
        .streams
        .acquire(session.id(), session.request().client())?;
    let events = session.subscribe().await?;
    Ok((permit, events))
}

/// `GET /v1/session/events`.
#[utoipa::path(
    get,
    path = "/v1/session/events",
    tag = "session",
    operation_id = "events",
    summary = "Subscribe with Server-Sent Events",
    description = "`event: publish` per published event (data: the event; `publish-base64` for bytes that are not UTF-8); `event: restarted` after a supervised restart (data: reason, from_checkpoint, lost_messages); finally `event: terminated` (data: the stop reason as JSON) or `event: dropped` (data: why) for a subscriber that fell past its budget. Never starts a session.",
    responses(
        (status = 200, description = "An event stream (`Cache-Control: no-cache`, `X-Accel-Buffering: no`).", body = String, content_type = "text/event-stream",
            headers(
                ("cache-control" = String, description = "`no-cache`."),
                ("x-accel-buffering" = String, description = "`no`: proxies must not buffer the stream."),
            )),
        (status = 204, description = "No session (no token, or its session has ended): `EventSource` stops reconnecting; the cookie is expired.",
            headers(("set-cookie" = String, description = "The session cookie (`HttpOnly; SameSite=Lax; Path=/`): set when a session was started, expired when it was ended or its token did not verify."))),
        (status = 429, description = "Too many streams for this session or client (`too_many_streams`).", body = Problem),
        (status = 503, description = "The streams' share of the connections is taken, or overloaded.", body = Problem),
    )
)]
pub(crate) async fn events(
    pending: Pending,
    connection: Option<axum::Extension<ConnectionHandle>>,
) -> Result<Response, ApiError> {
    let session = match existing_or_204(pending).await? {
        Ok(session) => session,
        Err(no_content) => return Ok(no_content),
    };
    let (permit, receiver) = subscribe(&session).await?;
    let grace = session.request().state.config.stream_close_grace;
    // Alive while the response body is: lets the closer below stand down.
    let (alive, body_dropped) = oneshot::channel::<()>();
    if let Some(axum::Extension(connection)) = connection {
        let watch = receiver.watch();
        tokio::spawn(async move {
            let mut body_dropped = body_dropped;
            tokio::select! {
                _ = &mut body_dropped => return,
                () = watch.over() => {}
            }
            // The last event is queued: the connection closes by itself once it is written
            // (`Connection: close`); a client that is not reading has `grace` to take it.
            tokio::time::sleep(grace).await;
            connection.close();
        });
    }
    let state = (Some(receiver), permit, alive);
    let stream = futures_util::stream::unfold(state, |(receiver, permit, alive)| async move {
        let mut receiver = receiver?;
        let (event, next) = match receiver.recv().await {
            Ok(SessionEvent::Published(bytes)) => (published(&bytes), Some(receiver)),
            Ok(SessionEvent::Restarted {
                reason,
                from_checkpoint,
                lost_messages,
            }) => (
                Event::default().event("restarted").data(
                    super::ws::restarted(&reason, from_checkpoint, lost_messages).to_string(),
                ),
                Some(receiver),
            ),
            Ok(SessionEvent::Terminated(reason)) => {
                let data = serde_json::to_string(&reason).unwrap_or_default();
                (Event::default().event("terminated").data(data), None)
            }
            Err(RecvError::Dropped(reason)) => (
                Event::default()
                    .event("dropped")
                    .data(format!("this subscriber was dropped: {reason}")),
                None,
            ),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok::<_, Infallible>(event), (next, permit, alive)))
    });
    let opened = futures_util::stream::once(std::future::ready(Ok(
        Event::default().comment("subscribed")
    )));
    let mut response = Sse::new(futures_util::StreamExt::chain(opened, stream))
        .keep_alive(KeepAlive::default())
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
    Ok(response)
}

fn published(bytes: &[u8]) -> Event {
    match std::str::from_utf8(bytes) {
        Ok(text) => Event::default().event("publish").data(text),
        Err(_) => Event::default()
            .event("publish-base64")
            .data(STANDARD_NO_PAD.encode(bytes)),
    }
}
