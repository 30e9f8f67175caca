"""Invoices over REST: read-only routes answering the same JSON as `consortium_invoice` and
`consortium_invoices` (`consortium.apps.invoices.reader` shapes), and their OpenAPI paths.

    GET /api/v1/invoices[?seller=0x…&buyer=0x…&bank=0x…&state=financed]
    GET /api/v1/invoices/{fingerprint}        with its tranches and payments

Errors answer {"error": "<reason>"} with 400 (bad input) or 404 (not found).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from consortium.api.apps_rpc import invoice_filter, invoice_reader, parse_fingerprint
from consortium.api.rpc_error import RpcError
from consortium.apps.invoices.model import STATES
from consortium.ledger.types import LedgerReader

T = TypeVar("T")
RunSync = Callable[[Callable[[], T]], Awaitable[T]]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def invoice_routes(ledger: LedgerReader, run_sync: RunSync[Any]) -> list[Route]:
    async def invoices(request: Request) -> JSONResponse:
        try:
            query = invoice_filter(dict(request.query_params), "query")
            found = await run_sync(lambda: invoice_reader(ledger).invoices(**query))
        except RpcError as err:
            return _error(400, err.message)
        return JSONResponse(found)

    async def invoice(request: Request) -> JSONResponse:
        try:
            fp = parse_fingerprint(request.path_params["fingerprint"], "fingerprint")
            found = await run_sync(lambda: invoice_reader(ledger).invoice(fp))
        except RpcError as err:
            return _error(400, err.message)
        if found is None:
            return _error(404, "invoice not found")
        return JSONResponse(found)

    return [
        Route("/api/v1/invoices", invoices, methods=["GET"]),
        Route("/api/v1/invoices/{fingerprint}", invoice, methods=["GET"]),
    ]


def invoice_openapi_paths() -> dict[str, Any]:
    def query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
        return {"name": name, "in": "query", "required": False, "schema": schema,
                "description": description}

    address = {"type": "string", "pattern": "^0x[0-9a-fA-F]{40}$"}
    params = [
        query("seller", "the seller's account", address),
        query("buyer", "the buyer's account", address),
        query("bank", "a financing bank's account", address),
        query("state", "the invoice state", {"type": "string", "enum": list(STATES)}),
    ]
    ok = {"content": {"application/json": {"schema": {"type": ["object", "array"]}}}}
    return {
        "/api/v1/invoices": {"get": {
            "summary": "Invoices matching every filter given",
            "tags": ["invoices"],
            "parameters": params,
            "responses": {"200": {"description": "invoices", **ok},
                          "400": {"description": "malformed filter"}},
        }},
        "/api/v1/invoices/{fingerprint}": {"get": {
            "summary": "One invoice with its financing tranches and payments",
            "tags": ["invoices"],
            "parameters": [{"name": "fingerprint", "in": "path", "required": True,
                            "schema": {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"}}],
            "responses": {"200": {"description": "the invoice", **ok},
                          "400": {"description": "not a fingerprint"},
                          "404": {"description": "no such invoice"}},
        }},
    }
