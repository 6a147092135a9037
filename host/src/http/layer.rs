//! [`SessionLayer`]: the tower middleware that ties requests to sessions.
//!
//! For every request the layer reads the session token — the `x-session-id` header if present,
//! else the session cookie — and leaves it, unchecked, in the request's extensions. Nothing
//! else happens until a handler asks for a [`Session`](crate::http::Session): only then is the
//! token verified and the session looked up or started (lazily), so routes that never touch a
//! session (static files, health checks) cost nothing and create nothing. After the handler,
//! the layer writes whatever the session work decided on the response: a new cookie (a session
//! was started or its ID rotated) or an expired one (it was terminated), with
//! `Cache-Control: no-store`.
//!
//! Strict mode always: a token whose tag does not verify is refused (400, and the cookie is
//! expired so that the browser's next request starts afresh), never adopted; a genuine token
//! whose session is gone gets a fresh session of the same guest under a new ID (or 404, if so
//! configured), never one under the old ID.
//!
//! The layer also holds what every request of the app shares: the per-client creation limit
//! and the event streams' limits (`streams.rs`).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, HeaderValue, Request, header};
use axum::response::Response;
use cookie::{Cookie, SameSite};
use futures_util::future::BoxFuture;
use tower::{Layer, Service};

use crate::error::{ConfigError, SessionError};
use crate::http::config::HttpConfig;
use crate::http::streams::StreamLimits;
use crate::http::token::{Claims, TokenError, TokenKeys, request_token};
use crate::ratelimit::KeyedRateLimiter;
use crate::{Host, SessionHandle, SessionId};

/// State shared by the layer, its services, and every request's [`RequestSession`].
pub(crate) struct LayerState {
    pub(crate) host: Host,
    pub(crate) keys: TokenKeys,
    pub(crate) config: HttpConfig,
    header: axum::http::HeaderName,
    /// `rate_limit_per_ip`, when on.
    per_ip: Option<KeyedRateLimiter<IpAddr>>,
    /// `client_ip_header`, parsed.
    client_ip_header: Option<axum::http::HeaderName>,
    /// Open event streams, per session, per client and in all.
    pub(crate) streams: StreamLimits,
}

/// Ties requests to sessions; see the module docs.
///
/// ```no_run
/// # async fn demo(host: sessionhost::Host) -> Result<(), Box<dyn std::error::Error>> {
/// use axum::{Router, routing::post};
/// use sessionhost::http::{HttpConfig, Session, SessionLayer};
///
/// async fn add(session: Session, body: axum::body::Bytes) -> Result<Vec<u8>, sessionhost::http::ApiError> {
///     session.call(&body).await
/// }
///
/// let app: Router = Router::new()
///     .route("/cart/add", post(add))
///     .layer(SessionLayer::new(host, HttpConfig::default())?);
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct SessionLayer {
    state: Arc<LayerState>,
}

impl std::fmt::Debug for SessionLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionLayer")
            .field("cookie", &self.state.config.cookie_name)
            .finish_non_exhaustive()
    }
}

impl SessionLayer {
    /// A layer over `host`. The token keys come from `config.signing_keys` (a random key when
    /// none are configured).
    pub fn new(host: Host, config: HttpConfig) -> Result<Self, ConfigError> {
        let keys = config.token_keys();
        Self::with_keys(host, config, keys)
    }

    /// A layer with explicit token keys.
    pub fn with_keys(host: Host, config: HttpConfig, keys: TokenKeys) -> Result<Self, ConfigError> {
        config.validate()?;
        let header =
            axum::http::HeaderName::from_bytes(config.header_name.as_bytes()).map_err(|e| {
                ConfigError {
                    field: "header_name",
                    reason: e.to_string(),
                }
            })?;
        let client_ip_header = config
            .client_ip_header
            .as_deref()
            .and_then(|name| axum::http::HeaderName::from_bytes(name.as_bytes()).ok());
        Ok(Self {
            state: Arc::new(LayerState {
                per_ip: KeyedRateLimiter::new(config.rate_limit_per_ip),
                streams: StreamLimits::new(&config),
                client_ip_header,
                host,
                keys,
                config,
                header,
            }),
        })
    }

    /// The signed token of a session ID, as the cookie would carry it (naming its guest
    /// when the session is live).
    pub fn token_for(&self, id: &SessionId) -> String {
        let guest = self.state.host.info(id).ok().map(|info| info.guest);
        self.state.sign(id, guest.as_deref())
    }

    /// The host behind this layer.
    pub fn host(&self) -> &Host {
        &self.state.host
    }
}

impl<S> Layer<S> for SessionLayer {
    type Service = SessionService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        SessionService {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

/// The service [`SessionLayer`] wraps around an inner service.
#[derive(Clone)]
pub struct SessionService<S> {
    inner: S,
    state: Arc<LayerState>,
}

impl<S> std::fmt::Debug for SessionService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionService").finish_non_exhaustive()
    }
}

impl<S> Service<Request<Body>> for SessionService<S>
where
    S: Service<Request<Body>, Response = Response> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<Body>) -> Self::Future {
        let token = read_token(request.headers(), &self.state);
        // The client's address matters only to the per-client limits.
        let client = (self.state.per_ip.is_some() || self.state.config.max_streams_per_client > 0)
            .then(|| client_ip(&request, &self.state))
            .flatten();
        let session = RequestSession::new(Arc::clone(&self.state), token, client);
        request.extensions_mut().insert(session.clone());
        // The usual dance: call the clone that was driven ready, keep a fresh one.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        Box::pin(async move {
            let mut response = inner.call(request).await?;
            session.write_cookie(&mut response);
            Ok(response)
        })
    }
}

/// The token as it came with the request: header first, then cookie (see
/// [`request_token`]).
fn read_token(headers: &HeaderMap, state: &LayerState) -> Option<String> {
    request_token(
        headers.get(&state.header).map(HeaderValue::as_bytes),
        headers
            .get_all(header::COOKIE)
            .iter()
            .map(HeaderValue::as_bytes),
        &state.config.cookie_name,
    )
}

/// What the response must do with the cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
enum CookieAction {
    Keep,
    Set(String),
    Clear,
}

/// Per-request session state, shared by the layer and the extractors through the request's
/// extensions.
#[derive(Clone)]
pub(crate) struct RequestSession {
    pub(crate) state: Arc<LayerState>,
    /// The token the request carried, unverified.
    token: Option<String>,
    /// The client's address, when known (for `rate_limit_per_ip`).
    client: Option<IpAddr>,
    /// The session this request resolved to, once a handler asked: kept, so that the
    /// request's operations do not look its ID up again.
    resolved: Arc<parking_lot::Mutex<Option<SessionHandle>>>,
    cookie: Arc<parking_lot::Mutex<CookieAction>>,
}

/// What the request's token says, once verified.
pub(crate) enum Claim {
    /// No token.
    None,
    /// A token that does not verify.
    Invalid(TokenError),
    /// A genuine token for this ID and guest (the session may be gone).
    Valid(Claims),
}

impl LayerState {
    /// A token for `id`: of the second format when its guest is known.
    pub(crate) fn sign(&self, id: &SessionId, guest: Option<&str>) -> String {
        match guest {
            Some(guest) => self.keys.sign_for(id, guest),
            None => self.keys.sign(id),
        }
    }
}

impl RequestSession {
    fn new(state: Arc<LayerState>, token: Option<String>, client: Option<IpAddr>) -> Self {
        Self {
            state,
            token,
            client,
            resolved: Arc::default(),
            cookie: Arc::new(parking_lot::Mutex::new(CookieAction::Keep)),
        }
    }

    /// Takes a token from this client's creation bucket (`rate_limit_per_ip`), before a
    /// session is started for the request. Requests whose address is unknown are not
    /// limited per client (the host's `rate_limit` still applies).
    pub(crate) fn admit_new_session(&self) -> Result<(), SessionError> {
        match (&self.state.per_ip, self.client) {
            (Some(limiter), Some(ip)) => limiter
                .try_take(ip)
                .map_err(|retry_after| SessionError::RateLimited { retry_after }),
            _ => Ok(()),
        }
    }

    /// The client's address, when known.
    pub(crate) fn client(&self) -> Option<IpAddr> {
        self.client
    }

    pub(crate) fn claim(&self) -> Claim {
        match &self.token {
            None => Claim::None,
            Some(token) => match self.state.keys.open(token) {
                Ok(claims) => Claim::Valid(claims),
                Err(e) => Claim::Invalid(e),
            },
        }
    }

    pub(crate) fn resolved(&self) -> Option<SessionHandle> {
        self.resolved.lock().clone()
    }

    pub(crate) fn set_resolved(&self, handle: SessionHandle) {
        *self.resolved.lock() = Some(handle);
    }

    /// The response must carry a cookie for `id`, a session of `guest` when known.
    pub(crate) fn issue_cookie(&self, id: &SessionId, guest: Option<&str>) {
        *self.cookie.lock() = CookieAction::Set(self.state.sign(id, guest));
    }

    /// The response must expire the cookie.
    pub(crate) fn clear_cookie(&self) {
        *self.cookie.lock() = CookieAction::Clear;
    }

    fn write_cookie(&self, response: &mut Response) {
        let action = self.cookie.lock().clone();
        let config = &self.state.config;
        let cookie = match action {
            CookieAction::Keep => return,
            CookieAction::Set(token) => Cookie::build((config.cookie_name.clone(), token)),
            CookieAction::Clear => Cookie::build((config.cookie_name.clone(), ""))
                .max_age(cookie::time::Duration::ZERO)
                .expires(cookie::time::OffsetDateTime::UNIX_EPOCH),
        }
        .http_only(true)
        .same_site(SameSite::Lax)
        .path("/")
        .secure(config.secure_cookie)
        .build();
        if let Ok(value) = HeaderValue::from_str(&cookie.to_string()) {
            let headers = response.headers_mut();
            headers.append(header::SET_COOKIE, value);
            headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        }
    }
}

/// The client's address: from `client_ip_header` when configured and present (the entry
/// `trusted_proxy_hops` from the right: see [`forwarded_client`]), else the connection's peer
/// (`ConnectInfo`, which the sessionhost server and `into_make_service_with_connect_info`
/// provide).
fn client_ip<B>(request: &Request<B>, state: &LayerState) -> Option<IpAddr> {
    if let Some(name) = &state.client_ip_header {
        let entries: Vec<&str> = request
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect();
        if !entries.is_empty() {
            return forwarded_client(&entries, state.config.trusted_proxy_hops);
        }
    }
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// The client's address in a forwarding list (`X-Forwarded-For`, every header line joined):
/// each proxy appends the address it received the request from, so the entry `hops` places
/// from the right is the one the outermost trusted proxy added — the entries left of it were
/// sent by the client and prove nothing. With fewer entries, the left-most. `None` when that
/// entry is not an address.
fn forwarded_client(entries: &[&str], hops: usize) -> Option<IpAddr> {
    let index = entries.len().saturating_sub(hops.max(1));
    entries.get(index)?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::forwarded_client;

    #[test]
    fn the_entry_the_trusted_proxy_added_is_the_client() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().ok();
        // The client claimed 1.1.1.1; nginx appended the address it saw.
        let list = ["1.1.1.1", " 203.0.113.7"];
        assert_eq!(forwarded_client(&list, 1), ip("203.0.113.7"));
        // Two trusted proxies: the second appended the first's address.
        let list = ["1.1.1.1", "203.0.113.7", "10.0.0.2"];
        assert_eq!(forwarded_client(&list, 2), ip("203.0.113.7"));
        assert_eq!(forwarded_client(&["203.0.113.7"], 3), ip("203.0.113.7"));
        assert_eq!(forwarded_client(&["junk"], 1), None);
    }
}
