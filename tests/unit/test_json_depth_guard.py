"""The JSON-RPC body's nesting guard (`_too_deep`), against a JSON lexer's own reading.

The guard runs on every request before json.loads, so it takes shortcuts; what must hold is
that it never calls a body shallow that the decoder would recurse into more than
MAX_JSON_DEPTH deep, and that on valid JSON it reads the depth exactly."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from consortium.api.app import MAX_JSON_DEPTH, _too_deep


def lexer_depth(raw: bytes) -> int:
    """The deepest array/object nesting a JSON lexer sees: brackets count outside strings
    only; a string runs from a quote to the next quote no backslash escapes."""
    depth = deepest = 0
    in_string = escaped = False
    for byte in raw:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        elif byte in b"]}":
            depth -= 1
    return deepest


TRICKY_TEXT = st.text(alphabet='[]{}"\\ax', max_size=12)
JSON_VALUES = st.recursive(
    st.none() | st.integers() | TRICKY_TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TRICKY_TEXT, inner, max_size=3),
    max_leaves=40,
)


def nest(value: Any, levels: int) -> Any:
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


@settings(max_examples=400, deadline=None)
@given(JSON_VALUES, st.integers(min_value=0, max_value=2 * MAX_JSON_DEPTH))
def test_valid_json_depth_is_read_exactly(value: Any, levels: int) -> None:
    raw = json.dumps(nest(value, levels)).encode()
    assert _too_deep(raw) == (lexer_depth(raw) > MAX_JSON_DEPTH)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from([b"[", b"{", b"]", b"}", b'"', b"\\", b"a", b"[" * 40]),
                max_size=80))
def test_any_body_deep_to_a_lexer_is_refused(parts: list[bytes]) -> None:
    raw = b"".join(parts)
    if lexer_depth(raw) > MAX_JSON_DEPTH:
        assert _too_deep(raw)


def test_a_large_batch_of_transactions_passes() -> None:
    batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
              "params": ["0x" + "ab" * 110]} for i in range(1000)]
    assert not _too_deep(json.dumps(batch).encode())
    assert _too_deep(json.dumps(nest(batch, MAX_JSON_DEPTH)).encode())
