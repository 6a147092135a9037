//! End-to-end over a real socket: the API's contract — one error shape for every error the
//! server sends (the framework's rejections included), a refused request never starts a
//! session, the OpenAPI document says what the server does (routes, statuses, bounds), and
//! the error kinds of the code, the README and the document agree.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{ALLOW, CONTENT_TYPE, RETRY_AFTER};
use serde_json::{Value, json};
use sessionhost::http::{HttpConfig, KINDS};
use sessionhost_tests::server::{TestServer, assert_no_internals};
use sessionhost_tests::support;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

const ADMIN: &str = "admin-token-for-tests-0123456789";

fn with_admin() -> HttpConfig {
    HttpConfig {
        admin_token: Some(ADMIN.into()),
        ..HttpConfig::default()
    }
}

/// Checks that `response` is the JSON problem `kind` with `status`; returns its body.
async fn problem(response: reqwest::Response, status: StatusCode, kind: &str) -> Value {
    assert_eq!(response.status(), status, "{kind}");
    assert_eq!(
        response.headers()[CONTENT_TYPE],
        "application/json",
        "{kind}: {:?}",
        response.headers()
    );
    let body: Value = response.json().await.expect("a JSON body");
    assert_eq!(body["error"], kind, "{body}");
    let message = body["message"].as_str().expect("a message");
    assert!(!message.is_empty());
    assert_no_internals(message);
    body
}

/// Sessions alive, as the admin API says.
async fn sessions(server: &TestServer) -> u64 {
    let stats: Value = reqwest::Client::new()
        .get(server.url("/admin/stats"))
        .bearer_auth(ADMIN)
        .send()
        .await
        .expect("answered")
        .json()
        .await
        .expect("JSON stats");
    stats["sessions"].as_u64().expect("a count")
}

/// Sends `head` then `body_start` of a body that never completes; returns the raw answer.
async fn stalled_request(server: &TestServer, head: &str) -> String {
    let mut stream = TcpStream::connect(server.addr).await.expect("connects");
    stream.write_all(head.as_bytes()).await.expect("sent");
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("answered and closed within 10 s");
    String::from_utf8_lossy(&answer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_framework_rejection_is_a_json_problem() {
    let server = TestServer::start(HttpConfig {
        request_timeout: Duration::from_millis(500),
        max_body: bytesize::ByteSize::kib(64),
        ..with_admin()
    })
    .await;
    let client = reqwest::Client::new();
    let admin = |path: &str| client.get(server.url(path)).bearer_auth(ADMIN).send();
    // Query rejections, and the bounds the document gives `limit`.
    for query in ["limit=abc", "limit=0", "limit=5000", "limit=-1", "bogus=1"] {
        let response = admin(&format!("/admin/sessions?{query}")).await.unwrap();
        problem(response, StatusCode::BAD_REQUEST, "bad_request").await;
    }
    let ok = admin("/admin/sessions?limit=1000").await.unwrap();
    assert_eq!(ok.status(), StatusCode::OK);
    // A path segment that is not UTF-8.
    let response = admin("/admin/sessions/%FF%FE").await.unwrap();
    problem(response, StatusCode::BAD_REQUEST, "bad_request").await;
    // A session ID that is not one.
    let response = admin(&format!("/admin/sessions/{}", "x".repeat(65)))
        .await
        .unwrap();
    problem(response, StatusCode::BAD_REQUEST, "invalid_session_id").await;
    // The body limit, on each route with a body.
    for path in ["/v1/sessions", "/v1/session/call", "/v1/session/cast"] {
        let response = server
            .post(&client, path, None, vec![b' '; 100 * 1024])
            .await;
        problem(response, StatusCode::PAYLOAD_TOO_LARGE, "message_too_large").await;
    }
    // A WebSocket route without the handshake.
    let response = client
        .get(server.url("/v1/session/ws"))
        .send()
        .await
        .unwrap();
    problem(response, StatusCode::BAD_REQUEST, "bad_request").await;
    // A wrong method: 405 with `Allow`.
    for (method, path) in [
        (reqwest::Method::GET, "/v1/session/call"),
        (reqwest::Method::PUT, "/v1/sessions"),
        (reqwest::Method::POST, "/admin/stats"),
        (reqwest::Method::DELETE, "/healthz"),
    ] {
        let response = client
            .request(method.clone(), server.url(path))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap();
        assert!(response.headers().contains_key(ALLOW), "{method} {path}");
        problem(
            response,
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
        )
        .await;
    }
    // Any other route.
    let response = client.get(server.url("/nowhere")).send().await.unwrap();
    problem(response, StatusCode::NOT_FOUND, "not_found").await;
    // A body that stalls: 408 at the request timeout.
    let answer = stalled_request(
        &server,
        "POST /v1/session/call HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{\"op\":",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(
        answer
            .to_lowercase()
            .contains("content-type: application/json"),
        "{answer}"
    );
    let body = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let body: Value = serde_json::from_str(body.trim()).expect("a JSON body");
    assert_eq!(body["error"], "request_timeout", "{body}");
    // An invalid create spec.
    let response = server.post(&client, "/v1/sessions", None, "{nope").await;
    problem(response, StatusCode::BAD_REQUEST, "bad_request").await;
    let response = server
        .post(
            &client,
            "/v1/sessions",
            None,
            r#"{"guest":"counter","extra":1}"#,
        )
        .await;
    problem(response, StatusCode::BAD_REQUEST, "bad_request").await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_request_never_starts_a_session() {
    let server = TestServer::start(HttpConfig {
        request_timeout: Duration::from_millis(500),
        max_body: bytesize::ByteSize::kib(64),
        rate_limit_per_ip: 1,
        ..with_admin()
    })
    .await;
    let client = reqwest::Client::new();
    assert_eq!(sessions(&server).await, 0);
    // A WebSocket route without Upgrade, and a stream route without a session.
    let response = client
        .get(server.url("/v1/session/ws"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = client
        .get(server.url("/v1/session/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    // An oversized body, an invalid spec, a token that does not verify, a stalled body.
    let response = server
        .post(&client, "/v1/session/call", None, vec![b' '; 100 * 1024])
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = server
        .post(&client, "/v1/session/cast", None, vec![b' '; 100 * 1024])
        .await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let response = server.post(&client, "/v1/sessions", None, "[1,2").await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let forged = sessionhost::http::TokenKeys::random().sign(&sessionhost::SessionId::generate());
    let response = server
        .post(&client, "/v1/session/call", Some(&forged), "{}")
        .await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let answer = stalled_request(
        &server,
        "POST /v1/session/call HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_eq!(sessions(&server).await, 0, "no refused request started one");
    // The per-client limit (1 a minute): one session, then 429 and nothing more.
    let response = server
        .post(&client, "/v1/session/call", None, r#"{"op":"get"}"#)
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    let response = server
        .post(&client, "/v1/session/call", None, r#"{"op":"get"}"#)
        .await;
    assert!(response.headers().contains_key(RETRY_AFTER));
    problem(response, StatusCode::TOO_MANY_REQUESTS, "rate_limited").await;
    assert_eq!(
        sessions(&server).await,
        1,
        "the limited request started none"
    );
    server.stop().await;
}

/// The document as served, parsed.
async fn document(server: &TestServer) -> Value {
    reqwest::get(server.url("/v1/openapi.json"))
        .await
        .expect("served")
        .json()
        .await
        .expect("JSON")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_says_what_the_server_does() {
    let server = TestServer::start(with_admin()).await;
    let doc = document(&server).await;
    // The committed copy is the generated document (UPDATE_OPENAPI=1 rewrites it).
    let committed =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../host/src/http/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        let text = serde_json::to_string_pretty(&doc).expect("JSON") + "\n";
        std::fs::write(&committed, text).expect("openapi.json written");
    }
    let on_disk: Value = serde_json::from_str(sessionhost::http::OPENAPI).expect("JSON");
    assert!(
        on_disk == doc,
        "host/src/http/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p \
         sessionhost-tests --test api_contract`"
    );
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().expect("paths");
    let mut listed: Vec<&str> = paths.keys().map(String::as_str).collect();
    listed.sort_unstable();
    assert_eq!(
        listed,
        [
            "/admin/guests",
            "/admin/guests/{name}",
            "/admin/sessions",
            "/admin/sessions/{id}",
            "/admin/stats",
            "/healthz",
            "/metrics",
            "/readyz",
            "/v1/openapi.json",
            "/v1/session",
            "/v1/session/call",
            "/v1/session/cast",
            "/v1/session/events",
            "/v1/session/touch",
            "/v1/session/ws",
            "/v1/sessions",
        ]
    );
    let statuses = |path: &str, method: &str| -> Vec<String> {
        doc["paths"][path][method]["responses"]
            .as_object()
            .unwrap_or_else(|| panic!("{method} {path}"))
            .keys()
            .cloned()
            .collect()
    };
    let has = |path: &str, method: &str, wanted: &[&str]| {
        let got = statuses(path, method);
        for status in wanted {
            assert!(
                got.iter().any(|s| s == status),
                "{method} {path}: {status} in {got:?}"
            );
        }
    };
    has(
        "/admin/sessions/{id}",
        "get",
        &["200", "400", "401", "404", "405", "408", "503"],
    );
    has(
        "/admin/sessions/{id}",
        "delete",
        &["204", "400", "401", "404"],
    );
    has(
        "/v1/sessions",
        "post",
        &[
            "201", "400", "404", "405", "408", "413", "422", "429", "503",
        ],
    );
    has(
        "/v1/session/call",
        "post",
        &["200", "400", "413", "422", "429", "500", "503", "504"],
    );
    has(
        "/v1/session/events",
        "get",
        &["200", "204", "400", "429", "503"],
    );
    has(
        "/v1/session/ws",
        "get",
        &["101", "204", "400", "429", "503"],
    );
    has(
        "/admin/guests/{name}",
        "put",
        &["200", "400", "401", "408", "413"],
    );
    // 429 says when to retry; the call's reply has the request's content types.
    for path in ["/v1/session/events", "/v1/session/ws", "/v1/sessions"] {
        let method = if path == "/v1/sessions" {
            "post"
        } else {
            "get"
        };
        let headers = &doc["paths"][path][method]["responses"]["429"]["headers"];
        assert!(headers.get("retry-after").is_some(), "{path}: {headers}");
    }
    let reply = &doc["paths"]["/v1/session/call"]["post"]["responses"]["200"]["content"];
    for media in ["application/json", "application/octet-stream", "text/plain"] {
        assert!(reply.get(media).is_some(), "{media}: {reply}");
    }
    let created = &doc["paths"]["/v1/sessions"]["post"]["responses"]["201"]["headers"];
    assert!(created.get("set-cookie").is_some(), "{created}");
    // `limit`'s bounds, which the server enforces (see the rejection test).
    let limit = doc["paths"]["/admin/sessions"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "limit")
        .expect("a limit parameter")
        .clone();
    assert_eq!(limit["schema"]["minimum"], 1, "{limit}");
    assert_eq!(limit["schema"]["maximum"], 1000, "{limit}");
    // Typed bodies.
    let schemas = &doc["components"]["schemas"];
    let info = &schemas["SessionInfo"]["properties"];
    assert_eq!(info["created_at"]["format"], "date-time", "{info}");
    assert_eq!(info["last_active_at"]["format"], "date-time", "{info}");
    assert!(info.get("upgrade_error").is_some(), "{info}");
    assert!(info["version"].get("$ref").is_some(), "{info}");
    for schema in [
        "HibernatedInfo",
        "HostStats",
        "GuestInfo",
        "GuestStatus",
        "Created",
    ] {
        assert!(schemas.get(schema).is_some(), "{schema}");
    }
    let kinds: Vec<&str> = schemas["Problem"]["properties"]["error"]["enum"]
        .as_array()
        .expect("an enum of kinds")
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    let expected: Vec<&str> = KINDS.iter().map(|(kind, _, _)| *kind).collect();
    assert_eq!(kinds, expected);
    server.stop().await;
}

/// The README's error table lists exactly the kinds the code sends, with their statuses.
#[test]
fn the_readme_error_table_agrees_with_the_code() {
    let readme = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md"),
    )
    .expect("README.md");
    let rows: Vec<(String, u16)> = readme
        .lines()
        .skip_while(|line| !line.starts_with("| kind | status |"))
        .skip(2)
        .take_while(|line| line.starts_with('|'))
        .map(|line| {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            let kind = cells[1].trim_matches('`').to_string();
            let status = cells[2]
                .parse()
                .unwrap_or_else(|_| panic!("status in {line}"));
            (kind, status)
        })
        .collect();
    let expected: Vec<(String, u16)> = KINDS
        .iter()
        .map(|(kind, status, _)| ((*kind).to_string(), *status))
        .collect();
    assert_eq!(rows, expected, "README.md's error table");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_upload_gets_its_result_past_the_request_timeout() {
    let server = TestServer::start(HttpConfig {
        request_timeout: Duration::from_millis(300),
        ..with_admin()
    })
    .await;
    let lean = std::fs::read(sessionhost_tests::guests::COUNTER_LEAN).expect("the lean counter");
    // The component in eight parts over about 1.2 s: four times the request timeout.
    let parts: Vec<Vec<u8>> = lean
        .chunks(lean.len().div_ceil(8))
        .map(<[u8]>::to_vec)
        .collect();
    let body = futures_util::stream::unfold(parts.into_iter(), |mut parts| async move {
        let part = parts.next()?;
        // The client's pace (the slow upload under test), not a wait for an event.
        tokio::time::sleep(Duration::from_millis(150)).await;
        Some((Ok::<_, std::io::Error>(part), parts))
    });
    let response = reqwest::Client::new()
        .put(server.url("/admin/guests/counter?version=slow"))
        .bearer_auth(ADMIN)
        .body(reqwest::Body::wrap_stream(body))
        .send()
        .await
        .expect("answered");
    assert_eq!(response.status(), StatusCode::OK);
    let loaded: Value = response.json().await.expect("the loaded version");
    assert_eq!(loaded["version"]["label"], "slow", "{loaded}");
    // Other routes keep the request timeout.
    let answer = stalled_request(
        &server,
        "POST /v1/session/call HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n{",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_bodies_are_the_documented_views() {
    let server = TestServer::start(with_admin()).await;
    let id = server
        .host
        .start(sessionhost::StartOptions::guest("counter"))
        .await
        .unwrap();
    support::call(&server.host, &id, json!({"op":"incr"}))
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let info: Value = client
        .get(server.url(&format!("/admin/sessions/{id}")))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["id"], id.as_str());
    assert_eq!(info["calls"], 1);
    assert!(info["upgrade_error"].is_null(), "{info}");
    let created = info["created_at"].as_str().expect("an RFC 3339 time");
    assert!(humantime::parse_rfc3339(created).is_ok(), "{created}");
    assert!(
        info["version"]["hash"].as_str().unwrap().len() == 16,
        "{info}"
    );
    server.stop().await;
}
