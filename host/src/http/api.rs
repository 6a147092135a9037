//! The session API, for running `sessionhost` behind a web app.
//!
//! | route | does |
//! |---|---|
//! | `POST /v1/sessions` | starts a session: JSON `{"guest"?: name, "args"?: any JSON}`; answers 201 `{"id", "token"}` and sets the cookie |
//! | `POST /v1/session/call` | body → `handle-call` → reply body (lazy start) |
//! | `POST /v1/session/cast` | body → `handle-cast`; 202 (lazy start) |
//! | `POST /v1/session/touch` | marks the session active; 204 |
//! | `DELETE /v1/session` | ends the session; 204, cookie expired |
//! | `GET /v1/session/events` | Server-Sent Events (see `stream.rs`) |
//! | `GET /v1/session/ws` | WebSocket (see `stream.rs`) |
//!
//! The session is the request's (cookie or `x-session-id` header); bodies are raw bytes, and a
//! reply carries the request's `Content-Type` (default `application/octet-stream`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use crate::StartOptions;
use crate::http::error::ApiError;
use crate::http::session::{ExistingSession, Session};

/// Body of `POST /v1/sessions`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateSession {
    /// Guest to start; the host's default guest when absent.
    guest: Option<String>,
    /// `init` arguments, passed to the guest as their JSON text.
    args: Option<serde_json::Value>,
}

/// Answer of `POST /v1/sessions`.
#[derive(Debug, Serialize)]
pub(crate) struct Created {
    id: String,
    token: String,
}

/// The request's per-request session state, for handlers that start sessions explicitly.
pub(crate) struct Fresh(crate::http::layer::RequestSession);

impl<S: Send + Sync> FromRequestParts<S> for Fresh {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Session::from_parts_request(parts).map(Fresh)
    }
}

pub(crate) async fn create(Fresh(request): Fresh, body: Bytes) -> Result<Response, ApiError> {
    let spec: CreateSession = if body.iter().all(u8::is_ascii_whitespace) {
        CreateSession::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::BadRequest(format!("invalid session spec: {e}")))?
    };
    let options = StartOptions {
        guest: spec.guest,
        args: spec
            .args
            .map(|args| args.to_string().into_bytes())
            .unwrap_or_default(),
        ..StartOptions::default()
    };
    let session = Session::start_new(request, options).await?;
    let created = Created {
        id: session.id().to_string(),
        token: session.token(),
    };
    Ok((StatusCode::CREATED, Json(created)).into_response())
}

pub(crate) async fn call(
    session: Session,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let reply = session.call(&body).await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .cloned()
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    Ok(([(header::CONTENT_TYPE, content_type)], reply).into_response())
}

pub(crate) async fn cast(session: Session, body: Bytes) -> Result<StatusCode, ApiError> {
    session.cast(&body).await?;
    Ok(StatusCode::ACCEPTED)
}

pub(crate) async fn touch(
    ExistingSession(session): ExistingSession,
) -> Result<StatusCode, ApiError> {
    session.touch()?;
    Ok(StatusCode::NO_CONTENT)
}

pub(crate) async fn end(ExistingSession(session): ExistingSession) -> Result<StatusCode, ApiError> {
    session.terminate().await?;
    Ok(StatusCode::NO_CONTENT)
}
