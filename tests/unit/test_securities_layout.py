"""Securities storage layout 3 (issue 23): trades and checkpoints packed. New chains start
past it (layout 4, tests/unit/test_securities_lean.py); a chain made before keeps its
layout, with the gas it recorded, until its members adopt the software upgrade
`securities-layout-3`, which rewrites every trade and checkpoint exactly at its height —
every answer the same before and after, on both engines, one app hash."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from consortium.apps.securities.model import SECURITIES_ADDRESS, isin_word
from consortium.apps.securities.state import (
    Checkpoint,
    PackedCheckpoint,
    PackedTrade,
    SecuritiesState,
    Trade,
)
from consortium.apps.securities.upgrade import SECURITIES_LAYOUT_UPGRADE
from consortium.evm.host import Storage
from consortium.ledger.ledger import Ledger
from consortium.ledger.upgrades import handler_for
from consortium.network.init import NEW_CHAIN_NATIVE_VERSIONS
from consortium.system.upgrade_plan import LATEST_NATIVE_VERSIONS, NATIVE_VERSION_SLOT
from tests.support.governance_testkit import BANKS, Gov
from tests.support.ledger_testkit import parties_state
from tests.support.securities_testkit import (
    AGENT,
    ALICE,
    BOB,
    CAROL,
    ISIN,
    ISIN_2,
    PARTIES,
    Chain,
    low,
)

ENGINES = ("revm", "py-evm")
VOTERS: dict[str, tuple[Any, list[str]]] = {f"Bank {i}": (BANKS[i], []) for i in range(4)}
ADDRESS = "0x" + SECURITIES_ADDRESS.hex()


def open_chain(path: Path, version: int, engine: str = "revm") -> Chain:
    state = parties_state(VOTERS | PARTIES, observers=frozenset(PARTIES))
    if version > 1:
        state = dataclasses.replace(state, native_versions={"Securities": version})
    ledger = Ledger(path, engine=engine)
    ledger.init_chain(state, 1)
    return Chain(ledger)


def height(c: Chain) -> int:
    return c.ledger.info()[0]


def slot(c: Chain, number: int) -> int:
    return int.from_bytes(c.ledger.get_storage_at(ADDRESS, number), "big")


def version(c: Chain) -> int:
    return slot(c, NATIVE_VERSION_SLOT) or 1


def history(c: Chain) -> int:
    """Trades settled at once and pending (a T+2 instrument), balances and supplies moved
    over several heights; answers a height in the middle."""
    c.market()
    c.market(isin=ISIN_2, cycle=2)
    c.order(ALICE, "sell", 10, 100)
    c.order(BOB, "buy", 6, 100)  # a trade, settled at once
    middle = height(c)
    c.order(CAROL, "buy", 4, 101)  # crosses the rest of Alice's
    c.order(BOB, "sell", 5, 50, isin=ISIN_2)
    c.order(CAROL, "buy", 5, 50, isin=ISIN_2)  # pending: T+2
    c.ok(AGENT, "mint", ISIN, ALICE.address, 25)  # the supply moves too
    # resting orders queued at one price (linked to each other) and at a worse one
    for acct, price in ((ALICE, 120), (CAROL, 120), (BOB, 120), (CAROL, 121)):
        c.order(acct, "sell", 2, price)
    c.order(BOB, "buy", 1, 90)
    return middle


def answers(c: Chain, middle: int) -> dict[str, Any]:
    read = c.read
    accounts = [low(a) for a in (AGENT, ALICE, BOB, CAROL)]
    return {
        "trades": read.trades(),
        "pending": read.pending_trades(ISIN_2),
        "balances": [[read.balance_at(isin, a, h) for a in accounts for h in (middle, 10**6)]
                     for isin in (ISIN, ISIN_2)],
        "supply": [read.supply_at(isin, h) for isin in (ISIN, ISIN_2) for h in (middle, 10**6)],
        "holders": read.holders_at(ISIN, middle),
        "orders": read.orders(),
        "book": read.book(ISIN),
    }


def test_layout_3_packs_trades_and_checkpoints() -> None:
    assert NEW_CHAIN_NATIVE_VERSIONS["Securities"] == LATEST_NATIVE_VERSIONS["Securities"] >= 3
    assert handler_for(SECURITIES_LAYOUT_UPGRADE) is not None
    for old, new, slots, words in ((Trade, PackedTrade, 13, 5),
                                   (Checkpoint, PackedCheckpoint, 2, 1)):
        assert new.abi_type() == old.abi_type() and issubclass(new, old)
        assert slots == old.SLOTS and words == new.SLOTS


@pytest.mark.parametrize("engine", ENGINES)
def test_a_matching_order_writes_fewer_slots_at_layout_3(tmp_path: Path, engine: str) -> None:
    used = {}
    for layout in (2, 3):
        c = open_chain(tmp_path / str(layout), layout, engine)
        try:
            c.market()
            c.order(ALICE, "sell", 10, 100)
            out = c.ok(BOB, "placeOrder", ISIN, 1, 100, 10, 0)
            used[layout] = out.gas_used
            assert c.read.trades()[0]["quantity"] == 10
        finally:
            c.ledger.close()
    # the order's writes, a new trade's 11 writes in 5 words, two balance checkpoints' 4 in 2
    # (gas schedule 1: 20,000 a write)
    assert used[2] - used[3] > 10 * 19_000, used


# The gas of a resting sell, a matching buy, a buy crossing two prices, a T+2 sell and its
# match, and a mint on a chain at version 2 (measured at commit ff5888b, before layout 3, on
# both engines): such a chain must replay them with exactly this gas.
VERSION_2_GAS = (570_811, 1_362_989, 1_652_303, 570_811, 1_333_992, 256_766)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_chain_at_version_2_keeps_its_gas(tmp_path: Path, engine: str) -> None:
    c = open_chain(tmp_path, 2, engine)
    try:
        c.market()
        c.market(isin=ISIN_2, cycle=2)
        gas = tuple(c.ok(*call).gas_used for call in (
            (ALICE, "placeOrder", ISIN, 2, 100, 10, 0), (BOB, "placeOrder", ISIN, 1, 100, 6, 0),
            (CAROL, "placeOrder", ISIN, 1, 101, 4, 0), (BOB, "placeOrder", ISIN_2, 2, 50, 5, 0),
            (CAROL, "placeOrder", ISIN_2, 1, 50, 5, 0), (AGENT, "mint", ISIN, ALICE.address, 25)))
        assert gas == VERSION_2_GAS
    finally:
        c.ledger.close()


def test_the_upgrade_repacks_trades_and_checkpoints_on_both_engines(tmp_path: Path) -> None:
    chains = [open_chain(tmp_path / engine, 2, engine) for engine in ENGINES]
    try:
        middle = 0
        for c in chains:
            middle = history(c)
        before = answers(chains[0], middle)
        assert len(before["trades"]) == 3 and before["pending"]
        at = height(chains[0]) + 8
        for c in chains:
            Gov(c.ledger).pass_("software-upgrade", SECURITIES_LAYOUT_UPGRADE, at, "0.1.0")
        assert len({c.ledger.info() for c in chains}) == 1
        for c in chains:
            assert answers(c, middle) == before and version(c) == 2
            while height(c) < at - 1:
                c.empty_blocks(1)
            c.empty_blocks(1)  # the block at the height: the migration runs first
            assert height(c) == at and version(c) == 3
            assert answers(c, middle) == before
            # nothing of the old layout past the packed words
            for n in (1, 2, 3):
                base = Storage.at(SecuritiesState.TRADE, n)
                assert [slot(c, base + i) for i in range(5, 13)] == [0] * 8
            S, isin = SecuritiesState, isin_word(ISIN)
            for account in (ALICE, BOB, CAROL):
                raw = bytes.fromhex(account.address[2:])
                count = slot(c, Storage.at(S.CHECKPOINTS, isin, raw))
                entries = Storage.at(S.CHECKPOINT, isin, raw)
                assert count and all(slot(c, Storage.at(entries, i) + 1) == 0
                                     for i in range(count))
            for n in range(1, 11):
                base = Storage.at(SecuritiesState.ORDER, n)
                assert [slot(c, base + i) for i in range(7, 13)] == [0] * 6
            # and it goes on in layout 3: a buy takes the queue at 120 in its order (the links
            # moved with the orders), Carol's first one is cancelled out of the middle
            resting = [o["id"] for o in before["orders"] if o["state"] == "open"]
            c.ok(CAROL, "cancelOrder", resting[1])
            c.order(AGENT, "buy", 4, 120)
            trades = c.read.trades()
            assert [t["sellOrder"] for t in trades[-2:]] == [resting[0], resting[2]]
            book = c.read.book(ISIN)
            assert [(lv["price"], lv["quantity"]) for lv in book["asks"]] == [(121, 2)]
            assert c.read.balance_at(ISIN, low(AGENT), 10**6) == before["balances"][0][1] + 4
            applied = Gov(c.ledger).read.upgrades()["applied"]
            assert applied == [{"name": SECURITIES_LAYOUT_UPGRADE, "height": at}]
        assert len({c.ledger.info() for c in chains}) == 1  # the same app hash
    finally:
        for c in chains:
            c.ledger.close()
