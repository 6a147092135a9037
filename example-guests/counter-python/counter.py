"""The counter guest in Python: the same protocol as the Rust `counter`.

Protocol (JSON):
- init args: `{"start": n}`, or none at all to start at 0;
- call `{"op":"incr","by":n}` (`by` defaults to 1) -> `{"value":v}`;
- call `{"op":"get"}` -> `{"value":v}`;
- cast `{"op":"incr","by":n}`.

Values are 64-bit signed integers like the Rust counter's: Python's integers are unbounded,
so an increment whose result leaves that range is refused (an error for a call, a warning
in the log for a cast). After every increment the guest publishes `{"value":v}` to the
session's subscribers (best effort), and when the session ends it logs its last value
through Python's `logging` (which the SDK routes to the host log). Snapshots are the whole state, `{"value":v}`, so they
move between the Rust and Python counters.

Build: `python -m sessionhost_guest build counter.py -o counter-python.wasm`.
"""

import logging
from typing import Any

from sessionhost_guest import InvalidMessage, Session, SessionError, StopReason, ctx, export_session

I64_MIN = -(2**63)
I64_MAX = 2**63 - 1

log = logging.getLogger("counter")


def int64(value: Any, what: str) -> int:
    """`value` if it is an integer within i64, else the message is invalid."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidMessage(f"{what} must be an integer, got {value!r}")
    if not I64_MIN <= value <= I64_MAX:
        raise InvalidMessage(f"{what} is out of range: {value}")
    return value


def fields(message: Any, allowed: set) -> dict:
    """`message` if it is an object with no field beyond `allowed`."""
    if not isinstance(message, dict):
        raise InvalidMessage(f"expected an object, got {message!r}")
    unknown = set(message) - allowed
    if unknown:
        raise InvalidMessage(f"unknown field {min(unknown)!r}")
    return message


class Counter(Session):
    """One counter session."""

    value: int = 0

    def init(self, args: Any) -> None:
        if args is not None:
            self.value = int64(fields(args, {"start"}).get("start"), "start")

    def handle_call(self, request: Any) -> dict:
        op = fields(request, {"op", "by"}).get("op")
        if op == "incr":
            self.incr(request.get("by", 1))
        elif op == "get":
            if "by" in request:
                raise InvalidMessage("unknown field 'by'")
        else:
            raise InvalidMessage(f"unknown op {op!r}, expected 'incr' or 'get'")
        return {"value": self.value}

    def handle_cast(self, message: Any) -> None:
        if fields(message, {"op", "by"}).get("op") != "incr":
            raise InvalidMessage(f"unknown op {message.get('op')!r}, expected 'incr'")
        try:
            self.incr(message.get("by", 1))
        except SessionError as e:
            ctx.warn(str(e))

    def incr(self, by: Any) -> None:
        """Adds `by` and publishes the new value; refuses a result outside i64."""
        by = 1 if by is None else int64(by, "by")
        value = self.value + by
        if not I64_MIN <= value <= I64_MAX:
            raise SessionError(f"overflow adding {by}")
        self.value = value
        try:
            ctx.publish({"value": value})
        except SessionError as e:  # best effort: a refused event must not fail the call
            ctx.debug(f"event not published: {e}")

    def terminate(self, reason: StopReason) -> None:
        log.info("ended at %d (%s)", self.value, reason)

    def snapshot(self) -> dict:
        return {"value": self.value}

    def restore(self, state: Any, from_version: str) -> None:
        if not isinstance(state, dict) or set(state) != {"value"}:
            raise InvalidMessage(f'expected {{"value": n}}, got {state!r}')
        self.value = int64(state["value"], "value")


export_session(Counter)
