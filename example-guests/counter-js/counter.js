//! The counter guest in JavaScript: the same protocol and snapshot format as the Rust
//! `counter` (example-guests/counter), so sessions and snapshots move between the two.
//!
//! Protocol (JSON):
//! - init args: `{"start": n}`, or none at all to start at 0;
//! - call `{"op":"incr","by":n}` (`by` defaults to 1) → `{"value":v}`;
//! - call `{"op":"get"}` → `{"value":v}`;
//! - cast `{"op":"incr","by":n}`.
//!
//! JavaScript numbers are doubles, exact for integers up to 2^53 - 1 only. The counter
//! therefore keeps its value within ±(2^53 - 1) (`Number.isSafeInteger`) and refuses
//! anything else: a `by`, `start` or snapshot value outside that range (which JSON.parse
//! would silently round) is an invalid message, and an increment whose result leaves the
//! range is an overflow, an error for a call and a warning in the log for a cast. After
//! every increment the guest publishes `{"value":v}` (best effort).

import { ctx } from "sessionhost";

/** `value` if it is a safe integer, else an error saying what was wrong with `what`. */
function safeInteger(value, what, prefix) {
  if (!Number.isSafeInteger(value)) {
    throw new Error(
      `${prefix}: ${what} must be an integer between -(2^53-1) and 2^53-1, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

/** The `by` of an increment message (default 1). */
function amount(message, prefix) {
  const by = message.by ?? 1;
  return safeInteger(by, "by", prefix);
}

export default class Counter {
  /** The current value, always a safe integer. */
  value = 0;

  init(args) {
    if (args !== null && args !== undefined) {
      this.value = safeInteger(args.start, "start", "invalid init args");
    }
  }

  handleCall(request) {
    switch (request?.op) {
      case "incr":
        this.incr(amount(request, "invalid call message"));
        return { value: this.value };
      case "get":
        return { value: this.value };
      default:
        throw new Error(`invalid call message: unknown op ${JSON.stringify(request?.op)}`);
    }
  }

  handleCast(message) {
    if (message?.op !== "incr") {
      ctx.warn(`dropped an invalid cast message: unknown op ${JSON.stringify(message?.op)}`);
      return;
    }
    try {
      this.incr(amount(message, "invalid cast message"));
    } catch (e) {
      ctx.warn(e.message);
    }
  }

  snapshot() {
    return { value: this.value };
  }

  restore(state) {
    this.value = safeInteger(state?.value, "value", "invalid snapshot");
  }

  /** Adds `by` and publishes the new value; refuses a result outside the safe range. */
  incr(by) {
    const next = this.value + by;
    if (!Number.isSafeInteger(next)) throw new Error(`overflow adding ${by}`);
    this.value = next;
    try {
      ctx.publish({ value: this.value });
    } catch {
      // Publishing is best effort: a refused event must not fail the call.
    }
  }
}
