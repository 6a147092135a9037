//! The session API, for running `sessionhost` behind a web app.
//!
//! | route | does |
//! |---|---|
//! | `POST /v1/sessions` | starts a session: JSON `{"guest"?: name, "args"?: any JSON}`; answers 201 `{"id", "token"}` and sets the cookie |
//! | `POST /v1/session/call` | body → `handle-call` → reply body (lazy start) |
//! | `POST /v1/session/cast` | body → `handle-cast`; 202 (lazy start) |
//! | `POST /v1/session/touch` | marks the session active; 204 |
//! | `DELETE /v1/session` | ends the session; 204, cookie expired |
//! | `GET /v1/session/events` | Server-Sent Events (see `sse.rs`) |
//! | `GET /v1/session/ws` | WebSocket (see `ws.rs`) |
//!
//! The session is the request's (cookie or `x-session-id` header); bodies are raw bytes, and a
//! reply carries the request's `Content-Type` (default `application/octet-stream`). A body is
//! read — and refused if too large — before the session is resolved, so a refused request
//! never starts one. Each handler's `#[utoipa::path]` is its entry in the OpenAPI document
//! (`openapi.rs`); errors every route shares are added there.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::StartOptions;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::Body;
use crate::http::openapi::{AnyJson, Binary};
use crate::http::session::Pending;

/// Body of `POST /v1/sessions`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSession {
    /// Guest to start; the host's default guest when absent.
    #[schema(pattern = "^[A-Za-z0-9._~-]{1,64}$")]
    guest: Option<String>,
    /// `init` arguments (any JSON), passed to the guest as their JSON text.
    #[schema(value_type = Option<Object>, required = false)]
    args: Option<serde_json::Value>,
}

/// Answer of `POST /v1/sessions`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Created {
    /// The session's ID.
    id: String,
    /// Its signed token: send it as the cookie or the `x-session-id` header.
    token: String,
}

#[utoipa::path(
    post,
    path = "/v1/sessions",
    tag = "session",
    operation_id = "createSession",
    summary = "Start a session",
    description = "Starts a session of `guest` (the default guest when absent) with `args`, replacing the request's session if it had one (that one lives on until it ends or expires). An empty body starts the default guest.",
    request_body(content = CreateSession, content_type = "application/json"),
    responses(
        (status = 201, description = "Started; the cookie is set.", body = Created,
            headers(("set-cookie" = String, description = "The session cookie (`HttpOnly; SameSite=Lax; Path=/`): set when a session was started, expired when it was ended or its token did not verify."))),
        (status = 400, description = "A malformed spec (`bad_request`), an invalid guest name, or a token that does not verify (`invalid_session_id`, cookie expired).", body = Problem),
        (status = 404, description = "No such guest (`guest_not_found`).", body = Problem),
        (status = 413, description = "The body is over `max_body` (`message_too_large`).", body = Problem),
        (status = 422, description = "The guest's `init` refused the arguments (`guest_error`).", body = Problem),
        (status = 429, description = "Too many new sessions (`rate_limited`).", body = Problem),
        (status = 500, description = "The guest's `init` trapped (`guest_trap`).", body = Problem),
        (status = 503, description = "Session limit reached, shutting down, start failed, or overloaded.", body = Problem),
        (status = 504, description = "The guest's `init` timed out (`timeout`).", body = Problem),
    )
)]
pub(crate) async fn create(pending: Pending, Body(body): Body) -> Result<Response, ApiError> {
    // No body: the default guest, no arguments. Otherwise a JSON object.
    let invalid = |e: serde_json::Error| ApiError::BadRequest(format!("invalid session spec: {e}"));
    let spec: CreateSession = if body.iter().all(u8::is_ascii_whitespace) {
        CreateSession::default()
    } else {
        match serde_json::from_slice::<serde_json::Value>(&body).map_err(invalid)? {
            spec @ serde_json::Value::Object(_) => serde_json::from_value(spec).map_err(invalid)?,
            _ => {
                return Err(ApiError::BadRequest(
                    "invalid session spec: expected a JSON object".into(),
                ));
            }
        }
    };
    let options = StartOptions {
        guest: spec.guest,
        args: spec
            .args
            .map(|args| args.to_string().into_bytes())
            .unwrap_or_default(),
        ..StartOptions::default()
    };
    let session = crate::http::session::Session::start_new(pending.0, options).await?;
    let created = Created {
        id: session.id().to_string(),
        token: session.token(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/session/call",
    tag = "session",
    operation_id = "call",
    summary = "Call the session's guest (handle-call)",
    description = "The body goes to the guest's `handle-call`; its reply is the response body, with the request's `Content-Type` (`application/octet-stream` when the request has none). Starts a session of the default guest when the request has none.",
    request_body(content(
        (Binary = "application/octet-stream"),
        (AnyJson = "application/json"),
        (String = "text/plain"),
    )),
    responses(
        (status = 200, description = "The guest's reply, with the request's Content-Type.",
            content(
                (Binary = "application/octet-stream"),
                (AnyJson = "application/json"),
                (String = "text/plain"),
            ),
            headers(("set-cookie" = String, description = "The session cookie (`HttpOnly; SameSite=Lax; Path=/`): set when a session was started, expired when it was ended or its token did not verify."))),
        (status = 413, description = "The body is over `max_body` or `max_message_bytes`, or the reply is over `max_message_bytes` (`message_too_large`).", body = Problem),
        (status = 422, description = "The guest returned an error (`guest_error`); the session lives on.", body = Problem),
        (status = 429, description = "A session had to be started and too many were (`rate_limited`).", body = Problem),
        (status = 500, description = "The guest trapped (`guest_trap`); the session has ended.", body = Problem),
        (status = 503, description = "Session limit reached, mailbox full, shutting down or overloaded.", body = Problem),
        (status = 504, description = "The call timed out (`timeout`).", body = Problem),
    )
)]
pub(crate) async fn call(
    pending: Pending,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let session = pending.session().await?;
    let reply = session.call(&body).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok(([(header::CONTENT_TYPE, content_type)], reply).into_response())
}

#[utoipa::path(
    post,
    path = "/v1/session/cast",
    tag = "session",
    operation_id = "cast",
    summary = "Cast to the session's guest (handle-cast)",
    description = "The body is queued for the guest's `handle-cast`. Starts a session of the default guest when the request has none.",
    request_body(content(
        (Binary = "application/octet-stream"),
        (AnyJson = "application/json"),
        (String = "text/plain"),
    )),
    responses(
        (status = 202, description = "Queued.", headers(("set-cookie" = String, description = "The session cookie (`HttpOnly; SameSite=Lax; Path=/`): set when a session was started, expired when it was ended or its token did not verify."))),
        (status = 413, description = "The body is over `max_body` or `max_message_bytes` (`message_too_large`).", body = Problem),
        (status = 429, description = "A session had to be started and too many were (`rate_limited`).", body = Problem),
        (status = 503, description = "Session limit reached, mailbox full, shutting down or overloaded.", body = Problem),
        (status = 500, description = "A session had to be started and its `init` trapped (`guest_trap`).", body = Problem),
        (status = 504, description = "A session had to be started and its `init` timed out (`timeout`).", body = Problem),
    )
)]
pub(crate) async fn cast(pending: Pending, Body(body): Body) -> Result<StatusCode, ApiError> {
    let session = pending.session().await?;
    session.cast(&body).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(
    post,
    path = "/v1/session/touch",
    tag = "session",
    operation_id = "touch",
    summary = "Mark the session active",
    description = "Resets the session's idle time. Never starts a session.",
    responses(
        (status = 204, description = "Touched."),
        (status = 404, description = "No session (`session_not_found`).", body = Problem),
    )
)]
pub(crate) async fn touch(pending: Pending) -> Result<StatusCode, ApiError> {
    pending.existing().await?.touch()?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(
    delete,
    path = "/v1/session",
    tag = "session",
    operation_id = "endSession",
    summary = "End the session",
    description = "Ends the session (reason `normal`): its guest's `terminate` runs and its subscribers get the final event. Never starts a session.",
    responses(
        (status = 204, description = "Ended; the cookie is expired.",
            headers(("set-cookie" = String, description = "The session cookie (`HttpOnly; SameSite=Lax; Path=/`): set when a session was started, expired when it was ended or its token did not verify."))),
        (status = 404, description = "No session (`session_not_found`).", body = Problem),
        (status = 503, description = "Shutting down or overloaded.", body = Problem),
    )
)]
pub(crate) async fn end(pending: Pending) -> Result<StatusCode, ApiError> {
    pending.existing().await?.terminate().await?;
    Ok(StatusCode::NO_CONTENT)
}
