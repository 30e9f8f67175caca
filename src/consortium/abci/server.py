"""An asyncio ABCI 2.0 socket server.

CometBFT opens four connections (consensus, mempool, info, snapshot) and sends requests on
each in order, answering Flush by flushing. The server reads the socket in large chunks,
answers every complete frame, and writes the responses back in one go. Application calls
happen on the event loop's one thread, except those the application's class names in
`concurrent_calls`: those run on a worker thread while the loop keeps answering the other
connections (the ledger's FinalizeBlock, so that CheckTx is answered while a block executes
instead of the mempool waiting for it). Each connection's answers stay in order. An
application's `check_tx_batch`, if it has one, first sees the new transactions of all the
CheckTx requests a read brought (the ledger recovers their senders together).
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from consortium.abci.protocol import (
    FramingError,
    Request,
    Response,
    encode_varint,
    frame,
    response_tag,
    split_frames,
    types_pb2,
)

log = logging.getLogger("consortium.abci")

READ_CHUNK = 1 << 16

Handler = Callable[[Any], Any]


class AbciServer:
    """Serves an application object whose methods are named after the ABCI request fields
    (`info`, `check_tx`, `finalize_block`, ...), each taking the request message and
    returning the matching response message."""

    def __init__(self, app: Any, socket_path: Path) -> None:
        self.app = app
        self.socket_path = socket_path
        self._server: asyncio.base_events.Server | None = None
        self._handlers: dict[str, Handler] = {}
        # `<name>_wire` on the application's class, if defined, answers the response
        # message already serialized (the hot calls: CheckTx, FinalizeBlock)
        self._wire: dict[str, tuple[Callable[[Any], bytes], bytes]] = {}
        for field in Request.DESCRIPTOR.oneofs_by_name["value"].fields:
            handler = getattr(app, field.name, None)
            if handler is None:
                raise TypeError(f"ABCI application lacks a handler for {field.name}")
            self._handlers[field.name] = handler
            if callable(getattr(type(app), f"{field.name}_wire", None)):
                self._wire[field.name] = (getattr(app, f"{field.name}_wire"),
                                          response_tag(field.name))
        # the Request keys (its oneof field, first in the frame) of the calls answered on
        # the worker thread
        self._concurrent = tuple(
            encode_varint(Request.DESCRIPTOR.fields_by_name[name].number << 3 | 2)
            for name in getattr(type(app), "concurrent_calls", ()))
        self._worker: ThreadPoolExecutor | None = None
        self.connections = 0
        # `check_tx_batch(txs)` on the application's class, if defined, sees the new
        # transactions of the CheckTx requests one read brought before each is answered
        batch = getattr(app, "check_tx_batch", None)
        self._check_batch: Callable[[list[bytes]], None] | None = \
            batch if callable(getattr(type(app), "check_tx_batch", None)) else None
        self._check_key = encode_varint(
            Request.DESCRIPTOR.fields_by_name["check_tx"].number << 3 | 2)

    async def start(self) -> None:
        if self.socket_path.exists():
            self.socket_path.unlink()
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self._server = await asyncio.start_unix_server(
            self._serve, path=str(self.socket_path), limit=READ_CHUNK
        )
        os.chmod(self.socket_path, 0o600)
        log.info("ABCI server listening on unix://%s", self.socket_path)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self.socket_path.exists():
            self.socket_path.unlink()
        if self._worker is not None:
            self._worker.shutdown(wait=False)
            self._worker = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        buf = bytearray()
        try:
            while True:
                chunk = await reader.read(READ_CHUNK)
                if not chunk:
                    return
                buf += chunk
                out = bytearray()
                frames = split_frames(buf)
                parsed = self._check_batch_ahead(frames) if len(frames) > 1 else {}
                for i, raw in enumerate(frames):
                    if self._concurrent and raw.startswith(self._concurrent):
                        if self._worker is None:
                            self._worker = ThreadPoolExecutor(1, thread_name_prefix="abci-call")
                        answer = await asyncio.get_running_loop().run_in_executor(
                            self._worker, self._answer_bytes, raw)
                    else:
                        answer = self._answer_bytes(raw, parsed.get(i))
                    out += frame(answer)
                if out:
                    writer.write(out)
                    await writer.drain()
        except FramingError as exc:
            log.error("ABCI connection closed: %s", exc)
        except (ConnectionResetError, BrokenPipeError):
            log.info("ABCI connection closed by the engine")
        finally:
            self.connections -= 1
            writer.close()

    def _check_batch_ahead(self, frames: list[bytes]) -> dict[int, Any]:
        """Hand the application the new transactions of the CheckTx requests among
        `frames` together (`check_tx_batch`); the requests parsed for it, by position,
        so that each is parsed once."""
        if self._check_batch is None:
            return {}
        parsed: dict[int, Any] = {}
        txs: list[bytes] = []
        for i, raw in enumerate(frames):
            if raw.startswith(self._check_key):
                request = Request()
                try:
                    request.ParseFromString(raw)
                except Exception:  # answered (refused) as it comes, below
                    continue
                parsed[i] = request
                if request.check_tx.type != types_pb2.RECHECK:
                    txs.append(request.check_tx.tx)
        if len(txs) > 1:
            try:
                self._check_batch(txs)
            except Exception:  # only a preparation: each CheckTx still answers for itself
                log.exception("ABCI check_tx_batch failed")
        return parsed

    def _answer_bytes(self, raw: bytes, request: Any = None) -> bytes:
        """The serialized Response to one serialized Request (`request`: parsed already)."""
        if request is None:
            request = Request()
            try:
                request.ParseFromString(raw)
            except Exception as exc:  # the engine sent something we cannot parse
                log.error("ABCI: undecodable request (%s)", type(exc).__name__)
                return _exception("undecodable ABCI request")
        kind = request.WhichOneof("value")
        if kind is None:
            return _exception("empty ABCI request")
        try:
            wire = self._wire.get(kind)
            if wire is not None:
                inner = wire[0](getattr(request, kind))
                return wire[1] + encode_varint(len(inner)) + inner
            result = self._handlers[kind](getattr(request, kind))
            return bytes(Response(**{kind: result}).SerializeToString())
        except Exception as exc:
            log.exception("ABCI %s failed: %s", kind, exc)
            return _exception(f"{kind} failed: {type(exc).__name__}: {exc}")


def _exception(error: str) -> bytes:
    return bytes(Response(exception=types_pb2.ResponseException(error=error)).SerializeToString())
