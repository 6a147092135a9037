//! The [`Session`] extractor: a handler's handle on the request's session.
//!
//! `Session` resolves the request's token (see [`SessionLayer`](crate::http::SessionLayer)):
//! a valid token of a live session gives that session; no token starts the default guest and
//! issues a cookie; a genuine token whose session is gone starts a fresh session of the guest
//! the token names (the default guest for tokens that name none), unless
//! `on_unknown_session = "reject"`; a token that does not verify is a 400, starts nothing and
//! expires the cookie.
//! [`ExistingSession`] resolves the same way but never starts one (404 instead): for
//! operations that make no sense on a brand-new session, such as ending it.
//!
//! A request resolves at most once: extracting twice gives the same session, and the
//! session's operations go through the [`SessionHandle`] it resolved to (no second lookup of
//! its ID).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::http::config::UnknownSession;
use crate::http::error::ApiError;
use crate::http::layer::{Claim, RequestSession};
use crate::http::token::TokenError;
use crate::{
    Host, SessionError, SessionEvents, SessionHandle, SessionId, StartOptions, StopReason,
};

/// The request's session, started if needed. See the module docs.
pub struct Session {
    handle: SessionHandle,
    request: RequestSession,
}

/// The `Session` and `ExistingSession` extractors' work, for handlers that resolve later
/// (after reading the body, so that a refused body starts nothing).
#[derive(Clone)]
pub(crate) struct Pending(pub(crate) RequestSession);

impl<S: Send + Sync> FromRequestParts<S> for Pending {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        request_session(parts).map(Self)
    }
}

impl Pending {
    /// The session, started if needed (see [`Session`]).
    pub(crate) async fn session(self) -> Result<Session, ApiError> {
        resolve(self.0, true).await
    }

    /// The session if it exists; never starts one.
    pub(crate) async fn existing(self) -> Result<Session, ApiError> {
        resolve(self.0, false).await
    }
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("id", self.handle.id())
            .finish()
    }
}

/// The request's session if it already exists; never starts one.
#[derive(Debug)]
pub struct ExistingSession(pub Session);

/// The error for a token that does not verify; the reason says which check failed.
fn invalid_token(error: TokenError) -> SessionError {
    tracing::debug!(%error, "rejected session token");
    SessionError::InvalidSessionId {
        reason: match error {
            TokenError::Malformed => "the session token is malformed",
            TokenError::BadSignature => "the session token's signature does not verify",
        },
    }
}

fn request_session(parts: &Parts) -> Result<RequestSession, ApiError> {
    parts
        .extensions
        .get::<RequestSession>()
        .cloned()
        .ok_or(ApiError::Misconfigured(
            "the Session extractor needs SessionLayer on the router",
        ))
}

async fn resolve(request: RequestSession, may_start: bool) -> Result<Session, ApiError> {
    if let Some(handle) = request.resolved() {
        return Ok(Session { handle, request });
    }
    let host = request.state.host.clone();
    let guest = match request.claim() {
        Claim::Invalid(error) => {
            // The browser would send this cookie forever (after a restart with a new signing
            // key, say): expire it, so that its next request starts afresh.
            request.clear_cookie();
            return Err(invalid_token(error).into());
        }
        Claim::Valid(claims) if let Some(handle) = host.find(&claims.id) => {
            request.set_resolved(handle.clone());
            return Ok(Session { handle, request });
        }
        Claim::Valid(_) if request.state.config.on_unknown_session == UnknownSession::Reject => {
            return Err(SessionError::SessionNotFound.into());
        }
        Claim::Valid(_) | Claim::None if !may_start => {
            return Err(SessionError::SessionNotFound.into());
        }
        // A fresh session of the guest the ended one ran (or `guest_not_found`).
        Claim::Valid(claims) => claims.guest,
        Claim::None => None,
    };
    let options = StartOptions {
        guest,
        ..StartOptions::default()
    };
    Session::start_new(request, options).await
}

impl<S: Send + Sync> FromRequestParts<S> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        resolve(request_session(parts)?, true).await
    }
}

impl<S: Send + Sync> FromRequestParts<S> for ExistingSession {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        resolve(request_session(parts)?, false)
            .await
            .map(ExistingSession)
    }
}

impl Session {
    /// Starts a new session of `options` for this request, replacing the one its token named
    /// (if any): the response carries the new cookie.
    pub(crate) async fn start_new(
        request: RequestSession,
        options: StartOptions,
    ) -> Result<Self, ApiError> {
        request.admit_new_session()?;
        let guest = options
            .guest
            .clone()
            .or_else(|| request.state.host.config().default_guest.clone());
        let id = request.state.host.start(options).await?;
        request.issue_cookie(&id, guest.as_deref());
        // Just started: found, unless it already ended (then its operations say so).
        let handle = request
            .state
            .host
            .find(&id)
            .ok_or(SessionError::SessionNotFound)?;
        request.set_resolved(handle.clone());
        Ok(Self { handle, request })
    }

    /// The session's ID.
    pub fn id(&self) -> &SessionId {
        self.handle.id()
    }

    /// The signed token of this session (what the cookie carries): it names the session's
    /// guest while the session is live.
    pub fn token(&self) -> String {
        let guest = self.handle.info().ok().map(|info| info.guest);
        self.request.state.sign(self.handle.id(), guest.as_deref())
    }

    /// The per-request state (the layer's, the client's address).
    pub(crate) fn request(&self) -> &RequestSession {
        &self.request
    }

    /// The host.
    pub fn host(&self) -> &Host {
        &self.request.state.host
    }

    /// Sends a request to the guest's `handle-call` and returns its reply.
    pub async fn call(&self, request: &[u8]) -> Result<Vec<u8>, ApiError> {
        Ok(self.handle.call(request, None).await?)
    }

    /// [`call`](Self::call) with JSON in and out.
    pub async fn call_json<Req: Serialize, Rep: DeserializeOwned>(
        &self,
        request: &Req,
    ) -> Result<Rep, ApiError> {
        let body = serde_json::to_vec(request).map_err(|e| ApiError::BadRequest(e.to_string()))?;
        let reply = self.call(&body).await?;
        serde_json::from_slice(&reply).map_err(|e| {
            ApiError::from(SessionError::GuestError(format!(
                "reply is not the expected JSON: {e}"
            )))
        })
    }

    /// Queues a message for the guest's `handle-cast`.
    pub async fn cast(&self, message: &[u8]) -> Result<(), ApiError> {
        Ok(self.handle.cast(message).await?)
    }

    /// Subscribes to what the guest publishes, and to the session's end (a hibernated
    /// session is woken first: subscribers watch a live instance).
    pub async fn subscribe(&self) -> Result<SessionEvents, ApiError> {
        Ok(self.handle.subscribe().await?)
    }

    /// Marks the session active now.
    pub fn touch(&self) -> Result<(), ApiError> {
        Ok(self.handle.touch()?)
    }

    /// Ends the session (reason `normal`); the response expires the cookie.
    pub async fn terminate(self) -> Result<(), ApiError> {
        self.handle.terminate_with(StopReason::Normal).await?;
        self.request.clear_cookie();
        Ok(())
    }

    /// Gives the session a new ID — same live actor and state, old ID dead — and the response
    /// a new cookie. Call it at login, against session fixation.
    pub async fn rotate_id(&mut self) -> Result<&SessionId, ApiError> {
        let new = self.handle.rotate_id().await?.clone();
        let guest = self.handle.info().ok().map(|info| info.guest);
        self.request.issue_cookie(&new, guest.as_deref());
        self.request.set_resolved(self.handle.clone());
        Ok(self.handle.id())
    }
}
