"""Write sessionhost session guests in Python.

A session guest is a WebAssembly component holding the state and logic of one user
session. The host runs one instance per session and hands it that session's messages one
at a time, in order, like an Erlang `gen_server`. With this package a guest is a subclass
of `Session`, registered with `export_session`; it talks to its host through `ctx`.
Messages are JSON by default, so Python guests speak the same protocol as guests in Rust,
JavaScript, C and Zig. `python -m sessionhost_guest build app.py -o app.wasm` turns the
module into a component with componentize-py.

    from sessionhost_guest import InvalidMessage, Session, ctx, export_session

    class Counter(Session):
        def init(self, args):
            self.value = (args or {}).get("start", 0)

        def handle_call(self, request):
            if request == {"op": "get"}:
                return {"value": self.value}
            raise InvalidMessage(f"unknown request {request!r}")

    export_session(Counter)

Layout: `session` (the base class, errors, stop reasons), `ctx` (host functions and
logging), `codec` (JSON and raw bytes), `_export` (the WIT glue), `_host` (the WIT imports,
or the fake of `testing` under plain CPython), `build` (the build command).
"""

from ._export import export_session
from .codec import JSON, RAW, Codec
from .ctx import Context, ctx, install_logging
from .session import InvalidMessage, Session, SessionError, StopReason

install_logging()

__all__ = [
    "JSON",
    "RAW",
    "Codec",
    "Context",
    "InvalidMessage",
    "Session",
    "SessionError",
    "StopReason",
    "ctx",
    "export_session",
]
