//! End-to-end over a real socket: event streams (SSE, WebSocket) hold bounded memory and
//! bounded places — a subscriber that stops reading is dropped past its budget and its
//! connection closed when the session ends, a WebSocket frame announced too wide is refused
//! from its header, WebSocket connections count against `max_connections` for their whole
//! life, streams per session and per client are capped — and a reply that is not UTF-8
//! reaches a WebSocket client unaltered.

use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use reqwest::StatusCode;
use reqwest::header::RETRY_AFTER;
use serde_json::{Value, json};
use sessionhost::GuestSource;
use sessionhost::http::HttpConfig;
use sessionhost::{GuestOptions, StartOptions};
use sessionhost_tests::protocol::lang_guest;
use sessionhost_tests::server::TestServer;
use sessionhost_tests::support::{self, eventually};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

/// Whether the server closed `stream` (EOF or reset), reading what it sent meanwhile.
async fn closed_by_server(stream: &mut TcpStream) -> bool {
    let mut buffer = vec![0u8; 64 * 1024];
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => continue,
        }
    }
}

/// Publishes `n` events of `bytes` bytes from the hostile session `id` (in calls of 50).
async fn flood(server: &TestServer, id: &str, n: usize, bytes: usize) {
    for _ in 0..n / 50 {
        let reply = support::call(
            &server.host,
            id,
            json!({"op":"publish","n":50,"bytes":bytes}),
        )
        .await
        .expect("published");
        assert_eq!(reply["ok"], 50, "{reply}");
    }
}

/// A server with two connection places, a hostile session, and an SSE client and a
/// WebSocket client of it that never read (they take both places).
async fn two_stalled_clients(
    host: sessionhost::HostConfigBuilder,
) -> (TestServer, sessionhost::SessionId, TcpStream, TcpStream) {
    let server = TestServer::start_with(
        host.default_guest("hostile"),
        HttpConfig {
            max_connections: 2,
            max_streams: Some(2),
            stream_close_grace: Duration::from_millis(300),
            ..HttpConfig::default()
        },
    )
    .await;
    let id = server
        .host
        .start(StartOptions::guest("hostile"))
        .await
        .expect("the session starts");
    let token = server.keys.sign_for(&id, "hostile");
    let sse = server.raw_event_stream(&token).await;
    let ws = server.raw_websocket(&token).await;
    eventually("both subscribers attached", || {
        server.host.stats().subscribers == 2
    })
    .await;
    (server, id, sse, ws)
}

/// Whether a new connection is turned away at once (every place is taken).
async fn turned_away(server: &TestServer) -> bool {
    let mut third = TcpStream::connect(server.addr)
        .await
        .expect("accepted, then dropped");
    let _ = third
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\n\r\n")
        .await;
    let mut answer = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), third.read_to_end(&mut answer)).await;
    answer.is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_subscribers_past_their_budget_are_dropped_and_their_connections_closed() {
    let (server, id, mut sse, mut ws) = two_stalled_clients(support::config()).await;
    // 20 MB of events: far past the 4 MiB a subscriber may have unread.
    flood(&server, &id, 200, 100_000).await;
    eventually("both stalled subscribers dropped", || {
        server.host.stats().subscribers == 0
    })
    .await;
    // Their connections are closed (within the grace), their places back; the session
    // carries on.
    server.eventually_served().await;
    assert!(
        closed_by_server(&mut sse).await,
        "the SSE connection is closed"
    );
    assert!(closed_by_server(&mut ws).await, "the WebSocket is closed");
    assert!(server.host.is_started(&id));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_connections_are_closed_when_the_session_ends() {
    // Budgets large enough that the flood only fills the sockets: nobody is dropped.
    let (server, id, mut sse, mut ws) = two_stalled_clients(
        support::config()
            .subscriber_buffer_bytes(64 << 20)
            .subscriber_bytes_total(256 << 20),
    )
    .await;
    flood(&server, &id, 200, 100_000).await;
    assert_eq!(server.host.stats().subscribers, 2);
    assert!(turned_away(&server).await, "served past max_connections");
    // The session ends: the final event cannot reach clients whose sockets are full, and
    // their connections are closed anyway, so the places come back.
    server.host.terminate(&id).await.unwrap();
    server.eventually_served().await;
    assert!(
        closed_by_server(&mut sse).await,
        "the SSE connection is closed"
    );
    assert!(closed_by_server(&mut ws).await, "the WebSocket is closed");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_gets_every_event_and_the_end_while_a_stalled_one_is_dropped() {
    let server = TestServer::start_with(
        support::config().default_guest("hostile"),
        HttpConfig::default(),
    )
    .await;
    let id = server
        .host
        .start(StartOptions::guest("hostile"))
        .await
        .unwrap();
    let token = server.keys.sign_for(&id, "hostile");
    let _stalled = server.raw_event_stream(&token).await;
    let mut reader = server.websocket(&token).await;
    eventually("both attached", || server.host.stats().subscribers == 2).await;
    let received = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&received);
    let reading = tokio::spawn(async move {
        loop {
            match reader.next().await {
                Some(Ok(Message::Text(_) | Message::Binary(_))) => {
                    counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                }
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("the reader's socket failed: {other:?}"),
            }
        }
    });
    // 20 MB in batches of 1 MB, each read by the reader before the next: more than the
    // stalled client's socket buffers and its 4 MiB budget hold, never more than 1 MB
    // behind for the reader.
    for batch in 1..=20 {
        let reply = support::call(
            &server.host,
            &id,
            json!({"op":"publish","n":10,"bytes":100_000}),
        )
        .await
        .expect("published");
        assert_eq!(reply["ok"], 10, "{reply}");
        eventually("the reader caught up", || {
            received.load(std::sync::atomic::Ordering::SeqCst) == batch * 10
        })
        .await;
    }
    eventually("the stalled one dropped", || {
        server.host.stats().subscribers == 1
    })
    .await;
    server.host.terminate(&id).await.unwrap();
    let close = tokio::time::timeout(Duration::from_secs(30), reading)
        .await
        .expect("the reader finished")
        .unwrap();
    // Every event, and the one the hostile guest publishes from its `terminate`.
    assert_eq!(
        received.load(std::sync::atomic::Ordering::SeqCst),
        201,
        "every event"
    );
    let close = close.expect("a close frame");
    assert_eq!(u16::from(close.code), 1000);
    server.stop().await;
}

/// A frame header announcing `len` bytes, masked, with no payload after it.
fn wide_frame_header(len: u64) -> Vec<u8> {
    let mut frame = vec![0x82, 0x80 | 127];
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frame_announced_too_wide_is_refused_from_its_header() {
    let server = TestServer::start_with(
        support::config()
            .default_guest("counter")
            .max_message_bytes(64 * 1024),
        HttpConfig::default(),
    )
    .await;
    let (id, token) = server.counter_session().await;
    let mut sockets = Vec::new();
    for _ in 0..5 {
        let mut socket = server.raw_websocket(&token).await;
        socket
            .write_all(&wide_frame_header(9_000_000))
            .await
            .unwrap();
        sockets.push(socket);
    }
    for socket in &mut sockets {
        // The close frame comes without the payload ever being sent.
        let mut head = [0u8; 4];
        tokio::time::timeout(Duration::from_secs(10), socket.read_exact(&mut head))
            .await
            .expect("refused without waiting for the payload")
            .expect("a close frame");
        assert_eq!(head[0], 0x88, "a close frame: {head:?}");
        assert_eq!(u16::from_be_bytes([head[2], head[3]]), 1009, "{head:?}");
    }
    assert!(server.host.is_started(&id), "the session carries on");
    drop(sockets);
    eventually("no subscriber left", || {
        server.host.stats().subscribers == 0
    })
    .await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_connections_count_against_max_connections_for_their_life() {
    let server = TestServer::start(HttpConfig {
        max_connections: 3,
        max_streams: Some(3),
        ..HttpConfig::default()
    })
    .await;
    let (_, token) = server.counter_session().await;
    let mut sockets = Vec::new();
    for _ in 0..3 {
        sockets.push(server.websocket(&token).await);
    }
    // Every place is held by an upgraded connection: a fourth is closed at once.
    assert!(turned_away(&server).await, "served past max_connections");
    // One socket goes: its place comes back.
    let mut first = sockets.remove(0);
    first.close(None).await.unwrap();
    drop(first);
    server.eventually_served().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_session_or_client_cannot_take_every_connection_with_streams() {
    // The defaults, at a small scale: at most half of the connections may be streams.
    let server = TestServer::start(HttpConfig {
        max_connections: 16,
        ..HttpConfig::default()
    })
    .await;
    let (_, token) = server.counter_session().await;
    let client = reqwest::Client::new();
    let mut open = Vec::new();
    let refused = loop {
        let response = client
            .get(server.url("/v1/session/events"))
            .header("x-session-id", &token)
            .send()
            .await
            .unwrap();
        if response.status() != StatusCode::OK {
            break response;
        }
        open.push(response);
        assert!(open.len() <= 16, "no stream was ever refused");
    };
    assert_eq!(open.len(), 8, "half of max_connections");
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = refused.json().await.unwrap();
    assert_eq!(body["error"], "overloaded", "{body}");
    // Everyone else is still served.
    let other = server.client();
    let reply = other
        .post(server.url("/v1/session/call"))
        .body(r#"{"op":"incr"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::OK);
    drop(open);
    server.stop().await;

    // Per session and per client.
    let server = TestServer::start(HttpConfig {
        max_streams_per_session: 2,
        max_streams_per_client: 3,
        ..HttpConfig::default()
    })
    .await;
    let (_, a) = server.counter_session().await;
    let (_, b) = server.counter_session().await;
    let stream = |token: &str| {
        client
            .get(server.url("/v1/session/events"))
            .header("x-session-id", token)
            .send()
    };
    let mut open = vec![stream(&a).await.unwrap(), stream(&a).await.unwrap()];
    let third = stream(&a).await.unwrap();
    assert_eq!(third.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(third.headers().contains_key(RETRY_AFTER));
    let body: Value = third.json().await.unwrap();
    assert_eq!(body["error"], "too_many_streams", "{body}");
    open.push(stream(&b).await.unwrap());
    assert!(open.iter().all(|r| r.status() == StatusCode::OK));
    let fourth = stream(&b).await.unwrap();
    assert_eq!(fourth.status(), StatusCode::TOO_MANY_REQUESTS, "per client");
    // A stream that ends gives its place back. The server ends it once it notices the
    // client went: its subscription goes, and its place with it (both dropped together).
    assert_eq!(server.host.stats().subscribers, 3);
    drop(open.remove(0));
    eventually("the server ended the dropped stream", || {
        server.host.stats().subscribers == 2
    })
    .await;
    let again = stream(&a).await.unwrap();
    assert_eq!(again.status(), StatusCode::OK, "the place came back");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_that_is_not_utf8_arrives_unaltered_in_a_binary_frame() {
    let host = support::host_with(support::config()).await;
    host.load_guest(
        "raw-reply",
        GuestSource::file(&lang_guest("raw-reply")),
        GuestOptions::default(),
    )
    .await
    .expect("the raw-reply guest loads");
    let server = TestServer::serve(host, HttpConfig::default())
        .await
        .unwrap();
    let id = server
        .host
        .start(StartOptions::guest("raw-reply"))
        .await
        .unwrap();
    let mut socket = server
        .websocket(&server.keys.sign_for(&id, "raw-reply"))
        .await;
    let call = json!({"type":"call","id":"r1","data":{}});
    socket
        .send(Message::Text(call.to_string().into()))
        .await
        .unwrap();
    let frame = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .expect("an answer")
        .expect("open")
        .expect("a frame");
    let Message::Binary(bytes) = frame else {
        panic!("expected a binary frame, got {frame:?}");
    };
    let split = bytes.iter().position(|b| *b == b'\n').expect("a newline");
    let head: Value = serde_json::from_slice(&bytes[..split]).unwrap();
    assert_eq!(head, json!({"type":"reply","id":"r1"}));
    assert_eq!(&bytes[split + 1..], b"\xff\xfe\x00\x80\nraw");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_fell_behind_is_told_why_when_it_reads_again() {
    let server = TestServer::start_with(
        support::config().default_guest("hostile"),
        HttpConfig {
            stream_close_grace: Duration::from_secs(60),
            ..HttpConfig::default()
        },
    )
    .await;
    let id = server
        .host
        .start(StartOptions::guest("hostile"))
        .await
        .unwrap();
    let token = server.keys.sign_for(&id, "hostile");
    let sse = reqwest::Client::new()
        .get(server.url("/v1/session/events"))
        .header("x-session-id", &token)
        .send()
        .await
        .unwrap();
    let mut ws = server.websocket(&token).await;
    eventually("both attached", || server.host.stats().subscribers == 2).await;
    // Neither reads while 20 MB are published: both fall past their 4 MiB.
    flood(&server, &id, 200, 100_000).await;
    eventually("both dropped", || server.host.stats().subscribers == 0).await;
    // Reading again, each gets what had reached its socket, then why it was dropped.
    let close = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(frame))) => return frame,
                Some(Ok(_)) => continue,
                other => panic!("the socket ended without a close frame: {other:?}"),
            }
        }
    })
    .await
    .expect("a close frame")
    .expect("with a reason");
    assert_eq!(u16::from(close.code), 1008);
    assert!(close.reason.contains("unread"), "{}", close.reason);
    let mut body = sse.bytes_stream();
    let mut tail = String::new();
    let read = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.expect("the stream reads");
            tail.push_str(&String::from_utf8_lossy(&chunk));
            if tail.len() > 4096 {
                tail.drain(..tail.len() - 4096);
            }
        }
    })
    .await;
    assert!(read.is_ok(), "the stream ended");
    assert!(
        tail.contains("event: dropped\ndata: this subscriber was dropped: more than"),
        "{tail}"
    );
    assert!(server.host.is_started(&id), "the session carries on");
    server.stop().await;
}
