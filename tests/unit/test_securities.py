"""CashTokens and Securities on a real Ledger: the order book (price-time priority, partial
fills, bounds), T+0 and T+n settlement, bilateral trades, eligibility with reason codes,
forced transfers, dividends from record-date checkpoints, cash token rules, and the shipped
ABIs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi import decode

from consortium.apps.securities.abi import CONTRACTS, abi_file, render_abi
from consortium.apps.securities.model import (
    MAX_MATCH_STEPS,
    RESTRICTIONS,
    isin_check_digit,
    isin_problem,
)
from consortium.ledger.ledger import Ledger
from tests.support.securities_testkit import (
    AGENT,
    ALICE,
    BANK,
    BOB,
    CAROL,
    DAVE,
    ISIN,
    ISIN_2,
    OPERATOR,
    REGULATOR,
    SECURITIES,
    STRANGER,
    Chain,
    low,
    securities_ledger,
    securities_state,
)


@pytest.fixture(params=(1, 3, 4), ids=("layout1", "layout3", "layout4"))
def chain(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Chain]:
    """Every rule on a chain made before versions, on one at layout 3 (orders, trades and
    checkpoints packed) and on one at layout 4 (an order's lean path)."""
    ledger = securities_ledger(tmp_path, request.param)
    yield Chain(ledger)
    ledger.close()


@pytest.fixture
def market(chain: Chain) -> Chain:
    chain.market()
    return chain


def cash(chain: Chain, acct: object) -> tuple[int, int]:
    b = chain.read.cash_balance("CNY", low(acct))
    return b["balance"], b["locked"]


def units(chain: Chain, acct: object, isin: str = ISIN) -> tuple[int, int]:
    h = chain.read.holding(isin, low(acct))
    return h["balance"], h["locked"]


def test_shipped_abis_match_the_contracts() -> None:
    for name in CONTRACTS:
        assert abi_file(name).read_text() == render_abi(name), (
            f"{name}.json is stale: run python -m consortium.apps.securities.abi"
        )
    names = {e["name"] for e in json.loads(abi_file("Securities").read_text())}
    assert {"placeOrder", "cancelOrder", "settle", "detectTransferRestriction",
            "messageForTransferRestriction", "balanceOfAt", "forceTransfer"} <= names


def test_isin_check_digits() -> None:
    for good in ("US0378331005", "AU0000XVGZA3", "GB0002634946", "CNE100000296"):
        assert isin_problem(good) is None
        assert isin_check_digit(good[:11]) == int(good[11])
    assert "check digit" in (isin_problem("US0378331006") or "")
    assert "not an ISIN" in (isin_problem("us0378331005") or "")
    assert "not an ISIN" in (isin_problem("US037833100") or "")


def test_story_1_a_book_trade_moves_shares_and_cash_in_one_transaction(market: Chain) -> None:
    c = market
    sell = c.order(ALICE, "sell", 10, 100)
    assert units(c, ALICE) == (100, 10)  # the seller's securities are locked
    before_bob, before_alice = cash(c, BOB), cash(c, ALICE)
    out = c.ok(BOB, "placeOrder", ISIN, 1, 100, 10, 0)
    (buy,) = decode(["uint256"], out.data)
    # The same transaction moved both legs.
    assert units(c, ALICE) == (90, 0) and units(c, BOB) == (110, 0)
    assert cash(c, BOB) == (before_bob[0] - 1000, 0)
    assert cash(c, ALICE) == (before_alice[0] + 1000, 0)
    (trade,) = c.read.trades()
    assert (trade["buyOrder"], trade["sellOrder"], trade["state"]) == (buy, sell, "settled")
    assert trade["tradedAt"] == trade["closedAt"] == c.height
    assert c.read.order(sell)["state"] == c.read.order(buy)["state"] == "filled"
    assert c.read.book(ISIN) == {"isin": ISIN, "currency": "CNY", "paused": False,
                                 "bids": [], "asks": []}


def test_price_time_priority_and_partial_fills(market: Chain) -> None:
    c = market
    a1 = c.order(ALICE, "sell", 5, 101)
    b1 = c.order(BOB, "sell", 5, 100)
    a2 = c.order(ALICE, "sell", 5, 100)  # same price as b1, later: behind it
    c.order(CAROL, "buy", 3, 99)  # does not cross
    assert c.read.book(ISIN)["asks"] == [{"price": 100, "quantity": 10, "orders": 2},
                                         {"price": 101, "quantity": 5, "orders": 1}]
    assert [o["id"] for o in c.read.book_orders(ISIN, "sell")] == [b1, a2, a1]
    carol_cash = cash(c, CAROL)[0]
    big = c.order(CAROL, "buy", 12, 101)
    fills = [(t["sellOrder"], t["quantity"], t["price"]) for t in c.read.trades()]
    assert fills == [(b1, 5, 100), (a2, 5, 100), (a1, 2, 101)]
    # Carol paid each fill at the resting price, not her limit.
    assert cash(c, CAROL) == (carol_cash - 1000 - 202, 3 * 99)
    assert c.read.order(big)["state"] == "filled"
    # What is left rests on the book: 3 of a1 at 101, Carol's bid at 99.
    book = c.read.book(ISIN)
    assert book["asks"] == [{"price": 101, "quantity": 3, "orders": 1}]
    assert book["bids"] == [{"price": 99, "quantity": 3, "orders": 1}]
    assert c.read.order(a1)["remaining"] == 3 and units(c, ALICE) == (93, 3)
    # A bid resting above the asks' best fills at its own price when a sell crosses it.
    c.order(BOB, "buy", 2, 105)
    assert c.read.book(ISIN)["asks"][0]["quantity"] == 1
    c.order(BOB, "buy", 4, 104)  # takes the last unit at 101, rests 3 at 104
    sell = c.order(ALICE, "sell", 4, 90)
    last = [t for t in c.read.trades() if t["sellOrder"] == sell]
    assert [(t["price"], t["quantity"]) for t in last] == [(104, 3), (99, 1)]


def test_cancel_releases_locks_and_only_the_owner_operator_or_regulator_cancels(
    market: Chain,
) -> None:
    c = market
    sell = c.order(ALICE, "sell", 10, 100)
    buy = c.order(BOB, "buy", 10, 90)
    assert cash(c, BOB)[1] == 900
    reason = c.refused(STRANGER, "cancelOrder", sell)
    assert "only the order's owner" in reason and low(STRANGER) in reason
    assert "only the order's owner" in c.refused(CAROL, "cancelOrder", buy)
    c.ok(ALICE, "cancelOrder", sell)
    c.ok(OPERATOR, "cancelOrder", buy)
    assert units(c, ALICE) == (100, 0) and cash(c, BOB)[1] == 0
    assert "cancelled: nothing to cancel" in c.refused(ALICE, "cancelOrder", sell)
    assert c.read.book(ISIN)["asks"] == [] and c.read.book(ISIN)["bids"] == []
    again = c.order(CAROL, "sell", 1, 100)
    c.ok(REGULATOR, "cancelOrder", again)


def test_expiry_heights(market: Chain) -> None:
    c = market
    reason = c.refused(ALICE, "placeOrder", ISIN, 2, 100, 5, c.height)
    assert "has passed" in reason
    short = c.order(ALICE, "sell", 5, 100, expiry=c.height + 3)
    assert "expires at height" in c.refused(BOB, "expireOrder", short)
    c.empty_blocks(2)
    assert c.read.book(ISIN)["asks"] == []  # the depth leaves out orders past their expiry
    # A crossing order removes the expired one instead of trading with it.
    buy = c.order(BOB, "buy", 5, 100)
    assert c.read.order(short)["state"] == "expired" and c.read.trades() == []
    assert units(c, ALICE) == (100, 0)
    assert c.read.order(buy)["state"] == "open"
    # Anyone may expire an order past its expiry.
    other = c.order(CAROL, "sell", 1, 200, expiry=c.height + 2)
    c.empty_blocks(1)
    c.ok(STRANGER, "expireOrder", other)
    assert c.read.order(other)["state"] == "expired" and units(c, CAROL) == (100, 0)


def test_self_trade_prevention_and_ineligible_resting_orders(market: Chain) -> None:
    c = market
    own = c.order(ALICE, "sell", 5, 100)
    bid = c.order(ALICE, "buy", 5, 100)
    assert c.read.order(own)["state"] == "cancelled" and c.read.trades() == []
    assert c.read.order(bid)["state"] == "open"
    c.ok(ALICE, "cancelOrder", bid)
    bobs = c.order(BOB, "sell", 5, 100)
    c.ok(REGULATOR, "freezeInvestor", BOB.address, "investigation")
    carol = c.order(CAROL, "buy", 5, 100)
    assert c.read.order(bobs)["state"] == "cancelled"
    assert c.read.order(carol)["state"] == "open" and c.read.trades() == []
    assert units(c, BOB) == (100, 0)


def test_matching_work_is_bounded(market: Chain) -> None:
    c = market
    txs = [c.tx(ALICE, "placeOrder", ISIN, 2, 100, 1, 0) for _ in range(MAX_MATCH_STEPS + 4)]
    c.block(txs)
    out = c.ok(BOB, "placeOrder", ISIN, 1, 100, MAX_MATCH_STEPS + 4, 0)
    (order_id,) = decode(["uint256"], out.data)
    assert len(c.read.trades()) == MAX_MATCH_STEPS
    order = c.read.order(order_id)
    assert order["state"] == "cancelled" and order["remaining"] == 4
    assert cash(c, BOB)[1] == 0  # the cancelled rest's cash is released
    assert c.read.book(ISIN)["asks"] == [{"price": 100, "quantity": 4, "orders": 4}]
    assert c.read.book(ISIN)["bids"] == []  # never left crossing the book


def test_t_plus_n_settles_by_explicit_call_or_expires(chain: Chain) -> None:
    c = chain
    c.market(cycle=2)
    c.order(ALICE, "sell", 10, 100)
    c.order(BOB, "buy", 10, 100)
    (trade,) = c.read.trades()
    assert trade["state"] == "pending" and trade["settleHeight"] == c.height + 2
    assert units(c, ALICE) == (100, 10) and cash(c, BOB)[1] == 1000  # both legs locked
    assert c.read.pending_trades(ISIN) == [trade["id"]]
    assert "settles from height" in c.refused(STRANGER, "settle", trade["id"])
    c.empty_blocks(1)
    c.ok(STRANGER, "settle", trade["id"])  # anyone, at the settlement height
    assert units(c, ALICE) == (90, 0) and units(c, BOB) == (110, 0)
    assert cash(c, BOB)[1] == 0 and c.read.trade(trade["id"])["state"] == "settled"
    assert "a trade settles once" in c.refused(STRANGER, "settle", trade["id"])
    assert c.read.pending_trades(ISIN) == []

    # A pending trade whose buyer's KYC lapses cannot settle, and expires at its deadline.
    c.ok(OPERATOR, "setSettlementCycle", ISIN, 1, 3)
    c.order(ALICE, "sell", 5, 100)
    c.order(CAROL, "buy", 5, 100)
    t2 = c.read.trades()[-1]
    c.ok(BANK, "setInvestor", CAROL.address, c.height + 1, "CN", False)
    reason = c.refused(ALICE, "settle", t2["id"])
    assert f"code 4): {RESTRICTIONS[4]}" in reason
    assert "can settle until" in c.refused(ALICE, "expireTrade", t2["id"])
    c.empty_blocks(1)
    assert "passed its deadline" in c.refused(ALICE, "settle", t2["id"])
    c.ok(STRANGER, "expireTrade", t2["id"])
    assert c.read.trade(t2["id"])["state"] == "expired"
    assert units(c, ALICE) == (90, 0) and cash(c, CAROL)[1] == 0  # both locks released
    assert "expired" in c.refused(ALICE, "settle", t2["id"])


def test_story_2_bilateral_trade_without_its_cash_leg_expires(market: Chain) -> None:
    c = market
    c.register(DAVE)  # eligible, but without any cash
    c.ok(DAVE, "approve", "CNY", SECURITIES, 10**30, cash=True)
    deadline = c.height + 6
    out = c.ok(ALICE, "propose", ISIN, DAVE.address, 2, 10, 100, deadline)
    (pid,) = decode(["uint256"], out.data)
    assert units(c, ALICE) == (100, 10)
    assert "1000 needed" in c.refused(DAVE, "accept", pid)  # the cash leg is missing
    assert "only the counterparty" in c.refused(BOB, "accept", pid)
    assert "open until height" in c.refused(STRANGER, "expireProposal", pid)
    c.empty_blocks(1)
    assert "passed its deadline" in c.refused(DAVE, "accept", pid)
    c.ok(STRANGER, "expireProposal", pid)
    p = c.read.proposal(pid)
    assert p["state"] == "expired" and p["trade"] == 0
    # Nothing moved: Alice's units are back and free, no trade, no cash anywhere.
    assert units(c, ALICE) == (100, 0) and units(c, DAVE) == (0, 0)
    assert c.read.trades() == [] and cash(c, DAVE) == (0, 0)


def test_bilateral_trade_accepted_settles_and_cancellation_releases(market: Chain) -> None:
    c = market
    out = c.ok(BOB, "propose", ISIN, ALICE.address, 1, 20, 95, c.height + 10)  # Bob buys
    (pid,) = decode(["uint256"], out.data)
    assert cash(c, BOB)[1] == 1900
    c.ok(ALICE, "accept", pid)
    p = c.read.proposal(pid)
    assert p["state"] == "accepted" and c.read.trade(p["trade"])["state"] == "settled"
    assert units(c, BOB) == (120, 0) and units(c, ALICE) == (80, 0)
    assert cash(c, BOB)[1] == 0
    out = c.ok(ALICE, "propose", ISIN, CAROL.address, 2, 5, 100, c.height + 10)
    (p2,) = decode(["uint256"], out.data)
    c.ok(CAROL, "cancelProposal", p2)  # the counterparty declines
    assert units(c, ALICE) == (80, 0) and c.read.proposal(p2)["state"] == "cancelled"
    assert "cancelled" in c.refused(CAROL, "accept", p2)


def test_story_3_restricted_transfer_and_the_regulators_forced_transfer(market: Chain) -> None:
    c = market
    assert c.read.restriction(ISIN, low(ALICE), low(DAVE), 5) == {
        "code": 2, "message": "recipient is not a registered investor"}
    reason = c.refused(ALICE, "transfer", ISIN, DAVE.address, 5)
    assert reason == ("transfer refused: transfer restricted (code 2): recipient is not a "
                      "registered investor")
    assert "only" not in c.refused(STRANGER, "forceTransfer", ISIN, ALICE.address,
                                   DAVE.address, 5, "court order")
    assert "reason is required" in c.refused(REGULATOR, "forceTransfer", ISIN, ALICE.address,
                                             DAVE.address, 5, " ")
    c.ok(REGULATOR, "forceTransfer", ISIN, ALICE.address, DAVE.address, 5,
         "court order 2025-17")
    assert units(c, ALICE) == (95, 0) and units(c, DAVE) == (5, 0)
    (logged,) = c.read.forced_transfers()
    assert logged == {"id": 1, "isin": ISIN, "from": low(ALICE), "to": low(DAVE), "amount": 5,
                      "regulator": low(REGULATOR), "height": c.height,
                      "reason": "court order 2025-17"}
    # Dave still cannot pass the units on: he is not eligible.
    assert "code 1)" in c.refused(DAVE, "transfer", ISIN, ALICE.address, 1)


def test_restriction_codes(market: Chain) -> None:
    c = market

    def code(src: object, dest: object, value: int = 1, isin: str = ISIN) -> int:
        return int(c.read.restriction(isin, low(src), low(dest), value)["code"])

    assert code(ALICE, BOB) == 0
    assert code(DAVE, BOB) == 1 and code(ALICE, DAVE) == 2
    assert code(ALICE, BOB, 101) == 9
    assert code(ALICE, BOB, isin=ISIN_2) == 10
    c.ok(BANK, "setInvestor", CAROL.address, c.height + 1, "CN", False)
    assert code(CAROL, BOB) == 3 and code(BOB, CAROL) == 4
    c.ok(BANK, "setInvestor", CAROL.address, 10**9, "HK", True)  # frozen by its custodian
    assert code(CAROL, BOB) == 5 and code(BOB, CAROL) == 6
    c.ok(BANK, "setInvestor", CAROL.address, 10**9, "HK", False)
    c.ok(AGENT, "setJurisdictions", ISIN, ["CN"])
    assert code(ALICE, CAROL) == 8 and code(CAROL, ALICE) == 0
    c.ok(AGENT, "setJurisdictions", ISIN, [])
    assert code(ALICE, CAROL) == 0
    c.ok(AGENT, "pause", ISIN, "corporate action")
    assert code(ALICE, BOB) == 7
    messages = [c.read._read("messageForTransferRestriction", i) for i in range(11)]
    assert messages == list(RESTRICTIONS)
    assert "is kept by custodian" not in c.refused(STRANGER, "setInvestor", DAVE.address, 1,
                                                   "CN", False)


def test_refusals_carry_their_reasons(market: Chain) -> None:
    c = market
    # An ineligible investor's order, a frozen investor's order.
    c.ok(BANK, "setInvestor", DAVE.address, c.height, "CN", False)  # KYC already expired
    assert "order refused (code 4): recipient's KYC has expired" in c.refused(
        DAVE, "placeOrder", ISIN, 1, 100, 1, 0)
    c.ok(REGULATOR, "freezeInvestor", BOB.address, "suspicious activity")
    assert "order refused (code 5): sender is frozen" in c.refused(
        BOB, "placeOrder", ISIN, 2, 100, 1, 0)
    assert c.read.investor(low(BOB))["regulatorFrozen"] is True
    # A member without the investor role cannot trade at all.
    assert "does not hold the investor role" in c.refused(STRANGER, "placeOrder", ISIN, 1,
                                                          100, 1, 0)
    # A sell beyond the free balance.
    c.order(ALICE, "sell", 60, 100)
    reason = c.refused(ALICE, "placeOrder", ISIN, 2, 100, 41, 0)
    assert "order refused (code 9): sender's free balance is insufficient" in reason
    assert "holds 100" in reason and "60 locked, 40 free; 41 needed" in reason
    # A mint by someone other than the issuer agent.
    assert "does not hold the issuer_agent role" in c.refused(ALICE, "issue", ISIN_2, "X",
                                                              ALICE.address, 1, b"\x01" * 32,
                                                              "CNY", 0)
    reason = c.refused(ALICE, "mint", ISIN, ALICE.address, 1_000)
    assert f"only {ISIN}'s issuer agent {low(AGENT)} may mint it" in reason
    # Trading a paused instrument.
    c.ok(AGENT, "pause", ISIN, "pending announcement")
    reason = c.refused(CAROL, "placeOrder", ISIN, 1, 100, 1, 0)
    assert reason == f"order refused (code 7): the instrument is paused ({ISIN})"
    assert "code 7" in c.refused(ALICE, "transfer", ISIN, CAROL.address, 1)
    assert "already paused" in c.refused(AGENT, "pause", ISIN, "again")
    c.ok(AGENT, "unpause", ISIN, "announced")
    c.order(CAROL, "buy", 1, 100)
    # Buying without allowing the settlement contract to lock the cash.
    c.register(DAVE)
    c.ok(BANK, "mint", "CNY", DAVE.address, 1000, cash=True)
    assert "approve the settlement contract first" in c.refused(DAVE, "placeOrder", ISIN, 1,
                                                                 100, 1, 0)


def test_issue_mint_redeem(chain: Chain) -> None:
    c = chain
    assert "no CNY cash token" in c.refused(AGENT, "issue", ISIN, "Apple", AGENT.address, 10,
                                            b"\x01" * 32, "CNY", 0)
    c.market()
    assert "already issued" in c.refused(AGENT, "issue", ISIN, "Apple", AGENT.address, 10,
                                         b"\x01" * 32, "CNY", 0)
    assert "check digit" in c.refused(AGENT, "issue", "US0378331006", "Apple", AGENT.address,
                                      10, b"\x01" * 32, "CNY", 0)
    assert "document hash is required" in c.refused(AGENT, "issue", ISIN_2, "BHP",
                                                    AGENT.address, 10, b"\x00" * 32, "CNY", 0)
    c.ok(AGENT, "mint", ISIN, ALICE.address, 50)
    c.ok(AGENT, "redeem", ISIN, BOB.address, 30)
    assert c.read.instrument(ISIN)["supply"] == 1_020
    assert units(c, ALICE) == (150, 0) and units(c, BOB) == (70, 0)
    c.order(BOB, "sell", 70, 100)
    assert "code 9" in c.refused(AGENT, "redeem", ISIN, BOB.address, 1)
    assert sum(h["balance"] for h in c.read.holders(ISIN)) == 1_020


def test_dividend_reaches_the_record_date_holder_after_a_sale(market: Chain) -> None:
    c = market
    c.ok(CAROL, "transfer", ISIN, BOB.address, 100)  # Carol holds nothing at the record date
    record = c.height
    c.order(ALICE, "sell", 100, 100)
    c.order(CAROL, "buy", 100, 100)  # Alice sells everything after the record date
    assert units(c, ALICE) == (0, 0) and units(c, CAROL) == (100, 0)
    assert c.read.balance_at(ISIN, low(ALICE), record) == 100
    assert c.read.balance_at(ISIN, low(CAROL), record) == 0
    assert c.read.supply_at(ISIN, record) == 1_000
    assert {h["account"] for h in c.read.holders_at(ISIN, record)} == {
        low(AGENT), low(ALICE), low(BOB)}
    assert "issuer agent" in c.refused(ALICE, "declareDividend", ISIN, record, "CNY", 3)
    assert "past block" in c.refused(AGENT, "declareDividend", ISIN, c.height + 1, "CNY", 3)
    agent_cash = cash(c, AGENT)[0]
    out = c.ok(AGENT, "declareDividend", ISIN, record, "CNY", 3)
    (did,) = decode(["uint256"], out.data)
    assert cash(c, AGENT) == (agent_cash, 3_000)  # the whole payout is locked from the issuer
    alice_cash = cash(c, ALICE)[0]
    c.ok(ALICE, "claimDividend", did)
    assert cash(c, ALICE)[0] == alice_cash + 300  # paid although she sold
    assert "already paid" in c.refused(ALICE, "claimDividend", did)
    assert "held no" in c.refused(CAROL, "claimDividend", did)
    c.ok(STRANGER, "distributeDividend", did, 100)
    d = c.read.dividend(did)
    assert d["state"] == "paid" and d["paid"] == d["total"] == 3_000
    assert cash(c, AGENT) == (agent_cash - 300 - 600, 0)  # its own 700 units stay with it
    assert c.read.dividend_of(did, low(BOB)) == {"dividend": did, "account": low(BOB),
                                                 "shares": 200, "amount": 600, "paid": True}
    assert "fully paid" in c.refused(STRANGER, "distributeDividend", did, 100)


def test_cash_tokens(chain: Chain) -> None:
    c = chain
    assert "cash_bank role" in c.refused(ALICE, "createToken", "CNY", "fake", cash=True)
    c.ok(BANK, "createToken", "CNY", "Bank A CNY", cash=True)
    assert "already exists" in c.refused(BANK, "createToken", "CNY", "again", cash=True)
    assert "ISO 4217" in c.refused(BANK, "createToken", "cny", "x", cash=True)
    c.ok(BANK, "mint", "CNY", ALICE.address, 500, cash=True)
    assert "issuing bank" in c.refused(ALICE, "mint", "CNY", ALICE.address, 1, cash=True)
    c.ok(ALICE, "transfer", "CNY", BOB.address, 200, cash=True)
    assert "has 300 CNY free" in c.refused(ALICE, "transfer", "CNY", BOB.address, 301, cash=True)
    assert "allows" in c.refused(STRANGER, "lock", "CNY", ALICE.address, 1, cash=True)
    c.ok(ALICE, "approve", "CNY", STRANGER.address, 100, cash=True)
    c.ok(STRANGER, "lock", "CNY", ALICE.address, 100, cash=True)
    assert cash(c, ALICE) == (300, 100)
    assert "has 200 CNY free" in c.refused(ALICE, "transfer", "CNY", BOB.address, 201, cash=True)
    assert "holds 0" in c.refused(BOB, "unlock", "CNY", ALICE.address, 1, cash=True)
    c.ok(STRANGER, "transferLocked", "CNY", ALICE.address, CAROL.address, 60, cash=True)
    c.ok(STRANGER, "unlock", "CNY", ALICE.address, 40, cash=True)
    assert cash(c, ALICE) == (240, 0) and cash(c, CAROL) == (60, 0)
    c.ok(BOB, "transfer", "CNY", BANK.address, 200, cash=True)
    c.ok(BANK, "burn", "CNY", 200, cash=True)
    token = c.read.cash_token("CNY")
    assert token is not None and token["supply"] == 300
    assert sum(h["balance"] for h in token["holders"]) == 300


def test_both_engines_reach_the_same_app_hash_block_by_block(tmp_path: Path) -> None:
    """The natives (and their calls into each other) run the same on py-evm and revm."""
    chains = []
    for engine in ("py-evm", "revm"):
        ledger = Ledger(tmp_path / engine, engine=engine)
        ledger.init_chain(securities_state(), 1)
        chains.append(Chain(ledger))
    try:
        steps = [
            lambda c: c.market(cycle=1),
            lambda c: c.order(ALICE, "sell", 10, 100),
            lambda c: c.order(BOB, "buy", 12, 101),  # a fill, a pending trade, a resting rest
            lambda c: c.send(STRANGER, "cancelOrder", 1),  # refused
            lambda c: c.send(CAROL, "settle", 1),
            lambda c: c.send(CAROL, "settle", 1),  # refused: settled once
            lambda c: c.send(ALICE, "propose", ISIN, BOB.address, 2, 5, 99, c.height + 5),
            lambda c: c.send(BOB, "accept", 1),
            lambda c: c.send(AGENT, "declareDividend", ISIN, c.height - 1, "CNY", 2),
            lambda c: c.send(STRANGER, "distributeDividend", 1, 50),
        ]
        for step in steps:
            outcomes = [step(c) for c in chains]
            hashes = [c.ledger.info()[1] for c in chains]
            assert hashes[0] == hashes[1], outcomes
    finally:
        for c in chains:
            c.ledger.close()
