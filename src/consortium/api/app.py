"""The node's HTTP API: one ASGI app serving JSON-RPC (POST /) and a small REST surface.

The full Ethereum JSON-RPC lives in `consortium.api.jsonrpc`; this module wires routes.
"""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from consortium import __version__


def create_app(ledger: Any, engine_rpc: str, *, node_name: str = "node") -> Starlette:
    """Build the API of one node around its ledger and its engine's RPC address."""

    async def health(_: Request) -> JSONResponse:
        height, app_hash = ledger.info()
        return JSONResponse(
            {"ok": True, "node": node_name, "height": height, "app_hash": app_hash.hex()}
        )

    async def rpc(request: Request) -> JSONResponse:
        try:
            body = await request.json()
        except ValueError:
            return JSONResponse(_error(None, -32700, "parse error: body is not JSON"))
        if isinstance(body, list):
            if not body:
                return JSONResponse(_error(None, -32600, "invalid request: empty batch"))
            return JSONResponse([_dispatch(ledger, item) for item in body])
        return JSONResponse(_dispatch(ledger, body))

    return Starlette(
        routes=[
            Route("/health", health, methods=["GET"]),
            Route("/", rpc, methods=["POST"]),
        ]
    )


def _error(req_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": {"code": code, "message": message}}


def _dispatch(ledger: Any, req: Any) -> dict[str, Any]:
    if not isinstance(req, dict) or not isinstance(req.get("method"), str):
        return _error(None, -32600, "invalid request: not a JSON-RPC 2.0 object")
    req_id, method = req.get("id"), req["method"]
    if method == "web3_clientVersion":
        result: Any = f"consortium/{__version__}"
    elif method == "eth_blockNumber":
        result = hex(ledger.info()[0])
    else:
        return _error(req_id, -32601, f"method {method} not found")
    return {"jsonrpc": "2.0", "id": req_id, "result": result}
