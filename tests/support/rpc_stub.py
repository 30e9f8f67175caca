"""The smallest JSON-RPC API an HTTP client can talk to, for tests of TLS and connections:
served by the project's own api_server, it answers every call "0x1"."""

from __future__ import annotations

import json
from typing import Any


async def rpc_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """A node's API at its smallest: every JSON-RPC request answers "0x1"."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    ident = json.loads(body)["id"] if body else None
    answer = json.dumps({"jsonrpc": "2.0", "id": ident, "result": "0x1"}).encode()
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(answer)).encode())]})
    await send({"type": "http.response.body", "body": answer})
