"""The natives' gas schedule (`consortium.evm.native.write_gas`): under schedule 1 (chains
made before it) every storage write of a native costs 20,000; under 2 (new chains, genesis
`native_gas: 2`, or an older chain from the software upgrade `native-gas-2` on) a write is
priced by the slot's present value, as the EVM prices SSTORE: 20,000 to set an empty slot,
2,900 to change or clear a set one, 100 to leave it as it is. Each price is pinned here on
both engines, through each way a native writes (one slot; a record's fields in one engine
call; a set's entries in one engine call), and the upgrade switches it at its height."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from consortium.evm.chain_rules import NATIVE_GAS_RULE
from consortium.evm.field_types import Uint
from consortium.evm.native import (
    NATIVE_GAS,
    NativeCalls,
    NativeContract,
    method,
    native_address,
    register,
    write_gas,
)
from consortium.evm.records import Record, WordSet
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.upgrades import NATIVE_GAS_UPGRADE
from consortium.system.client import GovernanceClient
from tests.support.governance_testkit import BANKS, Gov
from tests.support.ledger_testkit import (
    chain_rule,
    new_chain_state,
    parties_state,
    run_block,
    sign,
)
from tests.support.services_api_testkit import LiveNode

ENGINES = ("revm", "py-evm")
PROBE = native_address(0xFF07)
PROBE_HEX = "0x" + PROBE.hex()
VOTERS = {f"Bank {i}": (BANKS[i], []) for i in range(4)}
SENDER = BANKS[0]
FRESH, CHANGE, SAME = NATIVE_GAS["sstore"], NATIVE_GAS["sstore_change"], NATIVE_GAS["sstore_same"]
SLOAD = NATIVE_GAS["sload"]


class Pair(Record):
    """Two one-word fields: written in one engine call on revm (`Storage.sstores`)."""

    a: Uint
    b: Uint


@register
class GasProbe(NativeContract):
    """Writes exactly what it is asked to: a method that writes nothing with the same
    calldata is the baseline, so a call's gas less the baseline's is the writes' price."""

    address = PROBE

    @method("put(uint256,uint256)")
    def put(self, slot: int, value: int) -> None:
        self.storage.set_uint(slot, value)

    @method("skip(uint256,uint256)")
    def skip(self, slot: int, value: int) -> None:
        return None

    @method("putPair(uint256,uint256)")
    def put_pair(self, a: int, b: int) -> None:
        Pair.put_fields(self.storage, 1000, a=a, b=b)

    @method("setAdd(uint256,uint256)")
    def set_add(self, key: int, unused: int) -> None:
        WordSet(self.storage, 2000).add(key)

    @method("setRemove(uint256,uint256)")
    def set_remove(self, key: int, unused: int) -> None:
        WordSet(self.storage, 2000).remove(key)


CALLS = NativeCalls(GasProbe)


def state(native_gas: int) -> AppState:
    return dataclasses.replace(parties_state(VOTERS), native_gas=native_gas)


@pytest.fixture(params=[(e, s) for e in ENGINES for s in (1, 2)],
                ids=lambda p: f"{p[0]}-schedule{p[1]}")
def chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Ledger, int]]:
    engine, schedule = request.param
    ledger = Ledger(tmp_path, engine=engine)
    ledger.init_chain(state(schedule), 1)
    yield ledger, schedule
    ledger.close()


def gas(ledger: Ledger, name: str, x: int, y: int) -> int:
    """The gas of `name(x, y)` less that of `skip(x, y)` (the same calldata, no write)."""
    used = []
    for method_name in (name, "skip"):
        data = CALLS.encode(method_name, x, y)
        nonce = ledger.get_nonce(SENDER.address)
        raw = sign(SENDER, nonce=nonce, to=PROBE_HEX, data=data, gas=1_000_000)
        (result,) = run_block(ledger, [raw]).tx_results
        assert result.code == 0, result.log
        used.append(result.gas_used)
    return used[0] - used[1]


def test_one_write_is_priced_by_the_schedule_and_the_slot(chain: tuple[Ledger, int]) -> None:
    ledger, schedule = chain
    priced = schedule == 2
    assert gas(ledger, "put", 7, 5) == FRESH  # an empty slot set
    assert gas(ledger, "put", 7, 6) == (CHANGE if priced else FRESH)  # changed
    assert gas(ledger, "put", 7, 6) == (SAME if priced else FRESH)  # left as it is
    assert gas(ledger, "put", 7, 0) == (CHANGE if priced else FRESH)  # cleared
    assert gas(ledger, "put", 7, 0) == (SAME if priced else FRESH)  # empty, left empty
    assert int.from_bytes(ledger.get_storage_at(PROBE_HEX, 7), "big") == 0


def test_a_records_fields_and_a_sets_entries_are_priced_alike(
        chain: tuple[Ledger, int]) -> None:
    """On revm these go through the engine's batched writes and set operation: each write
    priced as one `sstore` is, by its slot."""
    ledger, schedule = chain
    priced = schedule == 2
    assert gas(ledger, "putPair", 1, 2) == 2 * FRESH
    assert gas(ledger, "putPair", 1, 3) == ((SAME + CHANGE) if priced else 2 * FRESH)
    # an add reads the key's position and the count, then writes the item, its position
    # and the count: all empty for the first key; the count is set for the second
    assert gas(ledger, "setAdd", 11, 0) == 2 * SLOAD + 3 * FRESH
    assert gas(ledger, "setAdd", 12, 0) == 2 * SLOAD + (
        2 * FRESH + CHANGE if priced else 3 * FRESH)
    # removing the first key: its position, the count, the last item (moved into its place:
    # a change, and its position: a change), then the last place, the key's position (both
    # cleared) and the count (changed)
    assert gas(ledger, "setRemove", 11, 0) == 3 * SLOAD + (
        5 * CHANGE if priced else 5 * FRESH)


def test_the_price_of_a_write() -> None:
    assert [write_gas(1, p, v) for p, v in ((0, 1), (1, 2), (2, 2), (2, 0))] == [FRESH] * 4
    assert [write_gas(2, p, v) for p, v in ((0, 1), (1, 2), (2, 2), (2, 0), (0, 0), (0, -1))] \
        == [FRESH, CHANGE, SAME, CHANGE, SAME, FRESH]


def test_new_chains_start_at_schedule_2_and_old_genesis_files_keep_1() -> None:
    new = new_chain_state()
    assert new.native_gas == 2 and AppState.from_json(new.to_json()).native_gas == 2
    old = new.to_json()
    del old["native_gas"]
    assert AppState.from_json(old).native_gas == 1
    with pytest.raises(Exception, match="native_gas: schedules 1, 2 exist, not 3"):
        AppState.from_json(new.to_json() | {"native_gas": 3})


def _schedule(ledger: Ledger) -> int:
    return chain_rule(ledger, NATIVE_GAS_RULE)


def test_the_upgrade_switches_the_price_at_its_height_on_both_engines(tmp_path: Path) -> None:
    ledgers = []
    for engine in ENGINES:
        ledger = Ledger(tmp_path / engine, engine=engine)
        ledger.init_chain(state(1), 1)
        ledgers.append(ledger)
    try:
        at = ledgers[0].info()[0] + 14  # after the vote (4 blocks) and two calls (4)
        for ledger in ledgers:
            Gov(ledger).pass_("software-upgrade", NATIVE_GAS_UPGRADE, at, "0.1.0")
        for ledger in ledgers:
            assert gas(ledger, "put", 3, 1) == FRESH
            assert gas(ledger, "put", 3, 2) == FRESH  # schedule 1: a change too
            assert _schedule(ledger) == 1
            while ledger.info()[0] < at - 2:
                run_block(ledger, [])
            # `gas` sends two blocks: the write at height at - 1, the baseline at `at`
            assert gas(ledger, "put", 3, 4) == FRESH
            assert ledger.info()[0] == at and _schedule(ledger) == 2
            assert gas(ledger, "put", 3, 5) == CHANGE
            applied = Gov(ledger).read.upgrades()["applied"]
            assert applied == [{"name": NATIVE_GAS_UPGRADE, "height": at}]
        assert len({ledger.info() for ledger in ledgers}) == 1  # the same app hash
    finally:
        for ledger in ledgers:
            ledger.close()


def test_the_upgrade_changes_nothing_on_a_chain_made_at_schedule_2(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path, engine="revm")
    ledger.init_chain(state(2), 1)
    try:
        at = ledger.info()[0] + 6
        Gov(ledger).pass_("software-upgrade", NATIVE_GAS_UPGRADE, at, "0.1.0")
        while ledger.info()[0] < at + 1:
            run_block(ledger, [])
        assert _schedule(ledger) == 2
        assert gas(ledger, "put", 3, 1) == FRESH and gas(ledger, "put", 3, 2) == CHANGE
    finally:
        ledger.close()




@pytest.mark.parametrize("schedule", (1, 2))
def test_a_client_reads_the_schedule_over_the_api(tmp_path: Path, schedule: int) -> None:
    """`consortium upgrades` shows it (`GovernanceClient.chain_rules`)."""

    def ledger_at(path: Path) -> Ledger:
        ledger = Ledger(path)
        ledger.init_chain(state(schedule), 1)
        return ledger

    node = LiveNode(tmp_path, ledger=ledger_at, parties={"Bank 0": SENDER})
    try:
        assert GovernanceClient(node.url).chain_rules() == {"native_gas": schedule,
                                                            "evm_clock": 1}
    finally:
        node.close()
