"""ABCI wire format: the generated protobuf classes and CometBFT v0.38's message framing.

Each message on the socket is an **unsigned** varint length followed by a serialized
`tendermint.abci.Request` or `Response` (Go's protoio delimited format). Tendermint 0.34 used
a zigzag varint; reading that here would corrupt the Info handshake.
"""

from __future__ import annotations

import sys
from types import ModuleType

from consortium.engine_paths import proto_dir
from consortium.errors import EngineError


def _load_types() -> ModuleType:
    folder = proto_dir()
    if not (folder / "tendermint" / "abci" / "types_pb2.py").is_file():
        raise EngineError(
            f"ABCI protobuf classes are missing from {folder}; run `consortium engine install`"
        )
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    from tendermint.abci import types_pb2  # type: ignore[import-not-found]

    return types_pb2


types_pb2 = _load_types()
Request = types_pb2.Request
Response = types_pb2.Response

MAX_MESSAGE_BYTES = 104_857_600  # CometBFT's own cap on an ABCI message (100 MiB)


class FramingError(Exception):
    """The byte stream is not valid length-prefixed protobuf."""


def encode_varint(value: int) -> bytes:
    if value < 0x4000:  # every CheckTx and most other frames: one or two bytes
        return (bytes((value,)) if value < 0x80
                else bytes(((value & 0x7F) | 0x80, value >> 7)))
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(buf: bytes | bytearray, pos: int) -> tuple[int, int] | None:
    """(value, new position), or None when the buffer ends inside the varint."""
    if pos + 1 < len(buf) and not buf[pos + 1] & 0x80:  # one or two bytes: the usual case
        first = buf[pos]
        if not first & 0x80:
            return first, pos + 1
        return (first & 0x7F) | (buf[pos + 1] << 7), pos + 2
    result = shift = 0
    while pos < len(buf):
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise FramingError("varint length prefix longer than 10 bytes")
    return None


def frame(message: bytes) -> bytes:
    return encode_varint(len(message)) + message


def split_frames(buf: bytearray) -> list[bytes]:
    """Remove and return every complete frame at the front of `buf`."""
    frames: list[bytes] = []
    pos = 0
    while True:
        header = decode_varint(buf, pos)
        if header is None:
            break
        length, start = header
        if length > MAX_MESSAGE_BYTES:
            raise FramingError(f"ABCI message of {length} bytes exceeds the limit")
        end = start + length
        if end > len(buf):
            break
        frames.append(bytes(buf[start:end]))
        pos = end
    del buf[:pos]
    return frames


def response_tag(kind: str) -> bytes:
    """The key of `Response`'s field `kind` (a length-delimited message): with the answer's
    length it wraps an answer serialized on its own, as `Response(kind=answer)` would,
    without copying a large answer into a Response first."""
    return encode_varint(Response.DESCRIPTOR.fields_by_name[kind].number << 3 | 2)
