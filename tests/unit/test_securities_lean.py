"""Securities layout 4 (issue 23): an order's lean path in the same slots — each record it
changes written once, the instrument's terms read rather than the whole record, an
investor's words read once, and the per-account orders and trades and per-ISIN trades kept
as append-only lists. New chains start at it; a chain at version 3 keeps its path and its
gas until its members adopt `securities-layout-4`, which clears the positions those sets
kept (from an older layout it rewrites to layout 3 first) — every answer the same, on both
engines, one app hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from consortium.apps.securities.model import isin_word
from consortium.apps.securities.state import SecuritiesState
from consortium.apps.securities.upgrade import SECURITIES_LEAN_UPGRADE
from consortium.evm.host import Storage
from consortium.ledger.upgrades import handler_for
from consortium.network.init import NEW_CHAIN_NATIVE_VERSIONS
from consortium.system.upgrade_plan import LATEST_NATIVE_VERSIONS
from tests.support.governance_testkit import Gov
from tests.support.securities_testkit import AGENT, ALICE, BOB, CAROL, ISIN, ISIN_2, Chain, low
from tests.unit.test_securities_layout import (
    ENGINES,
    answers,
    height,
    history,
    open_chain,
    slot,
    version,
)

S = SecuritiesState
# a resting sell, a matching buy, a buy crossing two prices, a T+2 sell and its match, a
# mint, a resting sell and its cancel
CALLS = ((ALICE, "placeOrder", ISIN, 2, 100, 10, 0), (BOB, "placeOrder", ISIN, 1, 100, 6, 0),
         (CAROL, "placeOrder", ISIN, 1, 101, 4, 0), (BOB, "placeOrder", ISIN_2, 2, 50, 5, 0),
         (CAROL, "placeOrder", ISIN_2, 1, 50, 5, 0), (AGENT, "mint", ISIN, ALICE.address, 25),
         (ALICE, "placeOrder", ISIN, 2, 120, 3, 0), (ALICE, "cancelOrder", 6))
# their gas on a chain at version 3 (measured at commit 7543b1a, before layout 4, on both
# engines): such a chain must replay them with exactly this gas
VERSION_3_GAS = (523_411, 1_134_589, 1_428_103, 523_411, 1_147_692, 216_766, 523_411, 322_182)


def gas_of_calls(path: Path, layout: int, engine: str) -> tuple[int, ...]:
    c = open_chain(path, layout, engine)
    try:
        c.market()
        c.market(isin=ISIN_2, cycle=2)
        return tuple(c.ok(*call).gas_used for call in CALLS)
    finally:
        c.ledger.close()


def test_new_chains_start_at_layout_4() -> None:
    assert NEW_CHAIN_NATIVE_VERSIONS["Securities"] == LATEST_NATIVE_VERSIONS["Securities"] == 4
    assert handler_for(SECURITIES_LEAN_UPGRADE) is not None


@pytest.mark.parametrize("engine", ENGINES)
def test_a_chain_at_version_3_keeps_its_gas_and_layout_4_costs_less(tmp_path: Path,
                                                                    engine: str) -> None:
    old = gas_of_calls(tmp_path / "3", 3, engine)
    assert old == VERSION_3_GAS
    new = gas_of_calls(tmp_path / "4", 4, engine)
    # every order and the mint cost less (records written once, the terms and an investor's
    # words read once, one fresh slot an index entry); the cancel's path is unchanged
    assert all(n < o for n, o in zip(new[:-1], old[:-1], strict=True)), (new, old)
    assert new[-1] == old[-1]
    assert old[1] - new[1] > 200_000, (new, old)  # a matching order's saving


def positions(c: Chain) -> list[int]:
    """The set positions of every order id in its owner's orders and every trade id in its
    ISIN's and its parties' trades (0 where none is kept)."""
    out = []
    for order in c.read.orders():
        owner = bytes.fromhex(order["owner"][2:])
        out.append(slot(c, Storage.at(Storage.at(S.ORDERS_OF, owner) + 1, order["id"])))
    for trade in c.read.trades():
        n = trade["id"]
        out.append(slot(c, Storage.at(Storage.at(S.TRADES_OF_ISIN, isin_word(trade["isin"]))
                                      + 1, n)))
        for party in (trade["buyer"], trade["seller"]):
            out.append(slot(c, Storage.at(Storage.at(S.TRADES_OF, bytes.fromhex(party[2:]))
                                          + 1, n)))
    return out


def by_account(c: Chain, acct: object) -> tuple[list[int], list[int]]:
    """The ids of an account's orders and trades, as its indexes answer them."""
    return ([o["id"] for o in c.read.orders(account=low(acct))],
            [t["id"] for t in c.read.trades(account=low(acct))])


@pytest.mark.parametrize("start", (2, 3))
def test_the_upgrade_to_layout_4_on_both_engines(tmp_path: Path, start: int) -> None:
    chains = [open_chain(tmp_path / engine, start, engine) for engine in ENGINES]
    try:
        middle = 0
        for c in chains:
            middle = history(c)
        before = answers(chains[0], middle)
        mine = {a: by_account(chains[0], a) for a in (ALICE, BOB, CAROL)}
        assert all(positions(chains[0]))  # kept as sets so far
        at = height(chains[0]) + 8
        for c in chains:
            Gov(c.ledger).pass_("software-upgrade", SECURITIES_LEAN_UPGRADE, at, "0.1.0")
        for c in chains:
            while height(c) < at:
                c.empty_blocks(1)
            assert version(c) == 4
            assert answers(c, middle) == before
            assert {a: by_account(c, a) for a in mine} == mine
            assert not any(positions(c))  # lists now: no positions left
            # and it goes on in layout 4: a buy takes the queue at 120 in its order, its
            # order and trades join the lists
            resting = [o["id"] for o in before["orders"] if o["state"] == "open"]
            c.ok(CAROL, "cancelOrder", resting[1])
            placed = c.order(AGENT, "buy", 4, 120)
            trades = c.read.trades()
            assert [t["sellOrder"] for t in trades[-2:]] == [resting[0], resting[2]]
            assert [t["state"] for t in trades[-2:]] == ["settled", "settled"]
            done = c.read.order(placed)
            assert done is not None and done["state"] == "filled"
            assert c.read.orders(account=low(AGENT))[-1]["id"] == placed
            new = [t["id"] for t in trades[-2:]]
            assert [t["id"] for t in c.read.trades(account=low(AGENT))] == new
            assert [t["id"] for t in c.read.trades(isin=ISIN)][-2:] == new
            book = c.read.book(ISIN)
            assert [(lv["price"], lv["quantity"]) for lv in book["asks"]] == [(121, 2)]
            assert not any(positions(c))
            applied = Gov(c.ledger).read.upgrades()["applied"]
            assert applied == [{"name": SECURITIES_LEAN_UPGRADE, "height": at}]
        assert len({c.ledger.info() for c in chains}) == 1  # the same app hash
    finally:
        for c in chains:
            c.ledger.close()
