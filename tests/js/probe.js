//! A JavaScript test guest that exercises every host import of the SDK's `ctx` and the
//! SDK's error and async handling, on request. Driven by `tests/tests/languages.rs`
//! (`js_host_imports`). Calls (JSON):
//! - `{"op":"whoami"}` → `{"id": session id, "now": ms}`;
//! - `{"op":"timer","delay":ms,"message":m}` → `{"timer": id}`; `m` comes back as a cast;
//! - `{"op":"cancel","timer":id}` → `{"cancelled": bool}`;
//! - `{"op":"log","text":t}` → `{}` after `ctx.info(t)` and `console.log(t)`;
//! - `{"op":"throw","what":"string"|"error"|"bug"}` → the matching guest error;
//! - `{"op":"async"}` → `{"async":true}` from a promise;
//! - `{"op":"stop","reason":r}` → `{}`; the session then ends with `requested(r)`.
//! Every cast is published as `{"cast": m}`; `terminate` publishes `{"terminated": text,
//! "tag": tag}`. No `snapshot`: the host must see "no snapshot support".

import { ctx } from "sessionhost";

const session = {
  handleCall(request) {
    switch (request.op) {
      case "whoami":
        return { id: ctx.sessionId(), now: ctx.nowMs() };
      case "timer":
        return { timer: ctx.sendAfter(request.message, request.delay) };
      case "cancel":
        return { cancelled: ctx.cancelTimer(request.timer) };
      case "log":
        ctx.info(request.text);
        console.log(request.text);
        return {};
      case "throw":
        if (request.what === "string") throw "a thrown string";
        if (request.what === "bug") return request.missing.field;
        throw new Error("a thrown error");
      case "async":
        return Promise.resolve().then(() => ({ async: true }));
      case "stop":
        ctx.stop(request.reason);
        return {};
      default:
        throw new Error(`invalid call message: unknown op ${JSON.stringify(request.op)}`);
    }
  },

  handleCast(message) {
    ctx.publish({ cast: message });
  },

  terminate(reason) {
    ctx.publish({ terminated: String(reason), tag: reason.tag });
  },
};

export default session;
