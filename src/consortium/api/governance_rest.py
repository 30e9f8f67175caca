"""Governance over REST: read-only `/api/v1/…` routes answering the same JSON as the
`consortium_*` JSON-RPC methods (`consortium.system.reader` shapes), and their OpenAPI paths.

    GET /api/v1/members                 GET /api/v1/members/{ref}   (id, name or account)
    GET /api/v1/proposals[?open=true]   GET /api/v1/proposals/{id}  (with its votes)
    GET /api/v1/rules                   GET /api/v1/officers
    GET /api/v1/taskforces              GET /api/v1/taskforces/{name}
    GET /api/v1/roles                   GET /api/v1/roles/{account}
    GET /api/v1/validators              GET /api/v1/nodes
    GET /api/v1/frozen                  GET /api/v1/deploy-allowlist

Errors answer {"error": "<reason>"} with 400 (bad input) or 404 (not found).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from consortium.api.consortium_rpc import system_reader
from consortium.api.rpc_error import RpcError
from consortium.ledger.types import LedgerReader
from consortium.system.reader import SystemReader

T = TypeVar("T")
RunSync = Callable[[Callable[[], T]], Awaitable[T]]
Read = Callable[[SystemReader, Request], Any]


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def governance_routes(ledger: LedgerReader, run_sync: RunSync[Any]) -> list[Route]:
    """The governance routes of one node."""

    def endpoint(read: Read, what: str) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def handle(request: Request) -> JSONResponse:
            try:
                found = await run_sync(lambda: read(system_reader(ledger), request))
            except (RpcError, ValueError) as err:
                return _error(400, getattr(err, "message", str(err)))
            if found is None:
                return _error(404, f"{what} not found")
            return JSONResponse(found)

        return handle

    def member(reader: SystemReader, request: Request) -> Any:
        return reader.member(request.path_params["ref"])

    def proposals(reader: SystemReader, request: Request) -> Any:
        flag = request.query_params.get("open", "false").lower()
        return reader.proposals(open_only=flag in ("1", "true", "yes"))

    def proposal(reader: SystemReader, request: Request) -> Any:
        ident = request.path_params["id"]
        if not ident.isdigit():
            raise ValueError(f"proposal id {ident!r} is not a number")
        found = reader.proposal(int(ident))
        if found is not None:
            found["votes"] = reader.votes(int(ident))
        return found

    def roles(reader: SystemReader, request: Request) -> Any:
        account = request.path_params.get("account")
        if account is not None and (not account.startswith("0x") or len(account) != 42):
            raise ValueError(f"{account!r} is not a 0x account address")
        return reader.roles(account)

    def task_force(reader: SystemReader, request: Request) -> Any:
        return reader.task_force(request.path_params["name"])

    simple: dict[str, Callable[[SystemReader], Any]] = {
        "/api/v1/members": SystemReader.members,
        "/api/v1/rules": SystemReader.rules,
        "/api/v1/officers": SystemReader.officers,
        "/api/v1/taskforces": SystemReader.task_forces,
        "/api/v1/validators": SystemReader.validators,
        "/api/v1/nodes": SystemReader.nodes,
        "/api/v1/frozen": SystemReader.frozen,
        "/api/v1/deploy-allowlist": SystemReader.deploy_allowlist,
    }

    def without_request(fn: Callable[[SystemReader], Any]) -> Read:
        return lambda reader, _request: fn(reader)

    routes = [
        Route(path, endpoint(without_request(fn), path), methods=["GET"])
        for path, fn in simple.items()
    ]
    routes += [
        Route("/api/v1/members/{ref}", endpoint(member, "member"), methods=["GET"]),
        Route("/api/v1/proposals", endpoint(proposals, "proposals"), methods=["GET"]),
        Route("/api/v1/proposals/{id}", endpoint(proposal, "proposal"), methods=["GET"]),
        Route("/api/v1/roles", endpoint(roles, "roles"), methods=["GET"]),
        Route("/api/v1/roles/{account}", endpoint(roles, "account"), methods=["GET"]),
        Route("/api/v1/taskforces/{name}", endpoint(task_force, "task force"), methods=["GET"]),
    ]
    return routes


def governance_openapi_paths() -> dict[str, Any]:
    """The OpenAPI paths of the governance routes (merged into the node's schema)."""

    def get(
        summary: str, params: list[dict[str, Any]] | None = None, not_found: bool = False
    ) -> dict[str, Any]:
        responses: dict[str, Any] = {
            "200": {
                "description": summary,
                "content": {"application/json": {"schema": {"type": ["object", "array"]}}},
            }
        }
        if params:
            responses["400"] = {"description": "malformed parameter"}
        if not_found:
            responses["404"] = {"description": "not found"}
        op: dict[str, Any] = {"summary": summary, "tags": ["governance"], "responses": responses}
        if params:
            op["parameters"] = params
        return {"get": op}

    def path_param(name: str, description: str) -> dict[str, Any]:
        return {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string"},
            "description": description,
        }

    return {
        "/api/v1/members": get("Every member: name, tier, status, weight, accounts, nodes"),
        "/api/v1/members/{ref}": get(
            "One member", [path_param("ref", "member id, name or 0x account")], not_found=True
        ),
        "/api/v1/proposals": get(
            "Every proposal (open=true: only the open ones)",
            [
                {
                    "name": "open",
                    "in": "query",
                    "required": False,
                    "schema": {"type": "boolean", "default": False},
                }
            ],
        ),
        "/api/v1/proposals/{id}": get(
            "One proposal with its votes", [path_param("id", "proposal id")], not_found=True
        ),
        "/api/v1/rules": get("Each proposal kind's participation, win rate and period"),
        "/api/v1/officers": get("Offices, holders and terms (vacant once a term ends)"),
        "/api/v1/taskforces": get("Task forces: charter, lead, members"),
        "/api/v1/taskforces/{name}": get(
            "One task force", [path_param("name", "its name")], not_found=True
        ),
        "/api/v1/roles": get("The accounts holding each role"),
        "/api/v1/roles/{account}": get(
            "One account's roles", [path_param("account", "0x account")]
        ),
        "/api/v1/validators": get("Validators: ed25519 key, power, CometBFT address"),
        "/api/v1/nodes": get("Admitted peer node ids and their members"),
        "/api/v1/frozen": get("Frozen accounts and contracts"),
        "/api/v1/deploy-allowlist": get("Accounts that may deploy (empty: every member)"),
    }
