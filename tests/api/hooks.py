"""Schemathesis hooks for `make test-api` (tests/api/run.sh).

Random bodies rarely reach the success paths of the session API: a call's body goes to the
guest, and the counter guest refuses anything that is not its protocol (422); an upload
must be a component (400 otherwise). These hooks make every case generated to fit the
schema (positive mode) valid for the guest too, so that success responses are checked
against the document:

- `POST /v1/session/call` and `/v1/session/cast`: a counter message as JSON;
- `POST /v1/sessions`: the counter guest, with valid `args` or none.

Uploads keep the bytes schemathesis generates (see schemathesis.toml: they are refused).

Cases generated to break the schema (negative mode) are sent as they are. Uploads
(`application/wasm`) are serialized as raw bytes, like `application/octet-stream`.

`GET /v1/session/ws` is sent without a session: the server then answers 204 (documented) and
never switches protocols — an HTTP client cannot speak WebSocket, and a connection it put
back in its pool after a 101 would be a WebSocket. The WebSocket itself is tested by the
Rust end-to-end tests.
"""

import json
import random

import schemathesis
from schemathesis.transport.serialization import Binary

COUNTER_CALLS = [
    {"op": "get"},
    {"op": "incr"},
    {"op": "incr", "by": 2},
    {"op": "incr", "by": -7},
]

schemathesis.serializer.alias("application/wasm", "application/octet-stream")


def is_negative(case):
    meta = case.meta
    if meta is None:
        return False
    return meta.generation.mode.is_negative or any(
        component.mode.is_negative for component in meta.components.values()
    )


@schemathesis.hook("map_case")
def valid_bodies(context, case):
    operation = case.operation
    path, method = operation.path, operation.method.upper()
    if path == "/v1/session/ws":
        case.cookies = {}
        if case.headers:
            case.headers.pop("x-session-id", None)
        return case
    if is_negative(case):
        return case
    if method == "POST" and path in ("/v1/session/call", "/v1/session/cast"):
        # The same message in whichever of the documented media types the case has.
        message = random.choice(COUNTER_CALLS)
        if case.media_type == "application/json":
            case.body = message
        elif case.media_type == "text/plain":
            case.body = json.dumps(message)
        elif case.media_type == "application/octet-stream":
            case.body = Binary(json.dumps(message).encode())
    elif method == "POST" and path == "/v1/sessions" and case.media_type == "application/json":
        case.body = random.choice(
            [{}, {"guest": "counter"}, {"guest": "counter", "args": {"start": random.randint(-99, 99)}}]
        )
    return case
