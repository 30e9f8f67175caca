"""Talking to an `AbciServer` over its real unix socket, as CometBFT does."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from consortium.abci.protocol import Request, Response, frame, split_frames
from consortium.abci.server import AbciServer


async def exchange(sock: Path, requests: list[Request]) -> list[Response]:
    """Send `requests` in one write on a new connection; their answers, in order."""
    reader, writer = await asyncio.open_unix_connection(str(sock))
    writer.write(b"".join(frame(r.SerializeToString()) for r in requests))
    await writer.drain()
    buf, out = bytearray(), []
    while len(out) < len(requests):
        buf += await asyncio.wait_for(reader.read(65536), 10)
        out += [Response.FromString(raw) for raw in split_frames(buf)]
    writer.close()
    return out


def serve_once(app: Any, sock: Path, requests: list[Request]) -> list[Response]:
    """Start a server for `app` at `sock`, `exchange` `requests`, stop it."""
    async def run() -> list[Response]:
        server = AbciServer(app, sock)
        await server.start()
        try:
            return await exchange(server.socket_path, requests)
        finally:
            await server.stop()

    return asyncio.run(run())
