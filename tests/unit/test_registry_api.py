"""The registry through a node's API: the typed RegistryClient over HTTP (classes proposed and
voted, registration, pledges, transfers, freezes), the consortium_asset* JSON-RPC methods, the
REST routes and the `consortium registry` commands — on a real Ledger behind a real API
server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from consortium.apps.invoices.fingerprint import write_key
from consortium.apps.registry import RegistryClient
from consortium.apps.registry.reader import CALLS
from consortium.errors import ConfigError, ExecutionReverted
from consortium.system.client import GovernanceClient
from tests.support.services_api_testkit import LiveNode
from tests.support.services_testkit import (
    BANK_A,
    BANK_B,
    COURT,
    OWNER,
    OWNER_2,
    REGISTRAR_1,
    REGISTRAR_2,
    REGISTRAR_3,
    low,
)

KEY = bytes(range(32))


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    node = LiveNode(tmp_path_factory.mktemp("registry-api"))
    write_key(node.keys / "consortium.key", KEY)
    yield node
    node.close()


@pytest.fixture(scope="module")
def registry(live: LiveNode) -> RegistryClient:
    client = RegistryClient(live.url, key=KEY)
    out = client.propose_class(BANK_A, "Land title", schema=b"{parcel, area}",
                               registrars=[r.address for r in (REGISTRAR_1, REGISTRAR_2,
                                                                REGISTRAR_3)], k=2)
    gov = GovernanceClient(live.url)
    gov.vote(BANK_A, out["proposal"], True)
    assert gov.vote(BANK_B, out["proposal"], True)["status"] == "executed"
    return client


def test_client_flow(registry: RegistryClient) -> None:
    with pytest.raises(ExecutionReverted, match="only the Governance contract"):
        registry.transact(BANK_A, "createClass", "X", b"\x01" * 32, [REGISTRAR_1.address], 1)
    applied = registry.apply(OWNER, "Land title", "parcel 0001", metadata=b"deed 1")
    assert (applied["object"], applied["state"]) == ("asset", "applied")
    asset = applied["id"]
    assert registry.approve_registration(REGISTRAR_1, asset)["state"] == "applied"
    with pytest.raises(ExecutionReverted, match="counts once"):
        registry.approve_registration(REGISTRAR_1, asset)
    assert registry.approve_registration(REGISTRAR_2, asset)["state"] == "registered"
    with pytest.raises(ExecutionReverted, match="already registered in class 'Land title'"):
        registry.apply(OWNER_2, 1, " PARCEL  0001", metadata=b"deed 1 again")
    assert registry.find("Land title", "Parcel 0001")["id"] == asset  # type: ignore[index]

    assert registry.pledge(OWNER, asset, BANK_A.address)["state"] == "encumbered"
    with pytest.raises(ExecutionReverted, match="until the secured party releases it"):
        registry.request_transfer(OWNER, asset, OWNER_2.address)
    with pytest.raises(ConfigError, match="holds no active pledge"):
        registry.release(BANK_B, asset)
    assert registry.release(BANK_A, asset)["state"] == "registered"
    assert registry.request_transfer(OWNER, asset, OWNER_2.address)["state"] == \
        "transfer_pending"
    assert registry.accept_transfer(OWNER_2, asset)["state"] == "registered"
    assert registry.freeze(COURT, asset, "court order 5")["state"] == "frozen"
    with pytest.raises(ExecutionReverted, match="frozen by the authority"):
        registry.pledge(OWNER_2, asset, BANK_B.address)
    assert registry.unfreeze(COURT, asset, "lifted")["state"] == "registered"
    found = registry.asset(asset)
    assert found is not None and found["owner"] == low(OWNER_2)
    assert [h["to"] for h in found["history"]] == [
        "applied", "applied", "registered", "encumbered", "registered", "transfer_pending",
        "registered", "frozen", "registered"]


def test_json_rpc_and_rest(live: LiveNode, registry: RegistryClient) -> None:
    asset = registry.apply(REGISTRAR_3, 1, "parcel 0002", metadata=b"deed 2",
                           owner=OWNER.address)["id"]
    classes = live.rpc("consortium_assetClasses")["result"]
    assert [(c["name"], c["k"]) for c in classes] == [("Land title", 2)]
    assert live.rpc("consortium_assetClass", "land title")["result"]["id"] == 1
    assert live.rpc("consortium_assetClass", 7)["result"] is None
    found = live.rpc("consortium_asset", asset)["result"]
    assert (found["owner"], found["applicant"], found["state"]) == (
        low(OWNER), low(REGISTRAR_3), "applied")
    assert found["history"][0]["actor"] == low(REGISTRAR_3)
    assert live.rpc("consortium_asset", 999)["result"] is None
    listed = live.rpc("consortium_assets", {"class": 1, "state": "applied"})["result"]
    assert asset in [a["id"] for a in listed]
    every = live.rpc("consortium_assets", {})["result"]
    assert live.rpc("consortium_assets", {"limit": 1, "after": every[0]["id"]})["result"] == \
        every[1:2]
    assert live.rpc("consortium_assets", {"state": "lost"})["error"]["code"] == -32602
    assert live.rpc("consortium_assets", {"class": 0})["error"]["code"] == -32602

    http = TestClient(live.app)
    assert http.get(f"/api/v1/registry/assets/{asset}").json()["state"] == "applied"
    assert http.get("/api/v1/registry/assets/999").status_code == 404
    assert http.get("/api/v1/registry/assets/x").status_code == 400
    assert [a["id"] for a in http.get("/api/v1/registry/assets",
                                      params={"owner": OWNER.address, "state": "applied"}
                                      ).json()] == [asset]
    assert http.get("/api/v1/registry/classes/Land title").json()["k"] == 2
    assert http.get("/api/v1/registry/classes").json()[0]["name"] == "Land title"
    assert "/api/v1/registry/assets/{id}" in http.get("/openapi.json").json()["paths"]


def test_cli_commands(live: LiveNode, registry: RegistryClient, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    key = ["--key-file", str(live.keys / "consortium.key")]
    deed = tmp_path / "deed.pdf"
    deed.write_bytes(b"deed of parcel 3")
    code, out, err = live.cli(capsys, "registry", "apply", "--class", "Land title",
                              "--external-id", "PARCEL-0003", "--metadata", str(deed), *key,
                              *live.signed("Owner"), "--json")
    assert code == 0, err
    asset = str(json.loads(out)["id"])
    code, _, err = live.cli(capsys, "registry", "apply", "--class", "1", "--external-id",
                            "parcel-0003", "--metadata", str(deed), *key,
                            *live.signed("Owner 2"))
    assert code == 1 and "already registered" in err and err.count("\n") == 1
    for registrar in ("Registrar 1", "Registrar 3"):
        code, out, err = live.cli(capsys, "registry", "approve", asset,
                                  *live.signed(registrar))
        assert code == 0, err
    assert "registered" in out
    code, _, err = live.cli(capsys, "registry", "pledge", asset, "--to", BANK_B.address,
                            *live.signed("Owner"))
    assert code == 0, err
    code, _, err = live.cli(capsys, "registry", "transfer", asset, "--to", OWNER_2.address,
                            *live.signed("Owner"))
    assert code == 1 and "encumbered" in err
    code, _, err = live.cli(capsys, "registry", "freeze", asset, "--reason", "x",
                            *live.signed("Owner"))
    assert code == 1 and "does not hold the court role" in err
    code, _, err = live.cli(capsys, "registry", "release", asset, *live.signed("Bank B"))
    assert code == 0, err
    code, out, _ = live.cli(capsys, "registry", "show", asset, "--json")
    shown = json.loads(out)
    assert shown["state"] == "registered" and shown["pledges"][0]["state"] == "released"
    code, out, _ = live.cli(capsys, "registry", "show", asset)
    assert code == 0 and "History" in out and "Pledges" in out
    code, out, _ = live.cli(capsys, "registry", "find", "--class", "Land title",
                            "--external-id", "Parcel-0003", *key, "--json")
    assert code == 0 and str(json.loads(out)["id"]) == asset
    code, out, _ = live.cli(capsys, "registry", "assets", "--owner", OWNER.address, "--json")
    assert asset in [str(a["id"]) for a in json.loads(out)]
    code, out, _ = live.cli(capsys, "registry", "classes")
    assert code == 0 and "Land title" in out
    code, out, err = live.cli(capsys, "registry", "propose-class", "--name", "Vehicles",
                              "--schema", "0x" + "11" * 32, "--registrar", REGISTRAR_1.address,
                              "--k", "1", *live.signed("Bank A"), "--json")
    assert code == 0 and json.loads(out)["status"] == "open", err
    proposal = json.loads(out)["proposal"]
    code, out, _ = live.cli(capsys, "proposals", str(proposal), "--json")
    assert json.loads(out)["params"]["method"].startswith("Registry.createClass('Vehicles', ")
    # The generic form: any finance service's call, built elsewhere.
    data = CALLS.encode("createClass", "Ships", b"\x22" * 32, [REGISTRAR_2.address], 1)
    code, out, err = live.cli(capsys, "propose", "app-call", "--contract", "0x" + "00" * 18
                              + "2003", "--data", "0x" + data.hex(), *live.signed("Bank B"),
                              "--json")
    assert code == 0 and json.loads(out)["kind"] == "app-call", err
    code, _, err = live.cli(capsys, "registry", "propose-class", "--name", "Land Title",
                            "--schema", "0x" + "11" * 32, "--registrar", REGISTRAR_1.address,
                            "--k", "1", *live.signed("Bank A"))
    assert code == 1 and "already exists" in err


def test_cli_show_reports_who_approved_and_release_gives_the_chains_reason(
    live: LiveNode, registry: RegistryClient, tmp_path: Path,
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./consortium-net: member names are read from the chain
    asset = str(registry.apply(OWNER, "Land title", "PARCEL-0007", metadata=b"deed 7")["id"])
    for registrar in ("Registrar 2", "Registrar 1"):
        code, _, err = live.cli(capsys, "registry", "approve", asset, *live.signed(registrar))
        assert code == 0, err
    # Registered: show names the registrars who approved, as the history does.
    code, out, _ = live.cli(capsys, "registry", "show", asset, "--json")
    shown = json.loads(out)
    assert shown["state"] == "registered"
    assert (shown["approvals"], shown["approvedBy"]) == (2, [low(REGISTRAR_2), low(REGISTRAR_1)])
    approvers = [h["actor"] for h in shown["history"] if "approv" in h["reason"]]
    assert approvers == shown["approvedBy"]
    code, out, _ = live.cli(capsys, "registry", "show", asset)
    assert code == 0 and "2 of 2" in out
    # The secured party by member name; a release by someone else is the chain's refusal.
    code, _, err = live.cli(capsys, "registry", "pledge", asset, "--to", "Bank B",
                            *live.signed("Owner"))
    assert code == 0, err
    code, _, err = live.cli(capsys, "registry", "release", asset, *live.signed("Owner"))
    assert code == 1 and err.count("\n") == 1
    assert f"only the secured party {low(BANK_B)} may release pledge 0 of asset {asset}" in err
    # Still encumbered: the registration approvals are still who registered it.
    code, out, _ = live.cli(capsys, "registry", "show", asset, "--json")
    shown = json.loads(out)
    assert shown["state"] == "encumbered" and shown["approvals"] == 2
    code, _, err = live.cli(capsys, "registry", "release", asset, *live.signed("Bank B"))
    assert code == 0, err
    # A retirement under way: the current round's approvals.
    code, _, err = live.cli(capsys, "registry", "retire", asset, *live.signed("Registrar 3"))
    assert code == 0, err
    code, out, _ = live.cli(capsys, "registry", "show", asset, "--json")
    shown = json.loads(out)
    assert (shown["state"], shown["approvals"], shown["approvedBy"]) == (
        "registered", 1, [low(REGISTRAR_3)])
