"""The EVM clock (`consortium.evm.header.block_timestamp`): under clock rule 2 (chains made
now, genesis `evm_clock: 2`, or an older chain from the software upgrade `evm-clock-2` on) a
block's timestamp is its consensus time in whole seconds, never below its parent's, so blocks
within one second share it and the clock keeps wall time. Under rule 1 (chains made before)
each block is at least a second past its parent: with a block every half second the clock
ran a second ahead every two blocks, without bound (hours a day). On both engines, and the
rule survives a restart (it is read from the state)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from consortium.evm.chain_rules import EVM_CLOCK_RULE
from consortium.evm.header import block_timestamp
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.upgrades import EVM_CLOCK_UPGRADE
from tests.support.governance_testkit import BANKS, Gov
from tests.support.ledger_testkit import T0, chain_rule, ctx, new_chain_state, parties_state

ENGINES = ("revm", "py-evm")
VOTERS = {f"Bank {i}": (BANKS[i], []) for i in range(4)}


def state(rule: int) -> AppState:
    return dataclasses.replace(parties_state(VOTERS), evm_clock=rule)


def half_second_blocks(ledger: Ledger, count: int, start: float) -> list[int]:
    """`count` empty blocks, one every half second of consensus time from `start` seconds
    after T0: their EVM timestamps, less T0's seconds."""
    out = []
    for i in range(count):
        height = ledger.info()[0] + 1
        ledger.finalize_block(ctx(height, seconds=start + i / 2), [])
        ledger.commit()
        block = ledger.chain.block(height)
        assert block is not None
        out.append(block.timestamp - T0 // 10**9)
    return out


def test_the_rules() -> None:
    assert [block_timestamp(t * 10**9 // 2, 4, 1) for t in (8, 9, 10, 11)] == [5, 5, 5, 5]
    assert [block_timestamp(t * 10**9 // 2, 4, 2) for t in (8, 9, 10, 11)] == [4, 4, 5, 5]
    assert block_timestamp(3 * 10**9, 4, 2) == 4  # never below the parent's


@pytest.mark.parametrize("engine", ENGINES)
def test_rule_2_keeps_wall_time_and_rule_1_runs_ahead(tmp_path: Path, engine: str) -> None:
    for rule, expected in ((2, [100, 100, 101, 101, 102, 102]),
                           (1, [100, 101, 102, 103, 104, 105])):
        ledger = Ledger(tmp_path / f"rule{rule}", engine=engine)
        ledger.init_chain(state(rule), 1)
        try:
            assert half_second_blocks(ledger, 6, 100) == expected
        finally:
            ledger.close()


def test_the_rule_is_read_back_from_the_state_after_a_restart(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.init_chain(state(2), 1)
    half_second_blocks(ledger, 2, 100)
    ledger.close()
    ledger = Ledger(tmp_path)
    try:
        assert half_second_blocks(ledger, 2, 101) == [101, 101]
    finally:
        ledger.close()


def test_new_chains_start_at_rule_2_and_old_genesis_files_keep_1() -> None:
    new = new_chain_state()
    assert new.evm_clock == 2 and AppState.from_json(new.to_json()).evm_clock == 2
    old = new.to_json()
    del old["evm_clock"]
    assert AppState.from_json(old).evm_clock == 1
    with pytest.raises(Exception, match="evm_clock: rules 1, 2 exist, not 0"):
        AppState.from_json(new.to_json() | {"evm_clock": 0})


def test_the_upgrade_switches_the_clock_after_its_height_on_both_engines(
        tmp_path: Path) -> None:
    ledgers = []
    for engine in ENGINES:
        ledger = Ledger(tmp_path / engine, engine=engine)
        ledger.init_chain(state(1), 1)
        ledgers.append(ledger)
    try:
        at = ledgers[0].info()[0] + 8
        for ledger in ledgers:
            Gov(ledger).pass_("software-upgrade", EVM_CLOCK_UPGRADE, at, "0.1.0")
        for ledger in ledgers:
            while ledger.info()[0] < at - 3:
                half_second_blocks(ledger, 1, ledger.info()[0] + 1)  # a second apart
            # heights at-2 … at+3, half a second apart from 200 s: the block at the height
            # itself still runs under rule 1 (its handler runs before its transactions,
            # after its timestamp was made)
            stamps = half_second_blocks(ledger, 6, 200)
            assert stamps == [200, 201, 202, 202, 202, 202]  # caught up: never back
            stamps = half_second_blocks(ledger, 4, 203)
            assert stamps == [203, 203, 204, 204]
            assert chain_rule(ledger, EVM_CLOCK_RULE) == 2
            applied = Gov(ledger).read.upgrades()["applied"]
            assert applied == [{"name": EVM_CLOCK_UPGRADE, "height": at}]
        assert len({ledger.info() for ledger in ledgers}) == 1  # the same app hash
    finally:
        for ledger in ledgers:
            ledger.close()
