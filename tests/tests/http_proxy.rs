//! End-to-end over a real socket: behind a proxy, in a browser — stream routes that never
//! start a session (204 for EventSource), cookies that recover after a key change, tokens
//! that restart their own guest, the client address a trusted proxy added, headers that
//! keep proxies from buffering, CORS, and WebSocket pings.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, SET_COOKIE};
use serde_json::{Value, json};
use sessionhost::SessionId;
use sessionhost::http::{HttpConfig, TokenKeys};
use sessionhost_tests::server::TestServer;
use sessionhost_tests::support;
use tokio_tungstenite::tungstenite::Message;

fn expires_the_cookie(response: &reqwest::Response) -> bool {
    response.headers().get_all(SET_COOKIE).iter().any(|v| {
        v.to_str()
            .is_ok_and(|v| v.starts_with("sessionhost=") && v.contains("Max-Age=0"))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_routes_never_start_a_session_and_tell_eventsource_to_stop() {
    let server = TestServer::start(HttpConfig::default()).await;
    let client = reqwest::Client::new();
    let (_, ended) = server.ended_session_token().await;
    let (live_id, live) = server.counter_session().await;
    // No token, or a genuine token of an ended session: 204, cookie expired, nothing started.
    for token in [None, Some(ended.as_str())] {
        let mut request = client.get(server.url("/v1/session/events"));
        if let Some(token) = token {
            request = request.header("cookie", format!("sessionhost={token}"));
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::NO_CONTENT, "{token:?}");
        assert!(expires_the_cookie(&response), "{token:?}");
    }
    let mut request =
        tokio_tungstenite::tungstenite::client::IntoClientRequest::into_client_request(format!(
            "ws://{}/v1/session/ws",
            server.addr
        ))
        .unwrap();
    request
        .headers_mut()
        .insert("x-session-id", ended.parse().unwrap());
    match tokio_tungstenite::connect_async(request).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), StatusCode::NO_CONTENT);
        }
        other => panic!("expected 204, got {other:?}"),
    }
    assert_eq!(server.host.stats().sessions, 1, "only the live one");
    // A live session's stream tells proxies not to buffer it.
    let response = client
        .get(server.url("/v1/session/events"))
        .header("x-session-id", &live)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-accel-buffering"], "no");
    assert_eq!(response.headers()[CACHE_CONTROL], "no-cache");
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    drop(response);
    assert!(server.host.is_started(&live_id));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_from_before_a_key_change_is_expired_and_the_next_request_recovers() {
    let host = support::host_with(support::config().default_guest("counter")).await;
    let server = TestServer::serve_with_keys(
        host,
        HttpConfig::default(),
        TokenKeys::new(&[[42u8; 32]]).unwrap(),
    )
    .await
    .unwrap();
    // The browser's cookie was signed by the server's previous key.
    let old = TokenKeys::new(&[[7u8; 32]]).unwrap();
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let url: reqwest::Url = server.url("/").parse().unwrap();
    jar.add_cookie_str(
        &format!(
            "sessionhost={}; Path=/",
            old.sign_for(&SessionId::generate(), "counter")
        ),
        &url,
    );
    let browser = reqwest::Client::builder()
        .cookie_provider(Arc::clone(&jar))
        .build()
        .unwrap();
    let refused = browser
        .post(server.url("/v1/session/call"))
        .body(r#"{"op":"incr"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(expires_the_cookie(&refused));
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "invalid_session_id");
    // The browser dropped the cookie: its next request gets a session.
    let recovered = browser
        .post(server.url("/v1/session/call"))
        .body(r#"{"op":"incr"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(recovered.status(), StatusCode::OK);
    assert_eq!(recovered.json::<Value>().await.unwrap(), json!({"value":1}));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ended_sessions_token_restarts_its_own_guest() {
    let server = TestServer::start(HttpConfig::default()).await;
    let client = reqwest::Client::new();
    let created: Value = client
        .post(server.url("/v1/sessions"))
        .json(&json!({"guest": "cart"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = created["token"].as_str().unwrap().to_string();
    assert!(
        token.contains(":cart."),
        "the token names its guest: {token}"
    );
    let id: SessionId = created["id"].as_str().unwrap().parse().unwrap();
    server.host.terminate(&id).await.unwrap();
    // The cart client's next message reaches a fresh cart, not the default counter.
    let reply = server
        .post(
            &client,
            "/v1/session/call",
            Some(&token),
            r#"{"op":"list"}"#,
        )
        .await;
    assert_eq!(reply.status(), StatusCode::OK);
    let cookie = reply.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(cookie.contains(":cart."), "{cookie}");
    let fresh = cookie
        .trim_start_matches("sessionhost=")
        .split(['.', ':'])
        .next()
        .unwrap()
        .to_string();
    assert_eq!(server.host.info(&fresh).unwrap().guest, "cart");
    // A genuine token of a guest that is no longer loaded: refused, nothing started.
    let before = server.host.stats().sessions;
    let gone = server.keys.sign_for(&SessionId::generate(), "unloaded");
    let refused = server
        .post(&client, "/v1/session/call", Some(&gone), "{}")
        .await;
    assert_eq!(refused.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "guest_not_found"
    );
    assert_eq!(server.host.stats().sessions, before);
    // Tokens of the first format (no guest) still verify: the default guest.
    let (old_id, old) = server.ended_session_token().await;
    let reply = server
        .post(&client, "/v1/session/call", Some(&old), r#"{"op":"get"}"#)
        .await;
    assert_eq!(reply.json::<Value>().await.unwrap(), json!({"value":0}));
    assert!(!server.host.is_started(&old_id));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_address_is_the_one_the_trusted_proxy_added() {
    let client = reqwest::Client::new();
    for (hops, list) in [
        (1, ["1.1.1.{n}", "203.0.113.7"].as_slice()),
        (2, ["1.1.1.{n}", "203.0.113.7", "10.0.0.1"].as_slice()),
    ] {
        let server = TestServer::start(HttpConfig {
            rate_limit_per_ip: 1,
            client_ip_header: Some("x-forwarded-for".into()),
            trusted_proxy_hops: hops,
            ..HttpConfig::default()
        })
        .await;
        let create = |n: u8, list: &[&str]| {
            let header = list.join(", ").replace("{n}", &n.to_string());
            client
                .post(server.url("/v1/sessions"))
                .header("x-forwarded-for", header)
                .send()
        };
        assert_eq!(create(1, list).await.unwrap().status(), StatusCode::CREATED);
        // The client changes what it claims: still the same address, still limited.
        let limited = create(2, list).await.unwrap();
        assert_eq!(
            limited.status(),
            StatusCode::TOO_MANY_REQUESTS,
            "hops {hops}"
        );
        // Another client, as the proxy saw it, has its own bucket.
        let mut other: Vec<&str> = list.to_vec();
        other[1] = "198.51.100.2";
        assert_eq!(
            create(3, &other).await.unwrap().status(),
            StatusCode::CREATED
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_credentials_for_listed_origins_only() {
    let server = TestServer::start(HttpConfig {
        cors_origins: vec!["https://app.example".into()],
        ..HttpConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    let preflight = |origin: &'static str| {
        client
            .request(reqwest::Method::OPTIONS, server.url("/v1/session/call"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "content-type, x-session-id",
            )
            .send()
    };
    let listed = preflight("https://app.example").await.unwrap();
    assert!(listed.status().is_success(), "{}", listed.status());
    let headers = listed.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example"
    );
    assert_eq!(headers["access-control-allow-credentials"], "true");
    let methods = headers["access-control-allow-methods"].to_str().unwrap();
    assert!(methods.contains("POST"), "{methods}");
    let allowed = headers["access-control-allow-headers"].to_str().unwrap();
    assert!(allowed.contains("x-session-id"), "{allowed}");
    let unlisted = preflight("https://evil.example").await.unwrap();
    assert!(
        unlisted
            .headers()
            .get("access-control-allow-origin")
            .is_none(),
        "{:?}",
        unlisted.headers()
    );
    // A real request from the listed origin is answered with the header too.
    let call = client
        .post(server.url("/v1/session/call"))
        .header("origin", "https://app.example")
        .body(r#"{"op":"get"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(
        call.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_pings_idle_websockets() {
    let server = TestServer::start(HttpConfig {
        ws_ping_interval: Duration::from_millis(100),
        ..HttpConfig::default()
    })
    .await;
    let (_, token) = server.counter_session().await;
    let mut socket = server.websocket(&token).await;
    let ping = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match socket.next().await {
                Some(Ok(Message::Ping(_))) => return true,
                Some(Ok(_)) => continue,
                _ => return false,
            }
        }
    })
    .await
    .expect("a ping within 10 s");
    assert!(ping, "the socket ended before a ping");
    server.stop().await;
}
