"""JSON on the API's hot path: orjson (several times faster than the standard library at
writing) wherever its answer is exact, the standard library otherwise.

Requests from clients are read by the standard library (`consortium.api.app`): orjson reads
an integer beyond 64 bits as a float, and some clients send quantities such as wei amounts
as plain JSON numbers. Answers are written by orjson unless they hold such an integer.
The engine's RPC (CometBFT) writes every 64-bit number as a string, so its answers are read
by orjson.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    """Compact JSON bytes."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: e.g. an integer beyond 64 bits
        return json.dumps(value, separators=(",", ":")).encode()


def engine_loads(raw: bytes) -> Any:
    """An answer of the engine's RPC (raises ValueError if it is not JSON)."""
    return orjson.loads(raw)
