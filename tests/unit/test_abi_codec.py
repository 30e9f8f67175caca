"""`consortium.evm.abi_codec` answers exactly what eth-abi answers: on random types and
values (encode, and decode of the encoding, through the fast path), and on mutated encodings
(decode accepts what eth-abi accepts, with the same values, and refuses what it refuses)."""

from __future__ import annotations

from typing import Any

import eth_abi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consortium.evm import abi_codec
from consortium.evm.abi_codec import _codec

BITS = [8, 16, 24, 64, 128, 160, 248, 256]


def _elementary() -> st.SearchStrategy[str]:
    return st.one_of(
        st.sampled_from(["address", "bool", "bytes", "string"]),
        st.sampled_from(BITS).map(lambda b: f"uint{b}"),
        st.sampled_from(BITS).map(lambda b: f"int{b}"),
        st.integers(1, 32).map(lambda n: f"bytes{n}"),
    )


types_st = st.recursive(
    _elementary(),
    lambda inner: st.one_of(
        inner.map(lambda t: t + "[]"),
        st.tuples(inner, st.integers(1, 3)).map(lambda p: f"{p[0]}[{p[1]}]"),
        st.lists(inner, min_size=1, max_size=4).map(lambda ts: "(" + ",".join(ts) + ")"),
    ),
    max_leaves=6,
)


def _split(inner: str) -> list[str]:
    from consortium.evm.native import split_types

    return split_types(inner)


def values_for(t: str) -> st.SearchStrategy[Any]:
    """Values of type `t` in the Python types the natives pass (what decode gives back,
    with addresses as 20 bytes)."""
    if t.endswith("]"):
        base, _, dim = t[:-1].rpartition("[")
        item = values_for(base)
        if dim:
            return st.lists(item, min_size=int(dim), max_size=int(dim)).map(tuple)
        return st.lists(item, max_size=3).map(tuple)
    if t.startswith("("):
        return st.tuples(*[values_for(c) for c in _split(t[1:-1])])
    if t == "address":
        return st.binary(min_size=20, max_size=20)
    if t == "bool":
        return st.booleans()
    if t == "bytes":
        return st.binary(max_size=70)
    if t == "string":
        return st.text(max_size=40)
    if t.startswith("uint"):
        return st.integers(0, 2 ** int(t[4:]) - 1)
    if t.startswith("int"):
        bits = int(t[3:])
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    n = int(t[5:])
    return st.binary(min_size=n, max_size=n)


@st.composite
def typed_values(draw: st.DrawFn) -> tuple[list[str], list[Any]]:
    types = draw(st.lists(types_st, min_size=1, max_size=4))
    return types, [draw(values_for(t)) for t in types]


def _eth_decode(types: list[str], data: bytes) -> tuple[str, Any]:
    try:
        return "ok", tuple(eth_abi.decode(types, data))
    except Exception as exc:
        return "error", type(exc).__name__


def _ours_decode(types: list[str], data: bytes) -> tuple[str, Any]:
    try:
        return "ok", abi_codec.decode(types, data)
    except Exception as exc:
        return "error", type(exc).__name__


SETTINGS = settings(max_examples=400, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(typed_values())
def test_encode_and_decode_match_eth_abi(case: tuple[list[str], list[Any]]) -> None:
    types, values = case
    expected = eth_abi.encode(types, values)
    codec = _codec(tuple(types))
    assert codec is not None
    assert codec.encode(values) == expected  # the fast path itself, not the fallback
    assert abi_codec.encode(types, values) == expected
    fast, end = codec.decode(expected, 0)  # canonical: the fast path answers
    assert end == len(expected)
    assert fast == tuple(eth_abi.decode(types, expected))
    assert _same_types(fast, tuple(eth_abi.decode(types, expected)))


def _same_types(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same_types(x, y) for x, y in zip(a, b, strict=True))
    return True


@SETTINGS
@given(typed_values(), st.data())
def test_mutated_encodings_decode_as_eth_abi_decodes_them(
        case: tuple[list[str], list[Any]], data: st.DataObject) -> None:
    types, values = case
    raw = bytearray(eth_abi.encode(types, values))
    kind = data.draw(st.sampled_from(["flip", "word", "truncate", "extend"]))
    if kind == "flip" and raw:
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] ^= data.draw(st.integers(1, 255))
    elif kind == "word" and len(raw) >= 32:
        # overwrite a whole word with something structural: a small number, all ones
        w = data.draw(st.integers(0, len(raw) // 32 - 1))
        word = data.draw(st.sampled_from([0, 1, 31, 32, 33, 64, 2**255, 2**256 - 1]))
        raw[w * 32:(w + 1) * 32] = word.to_bytes(32, "big")
    elif kind == "truncate" and raw:
        raw = raw[:data.draw(st.integers(0, len(raw) - 1))]
    else:
        raw += bytes(data.draw(st.sampled_from([1, 31, 32, 64])))
    assert _ours_decode(types, bytes(raw)) == _eth_decode(types, bytes(raw))


@pytest.mark.parametrize("types,values", [
    (["uint256"], [True]),  # a bool is not a uint to eth-abi
    (["address"], ["0x" + "ab" * 20]),  # a hex address: eth-abi's forms
    (["bytes32"], [bytearray(b"ab")]),
    (["uint8"], [256]),
    (["string"], [b"not text"]),
    (["uint256[2]"], [[1, 2, 3]]),
    (["fixed128x18"], [1]),
])
def test_other_values_get_eth_abis_answer(types: list[str], values: list[Any]) -> None:
    try:
        expected: Any = eth_abi.encode(types, values)
    except Exception as exc:
        with pytest.raises(type(exc)):
            abi_codec.encode(types, values)
    else:
        assert abi_codec.encode(types, values) == expected


def test_invalid_types_raise_as_eth_abi() -> None:
    for bad in (["uint7"], ["bytes33"], ["nonsense"]):
        with pytest.raises(Exception) as ours:
            abi_codec.decode(bad, bytes(32))
        with pytest.raises(Exception) as theirs:
            eth_abi.decode(bad, bytes(32))
        assert type(ours.value) is type(theirs.value)


def test_non_canonical_but_valid_layout_is_decoded_by_eth_abi() -> None:
    # a `bytes` whose offset points past an unused word: valid ABI, not canonical
    data = (64).to_bytes(32, "big") + bytes(32) + (3).to_bytes(32, "big") + b"abc" + bytes(29)
    assert abi_codec.decode(["bytes"], data) == tuple(eth_abi.decode(["bytes"], data))
    with pytest.raises(Exception):  # noqa: B017 — the fast path refuses it, eth-abi decides
        _codec(("bytes",)).decode(data, 0)  # type: ignore[union-attr]


def test_huge_array_length_is_refused_without_allocating() -> None:
    data = (32).to_bytes(32, "big") + (2**200).to_bytes(32, "big")
    assert _ours_decode(["uint256[]"], data) == _eth_decode(["uint256[]"], data)


def test_value_encoder_is_eth_abi_for_one_static_value() -> None:
    """An indexed event topic's encoder: eth_abi's answer, or its error, for every value."""
    from eth_abi import encode as eth_encode

    from consortium.evm.abi_codec import value_encoder

    def outcome(encode: Any, type_str: str, value: Any) -> Any:
        try:
            return encode(type_str, value)
        except Exception as exc:  # noqa: BLE001  (the error's class is the answer)
            return type(exc)

    cases = [("uint256", 7), ("uint8", 255), ("int256", -3), ("address", bytes(range(20))),
             ("bool", True), ("bytes32", b"\x01" * 32), ("bytes4", b"\xab"),
             ("address", "0x" + "11" * 20),  # eth-abi's path: not the fast one's type
             ("uint256", True), ("uint8", 256)]  # refused by eth-abi, the same way
    for type_str, value in cases:
        ours = outcome(lambda t, v: value_encoder(t)(v), type_str, value)
        assert ours == outcome(lambda t, v: eth_encode([t], [v]), type_str, value), type_str
