"""How a session's messages become bytes: `JSON` (the default) or `RAW`.

Every message of a session goes through one codec, the one given to `export_session`:
start arguments, calls and their replies, casts, snapshots, and what the session sends
through `ctx` (published events, timer messages). JSON lets guests in every language speak
the same protocol; it is compact (`{"value":3}`, no spaces) like the Rust SDK's, so replies
are byte-identical across languages. `RAW` hands `bytes` through untouched.
"""

from __future__ import annotations

import json
from typing import Any


class Codec:
    """Encodes values to bytes and decodes them back; raises `ValueError` on bad input."""

    name = "codec"

    def encode(self, value: Any) -> bytes:
        """The bytes of `value`."""
        raise NotImplementedError

    def decode(self, data: bytes) -> Any:
        """The value of `data`."""
        raise NotImplementedError


class JsonCodec(Codec):
    """Compact UTF-8 JSON. Empty bytes decode as `None` (a start without arguments)."""

    name = "json"

    def encode(self, value: Any) -> bytes:
        try:
            text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
            return text.encode()
        except (TypeError, ValueError) as e:
            raise ValueError(f"cannot encode as JSON: {e}") from e

    def decode(self, data: bytes) -> Any:
        if not data:
            return None
        try:
            return json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ValueError(str(e)) from e


class RawCodec(Codec):
    """Bytes as they are: methods receive `bytes` and return `bytes` (or `str`, as UTF-8)."""

    name = "raw"

    def encode(self, value: Any) -> bytes:
        if isinstance(value, (bytes, bytearray, memoryview)):
            return bytes(value)
        if isinstance(value, str):
            return value.encode()
        raise ValueError(f"the raw codec sends bytes or str, not {type(value).__name__}")

    def decode(self, data: bytes) -> Any:
        return bytes(data)


JSON = JsonCodec()
RAW = RawCodec()
