"""What the services' JSON-RPC methods and REST routes share: reading the ledger (its log
index for histories), parsing ids and accounts (one message for both transports), and a REST
endpoint around a read.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse

from consortium.api.read_gate import current_budget
from consortium.api.rpc_error import ExecutionRevertedError, RpcError
from consortium.apps.service import LogSource
from consortium.ledger.types import LedgerReader, TxFilter

T = TypeVar("T")
RunSync = Callable[[Callable[[], T]], Awaitable[T]]


def ledger_logs(ledger: LedgerReader) -> LogSource:
    """A reader's log source over the ledger's log index (every block to the latest)."""

    def logs(address: bytes, topics: list[bytes | None]) -> list[dict[str, Any]]:
        found = ledger.get_logs(TxFilter(
            from_block=0, to_block=ledger.latest_height(), addresses=["0x" + address.hex()],
            topics=[None if t is None else "0x" + t.hex() for t in topics],
        ), budget=current_budget.get())  # a history scan is bounded like eth_getLogs
        return [{"block": e.block_number, "txHash": e.tx_hash,
                 "topics": [bytes.fromhex(t[2:]) for t in e.topics], "data": e.data}
                for e in found]

    return logs


def ledger_call(ledger: LedgerReader) -> Callable[[bytes, bytes], bytes]:
    """eth_call on the ledger at the latest block for a service's reader, within the
    request's budget (`ReadGate`); reverts raised as JSON-RPC errors."""

    def call(to: bytes, data: bytes) -> bytes:
        result = ledger.call({"to": "0x" + to.hex(), "data": "0x" + data.hex()},
                             budget=current_budget.get())
        if not result.success:
            raise ExecutionRevertedError(result.output, result.error)
        return result.output

    return call


def rest_read(run_sync: RunSync[Any], read: Callable[[Request], Any],
              what: str | Callable[[Request], str]) -> Callable[[Request], Awaitable[JSONResponse]]:
    """A GET handler: the read's JSON; 400 with the reason for bad input, 404 for None
    ("<what> not found"; `what` may name the object from the request)."""

    async def handle(request: Request) -> JSONResponse:
        try:
            found = await run_sync(lambda: read(request))
        except (RpcError, ValueError) as err:
            return JSONResponse({"error": getattr(err, "message", str(err))}, status_code=400)
        if found is None:
            named = what if isinstance(what, str) else what(request)
            return JSONResponse({"error": f"{named} not found"}, status_code=404)
        return JSONResponse(found)

    return handle


def openapi_get(summary: str, tag: str, params: list[dict[str, Any]],
                not_found: bool = False) -> dict[str, Any]:
    """The OpenAPI entry of one read-only route."""
    ok = {"content": {"application/json": {"schema": {"type": ["object", "array"]}}}}
    responses: dict[str, Any] = {"200": {"description": summary, **ok},
                                 "400": {"description": "malformed input"}}
    if not_found:
        responses["404"] = {"description": "not found"}
    return {"get": {"summary": summary, "tags": [tag], "parameters": params,
                    "responses": responses}}


def query_param(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema,
            "description": description}


def path_param(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema}


