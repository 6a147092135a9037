//! Settings of the HTTP layer and server: [`HttpConfig`].
//!
//! Like [`HostConfig`](crate::HostConfig): serde with `deny_unknown_fields`, documented
//! defaults, validated once ([`HttpConfig::validate`]) before anything listens.

use std::net::SocketAddr;
use std::time::Duration;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::http::token::{MIN_KEY_BYTES, TokenKeys};

/// What to do with a genuine token whose session no longer exists (it expired or ended).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnknownSession {
    /// Start a fresh session with a new ID and cookie (never one under the old ID).
    #[default]
    Restart,
    /// Answer 404 `session_not_found`.
    Reject,
}

/// Settings of [`SessionLayer`](crate::http::SessionLayer) and of the `sessionhost` server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Address the server listens on. Default: `127.0.0.1:8080`.
    pub listen: SocketAddr,
    /// Name of the session cookie. Default: `sessionhost`.
    pub cookie_name: String,
    /// Header that may carry the token instead of the cookie. Default: `x-session-id`.
    pub header_name: String,
    /// Mark the cookie `Secure` (HTTPS only). Default: false; turn it on behind HTTPS.
    pub secure_cookie: bool,
    /// A genuine token whose session is gone: `restart` (default) or `reject`.
    pub on_unknown_session: UnknownSession,
    /// Secrets that sign session tokens, at least 32 bytes each. The first signs; all verify
    /// (list old keys after the new one to rotate). Default: none, and a random key is made at
    /// start-up, so tokens do not survive a restart. `SESSIONHOST_SIGNING_KEY` adds one.
    pub signing_keys: Vec<String>,
    /// Bearer token of the admin API; the admin API is off without one. Default: none.
    pub admin_token: Option<String>,
    /// Largest request body (and WebSocket message). Default: 1 MiB.
    pub max_body: ByteSize,
    /// Longest a request may take, end to end (the body included; a stream's body once its
    /// response has started is not). Beyond: 408 `request_timeout`. Default: 30 s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Longest a guest upload (`PUT /admin/guests/{name}`) may take, its compile included,
    /// instead of `request_timeout`. Default: 10 min.
    #[serde(with = "humantime_serde")]
    pub upload_timeout: Duration,
    /// Longest a client may take to send its request headers. Default: 10 s.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Most open connections, WebSocket ones included for their whole life; further ones are
    /// closed at once. Default: 10 000.
    pub max_connections: usize,
    /// Most event streams (SSE and WebSocket) open at once over the whole server; beyond,
    /// 503 `overloaded`. Keeps room for other requests under `max_connections`. Default:
    /// none, meaning half of `max_connections`.
    pub max_streams: Option<usize>,
    /// Most event streams one session may have open; beyond, 429 `too_many_streams`.
    /// Default: 16.
    pub max_streams_per_session: usize,
    /// Most event streams one client address (see `client_ip_header`) may have open; beyond,
    /// 429 `too_many_streams`. `0`: no per-client limit. Default: 64.
    pub max_streams_per_client: usize,
    /// Interval of the server's WebSocket pings, which keep idle sockets open through proxies
    /// (nginx closes them after 60 s of silence by default). `0s`: no pings. Default: 25 s.
    #[serde(with = "humantime_serde")]
    pub ws_ping_interval: Duration,
    /// When a session ends (or a subscriber is dropped), how long its streams have to deliver
    /// their last event before the server closes their connections anyway (a client that
    /// stopped reading). Default: 5 s.
    #[serde(with = "humantime_serde")]
    pub stream_close_grace: Duration,
    /// Most session and admin API requests handled at once, over all their routes (a request
    /// counts until its response starts; a stream's body does not hold a place). Beyond, a
    /// request gets 503 `overloaded` at once (load shedding). `/metrics`, `/healthz` and
    /// `/readyz` are never shed. Default: 4 096.
    pub max_in_flight: usize,
    /// New sessions per minute from one client IP address, as a token bucket (a burst of
    /// this many, then this many per minute); beyond it, `429 rate_limited` with
    /// `Retry-After`. Applies on top of the host's `rate_limit`. `0`: no per-client limit.
    /// The address is the connection's peer, or `client_ip_header` when set. Default: 0.
    pub rate_limit_per_ip: u32,
    /// Header holding the client's address when the server sits behind proxies it trusts
    /// (e.g. `x-forwarded-for`). Default: none (the connection's peer address).
    pub client_ip_header: Option<String>,
    /// How many trusted proxies append to `client_ip_header`: the client's address is the
    /// entry that many places from the right (the one the outermost trusted proxy added; the
    /// entries left of it are the client's own claims). With fewer entries, the left-most.
    /// Default: 1 (one proxy, e.g. nginx with `$proxy_add_x_forwarded_for`).
    pub trusted_proxy_hops: usize,
    /// Origins allowed to call the API from a browser with credentials (CORS), e.g.
    /// `["https://app.example.com"]`. Default: none (no CORS headers; same-origin only).
    pub cors_origins: Vec<String>,
    /// On shutdown, how long in-flight requests may take to finish. Default: 10 s.
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}

impl Default for HttpConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            cookie_name: "sessionhost".into(),
            header_name: "x-session-id".into(),
            secure_cookie: false,
            on_unknown_session: UnknownSession::Restart,
            signing_keys: Vec::new(),
            admin_token: None,
            max_body: ByteSize::mib(1),
            request_timeout: Duration::from_secs(30),
            upload_timeout: Duration::from_secs(600),
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_streams: None,
            max_streams_per_session: 16,
            max_streams_per_client: 64,
            ws_ping_interval: Duration::from_secs(25),
            stream_close_grace: Duration::from_secs(5),
            max_in_flight: 4096,
            rate_limit_per_ip: 0,
            client_ip_header: None,
            trusted_proxy_hops: 1,
            cors_origins: Vec::new(),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

impl HttpConfig {
    /// Checks the values; the error names the field.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |field: &'static str, reason: String| Err(ConfigError { field, reason });
        if self.cookie_name.is_empty()
            || !self
                .cookie_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return bad("cookie_name", "must be letters, digits, `-` or `_`".into());
        }
        if axum::http::HeaderName::from_bytes(self.header_name.as_bytes()).is_err() {
            return bad("header_name", "is not a valid header name".into());
        }
        for (i, key) in self.signing_keys.iter().enumerate() {
            if key.len() < MIN_KEY_BYTES {
                return bad(
                    "signing_keys",
                    format!(
                        "key {i} is {} bytes; at least {MIN_KEY_BYTES} are needed",
                        key.len()
                    ),
                );
            }
        }
        if let Some(name) = &self.client_ip_header
            && axum::http::HeaderName::from_bytes(name.as_bytes()).is_err()
        {
            return bad("client_ip_header", "is not a valid header name".into());
        }
        if let Some(token) = &self.admin_token
            && token.len() < 16
        {
            return bad("admin_token", "must be at least 16 characters".into());
        }
        if self.max_body.as_u64() == 0 {
            return bad("max_body", "must be greater than zero".into());
        }
        if self.request_timeout.is_zero() || self.header_read_timeout.is_zero() {
            return bad(
                "request_timeout",
                "timeouts must be greater than zero".into(),
            );
        }
        if self.upload_timeout.is_zero() {
            return bad("upload_timeout", "must be greater than zero".into());
        }
        if self.max_connections == 0 || self.max_in_flight == 0 {
            return bad("max_in_flight", "limits must be at least 1".into());
        }
        if self.max_streams == Some(0) || self.max_streams_per_session == 0 {
            return bad(
                "max_streams_per_session",
                "stream limits must be at least 1".into(),
            );
        }
        if self.trusted_proxy_hops == 0 {
            return bad("trusted_proxy_hops", "must be at least 1".into());
        }
        for origin in &self.cors_origins {
            if origin == "*" || axum::http::HeaderValue::from_str(origin).is_err() {
                return bad(
                    "cors_origins",
                    format!("{origin:?} is not an origin (`*` is not allowed with credentials)"),
                );
            }
        }
        Ok(())
    }

    /// `max_streams`, or its default: half of `max_connections` (at least 1).
    pub(crate) fn stream_cap(&self) -> usize {
        self.max_streams
            .unwrap_or((self.max_connections / 2).max(1))
    }

    /// The token keys: the configured ones, or a random one.
    pub(crate) fn token_keys(&self) -> TokenKeys {
        if self.signing_keys.is_empty() {
            return TokenKeys::random();
        }
        TokenKeys::new(&self.signing_keys).expect("validated signing keys")
    }

    pub(crate) fn max_body_bytes(&self) -> usize {
        usize::try_from(self.max_body.as_u64()).unwrap_or(usize::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_unknown_keys_rejected() {
        HttpConfig::default().validate().unwrap();
        assert!(toml::from_str::<HttpConfig>("cookie = \"x\"").is_err());
        let c: HttpConfig = toml::from_str(
            "on_unknown_session = \"reject\"\nrequest_timeout = \"5s\"\nmax_body = \"64 KiB\"",
        )
        .unwrap();
        assert_eq!(c.on_unknown_session, UnknownSession::Reject);
        assert_eq!(c.max_body.as_u64(), 64 * 1024);
    }

    #[test]
    fn bad_values_name_their_field() {
        let c = HttpConfig {
            signing_keys: vec!["short".into()],
            ..HttpConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "signing_keys");
        let c = HttpConfig {
            cookie_name: "a b".into(),
            ..HttpConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "cookie_name");
        let c = HttpConfig {
            admin_token: Some("short".into()),
            ..HttpConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "admin_token");
        let c = HttpConfig {
            cors_origins: vec!["*".into()],
            ..HttpConfig::default()
        };
        assert_eq!(c.validate().unwrap_err().field, "cors_origins");
        assert_eq!(HttpConfig::default().stream_cap(), 5_000);
    }
}
