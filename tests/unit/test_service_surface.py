"""A service's surface declared once (`consortium.apps.surface`) and served by
`consortium.api.service_surface`: for the registry, the generated JSON-RPC handlers, REST
routes and OpenAPI paths answer exactly what the hand-written ones answer, on a real ledger
with a class and assets (issue 19: one declaration, every transport)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from services_api_testkit import LiveNode
from services_testkit import BANK_A, BANK_B, OWNER, REGISTRAR_1, REGISTRAR_2
from starlette.applications import Starlette
from starlette.testclient import TestClient

from consortium.api.encoding import Params
from consortium.api.registry_rest import registry_openapi_paths
from consortium.api.rpc_error import RpcError
from consortium.api.service_surface import openapi_paths, rest_routes, rpc_handlers
from consortium.apps.invoices.fingerprint import write_key
from consortium.apps.registry import RegistryClient
from consortium.apps.registry.surface import REGISTRY
from consortium.system.client import GovernanceClient

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    node = LiveNode(tmp_path_factory.mktemp("surface"))
    write_key(node.keys / "consortium.key", KEY)
    client = RegistryClient(node.url, key=KEY)
    out = client.propose_class(BANK_A, "Land title", schema=b"{parcel}",
                               registrars=[REGISTRAR_1.address, REGISTRAR_2.address], k=2)
    gov = GovernanceClient(node.url)
    gov.vote(BANK_A, out["proposal"], True)
    gov.vote(BANK_B, out["proposal"], True)
    first = client.apply(OWNER, "Land title", "parcel 1", metadata=b"deed 1")["id"]
    client.apply(OWNER, "Land title", "parcel 2", metadata=b"deed 2")
    client.approve_registration(REGISTRAR_1, first)
    client.approve_registration(REGISTRAR_2, first)
    client.pledge(OWNER, first, BANK_A.address)
    yield node
    node.close()


CALLS: list[tuple[str, list[Any]]] = [
    ("consortium_assetClasses", []),
    ("consortium_assetClass", [1]), ("consortium_assetClass", ["land title"]),
    ("consortium_assetClass", [9]), ("consortium_assetClass", [""]),
    ("consortium_asset", [1]), ("consortium_asset", [2]), ("consortium_asset", [99]),
    ("consortium_asset", ["x"]), ("consortium_asset", []), ("consortium_asset", [1, 2]),
    ("consortium_assets", []), ("consortium_assets", [{"state": "encumbered"}]),
    ("consortium_assets", [{"class": 1, "owner": OWNER.address}]),
    ("consortium_assets", [{"state": "lost"}]), ("consortium_assets", [{"class": 0}]),
    ("consortium_assets", [{"colour": "red"}]), ("consortium_assets", ["all"]),
]


def _same_names(new: Any, old: dict[str, Any]) -> bool:
    """Equal, but a list of filter names in parentheses may come in the declaration's
    order."""
    def norm(error: Any) -> Any:
        if not isinstance(error, dict):
            return error
        listed = re.sub(r"\((\w+: )?([^()]*)\)",
                        lambda m: "(" + (m.group(1) or "")
                        + ", ".join(sorted(m.group(2).split(", "))) + ")",
                        error["message"])
        return {**error, "message": listed}

    return bool(norm(new) == norm(old))


def test_generated_json_rpc_answers_as_the_hand_written(live: LiveNode) -> None:
    handlers = rpc_handlers((REGISTRY,))
    assert set(handlers) == {m for m, _ in CALLS}
    for method, params in CALLS:
        old = live.rpc(method, *params)
        try:
            new: dict[str, Any] = {"result": handlers[method](live.ledger,
                                                              Params(params, method))}
        except RpcError as err:
            new = {"error": {"code": err.code, "message": err.message}}
        if "error" in old:
            want = {k: old["error"][k] for k in ("code", "message")}
            assert _same_names(new.get("error"), want), (method, params)
        else:
            assert new == {"result": old["result"]}, (method, params)


def test_generated_rest_routes_and_openapi_as_the_hand_written(live: LiveNode) -> None:
    async def run_sync(fn: Any) -> Any:
        return fn()

    generated = TestClient(Starlette(routes=rest_routes(REGISTRY, live.ledger, run_sync)))
    served = TestClient(live.app)
    for path in ["/classes", "/classes/1", "/classes/Land title", "/classes/7", "/assets",
                 "/assets?state=encumbered", "/assets?owner=" + OWNER.address.lower(),
                 "/assets?state=lost", "/assets?class=x", "/assets/1", "/assets/99",
                 "/assets/x"]:
        old, new = served.get("/api/v1/registry" + path), generated.get(
            "/api/v1/registry" + path)
        assert (new.status_code, new.json()) == (old.status_code, old.json()), path
    assert openapi_paths(REGISTRY) == registry_openapi_paths()
