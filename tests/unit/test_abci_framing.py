"""CometBFT v0.38 frames ABCI messages with an unsigned varint length prefix."""

from __future__ import annotations

import pytest

from consortium.abci.protocol import (
    FramingError,
    Request,
    Response,
    decode_varint,
    encode_varint,
    frame,
    response_tag,
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


@pytest.mark.parametrize("fields", [
    {},
    {"code": 0, "gas_wanted": 51_234},
    {"code": 7, "log": "nonce too low: résumé", "codespace": "consortium"},
    {"code": 0, "data": b"\x00" * 32, "gas_wanted": 2**62, "gas_used": 21_000},
])
def test_an_answer_sent_on_its_own_is_the_responses_bytes(fields: dict) -> None:
    """The server sends CheckTx's and FinalizeBlock's answers serialized on their own,
    behind the Response field's key and length: the bytes of Response(kind=answer)."""
    update = types_pb2.ValidatorUpdate(power=10)
    update.pub_key.ed25519 = b"\x01" * 32
    for app_hash in (b"", b"\xaa" * 32):
        answer = types_pb2.ResponseFinalizeBlock(
            tx_results=[types_pb2.ExecTxResult(**fields),
                        types_pb2.ExecTxResult(code=3, log="refused")],
            validator_updates=[update], app_hash=app_hash)
        inner = answer.SerializeToString()
        wrapped = response_tag("finalize_block") + encode_varint(len(inner)) + inner
        assert wrapped == Response(finalize_block=answer).SerializeToString()
    check = types_pb2.ResponseCheckTx(**fields).SerializeToString()
    assert response_tag("check_tx") + encode_varint(len(check)) + check == \
        Response(check_tx=types_pb2.ResponseCheckTx(**fields)).SerializeToString()
