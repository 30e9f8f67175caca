"""Credit information sharing over REST: read-only routes answering the same JSON as the
`consortium_credit*` JSON-RPC methods, and their OpenAPI paths.

    GET /api/v1/credit/consents[?subject=0x…&grantee=0x…]
    GET /api/v1/credit/consents/{id}          with its history
    GET /api/v1/credit/records[?subject=0x…&reporter=0x…]
    GET /api/v1/credit/records/{id}           with its corrections and history
    GET /api/v1/credit/queries[?subject=0x…&lender=0x…&agency=0x…&state=delivered]
    GET /api/v1/credit/queries/{id}           with its history
    GET /api/v1/credit/blacklist

Errors answer {"error": "<reason>"} with 400 (bad input) or 404 (not found).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.routing import Route

from consortium.api.credit_rpc import (
    consent_detail,
    consent_filter,
    credit_reader,
    query_detail,
    query_filter,
    record_detail,
    record_filter,
)
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
from consortium.apps.credit.model import QUERY_STATES
from consortium.ledger.types import LedgerReader

BASE = "/api/v1/credit"


def credit_routes(ledger: LedgerReader, run_sync: RunSync[Any]) -> list[Route]:
    def reader() -> Any:
        return credit_reader(ledger)

    def ident(request: Request) -> int:
        return object_id(request.path_params["id"], "id")

    reads = {
        "/consents": (lambda r: reader().consents(
            **consent_filter(dict(r.query_params), "query")), "consents"),
        "/consents/{id}": (lambda r: consent_detail(reader(), ident(r)), "consent"),
        "/records": (lambda r: reader().records(
            **record_filter(dict(r.query_params), "query")), "records"),
        "/records/{id}": (lambda r: record_detail(reader(), ident(r)), "credit record"),
        "/queries": (lambda r: reader().queries(
            **query_filter(dict(r.query_params), "query")), "queries"),
        "/queries/{id}": (lambda r: query_detail(reader(), ident(r)), "query"),
        "/blacklist": (lambda r: reader().blacklist(), "blacklist"),
    }
    return [Route(BASE + path, rest_read(run_sync, read, what), methods=["GET"])
            for path, (read, what) in reads.items()]


def credit_openapi_paths() -> dict[str, Any]:
    def accounts(*names: str) -> list[dict[str, Any]]:
        return [query_param(n, f"the {n}'s account", ADDRESS_SCHEMA) for n in names]

    one = [path_param("id", ID_SCHEMA)]
    tag = "credit"
    return {
        f"{BASE}/consents": openapi_get("Consents matching every filter given", tag,
                                        accounts("subject", "grantee")),
        f"{BASE}/consents/{{id}}": openapi_get("One consent with its history", tag, one, True),
        f"{BASE}/records": openapi_get("Credit records matching every filter given", tag,
                                       accounts("subject", "reporter")),
        f"{BASE}/records/{{id}}": openapi_get(
            "One credit record with its corrections and history", tag, one, True),
        f"{BASE}/queries": openapi_get(
            "Query orders matching every filter given (a subject's: every query about it)",
            tag, [*accounts("subject", "lender", "agency"),
                  query_param("state", "the query state",
                              {"type": "string", "enum": list(QUERY_STATES)})]),
        f"{BASE}/queries/{{id}}": openapi_get("One query order with its history", tag, one,
                                              True),
        f"{BASE}/blacklist": openapi_get(
            "Blacklisted subjects with the reporting member and reason", tag, []),
    }
