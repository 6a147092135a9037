//! The counter guest: the smallest useful session, and the one `make bench`
//! measures.
//!
//! Protocol (JSON):
//! - init args: `{"start": n}`, or none at all to start at 0;
//! - call `{"op":"incr","by":n}` (`by` defaults to 1) → `{"value":v}`;
//! - call `{"op":"get"}` → `{"value":v}`;
//! - cast `{"op":"incr","by":n}`.
//!
//! Values are `i64`; an increment that would overflow is refused (an error
//! for a call, a warning in the log for a cast). After every increment the
//! guest publishes `{"value":v}` to the session's subscribers (best effort).
//! Snapshots are the whole state, `{"value":v}`.

use serde::{Deserialize, Serialize};
use sessionhost_guest::{Session, ctx, export_session};

/// The state of one counter session.
#[derive(Debug, Serialize, Deserialize)]
pub struct Counter {
    /// The current value.
    value: i64,
}

/// Init args: where to start.
#[derive(Debug, Deserialize)]
pub struct Args {
    /// The initial value.
    start: i64,
}

/// A request that expects a reply.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Call {
    /// Adds `by` (default 1) and replies with the new value.
    Incr {
        /// How much to add; may be negative.
        by: Option<i64>,
    },
    /// Replies with the current value.
    Get,
}

/// A message that expects no reply.
#[derive(Debug, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Cast {
    /// Adds `by` (default 1).
    Incr {
        /// How much to add; may be negative.
        by: Option<i64>,
    },
}

/// The reply to every call, and the event published on every change.
#[derive(Debug, Serialize)]
pub struct Value {
    /// The current value.
    value: i64,
}

impl Counter {
    /// Adds `by` (default 1) and publishes the new value.
    fn incr(&mut self, by: Option<i64>) -> Result<i64, String> {
        let by = by.unwrap_or(1);
        self.value = self
            .value
            .checked_add(by)
            .ok_or_else(|| format!("overflow adding {by}"))?;
        // Publishing is best effort: a refused event must not fail the call.
        let _ = ctx::publish(&Value { value: self.value });
        Ok(self.value)
    }
}

impl Session for Counter {
    type Args = Option<Args>;
    type Call = Call;
    type Reply = Value;
    type Cast = Cast;

    fn init(args: Option<Args>) -> Result<Self, String> {
        Ok(Counter {
            value: args.map_or(0, |a| a.start),
        })
    }

    fn handle_call(&mut self, call: Call) -> Result<Value, String> {
        let value = match call {
            Call::Incr { by } => self.incr(by)?,
            Call::Get => self.value,
        };
        Ok(Value { value })
    }

    fn handle_cast(&mut self, cast: Cast) {
        let Cast::Incr { by } = cast;
        if let Err(e) = self.incr(by) {
            ctx::warn(&e);
        }
    }
}

export_session!(Counter, snapshot = serde);

/// Native unit tests, against the SDK's fake host (absent on wasm32).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use sessionhost_guest::{Codec, Json, testing};

    fn call(counter: &mut Counter, json: &str) -> Result<String, String> {
        let reply = counter.handle_call(Json::decode(json.as_bytes())?)?;
        String::from_utf8(Json::encode(&reply)?).map_err(|e| e.to_string())
    }

    #[test]
    fn protocol() {
        let mut counter = Counter::init(Json::decode(b"").expect("no args")).expect("init");
        assert_eq!(
            call(&mut counter, r#"{"op":"get"}"#).as_deref(),
            Ok(r#"{"value":0}"#)
        );
        assert_eq!(
            call(&mut counter, r#"{"op":"incr"}"#).as_deref(),
            Ok(r#"{"value":1}"#)
        );
        assert_eq!(
            call(&mut counter, r#"{"op":"incr","by":-5}"#).as_deref(),
            Ok(r#"{"value":-4}"#)
        );
        counter.handle_cast(Json::decode(br#"{"op":"incr","by":10}"#).expect("cast"));
        assert_eq!(counter.value, 6);
        let published = testing::take().published;
        let expected: Vec<Vec<u8>> = [r#"{"value":1}"#, r#"{"value":-4}"#, r#"{"value":6}"#]
            .iter()
            .map(|e| e.as_bytes().to_vec())
            .collect();
        assert_eq!(published, expected);
    }

    #[test]
    fn start_and_overflow() {
        let args = Json::decode(br#"{"start":9223372036854775806}"#).expect("args");
        let mut counter = Counter::init(args).expect("init");
        assert_eq!(
            call(&mut counter, r#"{"op":"incr"}"#).as_deref(),
            Ok(r#"{"value":9223372036854775807}"#)
        );
        assert_eq!(
            call(&mut counter, r#"{"op":"incr"}"#),
            Err("overflow adding 1".to_owned())
        );
        counter.handle_cast(Cast::Incr { by: Some(1) });
        let logs = testing::take().logs;
        assert_eq!(
            logs,
            vec![(ctx::Level::Warn, "overflow adding 1".to_owned())]
        );
    }
}
