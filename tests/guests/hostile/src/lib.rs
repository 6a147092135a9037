//! The hostile guest: misbehaves on request, so the host's tests can check
//! its limits (fuel, deadlines, memory, reply and event sizes, timers, log
//! floods), its trap handling and its recovery from snapshots.
//!
//! Its memory starts at 256 KiB with no maximum of its own (see `build.rs`).
//! Protocol (JSON; `op` names the operation):
//!
//! Init args `{"mode": M}`; absent args or mode mean `"ok"`. Modes:
//! `ok`; `fail` (init returns `Err("init refused")`); `loop` (init never
//! returns); `trap` (init panics); `trap_terminate` / `loop_terminate`
//! (terminate panics / never returns); `loop_snapshot` (snapshot never
//! returns); `loop_restore` / `trap_restore` (a restore of a snapshot taken
//! in that mode never returns / panics); `stop_init` (init calls `ctx::stop("stopped in
//! init")` and succeeds). Any other mode fails init.
//!
//! Calls, with their replies:
//! - `{"op":"echo","data":D}` → `{"data":D}` (`D` any JSON, default `null`);
//! - `{"op":"loop"}` never returns (`{"op":"loop","announce":true}` first
//!   publishes `{"looping":true}`); `{"op":"trap"}` panics;
//!   `{"op":"unreachable"}` executes `unreachable`; `{"op":"stack"}` recurses
//!   until the stack overflows;
//! - `{"op":"grow","mib":n}` allocates n MiB, writes every byte and keeps them
//!   → `{"mib":n,"kept_mib":total}`, or `Err("out of memory: ...")` when the
//!   allocation is refused;
//! - `{"op":"huge","bytes":n}` → a JSON string of exactly `max(n, 2)` bytes
//!   encoded (`"xxx…"`);
//! - `{"op":"error","message":s}` → `Err(s)`;
//! - `{"op":"stop","reason":s}` calls `ctx::stop(s)` → `{"ok":true}`;
//! - `{"op":"log_spam","n":k}` logs k info lines → `{"logged":k}`;
//! - `{"op":"stdout","text":s}` / `{"op":"stderr","text":s}` prints the
//!   line → `{"ok":true}`;
//! - `{"op":"publish","n":k,"bytes":b}` publishes k raw events of b bytes →
//!   `{"ok":succeeded,"error":first error or null}`;
//! - `{"op":"timers","n":k,"delay_ms":d}` sets k timers delivering the cast
//!   `{"op":"record","n":i}` (i = 0..k) → `{"ok":succeeded,"error":...}`;
//! - `{"op":"cancel_timer","id":t}` → `{"cancelled":bool}`;
//! - `{"op":"casts"}` → `{"seen":[i...]}`, the `record` casts received, in
//!   order;
//! - `{"op":"count"}` → `{"calls":c,"casts":k}`: calls received before this
//!   one, casts received (decoded ones only);
//! - `{"op":"sleep_ms","ms":m}` busy-waits m ms on `ctx::now_ms` →
//!   `{"slept_ms":elapsed}` (`{"op":"sleep_ms","ms":m,"announce":true}` first
//!   publishes `{"sleeping":true}`, so a test knows the message is running);
//! - `{"op":"block_ms","ms":m}` blocks in WASI for m ms (`std::thread::sleep`, a
//!   monotonic-clock pollable) → `{"blocked_ms":elapsed}`;
//! - `{"op":"add","n":k}` adds k to the counter `value` (kept in snapshots) →
//!   `{"value":v}`;
//! - `{"op":"break_snapshot"}` makes the next `snapshot` overflow the stack (the
//!   flag is not kept in snapshots) → `{"ok":true}`.
//!
//! `terminate` (in the modes that do not misbehave there) publishes
//! `{"terminated":reason,"casts":k}` as the session's last event.
//!
//! Casts: `{"op":"record","n":i}` appends i; `{"op":"loop"}` never returns;
//! `{"op":"trap"}` panics.
//!
//! Snapshots are the JSON of the state (mode, counters, recorded casts; not
//! the memory kept by `grow`); `restore` parses them back and fails on
//! anything else.

use std::hint::black_box;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sessionhost_guest::{Session, StopReason, ctx, export_session};

pub use protocol::{Args, Call, Cast, Mode};

mod protocol;

/// The state of one hostile session.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Hostile {
    /// How to misbehave outside of calls and casts.
    mode: Mode,
    /// Calls received.
    calls: u64,
    /// Casts received.
    casts: u64,
    /// The `n` of every `record` cast, in order.
    seen: Vec<i64>,
    /// The counter of `add`.
    #[serde(default)]
    value: i64,
    /// The next snapshot overflows the stack; not part of snapshots.
    #[serde(skip)]
    break_snapshot: bool,
    /// Memory kept by `grow`; not part of snapshots.
    #[serde(skip)]
    kept: Vec<Vec<u8>>,
}

/// Spins forever in a loop the optimizer cannot remove.
fn spin() -> ! {
    let mut i = 0_u64;
    loop {
        i = black_box(i.wrapping_add(1));
    }
}

/// Recurses until the stack overflows, using stack memory on every level.
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 32]);
    if black_box(true) {
        recurse(black_box(depth + 1)).wrapping_add(frame[7])
    } else {
        depth
    }
}

/// Traps with `unreachable` (a panic off wasm32).
fn unreachable_instruction() -> ! {
    #[cfg(target_arch = "wasm32")]
    core::arch::wasm32::unreachable();
    #[cfg(not(target_arch = "wasm32"))]
    panic!("unreachable instruction")
}

/// Runs `attempt` `n` times and tallies the outcome as a reply.
fn tally<T>(n: u32, mut attempt: impl FnMut(u32) -> Result<T, String>) -> Value {
    let mut ok = 0_u32;
    let mut first_error = None;
    for i in 0..n {
        match attempt(i) {
            Ok(_) => ok += 1,
            Err(e) => {
                first_error.get_or_insert(e);
            }
        }
    }
    json!({ "ok": ok, "error": first_error })
}

impl Hostile {
    /// Allocates `mib` MiB, writes every byte and keeps it.
    fn grow(&mut self, mib: u32) -> Result<Value, String> {
        let bytes = usize::try_from(mib).map_err(|e| e.to_string())? << 20;
        let mut block = Vec::new();
        block
            .try_reserve_exact(bytes)
            .map_err(|e| format!("out of memory: could not allocate {mib} MiB: {e}"))?;
        block.resize(bytes, 0xA5);
        self.kept.push(black_box(block));
        let kept: usize = self.kept.iter().map(Vec::len).sum();
        Ok(json!({ "mib": mib, "kept_mib": kept >> 20 }))
    }
}

impl Session for Hostile {
    type Args = Option<Args>;
    type Call = Call;
    type Reply = Value;
    type Cast = Cast;

    fn init(args: Option<Args>) -> Result<Self, String> {
        let mode = args.unwrap_or_default().mode;
        match mode {
            Mode::Fail => Err("init refused".to_owned()),
            Mode::Loop => spin(),
            Mode::Trap => panic!("init trap requested"),
            Mode::StopInit => {
                ctx::stop("stopped in init");
                Ok(Hostile {
                    mode,
                    ..Hostile::default()
                })
            }
            _ => Ok(Hostile {
                mode,
                ..Hostile::default()
            }),
        }
    }

    fn handle_call(&mut self, call: Call) -> Result<Value, String> {
        let calls_before = self.calls;
        self.calls += 1;
        Ok(match call {
            Call::Echo { data } => json!({ "data": data }),
            Call::Loop { announce } => {
                if announce {
                    let _ = ctx::publish(&json!({ "looping": true }));
                }
                spin()
            }
            Call::Trap => panic!("trap requested"),
            Call::Unreachable => unreachable_instruction(),
            Call::Stack => json!({ "depth": recurse(0) }),
            Call::Grow { mib } => self.grow(mib)?,
            Call::Huge { bytes } => Value::String("x".repeat(bytes.saturating_sub(2))),
            Call::Error { message } => return Err(message),
            Call::Stop { reason } => {
                ctx::stop(&reason);
                json!({ "ok": true })
            }
            Call::LogSpam { n } => {
                for i in 0..n {
                    ctx::info(&format!("log spam line {i} of {n}"));
                }
                json!({ "logged": n })
            }
            Call::Stdout { text } => {
                #[expect(clippy::print_stdout, reason = "printing to stdout is the point")]
                {
                    println!("{text}");
                }
                json!({ "ok": true })
            }
            Call::Stderr { text } => {
                eprintln!("{text}");
                json!({ "ok": true })
            }
            Call::Publish { n, bytes } => {
                let event = vec![b'x'; bytes];
                tally(n, |_| ctx::publish_bytes(&event))
            }
            Call::Timers { n, delay_ms } => tally(n, |i| {
                let record = Cast::Record { n: i64::from(i) };
                ctx::send_after(&record, Duration::from_millis(delay_ms))
            }),
            Call::CancelTimer { id } => {
                json!({ "cancelled": ctx::cancel_timer(ctx::TimerId(id)) })
            }
            Call::Casts => json!({ "seen": self.seen }),
            Call::Count => json!({ "calls": calls_before, "casts": self.casts }),
            Call::SleepMs { ms, announce } => {
                if announce {
                    let _ = ctx::publish(&json!({ "sleeping": true }));
                }
                let start = ctx::now_ms();
                let mut now = start;
                while now.saturating_sub(start) < ms {
                    now = black_box(ctx::now_ms());
                }
                json!({ "slept_ms": now - start })
            }
            Call::BlockMs { ms } => {
                let start = ctx::now_ms();
                std::thread::sleep(Duration::from_millis(ms));
                json!({ "blocked_ms": ctx::now_ms().saturating_sub(start) })
            }
            Call::Add { n } => {
                self.value = self.value.wrapping_add(n);
                json!({ "value": self.value })
            }
            Call::BreakSnapshot => {
                self.break_snapshot = true;
                json!({ "ok": true })
            }
        })
    }

    fn handle_cast(&mut self, cast: Cast) {
        self.casts += 1;
        match cast {
            Cast::Record { n } => self.seen.push(n),
            Cast::Loop => spin(),
            Cast::Trap => panic!("cast trap requested"),
        }
    }

    fn terminate(&mut self, reason: StopReason) {
        match self.mode {
            Mode::TrapTerminate => panic!("terminate trap requested ({reason})"),
            Mode::LoopTerminate => spin(),
            _ => {
                let last = json!({ "terminated": reason.to_string(), "casts": self.casts });
                let _ = ctx::publish(&last);
            }
        }
    }

    fn snapshot(&self) -> Option<Vec<u8>> {
        if self.mode == Mode::LoopSnapshot {
            spin();
        }
        if self.break_snapshot {
            black_box(recurse(0));
        }
        serde_json::to_vec(self).ok()
    }

    fn restore(state: &[u8], _from_version: &str) -> Result<Self, String> {
        let state: Hostile =
            serde_json::from_slice(state).map_err(|e| format!("not a hostile snapshot: {e}"))?;
        match state.mode {
            Mode::LoopRestore => spin(),
            Mode::TrapRestore => panic!("restore trap requested"),
            _ => Ok(state),
        }
    }
}

export_session!(Hostile);

/// Native unit tests, against the SDK's fake host (absent on wasm32).
#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use sessionhost_guest::{Codec, Json, testing};

    fn call(h: &mut Hostile, json: &str) -> Result<Vec<u8>, String> {
        let reply = h.handle_call(Json::decode(json.as_bytes())?)?;
        Json::encode(&reply)
    }

    #[test]
    fn modes() {
        assert_eq!(
            Hostile::init(Json::decode(b"").expect("none")).map(|h| h.mode),
            Ok(Mode::Ok)
        );
        let fail = Json::decode(br#"{"mode":"fail"}"#).expect("fail");
        assert_eq!(Hostile::init(fail).err().as_deref(), Some("init refused"));
        assert!(Json::decode::<Option<Args>>(br#"{"mode":"nope"}"#).is_err());
    }

    #[test]
    fn calls() {
        let mut h = Hostile::default();
        assert_eq!(
            call(&mut h, r#"{"op":"echo","data":[1,{"a":null}]}"#),
            Ok(br#"{"data":[1,{"a":null}]}"#.to_vec())
        );
        assert_eq!(
            call(&mut h, r#"{"op":"huge","bytes":10}"#).map(|r| r.len()),
            Ok(10)
        );
        assert_eq!(
            call(&mut h, r#"{"op":"error","message":"boom"}"#),
            Err("boom".to_owned())
        );
        assert_eq!(
            call(&mut h, r#"{"op":"grow","mib":1}"#),
            Ok(br#"{"kept_mib":1,"mib":1}"#.to_vec())
        );
        assert_eq!(
            call(&mut h, r#"{"op":"publish","n":2,"bytes":3}"#),
            Ok(br#"{"error":null,"ok":2}"#.to_vec())
        );
        assert_eq!(
            call(&mut h, r#"{"op":"timers","n":2,"delay_ms":5}"#),
            Ok(br#"{"error":null,"ok":2}"#.to_vec())
        );
        assert_eq!(
            call(&mut h, r#"{"op":"stop","reason":"bye"}"#),
            Ok(br#"{"ok":true}"#.to_vec())
        );
        let rec = testing::take();
        assert_eq!(rec.published, vec![b"xxx".to_vec(), b"xxx".to_vec()]);
        assert_eq!(rec.timers[1].message, br#"{"op":"record","n":1}"#.to_vec());
        assert_eq!(rec.stop.as_deref(), Some("bye"));
        h.handle_cast(Json::decode(&rec.timers[1].message).expect("record"));
        assert_eq!(
            call(&mut h, r#"{"op":"casts"}"#),
            Ok(br#"{"seen":[1]}"#.to_vec())
        );
        assert_eq!(
            call(&mut h, r#"{"op":"count"}"#),
            Ok(br#"{"calls":8,"casts":1}"#.to_vec())
        );
    }

    #[test]
    fn a_sleep_announces_itself_on_request() {
        assert_eq!(
            call(&mut Hostile::default(), r#"{"op":"sleep_ms","ms":0}"#),
            Ok(br#"{"slept_ms":0}"#.to_vec())
        );
        assert!(testing::take().published.is_empty());
        assert_eq!(
            call(
                &mut Hostile::default(),
                r#"{"op":"sleep_ms","ms":0,"announce":true}"#
            ),
            Ok(br#"{"slept_ms":0}"#.to_vec())
        );
        assert_eq!(
            testing::take().published,
            vec![br#"{"sleeping":true}"#.to_vec()]
        );
    }

    #[test]
    fn snapshot_round_trip() {
        let mut h = Hostile {
            mode: Mode::TrapRestore,
            ..Hostile::default()
        };
        h.handle_cast(Cast::Record { n: 4 });
        let snap = h.snapshot().expect("snapshot");
        assert_eq!(
            snap,
            br#"{"mode":"trap_restore","calls":0,"casts":1,"seen":[4],"value":0}"#.to_vec()
        );
        let ok = br#"{"mode":"ok","calls":0,"casts":1,"seen":[4]}"#;
        assert_eq!(Hostile::restore(ok, "0.1.0").map(|h| h.seen), Ok(vec![4]));
        let err = Hostile::restore(b"garbage", "0.1.0")
            .err()
            .unwrap_or_default();
        assert!(err.starts_with("not a hostile snapshot: "), "{err}");
    }
}
