"""CheckTx answers across a process boundary: the node's ABCI app tells every answer to a
`CheckTxRelay` (from the consensus thread), which writes them in bursts to the API process
connected on a unix socket; there `follow_checks` hands them to that process's
`CheckTxWatch`, as the ABCI app hands them to an API in the node's own process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from pathlib import Path

from consortium.api.bursts import LoopBursts
from consortium.api.engine_client import CheckTxWatch

log = logging.getLogger("consortium.api.check_relay")

_HEAD = struct.Struct(">IIH")  # raw length, code, log length
# What may wait unread for the API's process: past it answers are dropped (logged), and a
# client whose answer was dropped gets the engine client's timeout instead
MAX_BACKLOG_BYTES = 64 << 20


def encode(items: list[tuple[bytes, int, str]]) -> bytes:
    parts = []
    for raw, code, text in items:
        t = text.encode()[:65535]
        parts.append(_HEAD.pack(len(raw), code, len(t)))
        parts.append(raw)
        parts.append(t)
    return b"".join(parts)


class CheckTxRelay:
    """The node's side: a unix socket server; `resolve` is the ABCI app's `on_check`."""

    def __init__(self, loop: asyncio.AbstractEventLoop, path: Path) -> None:
        self._loop = loop
        self.path = path
        self._told: LoopBursts[tuple[bytes, int, str]] = LoopBursts(self._send)
        self._writers: list[asyncio.StreamWriter] = []
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        self._server = await asyncio.start_unix_server(self._connected, str(self.path))

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                         ) -> None:
        self._writers.append(writer)
        with contextlib.suppress(Exception):
            await reader.read()  # until the API process goes
        self._writers.remove(writer)
        writer.close()

    @property
    def listeners(self) -> int:
        """How many API processes are connected."""
        return len(self._writers)

    def resolve(self, raw: bytes, code: int, log_text: str) -> None:
        """Told by CheckTx (any thread): sent with the rest of its burst."""
        if self._writers:
            self._told.tell(self._loop, (raw, code, log_text))

    def _send(self, told: list[tuple[bytes, int, str]]) -> None:
        frame = encode(told)
        for w in self._writers:
            if w.transport.get_write_buffer_size() > MAX_BACKLOG_BYTES:
                log.warning("the API's process reads no CheckTx answers: %d dropped",
                            len(told))
                continue
            w.write(frame)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for w in list(self._writers):
            w.close()


async def follow_checks(path: Path, watch: CheckTxWatch) -> None:
    """The API process's side: read the node's CheckTx answers until it goes (raises
    asyncio.IncompleteReadError then; ConnectionError if it never listened)."""
    for _ in range(200):
        try:
            reader, _writer = await asyncio.open_unix_connection(str(path))
            break
        except OSError:
            await asyncio.sleep(0.05)
    else:
        raise ConnectionError(f"no CheckTx relay at {path}")
    while True:
        head = await reader.readexactly(_HEAD.size)
        n, code, m = _HEAD.unpack(head)
        body = await reader.readexactly(n + m)
        watch.resolve(body[:n], code, body[n:].decode(errors="replace"))
