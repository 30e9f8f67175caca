"""CometBFT v0.38 frames ABCI messages with an unsigned varint length prefix."""

from __future__ import annotations

import pytest

from consortium.abci.protocol import (
    FramingError,
    Request,
    decode_varint,
    encode_varint,
    frame,
    split_frames,
    types_pb2,
)


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**21, 2**35])
def test_varint_round_trip(value):
    encoded = encode_varint(value)
    assert decode_varint(encoded, 0) == (value, len(encoded))


def test_unsigned_not_zigzag():
    # 1 is 0x01 unsigned; a zigzag (Tendermint 0.34) encoder would write 0x02.
    assert encode_varint(1) == b"\x01"
    assert encode_varint(150) == b"\x96\x01"


def test_split_frames_keeps_partial_tail():
    echo = Request(echo=types_pb2.RequestEcho(message="hi")).SerializeToString()
    flush = Request(flush=types_pb2.RequestFlush()).SerializeToString()
    stream = frame(echo) + frame(flush)
    buf = bytearray(stream[:-1])
    first = split_frames(buf)
    assert first == [echo]
    buf += stream[-1:]
    assert split_frames(buf) == [flush]
    assert buf == bytearray()


def test_oversized_length_is_refused():
    with pytest.raises(FramingError):
        split_frames(bytearray(encode_varint(2**40)))
