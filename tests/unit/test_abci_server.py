"""The ABCI socket server answers every frame, and turns an application error into a
ResponseException instead of hanging the engine."""

from __future__ import annotations

import asyncio
from pathlib import Path

from consortium.abci.protocol import Request, Response, frame, split_frames, types_pb2
from consortium.abci.server import AbciServer


class EchoApp:
    """A minimal application: echo works, info fails on purpose."""

    def __getattr__(self, name: str):
        def handler(req):
            if name == "info":
                raise RuntimeError("disk on fire")
            if name == "echo":
                return types_pb2.ResponseEcho(message=req.message)
            return getattr(types_pb2, "Response" + name.title().replace("_", ""))()

        return handler


async def _exchange(sock: Path, requests: list[Request]) -> list[Response]:
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(b"".join(frame(r.SerializeToString()) for r in requests))
    await writer.drain()
    buf, out = bytearray(), []
    while len(out) < len(requests):
        buf += await asyncio.wait_for(reader.read(65536), 5)
        for raw in split_frames(buf):
            resp = Response()
            resp.ParseFromString(raw)
            out.append(resp)
    writer.close()
    return out


def test_server_answers_and_reports_exceptions(tmp_path: Path):
    async def run() -> list[Response]:
        server = AbciServer(EchoApp(), tmp_path / "abci.sock")
        await server.start()
        try:
            return await _exchange(
                server.socket_path,
                [
                    Request(echo=types_pb2.RequestEcho(message="hello")),
                    Request(info=types_pb2.RequestInfo()),
                    Request(flush=types_pb2.RequestFlush()),
                ],
            )
        finally:
            await server.stop()

    echo, info, flush = asyncio.run(run())
    assert echo.echo.message == "hello"
    assert info.WhichOneof("value") == "exception"
    assert "info failed: RuntimeError: disk on fire" in info.exception.error
    assert flush.WhichOneof("value") == "flush"
