//! Unit tests of the SDK glue (`exportSession`) and of `ctx`, on the fake host.

import assert from "node:assert/strict";
import { test } from "node:test";

import { ctx, exportSession, rawCodec, StopReason } from "sessionhost";
import { fake, take } from "./fake-host.js";

const bytes = (text) => new TextEncoder().encode(text);
const text = (b) => new TextDecoder().decode(b);

class Echo {
  init(args) {
    if (args?.fail) throw new Error("refused");
    this.args = args;
  }
  handleCall(request) {
    if (request.throw === "string") throw "plain string";
    if (request.throw === "bug") return undefined.nope;
    if (request.async) return Promise.resolve({ later: request.async });
    return { args: this.args, request };
  }
  handleCast(message) {
    if (message.throw) throw new Error("cast refused");
    this.cast = message;
  }
  terminate(reason) {
    ctx.info(`terminated: ${reason}`);
  }
}

test("init, call and reply as JSON; empty args are null", () => {
  const session = exportSession(Echo);
  assert.deepEqual(session.init(new Uint8Array()), { tag: "ok", val: undefined });
  const reply = session.handleCall(bytes('{"x":1}'));
  assert.equal(reply.tag, "ok");
  assert.equal(text(reply.val), '{"args":null,"request":{"x":1}}');
});

test("errors become the WIT err string with the Rust SDK's prefixes", () => {
  const session = exportSession(Echo);
  assert.deepEqual(session.init(bytes('{"fail":true}')), { tag: "err", val: "refused" });
  const badArgs = session.init(bytes("{nope"));
  assert.equal(badArgs.tag, "err");
  assert.match(badArgs.val, /^invalid init args: /);
  session.init(bytes(""));
  const badCall = session.handleCall(bytes("[1,"));
  assert.match(badCall.val, /^invalid call message: /);
  assert.deepEqual(session.handleCall(bytes('{"throw":"string"}')), {
    tag: "err",
    val: "plain string",
  });
  take();
  const bug = session.handleCall(bytes('{"throw":"bug"}'));
  assert.equal(bug.tag, "err");
  const { logs } = take();
  assert.equal(logs.length, 1, "a TypeError is logged with its stack");
  assert.equal(logs[0][0], "error");
});

test("async methods resolve to the same results", async () => {
  const session = exportSession(Echo);
  session.init(bytes(""));
  const reply = await session.handleCall(bytes('{"async":7}'));
  assert.equal(text(reply.val), '{"later":7}');
});

test("casts: invalid ones and throws are logged, not fatal", () => {
  const session = exportSession(Echo);
  session.init(bytes(""));
  take();
  session.handleCast(bytes("not json"));
  session.handleCast(bytes('{"throw":true}'));
  const { logs } = take();
  assert.equal(logs.length, 2);
  assert.equal(logs[0][0], "warn");
  assert.match(logs[0][1], /^dropped an invalid cast message: /);
  assert.deepEqual(logs[1], ["warn", "handleCast failed: cast refused"]);
});

test("terminate gets a StopReason worded like the Rust SDK", () => {
  const session = exportSession(Echo);
  session.init(bytes(""));
  take();
  session.terminate({ tag: "requested", val: "done" });
  session.terminate({ tag: "idle-timeout" });
  assert.deepEqual(take().logs, [
    ["info", "terminated: requested: done"],
    ["info", "terminated: idle timeout"],
  ]);
  assert.equal(String(new StopReason("limit", "fuel")), "limit exceeded: fuel");
});

test("snapshot is none and restore refused when the session has neither", () => {
  const session = exportSession(Echo);
  session.init(bytes(""));
  assert.equal(session.snapshot(), undefined);
  assert.deepEqual(session.restore(bytes("{}"), "v1"), {
    tag: "err",
    val: "this guest does not support restore",
  });
});

test("a plain object is a session too, and a raw codec passes bytes through", () => {
  const session = exportSession({
    codec: rawCodec,
    handleCall(request) {
      return text(request).toUpperCase();
    },
    snapshot() {
      return new Uint8Array([1, 2, 3]);
    },
  });
  assert.deepEqual(session.init(bytes("ignored")), { tag: "ok", val: undefined });
  assert.equal(text(session.handleCall(bytes("abc")).val), "ABC");
  assert.deepEqual([...session.snapshot()], [1, 2, 3]);
});

test("a definition without handleCall is refused when the module loads", () => {
  assert.throws(() => exportSession(class {}), /handleCall/);
  assert.throws(() => exportSession(42), /session class or object/);
});

test("ctx converts to and from the host's u64s and encodes JSON", () => {
  take();
  assert.equal(ctx.sessionId(), "fake-session-id-0000000000");
  assert.equal(ctx.nowMs(), Number(fake.now));
  ctx.publish({ a: 1 });
  const id = ctx.sendAfter({ op: "tick" }, 250);
  assert.equal(typeof id, "number");
  assert.equal(ctx.cancelTimer(id), true);
  assert.equal(ctx.cancelTimer(id), false);
  assert.throws(() => ctx.sendAfter({}, -1), RangeError);
  assert.throws(() => ctx.sendAfter({}, 1.5), RangeError);
  ctx.stop("bye");
  fake.refusePublish = "event too large";
  assert.throws(() => ctx.publish({}), /event too large/);
  const record = take();
  assert.deepEqual(record.published, ['{"a":1}']);
  assert.deepEqual([...record.timers.values()], []);
  assert.deepEqual(record.cancelled, [BigInt(id), BigInt(id)]);
  assert.equal(record.stopped, "bye");
});
