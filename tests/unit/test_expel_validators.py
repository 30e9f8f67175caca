"""Expelling a member takes its validators out of the validator set in the same execution
(power-0 validator updates), on chains whose genesis records validator owners (Nodes
version 2, what `consortium init` writes); and refuses an expulsion that would leave the
remaining validators short of a quorum of today's power."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from consortium.errors import ConfigError
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import ValidatorUpdate
from consortium.system.abi_files import function
from consortium.system.model import NODES_ADDRESS
from tests.support.governance_testkit import BANKS, GOV, Gov, governed_state, node_id, pub_key


def owned_state(members: int = 4) -> AppState:
    doc = governed_state(members).to_json()
    doc["native_versions"] = {"Nodes": 2}
    return AppState.from_json(doc)


@pytest.fixture
def gov(tmp_path: Path) -> Iterator[Gov]:
    ledger = Ledger(tmp_path)
    ledger.init_chain(owned_state(), 1)
    yield Gov(ledger)
    ledger.close()


def owner(gov: Gov, key: bytes) -> int:
    fn = function("Nodes", "validatorOwner")
    return int(fn.decode(gov._call(NODES_ADDRESS, fn.encode(key))))


def test_genesis_records_each_validators_owner(gov: Gov) -> None:
    assert [owner(gov, pub_key(i)) for i in range(4)] == [1, 2, 3, 4]
    assert gov.read.upgrades()["nativeVersions"]["Nodes"] == 2


def test_expelling_removes_the_members_validators_in_the_same_execution(gov: Gov) -> None:
    pid = gov.pass_("expel-member", 4)
    assert gov.status(pid) == "executed"
    # the vote that passed it returns the power-0 update to CometBFT
    assert gov.last is not None
    assert gov.last.validator_updates == (ValidatorUpdate(pub_key(3), 0),)
    assert [v["power"] for v in gov.read.validators()] == [10, 10, 10]
    assert gov.read.member(4)["status"] == "expelled"
    assert not gov.ledger.is_admitted_node(node_id(3))


def test_an_expulsion_that_would_cost_the_quorum_is_refused(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.init_chain(owned_state(members=3), 1)
    gov = Gov(ledger)
    reason = gov.refused(BANKS[0], GOV, "proposeExpelMember", 3)
    assert reason == (
        "expelling 'Bank C' would remove validators holding 10 of the 30 voting power; the "
        "validators that stay must hold more than two thirds of it to keep committing "
        "blocks (add validators first)"
    )
    # with a fourth validator (no owner recorded), the remaining 30 of 40 are enough
    gov.pass_("add-validator", b"\x5a" * 32, 10, voters=(0, 1))
    gov.pass_("expel-member", 3, voters=(0, 1))
    assert gov.last is not None
    assert gov.last.validator_updates == (ValidatorUpdate(pub_key(2), 0),)
    ledger.close()


def test_without_recorded_owners_expulsion_leaves_the_validators(tmp_path: Path) -> None:
    """A chain whose genesis predates owners (no native_versions) executes as it did."""
    ledger = Ledger(tmp_path)
    ledger.init_chain(governed_state(), 1)
    gov = Gov(ledger)
    gov.pass_("expel-member", 4)
    assert gov.last is not None and gov.last.validator_updates == ()
    assert len(gov.read.validators()) == 4
    ledger.close()


def test_native_versions_in_genesis_are_checked() -> None:
    doc = governed_state().to_json()
    for bad, message in (({"Nodes": 3}, "versions 1 to 2 exist"),
                         ({"Ledger": 1}, "no system contract 'Ledger'"),
                         ([], "must be an object")):
        doc["native_versions"] = bad
        with pytest.raises(ConfigError, match=message):
            AppState.from_json(doc)


def test_a_validator_added_for_a_member_leaves_with_it(gov: Gov) -> None:
    key = b"\x5b" * 32
    gov.pass_("add-member-validator", 4, key, 4)  # 14 of 44: the 30 others are enough
    assert gov.last is not None and gov.last.validator_updates == (ValidatorUpdate(key, 4),)
    assert owner(gov, key) == 4
    assert gov.refused(BANKS[0], GOV, "proposeAddMemberValidator", 3, key, 5) == (
        f"0x{key.hex()} is a validator of member 'Bank D'")
    assert "member 9" in gov.refused(BANKS[0], GOV, "proposeAddMemberValidator", 9, key, 5)
    gov.pass_("expel-member", 4)
    assert gov.last is not None
    assert set(gov.last.validator_updates) == {ValidatorUpdate(pub_key(3), 0),
                                               ValidatorUpdate(key, 0)}
    assert [v["power"] for v in gov.read.validators()] == [10, 10, 10]
