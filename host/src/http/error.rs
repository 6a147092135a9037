//! One mapping from errors to HTTP responses.
//!
//! Every error the server sends — a handler's, an extractor's rejection (query, path, body,
//! WebSocket upgrade), the body limit, the request timeout, load shedding, an unknown route or
//! method — is a JSON problem body `{"error": kind, "message": text}` with
//! `Content-Type: application/json` and the status of [`KINDS`]. `kind` is stable;
//! `message` is for people and never carries host internals (paths, wasmtime messages,
//! backtraces). Server-side failures (5xx) are logged once here, at warn level.
//!
//! Rejections are mapped by type (`From` impls below, used by the extractors of
//! `extract.rs`); what the framework answers by itself (405, a fallback) is caught by
//! [`problem_layer`], which turns any error response that is not already a problem into one,
//! by its status. [`KINDS`] is the one table: the README's error table and the OpenAPI
//! document's `Problem.error` enum are checked against it by tests.

use std::time::Duration;

use axum::Json;
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::SessionError;

/// Every error kind the HTTP API sends, its status, and when.
pub const KINDS: &[(&str, u16, &str)] = &[
    (
        "invalid_session_id",
        400,
        "the session token does not verify (the cookie is expired)",
    ),
    ("invalid_guest", 400, "an uploaded component is refused"),
    (
        "bad_request",
        400,
        "a malformed request: body, query, path or WebSocket handshake",
    ),
    ("unauthorized", 401, "missing or wrong admin token"),
    ("session_not_found", 404, "no such session"),
    ("guest_not_found", 404, "no such guest"),
    ("not_found", 404, "no such route"),
    (
        "method_not_allowed",
        405,
        "the route does not take this method (`Allow` lists those it takes)",
    ),
    (
        "request_timeout",
        408,
        "the request took longer than `request_timeout`",
    ),
    ("already_started", 409, "a session with this ID exists"),
    ("message_too_large", 413, "a body or message over its limit"),
    (
        "guest_error",
        422,
        "the guest's own error; the session lives on",
    ),
    ("rate_limited", 429, "too many new sessions (`Retry-After`)"),
    (
        "too_many_streams",
        429,
        "too many event streams for this session or client (`Retry-After`)",
    ),
    (
        "guest_trap",
        500,
        "the guest crashed or hit a limit; the session has ended",
    ),
    ("misconfigured", 500, "the application is wired wrongly"),
    ("internal_error", 500, "an unexpected server failure"),
    ("session_limit_reached", 503, "`max_sessions` are alive"),
    ("mailbox_full", 503, "the session's mailbox is full"),
    ("shutting_down", 503, "the server is shutting down"),
    ("start_failed", 503, "the session could not start"),
    (
        "overloaded",
        503,
        "`max_in_flight` requests or the event streams' share are taken",
    ),
    ("not_ready", 503, "no guest loaded, or shutting down"),
    ("timeout", 504, "the call took longer than its timeout"),
];

/// Seconds a client refused for too many streams is told to wait.
const STREAMS_RETRY_AFTER: Duration = Duration::from_secs(5);

/// An error as the HTTP API reports it.
#[derive(Debug)]
pub enum ApiError {
    /// A session operation failed.
    Session(SessionError),
    /// The request itself is wrong (bad JSON, query, path, handshake...).
    BadRequest(String),
    /// Missing or wrong admin token.
    Unauthorized,
    /// No such route or resource.
    NotFound(&'static str),
    /// The route does not take this method.
    MethodNotAllowed,
    /// The request took longer than its timeout.
    RequestTimeout,
    /// The request body is over its limit.
    PayloadTooLarge,
    /// Too many event streams for one session or client: which limit.
    TooManyStreams(String),
    /// The server sheds load.
    Overloaded,
    /// Not ready to serve (readiness check).
    NotReady,
    /// The application is wired wrongly (for example `Session` without `SessionLayer`).
    Misconfigured(&'static str),
    /// An error response of this status from below the handlers, with no more detail.
    Status(StatusCode),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// Stable machine-readable kind (see the README's error table).
    #[schema(schema_with = kind_schema)]
    pub error: &'static str,
    /// Human message.
    pub message: String,
}

/// `Problem.error`: one of [`KINDS`].
fn kind_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .enum_values(Some(KINDS.iter().map(|(kind, _, _)| *kind)))
        .description(Some("Stable machine-readable kind."))
        .build()
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        Self::Session(e)
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(format!("invalid query: {}", rejection.body_text()))
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        match rejection.status() {
            StatusCode::BAD_REQUEST => {
                Self::BadRequest(format!("invalid path: {}", rejection.body_text()))
            }
            status => Self::Status(status),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge,
            StatusCode::BAD_REQUEST => {
                Self::BadRequest(format!("unreadable body: {}", rejection.body_text()))
            }
            status => Self::Status(status),
        }
    }
}

impl From<WebSocketUpgradeRejection> for ApiError {
    fn from(rejection: WebSocketUpgradeRejection) -> Self {
        match rejection.status() {
            StatusCode::METHOD_NOT_ALLOWED => Self::MethodNotAllowed,
            StatusCode::BAD_REQUEST => Self::BadRequest(format!(
                "not a WebSocket handshake: {}",
                rejection.body_text()
            )),
            status => Self::Status(status),
        }
    }
}

/// The kind of a bare status (for [`ApiError::Status`] and [`problem_layer`]).
fn kind_of_status(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "unauthorized",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        413 => "message_too_large",
        503 => "overloaded",
        400..=499 => "bad_request",
        _ => "internal_error",
    }
}

fn status_message(status: StatusCode) -> String {
    match status.as_u16() {
        404 => "no such route".into(),
        405 => "this route does not take this method".into(),
        408 => "the request took too long".into(),
        413 => "the request body is too large".into(),
        503 => "the server is at capacity, retry shortly".into(),
        _ => status
            .canonical_reason()
            .unwrap_or("request failed")
            .to_lowercase(),
    }
}

impl ApiError {
    /// Status and problem body.
    pub fn parts(&self) -> (StatusCode, Problem) {
        let problem = |error, message: String| Problem { error, message };
        match self {
            Self::Session(e) => (status_of(e), problem(e.kind(), e.to_string())),
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, problem("bad_request", m.clone())),
            Self::Unauthorized => (
                StatusCode::UNAUTHORIZED,
                problem(
                    "unauthorized",
                    "a valid admin bearer token is required".into(),
                ),
            ),
            Self::NotFound(what) => (StatusCode::NOT_FOUND, problem("not_found", (*what).into())),
            Self::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                problem(
                    "method_not_allowed",
                    status_message(StatusCode::METHOD_NOT_ALLOWED),
                ),
            ),
            Self::RequestTimeout => (
                StatusCode::REQUEST_TIMEOUT,
                problem(
                    "request_timeout",
                    "the request took longer than the server allows".into(),
                ),
            ),
            Self::PayloadTooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                problem(
                    "message_too_large",
                    "the request body is larger than this route accepts".into(),
                ),
            ),
            Self::TooManyStreams(why) => (
                StatusCode::TOO_MANY_REQUESTS,
                problem("too_many_streams", why.clone()),
            ),
            Self::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                problem(
                    "overloaded",
                    "the server is at capacity, retry shortly".into(),
                ),
            ),
            Self::NotReady => (
                StatusCode::SERVICE_UNAVAILABLE,
                problem(
                    "not_ready",
                    "no guest is loaded or the server is shutting down".into(),
                ),
            ),
            Self::Misconfigured(what) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                problem("misconfigured", (*what).into()),
            ),
            Self::Status(status) => (
                *status,
                problem(kind_of_status(*status), status_message(*status)),
            ),
        }
    }

    /// When the client may try again, for the errors that say so.
    fn retry_after(&self) -> Option<Duration> {
        match self {
            Self::Session(SessionError::RateLimited { retry_after }) => Some(*retry_after),
            Self::TooManyStreams(_) => Some(STREAMS_RETRY_AFTER),
            _ => None,
        }
    }
}

fn status_of(e: &SessionError) -> StatusCode {
    use SessionError as E;
    match e {
        E::InvalidSessionId { .. } | E::InvalidGuest(_) => StatusCode::BAD_REQUEST,
        E::SessionNotFound | E::GuestNotFound { .. } => StatusCode::NOT_FOUND,
        E::AlreadyStarted => StatusCode::CONFLICT,
        E::MessageTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
        E::GuestError(_) => StatusCode::UNPROCESSABLE_ENTITY,
        E::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
        E::GuestTrap { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        E::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::SERVICE_UNAVAILABLE,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, problem) = self.parts();
        if status.is_server_error() {
            tracing::warn!(
                target: "sessionhost::http",
                status = status.as_u16(),
                error = problem.error,
                "{}",
                problem.message
            );
        }
        let mut response = (status, Json(problem)).into_response();
        if let Some(retry_after) = self.retry_after() {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

/// Turns any error response that is not already a JSON problem (a 405 from the router, a
/// 404 from a fallback, anything a layer answered by itself) into one, by its status. Its
/// other headers (`Allow`, `Set-Cookie`...) are kept.
pub(crate) async fn problem_layer(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let (mut parts, _) = response.into_parts();
    let mut fresh = ApiError::Status(status).into_response();
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.remove(header::CONTENT_TYPE);
    for (name, value) in std::mem::take(fresh.headers_mut()) {
        if let Some(name) = name {
            parts.headers.insert(name, value);
        }
    }
    Response::from_parts(parts, fresh.into_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One value of each `SessionError` variant (a new variant fails to compile here).
    fn every_session_error() -> Vec<SessionError> {
        use SessionError as E;
        let all = vec![
            E::InvalidSessionId { reason: "x" },
            E::SessionLimitReached { max: 1 },
            E::RateLimited {
                retry_after: Duration::from_millis(1500),
            },
            E::SessionNotFound,
            E::AlreadyStarted,
            E::Timeout { ms: 5 },
            E::GuestError("no".into()),
            E::GuestTrap {
                kind: crate::TrapKind::Unreachable,
                message: "m".into(),
            },
            E::MailboxFull { capacity: 1 },
            E::MailboxBytesFull {
                pending: 2,
                max: 1,
                scope: "host",
            },
            E::MessageTooLarge { size: 2, max: 1 },
            E::GuestNotFound { name: "g".into() },
            E::InvalidGuest(crate::GuestLoadError {
                name: "g".into(),
                reason: "bad".into(),
            }),
            E::ShuttingDown,
            E::StartFailed { reason: "r".into() },
        ];
        for e in &all {
            // Exhaustive: adding a variant breaks this match until it is listed above.
            match e {
                E::InvalidSessionId { .. }
                | E::SessionLimitReached { .. }
                | E::RateLimited { .. }
                | E::SessionNotFound
                | E::AlreadyStarted
                | E::Timeout { .. }
                | E::GuestError(_)
                | E::GuestTrap { .. }
                | E::MailboxFull { .. }
                | E::MailboxBytesFull { .. }
                | E::MessageTooLarge { .. }
                | E::GuestNotFound { .. }
                | E::InvalidGuest(_)
                | E::ShuttingDown
                | E::StartFailed { .. } => {}
            }
        }
        all
    }

    fn every_api_error() -> Vec<ApiError> {
        let mut all: Vec<ApiError> = every_session_error().into_iter().map(Into::into).collect();
        all.extend([
            ApiError::BadRequest("b".into()),
            ApiError::Unauthorized,
            ApiError::NotFound("n"),
            ApiError::MethodNotAllowed,
            ApiError::RequestTimeout,
            ApiError::PayloadTooLarge,
            ApiError::TooManyStreams("t".into()),
            ApiError::Overloaded,
            ApiError::NotReady,
            ApiError::Misconfigured("m"),
            ApiError::Status(StatusCode::INTERNAL_SERVER_ERROR),
        ]);
        all
    }

    #[test]
    fn every_error_follows_the_table_and_every_kind_is_used() {
        let mut seen = std::collections::BTreeSet::new();
        for error in every_api_error() {
            let (status, problem) = error.parts();
            let row = KINDS
                .iter()
                .find(|(kind, _, _)| *kind == problem.error)
                .unwrap_or_else(|| panic!("{} is not in KINDS", problem.error));
            assert_eq!(status.as_u16(), row.1, "{}", problem.error);
            seen.insert(problem.error);
        }
        let listed: std::collections::BTreeSet<_> = KINDS.iter().map(|(k, _, _)| *k).collect();
        assert_eq!(seen, listed, "a kind in KINDS that nothing sends");
    }

    #[test]
    fn limited_responses_say_when_to_retry() {
        let response = ApiError::from(SessionError::RateLimited {
            retry_after: Duration::from_millis(1500),
        })
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
        let response = ApiError::TooManyStreams("x".into()).into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "5");
    }

    #[tokio::test]
    async fn bare_error_responses_become_problems_and_keep_their_headers() {
        let bare = Response::builder()
            .status(StatusCode::METHOD_NOT_ALLOWED)
            .header(header::ALLOW, "GET,HEAD")
            .body(axum::body::Body::empty())
            .unwrap();
        let response = problem_layer(bare).await;
        assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(response.headers()[header::ALLOW], "GET,HEAD");
        assert_eq!(response.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"], "method_not_allowed");
        let ok = problem_layer(StatusCode::NO_CONTENT.into_response()).await;
        assert_eq!(ok.status(), StatusCode::NO_CONTENT);
    }
}
