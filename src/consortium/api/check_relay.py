"""CheckTx answers across a process boundary: the node's ABCI app tells every answer to a
`CheckTxRelay` (from the consensus thread), which writes them in bursts to the API process
connected on a unix socket; there `follow_checks` hands them to that process's
`CheckTxWatch`, as the ABCI app hands them to an API in the node's own process.

The other way, the API process tells the node the sender it recovered of each transaction
it is about to send (`SenderTeller`), so that the node's CheckTx takes it instead of
recovering the signature again (`SenderCache.know`): one recovery a transaction, not two.
The socket is the node user's alone (mode 0600): what arrives on it is trusted as the
node's own code is. The node also tells there each privacy-group height its processor
executed (`private_block`), which the API's process attests as the node's own API would."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import struct
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Protocol

from consortium.api.bursts import LoopBursts
from consortium.api.engine_client import CheckTxWatch

log = logging.getLogger("consortium.api.check_relay")

_HEAD = struct.Struct(">BIIH")  # kind, raw length, code, log length; then raw and log
_ANSWER, _PRIVATE_BLOCK = 0, 1  # kinds: a CheckTx answer; a private block processed
_PRIVATE = struct.Struct(">32sQ32s?")  # group id, height, private root, had markers
_SENT = struct.Struct(">I20s")  # the API's way: raw length, sender; then the raw
MAX_SENT_TX_BYTES = 1 << 20  # larger is no transaction CheckTx admits: the link is closed
# What may wait unread for the API's process: past it answers are dropped (logged), and a
# client whose answer was dropped gets the engine client's timeout instead
MAX_BACKLOG_BYTES = 64 << 20


def encode(items: list[tuple[bytes, int, str]]) -> bytes:
    parts = []
    for raw, code, text in items:
        t = text.encode()[:65535]
        parts.append(_HEAD.pack(_ANSWER, len(raw), code, len(t)))
        parts.append(raw)
        parts.append(t)
    return b"".join(parts)


def encode_senders(txs: Sequence[tuple[bytes, bytes]]) -> bytes:
    """(raw, sender) pairs as the API process writes them to the node."""
    return b"".join(_SENT.pack(len(raw), sender) + raw for raw, sender in txs)


def decode_senders(buf: bytearray) -> list[tuple[bytes, bytes]]:
    """The whole (raw, sender) frames at the start of `buf`, taken out of it (a partial one
    stays for the next read). Raises ValueError on a length no transaction has."""
    out: list[tuple[bytes, bytes]] = []
    at = 0
    while len(buf) - at >= _SENT.size:
        n, sender = _SENT.unpack_from(buf, at)
        if n > MAX_SENT_TX_BYTES:
            raise ValueError(f"a transaction of {n} bytes")
        end = at + _SENT.size + n
        if end > len(buf):
            break
        out.append((bytes(buf[at + _SENT.size:end]), sender))
        at = end
    del buf[:at]
    return out


class CheckTxRelay:
    """The node's side: a unix socket server; `resolve` is the ABCI app's `on_check`;
    `on_senders` hears the senders the API process recovered."""

    def __init__(self, loop: asyncio.AbstractEventLoop, path: Path,
                 on_senders: Callable[[list[tuple[bytes, bytes]]], None] | None = None
                 ) -> None:
        self._loop = loop
        self.path = path
        self._on_senders = on_senders
        self._told: LoopBursts[tuple[bytes, int, str]] = LoopBursts(self._send)
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._connected, str(self.path))
        os.chmod(self.path, 0o600)  # the node's user alone: senders told here are trusted

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                         ) -> None:
        self._writers.append(writer)
        buf = bytearray()
        try:
            while chunk := await reader.read(1 << 20):  # until the API process goes
                buf += chunk
                pairs = decode_senders(buf)
                if pairs and self._on_senders is not None:
                    self._on_senders(pairs)
        except ValueError as exc:
            log.warning("the API's process sent what is no transaction (%s): link closed", exc)
        except Exception:  # noqa: S110 (a broken link ends like a closed one)
            pass
        finally:
            self._writers.remove(writer)
            writer.close()

    @property
    def listeners(self) -> int:
        """How many API processes are connected."""
        return len(self._writers)

    def private_block(self, group_id: bytes, height: int, root: bytes,
                      had_markers: bool) -> None:
        """A privacy group's height the node's processor executed (its thread): told to
        the API's process, whose submitter attests the roots (`PrivacyNode.on_block`)."""
        body = _PRIVATE.pack(group_id, height, root, had_markers)
        frame = _HEAD.pack(_PRIVATE_BLOCK, len(body), 0, 0) + body
        self._loop.call_soon_threadsafe(self._write, frame, "a private block's height")

    def _write(self, frame: bytes, what: str) -> None:
        """`frame` to every API process connected, but one that reads nothing (its backlog
        past `MAX_BACKLOG_BYTES`): dropped there, with a warning."""
        for w in self._writers:
            if w.transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
                log.warning("the API's process reads nothing from its node: %s dropped", what)
                continue
            w.write(frame)

    def resolve(self, raw: bytes, code: int, log_text: str) -> None:
        """Told by CheckTx (any thread): sent with the rest of its burst."""
        if self._writers:
            self._told.tell(self._loop, (raw, code, log_text))

    def _send(self, told: list[tuple[bytes, int, str]]) -> None:
        self._write(encode(told), f"{len(told)} CheckTx answers")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()


class _Sent(Protocol):
    raw: bytes
    sender: bytes


class SenderTeller:
    """The API process's side of the senders: `tell` (on the API's loop, before the
    transactions go to the engine) writes them to the node once `follow_checks` is
    connected; before that, and after the node went, it writes nothing."""

    def __init__(self) -> None:
        self.writer: asyncio.StreamWriter | None = None
        self.told = 0

    def tell(self, txs: Sequence[_Sent]) -> None:
        writer = self.writer
        if writer is None or writer.is_closing() or not txs:
            return
        if writer.transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
            return  # the node reads none: it recovers them itself
        writer.write(encode_senders([(tx.raw, tx.sender) for tx in txs]))
        self.told += len(txs)


PrivateBlock = Callable[[bytes, int, bytes, bool], None]


async def follow_checks(path: Path, watch: CheckTxWatch,
                        senders: SenderTeller | None = None,
                        on_private_block: PrivateBlock | None = None) -> None:
    """The API process's side: read the node's CheckTx answers until it goes (raises
    asyncio.IncompleteReadError then; ConnectionError if it never listened), and the
    privacy groups' processed heights (`on_private_block`). `senders` writes on the same
    connection."""
    for _ in range(200):
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
            break
        except OSError:
            await asyncio.sleep(0.05)
    else:
        raise ConnectionError(f"no CheckTx relay at {path}")
    if senders is not None:
        senders.writer = writer
    while True:
        head = await reader.readexactly(_HEAD.size)
        kind, n, code, m = _HEAD.unpack(head)
        body = await reader.readexactly(n + m)
        if kind == _ANSWER:
            watch.resolve(body[:n], code, body[n:].decode(errors="replace"))
        elif kind == _PRIVATE_BLOCK and on_private_block is not None and n == _PRIVATE.size:
            on_private_block(*_PRIVATE.unpack(body))
