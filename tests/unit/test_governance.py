"""Governance, Permissions and Nodes on a real Ledger: genesis, proposing, voting, rules,
refusals with their reasons, and what each kind of proposal does."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from consortium.errors import NotPermitted
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import ValidatorUpdate
from consortium.system.abi_files import ABI_DIR, contract_classes, function, render
from consortium.system.access import validator_updates
from consortium.system.model import KIND_BY_NAME, PROPOSAL_KINDS, SIMPLE_MAJORITY
from tests.support.governance_testkit import (
    BANKS,
    GOV,
    NEWCOMER,
    NODES,
    OUTSIDER,
    PERMS,
    Gov,
    governed_ledger,
    governed_state,
    node_id,
    pub_key,
)
from tests.support.ledger_testkit import run_block, sign

A, B, C, D = (b.address.lower() for b in BANKS[:4])


@pytest.fixture
def gov(tmp_path: Path) -> Gov:
    ledger = governed_ledger(tmp_path)
    yield Gov(ledger)
    ledger.close()


def test_shipped_abi_files_match_the_contracts() -> None:
    for name, cls in contract_classes().items():
        assert (ABI_DIR / f"{name}.json").read_text() == render(cls.abi()), (
            f"{name}.json is stale: run python -m consortium.system.abi_files"
        )
    governance = {e["name"] for e in json.loads((ABI_DIR / "Governance.json").read_text())}
    assert {k.method for k in PROPOSAL_KINDS} <= governance
    assert {"vote", "revoke", "members", "proposals", "officers", "taskForces"} <= governance


def test_genesis_moves_members_nodes_and_validators_into_the_contracts(gov: Gov) -> None:
    members = gov.read.members()
    assert [m["name"] for m in members] == ["Bank A", "Bank B", "Bank C", "Bank D"]
    assert members[0] == {
        "id": 1,
        "name": "Bank A",
        "tier": "founding",
        "status": "active",
        "weight": 1,
        "accounts": [A],
        "nodes": [node_id(0)],
        "since": 0,
    }
    assert gov.read.member("Bank C")["accounts"] == [C]
    assert gov.read.member(B)["id"] == 2
    assert gov.read.member("nobody") is None
    assert gov.read.total_weight() == 4 and not gov.read.admin_mode()
    assert gov.read.roles(A)["roles"] == ["committee", "member"]
    assert gov.read.roles()["committee"] == [A, B, C, D]
    assert [v["power"] for v in gov.read.validators()] == [10, 10, 10, 10]
    assert gov.read.validators()[0]["pubKey"] == base64.b64encode(pub_key(0)).decode()
    assert [n["nodeId"] for n in gov.read.nodes()] == [node_id(i) for i in range(4)]
    rules = {r["kind"]: r for r in gov.read.rules()}
    assert rules["grant-role"]["winRate"] == SIMPLE_MAJORITY.win_rate
    assert rules["expel-member"]["winRate"] == rules["change-rule"]["winRate"] == 6667
    # the ledger's checks read the same state
    assert gov.ledger.is_member_account(A) and not gov.ledger.is_member_account(OUTSIDER.address)
    assert gov.ledger.is_admitted_node(node_id(2)) and not gov.ledger.is_admitted_node("ee" * 20)


def test_the_state_root_covers_the_members(tmp_path: Path) -> None:
    one, two = Ledger(tmp_path / "one"), Ledger(tmp_path / "two")
    state = governed_state()
    renamed = state.to_json()
    renamed["members"][3]["name"] = "Bank Z"
    from consortium.ledger.genesis import AppState

    assert one.init_chain(state, 1) != two.init_chain(AppState.from_json(renamed), 1)
    one.close()
    two.close()


def test_genesis_rules_roles_and_allowlist(tmp_path: Path) -> None:
    ledger = governed_ledger(
        tmp_path,
        rules={"grant-role": {"participation": 10000, "win_rate": 10000, "period": 7}},
        roles={B: ["regulator"]},
        deploy_allowlist=[A],
    )
    gov = Gov(ledger)
    rule = next(r for r in gov.read.rules() if r["kind"] == "grant-role")
    assert (rule["participation"], rule["winRate"], rule["period"]) == (10000, 10000, 7)
    assert gov.read.roles(B)["roles"] == ["committee", "member", "regulator"]
    assert gov.read.deploy_allowlist() == [A]
    ledger.close()


def test_three_of_four_pass_and_execute_in_the_passing_vote(gov: Gov) -> None:
    pid = gov.propose(BANKS[0], "grant-role", B, "auditor")
    proposal = gov.read.proposal(pid)
    assert proposal["status"] == "open" and proposal["params"] == {"account": B, "role": "auditor"}
    assert proposal["expiresAt"] == proposal["createdAt"] + SIMPLE_MAJORITY.period
    assert gov.vote(BANKS[0], pid).code == 0
    assert gov.vote(BANKS[1], pid).code == 0
    assert gov.status(pid) == "open"  # 2 of 4: not enough weight took part
    assert "auditor" not in gov.read.roles(B)["roles"]
    result = gov.vote(BANKS[2], pid)
    assert result.code == 0, result.log
    assert gov.status(pid) == "executed"
    assert "auditor" in gov.read.roles(B)["roles"]
    # the vote answers the status; the executing transaction carries the events
    from eth_abi import decode

    assert decode(["string"], result.data) == ("executed",)
    addresses = {
        attrs[0][1] for e in result.events if e.type == "eth_log" for attrs in [e.attributes]
    }
    assert {GOV, PERMS} <= addresses
    assert {v["name"]: v["vote"] for v in gov.read.votes(pid)} == {
        "Bank A": "yes",
        "Bank B": "yes",
        "Bank C": "yes",
    }


def test_refusals_name_their_reason(gov: Gov) -> None:
    pid = gov.propose(BANKS[0], "grant-role", B, "auditor")
    assert gov.vote(BANKS[1], pid).code == 0
    reason = gov.refused(BANKS[1], GOV, "vote", pid, True)
    assert reason == f"member 'Bank B' already voted on proposal {pid}"
    assert gov.vote(BANKS[2], pid).code == 0 and gov.vote(BANKS[3], pid).code == 0
    assert gov.status(pid) == "executed"
    reason = gov.refused(BANKS[0], GOV, "vote", pid, True)
    assert reason.startswith(f"proposal {pid} was already executed at height")
    reason = gov.refused(BANKS[0], GOV, "executeProposal", pid)
    assert reason == "proposals execute only in the vote that passes them"
    assert gov.refused(BANKS[0], GOV, "vote", 99, True) == "no proposal 99"
    assert gov.refused(BANKS[0], GOV, "revoke", pid).startswith(f"proposal {pid} was already")


def test_outsiders_cannot_send_at_all(gov: Gov) -> None:
    raw = sign(OUTSIDER, nonce=0, to=GOV, gas=100_000)
    out = gov.ledger.check_tx(raw)
    assert out.code == NotPermitted.abci_code
    assert "is not a consortium account" in out.log


def test_vote_after_expiry_is_refused(tmp_path: Path) -> None:
    ledger = governed_ledger(
        tmp_path, rules={"grant-role": {"participation": 5001, "win_rate": 5001, "period": 3}}
    )
    gov = Gov(ledger)
    pid = gov.propose(BANKS[0], "grant-role", B, "auditor")
    expires = gov.read.proposal(pid)["expiresAt"]
    gov.advance(expires - ledger.latest_height() - 2)
    assert gov.vote(BANKS[1], pid).code == 0  # in block expires - 1: the last open height
    assert gov.status(pid) == "open"
    gov.advance(1)
    assert gov.status(pid) == "expired"
    assert gov.refused(BANKS[2], GOV, "vote", pid, True) == (
        f"proposal {pid} expired at height {expires}"
    )
    ledger.close()


def test_the_proposer_may_revoke_while_open(gov: Gov) -> None:
    pid = gov.propose(BANKS[0], "grant-role", B, "auditor")
    assert gov.refused(BANKS[1], GOV, "revoke", pid) == (
        f"only its proposer {A} may revoke proposal {pid}"
    )
    assert gov.send(BANKS[0], GOV, "revoke", pid).code == 0
    assert gov.status(pid) == "revoked"
    assert gov.refused(BANKS[1], GOV, "vote", pid, True).startswith(
        f"proposal {pid} was already revoked"
    )


def test_a_proposal_no_one_can_pass_any_more_is_rejected(gov: Gov) -> None:
    pid = gov.propose(BANKS[0], "grant-role", B, "auditor")
    assert gov.vote(BANKS[0], pid, True).code == 0
    assert gov.vote(BANKS[1], pid, False).code == 0
    assert gov.status(pid) == "open"  # 3 yes of 4 could still pass it
    assert gov.vote(BANKS[2], pid, False).code == 0
    assert gov.status(pid) == "rejected"  # 2 yes of 4 at best: not above half
    assert gov.refused(BANKS[3], GOV, "vote", pid, True).startswith(
        f"proposal {pid} was already rejected"
    )


def test_changing_the_win_rate_leaves_open_proposals_on_their_rules(gov: Gov) -> None:
    early = gov.propose(BANKS[0], "grant-role", B, "auditor")
    gov.pass_("change-rule", "grant-role", 5001, 10000, 100)
    late = gov.propose(BANKS[0], "grant-role", C, "auditor")
    assert gov.read.proposal(early)["rule"]["winRate"] == 5001
    assert gov.read.proposal(late)["rule"]["winRate"] == 10000
    for pid in (early, late):
        gov.vote(BANKS[0], pid)
        gov.vote(BANKS[1], pid)
        gov.vote(BANKS[2], pid, False)
    assert gov.status(early) == "executed"  # 2 of 3 under its own 50.01%
    assert gov.status(late) == "rejected"  # the new rule wants everyone
    with pytest.raises(AssertionError):
        gov.propose(BANKS[0], "change-rule", "expel-member", 5001, 5001, 10)
    assert "needs a supermajority" in gov.refused(
        BANKS[0], GOV, "proposeChangeRule", "expel-member", 5001, 5001, 10
    )


def test_rule_changes_need_a_supermajority(gov: Gov) -> None:
    pid = gov.propose(BANKS[0], "change-rule", "grant-role", 5001, 5001, 50)
    gov.vote(BANKS[0], pid)
    gov.vote(BANKS[1], pid)
    gov.vote(BANKS[2], pid, False)
    assert gov.status(pid) == "open"  # 2 of 3 voters is below 66.67%
    gov.vote(BANKS[3], pid)
    assert gov.status(pid) == "executed"  # 3 of 4


def test_expulsion_target_cannot_vote_and_its_weight_is_left_out(gov: Gov) -> None:
    pid = gov.propose(BANKS[0], "expel-member", 4)
    assert gov.read.proposal(pid)["target"] == 4
    assert gov.refused(BANKS[3], GOV, "vote", pid, False) == (
        f"member 'Bank D' is the target of expulsion proposal {pid} and cannot vote on it"
    )
    assert "cannot propose its own expulsion" in gov.refused(BANKS[3], GOV, "proposeExpelMember", 4)
    gov.vote(BANKS[0], pid)
    gov.vote(BANKS[1], pid)
    assert gov.status(pid) == "open"  # 2 of 3 (Bank D left out) < 66.67%
    gov.vote(BANKS[2], pid)
    assert gov.status(pid) == "executed"
    assert gov.read.member(4)["status"] == "expelled"
    assert not gov.ledger.is_admitted_node(node_id(3))
    raw = sign(BANKS[3], nonce=gov.ledger.get_nonce(D), to=A, gas=21_000)
    out = gov.ledger.check_tx(raw)
    assert out.code == NotPermitted.abci_code and "member expelled" in out.log
    assert gov.read.total_weight() == 3


def test_suspension_and_reinstatement(gov: Gov) -> None:
    gov.pass_("suspend-member", 4)
    raw = sign(BANKS[3], nonce=gov.ledger.get_nonce(D), to=A, gas=21_000)
    out = gov.ledger.check_tx(raw)
    assert out.code == NotPermitted.abci_code and "member suspended" in out.log
    assert gov.read.total_weight() == 3
    gov.pass_("reinstate-member", 4, voters=(0, 1))  # 2 of the 3 voting
    assert gov.ledger.check_tx(raw).code == 0


def test_admin_mode_passes_proposals_at_once(tmp_path: Path) -> None:
    ledger = governed_ledger(tmp_path, members=1)
    gov = Gov(ledger)
    assert gov.read.admin_mode()
    pid = gov.propose(BANKS[0], "grant-role", A, "regulator")
    assert gov.status(pid) == "executed"
    assert "regulator" in gov.read.roles(A)["roles"]
    ledger.close()


def test_admitting_a_member_with_its_node(gov: Gov) -> None:
    newcomer = NEWCOMER.address.lower()
    raw = sign(NEWCOMER, nonce=0, to=A, gas=21_000)
    assert gov.ledger.check_tx(raw).code == NotPermitted.abci_code
    new_node = bytes.fromhex("e5" * 20)
    assert not gov.ledger.is_admitted_node("e5" * 20)
    pid = gov.pass_("admit-member", "Bank E", "ordinary", 1, [newcomer], [new_node])
    assert gov.ledger.is_admitted_node("e5" * 20)
    member = gov.read.member("Bank E")
    assert member["accounts"] == [newcomer] and member["nodes"] == ["e5" * 20]
    assert member["since"] == gov.read.proposal(pid)["closedAt"]
    assert gov.read.roles(newcomer)["roles"] == ["committee", "member"]
    assert gov.ledger.check_tx(raw).code == 0  # gas price 0: no balance needed
    assert gov.read.total_weight() == 5
    # refused up front: a taken name, a taken account, an admitted node
    assert (
        gov.refused(
            BANKS[0], GOV, "proposeAdmitMember", "bank e", "ordinary", 1, [OUTSIDER.address], []
        )
        == "a member named 'bank e' already exists"
    )
    assert (
        gov.refused(BANKS[0], GOV, "proposeAdmitMember", "Bank F", "ordinary", 1, [A], [])
        == f"{A} already belongs to member 'Bank A'"
    )
    assert (
        gov.refused(
            BANKS[0], GOV, "proposeAdmitMember", "Bank F", "observer", 1, [OUTSIDER.address], []
        )
        == "an observer has no vote: its weight must be 0"
    )
    assert (
        gov.refused(
            BANKS[0],
            GOV,
            "proposeAdmitMember",
            "Bank F",
            "ordinary",
            1,
            [OUTSIDER.address],
            [new_node],
        )
        == f"node {'e5' * 20} is already admitted"
    )


def test_an_execution_that_became_impossible_fails_and_the_vote_stands(gov: Gov) -> None:
    outsider = OUTSIDER.address.lower()
    first = gov.propose(BANKS[0], "admit-member", "Bank E", "ordinary", 1, [outsider], [])
    second = gov.propose(BANKS[0], "admit-member", "Bank F", "ordinary", 1, [outsider], [])
    for i in (0, 1, 2):
        gov.vote(BANKS[i], first)
    assert gov.status(first) == "executed"
    gov.vote(BANKS[0], second)
    gov.vote(BANKS[1], second)
    result = gov.vote(BANKS[2], second)
    assert result.code == 0, result.log
    proposal = gov.read.proposal(second)
    assert proposal["status"] == "failed"
    assert proposal["note"] == f"{outsider} already belongs to member 'Bank E'"
    assert gov.read.member("Bank F") is None


def test_an_execution_short_of_gas_reverts_the_vote(gov: Gov) -> None:
    pid = gov.propose(BANKS[0], "grant-role", B, "auditor")
    gov.vote(BANKS[0], pid)
    gov.vote(BANKS[1], pid)
    reasons = set()
    for gas in range(150_000, 400_000, 25_000):
        result = gov.send(BANKS[2], GOV, "vote", pid, True, gas=gas)
        if result.code == 0:
            break
        reasons.add(result.log)
        assert gov.status(pid) == "open"  # nothing of the vote or the execution stays
    assert (
        f"execution reverted: proposal {pid} passed but its execution ran out of gas: "
        "send the vote with a higher gas limit" in reasons
    )
    assert gov.vote(BANKS[2], pid).code == 0 or gov.status(pid) == "executed"
    assert gov.status(pid) == "executed"


def test_validators_become_validator_updates(gov: Gov) -> None:
    new_key = b"\x5a" * 32
    gov.pass_("add-validator", new_key, 7)
    assert gov.last.validator_updates == (ValidatorUpdate(new_key, 7),)
    assert {v["power"] for v in gov.read.validators()} == {10, 7}
    gov.pass_("remove-validator", new_key)
    assert gov.last.validator_updates == (ValidatorUpdate(new_key, 0),)
    assert len(gov.read.validators()) == 4
    assert gov.refused(BANKS[0], GOV, "proposeRemoveValidator", new_key) == (
        f"0x{new_key.hex()} is not a validator"
    )
    # blocks without governance changes report none
    assert run_block(gov.ledger, []).validator_updates == ()
    # Nodes accepts changes only from Governance
    assert gov.refused(BANKS[0], NODES, "setValidatorPower", new_key, 5) == (
        "only the Governance contract may change this (propose it)"
    )


def test_the_last_validator_cannot_be_removed(tmp_path: Path) -> None:
    ledger = governed_ledger(tmp_path, members=1)
    gov = Gov(ledger)
    assert gov.refused(BANKS[0], GOV, "proposeRemoveValidator", pub_key(0)) == (
        "cannot remove the last validator"
    )
    ledger.close()


def test_validator_updates_keep_the_last_power_per_key() -> None:
    from consortium.system.model import NODES_ADDRESS
    from consortium.system.nodes import Nodes

    def log(key: bytes, power: int) -> tuple[bytes, list[bytes], bytes]:
        topics, data = Nodes.ValidatorUpdated.encode(key, power)
        return NODES_ADDRESS, topics, data

    k1, k2 = b"\x01" * 32, b"\x02" * 32
    assert validator_updates([log(k1, 5), log(k2, 3), log(k1, 0)]) == [(k1, 0), (k2, 3)]


def test_nodes_admitted_and_removed(gov: Gov) -> None:
    node = bytes.fromhex("cd" * 20)
    gov.pass_("admit-node", 2, node)
    assert gov.ledger.is_admitted_node("cd" * 20)
    assert gov.read.member(2)["nodes"] == [node_id(1), "cd" * 20]
    gov.pass_("remove-node", node)
    assert not gov.ledger.is_admitted_node("cd" * 20)
    assert gov.read.member(2)["nodes"] == [node_id(1)]


def test_officer_term_ends_at_its_height(gov: Gov) -> None:
    pid = gov.pass_("elect-officer", "chair", C, 3)
    (officer,) = gov.read.officers()
    closed = gov.read.proposal(pid)["closedAt"]
    assert officer == {
        "office": "chair",
        "holder": C,
        "lastHolder": C,
        "termEnd": closed + 3,
        "electedAt": closed,
        "vacant": False,
    }
    gov.advance(officer["termEnd"] - gov.ledger.latest_height())
    (officer,) = gov.read.officers()
    assert officer["vacant"] and officer["holder"] is None
    assert "is not a consortium account" in gov.refused(
        BANKS[0], GOV, "proposeElectOfficer", "chair", OUTSIDER.address, 10
    )


def test_task_forces(gov: Gov) -> None:
    reason = gov.refused(
        BANKS[0], GOV, "proposeFormTaskForce", "Risk", "Watch risk", A, [A, OUTSIDER.address]
    )
    assert reason == f"task force member {OUTSIDER.address.lower()} is not a consortium account"
    assert gov.refused(BANKS[0], GOV, "proposeFormTaskForce", "Risk", "Watch risk", B, [A]) == (
        f"the lead {B} must be one of the task force's members"
    )
    gov.pass_("form-taskforce", "Risk", "Watch risk", A, [A, B])
    assert gov.read.task_force("Risk") == {
        "name": "Risk",
        "charter": "Watch risk",
        "lead": A,
        "members": [A, B],
        "formedAt": gov.ledger.latest_height(),
    }
    gov.pass_("set-taskforce-members", "Risk", C, [C, D])
    assert gov.read.task_force("Risk")["members"] == [C, D]
    assert gov.read.task_force("Risk")["lead"] == C
    gov.pass_("dissolve-taskforce", "Risk")
    assert gov.read.task_forces() == []


def test_freezing_accounts(gov: Gov) -> None:
    gov.pass_("freeze", D)
    assert gov.read.frozen() == [D]
    raw = sign(BANKS[3], nonce=gov.ledger.get_nonce(D), to=A, gas=21_000)
    out = gov.ledger.check_tx(raw)
    assert out.code == NotPermitted.abci_code and "account frozen" in out.log
    # a frozen account's transaction that reached a block is skipped there too
    (res,) = run_block(gov.ledger, [raw]).tx_results
    assert res.code == NotPermitted.abci_code and "account frozen" in res.log
    gov.pass_("unfreeze", D)
    assert gov.ledger.check_tx(raw).code == 0
    assert "system contract" in gov.refused(BANKS[0], GOV, "proposeFreeze", GOV)


def test_the_regulator_freezes_directly(gov: Gov) -> None:
    assert gov.refused(BANKS[1], PERMS, "freeze", D) == f"{B} does not hold the regulator role"
    gov.pass_("grant-role", B, "regulator")
    assert gov.send(BANKS[1], PERMS, "freeze", D).code == 0
    raw = sign(BANKS[3], nonce=gov.ledger.get_nonce(D), to=A, gas=21_000)
    assert "account frozen" in gov.ledger.check_tx(raw).log
    assert gov.send(BANKS[1], PERMS, "unfreeze", D).code == 0
    assert gov.ledger.check_tx(raw).code == 0
    assert "already" not in gov.refused(BANKS[1], PERMS, "unfreeze", D)


def test_a_frozen_account_in_the_same_block_is_refused_after_the_freeze(gov: Gov) -> None:
    gov.pass_("grant-role", B, "regulator")
    freeze = sign(
        BANKS[1],
        nonce=gov.ledger.get_nonce(B),
        to=PERMS,
        gas=500_000,
        data=function("Permissions", "freeze").encode(D),
    )
    transfer = sign(BANKS[3], nonce=gov.ledger.get_nonce(D), to=A, gas=21_000)
    out = run_block(gov.ledger, [transfer, freeze, transfer])
    assert out.tx_results[0].code == 0  # before the freeze
    assert out.tx_results[1].code == 0
    assert "account frozen" in out.tx_results[2].log


def test_frozen_contracts_revert_calls(gov: Gov) -> None:
    from tests.support.ledger_testkit import calldata, contract_address, token_deploy_data

    deploy = sign(
        BANKS[0], nonce=gov.ledger.get_nonce(A), data=token_deploy_data(100), gas=2_000_000
    )
    assert run_block(gov.ledger, [deploy]).tx_results[0].code == 0
    token = contract_address(A, 0)
    gov.pass_("freeze", token)
    data = calldata("transfer(address,uint256)", ["address", "uint256"], [B, 1])
    raw = sign(BANKS[0], nonce=gov.ledger.get_nonce(A), to=token, data=data)
    (res,) = run_block(gov.ledger, [raw]).tx_results
    assert res.log == f"execution reverted: contract frozen: {token}"
    call = gov.ledger.call({"to": token, "data": "0x" + data.hex()})
    assert not call.success and "contract frozen" in call.error
    gov.pass_("unfreeze", token)
    raw = sign(BANKS[0], nonce=gov.ledger.get_nonce(A), to=token, data=data)
    assert run_block(gov.ledger, [raw]).tx_results[0].code == 0


def test_the_deploy_allowlist(gov: Gov) -> None:
    from tests.support.ledger_testkit import token_deploy_data

    def deploy(i: int) -> bytes:
        acct = BANKS[i]
        return sign(
            acct, nonce=gov.ledger.get_nonce(acct.address), data=token_deploy_data(1), gas=2_000_000
        )

    assert gov.ledger.check_tx(deploy(1)).code == 0  # empty allowlist: every member
    gov.pass_("set-deploy-allowlist", [A])
    assert gov.read.deploy_allowlist() == [A]
    out = gov.ledger.check_tx(deploy(1))
    assert out.code == NotPermitted.abci_code and "deploy allowlist" in out.log
    assert gov.ledger.check_tx(deploy(0)).code == 0
    assert (
        gov.ledger.check_tx(
            sign(BANKS[1], nonce=gov.ledger.get_nonce(B) + 1, to=A, gas=21_000)
        ).code
        != NotPermitted.abci_code
    )


def test_observers_have_no_vote(gov: Gov) -> None:
    observer = OUTSIDER.address.lower()
    gov.pass_("admit-member", "Watcher", "observer", 0, [observer], [])
    assert gov.read.roles(observer)["roles"] == ["member"]
    pid = gov.propose(BANKS[0], "grant-role", B, "auditor")
    assert gov.refused(OUTSIDER, GOV, "vote", pid, True) == (
        "member 'Watcher' has no voting weight (observer)"
    )
    assert gov.read.total_weight() == 4


def test_roles_only_from_governance(gov: Gov) -> None:
    assert gov.refused(BANKS[0], PERMS, "grantRole", A, "regulator") == (
        "only the Governance contract may change this (propose it)"
    )
    assert "unknown role" in gov.refused(BANKS[0], GOV, "proposeGrantRole", A, "king")
    gov.pass_("revoke-role", D, "committee")
    pid = gov.propose(BANKS[0], "grant-role", B, "auditor")
    assert gov.refused(BANKS[3], GOV, "vote", pid, True) == (
        f"{D} does not hold the committee role of 'Bank D'"
    )


@pytest.mark.parametrize("kind", [k.name for k in PROPOSAL_KINDS])
def test_every_kind_has_a_default_rule(gov: Gov, kind: str) -> None:
    rule = next(r for r in gov.read.rules() if r["kind"] == kind)
    assert rule["winRate"] == (6667 if KIND_BY_NAME[kind].supermajority else 5001)
