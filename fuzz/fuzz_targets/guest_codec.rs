//! Fuzzes the guest SDK's message decoding, natively compiled, through the same glue
//! `export_session!` generates (`init`, `handle_call`, `handle_cast`, `restore`) with both
//! codecs (JSON and bincode): whatever bytes a host or client sends, a guest built with the
//! SDK answers with `Err` or handles the message — it never panics (a panic would trap the
//! session).
//!
//! Checked beyond "no panic": a message that decodes re-encodes and decodes to the same value.
#![no_main]

use std::cell::RefCell;
use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use serde::{Deserialize, Serialize};
use sessionhost_guest::__private::{self as glue, SerdeSnapshot, Slot};
use sessionhost_guest::{Bincode, Codec, Json, Session};

/// A message shape with what real guests use: a tagged enum, options, strings, maps, nesting.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Msg {
    Add { key: String, by: Option<i64> },
    Put(BTreeMap<String, Vec<u8>>),
    Nested(Vec<Option<Box<Msg>>>),
    Flag(bool),
    Get,
}

/// A session whose state is serializable (so `restore` decodes a snapshot too).
#[derive(Default, Serialize, Deserialize)]
struct Fuzzed {
    seen: u64,
    last: Option<Msg>,
}

impl Session for Fuzzed {
    type Args = Option<Msg>;
    type Call = Msg;
    type Reply = Option<Msg>;
    type Cast = Msg;

    fn init(args: Option<Msg>) -> Result<Self, String> {
        Ok(Self {
            seen: 0,
            last: args,
        })
    }

    fn handle_call(&mut self, call: Msg) -> Result<Option<Msg>, String> {
        self.seen += 1;
        Ok(self.last.replace(call))
    }

    fn handle_cast(&mut self, cast: Msg) {
        self.seen += 1;
        self.last = Some(cast);
    }
}

thread_local! {
    static JSON_SLOT: RefCell<Option<Fuzzed>> = const { RefCell::new(None) };
    static BINCODE_SLOT: RefCell<Option<Fuzzed>> = const { RefCell::new(None) };
}

fn exercise<C: Codec>(slot: &'static Slot<Fuzzed>, data: &[u8]) {
    // Before init: a call is refused, a cast dropped.
    slot.with(|s| *s.borrow_mut() = None);
    assert!(glue::handle_call::<Fuzzed, C>(slot, data).is_err());
    glue::handle_cast::<Fuzzed, C>(slot, data);

    let _ = glue::init::<Fuzzed, C>(slot, data);
    if glue::init::<Fuzzed, C>(slot, b"").is_err() {
        panic!("empty init args decode as null");
    }
    let _ = glue::handle_call::<Fuzzed, C>(slot, data);
    glue::handle_cast::<Fuzzed, C>(slot, data);
    let _ = glue::restore::<Fuzzed, C, SerdeSnapshot>(slot, data, "0");
    // Whatever state the session ended in snapshots.
    assert!(glue::snapshot::<Fuzzed, C, SerdeSnapshot>(slot).is_some());

    if let Ok(msg) = C::decode::<Msg>(data) {
        let again = C::encode(&msg).expect("a decoded message encodes");
        assert_eq!(C::decode::<Msg>(&again), Ok(msg));
    }
}

fuzz_target!(|data: &[u8]| {
    exercise::<Json>(&JSON_SLOT, data);
    exercise::<Bincode>(&BINCODE_SLOT, data);
    let _ = sessionhost_guest::testing::take();
});
