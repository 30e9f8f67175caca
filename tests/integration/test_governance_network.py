"""Issue 5: on-chain governance on a real 4-validator network (one network for the module).

Four founding members, one validator each (power 10), weight 1 each; the default rules pass
a proposal with 3 of 4 yes votes (more than half takes part, more than half says yes), rule
changes and expulsions with two thirds. The tests run in order on the same chain and each
leaves the consortium as it found it, except the last, which grows it by a fifth member.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from consortium.cli.main import main
from consortium.errors import ExecutionReverted
from consortium.network import supervisor
from consortium.network.layout import Network
from consortium.system.client import GovernanceClient
from tests.support.evmutil import dev_accounts, receipt, send, web3_for
from tests.support.localnet import LocalNet, wait_for

MEMBERS = ["Bank A", "Bank B", "Bank C", "Bank D"]
OUTSIDER = "0x" + "5e" * 20


class Consortium:
    def __init__(self, root: Path) -> None:
        self.net = LocalNet(root / "net", validators=4)
        try:
            self.net.up()
            self.net.wait_height(2)
        except BaseException:
            self.net.cleanup()  # a start that fails must not leave nodes running
            raise
        self.keys = dev_accounts(self.net)
        self.gov = GovernanceClient(self.net.node("node0").api_url)
        self.joined: Network | None = None

    def account(self, member: str) -> str:
        return self.keys[member].address.lower()

    def vote(self, member: str, proposal: int, support: bool = True) -> dict[str, Any]:
        return self.gov.vote(self.keys[member], proposal, support)

    def pass_(self, outcome: dict[str, Any]) -> int:
        """Vote yes as the members, in order, until the proposal executes."""
        pid = outcome["proposal"]
        status = outcome["status"]
        for member in MEMBERS:
            if status != "open":
                break
            if member in {v["name"] for v in self.gov.read.votes(pid)}:
                continue
            status = self.vote(member, pid)["status"]
        assert status == "executed", self.gov.proposal(pid)
        return int(pid)

    def height(self) -> int:
        return int(self.gov.client.w3.eth.block_number)

    def close(self) -> None:
        try:
            if self.joined is not None:
                supervisor.down(self.joined)
        finally:
            self.net.cleanup()


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    consortium = Consortium(tmp_path_factory.mktemp("governance"))
    try:
        yield consortium
    finally:
        consortium.close()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> Any:
    code = main(list(argv))
    out = capsys.readouterr()
    assert code == 0, out.err
    return json.loads(out.out)


def refused(fn: Any, *args: Any) -> str:
    with pytest.raises(ExecutionReverted) as info:
        fn(*args)
    return str(info.value.message)


def test_refusals_are_clear(c: Consortium) -> None:
    """A double vote, a vote after expiry, a second execution and a vote by an expulsion's
    target are refused, with the contract's reason reaching the client."""
    a, b, d = c.keys["Bank A"], c.keys["Bank B"], c.keys["Bank D"]
    first = c.gov.propose_grant_role(a, c.account("Bank C"), "auditor")["proposal"]
    assert c.vote("Bank A", first)["status"] == "open"
    assert f"member 'Bank A' already voted on proposal {first}" in refused(
        c.gov.vote, a, first, True
    )
    c.pass_({"proposal": first, "status": "open"})
    assert f"proposal {first} was already executed" in refused(c.gov.vote, d, first, True)

    # a short voting period for allowlist changes, so a proposal expires within the test
    c.pass_(c.gov.propose_change_rule(a, "set-deploy-allowlist", 5001, 5001, 8))
    late = c.gov.propose_set_deploy_allowlist(a, [c.account("Bank A")])["proposal"]
    expires = c.gov.proposal(late)["expiresAt"]
    wait_for(lambda: c.height() >= expires, 60, f"height {expires}")
    assert c.gov.proposal(late)["status"] == "expired"
    assert f"proposal {late} expired at height {expires}" in refused(c.gov.vote, b, late, True)
    assert c.gov.read.deploy_allowlist() == []

    expel = c.gov.propose_expel_member(a, "Bank D")["proposal"]
    assert (
        f"member 'Bank D' is the target of expulsion proposal {expel} and cannot vote on it"
    ) in refused(c.gov.vote, d, expel, False)
    assert c.gov.revoke(a, expel)["status"] == "revoked"
    assert c.gov.member("Bank D")["status"] == "active"


def test_changing_the_win_rate_leaves_open_proposals_on_their_rules(c: Consortium) -> None:
    a = c.keys["Bank A"]
    early = c.gov.propose_grant_role(a, c.account("Bank A"), "operator")["proposal"]
    c.pass_(c.gov.propose_change_rule(a, "grant-role", 5001, 10000, 1000))
    late = c.gov.propose_grant_role(a, c.account("Bank B"), "operator")["proposal"]
    assert c.gov.proposal(early)["rule"]["winRate"] == 5001
    assert c.gov.proposal(late)["rule"]["winRate"] == 10000
    for pid in (early, late):
        c.vote("Bank A", pid)
        c.vote("Bank B", pid)
        c.vote("Bank C", pid, False)
    assert c.gov.proposal(early)["status"] == "executed"  # 2 of 3 under 50.01%
    assert c.gov.proposal(late)["status"] == "rejected"  # under 100% a "no" sinks it
    assert "operator" in c.gov.roles(c.account("Bank A"))["roles"]
    assert "operator" not in c.gov.roles(c.account("Bank B"))["roles"]
    c.pass_(c.gov.propose_change_rule(a, "grant-role", 5001, 5001, 10000))


def test_an_officer_is_vacant_after_the_term(
    c: Consortium, capsys: pytest.CaptureFixture[str]
) -> None:
    out = cli(
        capsys,
        "propose",
        "elect-officer",
        "--office",
        "chair",
        "--holder",
        c.account("Bank C"),
        "--term-blocks",
        "6",
        "--from",
        "Bank A",
        "--dir",
        str(c.net.root),
        "--json",
    )
    for member in ("Bank A", "Bank B", "Bank C"):
        status = cli(
            capsys,
            "vote",
            str(out["proposal"]),
            "yes",
            "--from",
            member,
            "--dir",
            str(c.net.root),
            "--json",
        )["status"]
    assert status == "executed"
    (chair,) = cli(capsys, "officers", "--dir", str(c.net.root), "--json")
    assert chair["holder"] == c.account("Bank C") and not chair["vacant"]
    wait_for(lambda: c.height() >= chair["termEnd"], 60, f"height {chair['termEnd']}")
    (chair,) = cli(capsys, "officers", "--dir", str(c.net.root), "--json")
    assert chair["vacant"] and chair["holder"] is None
    assert chair["lastHolder"] == c.account("Bank C")


def test_a_frozen_account_is_refused_at_check_tx(c: Consortium) -> None:
    a, d = c.keys["Bank A"], c.keys["Bank D"]
    w3 = web3_for(c.net, "node1")
    c.pass_(c.gov.propose_freeze(a, c.account("Bank D")))
    assert c.gov.read.frozen() == [c.account("Bank D")]
    with pytest.raises(Exception) as info:
        send(w3, d, {"to": a.address, "value": 1, "gas": 21_000})
    assert "account frozen" in str(info.value)
    c.pass_(c.gov.propose_unfreeze(a, c.account("Bank D")))
    assert receipt(w3, send(w3, d, {"to": a.address, "value": 1, "gas": 21_000}))["status"] == 1


def test_a_non_member_cannot_join_a_task_force(
    c: Consortium, capsys: pytest.CaptureFixture[str]
) -> None:
    a = c.keys["Bank A"]
    reason = refused(
        c.gov.propose_form_task_force,
        a,
        "Risk",
        "Watch risk",
        c.account("Bank A"),
        [c.account("Bank A"), OUTSIDER],
    )
    assert f"task force member {OUTSIDER} is not a consortium account" in reason
    c.pass_(
        c.gov.propose_form_task_force(
            a, "Risk", "Watch risk", c.account("Bank A"), [c.account("Bank A"), c.account("Bank B")]
        )
    )
    (risk,) = cli(capsys, "taskforce", "list", "--dir", str(c.net.root), "--json")
    assert risk["members"] == [c.account("Bank A"), c.account("Bank B")]
    # the same reads through the node's consortium_* JSON-RPC and REST
    api = c.net.node("node2").api_url
    answer = httpx.post(
        api,
        json={"jsonrpc": "2.0", "id": 1, "method": "consortium_taskForce", "params": ["Risk"]},
        timeout=10,
    ).json()
    assert answer["result"]["lead"] == c.account("Bank A")
    assert [m["name"] for m in httpx.get(f"{api}/api/v1/members", timeout=10).json()] == MEMBERS


def _validators(c: Consortium, node: str = "node0") -> dict[str, int]:
    out = httpx.get(f"{c.net.node(node).rpc_url}/validators", timeout=5).json()["result"]
    return {v["address"]: int(v["voting_power"]) for v in out["validators"]}


def _signers(c: Consortium, height: int) -> set[str]:
    out = httpx.get(
        f"{c.net.node('node0').rpc_url}/commit", params={"height": height}, timeout=5
    ).json()["result"]
    return {
        s["validator_address"]
        for s in out["signed_header"]["commit"]["signatures"]
        if s["block_id_flag"] == 2
    }


def test_a_fifth_institution_joins_validates_and_leaves_the_validator_set(
    c: Consortium, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    node0 = c.net.node("node0")
    genesis = c.net.network.node_home(node0) / "config" / "genesis.json"
    (tmp_path / "password").write_text("")
    joined = cli(
        capsys,
        "join",
        "--genesis",
        str(genesis),
        "--peer",
        f"{node0.node_id}@127.0.0.1:{node0.p2p_port}",
        "--dir",
        str(tmp_path / "bank-e"),
        "--name",
        "Bank E",
        "--password-file",
        str(tmp_path / "password"),
        "--json",
    )
    network = Network.load(Path(joined["root"]))
    c.joined = network
    supervisor.up(network)
    bank_e = network.nodes[0]

    def peers(url: str) -> set[str]:
        info = httpx.get(f"{url}/net_info", timeout=5).json()["result"]
        return {p["node_info"]["id"] for p in info["peers"]}

    # before: refused as a peer
    wait_for(
        lambda: f"peer {joined['node_id']} refused" in c.net.log("node0"),
        60,
        "node0 to refuse the newcomer",
    )
    # the newcomer may hold the connection for a moment until node0's refusal reaches it
    wait_for(lambda: peers(bank_e.rpc_url) == set(), 30, "the newcomer to have no peers")
    assert joined["node_id"] not in peers(node0.rpc_url)

    # the vote admits the institution with its node: it connects and catches up
    out = cli(
        capsys,
        "propose",
        "admit-member",
        "--name",
        "Bank E",
        "--account",
        joined["account"],
        "--node-id",
        joined["node_id"],
        "--tier",
        "ordinary",
        "--from",
        "Bank A",
        "--dir",
        str(c.net.root),
        "--json",
    )
    c.pass_(out)
    assert c.gov.member("Bank E")["nodes"] == [joined["node_id"]]
    wait_for(lambda: node0.node_id in peers(bank_e.rpc_url), 90, "Bank E to connect")
    wait_for(
        lambda: (
            httpx.get(f"{bank_e.rpc_url}/status", timeout=5).json()["result"]["sync_info"][
                "latest_block_height"
            ]
            not in ("0", None)
            and int(
                httpx.get(f"{bank_e.rpc_url}/status", timeout=5).json()["result"]["sync_info"][
                    "latest_block_height"
                ]
            )
            >= c.height() - 1
        ),
        120,
        "Bank E to catch up",
    )

    # a second vote makes its node a validator: it shows in /validators and signs blocks
    address = joined["validator_address"]
    c.pass_(c.gov.propose_add_validator(c.keys["Bank A"], joined["validator_pub_key"], 10))
    wait_for(lambda: _validators(c).get(address) == 10, 60, "the validator set to grow")
    start = c.height()
    wait_for(lambda: c.height() >= start + 2, 60, "two more blocks")
    assert address in _signers(c, start + 1)
    assert {v["address"] for v in c.gov.validators()} >= {address}

    # a third removes it: it leaves the set and stops signing
    c.pass_(c.gov.propose_remove_validator(c.keys["Bank A"], joined["validator_pub_key"]))
    wait_for(lambda: address not in _validators(c), 60, "the validator set to shrink")
    start = c.height()
    wait_for(lambda: c.height() >= start + 3, 60, "three more blocks")
    assert all(address not in _signers(c, h) for h in (start + 1, start + 2))
    assert len(_validators(c)) == 4
