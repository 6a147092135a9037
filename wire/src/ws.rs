//! WebSocket frames: how a client's frame is read, and the pure parts of what the server
//! sends back (the socket loop itself is `host/src/http/stream.rs`).
//!
//! Client → server, text frames: `{"type":"call","id":X,"data":D}` is a call whose request is
//! `D` as JSON text, `{"type":"cast","data":D}` a cast of `D`; any other text frame, and every
//! binary frame, is cast to the guest as it is ([`ClientFrame::Raw`]). Reading a frame never
//! fails: a frame that is not an envelope is a raw cast, and it is the guest's business to
//! refuse what it cannot parse. Frames are already bounded by the socket's maximum message
//! size before they get here; JSON nesting is bounded by `serde_json`'s recursion limit.

use serde::Deserialize;
use serde_json::{Value, json};

/// The longest reason a close frame can carry, in bytes (125 minus the 2-byte code).
pub const MAX_CLOSE_REASON: usize = 123;

/// A client frame, read.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientFrame<'a> {
    /// Call the guest with `request`; answer with `reply_frame` / an error frame carrying `id`.
    Call {
        /// The client's correlation ID, echoed in the answer; any JSON value.
        id: Value,
        /// The request: the envelope's `data` as JSON text.
        request: Vec<u8>,
    },
    /// Cast the envelope's `data`, as JSON text.
    Cast {
        /// The message.
        message: Vec<u8>,
    },
    /// Not an envelope: cast these bytes as they are.
    Raw(&'a [u8]),
}

/// The envelope form of a client frame.
#[derive(Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Envelope {
    Call { id: Value, data: Value },
    Cast { data: Value },
}

impl<'a> ClientFrame<'a> {
    /// Reads a text frame: an envelope, or a raw cast.
    pub fn parse_text(frame: &'a [u8]) -> Self {
        match serde_json::from_slice::<Envelope>(frame) {
            Ok(Envelope::Call { id, data }) => ClientFrame::Call {
                id,
                request: data.to_string().into_bytes(),
            },
            Ok(Envelope::Cast { data }) => ClientFrame::Cast {
                message: data.to_string().into_bytes(),
            },
            Err(_) => ClientFrame::Raw(frame),
        }
    }

    /// Reads a binary frame: always a raw cast.
    pub fn parse_binary(frame: &'a [u8]) -> Self {
        ClientFrame::Raw(frame)
    }
}

/// The answer to a call: `{"type":"reply","id":X,"data":R}`, `R` the reply as JSON when it is
/// JSON, else as a string (invalid UTF-8 replaced).
pub fn reply_frame(id: Value, reply: &[u8]) -> Value {
    json!({"type": "reply", "id": id, "data": as_json(reply)})
}

/// How the answer to a call goes to the client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReplyFrame {
    /// A text frame: [`reply_frame`]'s envelope, for a UTF-8 reply.
    Text(String),
    /// A binary frame, for a reply that is not UTF-8: the envelope `{"type":"reply","id":X}`,
    /// a newline (`\n`, which compact JSON never contains), then the reply's bytes unaltered.
    Binary(Vec<u8>),
}

/// The frame answering call `id` with `reply`: text when the reply is UTF-8 (as
/// [`reply_frame`]), else binary (see [`ReplyFrame::Binary`]), never altering its bytes.
pub fn reply_message(id: Value, reply: &[u8]) -> ReplyFrame {
    if std::str::from_utf8(reply).is_ok() {
        return ReplyFrame::Text(reply_frame(id, reply).to_string());
    }
    let mut frame = json!({"type": "reply", "id": id}).to_string().into_bytes();
    frame.push(b'\n');
    frame.extend_from_slice(reply);
    ReplyFrame::Binary(frame)
}

/// An error answer: `{"type":"error","id":X,"error":kind,"message":text}` (`id` null for a
/// cast).
pub fn error_frame(id: Option<Value>, kind: &str, message: &str) -> Value {
    json!({"type": "error", "id": id, "error": kind, "message": message})
}

/// A reply as JSON when it is JSON, else as a string.
fn as_json(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into_owned()))
}

/// How a published event goes to a WebSocket subscriber.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EventFrame {
    /// A text frame: `{"type":"event","data":E}` when the event is JSON,
    /// `{"type":"event","text":T}` when it is other UTF-8 text.
    Text(String),
    /// A binary frame with the event's bytes, when they are not UTF-8.
    Binary(Vec<u8>),
}

/// The frame for a published event.
pub fn event_frame(bytes: &[u8]) -> EventFrame {
    match (
        serde_json::from_slice::<Value>(bytes),
        std::str::from_utf8(bytes),
    ) {
        (Ok(data), _) => EventFrame::Text(json!({"type": "event", "data": data}).to_string()),
        (Err(_), Ok(text)) => EventFrame::Text(json!({"type": "event", "text": text}).to_string()),
        (Err(_), Err(_)) => EventFrame::Binary(bytes.to_vec()),
    }
}

/// `reason` cut to the [`MAX_CLOSE_REASON`] bytes a close frame can carry, on a character
/// boundary.
pub fn close_reason(reason: &str) -> &str {
    let mut cut = reason.len().min(MAX_CLOSE_REASON);
    while !reason.is_char_boundary(cut) {
        cut -= 1;
    }
    &reason[..cut]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_become_calls_and_casts() {
        let frame = br#"{"type":"call","id":7,"data":{"op":"get"}}"#;
        assert_eq!(
            ClientFrame::parse_text(frame),
            ClientFrame::Call {
                id: json!(7),
                request: br#"{"op":"get"}"#.to_vec()
            }
        );
        assert_eq!(
            ClientFrame::parse_text(br#"{"type":"cast","data":[1,2]}"#),
            ClientFrame::Cast {
                message: b"[1,2]".to_vec()
            }
        );
    }

    #[test]
    fn anything_else_is_a_raw_cast() {
        for frame in [
            &b"not json"[..],
            br#"{"type":"call","data":1}"#,
            br#"{"type":"launch"}"#,
            b"\xff\xfe",
            b"",
        ] {
            assert_eq!(ClientFrame::parse_text(frame), ClientFrame::Raw(frame));
        }
        // Nesting beyond serde_json's recursion limit is refused, not a stack overflow.
        let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        let frame = format!(r#"{{"type":"cast","data":{deep}}}"#);
        assert_eq!(
            ClientFrame::parse_text(frame.as_bytes()),
            ClientFrame::Raw(frame.as_bytes())
        );
    }

    #[test]
    fn events_are_json_text_or_binary() {
        let text = |frame| match frame {
            EventFrame::Text(text) => serde_json::from_str::<Value>(&text).unwrap(),
            EventFrame::Binary(bytes) => panic!("binary frame {bytes:?}"),
        };
        assert_eq!(
            text(event_frame(br#"{"a":1}"#)),
            json!({"type": "event", "data": {"a": 1}})
        );
        assert_eq!(
            text(event_frame(b"hi")),
            json!({"type": "event", "text": "hi"})
        );
        assert_eq!(event_frame(b"\xff"), EventFrame::Binary(vec![0xff]));
    }

    #[test]
    fn replies_that_are_not_utf8_go_unaltered_in_a_binary_frame() {
        let ReplyFrame::Text(text) = reply_message(json!(1), br#"{"a":1}"#) else {
            panic!("a text frame");
        };
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            json!({"type":"reply","id":1,"data":{"a":1}})
        );
        let ReplyFrame::Binary(frame) = reply_message(json!("x"), b"\xff\x00\n\xfe") else {
            panic!("a binary frame");
        };
        let split = frame.iter().position(|b| *b == b'\n').unwrap();
        let head: Value = serde_json::from_slice(&frame[..split]).unwrap();
        assert_eq!(head, json!({"type":"reply","id":"x"}));
        assert_eq!(&frame[split + 1..], b"\xff\x00\n\xfe");
    }

    #[test]
    fn close_reasons_are_cut_on_a_character_boundary() {
        let long = "é".repeat(100);
        let cut = close_reason(&long);
        assert!(
            cut.len() <= MAX_CLOSE_REASON && cut.len() == 122,
            "{}",
            cut.len()
        );
        assert_eq!(close_reason("short"), "short");
    }
}
