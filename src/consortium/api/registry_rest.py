"""The digital asset registry over REST: read-only routes answering the same JSON as the
`consortium_asset*` JSON-RPC methods, and their OpenAPI paths.

    GET /api/v1/registry/classes
    GET /api/v1/registry/classes/{ref}        by id or name
    GET /api/v1/registry/assets[?class=1&owner=0x…&state=registered&securedParty=0x…]
    GET /api/v1/registry/assets/{id}          with approvals, pledges and full history

Errors answer {"error": "<reason>"} with 400 (bad input) or 404 (not found).
"""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from consortium.api.registry_rpc import asset_filter, class_ref, registry_reader
from consortium.api.service_reads import (
    ADDRESS_SCHEMA,
    ID_SCHEMA,
    RunSync,
    object_id,
    openapi_get,
    path_param,
    query_param,
    rest_read,
)
from consortium.apps.registry.model import ASSET_STATES
from consortium.ledger.types import LedgerReader

BASE = "/api/v1/registry"


def registry_routes(ledger: LedgerReader, run_sync: RunSync[Any]) -> list[Route]:
    def reader() -> Any:
        return registry_reader(ledger)

    reads = {
        "/classes": (lambda r: reader().classes(), "classes"),
        "/classes/{ref}": (lambda r: reader().asset_class(
            class_ref(r.path_params["ref"], "class")), "asset class"),
        "/assets": (lambda r: reader().assets(
            **asset_filter(dict(r.query_params), "query")), "assets"),
        "/assets/{id}": (lambda r: reader().asset(object_id(r.path_params["id"], "id")),
                         "asset"),
    }
    return [Route(BASE + path, rest_read(run_sync, read, what), methods=["GET"])
            for path, (read, what) in reads.items()]


def registry_openapi_paths() -> dict[str, Any]:
    tag = "registry"
    return {
        f"{BASE}/classes": openapi_get("Every asset class", tag, []),
        f"{BASE}/classes/{{ref}}": openapi_get(
            "One asset class by id or name", tag,
            [path_param("ref", {"type": "string"})], True),
        f"{BASE}/assets": openapi_get("Assets matching every filter given", tag, [
            query_param("class", "the asset class id", ID_SCHEMA),
            query_param("owner", "the owner's account", ADDRESS_SCHEMA),
            query_param("state", "the asset state",
                        {"type": "string", "enum": list(ASSET_STATES)}),
            query_param("securedParty", "a secured party's account", ADDRESS_SCHEMA),
        ]),
        f"{BASE}/assets/{{id}}": openapi_get(
            "One asset with its approvals, pledges and full history", tag,
            [path_param("id", ID_SCHEMA)], True),
    }
