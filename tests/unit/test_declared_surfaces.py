"""Every read a service declares (`consortium.apps.services.SERVICES`) is served on every
surface, and every write it declares is a client method and (given a `cli` name) a
command — written once here, so a newly declared read or write is tested on all of them
without a test of its own for each surface (issue 19)."""

from __future__ import annotations

from typing import Any

import pytest
from typer.main import get_command

from consortium.api import jsonrpc
from consortium.api.app import create_app
from consortium.apps.services import SERVICES
from consortium.apps.surface import Read, Service
from consortium.cli.main import app as cli_app

CLI_GROUPS = {"registry": "registry", "credit": "credit", "invoices": "invoice",
              "securities": "securities", "cash": "securities cash", "forum": "forum"}
CLIENTS = {"registry": "consortium.apps.registry.client:RegistryClient",
           "credit": "consortium.apps.credit.client:CreditClient",
           "invoices": "consortium.apps.invoices.client:InvoiceClient",
           "forum": "consortium.apps.forum.client:ForumClient",
           "securities": "consortium.apps.securities.client:SecuritiesClient",
           "cash": "consortium.apps.securities.client:SecuritiesClient"}


def _group(service: Service) -> Any:
    """The CLI group serving `service` (`consortium securities cash` for cash)."""
    group = get_command(cli_app)
    for word in CLI_GROUPS[service.name].split():
        group = group.commands[word]  # type: ignore[attr-defined]
    return group

READS = [(s, r) for s in SERVICES for r in s.reads]


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from tests.support.ledger_testkit import new_ledger

    return create_app(new_ledger(tmp_path_factory.mktemp("surfaces")), "http://127.0.0.1:9")


@pytest.fixture(scope="module")
def openapi(app: Any) -> dict[str, Any]:
    from starlette.testclient import TestClient

    return dict(TestClient(app).get("/openapi.json").json()["paths"])


@pytest.mark.parametrize(("service", "read"), READS, ids=[f"{s.name}.{r.name}" for s, r in READS])
def test_a_declared_read_is_served_everywhere(service: Service, read: Read, app: Any,
                                              openapi: dict[str, Any]) -> None:
    assert read.rpc in jsonrpc._TABLE, f"{read.rpc} is not a JSON-RPC method"
    path = service.rest_base + read.rest
    assert path in {getattr(r, "path", None) for r in app.routes}, f"no route {path}"
    assert openapi[path]["get"]["summary"] == read.summary
    if read.cli is not None:
        group = _group(service)
        assert read.cli in group.commands, f"no `consortium {group.name} {read.cli}`"


def test_declared_writes_are_client_methods_and_commands() -> None:
    import importlib

    for service in SERVICES:
        if not service.writes:
            continue
        module, _, name = CLIENTS[service.name].partition(":")
        client = getattr(importlib.import_module(module), name)
        group = _group(service)
        for write in service.writes:
            assert callable(getattr(client, write.client, None)), f"{name}.{write.client}"
            if write.cli:
                assert write.cli in group.commands, f"no `consortium {group.name} {write.cli}`"
