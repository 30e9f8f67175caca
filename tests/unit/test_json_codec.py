"""The API's JSON writer: orjson where exact, the standard library where orjson would not
be; the engine's answers read with orjson."""

from __future__ import annotations

import pytest

from consortium.api import json_codec


def test_answers_beyond_64_bits_are_written_exactly() -> None:
    assert json_codec.dumps({"a": 2**70, "b": [1, "x"]}) == (
        b'{"a":1180591620717411303424,"b":[1,"x"]}')
    assert json_codec.dumps({"a": 1, "b": None}) == b'{"a":1,"b":null}'


def test_engine_answers() -> None:
    assert json_codec.engine_loads(b'{"result":{"code":0,"hash":"AB"}}') == {
        "result": {"code": 0, "hash": "AB"}}
    with pytest.raises(ValueError):
        json_codec.engine_loads(b"<html>bad gateway</html>")
