//! One mapping from errors to HTTP responses.
//!
//! Every error a handler returns becomes a JSON problem body `{"error": kind, "message": text}`
//! with the status below; `kind` is [`SessionError::kind`], `message` its `Display`, neither
//! ever carrying host internals (paths, wasmtime messages, backtraces). Server-side failures
//! (5xx) are logged once here, at warn level.
//!
//! | kind | status |
//! |---|---|
//! | `invalid_session_id`, `invalid_guest`, `bad_request` | 400 |
//! | `unauthorized` | 401 |
//! | `session_not_found`, `guest_not_found`, `not_found` | 404 |
//! | `already_started` | 409 |
//! | `message_too_large` | 413 |
//! | `guest_error` | 422 |
//! | `rate_limited` | 429, with `Retry-After` |
//! | `guest_trap`, `misconfigured` | 500 |
//! | `session_limit_reached`, `mailbox_full`, `shutting_down`, `start_failed`, `overloaded` | 503 |
//! | `timeout` | 504 |

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::SessionError;

/// An error as the HTTP API reports it.
#[derive(Debug)]
pub enum ApiError {
    /// A session operation failed.
    Session(SessionError),
    /// The request itself is wrong (bad JSON, missing field...).
    BadRequest(String),
    /// Missing or wrong admin token.
    Unauthorized,
    /// No such route or resource.
    NotFound(&'static str),
    /// The server sheds load.
    Overloaded,
    /// The application is wired wrongly (for example `Session` without `SessionLayer`).
    Misconfigured(&'static str),
}

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
pub struct Problem {
    /// Stable machine-readable kind.
    pub error: &'static str,
    /// Human message.
    pub message: String,
}

impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        Self::Session(e)
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
            Self::Overloaded => (
                StatusCode::SERVICE_UNAVAILABLE,
                problem(
                    "overloaded",
                    "the server is at capacity, retry shortly".into(),
                ),
            ),
            Self::Misconfigured(what) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                problem("misconfigured", (*what).into()),
            ),
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
        if let Self::Session(SessionError::RateLimited { retry_after }) = &self {
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            if let Ok(value) = HeaderValue::from_str(&seconds.max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn statuses_follow_the_table() {
        let cases = [
            (SessionError::InvalidSessionId { reason: "x" }, 400),
            (SessionError::SessionNotFound, 404),
            (
                SessionError::RateLimited {
                    retry_after: Duration::from_millis(1500),
                },
                429,
            ),
            (SessionError::SessionLimitReached { max: 1 }, 503),
            (SessionError::MailboxFull { capacity: 1 }, 503),
            (SessionError::Timeout { ms: 5 }, 504),
            (
                SessionError::GuestTrap {
                    kind: crate::TrapKind::Unreachable,
                    message: "m".into(),
                },
                500,
            ),
            (SessionError::GuestError("no".into()), 422),
        ];
        for (error, status) in cases {
            assert_eq!(ApiError::from(error).parts().0.as_u16(), status);
        }
    }

    #[test]
    fn rate_limited_responses_say_when_to_retry() {
        let response = ApiError::from(SessionError::RateLimited {
            retry_after: Duration::from_millis(1500),
        })
        .into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "2");
    }
}
