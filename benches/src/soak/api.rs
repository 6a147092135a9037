//! The soak clients' view of the session API: one request, one [`Outcome`].
//!
//! Every answer is sorted into exactly one of three outcomes, which is what the harness
//! counts: a success (2xx, with its body), a *typed error* (any other status whose body is
//! the API's JSON problem `{"error": kind, "message": text}`), or *lost* (no answer within the
//! client timeout, a broken connection, or an error without a problem body). The server
//! promises that every accepted request ends in one of the first two; a lost one is a
//! failure of the run.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

/// The header that carries the session token.
pub(crate) const TOKEN_HEADER: &str = "x-session-id";

/// How long a client waits for any answer before counting the request as lost. Well above
/// the host's call timeout (2 s) and the server's request timeout (30 s is its default, but
/// every soak call is bounded by the call timeout first).
pub(crate) const CLIENT_TIMEOUT: Duration = Duration::from_secs(20);

/// What became of one request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    /// A 2xx answer and its body.
    Ok(StatusCode, Vec<u8>),
    /// An error the API reports with its kind (`mailbox_full`, `guest_trap`...).
    Typed(StatusCode, String),
    /// No answer, or an answer that is not the API's.
    Lost(String),
}

impl Outcome {
    /// The body of a success as JSON, or what went wrong instead.
    pub(crate) fn json(&self) -> Result<Value, String> {
        match self {
            Self::Ok(_, body) => serde_json::from_slice(body)
                .map_err(|e| format!("reply is not JSON ({e}): {}", String::from_utf8_lossy(body))),
            Self::Typed(status, kind) => Err(format!("{status} {kind}")),
            Self::Lost(why) => Err(format!("lost: {why}")),
        }
    }

    /// The kind of a typed error.
    pub(crate) fn kind(&self) -> Option<&str> {
        match self {
            Self::Typed(_, kind) => Some(kind),
            _ => None,
        }
    }
}

/// Sorts a status and body into an [`Outcome`].
pub(crate) fn classify(status: StatusCode, body: Vec<u8>) -> Outcome {
    if status.is_success() {
        return Outcome::Ok(status, body);
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(problem) if problem["error"].is_string() && problem["message"].is_string() => {
            Outcome::Typed(
                status,
                problem["error"].as_str().unwrap_or_default().to_owned(),
            )
        }
        _ => Outcome::Lost(format!(
            "{status} without a problem body: {}",
            String::from_utf8_lossy(&body)
        )),
    }
}

/// One client's connection pool to the server.
#[derive(Debug, Clone)]
pub(crate) struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    /// A client of the server at `base` (`http://127.0.0.1:PORT`).
    pub(crate) fn new(base: String) -> anyhow::Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(CLIENT_TIMEOUT)
            .pool_max_idle_per_host(32)
            .build()?;
        Ok(Self { client, base })
    }

    /// `base + path`.
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The underlying client (for streams).
    pub(crate) fn client(&self) -> &reqwest::Client {
        &self.client
    }

    /// `POST path` with `body`, the token (if any) in [`TOKEN_HEADER`].
    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: String) -> Outcome {
        let mut request = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.header(TOKEN_HEADER, token);
        }
        Self::finish(request).await
    }

    /// `DELETE /v1/session` of `token`.
    pub(crate) async fn delete(&self, token: &str) -> Outcome {
        let request = self
            .client
            .delete(self.url("/v1/session"))
            .header(TOKEN_HEADER, token);
        Self::finish(request).await
    }

    async fn finish(request: reqwest::RequestBuilder) -> Outcome {
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Outcome::Lost(format!("request failed: {e}")),
        };
        let status = response.status();
        match response.bytes().await {
            Ok(body) => classify(status, body.to_vec()),
            Err(e) => Outcome::Lost(format!("{status}, body not received: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_sorted_into_outcomes() {
        let ok = classify(StatusCode::OK, br#"{"value":3}"#.to_vec());
        assert_eq!(ok.json().unwrap()["value"], 3);
        let typed = classify(
            StatusCode::SERVICE_UNAVAILABLE,
            br#"{"error":"mailbox_full","message":"the mailbox is full"}"#.to_vec(),
        );
        assert_eq!(typed.kind(), Some("mailbox_full"));
        let untyped = classify(StatusCode::INTERNAL_SERVER_ERROR, b"oops".to_vec());
        assert!(matches!(untyped, Outcome::Lost(_)));
    }
}
