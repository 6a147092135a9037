//! Unit tests of the export glue, driven natively against the fake host. Each
//! test runs on its own thread, so each has its own state slot and record.

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use super::*;
use crate::ctx::Level;
use crate::{Json, testing};

#[derive(Debug, PartialEq, Serialize, Deserialize)]
struct Counter {
    value: i64,
    stopped: Option<String>,
}

#[derive(Deserialize)]
struct Args {
    start: i64,
}

#[derive(Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Call {
    Incr { by: Option<i64> },
    Get,
    Fail,
}

#[derive(Serialize)]
struct Reply {
    value: i64,
}

impl Session for Counter {
    type Args = Option<Args>;
    type Call = Call;
    type Reply = Reply;
    type Cast = Call;

    fn init(args: Option<Args>) -> Result<Self, String> {
        match args {
            Some(Args { start }) if start < 0 => Err("negative start".to_owned()),
            args => Ok(Counter {
                value: args.map_or(0, |a| a.start),
                stopped: None,
            }),
        }
    }

    fn handle_call(&mut self, call: Call) -> Result<Reply, String> {
        match call {
            Call::Incr { by } => self.value += by.unwrap_or(1),
            Call::Get => {}
            Call::Fail => return Err("asked to fail".to_owned()),
        }
        Ok(Reply { value: self.value })
    }

    fn handle_cast(&mut self, cast: Call) {
        let _ = self.handle_call(cast);
    }

    fn terminate(&mut self, reason: StopReason) {
        self.stopped = Some(reason.to_string());
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        Some(self.value.to_string().into_bytes())
    }

    fn restore(state: &[u8], from_version: &str) -> Result<Self, String> {
        let text = std::str::from_utf8(state).map_err(|e| e.to_string())?;
        let value = text
            .parse()
            .map_err(|_| format!("not a {from_version} snapshot"))?;
        Ok(Counter {
            value,
            stopped: None,
        })
    }
}

thread_local! {
    static SLOT: RefCell<Option<Counter>> = const { RefCell::new(None) };
}

fn call(request: &str) -> Result<String, String> {
    let reply = handle_call::<Counter, Json>(&SLOT, request.as_bytes())?;
    Ok(String::from_utf8(reply).expect("json is utf-8"))
}

fn value() -> Option<i64> {
    SLOT.with(|s| s.borrow().as_ref().map(|c| c.value))
}

#[test]
fn empty_args_decode_as_null() {
    init::<Counter, Json>(&SLOT, b"").expect("init");
    assert_eq!(call(r#"{"op":"get"}"#), Ok(r#"{"value":0}"#.to_owned()));
}

#[test]
fn args_calls_and_guest_errors() {
    init::<Counter, Json>(&SLOT, br#"{"start":5}"#).expect("init");
    assert_eq!(
        call(r#"{"op":"incr","by":2}"#),
        Ok(r#"{"value":7}"#.to_owned())
    );
    assert_eq!(call(r#"{"op":"incr"}"#), Ok(r#"{"value":8}"#.to_owned()));
    assert_eq!(call(r#"{"op":"fail"}"#), Err("asked to fail".to_owned()));
    assert_eq!(value(), Some(8));
}

#[test]
fn init_errors() {
    let err = init::<Counter, Json>(&SLOT, b"{").expect_err("bad json");
    assert!(err.starts_with("invalid init args: "), "{err}");
    let err = init::<Counter, Json>(&SLOT, br#"{"start":-1}"#).expect_err("refused");
    assert_eq!(err, "negative start");
    assert_eq!(value(), None);
}

#[test]
fn invalid_call_message() {
    init::<Counter, Json>(&SLOT, b"").expect("init");
    let err = call(r#"{"op":"nope"}"#).expect_err("unknown op");
    assert!(
        err.starts_with("invalid call message: unknown variant `nope`"),
        "{err}"
    );
    let err = call("").expect_err("empty call");
    assert!(err.starts_with("invalid call message: "), "{err}");
}

#[test]
fn call_before_init() {
    assert_eq!(call(r#"{"op":"get"}"#), Err(NOT_INITIALIZED.to_owned()));
}

#[test]
fn casts_apply_or_are_logged_and_dropped() {
    testing::reset();
    handle_cast::<Counter, Json>(&SLOT, br#"{"op":"get"}"#);
    init::<Counter, Json>(&SLOT, b"").expect("init");
    handle_cast::<Counter, Json>(&SLOT, br#"{"op":"incr","by":3}"#);
    handle_cast::<Counter, Json>(&SLOT, b"garbage");
    assert_eq!(value(), Some(3));
    let logs = testing::take().logs;
    assert_eq!(logs.len(), 2, "{logs:?}");
    assert_eq!(
        logs[0],
        (Level::Warn, format!("dropped a cast: {NOT_INITIALIZED}"))
    );
    assert_eq!(logs[1].0, Level::Warn);
    assert!(
        logs[1].1.starts_with("dropped an invalid cast message: "),
        "{}",
        logs[1].1
    );
}

#[test]
fn terminate_maps_the_reason_and_keeps_the_state() {
    terminate::<Counter>(&SLOT, WitStopReason::Normal);
    init::<Counter, Json>(&SLOT, b"").expect("init");
    terminate::<Counter>(&SLOT, WitStopReason::Requested("bye".into()));
    let stopped = SLOT.with(|s| s.borrow().as_ref().and_then(|c| c.stopped.clone()));
    assert_eq!(stopped.as_deref(), Some("requested: bye"));
    assert_eq!(
        snapshot::<Counter, Json, TraitSnapshot>(&SLOT),
        Some(b"0".to_vec())
    );
}

#[test]
fn trait_snapshot_and_restore() {
    assert_eq!(snapshot::<Counter, Json, TraitSnapshot>(&SLOT), None);
    restore::<Counter, Json, TraitSnapshot>(&SLOT, b"41", "0.1.0").expect("restore");
    assert_eq!(call(r#"{"op":"incr"}"#), Ok(r#"{"value":42}"#.to_owned()));
    let err = restore::<Counter, Json, TraitSnapshot>(&SLOT, b"x", "0.1.0").expect_err("bad");
    assert_eq!(err, "not a 0.1.0 snapshot");
    assert_eq!(value(), Some(42), "a rejected restore keeps the state");
}

#[test]
fn serde_snapshot_and_restore() {
    init::<Counter, Json>(&SLOT, br#"{"start":9}"#).expect("init");
    let bytes = snapshot::<Counter, Json, SerdeSnapshot>(&SLOT).expect("snapshot");
    assert_eq!(bytes, br#"{"value":9,"stopped":null}"#.to_vec());
    restore::<Counter, Json, SerdeSnapshot>(&SLOT, br#"{"value":1,"stopped":null}"#, "old")
        .expect("restore");
    assert_eq!(value(), Some(1));
    let err = restore::<Counter, Json, SerdeSnapshot>(&SLOT, b"41", "0.1.0").expect_err("bad");
    assert!(err.starts_with("invalid snapshot: "), "{err}");
}

#[cfg(feature = "bincode")]
#[test]
fn bincode_session() {
    use crate::Bincode;

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    enum Op {
        Incr(i64),
    }

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Total(i64);

    impl Session for Total {
        type Args = ();
        type Call = Op;
        type Reply = i64;
        type Cast = Op;

        fn init((): ()) -> Result<Self, String> {
            Ok(Total(0))
        }

        fn handle_call(&mut self, Op::Incr(by): Op) -> Result<i64, String> {
            self.0 += by;
            ctx::publish(&self.0)?;
            Ok(self.0)
        }
    }

    thread_local! {
        static TOTAL: RefCell<Option<Total>> = const { RefCell::new(None) };
    }

    init::<Total, Bincode>(&TOTAL, b"").expect("init");
    let request = Bincode::encode(&Op::Incr(4)).expect("encode");
    let reply = handle_call::<Total, Bincode>(&TOTAL, &request).expect("call");
    assert_eq!(Bincode::decode::<i64>(&reply), Ok(4));
    assert_eq!(
        testing::take().published,
        vec![reply],
        "ctx uses the session codec"
    );
    let snap = snapshot::<Total, Bincode, SerdeSnapshot>(&TOTAL).expect("snapshot");
    restore::<Total, Bincode, SerdeSnapshot>(&TOTAL, &snap, "x").expect("restore");
}
