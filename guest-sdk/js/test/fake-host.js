//! A fake of the WIT interface `sessionhost:session/host` with the calling conventions of
//! componentize-js (u64 as BigInt, `result` errors thrown), recording what the guest did.
//! Tests read and reset the record with `take()` and steer it through `fake`.

/** What the guest did since the last `take()`, and knobs for the next calls. */
export const fake = {
  logs: [],
  published: [],
  timers: new Map(),
  cancelled: [],
  stopped: null,
  nextTimer: 1n,
  now: 1_700_000_000_000n,
  /** When set, `publish` refuses with this message. */
  refusePublish: null,
};

/** Returns the record so far and starts a new one. */
export function take() {
  const taken = {
    logs: fake.logs,
    published: fake.published.map((b) => new TextDecoder().decode(b)),
    timers: fake.timers,
    cancelled: fake.cancelled,
    stopped: fake.stopped,
  };
  fake.logs = [];
  fake.published = [];
  fake.timers = new Map();
  fake.cancelled = [];
  fake.stopped = null;
  fake.refusePublish = null;
  return taken;
}

const levels = new Set(["trace", "debug", "info", "warn", "error"]);

export function sessionId() {
  return "fake-session-id-0000000000";
}

export function log(level, message) {
  if (!levels.has(level)) throw new TypeError(`"${level}" is not one of the cases of log-level`);
  if (typeof message !== "string") throw new TypeError("expected a string");
  fake.logs.push([level, message]);
}

export function nowMs() {
  return fake.now;
}

export function publish(event) {
  if (!(event instanceof Uint8Array)) throw new TypeError("expected bytes");
  if (fake.refusePublish !== null) {
    const e = new Error(fake.refusePublish);
    e.payload = fake.refusePublish;
    throw e;
  }
  fake.published.push(event);
}

export function sendAfter(message, delayMs) {
  if (typeof delayMs !== "bigint") throw new TypeError("delay-ms is a u64 (BigInt)");
  const id = fake.nextTimer++;
  fake.timers.set(id, [new TextDecoder().decode(message), delayMs]);
  return id;
}

export function cancelTimer(id) {
  if (typeof id !== "bigint") throw new TypeError("timer-id is a u64 (BigInt)");
  fake.cancelled.push(id);
  return fake.timers.delete(id);
}

export function stop(reason) {
  fake.stopped ??= reason;
}
