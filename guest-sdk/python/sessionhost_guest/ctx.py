"""`ctx`: what a session can ask of its host, and the bridge from Python logging to it.

Every method acts on the calling session only, and may be called from any `Session`
method (not at module import time: modules are imported while the component is built,
where no host exists). Values sent through `ctx.publish` and `ctx.send_after` are encoded
with the session's codec (JSON unless `export_session` says otherwise), so subscribers read
events in the same format as replies and a timer's message arrives at `handle_cast`
decoded like any cast; the `*_bytes` variants send bytes as they are.

Logging: `ctx.info(...)` and friends write to the host's log, tagged with the session ID.
Importing the SDK also routes Python's `logging` there (a handler on the root logger, level
INFO unless the guest sets another), and the export glue flushes `print` output (stdout
and stderr are host log lines too) after every message.
"""

from __future__ import annotations

import logging
from typing import Any

from . import _host
from .codec import JSON, Codec
from .session import SessionError


class Context:
    """The host functions of the current session; use the shared instance `ctx`."""

    def __init__(self) -> None:
        # The session's codec: set by the export glue before `init` or `restore` runs.
        self.codec: Codec = JSON

    def session_id(self) -> str:
        """This session's ID; it can change when the application rotates it (a login),
        so do not keep it across messages."""
        return _host.session_id()

    def log(self, level: str, message: str) -> None:
        """Writes `message` to the host's log at `level` (`trace`, `debug`, `info`,
        `warn` or `error`). The host may truncate long lines and rate-limit floods."""
        if level not in _host.LEVELS:
            raise ValueError(f"unknown log level {level!r}, expected one of {_host.LEVELS}")
        _host.log(level, str(message))

    def trace(self, message: str) -> None:
        """Logs at `trace`."""
        self.log("trace", message)

    def debug(self, message: str) -> None:
        """Logs at `debug`."""
        self.log("debug", message)

    def info(self, message: str) -> None:
        """Logs at `info`."""
        self.log("info", message)

    def warn(self, message: str) -> None:
        """Logs at `warn`."""
        self.log("warn", message)

    def error(self, message: str) -> None:
        """Logs at `error`."""
        self.log("error", message)

    def now_ms(self) -> int:
        """Wall-clock time in milliseconds since the Unix epoch."""
        return _host.now_ms()

    def publish(self, event: Any) -> None:
        """Sends `event`, encoded with the session's codec, to every current subscriber
        of this session (SSE, WebSocket, library subscribers), in publishing order.
        Without subscribers it is discarded. Raises `SessionError` when the event does
        not encode or is larger than the host allows."""
        self.publish_bytes(self._encode(event))

    def publish_bytes(self, event: bytes) -> None:
        """Like `publish`, with `event` sent as it is."""
        try:
            _host.publish(bytes(event))
        except _host.Err as e:
            raise SessionError(str(e.value)) from None

    def send_after(self, message: Any, delay_ms: int) -> int:
        """Delivers `message`, encoded with the session's codec, to this session's
        `handle_cast` after `delay_ms` milliseconds, in order with other messages.
        Returns the timer's ID (for `cancel_timer`; it may be kept in a snapshot).
        Timers end with the session. Raises `SessionError` when the message does not
        encode or the session has as many pending timers as the host allows."""
        return self.send_after_bytes(self._encode(message), delay_ms)

    def send_after_bytes(self, message: bytes, delay_ms: int) -> int:
        """Like `send_after`, with `message` sent as it is."""
        if delay_ms < 0:
            raise ValueError("delay_ms must not be negative")
        try:
            return _host.send_after(bytes(message), min(int(delay_ms), 2**64 - 1))
        except _host.Err as e:
            raise SessionError(str(e.value)) from None

    def cancel_timer(self, timer_id: int) -> bool:
        """Cancels a timer made by `send_after`; False when it already fired, was
        cancelled, or never existed."""
        return _host.cancel_timer(timer_id)

    def stop(self, reason: str) -> None:
        """Ends this session once the current message is handled; `terminate` then gets
        `StopReason("requested", reason)`. Calling it again changes nothing."""
        _host.stop(reason)

    def _encode(self, value: Any) -> bytes:
        try:
            return self.codec.encode(value)
        except ValueError as e:
            raise SessionError(str(e)) from None


ctx = Context()

# Python logging levels onto the host's; anything above ERROR (CRITICAL) is `error`.
_LOGGING_LEVELS = (
    (logging.ERROR, "error"),
    (logging.WARNING, "warn"),
    (logging.INFO, "info"),
    (logging.DEBUG, "debug"),
)


class HostLogHandler(logging.Handler):
    """A `logging` handler writing each record to the host's log at the matching level."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        level = next((name for (no, name) in _LOGGING_LEVELS if record.levelno >= no), "trace")
        try:
            _host.log(level, self.format(record))
        except Exception:  # noqa: BLE001 (a log line must never take the session down)
            self.handleError(record)


def install_logging() -> None:
    """Routes the root logger to the host (once); INFO unless a level was set."""
    root = logging.getLogger()
    if not any(isinstance(h, HostLogHandler) for h in root.handlers):
        root.addHandler(HostLogHandler())
        if root.level == logging.WARNING:  # the default: the guest did not choose one
            root.setLevel(logging.INFO)
