//! A real `sessionhost` server on a loopback socket, for the HTTP tests.
//!
//! [`TestServer::start`] binds `127.0.0.1:0`, loads the test guests, and serves with
//! [`sessionhost::http::serve`] until [`TestServer::stop`] (or drop) fires its shutdown future;
//! [`TestServer::serve`] does the same for a host the caller built (the soak harness). Also
//! the client side the HTTP tests share: sessions with their tokens, WebSockets, and the check
//! that no error body leaks an internal detail.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::Value;
use sessionhost::Host;
use sessionhost::http::{HttpConfig, TokenKeys};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;

use crate::support;

/// A server under test.
#[derive(Debug)]
pub struct TestServer {
    /// Where it listens.
    pub addr: SocketAddr,
    /// The host behind it.
    pub host: Host,
    /// The keys its tokens are signed with.
    pub keys: TokenKeys,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl TestServer {
    /// Starts a server with the test host defaults (`counter` as default guest) and `http`.
    pub async fn start(http: HttpConfig) -> Self {
        Self::start_with(support::config().default_guest("counter"), http).await
    }

    /// Starts a server with a custom host configuration.
    pub async fn start_with(host: sessionhost::HostConfigBuilder, http: HttpConfig) -> Self {
        Self::serve(support::host_with(host).await, http)
            .await
            .expect("the server starts")
    }

    /// Serves `host` (built and loaded by the caller) on a loopback port with `http`, tokens
    /// signed with the test key.
    pub async fn serve(host: Host, http: HttpConfig) -> std::io::Result<Self> {
        let keys = TokenKeys::new(&[[7u8; 32]]).expect("test key");
        Self::serve_with_keys(host, http, keys).await
    }

    /// [`serve`](Self::serve) with tokens signed with `keys` (a restart with a new key).
    pub async fn serve_with_keys(
        host: Host,
        http: HttpConfig,
        keys: TokenKeys,
    ) -> std::io::Result<Self> {
        let router = sessionhost::http::router(host.clone(), &http, keys.clone())
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = oneshot::channel::<()>();
        let served = host.clone();
        let task = tokio::spawn(async move {
            sessionhost::http::serve(listener, router, served, &http, async {
                let _ = stopped.await;
            })
            .await;
        });
        Ok(Self {
            addr,
            host,
            keys,
            stop: Some(stop),
            task: Some(task),
        })
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// POSTs `body` to `path` with `client`, the session token (if any) in `x-session-id`.
    pub async fn post(
        &self,
        client: &reqwest::Client,
        path: &str,
        token: Option<&str>,
        body: impl Into<reqwest::Body>,
    ) -> reqwest::Response {
        let mut request = client.post(self.url(path)).body(body);
        if let Some(token) = token {
            request = request.header("x-session-id", token);
        }
        request.send().await.expect("the request is answered")
    }

    /// A new `counter` session and its genuine token.
    pub async fn counter_session(&self) -> (sessionhost::SessionId, String) {
        let id = self
            .host
            .start(sessionhost::StartOptions::guest("counter"))
            .await
            .expect("a session starts");
        let token = self.keys.sign(&id);
        (id, token)
    }

    /// A genuine token of a `counter` session that has ended, and its ID.
    pub async fn ended_session_token(&self) -> (sessionhost::SessionId, String) {
        let (id, token) = self.counter_session().await;
        self.host.terminate(&id).await.expect("it ends");
        (id, token)
    }

    /// A WebSocket on the session of `token` (`/v1/session/ws`, the token in the cookie).
    pub async fn websocket(&self, token: &str) -> WebSocket {
        let mut request = format!("ws://{}/v1/session/ws", self.addr)
            .into_client_request()
            .expect("a WebSocket request");
        request.headers_mut().insert(
            reqwest::header::COOKIE,
            format!("sessionhost={token}")
                .parse()
                .expect("a cookie header"),
        );
        tokio_tungstenite::connect_async(request)
            .await
            .expect("the WebSocket opens")
            .0
    }

    /// A WebSocket handshake on a plain socket, with `token` in the `x-session-id` header:
    /// the socket after the server's `101` (for frames written by hand, or for a client
    /// that never reads). Panics unless the server switches protocols.
    pub async fn raw_websocket(&self, token: &str) -> tokio::net::TcpStream {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connects");
        let request = format!(
            "GET /v1/session/ws HTTP/1.1\r\nhost: {}\r\nupgrade: websocket\r\n\
             connection: Upgrade\r\nsec-websocket-version: 13\r\n\
             sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nx-session-id: {token}\r\n\r\n",
            self.addr
        );
        stream.write_all(request.as_bytes()).await.expect("sent");
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut byte))
                .await
                .expect("the handshake is answered within 10 s")
                .expect("readable");
            assert_eq!(
                read,
                1,
                "closed during the handshake: {:?}",
                String::from_utf8_lossy(&head)
            );
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head);
        assert!(head.starts_with("HTTP/1.1 101"), "{head}");
        stream
    }

    /// A plain socket that asks for the SSE stream of `token` and then never reads.
    pub async fn raw_event_stream(&self, token: &str) -> tokio::net::TcpStream {
        use tokio::io::AsyncWriteExt as _;
        let mut stream = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connects");
        let request =
            format!("GET /v1/session/events HTTP/1.1\r\nhost: x\r\nx-session-id: {token}\r\n\r\n");
        stream.write_all(request.as_bytes()).await.expect("sent");
        stream
    }

    /// Waits until a health check on a new connection is served (10 s at most). Places
    /// under `max_connections` come back when the server drops ended connections, which only
    /// its answers show: each attempt asks it (one past the limit is closed at once), with
    /// [`support::eventually_some`].
    pub async fn eventually_served(&self) {
        let fresh = reqwest::Client::builder()
            .pool_max_idle_per_host(0)
            .build()
            .expect("client");
        support::eventually_some("a new connection is served again", async || {
            let response = fresh.get(self.url("/healthz")).send().await.ok()?;
            (response.status() == reqwest::StatusCode::OK).then_some(())
        })
        .await;
    }

    /// A client with a cookie jar.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .cookie_store(true)
            .build()
            .expect("client")
    }

    /// Triggers graceful shutdown and waits for the server to return.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("server task");
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// A client WebSocket to the test server.
pub type WebSocket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame of `socket`, parsed as JSON (10 s at most; other frames skipped).
pub async fn next_json(socket: &mut WebSocket) -> Value {
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
            .await
            .expect("a frame within 10 s")
            .expect("the socket is open")
            .expect("a frame");
        if let Message::Text(text) = frame {
            return serde_json::from_str(&text).expect("JSON frames");
        }
    }
}

/// What no HTTP error body may contain: paths, engine messages, Rust panic messages
/// (`panicked at`), backtraces.
pub const INTERNALS: [&str; 8] = [
    "/work/",
    "/root/",
    "/home/",
    ".rs:",
    "wasmtime",
    "backtrace",
    "panicked at",
    "wasm trap",
];

/// Fails when `body` carries one of [`INTERNALS`].
pub fn assert_no_internals(body: &str) {
    for internal in INTERNALS {
        assert!(!body.contains(internal), "leaks {internal:?}: {body}");
    }
}
