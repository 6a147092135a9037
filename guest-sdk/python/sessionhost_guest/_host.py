"""The host imports: the WIT `host` interface inside a component, the fake host outside.

Inside a component built by componentize-py the generated module `wit_world` exists and
these functions call the real host. Under plain CPython (unit tests) it does not, and the
recording fake of `sessionhost_guest.testing` stands in. Everything else in the SDK calls
the host through this module only, with the level of a log line as a lowercase string.
"""

from __future__ import annotations

from collections.abc import Callable

try:
    from componentize_py_types import Err
    from wit_world.imports import host as _wit
    from wit_world.imports.types import LogLevel as _LogLevel

    IN_COMPONENT = True
except ImportError:
    from . import testing as _wit  # type: ignore[no-redef]
    from .testing import Err  # type: ignore[assignment]

    IN_COMPONENT = False

LEVELS = ("trace", "debug", "info", "warn", "error")

if IN_COMPONENT:
    _WIT_LEVELS = {name: getattr(_LogLevel, name.upper()) for name in LEVELS}

    def log(level: str, message: str) -> None:
        _wit.log(_WIT_LEVELS[level], message)

else:

    def log(level: str, message: str) -> None:
        _wit.log(level, message)


session_id: Callable[[], str] = _wit.session_id
now_ms: Callable[[], int] = _wit.now_ms
publish: Callable[[bytes], None] = _wit.publish
send_after: Callable[[bytes, int], int] = _wit.send_after
cancel_timer: Callable[[int], bool] = _wit.cancel_timer
stop: Callable[[str], None] = _wit.stop

__all__ = [
    "IN_COMPONENT",
    "LEVELS",
    "Err",
    "cancel_timer",
    "log",
    "now_ms",
    "publish",
    "send_after",
    "session_id",
    "stop",
]
