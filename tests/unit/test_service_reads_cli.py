"""The service CLIs' tables (outside report P6, P7): `invoice due` prints the invoice table
(member names, readable headers, yes/no), `taskforce list` / `show` name the lead and the
members, `registry assets` names the class, and `proposals --open` shows an app-call's decoded
method rather than its calldata. The commands run through `main(argv)` against stand-in
clients (the tables are what is tested); member names come from a stand-in local network."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from consortium.cli import kit
from consortium.cli.main import main

SELLER, BUYER, LEAD, OTHER = ("0x" + c * 40 for c in "abcd")
NAMES = {"Acme Trading": SELLER, "Globex Retail": BUYER, "Bank A": LEAD, "Bank B": OTHER}
CALL = "0x" + "ab" * 300  # an app-call's calldata


@pytest.fixture(autouse=True)
def wide(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kit.console, "width", 250)
    monkeypatch.setattr(kit, "members", lambda dir: dict(NAMES))


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main([*argv, "--rpc", "http://127.0.0.1:9"])
    out = capsys.readouterr()
    assert code == 0, out.err
    return out.out


def stand_in(monkeypatch: pytest.MonkeyPatch, module: str, name: str, **reads: Any) -> None:
    reads = {"height": lambda: 100} | reads

    class Client:
        def __init__(self, url: str, **options: Any) -> None:
            self.read = SimpleNamespace(**reads)

        def __getattr__(self, attr: str) -> Any:
            if attr in reads:
                return reads[attr]
            raise AttributeError(attr)

    monkeypatch.setattr(f"{module}.{name}", Client)


def test_invoice_due_prints_the_invoice_table(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    invoice = {"fingerprint": "0x" + "12" * 32, "state": "financed", "seller": SELLER,
               "buyer": BUYER, "amount": 1000, "currency": "CNY", "dueDate": "2030-06-01",
               "financed": 800, "taxVerified": False, "issuedAt": 12, "assignee": LEAD,
               "registrant": SELLER, "updatedAt": 14, "confirmedAt": 13}
    stand_in(monkeypatch, "consortium.apps.invoices.client", "InvoiceClient",
             by_due_date=lambda until, since=None: [invoice])
    out = run(capsys, "invoice", "due", "2031-01-01")
    assert "Invoices due (1)" in out
    assert "Acme Trading" in out and "Globex Retail" in out and SELLER not in out
    assert "1000 CNY" in out and "no" in out.split()
    for raw in ("taxVerified", "issuedAt", "False"):
        assert raw not in out


def test_task_forces_name_their_lead_and_members(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    force = {"name": "Research", "charter": "tokenised deposits PoC", "lead": LEAD,
             "members": [LEAD, OTHER], "formedAt": 7}
    stand_in(monkeypatch, "consortium.system.client", "GovernanceClient",
             task_forces=lambda: [force], task_force=lambda name: force)
    out = run(capsys, "taskforce", "list")
    assert "Bank A" in out and LEAD not in out
    out = run(capsys, "taskforce", "show", "Research")
    assert "Bank A" in out and "Bank B" in out and OTHER not in out


def test_open_proposals_show_the_decoded_method(monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    proposal = {"id": 3, "kind": "app-call", "status": "open", "yesWeight": 1, "noWeight": 0,
                "expiresAt": 99, "params": {"contract": "0x" + "0" * 36 + "2003",
                                            "call": CALL,
                                            "method": "Registry.createClass('Land', 2)"}}
    stand_in(monkeypatch, "consortium.system.client", "GovernanceClient",
             proposals=lambda open_only=False: [proposal])
    out = run(capsys, "proposals", "--open")
    assert "method=Registry.createClass('Land', 2)" in out
    assert CALL[:40] not in out and "abababab" not in out


def test_registry_assets_name_their_class(monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    asset = {"id": 1, "class": 2, "owner": SELLER, "state": "registered", "approvals": 2,
             "k": 2, "activePledges": 0, "externalIdHash": "0x" + "34" * 32}
    classes = [{"id": 1, "name": "Vehicles"}, {"id": 2, "name": "Land parcels"}]
    stand_in(monkeypatch, "consortium.apps.registry.client", "RegistryClient",
             assets=lambda **filters: [asset], classes=lambda: classes)
    out = run(capsys, "registry", "assets")
    assert "Land parcels" in out and "Acme Trading" in out and "Vehicles" not in out
