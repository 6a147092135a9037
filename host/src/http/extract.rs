//! axum's extractors, with their rejections as [`ApiError`]s.
//!
//! `Query`, `Path`, `Bytes` and `WebSocketUpgrade` reject a bad request with a plain-text
//! body of their own. These wrappers keep what the extractor reads and turn its rejection
//! into the API's JSON problem (by the rejection's type and status, see `error.rs`), so a
//! handler that takes them can only answer errors in the one shape.

use axum::body::Bytes;
use axum::extract::ws::WebSocketUpgrade;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// `axum::extract::Query`, rejecting with a JSON problem.
#[derive(Debug)]
pub(crate) struct Query<T>(pub(crate) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Query(value) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// `axum::extract::Path`, rejecting with a JSON problem.
#[derive(Debug)]
pub(crate) struct Path<T>(pub(crate) T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let axum::extract::Path(value) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

/// The whole request body (within the route's body limit: 413 beyond), rejecting with a JSON
/// problem.
#[derive(Debug)]
pub(crate) struct Body(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Ok(Self(Bytes::from_request(request, state).await?))
    }
}

/// `WebSocketUpgrade`, rejecting a request that is not a handshake with a JSON problem — a
/// `Sec-WebSocket-Key` that is not 16 bytes in base64 included (RFC 6455 §4.2.1).
pub(crate) struct Upgrade(pub(crate) WebSocketUpgrade);

impl std::fmt::Debug for Upgrade {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upgrade").finish_non_exhaustive()
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Upgrade {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let upgrade = WebSocketUpgrade::from_request_parts(parts, state).await?;
        let key = parts
            .headers
            .get(axum::http::header::SEC_WEBSOCKET_KEY)
            .map(|key| STANDARD.decode(key.as_bytes()));
        if !matches!(key, Some(Ok(nonce)) if nonce.len() == 16) {
            return Err(ApiError::BadRequest(
                "not a WebSocket handshake: `Sec-WebSocket-Key` must be 16 bytes in base64".into(),
            ));
        }
        Ok(Self(upgrade))
    }
}
