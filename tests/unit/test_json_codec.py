"""The API's JSON: orjson where exact, the standard library where orjson would not be."""

from __future__ import annotations

import math

from consortium.api import json_codec


def test_plain_requests_parse_fast_and_exactly() -> None:
    raw = b'[{"jsonrpc":"2.0","id":1,"method":"eth_sendRawTransaction","params":["0x02f8"]}]'
    assert json_codec.fast_loads(raw) == [
        {"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction", "params": ["0x02f8"]}]


def test_big_integers_and_floats_go_to_the_exact_parser() -> None:
    big = b'{"params": [123456789012345678901234567890]}'
    assert json_codec.fast_loads(big) is json_codec.UNPARSED
    assert json_codec.loads(big) == {"params": [123456789012345678901234567890]}
    assert json_codec.fast_loads(b"[1.5]") is json_codec.UNPARSED
    assert json_codec.fast_loads(b"NaN") is json_codec.UNPARSED
    assert math.isnan(json_codec.loads(b"NaN"))
    assert json_codec.fast_loads(b"{not json") is json_codec.UNPARSED


def test_answers_beyond_64_bits_are_written_exactly() -> None:
    assert json_codec.dumps({"a": 2**70, "b": [1, "x"]}) == (
        b'{"a":1180591620717411303424,"b":[1,"x"]}')
    assert json_codec.dumps({"a": 1, "b": None}) == b'{"a":1,"b":null}'
