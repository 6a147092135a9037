//! End-to-end over a real socket: cookies and headers, strict mode, rotation, SSE and
//! WebSocket subscriptions, the admin API, metrics, errors and graceful shutdown.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use reqwest::header::{CACHE_CONTROL, COOKIE, RETRY_AFTER, SET_COOKIE};
use serde_json::{Value, json};
use sessionhost::http::HttpConfig;
use sessionhost::{SessionId, StartOptions};
use sessionhost_tests::server::{TestServer, assert_no_internals, next_json};
use sessionhost_tests::support;
use tokio_tungstenite::tungstenite::Message;

/// The app of `host/examples/embed_axum.rs`, tested as the example ships.
#[path = "../../host/examples/embed_axum.rs"]
#[expect(dead_code, reason = "the example's main is not used by the tests")]
#[expect(
    unreachable_pub,
    reason = "the example exports app for its own readers"
)]
mod embed_axum;

async fn json_of(response: reqwest::Response) -> Value {
    response.json().await.expect("a JSON body")
}

async fn problem(response: reqwest::Response, status: StatusCode, kind: &str) -> Value {
    assert_eq!(response.status(), status);
    let body = json_of(response).await;
    assert_eq!(body["error"], kind, "{body}");
    assert_no_internals(body["message"].as_str().expect("a message"));
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cookie_jar_keeps_one_session() {
    let server = TestServer::start(HttpConfig::default()).await;
    let client = server.client();
    let first = server
        .post(&client, "/v1/session/call", None, r#"{"op":"incr","by":1}"#)
        .await;
    assert_eq!(first.status(), StatusCode::OK);
    let cookie = first.headers()[SET_COOKIE].to_str().unwrap().to_string();
    for attribute in ["sessionhost=", "HttpOnly", "SameSite=Lax", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "{cookie}");
    assert_eq!(first.headers()[CACHE_CONTROL], "no-store");
    assert_eq!(first.bytes().await.unwrap(), r#"{"value":1}"#);

    let second = server
        .post(&client, "/v1/session/call", None, r#"{"op":"incr","by":1}"#)
        .await;
    assert!(
        second.headers().get(SET_COOKIE).is_none(),
        "the cookie is set once"
    );
    assert_eq!(second.bytes().await.unwrap(), r#"{"value":2}"#);
    assert_eq!(server.host.stats().sessions, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_header_carries_a_token_from_the_create_route() {
    let server = TestServer::start(HttpConfig::default()).await;
    let plain = reqwest::Client::new();
    let created = plain
        .post(server.url("/v1/sessions"))
        .json(&json!({"guest": "counter", "args": {"start": 40}}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::CREATED);
    assert!(created.headers().get(SET_COOKIE).is_some());
    let body = json_of(created).await;
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with(body["id"].as_str().unwrap()));
    for _ in 0..2 {
        server
            .post(&plain, "/v1/session/cast", Some(token), r#"{"op":"incr"}"#)
            .await
            .error_for_status()
            .unwrap();
    }
    let reply = plain
        .post(server.url("/v1/session/call"))
        .header("x-session-id", token)
        .header("content-type", "application/json")
        .body(r#"{"op":"get"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.headers()["content-type"], "application/json");
    assert_eq!(json_of(reply).await, json!({"value": 42}));
    // An unknown guest, and a malformed spec.
    let missing = plain
        .post(server.url("/v1/sessions"))
        .json(&json!({"guest": "nope"}))
        .send()
        .await
        .unwrap();
    problem(missing, StatusCode::NOT_FOUND, "guest_not_found").await;
    let malformed = server.post(&plain, "/v1/sessions", None, "{not json").await;
    problem(malformed, StatusCode::BAD_REQUEST, "bad_request").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_tampered_and_malformed_tokens_get_400_and_create_nothing() {
    let server = TestServer::start(HttpConfig::default()).await;
    let plain = reqwest::Client::new();
    let (id, genuine) = server.counter_session().await;
    let other_key = sessionhost::http::TokenKeys::new(&[[9u8; 32]]).unwrap();
    let mut tampered = genuine.clone().into_bytes();
    let last = tampered.len() - 1;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let cases = [
        other_key.sign(&id),                  // forged with another key
        String::from_utf8(tampered).unwrap(), // tampered tag
        format!("{}.{}", SessionId::generate(), &genuine[23..]), // tag of another ID
        id.to_string(),                       // a bare ID: never adopted
        "garbage".to_string(),
        "x".repeat(4000),
    ];
    for token in &cases {
        for (name, value) in [
            ("cookie", format!("sessionhost={token}")),
            ("x-session-id", token.clone()),
        ] {
            let response = plain
                .post(server.url("/v1/session/call"))
                .header(name, value)
                .body(r#"{"op":"incr"}"#)
                .send()
                .await
                .unwrap();
            problem(response, StatusCode::BAD_REQUEST, "invalid_session_id").await;
        }
    }
    assert_eq!(server.host.stats().sessions, 1, "no session was created");
    // The genuine token still works.
    let ok = server
        .post(
            &plain,
            "/v1/session/call",
            Some(&genuine),
            r#"{"op":"get"}"#,
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_genuine_token_of_an_ended_session_gets_a_fresh_session_or_404() {
    let server = TestServer::start(HttpConfig::default()).await;
    let plain = reqwest::Client::new();
    let (id, token) = server.ended_session_token().await;
    let response = server
        .post(&plain, "/v1/session/call", Some(&token), r#"{"op":"incr"}"#)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert!(
        !cookie.contains(id.as_str()),
        "never a session under the old ID"
    );
    assert_eq!(
        json_of(response).await,
        json!({"value": 1}),
        "a fresh session"
    );
    assert!(!server.host.is_started(&id));

    let strict = TestServer::start(HttpConfig {
        on_unknown_session: sessionhost::http::UnknownSession::Reject,
        ..HttpConfig::default()
    })
    .await;
    let (_, token) = strict.ended_session_token().await;
    let response = strict
        .post(&plain, "/v1/session/call", Some(&token), r#"{"op":"incr"}"#)
        .await;
    problem(response, StatusCode::NOT_FOUND, "session_not_found").await;
    assert_eq!(strict.host.stats().sessions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn touch_and_delete_need_an_existing_session() {
    let server = TestServer::start(HttpConfig::default()).await;
    let client = server.client();
    let touch = client
        .post(server.url("/v1/session/touch"))
        .send()
        .await
        .unwrap();
    problem(touch, StatusCode::NOT_FOUND, "session_not_found").await;
    assert_eq!(server.host.stats().sessions, 0, "touch starts nothing");
    server
        .post(&client, "/v1/session/call", None, r#"{"op":"incr"}"#)
        .await;
    let touched = client
        .post(server.url("/v1/session/touch"))
        .send()
        .await
        .unwrap();
    assert_eq!(touched.status(), StatusCode::NO_CONTENT);
    let deleted = client
        .delete(server.url("/v1/session"))
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let expired = deleted.headers()[SET_COOKIE].to_str().unwrap();
    assert!(expired.contains("Max-Age=0"), "{expired}");
    assert_eq!(server.host.stats().sessions, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sse_subscribers_get_events_then_the_end() {
    let server = TestServer::start(HttpConfig::default()).await;
    let client = server.client();
    // Start the session (and get the cookie) with a first call.
    server
        .post(&client, "/v1/session/call", None, r#"{"op":"get"}"#)
        .await;
    let events = client
        .get(server.url("/v1/session/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(events.headers()["content-type"], "text/event-stream");
    let mut body = events.bytes_stream();
    server
        .post(&client, "/v1/session/call", None, r#"{"op":"incr","by":5}"#)
        .await;
    client
        .delete(server.url("/v1/session"))
        .send()
        .await
        .unwrap();
    let mut text = String::new();
    let read = async {
        while let Some(chunk) = body.next().await {
            text.push_str(&String::from_utf8_lossy(&chunk.unwrap()));
            if text.contains("event: terminated") && text.ends_with("\n\n") {
                break;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .expect("the stream ends");
    assert!(
        text.contains("event: publish\ndata: {\"value\":5}"),
        "{text}"
    );
    assert!(
        text.contains("event: terminated\ndata: {\"reason\":\"normal\"}"),
        "{text}"
    );
    assert!(text.find("publish").unwrap() < text.find("terminated").unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_calls_casts_events_and_the_closing_reason() {
    let server = TestServer::start(HttpConfig::default()).await;
    let (id, token) = server.counter_session().await;
    let mut socket = server.websocket(&token).await;

    let call = json!({"type": "call", "id": 7, "data": {"op": "incr", "by": 2}});
    socket
        .send(Message::Text(call.to_string().into()))
        .await
        .unwrap();
    socket
        .send(Message::Text(
            json!({"type":"cast","data":{"op":"incr"}})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let mut frames = Vec::new();
    while frames.len() < 3 {
        frames.push(next_json(&mut socket).await);
    }
    assert!(
        frames.contains(&json!({"type":"reply","id":7,"data":{"value":2}})),
        "{frames:?}"
    );
    assert!(
        frames.contains(&json!({"type":"event","data":{"value":2}})),
        "{frames:?}"
    );
    assert!(
        frames.contains(&json!({"type":"event","data":{"value":3}})),
        "{frames:?}"
    );
    // A guest error comes back as an error frame for that call.
    socket
        .send(Message::Text(
            json!({"type":"call","id":"x","data":{"op":"nope"}})
                .to_string()
                .into(),
        ))
        .await
        .unwrap();
    let error = next_json(&mut socket).await;
    assert_eq!(error["type"], "error");
    assert_eq!(error["id"], "x");
    assert_eq!(error["error"], "guest_error");

    server.host.terminate(&id).await.unwrap();
    loop {
        match socket.next().await {
            Some(Ok(Message::Close(Some(frame)))) => {
                assert_eq!(u16::from(frame.code), 1000);
                assert_eq!(frame.reason.as_str(), r#"{"reason":"normal"}"#);
                break;
            }
            Some(Ok(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

/// `GET path` on the admin API with `token`, as JSON.
async fn admin_get(
    client: &reqwest::Client,
    server: &TestServer,
    path: &str,
    token: &str,
) -> Value {
    let response = client
        .get(server.url(path))
        .bearer_auth(token)
        .send()
        .await
        .expect("the admin API answers");
    json_of(response).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_needs_its_token() {
    let closed = TestServer::start(HttpConfig::default()).await;
    let plain = reqwest::Client::new();
    let response = plain.get(closed.url("/admin/stats")).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "off without a token"
    );

    let token = "admin-token-for-tests-0123456789";
    let server = TestServer::start(HttpConfig {
        admin_token: Some(token.into()),
        ..HttpConfig::default()
    })
    .await;
    for bad in [None, Some("wrong"), Some("admin-token-for-tests-012345678")] {
        let mut request = plain.get(server.url("/admin/stats"));
        if let Some(bad) = bad {
            request = request.bearer_auth(bad);
        }
        problem(
            request.send().await.unwrap(),
            StatusCode::UNAUTHORIZED,
            "unauthorized",
        )
        .await;
    }
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(
            server
                .host
                .start(StartOptions::guest("counter"))
                .await
                .unwrap(),
        );
    }
    server
        .host
        .start(StartOptions::guest("cart"))
        .await
        .unwrap();
    let stats = admin_get(&plain, &server, "/admin/stats", token).await;
    assert_eq!(stats["sessions"], 6);

    let first = admin_get(
        &plain,
        &server,
        "/admin/sessions?guest=counter&limit=3",
        token,
    )
    .await;
    assert_eq!(first["sessions"].as_array().unwrap().len(), 3);
    let next = first["next"].as_str().unwrap();
    let second = json_of(
        plain
            .get(server.url(&format!(
                "/admin/sessions?guest=counter&limit=3&after={next}"
            )))
            .bearer_auth(token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(second["sessions"].as_array().unwrap().len(), 2);
    assert!(second["next"].is_null());

    let one = admin_get(
        &plain,
        &server,
        &format!("/admin/sessions/{}", ids[0]),
        token,
    )
    .await;
    assert_eq!(one["guest"], "counter");
    assert_eq!(one["status"], "running");
    // A hibernated session is reported from its stored record, and asking does not wake it.
    assert!(
        server
            .host
            .hibernate(&ids[1])
            .await
            .unwrap()
            .is_hibernated()
    );
    let sleeping = admin_get(
        &plain,
        &server,
        &format!("/admin/sessions/{}", ids[1]),
        token,
    )
    .await;
    assert_eq!(sleeping["status"], "hibernated", "{sleeping}");
    assert_eq!(sleeping["guest"], "counter");
    assert!(sleeping["snapshot_bytes"].as_u64().unwrap() > 0);
    assert_eq!(server.host.stats().hibernated, 1);
    let killed = plain
        .delete(server.url(&format!("/admin/sessions/{}", ids[0])))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(killed.status(), StatusCode::NO_CONTENT);
    assert!(!server.host.is_started(&ids[0]));
    let guests = admin_get(&plain, &server, "/admin/guests", token).await;
    assert!(
        guests
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["name"] == "counter")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_health_and_the_openapi_document() {
    let server = TestServer::start(HttpConfig::default()).await;
    let client = server.client();
    for _ in 0..3 {
        server
            .post(&client, "/v1/session/call", None, r#"{"op":"incr"}"#)
            .await;
    }
    server.post(&client, "/v1/session/call", None, "nope").await;
    let text = reqwest::get(server.url("/metrics"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        "sessionhost_sessions_active{guest=\"counter\"} 1",
        "sessionhost_sessions_started_total 1",
        "sessionhost_calls_total{outcome=\"ok\"} 3",
        "sessionhost_calls_total{outcome=\"guest_error\"} 1",
        "sessionhost_call_duration_seconds_count 4",
        "sessionhost_guest_memory_bytes{guest=\"counter\"} 262144",
        "sessionhost_mailbox_full_total 0",
        "sessionhost_rate_limited_total 0",
    ] {
        assert!(text.contains(line), "missing `{line}` in:\n{text}");
    }
    assert!(text.contains("sessionhost_fuel_consumed_total"), "{text}");
    assert!(
        text.contains("sessionhost_sessions_stopped_total"),
        "{text}"
    );
    assert!(text.contains("sessionhost_casts_total"), "{text}");

    assert_eq!(
        reqwest::get(server.url("/healthz")).await.unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        reqwest::get(server.url("/readyz")).await.unwrap().status(),
        StatusCode::OK
    );
    let doc = json_of(reqwest::get(server.url("/v1/openapi.json")).await.unwrap()).await;
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    for path in [
        "/v1/sessions",
        "/v1/session/call",
        "/v1/session/events",
        "/v1/session/ws",
        "/metrics",
    ] {
        assert!(doc["paths"].get(path).is_some(), "{path} is documented");
    }
    let missing = reqwest::get(server.url("/nowhere")).await.unwrap();
    problem(missing, StatusCode::NOT_FOUND, "not_found").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_error_kind_has_its_status_and_problem_body() {
    let server = TestServer::start_with(
        support::config()
            .default_guest("hostile")
            .fuel_per_call(0)
            .call_timeout(Duration::from_millis(300))
            .rate_limit(2)
            .max_sessions(5),
        HttpConfig {
            max_body: bytesize::ByteSize::kib(64),
            ..HttpConfig::default()
        },
    )
    .await;
    let call = |client: &reqwest::Client, body: Value| {
        client
            .post(server.url("/v1/session/call"))
            .body(body.to_string())
            .send()
    };
    let a = server.client();
    problem(
        call(&a, json!({"op":"error","message":"no"}))
            .await
            .unwrap(),
        StatusCode::UNPROCESSABLE_ENTITY,
        "guest_error",
    )
    .await;
    // Too large a body, to a live session.
    let big = server
        .post(&a, "/v1/session/call", None, vec![b' '; 100 * 1024])
        .await;
    assert_eq!(big.status(), StatusCode::PAYLOAD_TOO_LARGE);
    problem(
        call(&a, json!({"op":"loop"})).await.unwrap(),
        StatusCode::GATEWAY_TIMEOUT,
        "timeout",
    )
    .await;
    let b = server.client();
    problem(
        call(&b, json!({"op":"trap"})).await.unwrap(),
        StatusCode::INTERNAL_SERVER_ERROR,
        "guest_trap",
    )
    .await;
    // Two sessions were started (a, whose loop ended it, and b): the rate limit (2 per
    // minute) refuses the third, with Retry-After.
    let c = server.client();
    let limited = call(&c, json!({"op":"echo"})).await.unwrap();
    let retry: u64 = limited.headers()[RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;

    let full = TestServer::start_with(
        support::config().default_guest("counter").max_sessions(1),
        HttpConfig::default(),
    )
    .await;
    let first = full.client();
    let url = full.url("/v1/session/call");
    let taken = first
        .post(url.clone())
        .body(r#"{"op":"incr"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(taken.status(), StatusCode::OK);
    let second = full.client();
    let refused = second.post(url).body("{}").send().await.unwrap();
    problem(
        refused,
        StatusCode::SERVICE_UNAVAILABLE,
        "session_limit_reached",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_calls_in_flight_and_terminates_every_session() {
    let server = TestServer::start_with(
        support::config().default_guest("hostile"),
        HttpConfig::default(),
    )
    .await;
    let busy = server.client();
    busy.post(server.url("/v1/session/call"))
        .body(r#"{"op":"echo"}"#)
        .send()
        .await
        .unwrap();
    let busy_id = match server.host.list().as_slice() {
        [id] => id.clone(),
        others => panic!("expected the busy client's session alone: {others:?}"),
    };
    let mut busy_events = server.host.subscribe(&busy_id).unwrap();
    let other = server
        .host
        .start(StartOptions::guest("hostile"))
        .await
        .unwrap();
    let mut last_words = server.host.subscribe(&other).unwrap();
    let url = server.url("/v1/session/call");
    let in_flight = tokio::spawn(async move {
        busy.post(url)
            .body(r#"{"op":"sleep_ms","ms":400,"announce":true}"#)
            .send()
            .await
    });
    // The call has reached the guest: it is in flight when the shutdown begins.
    assert_eq!(
        support::published(&mut busy_events).await,
        json!({"sleeping":true})
    );
    let host = server.host.clone();
    server.stop().await;
    let reply = in_flight
        .await
        .unwrap()
        .expect("the call in flight was answered");
    assert_eq!(reply.status(), StatusCode::OK);
    assert!(reply.text().await.unwrap().contains("slept_ms"));
    assert_eq!(host.stats().sessions, 0, "every session ended");
    // The guest's terminate ran with reason `shutdown`.
    match last_words.recv().await.unwrap() {
        sessionhost::SessionEvent::Published(bytes) => {
            let event: Value = serde_json::from_slice(&bytes).unwrap();
            assert_eq!(event["terminated"], "shutdown");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        support::terminated(&mut last_words).await,
        sessionhost::StopReason::Shutdown
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedding_example_keeps_a_cart_per_visitor_and_rotates_at_login() {
    let host = support::host_with(support::config().default_guest("cart")).await;
    let app = embed_axum::app(host.clone(), HttpConfig::default()).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let url = |path: &str| format!("http://{addr}{path}");
    let visitor = reqwest::Client::builder()
        .cookie_store(true)
        .build()
        .unwrap();

    let home = visitor.get(url("/")).send().await.unwrap();
    assert!(
        home.headers().get(SET_COOKIE).is_none(),
        "no session for a plain route"
    );
    assert_eq!(host.stats().sessions, 0);

    let added = visitor
        .post(url("/cart"))
        .json(&json!({"sku":"apple","qty":2,"price_cents":50}))
        .send()
        .await
        .unwrap();
    let old_cookie = added.headers()[SET_COOKIE].to_str().unwrap().to_string();
    assert_eq!(json_of(added).await["total_cents"], 100);

    let login = json_of(visitor.post(url("/login")).send().await.unwrap()).await;
    let new_id = login["session"].as_str().unwrap().to_string();
    assert!(!old_cookie.contains(&new_id));
    let cart = json_of(visitor.get(url("/cart")).send().await.unwrap()).await;
    assert_eq!(cart["session"], new_id.as_str());
    assert_eq!(cart["total"]["total_cents"], 100, "same actor, same cart");

    // The pre-login cookie is dead: it gets a fresh, empty cart, never the old actor.
    let old_token = old_cookie.split(';').next().unwrap().to_string();
    let stranger = reqwest::Client::new();
    let fresh = json_of(
        stranger
            .get(url("/cart"))
            .header(COOKIE, old_token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_ne!(fresh["session"], new_id.as_str());
    assert_eq!(fresh["total"]["total_cents"], 0);

    assert_eq!(
        visitor.post(url("/logout")).send().await.unwrap().status(),
        StatusCode::OK
    );
    assert!(!host.is_started(&new_id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_uploads_hot_load_a_guest_and_bad_ones_change_nothing() {
    let token = "admin-token-for-tests-0123456789";
    let server = TestServer::start(HttpConfig {
        admin_token: Some(token.into()),
        ..HttpConfig::default()
    })
    .await;
    let admin = reqwest::Client::new();
    let visitor = server.client();
    let incr = |client: &reqwest::Client| {
        client
            .post(server.url("/v1/session/call"))
            .body(r#"{"op":"incr"}"#)
            .send()
    };
    let before = json_of(incr(&visitor).await.unwrap()).await;
    assert_eq!(before, json!({"value":1}));
    let old_hash = server
        .host
        .guests()
        .into_iter()
        .find(|g| g.name == "counter")
        .unwrap()
        .version
        .hash;

    // A corrupt upload: refused with the reason, the current version keeps serving.
    let corrupt = admin
        .put(server.url("/admin/guests/counter"))
        .bearer_auth(token)
        .body(b"\0asm\x0d\0\x01\0 truncated".to_vec())
        .send()
        .await
        .unwrap();
    let body = problem(corrupt, StatusCode::BAD_REQUEST, "invalid_guest").await;
    assert!(
        body["message"].as_str().unwrap().contains("counter"),
        "{body}"
    );
    assert_eq!(
        json_of(incr(&visitor).await.unwrap()).await,
        json!({"value":2})
    );

    // A new version (the lean counter speaks the same protocol), uploaded without auth: 401.
    let lean = std::fs::read(sessionhost_tests::guests::COUNTER_LEAN).unwrap();
    let unauthorized = admin
        .put(server.url("/admin/guests/counter?version=2.0"))
        .body(lean.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status(), StatusCode::UNAUTHORIZED);
    let loaded = json_of(
        admin
            .put(server.url("/admin/guests/counter?version=2.0"))
            .bearer_auth(token)
            .body(lean)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(loaded["version"]["label"], "2.0");
    let new_hash = loaded["version"]["hash"].as_str().unwrap().to_string();
    assert_ne!(new_hash, old_hash);

    // The running session keeps its version and state; a new visitor gets the new one.
    assert_eq!(
        json_of(incr(&visitor).await.unwrap()).await,
        json!({"value":3})
    );
    let newcomer = server.client();
    assert_eq!(
        json_of(incr(&newcomer).await.unwrap()).await,
        json!({"value":1})
    );
    let guests = admin_get(&admin, &server, "/admin/guests", token).await;
    let counter = guests
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["name"] == "counter")
        .unwrap();
    assert_eq!(counter["version"]["hash"], new_hash.as_str());
    assert_eq!(counter["sessions"][old_hash.as_str()], 1, "{counter}");
    assert_eq!(counter["sessions"][new_hash.as_str()], 1, "{counter}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_client_address_has_its_own_creation_limit() {
    // By peer address: every request here comes from 127.0.0.1.
    let server = TestServer::start(HttpConfig {
        rate_limit_per_ip: 2,
        ..HttpConfig::default()
    })
    .await;
    let client = reqwest::Client::new();
    for _ in 0..2 {
        let created = server.post(&client, "/v1/sessions", None, "").await;
        assert_eq!(created.status(), StatusCode::CREATED);
    }
    let limited = server.post(&client, "/v1/sessions", None, "").await;
    assert!(limited.headers().contains_key(RETRY_AFTER));
    problem(limited, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    // Existing sessions are not affected: only creations are limited.
    assert_eq!(server.host.stats().sessions, 2);
    server.stop().await;

    // Behind a proxy: the address the proxy appended to the configured header (the right-most
    // entry; what the client claimed before it does not count).
    let server = TestServer::start(HttpConfig {
        rate_limit_per_ip: 1,
        client_ip_header: Some("x-forwarded-for".into()),
        ..HttpConfig::default()
    })
    .await;
    let from = |ip: &'static str| {
        client
            .post(server.url("/v1/sessions"))
            .header("x-forwarded-for", format!("10.0.0.1, {ip}"))
            .send()
    };
    assert_eq!(
        from("203.0.113.7").await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        from("198.51.100.2").await.unwrap().status(),
        StatusCode::CREATED
    );
    assert_eq!(
        from("203.0.113.7").await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    server.stop().await;
}
