"""Software upgrades: the plan a vote stores, the halt of a node without the upgrade's
handler at the plan's height, and the migration a node with it runs there, once."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consortium import __version__
from consortium.errors import ConfigError, ExecutionReverted
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import TxOutcome
from consortium.ledger.upgrades import (
    UpgradeRequired,
    handler_for,
    load_upgrade_modules,
    register_upgrade,
    unregister_upgrade,
)
from consortium.system.model import GOVERNANCE_ADDRESS
from tests.support.governance_testkit import BANKS, GOV, Gov, governed_ledger, governed_state
from tests.support.ledger_testkit import ctx, run_block

FIXTURES = Path(__file__).parent.parent / "fixtures"
GOV_ADDRESS = "0x" + GOVERNANCE_ADDRESS.hex()


@pytest.fixture
def gov(tmp_path: Path) -> Iterator[Gov]:
    ledger = governed_ledger(tmp_path)
    yield Gov(ledger)
    ledger.close()


@pytest.fixture
def v2() -> Iterator[object]:
    """The tests' "new version": the handler of upgrade "v2" (tests/fixtures/upgrade_v2)."""
    sys.path.insert(0, str(FIXTURES))
    try:
        sys.modules.pop("upgrade_v2", None)  # importing it registers the handler
        yield importlib.import_module("upgrade_v2")
    finally:
        unregister_upgrade("v2")
        sys.modules.pop("upgrade_v2", None)
        sys.path.remove(str(FIXTURES))


def height(gov: Gov) -> int:
    return gov.ledger.info()[0]


def schedule(gov: Gov, name: str = "v2", at: int | None = None, version: str = "0.2.0") -> int:
    at = height(gov) + 10 if at is None else at
    return gov.pass_("software-upgrade", name, at, version)


def slot(gov: Gov, number: int) -> int:
    return int.from_bytes(gov.ledger.get_storage_at(GOV_ADDRESS, number), "big")


# --- the plan ------------------------------------------------------------------------------


def test_a_passed_proposal_stores_the_plan(gov: Gov) -> None:
    assert gov.read.upgrades() == {
        "plan": None, "applied": [],
        # every contract native_versions versions; this genesis did not enable Privacy
        "nativeVersions": {"Governance": 1, "Permissions": 1, "Nodes": 1, "Privacy": 0,
                           "Securities": 1, "Invoices": 1, "Registry": 1},
    }
    proposal = gov.propose(BANKS[0], "software-upgrade", "v2", 100, "0.2.0")
    gov.vote(BANKS[0], proposal)
    gov.vote(BANKS[1], proposal)
    assert gov.status(proposal) == "open"  # a supermajority: two of four do not pass it
    gov.vote(BANKS[2], proposal)
    assert gov.status(proposal) == "executed"
    plan = gov.read.upgrades()["plan"]
    assert plan == {"name": "v2", "height": 100, "version": "0.2.0", "proposal": proposal}


@pytest.mark.parametrize(
    ("name", "at", "version", "reason"),
    [
        ("", 100, "0.2.0", "the upgrade name is empty"),
        ("v 2", 100, "0.2.0", "may hold only letters, digits"),
        ("x" * 65, 100, "0.2.0", "longer than 64 bytes"),
        ("v2", 100, "two", "'two' is not a release version like 0.2.0"),
        ("v2", 100, "", "is not a release version"),
        ("v2", 1, "0.2.0", "the upgrade height 1 is not in the future"),
    ],
)
def test_a_bad_plan_is_refused_when_proposed(
    gov: Gov, name: str, at: int, version: str, reason: str
) -> None:
    method = "proposeSoftwareUpgrade"
    assert reason in gov.refused(BANKS[0], GOV, method, name, at, version)


def test_one_plan_at_a_time_and_names_are_never_reused(gov: Gov, v2: object) -> None:
    schedule(gov, at=height(gov) + 8)
    at = gov.read.upgrades()["plan"]["height"]
    reason = gov.refused(BANKS[0], GOV, "proposeSoftwareUpgrade", "v3", 500, "0.3.0")
    assert reason == (f"upgrade 'v2' is already scheduled at height {at}: cancel it first "
                      "(cancel-software-upgrade)")
    gov.advance(at - height(gov))
    assert gov.read.upgrades()["applied"] == [{"name": "v2", "height": at}]
    reason = gov.refused(BANKS[0], GOV, "proposeSoftwareUpgrade", "v2", 500, "0.2.0")
    assert reason == f"upgrade 'v2' was already applied at height {at}"


def test_cancelling_the_plan(gov: Gov) -> None:
    at = height(gov) + 12
    schedule(gov, at=at)
    assert "no software upgrade named 'v9'" in gov.refused(
        BANKS[0], GOV, "proposeCancelSoftwareUpgrade", "v9")
    gov.pass_("cancel-software-upgrade", "v2")
    assert gov.read.upgrades()["plan"] is None
    gov.advance(at + 1 - height(gov))  # no handler here, no halt: nothing is planned now


# --- the halt --------------------------------------------------------------------------------


def test_a_node_without_the_handler_stops_before_the_plan_height(gov: Gov) -> None:
    at = height(gov) + 5
    schedule(gov, at=at)
    gov.advance(at - 1 - height(gov))
    committed = gov.ledger.info()
    assert committed[0] == at - 1
    for _ in range(2):  # the engine replays the block after a restart: the same answer
        with pytest.raises(UpgradeRequired) as halt:
            gov.ledger.finalize_block(ctx(at), [])
        assert str(halt.value) == (
            f"upgrade 'v2' scheduled at height {at} needs consortium >= 0.2.0; "
            f"this node runs {__version__}; install it and restart")
        assert gov.ledger.info() == committed  # nothing executed, nothing committed


def test_the_halt_survives_a_restart(tmp_path: Path) -> None:
    ledger = governed_ledger(tmp_path)
    gov = Gov(ledger)
    at = height(gov) + 5
    schedule(gov, at=at)
    gov.advance(at - 1 - height(gov))
    ledger.close()
    reopened = Ledger(tmp_path)
    try:
        with pytest.raises(UpgradeRequired, match="needs consortium >= 0.2.0"):
            reopened.finalize_block(ctx(at), [])
    finally:
        reopened.close()


# --- the migration ---------------------------------------------------------------------------


def test_the_handler_migrates_exactly_at_the_height_then_never_again(
    tmp_path: Path, v2: object
) -> None:
    ledger = governed_ledger(tmp_path)
    gov = Gov(ledger)
    at = height(gov) + 5
    schedule(gov, at=at)
    gov.advance(at - 1 - height(gov))
    assert slot(gov, 30) == 0 and gov.read.upgrades()["nativeVersions"]["Governance"] == 1
    run_block(ledger, [])
    assert height(gov) == at
    assert slot(gov, 30) == 4  # the migration's record: four voting members
    info = gov.read.upgrades()
    assert info["plan"] is None
    assert info["applied"] == [{"name": "v2", "height": at}]
    assert info["nativeVersions"] == {"Governance": 2, "Permissions": 1, "Nodes": 1,
                                      "Privacy": 0, "Securities": 1, "Invoices": 1,
                                      "Registry": 1}
    # the layout version 1 wrote reads as before
    assert [m["name"] for m in gov.read.members()] == ["Bank A", "Bank B", "Bank C", "Bank D"]
    ledger.close()
    # restarted after the height (with or without the handler): nothing runs again
    unregister_upgrade("v2")
    reopened = Ledger(tmp_path)
    gov = Gov(reopened)
    gov.advance(3)
    assert Gov(reopened).read.upgrades()["applied"] == [{"name": "v2", "height": at}]
    reopened.close()


def test_both_engines_reach_the_same_root_through_the_migration(
    tmp_path: Path, v2: object
) -> None:
    roots = []
    for engine in ("revm", "py-evm"):
        ledger = Ledger(tmp_path / engine, engine=engine)
        ledger.init_chain(governed_state(), 1)
        gov = Gov(ledger)
        schedule(gov, at=8)
        gov.advance(8 - height(gov))
        gov.pass_("grant-role", BANKS[1].address, "regulator")  # after it, as usual
        roots.append(ledger.info())
        ledger.close()
    assert roots[0] == roots[1]


def test_a_native_migration_runs_only_from_the_version_before_its_own(
    gov: Gov, v2: object
) -> None:
    """A handler whose native step expects Governance at version 2 cannot run on 1."""
    from consortium.ledger.upgrades import NativeMigration

    register_upgrade("v3", "0.3.0", natives=[
        NativeMigration(GOVERNANCE_ADDRESS, 3, lambda storage, ctx: None)])
    try:
        at = height(gov) + 5
        schedule(gov, "v3", at=at, version="0.3.0")
        gov.advance(at - 1 - height(gov))
        with pytest.raises(Exception, match="is at version 1, its migration to 3 starts from 2"):
            gov.ledger.finalize_block(ctx(at), [])
    finally:
        unregister_upgrade("v3")


# --- the handlers a node has -------------------------------------------------------------


def test_upgrade_modules_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES))
    monkeypatch.setenv("CONSORTIUM_UPGRADE_MODULES", "upgrade_v2")
    sys.modules.pop("upgrade_v2", None)
    try:
        assert load_upgrade_modules() == ["upgrade_v2"]
        handler = handler_for("v2")
        assert handler is not None and handler.version == "0.2.0"
    finally:
        unregister_upgrade("v2")
        sys.modules.pop("upgrade_v2", None)
    with pytest.raises(ConfigError, match="names module 'no_such_module', which does not"):
        load_upgrade_modules("no_such_module")


def test_a_handler_needs_a_valid_name_and_version() -> None:
    with pytest.raises(ConfigError, match="is not a release version"):
        register_upgrade("v9", "latest")
    with pytest.raises(ConfigError, match="the upgrade name is empty"):
        register_upgrade("", "1.0.0")


def test_the_abci_app_tells_the_node_and_answers_no_block(gov: Gov) -> None:
    """FinalizeBlock at the height: the node's on_halt hears why, the engine gets no result."""
    from consortium.abci.protocol import types_pb2
    from consortium.ledger.application import ConsortiumApp

    at = height(gov) + 5
    schedule(gov, at=at)
    gov.advance(at - 1 - height(gov))
    told: list[str] = []
    app = ConsortiumApp(gov.ledger, on_halt=told.append)
    request = types_pb2.RequestFinalizeBlock(height=at, hash=at.to_bytes(32, "big"))
    with pytest.raises(UpgradeRequired):
        app.finalize_block(request)
    assert told == [f"upgrade 'v2' scheduled at height {at} needs consortium >= 0.2.0; "
                    f"this node runs {__version__}; install it and restart"]
    assert gov.ledger.info()[0] == at - 1


def test_a_node_without_the_handler_says_so_when_it_starts(
    gov: Gov, caplog: pytest.LogCaptureFixture
) -> None:
    from consortium.network.node import _upgrade_stop

    assert _upgrade_stop(gov.ledger) is None
    assert "scheduled" not in caplog.text  # nothing planned
    at = height(gov) + 6
    schedule(gov, at=at)
    assert _upgrade_stop(gov.ledger) is None  # two blocks ahead: it may start, and is told
    assert (f"upgrade 'v2' is scheduled at height {at} and this node has no handler for it: "
            "it will stop there; install consortium >= 0.2.0 before") in caplog.text
    gov.advance(1)
    # the next block is the upgrade's: the node does not even start
    assert _upgrade_stop(gov.ledger) == (
        f"upgrade 'v2' scheduled at height {at} needs consortium >= 0.2.0; "
        f"this node runs {__version__}; install it and restart")


# --- this software's own upgrade: switching the Privacy contract on ------------------------


def node_key(bank: int) -> bytes:
    return bytes([0xA1 + bank]) * 32


def privacy_tx(gov: Gov, account: Any, signature: str, types: list[str], args: list[Any],
               gas: int = 3_000_000) -> TxOutcome:
    """One call of the Privacy contract by `account`, in one block."""
    from consortium.system.privacy import PRIVACY_ADDRESS
    from tests.support.ledger_testkit import calldata, sign

    raw = sign(account, nonce=gov.ledger.get_nonce(account.address),
               to="0x" + PRIVACY_ADDRESS.hex(), data=calldata(signature, types, args), gas=gas)
    (result,) = run_block(gov.ledger, [raw]).tx_results
    return result


def register_node(gov: Gov, bank: int) -> TxOutcome:
    """Bank `bank` registers a privacy node key (Privacy.registerNode), in one block."""
    from consortium.system.privacy_payload import prove_node
    from consortium.system.sealing import public_key_of
    from tests.support.ledger_testkit import CHAIN_ID

    proof = prove_node(node_key(bank), CHAIN_ID, bytes.fromhex(BANKS[bank].address[2:]))
    return privacy_tx(gov, BANKS[bank], "registerNode(bytes,bytes)", ["bytes", "bytes"],
                      [public_key_of(node_key(bank)), proof])


def private_deploy_runs(gov: Gov, home: Path) -> bool:
    """Banks A and B (nodes registered) form a group; Bank A's node seals a private deploy
    in a marker; Bank A's privacy processor executes it: whether the deploy succeeded."""
    from eth_account import Account
    from eth_hash.auto import keccak

    from consortium.ledger.private_groups import PrivateGroups
    from consortium.system.privacy_payload import group_chain_id, key_commitment, seal_batch
    from consortium.system.sealing import new_key, public_key_of, wrap_key
    from tests.support.ledger_testkit import CHAIN_ID, sign, token_deploy_data

    group, key = b"\x77" * 32, new_key()
    assert privacy_tx(gov, BANKS[0], "createGroup(bytes32,string,address[],bytes[],bytes32)",
                      ["bytes32", "string", "address[]", "bytes[]", "bytes32"],
                      [group, "desk", [BANKS[0].address, BANKS[1].address],
                       [wrap_key(key, public_key_of(node_key(i))) for i in (0, 1)],
                       key_commitment(group, 0, key)]).code == 0
    assert privacy_tx(gov, BANKS[1], "joinGroup(bytes32)", ["bytes32"], [group]).code == 0
    deploy = sign(BANKS[0], nonce=0, data=token_deploy_data(5), gas=3_000_000,
                  chain_id=group_chain_id(CHAIN_ID, group))
    payload = seal_batch(key, group, 0, [deploy])
    marker = privacy_tx(gov, Account.from_key(node_key(0)), "submit(bytes32,uint32,bytes)",
                        ["bytes32", "uint32", "bytes"], [group, 0, payload],
                        gas=1_000_000 + 64 * len(payload))
    assert marker.code == 0, marker.log
    groups = PrivateGroups(gov.ledger, home, node_key(0))
    try:
        groups.follow()
        reader = groups.reader(group)
        receipt = None if reader is None else reader.private_receipt(
            "0x" + keccak(deploy).hex())
        return receipt is not None and receipt.tx.status == 1
    finally:
        groups.stop()


def test_the_privacy_upgrade_switches_privacy_on_at_its_height(tmp_path: Path) -> None:
    """A chain made without Privacy (its genesis does not name it) gets it, account and
    version slot, at the planned height of upgrade "privacy", which this software handles:
    registerNode reverts "not enabled" before and works after, a group's private
    transaction executes, on both engines alike."""
    from consortium.ledger.executor import decode_revert_reason
    from consortium.ledger.upgrades import PRIVACY_UPGRADE
    from consortium.system.privacy import PRIVACY_ADDRESS

    assert handler_for(PRIVACY_UPGRADE) is not None
    roots = []
    for engine in ("revm", "py-evm"):
        ledger = Ledger(tmp_path / engine, engine=engine)
        ledger.init_chain(governed_state(), 1)
        gov = Gov(ledger)
        assert ledger.get_code("0x" + PRIVACY_ADDRESS.hex()) == b""
        schedule(gov, PRIVACY_UPGRADE, at=12, version="0.1.0")
        before = register_node(gov, 0)
        assert before.code == ExecutionReverted.abci_code
        assert "the Privacy contract is not enabled on this chain" in str(
            decode_revert_reason(before.data))
        gov.advance(11 - height(gov))
        assert ledger.get_code("0x" + PRIVACY_ADDRESS.hex()) == b""  # not before its height
        after = register_node(gov, 1)  # block 12, the upgrade's: migrated before its txs
        assert height(gov) == 12 and after.code == 0, after.log
        assert ledger.get_code("0x" + PRIVACY_ADDRESS.hex()) != b""
        assert gov.read.upgrades()["applied"] == [{"name": PRIVACY_UPGRADE, "height": 12}]
        assert register_node(gov, 0).code == 0
        roots.append(ledger.info())
        # a group works from there on (its keys and sealing are random: after the roots)
        assert private_deploy_runs(gov, tmp_path / engine)
        ledger.close()
    assert roots[0] == roots[1]


def test_the_privacy_upgrade_changes_nothing_where_genesis_named_privacy(
    tmp_path: Path
) -> None:
    """Applied to a chain that has Privacy from genesis, the upgrade only records itself:
    Privacy's account and storage are those of the same chain without the upgrade."""
    from consortium.ledger.upgrades import PRIVACY_UPGRADE
    from consortium.system.privacy import PRIVACY_ADDRESS

    roots = []
    for planned in (False, True):
        state = governed_state()
        state.native_versions["Privacy"] = 1
        ledger = Ledger(tmp_path / str(planned))
        ledger.init_chain(state, 1)
        gov = Gov(ledger)
        assert register_node(gov, 0).code == 0
        if planned:
            schedule(gov, PRIVACY_UPGRADE, at=12, version="0.1.0")
        gov.advance(12 - height(gov))
        assert register_node(gov, 1).code == 0
        world = ledger._state_at(None)
        roots.append((world.storage_root(PRIVACY_ADDRESS), world.get_code(PRIVACY_ADDRESS),
                      world.get_nonce(PRIVACY_ADDRESS)))
        ledger.close()
    assert roots[0] == roots[1]
