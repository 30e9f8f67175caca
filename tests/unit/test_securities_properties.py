"""A property test of the securities service on a real Ledger driven block by block: random
concurrent orders, cancels, bilateral trades, settlements, expiries and transfers from
several members, several transactions per block. After every block:

- per instrument, the holdings sum to the supply, which never changes;
- per account, locked <= balance, for securities and for cash;
- every lock is accounted for: an account's locked units are its open sell orders' rests,
  its pending trades' deliveries and its open sell proposals; the cash the settlement
  contract locks is its open buy orders', pending trades' and open buy proposals';
- the cash supply equals the sum of balances and never changes (nothing created or lost);
- each trade settles at most once, and a settled or expired trade never changes again.

The default run tries a modest number of examples; SECURITIES_PROPERTY_EXAMPLES=200 tries
more."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from consortium.apps.securities.client import decode_event
from consortium.apps.securities.model import SECURITIES_ADDRESS, UNLIMITED
from tests.support.securities_testkit import (
    AGENT,
    ALICE,
    BANK,
    BOB,
    CAROL,
    DOC,
    ISIN,
    ISIN_2,
    KYC,
    SECURITIES,
    Chain,
    low,
    securities_ledger,
)

TRADERS = (AGENT, ALICE, BOB, CAROL)
INSTRUMENTS = (ISIN, ISIN_2)  # ISIN settles T+0, ISIN_2 T+2 with a 3-block window
CASH_EACH = 100_000
UNITS_EACH = 50
EXAMPLES = int(os.environ.get("SECURITIES_PROPERTY_EXAMPLES", "10"))

actor = st.sampled_from(range(len(TRADERS)))
instrument = st.sampled_from(INSTRUMENTS)
pick = st.integers(min_value=0, max_value=7)  # which of the live orders / trades / proposals
quantity = st.integers(min_value=1, max_value=15)
price = st.integers(min_value=98, max_value=102)
horizon = st.integers(min_value=0, max_value=4)  # 0: no expiry, else blocks from now

order = st.tuples(st.just("order"), actor, instrument, st.sampled_from((1, 2)), price,
                  quantity, horizon)
action = st.one_of(
    order, order, order, order,  # orders weigh most: they make the trades the rest act on
    st.tuples(st.sampled_from(("cancelOrder", "expireOrder", "settle", "settle",
                               "expireTrade", "accept", "cancelProposal", "expireProposal")),
              actor, pick),
    st.tuples(st.just("propose"), actor, actor, instrument, st.sampled_from((1, 2)), quantity,
              price, st.integers(min_value=1, max_value=4)),
    st.tuples(st.just("transfer"), actor, actor, instrument, quantity),
)
blocks = st.lists(st.lists(action, min_size=1, max_size=6), min_size=4, max_size=12)


def setup(c: Chain) -> None:
    """CNY, two instruments, four funded and registered traders — in three blocks."""
    first = c.block([c.tx(BANK, "createToken", "CNY", "Bank A CNY", cash=True)]
                    + [c.tx(BANK, "setInvestor", t.address, KYC, "CN", False) for t in TRADERS])
    txs = [c.tx(BANK, "mint", "CNY", t.address, CASH_EACH, cash=True) for t in TRADERS]
    txs += [c.tx(t, "approve", "CNY", SECURITIES, UNLIMITED, cash=True) for t in TRADERS]
    txs += [c.tx(AGENT, "issue", ISIN, "A", AGENT.address, 1_000, DOC, "CNY", 0),
            c.tx(AGENT, "issue", ISIN_2, "B", AGENT.address, 1_000, DOC, "CNY", 2),
            c.tx(AGENT, "setSettlementCycle", ISIN_2, 2, 3)]
    second = c.block(txs)
    third = c.block([c.tx(AGENT, "transfer", isin, t.address, UNITS_EACH)
                     for isin in INSTRUMENTS for t in TRADERS[1:]])
    for outcome in (first, second, third):
        assert all(r.code == 0 for r in outcome.tx_results), outcome


def target(c: Chain, kind: str, k: int) -> int:
    """The k-th (cyclically) live object an action on `kind` may apply to, so that random
    programs mostly hit real orders, trades and proposals (stale ids are tried too)."""
    r = c.read
    if kind in ("cancelOrder", "expireOrder"):
        ids = [o["id"] for o in r.orders(state="open")]
    elif kind in ("settle", "expireTrade"):
        ids = [t["id"] for t in r.trades(state="pending")]
    else:
        ids = [p["id"] for p in r.proposals() if p["state"] == "proposed"]
    return ids[k % len(ids)] if ids and k < 6 else k + 1


def to_tx(c: Chain, a: tuple[Any, ...]) -> bytes:
    kind = a[0]
    who = TRADERS[a[1]]
    if kind == "order":
        _, _, isin, side, p, q, h = a
        return c.tx(who, "placeOrder", isin, side, p, q, c.height + 1 + h if h else 0)
    if kind == "propose":
        _, _, other, isin, side, q, p, d = a
        return c.tx(who, "propose", isin, TRADERS[other].address, side, q, p, c.height + 1 + d)
    if kind == "transfer":
        _, _, other, isin, q = a
        return c.tx(who, "transfer", isin, TRADERS[other].address, q)
    if kind == "accept":  # by the proposal's counterparty, mostly
        proposal_id = target(c, kind, a[2])
        p = c.read.proposal(proposal_id)
        if p is not None and a[1] != 0:
            who = next(t for t in TRADERS if low(t) == p["counterparty"])
        return c.tx(who, kind, proposal_id)
    return c.tx(who, kind, target(c, kind, a[2]))


def trade_events(outcome: Any) -> list[tuple[int, str, str]]:
    """(trade id, from, to) of every trade Transition in a block's receipts."""
    found = []
    for result in outcome.tx_results:
        for ev in result.events:
            if ev.type != "eth_log":
                continue
            attrs = {k: v for k, v, _ in ev.attributes}
            if attrs.get("address") != "0x" + SECURITIES_ADDRESS.hex():
                continue
            topics = [bytes.fromhex(attrs[f"topic{i}"][2:]) for i in range(4)
                      if f"topic{i}" in attrs]
            e = decode_event(topics, bytes.fromhex(attrs["data"][2:]))
            if e and e["event"] == "Transition" and e["kind"] == "trade":
                found.append((e["id"], e["fromState"], e["toState"]))
    return found


def holds(x: dict[str, Any], state: str) -> bool:
    """Whether a record still holds its lock: in `state`, or read "expired" past its height
    but not yet expired on chain (closedAt 0: expireOrder/Trade/Proposal releases it)."""
    return x["state"] == state or (x["state"] == "expired" and x["closedAt"] == 0)


def check_invariants(c: Chain, cash_supply: int) -> None:
    r = c.read
    accounts = [low(t) for t in TRADERS]
    orders = r.orders()
    trades = r.trades()
    proposals = r.proposals()
    for isin in INSTRUMENTS:
        holders = r.holders(isin)
        assert sum(h["balance"] for h in holders) == r.instrument(isin)["supply"] == 1_000
        for account in accounts:
            h = r.holding(isin, account)
            assert 0 <= h["locked"] <= h["balance"]
            expected = (
                sum(o["remaining"] for o in orders if o["isin"] == isin
                    and o["owner"] == account and o["side"] == "sell" and holds(o, "open"))
                + sum(t["quantity"] for t in trades if t["isin"] == isin
                      and t["seller"] == account and holds(t, "pending"))
                + sum(p["quantity"] for p in proposals if p["isin"] == isin
                      and p["proposer"] == account and p["side"] == "sell"
                      and holds(p, "proposed"))
            )
            assert h["locked"] == expected, (isin, account, h, expected)
    token = r.cash_token("CNY")
    assert token is not None
    assert token["supply"] == cash_supply == sum(h["balance"] for h in token["holders"])
    for account in accounts:
        b = r.cash_balance("CNY", account)
        assert 0 <= b["locked"] <= b["balance"]
        expected = (
            sum(o["cashLocked"] for o in orders if o["owner"] == account
                and o["side"] == "buy" and holds(o, "open"))
            + sum(t["amount"] for t in trades if t["buyer"] == account
                  and holds(t, "pending"))
            + sum(p["amount"] for p in proposals if p["proposer"] == account
                  and p["side"] == "buy" and holds(p, "proposed"))
        )
        assert b["locked"] == expected, (account, b, expected)
        # every order's cash lock is at its own limit price
        for o in orders:
            if o["owner"] == account and o["side"] == "buy" and holds(o, "open"):
                assert o["cashLocked"] == o["price"] * o["remaining"]


@settings(max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(blocks)
def test_random_concurrent_activity_keeps_every_invariant(
    program: list[list[tuple[Any, ...]]],
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        ledger = securities_ledger(Path(tmp))
        try:
            c = Chain(ledger)
            setup(c)
            cash_supply = CASH_EACH * len(TRADERS)
            check_invariants(c, cash_supply)
            final: dict[int, str] = {}
            for actions in program:
                outcome = c.block([to_tx(c, a) for a in actions])
                for trade_id, old, new in trade_events(outcome):
                    assert trade_id not in final, f"trade {trade_id} changed after {old}"
                    if new in ("settled", "expired"):
                        final[trade_id] = new
                check_invariants(c, cash_supply)
            # Wind down: past every deadline, anyone expires what is left, and it all unlocks.
            for _ in range(6):
                c.block([])
                check_invariants(c, cash_supply)
            r = c.read
            closing = [c.tx(ALICE, "expireTrade", t["id"]) for t in r.trades()
                       if holds(t, "pending")]
            closing += [c.tx(ALICE, "expireProposal", p["id"]) for p in r.proposals()
                        if holds(p, "proposed")]
            closing += [c.tx(ALICE, "expireOrder", o["id"]) for o in r.orders()
                        if holds(o, "open") and o["expiry"]]
            outcome = c.block(closing)
            assert all(x.code == 0 for x in outcome.tx_results)
            for trade_id, old, new in trade_events(outcome):
                assert trade_id not in final and (old, new) == ("pending", "expired")
                final[trade_id] = new
            check_invariants(c, cash_supply)
            trades = c.read.trades()
            for t in trades:
                assert t["state"] == final.get(t["id"], "pending")
            # what the example exercised (--hypothesis-show-statistics)
            for state in ("settled", "expired"):
                if any(t["state"] == state for t in trades):
                    event(f"a trade {state}")
            if any(t["proposal"] for t in trades):
                event("a bilateral trade")
        finally:
            ledger.close()
