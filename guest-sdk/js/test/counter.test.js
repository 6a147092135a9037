//! The JavaScript counter (example-guests/counter-js) on the fake host: the protocol of
//! tests/src/protocol.rs at unit level, including the safe-integer limits.

import assert from "node:assert/strict";
import { test } from "node:test";

import { exportSession } from "sessionhost";
import Counter from "../../../example-guests/counter-js/counter.js";
import { take } from "./fake-host.js";

const bytes = (text) => new TextEncoder().encode(text);
const text = (b) => new TextDecoder().decode(b);

function started(args = "") {
  const session = exportSession(Counter);
  assert.deepEqual(session.init(bytes(args)), { tag: "ok", val: undefined });
  return session;
}

function call(session, request) {
  const reply = session.handleCall(bytes(request));
  return reply.tag === "ok" ? text(reply.val) : new Error(reply.val);
}

test("calls, casts and published events", () => {
  const session = started();
  take();
  assert.equal(call(session, '{"op":"get"}'), '{"value":0}');
  assert.equal(call(session, '{"op":"incr"}'), '{"value":1}');
  assert.equal(call(session, '{"op":"incr","by":-5}'), '{"value":-4}');
  session.handleCast(bytes('{"op":"incr","by":10}'));
  assert.equal(call(session, '{"op":"get"}'), '{"value":6}');
  assert.deepEqual(take().published, ['{"value":1}', '{"value":-4}', '{"value":6}']);
  assert.match(call(session, '{"op":"decr"}').message, /^invalid call message/);
});

test("start args, and values JS cannot hold exactly are refused", () => {
  assert.equal(call(started('{"start":-5}'), '{"op":"get"}'), '{"value":-5}');
  const session = exportSession(Counter);
  assert.match(session.init(bytes('{"start":9223372036854775807}')).val, /^invalid init args: /);
  assert.match(session.init(bytes('{"start":"3"}')).val, /^invalid init args: /);
});

test("overflow: a huge `by` and a result past 2^53-1 are errors that change nothing", () => {
  const session = started('{"start":9007199254740990}');
  assert.equal(call(session, '{"op":"incr"}'), '{"value":9007199254740991}');
  assert.equal(call(session, '{"op":"incr"}').message, "overflow adding 1");
  assert.match(
    call(session, '{"op":"incr","by":9223372036854775807}').message,
    /^invalid call message: by must be an integer/,
  );
  assert.match(call(session, '{"op":"incr","by":0.5}').message, /^invalid call message/);
  assert.equal(call(session, '{"op":"get"}'), '{"value":9007199254740991}');
  take();
  session.handleCast(bytes('{"op":"incr"}'));
  assert.deepEqual(take().logs, [["warn", "overflow adding 1"]]);
});

test("snapshot and restore use the Rust counter's format", () => {
  const session = started('{"start":41}');
  assert.equal(text(session.snapshot()), '{"value":41}');
  const back = exportSession(Counter);
  assert.deepEqual(back.restore(bytes('{"value":13}'), "counter"), { tag: "ok", val: undefined });
  assert.equal(call(back, '{"op":"get"}'), '{"value":13}');
  assert.match(back.restore(bytes('{"nope":1}'), "test").val, /^invalid snapshot: /);
  assert.match(back.restore(bytes("garbage"), "test").val, /^invalid snapshot: /);
});
