//! Fuzzes the WebSocket paths: a client frame read as text or binary
//! (`ClientFrame::parse_text` / `parse_binary`), and what the server builds from bytes it does
//! not control — a guest's published event or reply (`event_frame`, `reply_frame`) and a
//! close reason (`close_reason`).
//!
//! Checked beyond "no panic": a call's request and a cast's message are valid JSON; a frame
//! that is not an envelope is cast unchanged; every text frame the server sends is valid JSON;
//! a close reason fits a close frame and is a prefix of the original.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sessionhost_wire::ClientFrame;
use sessionhost_wire::ws::{self, EventFrame, MAX_CLOSE_REASON};

fuzz_target!(|data: &[u8]| {
    match ClientFrame::parse_text(data) {
        ClientFrame::Call { id, request } => {
            serde_json::from_slice::<Value>(&request).expect("a call's request is JSON");
            let reply = ws::reply_frame(id.clone(), data);
            assert_eq!(reply["id"], id);
            let _ = ws::error_frame(Some(id), "guest_error", &String::from_utf8_lossy(data));
        }
        ClientFrame::Cast { message } => {
            serde_json::from_slice::<Value>(&message).expect("a cast's message is JSON");
        }
        ClientFrame::Raw(raw) => assert_eq!(raw, data),
    }
    assert_eq!(ClientFrame::parse_binary(data), ClientFrame::Raw(data));

    match ws::event_frame(data) {
        EventFrame::Text(text) => {
            let frame: Value = serde_json::from_str(&text).expect("event frames are JSON");
            assert_eq!(frame["type"], "event");
        }
        EventFrame::Binary(bytes) => {
            assert_eq!(bytes, data);
            assert!(std::str::from_utf8(data).is_err(), "text events go as text");
        }
    }

    let reason = String::from_utf8_lossy(data);
    let cut = ws::close_reason(&reason);
    assert!(cut.len() <= MAX_CLOSE_REASON);
    assert!(reason.starts_with(cut));
});
