"""The `Session` base class a guest subclasses, its errors, and why a session stops.

One instance of the guest's class lives in each component instance, that is in each
session: the host creates it, then calls exactly one of `init` (a new session) or
`restore` (a session rebuilt from a snapshot), then delivers the session's messages one at
a time, in order. No two methods of one session ever run at the same time, so the class
needs no locks. Messages arrive already decoded by the session's codec (JSON by default:
dicts, lists, strings, numbers, `None`), and what a method returns is encoded the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class SessionError(Exception):
    """Raised by a session method to refuse a request without crashing the session.

    From `init` it aborts the start, from `handle_call` it becomes the caller's guest
    error, from `restore` it rejects the snapshot; the message is the error's text. Any
    other exception is a bug: it is logged with its traceback and traps the instance (the
    host then restarts the session from its last snapshot, as its restart policy says).
    """


class InvalidMessage(SessionError):
    """Raised when a message is not one the session understands.

    The SDK prefixes its text with what was invalid, like the Rust SDK does for messages
    that do not decode: `invalid init args: ...` from `init`, `invalid call message: ...`
    from `handle_call`, `invalid snapshot: ...` from `restore`; from `handle_cast` the
    message is logged as a warning (`dropped an invalid cast message: ...`) and dropped.
    """


@dataclass(frozen=True)
class StopReason:
    """Why a session ended, as given to `Session.terminate`.

    `kind` is one of `normal`, `requested` (the guest called `ctx.stop`), `idle_timeout`,
    `shutdown`, `killed` (by the operator), `limit`, `crashed` or `upgrade` (the session
    moves to a new guest version: `snapshot` is called next). `detail` carries the text of
    `requested`, `killed`, `limit` and `crashed`, and is `None` otherwise.
    """

    kind: str
    detail: str | None = None

    def __str__(self) -> str:
        return self.kind if self.detail is None else f"{self.kind}({self.detail})"


class Session:
    """Base class of a session guest: subclass it and register it with `export_session`.

    The class is constructed without arguments (define `__init__(self)` for defaults if
    you like), then `init` or `restore` sets its state. Override what you need:

    - `init(args)`: a new session; `args` are the start arguments, decoded (`None` when
      none were given);
    - `handle_call(request)`: returns the reply (any value the codec encodes);
    - `handle_cast(message)`: no reply; timers set with `ctx.send_after` arrive here;
    - `terminate(reason)`: the session ends (a `StopReason`);
    - `snapshot()` and `restore(state, from_version)`: optional, for hibernation, crash
      recovery and live upgrades. `snapshot` returns a value the codec encodes, `restore`
      receives it decoded. A class that does not override `snapshot` does not support
      snapshots: the host then keeps its sessions in memory.
    """

    def init(self, args: Any) -> None:
        """Starts a new session from its decoded start arguments (`None` when none)."""

    def handle_call(self, request: Any) -> Any:
        """Handles a request and returns the reply; raise `SessionError` to refuse it."""
        raise SessionError(f"{type(self).__name__} does not handle calls")

    def handle_cast(self, message: Any) -> None:
        """Handles a message that expects no reply (a cast, or a timer firing)."""

    def terminate(self, reason: StopReason) -> None:
        """Called once when the session ends normally; publish a last event here."""

    def snapshot(self) -> Any:
        """Returns the session's state, encoded by the codec. Override to support it."""
        raise NotImplementedError

    def restore(self, state: Any, from_version: str) -> None:
        """Rebuilds the session from a decoded `snapshot` value, instead of `init`.

        `from_version` names the guest version that took the snapshot, so a new version
        can migrate old state. Raise `InvalidMessage` (or `SessionError`) to reject it.
        """
        raise SessionError(f"{type(self).__name__} does not restore snapshots")

    @classmethod
    def supports_snapshots(cls) -> bool:
        """Whether this class overrides `snapshot`."""
        return cls.snapshot is not Session.snapshot
