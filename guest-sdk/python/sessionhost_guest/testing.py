"""A fake host for unit tests of a guest under plain CPython (outside a component).

Outside a component the WIT bindings (`wit_world`) do not exist, so `ctx` talks to the
`FakeHost` here instead: it records what the session did (logs, published events, timers,
cancelled timers, a stop) so tests can assert on it, and `drive` exercises a session class
through the same export glue the component uses, bytes in and bytes out:

    from sessionhost_guest import testing
    from counter import Counter

    session = testing.drive(Counter, args=b'{"start": 2}')
    assert session.call(b'{"op":"get"}') == b'{"value":2}'
    assert testing.host().published == []
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any


class Err(Exception):
    """The fake of `componentize_py_types.Err`: a WIT `result` error carrying `value`."""

    def __init__(self, value: Any) -> None:
        super().__init__(value)
        self.value = value


@dataclass
class Timer:
    """A timer set through `ctx.send_after`."""

    id: int
    message: bytes
    delay_ms: int


@dataclass
class FakeHost:
    """What a session did to its host, and knobs to make the host refuse things."""

    session_id: str = "test-session-0000000000"
    logs: list[tuple[str, str]] = field(default_factory=list)
    published: list[bytes] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    cancelled: list[int] = field(default_factory=list)
    stop: str | None = None
    # When set, `publish` fails with this message (an event the host finds too large).
    refuse_publish: str | None = None
    next_timer: int = 1


_HOST = FakeHost()


def host() -> FakeHost:
    """The fake host the current test talks to."""
    return _HOST


def reset() -> FakeHost:
    """Forgets everything recorded and returns the new fake host."""
    global _HOST
    _HOST = FakeHost()
    return _HOST


# The functions below have the signatures of the WIT `host` imports as componentize-py
# binds them; `ctx` calls them through `_host` when no component is around.


def session_id() -> str:
    return _HOST.session_id


def log(level: str, message: str) -> None:
    _HOST.logs.append((level, message))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def publish(event: bytes) -> None:
    if _HOST.refuse_publish is not None:
        raise Err(_HOST.refuse_publish)
    _HOST.published.append(bytes(event))


def send_after(message: bytes, delay_ms: int) -> int:
    timer = Timer(_HOST.next_timer, bytes(message), delay_ms)
    _HOST.next_timer += 1
    _HOST.timers.append(timer)
    return timer.id


def cancel_timer(id: int) -> bool:
    pending = any(t.id == id for t in _HOST.timers) and id not in _HOST.cancelled
    if pending:
        _HOST.cancelled.append(id)
    return pending


def stop(reason: str) -> None:
    if _HOST.stop is None:
        _HOST.stop = reason


class Driven:
    """One session driven through the export glue, as the host would drive it.

    Each method takes and returns what the WIT export does (bytes); a guest error comes
    back as `testing.Err` with the error text in `.value`.
    """

    def __init__(self, cls: type[Any], codec: Any) -> None:
        from ._export import SessionExport

        self.export = SessionExport(cls, codec)

    def call(self, request: bytes) -> bytes:
        return self.export.handle_call(request)

    def cast(self, message: bytes) -> None:
        self.export.handle_cast(message)

    def terminate(self, kind: str = "normal", detail: str | None = None) -> None:
        from .session import StopReason

        self.export.terminate_with(StopReason(kind, detail))

    def snapshot(self) -> bytes | None:
        return self.export.snapshot()


def drive(
    cls: type[Any],
    args: bytes = b"",
    *,
    restore: tuple[bytes, str] | None = None,
    codec: Any = None,
) -> Driven:
    """A session of `cls` started with `args` (or restored from `(state, version)`)."""
    from .codec import JSON

    session = Driven(cls, codec or JSON)
    if restore is None:
        session.export.init(args)
    else:
        session.export.restore(*restore)
    return session


def logs_at(level: str) -> list[str]:
    """The messages logged at `level` (`trace` ... `error`)."""
    return [m for (l, m) in _HOST.logs if l == level]
