"""The glue between the WIT `session` exports and a `Session` class: decode, call, encode.

`export_session(cls)` registers the guest's class once, at import time of its module.
componentize-py then instantiates `WitSession` (the build tool's generated entry module
names it `Session`, as componentize-py requires) and calls its methods; each forwards to
the registered `SessionExport`, which owns the session's one instance of the class.

Invariants, as in the Rust SDK:
- the session object is `None` until `init` or `restore` succeeds; either replaces it;
- a call before that is an error, a cast is logged and dropped;
- the object survives `terminate`, because an upgrade snapshots it next;
- `SessionError` becomes the WIT `err` (its text); `InvalidMessage` is prefixed with what
  was invalid; any other exception is logged with its traceback and then traps the
  instance (a bug: the host restarts the session from its last snapshot);
- stdout and stderr are flushed after every export, so `print` lines reach the host log
  while the message that printed them is handled.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

from . import _host
from .codec import JSON, Codec
from .ctx import ctx
from .session import InvalidMessage, Session, SessionError, StopReason

T = TypeVar("T")

NOT_INITIALIZED = "session is not initialized (init or restore has not succeeded)"


class SessionExport:
    """One session: its class, its codec, and (after `init`/`restore`) its object."""

    def __init__(self, cls: type[Session], codec: Codec = JSON) -> None:
        self.cls = cls
        self.codec = codec
        self.session: Session | None = None

    def init(self, args: bytes) -> None:
        ctx.codec = self.codec
        value = self._decode(args, "invalid init args")
        session = self._new()
        self._guard(lambda: session.init(value), "invalid init args")
        self.session = session

    def handle_call(self, request: bytes) -> bytes:
        value = self._decode(request, "invalid call message")
        session = self.session
        if session is None:
            raise _host.Err(NOT_INITIALIZED)
        reply = self._guard(lambda: session.handle_call(value), "invalid call message")
        try:
            return self.codec.encode(reply)
        except ValueError as e:
            raise _host.Err(f"could not encode the reply: {e}") from None

    def handle_cast(self, message: bytes) -> None:
        try:
            value = self.codec.decode(message)
        except ValueError as e:
            return ctx.warn(f"dropped an invalid cast message: {e}")
        session = self.session
        if session is None:
            return ctx.warn(f"dropped a cast: {NOT_INITIALIZED}")
        try:
            self._guard(lambda: session.handle_cast(value), "dropped an invalid cast message")
        except _host.Err as e:
            ctx.warn(str(e.value))
        return None

    def terminate_with(self, reason: StopReason) -> None:
        session = self.session
        if session is None:
            return
        try:
            self._guard(lambda: session.terminate(reason), "terminate")
        except _host.Err as e:
            ctx.warn(f"terminate failed: {e.value}")

    def snapshot(self) -> bytes | None:
        session = self.session
        if session is None or not session.supports_snapshots():
            return None
        try:
            state = self._guard(session.snapshot, "invalid snapshot")
            return self.codec.encode(state)
        except (_host.Err, ValueError) as e:
            text = e.value if isinstance(e, _host.Err) else str(e)
            ctx.error(f"could not snapshot the session: {text}")
            return None

    def restore(self, state: bytes, from_version: str) -> None:
        ctx.codec = self.codec
        if not self.cls.supports_snapshots():
            raise _host.Err(f"{self.cls.__name__} does not support snapshots")
        value = self._decode(state, "invalid snapshot")
        session = self._new()
        self._guard(lambda: session.restore(value, from_version), "invalid snapshot")
        self.session = session

    def _new(self) -> Session:
        return self._guard(self.cls, "invalid init args")

    def _decode(self, data: bytes, what: str) -> Any:
        try:
            return self.codec.decode(bytes(data))
        except ValueError as e:
            raise _host.Err(f"{what}: {e}") from None

    @staticmethod
    def _guard(run: Callable[[], T], what: str) -> T:
        """Runs guest code: errors it raises become `Err`, bugs are logged and re-raised."""
        try:
            return run()
        except InvalidMessage as e:
            raise _host.Err(f"{what}: {e}") from None
        except SessionError as e:
            raise _host.Err(str(e)) from None
        except Exception:
            ctx.error("".join(traceback.format_exc()).rstrip())
            raise


_REGISTERED: SessionExport | None = None


def export_session(cls: type[Session], codec: Codec = JSON) -> type[Session]:
    """Makes `cls` this component's session: call it once, at module level.

    `codec` encodes every message of the session (`JSON`, the default, or `RAW`).
    Returns `cls`, so it also works as a class decorator (`@export_session`).
    """
    global _REGISTERED
    if not (isinstance(cls, type) and issubclass(cls, Session)):
        raise TypeError(f"export_session expects a subclass of Session, got {cls!r}")
    if _REGISTERED is not None and _REGISTERED.cls is not cls:
        raise RuntimeError(
            f"export_session was already called with {_REGISTERED.cls.__name__}; "
            "a component exports exactly one session class"
        )
    _REGISTERED = SessionExport(cls, codec)
    return cls


def registered() -> SessionExport:
    """The registered session; fails the build when the guest registered none."""
    if _REGISTERED is None:
        raise RuntimeError(
            "no session class registered: call export_session(YourClass) in the guest module"
        )
    return _REGISTERED


def _stop_reason(reason: Any) -> StopReason:
    """The SDK's `StopReason` of a WIT `stop-reason` (`StopReason_IdleTimeout()`...)."""
    case = type(reason).__name__.split("_", 1)[-1]
    kind = "".join("_" + c.lower() if c.isupper() else c for c in case).lstrip("_")
    detail = getattr(reason, "value", None)
    return StopReason(kind, None if detail is None else str(detail))


def _flushed(run: Callable[[], T]) -> T:
    try:
        return run()
    finally:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()


class WitSession:
    """The implementation of the WIT `session` interface that componentize-py calls."""

    def init(self, args: bytes) -> None:
        _flushed(lambda: registered().init(args))

    def handle_call(self, request: bytes) -> bytes:
        return _flushed(lambda: registered().handle_call(request))

    def handle_cast(self, message: bytes) -> None:
        _flushed(lambda: registered().handle_cast(message))

    def terminate(self, reason: Any) -> None:
        _flushed(lambda: registered().terminate_with(_stop_reason(reason)))

    def snapshot(self) -> bytes | None:
        return _flushed(lambda: registered().snapshot())

    def restore(self, state: bytes, from_version: str) -> None:
        _flushed(lambda: registered().restore(state, from_version))
