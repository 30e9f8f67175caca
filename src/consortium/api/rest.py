"""The small REST surface (`/api/v1/…`) for dashboards and scripts, and its OpenAPI schema.
Blocks and transactions are shaped as JSON-RPC answers them; accounts and status use plain
numbers (big amounts as decimal strings, so JavaScript loses no precision)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from consortium import __version__
from consortium.api import encoding as enc
from consortium.api.eth_json import EthReads
from consortium.api.rpc_error import RpcError
from consortium.api.service_surface import RunSync, path_param, query_param, rest_read
from consortium.ledger.types import LedgerReader


def rest_routes(ledger: LedgerReader, run_sync: RunSync[Any], node_name: str,
                next_nonce: Callable[[str], int]) -> list[Route]:
    """The /api/v1 routes of one node; `next_nonce` counts this node's held and journalled
    transactions, as JSON-RPC's pending transaction count does."""
    eth = EthReads(ledger)

    def status(request: Request) -> dict[str, Any]:
        height = ledger.latest_height()
        block = eth.get_block(height, False)
        _, app_hash = ledger.info()  # type: ignore[attr-defined]
        return {"node": node_name, "version": __version__, "chain_id": int(ledger.eth_chain_id),
                "height": height, "app_hash": app_hash.hex(),
                "latest_block_hash": block["hash"] if block else None,
                "latest_block_time": int(block["timestamp"], 16) if block else None}

    def block(request: Request) -> dict[str, Any] | None:
        ident = request.path_params["ident"]
        full = request.query_params.get("full", "false").lower() in ("1", "true", "yes")
        if ident.startswith("0x") and len(ident) == 66:
            return eth.get_block_by_hash(enc.hash32(ident, "hash"), full)
        if ident == "latest":
            height = ledger.latest_height()
        elif ident.isascii() and ident.isdigit():  # not "²", which int() refuses
            height = int(ident)
        else:
            raise RpcError(f"block {ident!r}: give a decimal height, 'latest' or a 0x hash")
        return eth.get_block(height, full)

    def tx_hash(request: Request) -> str:
        return enc.hash32(request.path_params["hash"], "hash", what="transaction hash")

    def transaction(request: Request) -> dict[str, Any] | None:
        hashed = tx_hash(request)
        found = eth.get_transaction(hashed)
        return None if found is None else {"transaction": found, "receipt": eth.get_receipt(hashed)}

    def account(request: Request) -> dict[str, Any]:
        address = enc.address(request.path_params["address"], "address")
        return {"address": address, "balance": str(ledger.get_balance(address)),
                "nonce": ledger.get_nonce(address), "pending_nonce": next_nonce(address),
                "code_size": len(ledger.get_code(address)), "height": ledger.latest_height()}

    def route(path: str, read: Callable[[Request], Any],
              what: Callable[[Request], str] | str = "") -> Route:
        return Route(path, rest_read(run_sync, read, what), methods=["GET"])

    return [
        route("/api/v1/status", status),
        route("/api/v1/blocks/{ident}", block, lambda r: f"block {r.path_params['ident']}"),
        route("/api/v1/tx/{hash}", transaction, lambda r: f"transaction {tx_hash(r)}"),
        route("/api/v1/accounts/{address}", account),
    ]


def _ok(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _object(**types: str | list[str]) -> dict[str, Any]:
    """An object schema of these properties, each of its JSON type(s)."""
    return {"type": "object", "properties": {k: {"type": t} for k, t in types.items()}}


def _get(summary: str, responses: dict[str, Any],
         params: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"get": {"summary": summary, **({"parameters": params} if params else {}),
                    "responses": responses}}


def _hex_param(name: str, digits: int) -> dict[str, Any]:
    return path_param(name, {"type": "string", "pattern": f"^0x[0-9a-fA-F]{{{digits}}}$"})


_ERROR = {"$ref": "#/components/schemas/Error"}
_NOT_FOUND = _ok("not found", _ERROR)
_BAD = _ok("malformed parameter", _ERROR)
_REQUEST = {"$ref": "#/components/schemas/JsonRpcRequest"}


def openapi_schema(node_name: str) -> dict[str, Any]:
    """The OpenAPI 3.1 description of the REST routes and the JSON-RPC endpoint."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": f"Consortium node API ({node_name})",
            "version": __version__,
            "description": (
                "Ethereum JSON-RPC 2.0 on POST / and WebSocket / (eth_subscribe), plus "
                "the read-only REST routes below. Amounts are in wei, as decimal strings."
            ),
        },
        "paths": {
            "/": {"post": {
                "summary": "Ethereum JSON-RPC 2.0 (single request or batch of up to 1000)",
                "requestBody": {"required": True, "content": {"application/json": {
                    "schema": {"oneOf": [
                        _REQUEST, {"type": "array", "maxItems": 1000, "items": _REQUEST},
                    ]}}}},
                "responses": {"200": {"description": "JSON-RPC response(s)"},
                              "204": {"description": "only notifications were sent"}},
            }},
            "/health": _get("Liveness: the node's name, height and app hash", {
                "200": _ok("healthy", _object(ok="boolean", node="string", height="integer",
                                              app_hash="string"))}),
            "/api/v1/status": _get("Chain status seen by this node", {
                "200": _ok("status", {"$ref": "#/components/schemas/Status"})}),
            "/api/v1/blocks/{ident}": _get("A block by decimal height, 'latest', or 0x hash", {
                "200": _ok("the block, Ethereum JSON-RPC shaped", {"type": "object"}),
                "400": _BAD, "404": _NOT_FOUND}, [
                {**path_param("ident", {"type": "string"}), "example": "latest"},
                query_param("full", "include whole transactions instead of hashes",
                            {"type": "boolean", "default": False})]),
            "/api/v1/tx/{hash}": _get("A transaction and its receipt", {
                "200": _ok("transaction and receipt",
                           _object(transaction="object", receipt=["object", "null"])),
                "400": _BAD, "404": _NOT_FOUND}, [_hex_param("hash", 64)]),
            "/api/v1/accounts/{address}": _get(
                "An account's balance, nonce and code size at the latest block, and the nonce its "
                "next transaction takes (pending_nonce: counting those this node accepted)", {
                    "200": _ok("account", {"$ref": "#/components/schemas/Account"}),
                    "400": _BAD}, [_hex_param("address", 40)]),
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "string"}}},
            "JsonRpcRequest": {"type": "object", "required": ["jsonrpc", "method"],
                               "properties": {"jsonrpc": {"const": "2.0"},
                                              "id": {"type": ["string", "integer", "null"]},
                                              "method": {"type": "string"},
                                              "params": {"type": "array"}}},
            "Status": _object(node="string", version="string", chain_id="integer",
                              height="integer", app_hash="string",
                              latest_block_hash=["string", "null"],
                              latest_block_time=["integer", "null"]),
            "Account": _object(address="string", balance="string", nonce="integer",
                               pending_nonce="integer", code_size="integer",
                               height="integer"),
        }},
    }
