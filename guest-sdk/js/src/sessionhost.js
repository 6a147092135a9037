//! sessionhost guest SDK for JavaScript: the module session code imports as "sessionhost".
//!
//! Role: the user writes a session as an ES module whose default export is a class (or a
//! plain object) with `init(args)`, `handleCall(request)`, `handleCast(message)`,
//! `terminate(reason)` and optionally `snapshot()` / `restore(state, fromVersion)`;
//! `exportSession` (called by the entry module that `sessionhost-js build` generates) turns
//! it into the `session` interface of the WIT world `session-guest`, and `ctx` wraps the
//! host imports. Messages, replies, args and snapshots are JSON unless the session picks
//! another codec (`static codec = rawCodec`).
//!
//! Invariants: the host calls one export at a time, so the single `current` session needs
//! no locking; `init` or `restore` runs first and creates it. Every error the user throws
//! becomes the WIT `err` string of the export (never a trap); exports without a `result`
//! (`handle-cast`, `terminate`) log what was thrown instead. Only `snapshot` rethrows: it
//! cannot report an error, and answering "no snapshot" would silently lose the state.
//!
//! Ownership: this module owns the session object for the life of the component instance.

import * as host from "sessionhost:session/host@0.1.0";

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The default codec: JSON text in UTF-8. Empty bytes decode as `null` (no init args). */
export const jsonCodec = Object.freeze({
  encode(value) {
    const text = JSON.stringify(value);
    return encoder.encode(text === undefined ? "null" : text);
  },
  decode(bytes) {
    if (bytes.length === 0) return null;
    return JSON.parse(decoder.decode(bytes));
  },
});

/** The raw codec: the session sees and returns `Uint8Array`s (strings are UTF-8 encoded). */
export const rawCodec = Object.freeze({
  encode(value) {
    if (value instanceof Uint8Array) return value;
    if (typeof value === "string") return encoder.encode(value);
    if (value === undefined || value === null) return new Uint8Array(0);
    throw new TypeError("rawCodec encodes only Uint8Array and string values");
  },
  decode(bytes) {
    return bytes;
  },
});

/** Why a session ended: `tag` is the WIT case, `val` its text when it has one. */
export class StopReason {
  constructor(tag, val) {
    this.tag = tag;
    if (val !== undefined) this.val = val;
    Object.freeze(this);
  }

  /** The same wording as the Rust SDK: `normal`, `requested: done`, `idle timeout`... */
  toString() {
    switch (this.tag) {
      case "requested":
        return `requested: ${this.val}`;
      case "idle-timeout":
        return "idle timeout";
      case "killed":
        return `killed: ${this.val}`;
      case "limit":
        return `limit exceeded: ${this.val}`;
      case "crashed":
        return `crashed: ${this.val}`;
      default:
        return this.tag;
    }
  }
}

/** A timer ID from `ctx.sendAfter` as a number (IDs count up per session). */
function timerNumber(id) {
  return id <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(id) : id;
}

/** A non-negative whole number of milliseconds as the u64 the host expects. */
function millis(delayMs) {
  if (typeof delayMs === "bigint") return delayMs;
  if (!Number.isSafeInteger(delayMs) || delayMs < 0) {
    throw new RangeError(`delay must be a whole number of milliseconds >= 0, got ${delayMs}`);
  }
  return BigInt(delayMs);
}

/**
 * The host imports, acting on the calling session only. Every method may be called from any
 * session method (not from the module's top level, which runs at build time).
 */
export const ctx = Object.freeze({
  /** This session's ID (may change when the application rotates it: do not cache it). */
  sessionId() {
    return host.sessionId();
  },
  /** A line in the host's log at `level`: "trace", "debug", "info", "warn" or "error". */
  log(level, message) {
    host.log(level, String(message));
  },
  trace(message) {
    host.log("trace", String(message));
  },
  debug(message) {
    host.log("debug", String(message));
  },
  info(message) {
    host.log("info", String(message));
  },
  warn(message) {
    host.log("warn", String(message));
  },
  error(message) {
    host.log("error", String(message));
  },
  /** Wall-clock milliseconds since the Unix epoch, as a number. */
  nowMs() {
    return Number(host.nowMs());
  },
  /** Sends `event` (JSON-encoded) to every subscriber. Throws when the host refuses it. */
  publish(event) {
    host.publish(jsonCodec.encode(event));
  },
  /** Sends raw bytes (a `Uint8Array` or a string) to every subscriber. */
  publishBytes(event) {
    host.publish(rawCodec.encode(event));
  },
  /** Delivers `message` (JSON-encoded) to `handleCast` after `delayMs`; returns the timer ID. */
  sendAfter(message, delayMs) {
    return timerNumber(host.sendAfter(jsonCodec.encode(message), millis(delayMs)));
  },
  /** `sendAfter` with raw bytes (a `Uint8Array` or a string). */
  sendAfterBytes(message, delayMs) {
    return timerNumber(host.sendAfter(rawCodec.encode(message), millis(delayMs)));
  },
  /** Cancels a timer; false when it already fired, was cancelled or never existed. */
  cancelTimer(id) {
    return host.cancelTimer(BigInt(id));
  },
  /** Ends this session after the current message; `terminate` then gets `requested`. */
  stop(reason) {
    host.stop(String(reason ?? ""));
  },
});

/** The text of anything thrown: an `Error`'s message, a string as is. */
export function errorMessage(thrown) {
  if (thrown instanceof Error) return thrown.message;
  if (typeof thrown === "string") return thrown;
  try {
    return JSON.stringify(thrown) ?? String(thrown);
  } catch {
    return String(thrown);
  }
}

// SpiderMonkey has InternalError ("too much recursion"); other engines (Node in the SDK's
// own tests) do not.
const InternalError = globalThis.InternalError ?? class InternalError extends Error {};

/** Whether a thrown value looks like a bug (a runtime error) rather than a refusal. */
function isBug(thrown) {
  return (
    thrown instanceof TypeError ||
    thrown instanceof ReferenceError ||
    thrown instanceof SyntaxError ||
    thrown instanceof InternalError
  );
}

/** Runs `f`; its result (or the value its promise resolves to) goes to `ok`, a throw to `fail`. */
function settle(f, ok, fail) {
  let value;
  try {
    value = f();
  } catch (e) {
    return fail(e);
  }
  if (value !== null && typeof value === "object" && typeof value.then === "function") {
    return value.then(ok, fail);
  }
  return ok(value);
}

/** The WIT `err` case for a thrown value; bugs are logged with their stack as well. */
function err(where) {
  return (thrown) => {
    if (isBug(thrown)) {
      host.log("error", `${where}: ${thrown.stack ? `${thrown}\n${thrown.stack}` : thrown}`);
    }
    return { tag: "err", val: errorMessage(thrown) };
  };
}

/** Decodes with the session's codec, prefixing decode errors with `what`. */
function decodeWith(codec, bytes, what) {
  try {
    return codec.decode(bytes);
  } catch (e) {
    throw new Error(`${what}: ${errorMessage(e)}`);
  }
}

/**
 * The WIT `session` interface for `definition`: a class (one `new` per session) or a plain
 * object (the session itself; each session has its own component instance). Called at
 * build time, so a definition that lacks `handleCall` fails the build.
 */
export function exportSession(definition) {
  const proto = typeof definition === "function" ? definition.prototype : definition;
  if (proto === null || (typeof proto !== "object" && typeof proto !== "function")) {
    throw new TypeError("the default export must be a session class or object");
  }
  if (typeof proto.handleCall !== "function") {
    throw new TypeError("the session must define handleCall(request)");
  }
  const codec = definition.codec ?? jsonCodec;
  if (typeof codec.encode !== "function" || typeof codec.decode !== "function") {
    throw new TypeError("codec must have encode(value) and decode(bytes)");
  }
  /** The one session of this instance, set by init or restore. */
  let current = null;
  const fresh = () => (typeof definition === "function" ? new definition() : definition);
  const live = () => {
    if (current === null) throw new Error("the session was not initialized");
    return current;
  };

  return {
    init(args) {
      return settle(
        () => {
          const decoded = decodeWith(codec, args, "invalid init args");
          current = fresh();
          if (typeof current.init === "function") return current.init(decoded);
          return undefined;
        },
        () => ({ tag: "ok", val: undefined }),
        err("init"),
      );
    },

    handleCall(request) {
      return settle(
        () => live().handleCall(decodeWith(codec, request, "invalid call message")),
        (reply) => {
          try {
            return { tag: "ok", val: codec.encode(reply) };
          } catch (e) {
            return err("handleCall")(new Error(`cannot encode the reply: ${errorMessage(e)}`));
          }
        },
        err("handleCall"),
      );
    },

    handleCast(message) {
      const session = live();
      if (typeof session.handleCast !== "function") return undefined;
      let decoded;
      try {
        decoded = decodeWith(codec, message, "invalid cast message");
      } catch (e) {
        host.log("warn", `dropped an ${errorMessage(e)}`);
        return undefined;
      }
      return settle(
        () => session.handleCast(decoded),
        () => undefined,
        (thrown) => {
          const { val } = err("handleCast")(thrown);
          host.log("warn", `handleCast failed: ${val}`);
        },
      );
    },

    terminate(reason) {
      const session = live();
      if (typeof session.terminate !== "function") return undefined;
      return settle(
        () => session.terminate(new StopReason(reason.tag, reason.val)),
        () => undefined,
        (thrown) => {
          const { val } = err("terminate")(thrown);
          host.log("warn", `terminate failed: ${val}`);
        },
      );
    },

    snapshot() {
      const session = live();
      if (typeof session.snapshot !== "function") return undefined;
      return settle(
        () => session.snapshot(),
        (state) => (state === undefined || state === null ? undefined : codec.encode(state)),
        (thrown) => {
          host.log("error", `snapshot failed: ${errorMessage(thrown)}`);
          throw thrown;
        },
      );
    },

    restore(state, fromVersion) {
      return settle(
        () => {
          current = fresh();
          if (typeof current.restore !== "function") {
            throw new Error("this guest does not support restore");
          }
          return current.restore(decodeWith(codec, state, "invalid snapshot"), fromVersion);
        },
        () => ({ tag: "ok", val: undefined }),
        err("restore"),
      );
    },
  };
}
