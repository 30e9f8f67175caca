"""Chain rules (`consortium.evm.chain_rules`): where each version sits is consensus, so the
slots are pinned here by value; genesis, the upgrades and the readers all go through one
description of each rule. The rules' effects are tested beside them
(`test_native_gas_schedule.py`, `test_evm_clock.py`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from consortium.evm.chain_rules import CHAIN_RULES, EVM_CLOCK_RULE, NATIVE_GAS_RULE, RULES_ADDRESS
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.upgrades import handler_for
from consortium.system.model import GOVERNANCE_ADDRESS
from tests.support.ledger_testkit import app_state, chain_rule, new_chain_state


def test_the_slots_are_where_chains_already_hold_them() -> None:
    assert RULES_ADDRESS == GOVERNANCE_ADDRESS
    assert NATIVE_GAS_RULE.slot == \
        0x79519ada86fc341e33bc781e6e778b73b8f7f45cf7aabf534600dad6e6c7d525
    assert EVM_CLOCK_RULE.slot == \
        0x812233a0278906322070769924e4a529507becf00dd85395bd1cc3955e4709c
    assert len({rule.slot for rule in CHAIN_RULES}) == len({rule.key for rule in CHAIN_RULES}) \
        == len(CHAIN_RULES)


def test_unset_reads_as_1() -> None:
    assert NATIVE_GAS_RULE.read(lambda address, slot: None) == 1
    assert NATIVE_GAS_RULE.read(lambda address, slot: 0) == 1
    assert EVM_CLOCK_RULE.read(lambda address, slot: 2 if slot == EVM_CLOCK_RULE.slot else 0) == 2


def test_every_version_after_1_has_its_upgrade() -> None:
    for rule in CHAIN_RULES:
        for version in rule.versions[1:]:
            assert handler_for(rule.upgrade(version)) is not None
    assert (NATIVE_GAS_RULE.upgrade(2), EVM_CLOCK_RULE.upgrade(2)) == ("native-gas-2",
                                                                       "evm-clock-2")


def test_new_chains_take_the_newest_and_genesis_lists_only_what_is_not_1() -> None:
    new = new_chain_state()
    assert new.chain_rules() == {rule.key: rule.newest for rule in CHAIN_RULES}
    assert app_state().chain_rules() == {}
    assert "native_gas" not in app_state().to_json()
    for rule in CHAIN_RULES:
        with pytest.raises(Exception, match=f"app_state.{rule.key}: .* exist, not 9"):
            AppState.from_json(new.to_json() | {rule.key: 9})


@pytest.mark.parametrize("engine", ["revm", "py-evm"])
def test_the_ledger_reads_what_genesis_wrote(tmp_path: Path, engine: str) -> None:
    for name, state in (("new", new_chain_state()), ("old", app_state())):
        ledger = Ledger(tmp_path / name, engine=engine)
        ledger.init_chain(state, 1)
        try:
            assert {rule.key: chain_rule(ledger, rule) for rule in CHAIN_RULES} == {
                rule.key: state.chain_rules().get(rule.key, 1) for rule in CHAIN_RULES}
        finally:
            ledger.close()
