//! End-to-end, real socket: clients that misbehave get a clear error and cost the host
//! nothing lasting — slow headers and bodies, huge streamed bodies, replayed tokens, junk and
//! oversized WebSocket frames, hundreds of subscribers on one session — and no error body
//! carries an internal detail.

use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use sessionhost::http::HttpConfig;
use sessionhost_tests::server::{TestServer, WebSocket, assert_no_internals, next_json};
use sessionhost_tests::support::{self, eventually};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

/// The server still answers a plain request promptly.
async fn responsive(server: &TestServer) {
    let health = reqwest::get(server.url("/healthz"))
        .await
        .expect("the health check answers");
    assert_eq!(health.status(), StatusCode::OK);
}

/// Reads until the server closes the connection (or 10 s pass); returns what it sent.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut buffer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut buffer));
    // A reset also counts as closed.
    let _ = read
        .await
        .expect("the server closed the connection within 10 s");
    String::from_utf8_lossy(&buffer).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn headers_sent_byte_by_byte_are_cut_off_at_the_header_timeout() {
    let http = HttpConfig {
        header_read_timeout: Duration::from_millis(300),
        ..HttpConfig::default()
    };
    let server = TestServer::start(http).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    let started = Instant::now();
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let writer = async {
        for byte in request {
            if slow.write_all(&[*byte]).await.is_err() {
                break;
            }
            // The client's pace, not a wait for anything: 50 ms a byte, the 62 bytes take
            // ten times the header timeout.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    // While the slow client dribbles, others are served.
    let others = async {
        for _ in 0..5 {
            responsive(&server).await;
        }
    };
    tokio::join!(writer, others);
    let answer = read_to_close(&mut slow).await;
    let waited = started.elapsed();
    assert!(
        !answer.contains("200 OK"),
        "a request whose headers took {waited:?} was served: {answer}"
    );
    assert_no_internals(&answer);
    assert!(waited < Duration::from_secs(5), "cut off after {waited:?}");
    responsive(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_slower_than_the_request_timeout_gets_408() {
    let http = HttpConfig {
        request_timeout: Duration::from_millis(500),
        ..HttpConfig::default()
    };
    let server = TestServer::start(http).await;
    let mut slow = TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(
        b"POST /v1/session/call HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
          Content-Length: 100\r\n\r\n{\"op\":",
    )
    .await
    .unwrap();
    // One byte every 200 ms: the whole body would take 20 s. The sleep is the slow client's
    // pace (what the test is about), not a wait for an event.
    let mut answer = String::new();
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        if slow.write_all(b" ").await.is_err() {
            break;
        }
        let mut buffer = [0u8; 4096];
        if let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buffer)).await
        {
            answer.push_str(&String::from_utf8_lossy(&buffer[..n]));
            if n == 0 || answer.contains("\r\n\r\n") {
                break;
            }
        }
    }
    if !answer.contains("\r\n\r\n") {
        answer.push_str(&read_to_close(&mut slow).await);
    }
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert_no_internals(&answer);
    // The session extractor runs before the body is read, so the request may have started
    // its own session (no token): at most that one, reaped by the idle TTL like any other.
    assert!(server.host.stats().sessions <= 1);
    responsive(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_streamed_body_gets_413_and_the_server_carries_on() {
    let server = TestServer::start(HttpConfig::default()).await;
    // Chunked, no Content-Length: the limit applies as the body streams in.
    let chunks =
        futures_util::stream::iter((0..64).map(|_| Ok::<_, std::io::Error>(vec![b' '; 64 * 1024])));
    let response = server
        .client()
        .post(server.url("/v1/session/call"))
        .body(reqwest::Body::wrap_stream(chunks))
        .send()
        .await;
    // The server may answer 413 before reading everything, or close the connection.
    if let Ok(response) = response {
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let body = response.text().await.unwrap();
        assert_no_internals(&body);
    }
    // As with a slow body: the session extractor runs before the body is read, so a request
    // without a token may have started its own session — at most that one.
    assert!(server.host.stats().sessions <= 1);
    responsive(&server).await;
    // A small body after it is served as usual.
    let ok = server
        .post(
            &server.client(),
            "/v1/session/call",
            None,
            r#"{"op":"get"}"#,
        )
        .await;
    assert_eq!(ok.status(), StatusCode::OK);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_rotation_the_old_token_is_dead_and_the_new_one_keeps_the_actor() {
    let server = TestServer::start(HttpConfig::default()).await;
    let client = reqwest::Client::new();
    let (id, old) = server.counter_session().await;
    let reply = server
        .post(
            &client,
            "/v1/session/call",
            Some(&old),
            r#"{"op":"incr","by":5}"#,
        )
        .await;
    assert_eq!(reply.status(), StatusCode::OK);
    let new_id = server.host.rotate_id(&id).await.unwrap();
    assert_ne!(new_id, id);
    assert!(!server.host.is_started(&id), "the old ID is dead");
    // The new token reaches the same actor, state intact.
    let new = server.keys.sign(&new_id);
    let reply = server
        .post(&client, "/v1/session/call", Some(&new), r#"{"op":"get"}"#)
        .await;
    assert_eq!(reply.json::<Value>().await.unwrap(), json!({"value": 5}));
    // The replayed old token gets a fresh session (new ID, new state), never the old one.
    let replay = server
        .post(&client, "/v1/session/call", Some(&old), r#"{"op":"get"}"#)
        .await;
    assert_eq!(replay.status(), StatusCode::OK);
    let cookie = replay.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(!cookie.contains(id.as_str()), "{cookie}");
    assert!(!cookie.contains(new_id.as_str()), "{cookie}");
    assert_eq!(replay.json::<Value>().await.unwrap(), json!({"value": 0}));
    assert!(!server.host.is_started(&id));
    server.stop().await;
}

/// Sends call `id` with `data` on `ws` and returns its answer, skipping the events
/// published meanwhile.
async fn ws_call(ws: &mut WebSocket, id: u64, data: Value) -> Value {
    let call = json!({"type":"call","id":id,"data":data});
    ws.send(Message::Text(call.to_string().into()))
        .await
        .expect("the socket is open");
    loop {
        let frame = next_json(ws).await;
        if frame["type"] != "event" {
            return frame;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn junk_and_oversized_websocket_frames_end_only_that_socket() {
    let server = TestServer::start_with(
        support::config()
            .default_guest("counter")
            .max_message_bytes(4096),
        HttpConfig::default(),
    )
    .await;
    let (id, token) = server.counter_session().await;
    let mut ws = server.websocket(&token).await;
    // Binary junk and text that is not JSON are cast as they are; the guest drops what it
    // cannot parse; nothing breaks.
    ws.send(Message::Binary(vec![0xff, 0x00, 0xfe, 0x13].into()))
        .await
        .unwrap();
    ws.send(Message::Text("{not json".into())).await.unwrap();
    ws.send(Message::Text(r#"{"type":"call","id":"x""#.into()))
        .await
        .unwrap();
    // A call the guest cannot parse gets an error frame with its ID, and no internals.
    ws.send(Message::Text(
        json!({"type":"call","id":1,"data":"garbage"})
            .to_string()
            .into(),
    ))
    .await
    .unwrap();
    let error = next_json(&mut ws).await;
    assert_eq!(error["type"], "error", "{error}");
    assert_eq!(error["id"], 1);
    assert_eq!(error["error"], "guest_error");
    assert_no_internals(&error.to_string());
    // The session still works on this socket.
    assert_eq!(
        ws_call(&mut ws, 2, json!({"op":"incr"})).await,
        json!({"type":"reply","id":2,"data":{"value":1}})
    );

    // A second subscriber on the same session, to see it is not disturbed.
    let mut other = server.websocket(&token).await;
    // A frame over max_message_bytes: this socket is closed with 1009 and a reason.
    ws.send(Message::Text("x".repeat(10_000).into()))
        .await
        .unwrap();
    let close = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("the server answers within 10 s")
        {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => continue,
            None | Some(Err(_)) => break None,
        }
    };
    let close = close.expect("a close frame with a reason");
    assert_eq!(close.code, CloseCode::Size);
    assert!(close.reason.contains("4096"), "{}", close.reason);
    // The session and the other subscriber carry on.
    assert_eq!(
        ws_call(&mut other, 3, json!({"op":"incr"})).await,
        json!({"type":"reply","id":3,"data":{"value":2}})
    );
    assert!(server.host.is_started(&id));
    drop(other);
    drop(ws);
    eventually("no subscriber left", || {
        server.host.stats().subscribers == 0
    })
    .await;
    responsive(&server).await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hundreds_of_subscribers_all_get_events_and_leave_nothing_behind() {
    const SSE: usize = 250;
    const WS: usize = 250;
    let server = TestServer::start_with(
        support::config().default_guest("counter"),
        // Streams on one session from one client: allowed this many (see http_streams.rs
        // for the default caps).
        HttpConfig {
            max_connections: 2_000,
            max_streams: Some(1_000),
            max_streams_per_session: 1_000,
            max_streams_per_client: 0,
            ..HttpConfig::default()
        },
    )
    .await;
    let (_, token) = server.counter_session().await;
    let client = reqwest::Client::new();
    let mut sse = Vec::new();
    for _ in 0..SSE {
        let response = client
            .get(server.url("/v1/session/events"))
            .header("x-session-id", &token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        sse.push(response.bytes_stream());
    }
    let mut sockets = Vec::new();
    for _ in 0..WS {
        sockets.push(server.websocket(&token).await);
    }
    eventually("every subscriber is attached", || {
        server.host.stats().subscribers == SSE + WS
    })
    .await;
    let reply = server
        .post(
            &client,
            "/v1/session/call",
            Some(&token),
            r#"{"op":"incr","by":3}"#,
        )
        .await;
    assert_eq!(reply.status(), StatusCode::OK);
    for stream in &mut sse {
        let mut text = String::new();
        while !text.contains(r#"{"value":3}"#) {
            let chunk = tokio::time::timeout(Duration::from_secs(10), stream.next())
                .await
                .expect("an event within 10 s")
                .expect("the stream is open")
                .unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
    for ws in &mut sockets {
        assert_eq!(
            next_json(ws).await,
            json!({"type":"event","data":{"value":3}})
        );
    }
    drop(sse);
    drop(sockets);
    eventually("every subscriber is gone", || {
        server.host.stats().subscribers == 0
    })
    .await;
    // The session itself is untouched and answers.
    let reply = server
        .post(&client, "/v1/session/call", Some(&token), r#"{"op":"get"}"#)
        .await;
    assert_eq!(reply.json::<Value>().await.unwrap(), json!({"value": 3}));
    assert_eq!(server.host.stats().sessions, 1);
    server.stop().await;
}

/// Connections beyond `max_connections` are closed at once; the held ones keep their place
/// and, once they go, new connections are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_max_connections_are_closed_at_once() {
    let server = TestServer::start(HttpConfig {
        max_connections: 2,
        ..HttpConfig::default()
    })
    .await;
    let address = server.url("").trim_start_matches("http://").to_string();
    let mut held = [
        TcpStream::connect(&address).await.expect("connects"),
        TcpStream::connect(&address).await.expect("connects"),
    ];
    // Each is served a request, so the server has accepted both: they hold the two places
    // (kept alive, they stay open).
    for stream in &mut held {
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
            .await
            .expect("sent");
        let head = read_head(stream).await;
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    }
    let mut extra = TcpStream::connect(&address)
        .await
        .expect("accepted, then dropped");
    let started = Instant::now();
    let _ = extra
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let answer = read_to_close(&mut extra).await;
    assert!(answer.is_empty(), "served past the limit: {answer}");
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(held);
    server.eventually_served().await;
    server.stop().await;
}

/// Reads `stream` up to the end of a response head (10 s at most) and returns what came,
/// the head and perhaps the start of a body.
async fn read_head(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    while !answer.windows(4).any(|window| window == b"\r\n\r\n") {
        let mut buffer = [0u8; 1024];
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut buffer))
            .await
            .expect("an answer within 10 s")
            .expect("readable");
        assert!(
            read > 0,
            "closed before a response head: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buffer[..read]);
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// Requests past `max_in_flight` are shed at once with 503 `overloaded`, whichever API route
/// they take (one limit over all routes); health checks are still answered; once the held
/// requests go, the API serves again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_past_max_in_flight_are_shed_with_503() {
    let server = TestServer::start(HttpConfig {
        max_in_flight: 4,
        ..HttpConfig::default()
    })
    .await;
    let (_, token) = server.counter_session().await;
    let address = server.url("").trim_start_matches("http://").to_string();
    // Four calls whose bodies never come: each holds a place until its connection goes.
    // Each asks for `100 Continue`, which the server sends once the call's handler reads
    // the body: the call is then in flight and holds its place.
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(&address).await.expect("connects");
        let head = format!(
            "POST /v1/session/call HTTP/1.1\r\nhost: x\r\nx-session-id: {token}\r\n\
             content-type: application/json\r\ncontent-length: 64\r\n\
             expect: 100-continue\r\n\r\n{{"
        );
        stream.write_all(head.as_bytes()).await.expect("sent");
        let answer = read_head(&mut stream).await;
        assert!(answer.starts_with("HTTP/1.1 100 "), "{answer}");
        held.push(stream);
    }
    let client = reqwest::Client::new();
    let shed = server
        .post(&client, "/v1/session/touch", Some(&token), "")
        .await;
    assert_eq!(shed.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = shed.json().await.expect("a problem body");
    assert_eq!(body["error"], "overloaded", "{body}");
    // Every API route shares the limit: a call, a new session, a cast are shed too…
    for (path, token) in [
        ("/v1/session/call", Some(token.as_str())),
        ("/v1/sessions", None),
        ("/v1/session/cast", Some(token.as_str())),
    ] {
        let response = server.post(&client, path, token, "{}").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE, "{path}");
    }
    // …while the operations routes are not.
    for path in ["/healthz", "/metrics"] {
        let response = client.get(server.url(path)).send().await.expect("answered");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
    }
    // The shed create started nothing: the one session is the counter's.
    assert_eq!(server.host.stats().sessions, 1, "the shed create made one");
    drop(held);
    // The places free up as the server notices the connections closed, which nothing but
    // its answers shows: ask until a call is served (shed until then); the session answered
    // throughout.
    let reply = support::eventually_some("a call is served again", async || {
        let response = server
            .post(&client, "/v1/session/call", Some(&token), r#"{"op":"get"}"#)
            .await;
        if response.status() == StatusCode::OK {
            return Some(response.json::<Value>().await.expect("a JSON reply"));
        }
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        None
    })
    .await;
    assert_eq!(reply["value"], 0, "{reply}");
    server.stop().await;
}
