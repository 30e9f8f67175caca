"""JSON on the API's hot path: orjson (several times faster than the standard library on a
batch of raw transactions) wherever its answer is exact, the standard library otherwise.

orjson reads an integer beyond 64 bits as a float and refuses NaN; the standard library keeps
both exact, and a few clients send quantities as plain JSON numbers. So a parse that yields
any float is redone with the standard library (a float is never valid in an Ethereum
JSON-RPC request, so this path only serves odd input), and an answer orjson cannot write
(an integer beyond 64 bits) is written by the standard library.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

UNPARSED: Any = object()  # `fast_loads` could not decide exactly


def fast_loads(raw: bytes) -> Any:
    """`raw` parsed by orjson, or `UNPARSED` when the standard library must decide (not
    JSON to orjson, or a float somewhere in it). orjson caps nesting at 1,024 levels."""
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return UNPARSED
    return UNPARSED if _has_float(value) else value


def _has_float(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, float):
            return True
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
    return False


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: e.g. an integer beyond 64 bits
        return json.dumps(value, separators=(",", ":")).encode()


def loads(raw: bytes) -> Any:
    """JSON from a trusted peer (the engine's RPC): exact, fast where possible."""
    value = fast_loads(raw)
    return json.loads(raw) if value is UNPARSED else value
