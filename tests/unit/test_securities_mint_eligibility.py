"""A mint checks its recipient's eligibility (tester's report B4) from Securities version 2 on:
new chains start there (genesis `native_versions`); a chain made before keeps minting
unchecked, with the gas it recorded, until its members adopt the software upgrade
`securities-mint-eligibility`, which switches the rule on exactly at its height. On both
engines."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from consortium.apps.securities.contract import MINT_CHECKS_RECIPIENT
from consortium.apps.securities.model import SECURITIES_ADDRESS, restriction_message
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.system_genesis import NATIVE_ADDRESSES
from consortium.ledger.upgrades import SECURITIES_MINT_UPGRADE, handler_for
from consortium.network.init import FoundingMember, genesis_app_state
from consortium.system.upgrade_plan import LATEST_NATIVE_VERSIONS, NATIVE_VERSION_SLOT
from tests.support.governance_testkit import BANKS, Gov
from tests.support.ledger_testkit import parties_state
from tests.support.securities_testkit import (
    AGENT,
    ALICE,
    BANK,
    BOB,
    CAROL,
    DAVE,
    DOC,
    ISIN,
    ISIN_2,
    KYC,
    PARTIES,
    REGULATOR,
    STRANGER,
    Chain,
    low,
    securities_state,
)

ENGINES = ("revm", "py-evm")
# Four voting banks beside the securities parties (observers, no vote): the banks pass the
# software upgrade.
VOTERS = {f"Bank {i}": (BANKS[i], []) for i in range(4)}


def old_state() -> AppState:
    """A chain made before version 2: its genesis names no Securities version."""
    return parties_state(VOTERS | PARTIES, observers=frozenset(PARTIES))


def new_state() -> AppState:
    return dataclasses.replace(old_state(), native_versions={"Securities": 2})


def open_chain(path: Path, state: AppState, engine: str = "revm") -> Chain:
    ledger = Ledger(path, engine=engine)
    ledger.init_chain(state, 1)
    return Chain(ledger)


@pytest.fixture(params=ENGINES)
def new_chain(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Chain]:
    chain = open_chain(tmp_path, new_state(), request.param)
    chain.market()  # CNY, ISIN issued to AGENT; AGENT, ALICE, BOB, CAROL registered in CN
    yield chain
    chain.ledger.close()


def version(chain: Chain) -> int:
    raw = chain.ledger.get_storage_at("0x" + SECURITIES_ADDRESS.hex(), NATIVE_VERSION_SLOT)
    return int.from_bytes(raw, "big") or 1


def refusal(code: int, account: object) -> str:
    return f"mint refused (code {code}): {restriction_message(code)} ({low(account)})"


def supply(chain: Chain, isin: str = ISIN) -> int:
    return int(chain.read.instrument(isin)["supply"])


def balance(chain: Chain, account: object, isin: str = ISIN) -> int:
    return int(chain.read.holding(isin, low(account))["balance"])


# --- a new chain -----------------------------------------------------------------------------


def test_new_chains_start_at_the_checked_mint() -> None:
    """`consortium init` writes the newest Securities version (4, which keeps 2's checked
    mint) at the address the ledger writes it to; the upgrade's handler ships with this
    software."""
    member = FoundingMember("Bank A", "0x" + "11" * 20, ("ab" * 20,), ())
    state = genesis_app_state([member], eth_chain_id=1, roles={}, dev_balances=False)
    assert state.native_versions["Securities"] == LATEST_NATIVE_VERSIONS["Securities"] == 4
    assert MINT_CHECKS_RECIPIENT == 2
    assert NATIVE_ADDRESSES["Securities"] == SECURITIES_ADDRESS
    assert AppState.from_json(state.to_json()).native_versions == state.native_versions
    assert handler_for(SECURITIES_MINT_UPGRADE) is not None


def test_a_mint_to_an_ineligible_recipient_is_refused_with_its_code(new_chain: Chain) -> None:
    c = new_chain
    assert version(c) == 2
    before = supply(c)
    # not a registered investor (DAVE holds the investor role, but no custodian KYC'd it)
    assert c.refused(AGENT, "mint", ISIN, DAVE.address, 10) == refusal(2, DAVE)
    # its KYC expired
    c.ok(BANK, "setInvestor", DAVE.address, c.height + 2, "CN", False)
    c.empty_blocks(2)
    assert c.refused(AGENT, "mint", ISIN, DAVE.address, 10) == refusal(4, DAVE)
    # frozen by its custodian, by the regulator
    c.ok(BANK, "setInvestor", BOB.address, KYC, "CN", True)
    assert c.refused(AGENT, "mint", ISIN, BOB.address, 10) == refusal(6, BOB)
    c.ok(REGULATOR, "freezeInvestor", ALICE.address, "inquiry")
    assert c.refused(AGENT, "mint", ISIN, ALICE.address, 10) == refusal(6, ALICE)
    c.ok(REGULATOR, "unfreezeInvestor", ALICE.address, "cleared")
    # outside the instrument's jurisdictions
    c.ok(AGENT, "setJurisdictions", ISIN, ["CN"])
    c.ok(BANK, "setInvestor", CAROL.address, KYC, "SG", False)
    assert c.refused(AGENT, "mint", ISIN, CAROL.address, 10) == refusal(8, CAROL)
    assert supply(c) == before and balance(c, DAVE) == 0
    # the same answer as a transfer's recipient check
    for acct, code in ((DAVE, 4), (BOB, 6), (CAROL, 8), (ALICE, 0)):
        assert c.read.restriction(ISIN, low(AGENT), low(acct), 1)["code"] == code
    # an eligible investor receives the units
    c.ok(AGENT, "mint", ISIN, ALICE.address, 50)
    assert balance(c, ALICE) == 150 and supply(c) == before + 50
    assert sum(h["balance"] for h in c.read.holders(ISIN)) == supply(c)


def test_the_issuer_account_takes_a_mint_without_registration_but_not_frozen(
    new_chain: Chain,
) -> None:
    """As `issue` credits it: the instrument's own issuer account need not be a registered
    investor; a freeze still refuses new units there."""
    c = new_chain
    c.ok(AGENT, "issue", ISIN_2, "BHP Group", STRANGER.address, 1_000, DOC, "CNY", 0)
    c.ok(AGENT, "mint", ISIN_2, STRANGER.address, 500)
    assert balance(c, STRANGER, ISIN_2) == 1_500 and supply(c, ISIN_2) == 1_500
    # the issuer of one instrument is an ordinary recipient of another
    assert c.refused(AGENT, "mint", ISIN, STRANGER.address, 1) == refusal(2, STRANGER)
    c.ok(REGULATOR, "freezeInvestor", STRANGER.address, "inquiry")
    assert c.refused(AGENT, "mint", ISIN_2, STRANGER.address, 1) == refusal(6, STRANGER)
    # and the units leave it only through checked transfers (the issuer as a sender)
    c.ok(REGULATOR, "unfreezeInvestor", STRANGER.address, "cleared")
    assert "code 1" in c.refused(STRANGER, "transfer", ISIN_2, ALICE.address, 1)


# --- a chain made before: the old rule, then the upgrade ---------------------------------------

# The gas each of these mints used before this change (measured at commit e15eb0b, on both
# engines): a chain at version 1 must replay its mints with exactly this gas.
RECORDED_MINT_GAS = (349_466, 227_366, 227_354, 349_466)


@pytest.mark.parametrize("engine", ENGINES)
def test_an_old_chain_mints_unchecked_with_the_gas_it_recorded(tmp_path: Path,
                                                               engine: str) -> None:
    c = open_chain(tmp_path, securities_state(), engine)
    try:
        c.market()
        assert version(c) == 1
        gas = tuple(c.ok(AGENT, "mint", ISIN, acct.address, 7).gas_used
                    for acct in (DAVE, ALICE, AGENT, STRANGER))
        assert gas == RECORDED_MINT_GAS
        assert balance(c, DAVE) == 7 and balance(c, STRANGER) == 7
    finally:
        c.ledger.close()


def test_the_upgrade_switches_the_rule_on_at_its_height_on_both_engines(tmp_path: Path) -> None:
    chains = [open_chain(tmp_path / engine, old_state(), engine) for engine in ENGINES]
    try:
        for c in chains:
            c.market()
        at = chains[0].height + 8
        for c in chains:
            Gov(c.ledger).pass_("software-upgrade", SECURITIES_MINT_UPGRADE, at, "0.1.0")
        assert len({c.ledger.info() for c in chains}) == 1
        for c in chains:
            assert version(c) == 1
            c.ok(AGENT, "mint", ISIN, DAVE.address, 5)  # before the height: unchecked
            while c.height < at - 1:
                c.empty_blocks(1)
            # the block at the height: the handler runs before its transactions
            (result,) = c.block([c.tx(AGENT, "mint", ISIN, DAVE.address, 5)]).tx_results
            assert result.code != 0
            assert c.height == at and version(c) == 2
            assert c.refused(AGENT, "mint", ISIN, DAVE.address, 5) == refusal(2, DAVE)
            c.ok(AGENT, "mint", ISIN, ALICE.address, 5)
            assert balance(c, DAVE) == 5
            applied = Gov(c.ledger).read.upgrades()["applied"]
            assert applied == [{"name": SECURITIES_MINT_UPGRADE, "height": at}]
        assert len({c.ledger.info() for c in chains}) == 1  # the same app hash
    finally:
        for c in chains:
            c.ledger.close()


def test_the_upgrade_changes_nothing_on_a_chain_made_at_version_2(tmp_path: Path) -> None:
    """Voted by mistake on a new chain, the upgrade applies (no node stops) and the contract
    stays at version 2."""
    c = open_chain(tmp_path, new_state())
    try:
        at = c.height + 6
        Gov(c.ledger).pass_("software-upgrade", SECURITIES_MINT_UPGRADE, at, "0.1.0")
        while c.height < at + 1:
            c.empty_blocks(1)
        assert version(c) == 2
        assert Gov(c.ledger).read.upgrades()["applied"] == [
            {"name": SECURITIES_MINT_UPGRADE, "height": at}]
    finally:
        c.ledger.close()
