"""The JSON-RPC body's guard before decoding (`_shape_refusal`): its nesting, against a JSON
lexer's own reading, and its number of arrays and objects.

The guard runs on every request before json.loads, so it takes shortcuts; what must hold is
that it never calls a body shallow that the decoder would recurse into more than
MAX_JSON_DEPTH deep, that on valid JSON it reads the depth exactly, and that a body refused
for holding too many arrays and objects is told so (a batch: its size), never that it nests
too deeply."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from consortium.api.app import (
    MAX_JSON_CONTAINERS,
    MAX_JSON_DEPTH,
    _BatchTooLarge,
    _loads,
    _shape_refusal,
)
from consortium.api.jsonrpc import MAX_BATCH
from tests.support.jsonrpc_testkit import node

DEEP = f"parse error: arrays and objects nest deeper than {MAX_JSON_DEPTH}"


def _too_deep(raw: bytes) -> bool:
    return _shape_refusal(raw, MAX_BATCH) == DEEP


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


CALL = b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}'


def test_a_flat_batch_over_the_cap_is_refused_for_its_size_not_its_depth() -> None:
    """The tester's bodies: 500,000 calls (31 MB) and [[1]] * 3,000,000 were answered "nest
    deeper than 64"; a batch of 450,000 got the batch-size error, as these now do."""
    for raw, size in ((b"[" + b",".join([CALL] * 500_000) + b"]", 500_000),
                      (json.dumps([[1]] * 3_000_000).encode(), 3_000_000),
                      (b' \r\n[ {"a": "]]]\\"["}' + b", {}" * 600_000 + b" ]\n", 600_001)):
        refused = _loads(raw, 1000)
        assert isinstance(refused, _BatchTooLarge), refused[:80]
        assert refused == f"batch of {size} requests is over the limit of 1000; split it"
    # the limit is the node's max_batch, and the answer that of a batch decoded first
    assert _loads(b"[" + b",".join([CALL] * 500_000) + b"]", 600_000) == (
        f"parse error: too many arrays and objects: 500001, at most {MAX_JSON_CONTAINERS}")


def test_too_many_arrays_and_objects_say_so() -> None:
    within = json.dumps({"params": [[]] * (MAX_JSON_CONTAINERS - 2)}).encode()
    assert _shape_refusal(within, MAX_BATCH) is None
    over = json.dumps({"params": [[]] * (MAX_JSON_CONTAINERS - 1)}).encode()
    assert _shape_refusal(over, MAX_BATCH) == (
        f"parse error: too many arrays and objects: {MAX_JSON_CONTAINERS + 1}, at most "
        f"{MAX_JSON_CONTAINERS}")
    # a batch of a few calls, or one whose calls hold long arrays (not counted in a few
    # passes over its brackets): the number of arrays and objects is what is refused
    few = json.dumps([{"jsonrpc": "2.0", "id": 1, "method": "m",
                       "params": [[]] * 600_000}]).encode()
    long_arrays = b"[" + b",".join([b'{"params":[' + b"0," * 20 + b"[]]}"] * 300_000) + b"]"
    for raw in (few, long_arrays):
        refused = _shape_refusal(raw, MAX_BATCH)
        assert refused is not None and refused.startswith(
            "parse error: too many arrays and objects: "), refused
    # unpaired brackets are not JSON: past the cap, not read one by one either
    assert _shape_refusal(b"[" * 100 + b"]" * 2_000_000, MAX_BATCH) == (
        "parse error: not valid JSON: 2000000 closing brackets for 100 arrays and objects")


def test_deep_nesting_keeps_its_message() -> None:
    deep = b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1)
    assert _shape_refusal(deep, MAX_BATCH) == DEEP
    assert _shape_refusal(deep[1:-1], MAX_BATCH) is None
    deep_batch = json.dumps([nest(1, MAX_JSON_DEPTH + 1)] * 2000).encode()
    assert _shape_refusal(deep_batch, MAX_BATCH) == DEEP


def test_the_api_answers_an_oversized_batch_as_a_batch(tmp_path: Path) -> None:
    with node(tmp_path) as n:
        answer = n.client.post("/", content=json.dumps([[1]] * 3_000_000),
                               headers={"content-type": "application/json"})
        assert answer.status_code == 200
        assert answer.json() == {"jsonrpc": "2.0", "id": None, "error": {
            "code": -32600,
            "message": "batch of 3000000 requests is over the limit of 1000; split it"}}
        decoded = n.client.post("/", json=[[1]] * 1001).json()  # counted after decoding
        assert decoded["error"] == answer.json()["error"] | {
            "message": "batch of 1001 requests is over the limit of 1000; split it"}
