"""Governance over REST: the read-only /api/v1 routes (members, proposals, rules, officers,
task forces, roles, validators, nodes, frozen, deploy allowlist) and their OpenAPI paths,
built from governance's declared surface (`consortium.apps.governance_surface`)."""

from __future__ import annotations

from typing import Any

from starlette.routing import Route

from consortium.api.service_reads import RunSync
from consortium.api.service_surface import openapi_paths, rest_routes
from consortium.apps.governance_surface import GOVERNANCE
from consortium.ledger.types import LedgerReader


def governance_routes(ledger: LedgerReader, run_sync: RunSync[Any]) -> list[Route]:
    return rest_routes(GOVERNANCE, ledger, run_sync)


def governance_openapi_paths() -> dict[str, Any]:
    return openapi_paths(GOVERNANCE)
