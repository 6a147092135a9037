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
    /// Longest a request may take, end to end. Default: 30 s.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Longest a client may take to send its request headers. Default: 10 s.
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Most open connections; further ones are closed at once. Default: 10 000.
    pub max_connections: usize,
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
    /// Header holding the client's address when the server sits behind a proxy it trusts
    /// (e.g. `x-forwarded-for`: its first entry is used). Default: none (the peer address).
    pub client_ip_header: Option<String>,
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
            header_read_timeout: Duration::from_secs(10),
            max_connections: 10_000,
            max_in_flight: 4096,
            rate_limit_per_ip: 0,
            client_ip_header: None,
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
        if self.max_connections == 0 || self.max_in_flight == 0 {
            return bad("max_in_flight", "limits must be at least 1".into());
        }
        Ok(())
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
    }
}
