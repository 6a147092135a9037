//! A real `sessionhost` server on a loopback socket, for the HTTP tests.
//!
//! [`TestServer::start`] binds `127.0.0.1:0`, loads the test guests, and serves with
//! [`sessionhost::http::serve`] until [`TestServer::stop`] (or drop) fires its shutdown future.

use std::net::SocketAddr;

use sessionhost::Host;
use sessionhost::http::{HttpConfig, TokenKeys};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

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
        let host = support::host_with(host).await;
        let keys = TokenKeys::new(&[[7u8; 32]]).expect("test key");
        let router = sessionhost::http::router(host.clone(), &http, keys.clone()).expect("router");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        let served = host.clone();
        let task = tokio::spawn(async move {
            sessionhost::http::serve(listener, router, served, &http, async {
                let _ = stopped.await;
            })
            .await;
        });
        Self {
            addr,
            host,
            keys,
            stop: Some(stop),
            task: Some(task),
        }
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

    /// A genuine token of a `counter` session that has ended, and its ID.
    pub async fn ended_session_token(&self) -> (sessionhost::SessionId, String) {
        let id = self
            .host
            .start(sessionhost::StartOptions::guest("counter"))
            .await
            .expect("a session starts");
        let token = self.keys.sign(&id);
        self.host.terminate(&id).await.expect("it ends");
        (id, token)
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
