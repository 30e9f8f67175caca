"""Governance through the node's API: the consortium_* JSON-RPC methods and REST routes,
the typed GovernanceClient over HTTP, and the CLI commands — on a real Ledger behind a real
API server, with a stub engine that commits whatever CheckTx admitted."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from consortium.errors import ExecutionReverted
from consortium.system.client import GovernanceClient
from consortium.system.model import PROPOSAL_KINDS
from tests.support.governance_testkit import BANKS, OUTSIDER, governed_ledger, node_id
from tests.support.jsonrpc_testkit import StubEngine
from tests.support.services_api_testkit import LiveNode
from tests.support.services_api_testkit import run_cli as cli

A, B, C, D = (b.address.lower() for b in BANKS[:4])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    """A governed ledger behind the API (the plain stub engine), keystores bank0 … bank3."""
    node = LiveNode(tmp_path_factory.mktemp("gov-api"), ledger=governed_ledger,
                    parties={f"bank{i}": acct for i, acct in enumerate(BANKS[:4])},
                    node_name="gov-node", engine=StubEngine)
    yield node
    node.close()


def test_consortium_rpc_reads(live: LiveNode) -> None:
    members = live.rpc("consortium_members")["result"]
    assert [m["name"] for m in members] == ["Bank A", "Bank B", "Bank C", "Bank D"]
    assert live.rpc("consortium_member", "Bank B")["result"]["accounts"] == [B]
    assert live.rpc("consortium_member", 3)["result"]["name"] == "Bank C"
    assert live.rpc("consortium_member", D)["result"]["id"] == 4
    assert live.rpc("consortium_member", "nobody")["result"] is None
    assert live.rpc("consortium_proposal", 999)["result"] is None
    assert len(live.rpc("consortium_rules")["result"]) == len(PROPOSAL_KINDS)
    assert live.rpc("consortium_roles", A)["result"] == {
        "account": A,
        "roles": ["committee", "member"],
    }
    assert live.rpc("consortium_roles")["result"]["regulator"] == []
    assert [n["nodeId"] for n in live.rpc("consortium_nodes")["result"]][0] == node_id(0)
    validators = live.rpc("consortium_validators")["result"]
    assert len(validators) == 4 and len(validators[0]["address"]) == 40
    assert live.rpc("consortium_frozen")["result"] == []
    assert live.rpc("consortium_deployAllowlist")["result"] == []
    assert live.rpc("consortium_officers")["result"] == []
    assert live.rpc("consortium_taskForces")["result"] == []
    assert live.rpc("consortium_taskForce", "none")["result"] is None
    bad = live.rpc("consortium_proposals", "everything")["error"]
    assert bad["code"] == -32602
    assert live.rpc("consortium_roles", "0x12")["error"]["code"] == -32602


def test_rest_routes(live: LiveNode) -> None:
    client = TestClient(live.app)
    assert [m["id"] for m in client.get("/api/v1/members").json()] == [1, 2, 3, 4]
    assert client.get("/api/v1/members/Bank%20A").json()["accounts"] == [A]
    assert client.get("/api/v1/members/nobody").status_code == 404
    assert client.get("/api/v1/proposals/x").status_code == 400
    assert client.get("/api/v1/proposals/999").status_code == 404
    assert client.get(f"/api/v1/roles/{B}").json()["roles"] == ["committee", "member"]
    assert len(client.get("/api/v1/validators").json()) == 4
    assert client.get("/api/v1/rules").json()[0]["kind"] == "admit-member"
    paths = client.get("/openapi.json").json()["paths"]
    assert "/api/v1/proposals/{id}" in paths and "/api/v1/status" in paths


def test_client_proposes_votes_and_sees_reasons(live: LiveNode) -> None:
    gov = GovernanceClient(live.url)
    out = gov.propose_grant_role(BANKS[0], C, "auditor")
    assert out["kind"] == "grant-role" and out["status"] == "open"
    pid = out["proposal"]
    assert gov.vote(BANKS[0], pid, True)["status"] == "open"
    with pytest.raises(ExecutionReverted) as refused:
        gov.vote(BANKS[0], pid, True)
    assert f"member 'Bank A' already voted on proposal {pid}" in refused.value.message
    assert gov.vote(BANKS[1], pid, True)["status"] == "open"
    assert gov.vote(BANKS[2], pid, True)["status"] == "executed"
    assert "auditor" in gov.roles(C)["roles"]
    with pytest.raises(ExecutionReverted) as refused:
        gov.vote(BANKS[3], pid, False)
    assert f"proposal {pid} was already executed" in refused.value.message
    proposal = live.rpc("consortium_proposal", pid)["result"]
    assert proposal["status"] == "executed"
    assert [v["vote"] for v in proposal["votes"]] == ["yes", "yes", "yes"]
    with pytest.raises(ExecutionReverted) as refused:
        gov.propose_form_task_force(BANKS[0], "Ops", "", A, [A, OUTSIDER.address])
    assert f"{OUTSIDER.address.lower()} is not a consortium account" in refused.value.message


def test_cli_commands(live: LiveNode, capsys: pytest.CaptureFixture[str]) -> None:
    url = live.url
    code, out, _ = cli(capsys, "member", "list", "--rpc", url, "--json")
    assert code == 0 and len(json.loads(out)) == 4
    code, out, _ = cli(capsys, "member", "show", "Bank B", "--rpc", url)
    assert code == 0 and "Bank B" in out and B in out
    signer = live.signed("bank0")
    code, out, err = cli(
        capsys,
        "propose",
        "elect-officer",
        "--office",
        "chair",
        "--holder",
        B,
        "--term-blocks",
        "1000",
        "--rpc",
        url,
        *signer,
        "--json",
    )
    assert code == 0, err
    pid = json.loads(out)["proposal"]
    for i in (0, 1, 2):
        code, out, err = cli(
            capsys,
            "vote",
            str(pid),
            "yes",
            "--rpc",
            url,
            *live.signed(f"bank{i}"),
            "--json",
        )
        assert code == 0, err
    assert json.loads(out)["status"] == "executed"
    code, out, _ = cli(capsys, "officers", "--rpc", url, "--json")
    assert json.loads(out)[0]["holder"] == B
    code, out, _ = cli(capsys, "officers", "--rpc", url)
    assert "chair" in out
    code, out, _ = cli(capsys, "proposals", "--rpc", url)
    assert "elect-officer" in out
    code, out, _ = cli(capsys, "proposals", str(pid), "--rpc", url, "--json")
    assert json.loads(out)["votes"][0]["name"] == "Bank A"
    code, out, err = cli(capsys, "vote", str(pid), "yes", "--rpc", url, *signer)
    assert code == 1 and "already executed" in err
    code, out, err = cli(
        capsys,
        "propose",
        "change-rule",
        "--type",
        "grant-role",
        "--participation",
        "50.01%",
        "--win-rate",
        "6667",
        "--period",
        "20",
        "--rpc",
        url,
        *signer,
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["status"] == "open"
    code, out, _ = cli(capsys, "proposals", "--open", "--rpc", url, "--json")
    assert [p["kind"] for p in json.loads(out)] == ["change-rule"]
    code, out, err = cli(capsys, "revoke", str(json.loads(out)[0]["id"]), "--rpc", url, *signer)
    assert code == 0, err
    code, out, err = cli(
        capsys,
        "propose",
        "form-taskforce",
        "--name",
        "Ops",
        "--lead",
        A,
        "--member",
        A,
        "--member",
        OUTSIDER.address,
        "--rpc",
        url,
        *signer,
    )
    assert code == 1 and "is not a consortium account" in err
    code, out, _ = cli(capsys, "roles", "--rpc", url)
    assert code == 0 and "committee" in out
    code, out, _ = cli(capsys, "taskforce", "list", "--rpc", url, "--json")
    assert json.loads(out) == []


def test_cli_task_force_members_by_name(
    live: LiveNode, capsys: pytest.CaptureFixture[str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """--lead and --member take member names, like every other account option; the names
    come from the chain's member registry (no local network folder here)."""
    monkeypatch.chdir(tmp_path)
    signer = [*live.signed("bank0"), "--rpc", live.url]
    code, out, err = cli(capsys, "propose", "form-taskforce", "--name", "Risk", "--lead",
                         "Bank B", "--member", "bank b", "--member", C, *signer, "--json")
    assert code == 0, err
    pid = json.loads(out)["proposal"]
    code, out, _ = cli(capsys, "proposals", str(pid), "--rpc", live.url, "--json")
    params = json.loads(out)["params"]
    assert (params["lead"], params["members"]) == (B, [B, C])
    code, _, err = cli(capsys, "revoke", str(pid), *signer)
    assert code == 0, err
    # No task force "Ops": the contract refuses, so the names were resolved to accounts.
    code, _, err = cli(capsys, "propose", "set-taskforce-members", "--name", "Ops", "--lead",
                       "Bank C", "--member", "Bank C", "--member", "Bank D", *signer)
    assert code == 1 and "no task force named 'Ops'" in err, err
    code, _, err = cli(capsys, "propose", "form-taskforce", "--name", "Risk", "--lead",
                       "Bank Z", "--member", "Bank B", *signer)
    assert code == 1 and "--lead 'Bank Z' is not a 0x account or a member name" in err
