"""Reads of the CashTokens and Securities contracts as plain JSON-ready dicts, over any way
of making an eth_call (the typed client, the node's API, the CLI): each record in the JSON
of its declaration (`state.py`), plus these shapes —

    book        {"isin", "currency", "paused", "bids": [{"price", "quantity", "orders"}],
                 "asks": [...]}
    holding     {"isin", "account", "balance", "locked", "free"}
    investor    its record and "registered", "restriction" (its code), "eligible", "reason"

An open order past its expiry height, a pending trade past its deadline and a proposal past its
deadline read as "expired" (and a state filter goes by that), as a credit consent does: the
state derived at the latest block, while the stored one changes only when someone sends
expireOrder / expireTrade / expireProposal, which releases the locks (until then "closedAt"
stays 0). The reader learns which heights have passed from dry runs of those writes (the
contract's own test, at the block its reads answer), a few per list: the deadlines that have
passed are a prefix of them sorted.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from consortium.apps.securities.cash import CashTokens
from consortium.apps.securities.contract import Securities
from consortium.apps.securities.model import (
    BUY,
    CASH_ADDRESS,
    MAX_LEVELS,
    MAX_READ,
    ORDER_STATES,
    SECURITIES_ADDRESS,
    SELL,
    TRADE_STATES,
    restriction_message,
)
from consortium.apps.securities.state import (
    BLANK,
    Dividend,
    ForcedTransfer,
    Instrument,
    Investor,
    Order,
    Proposal,
    Token,
    Trade,
    answered,
)
from consortium.apps.service import PAGE_LIMIT, ServiceReader, one
from consortium.errors import ExecutionReverted
from consortium.evm.native import NativeCalls
from consortium.evm.records import Record, hex0x

CASH = NativeCalls(CashTokens)
SECURITIES = NativeCalls(Securities)


def record_json(cls: type[Record], values: Any) -> dict[str, Any]:
    """A record's JSON from its ABI tuple, its computed fields filled in."""
    return answered(cls.from_abi(values, **BLANK.get(cls, {}))).to_json()  # type: ignore[no-any-return]


EXPIRED = "expired"
# kind -> the state it can expire from, the field holding its height (0: never) and the
# write that closes it from that height on (anyone may send it)
EXPIRES = {"order": ("open", "expiry", "expireOrder"),
           "trade": ("pending", "deadline", "expireTrade"),
           "proposal": ("proposed", "deadline", "expireProposal")}


def _reverted(err: Exception) -> bool:
    """Did this eth_call revert (the client's ExecutionReverted, the node API's
    JSON-RPC error 3)?"""
    return isinstance(err, ExecutionReverted) or (
        type(err).__name__ == "ExecutionRevertedError"
        and getattr(err, "code", None) == ExecutionReverted.rpc_code)


def _may_read_as(stored: str, state: str | None, live: str) -> bool:
    """May an object stored in `stored` read as `state` (None: any)? A live one may read
    as expired."""
    return state is None or stored == state or (state == EXPIRED and stored == live)


def position(account: Any, balance: int, locked: int, **key: str) -> dict[str, Any]:
    """What an account holds of a currency or an instrument (`key`: which)."""
    return {**key, "account": hex0x(account), "balance": balance, "locked": locked,
            "free": balance - locked}


class SecuritiesReader(ServiceReader):
    """Typed reads of both contracts through `call`."""

    address = SECURITIES_ADDRESS
    calls = SECURITIES

    def _cash(self, name: str, *args: Any) -> Any:
        return CASH.decode(name, self._call(CASH_ADDRESS, CASH.encode(name, *args)))

    # one order, trade, proposal or dividend by id; None when there is no such
    _order = one("order", partial(record_json, Order))
    _trade = one("trade", partial(record_json, Trade))
    _proposal = one("proposal", partial(record_json, Proposal))
    dividend = one("dividend", partial(record_json, Dividend))

    def order(self, order_id: int) -> dict[str, Any] | None:
        return self._one_derived("order", self._order(order_id))

    def trade(self, trade_id: int) -> dict[str, Any] | None:
        return self._one_derived("trade", self._trade(trade_id))

    def proposal(self, proposal_id: int) -> dict[str, Any] | None:
        return self._one_derived("proposal", self._proposal(proposal_id))

    def _one_derived(self, kind: str, found: dict[str, Any] | None) -> dict[str, Any] | None:
        return None if found is None else self._derived(kind, [found])[0]

    def _records(self, name: str, cls: type[Record], ids: list[int]) -> list[dict[str, Any]]:
        return self._many(name, ids, lambda t: record_json(cls, t))

    # --- states derived from heights ----------------------------------------------------------
    def _derived(self, kind: str, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """`found` (orders, trades or proposals) with those past their height reading
        "expired". Whether a height has passed is the contract's own answer: a dry run of
        the write that expires the object succeeds. The heights that have passed are a
        prefix of the distinct heights sorted, so a binary search asks about log2(n) of
        them."""
        live, field, write = EXPIRES[kind]
        first: dict[int, int] = {}  # each distinct height -> an object that expires at it
        for item in found:
            if item["state"] == live and item[field]:
                first.setdefault(item[field], item["id"])
        heights = sorted(first)
        lo, hi = 0, len(heights)
        while lo < hi:
            mid = (lo + hi) // 2
            if self._closable(write, first[heights[mid]]):
                lo = mid + 1
            else:
                hi = mid
        passed = set(heights[:lo])
        for item in found:
            if item["state"] == live and item[field] in passed:
                item["state"] = EXPIRED
        return found

    def _closable(self, write: str, object_id: int) -> bool:
        """Would `write(object_id)` (expireOrder…) succeed now? A dry run (eth_call)."""
        try:
            self._call(self.address, self.calls.encode(write, object_id))
        except Exception as err:
            if _reverted(err):
                return False
            raise
        return True

    # --- cash ---------------------------------------------------------------------------------
    def cash_tokens(self) -> list[dict[str, Any]]:
        return [record_json(Token, self._cash("token", c)) for c in self._cash("currencies")]

    def cash_token(self, currency: str) -> dict[str, Any] | None:
        if currency not in self._cash("currencies"):
            return None
        return record_json(Token, self._cash("token", currency)) | {
            "holders": [position(*h) for h in self._cash("holders", currency)]}

    def cash_balances(self, account: str) -> list[dict[str, Any]]:
        return [position(account.lower(), b, lk, currency=c)
                for c, b, lk in self._cash("balancesOf", account.lower())]

    def cash_balance(self, currency: str, account: str) -> dict[str, Any]:
        a = account.lower()
        return position(a, int(self._cash("balanceOf", currency, a)),
                        int(self._cash("lockedOf", currency, a)), currency=currency)

    # --- instruments and holdings --------------------------------------------------------------
    def isins(self) -> list[str]:
        return list(self._read("instruments"))

    def instruments(self) -> list[dict[str, Any]]:
        return [record_json(Instrument, self._read("instrument", i)) for i in self.isins()]

    def instrument(self, isin: str) -> dict[str, Any] | None:
        if isin not in self.isins():
            return None
        return record_json(Instrument, self._read("instrument", isin)) | {
            "jurisdictions": list(self._read("jurisdictions", isin))}

    def holders(self, isin: str) -> list[dict[str, Any]]:
        return [position(*h, isin=isin) for h in self._read("holders", isin)]

    def holders_at(self, isin: str, height: int) -> list[dict[str, Any]]:
        return [{"isin": isin, "account": hex0x(a), "balance": b, "height": height}
                for a, b in self._read("holdersAt", isin, height)]

    def holdings(self, account: str) -> list[dict[str, Any]]:
        return [position(account.lower(), b, lk, isin=i)
                for i, b, lk in self._read("holdingsOf", account.lower())]

    def holding(self, isin: str, account: str) -> dict[str, Any]:
        return position(account.lower(), *self._read("holding", isin, account.lower()), isin=isin)

    def balance_at(self, isin: str, account: str, height: int) -> int:
        return int(self._read("balanceOfAt", isin, account.lower(), height))

    def supply_at(self, isin: str, height: int) -> int:
        return int(self._read("totalSupplyAt", isin, height))

    # --- eligibility ---------------------------------------------------------------------------
    def investor(self, account: str) -> dict[str, Any]:
        out = record_json(Investor, self._read("investor", account.lower()))
        code = out.pop("restriction")
        out |= {"registered": int(out["custodian"], 16) != 0, "restriction": code,
                "eligible": code == 0, "reason": restriction_message(code) if code else ""}
        return out

    def investors(self) -> list[dict[str, Any]]:
        return [self.investor(hex0x(a)) for a in self._read("investors")]

    def restriction(self, isin: str, src: str, dest: str, amount: int) -> dict[str, Any]:
        code = int(self._read("detectTransferRestriction", isin, src.lower(), dest.lower(), amount))
        return {"code": code,
                "message": str(self._read("messageForTransferRestriction", code))}

    # --- orders and the book -------------------------------------------------------------------
    def orders(self, *, account: str | None = None, isin: str | None = None,
               state: str | None = None, side: str | None = None, after: int = 0,
               limit: int = PAGE_LIMIT) -> list[dict[str, Any]]:
        """Orders matching every filter given, in id order, a page at a time (`after` the
        last id of the page before, at most `limit`)."""
        self._check(state, ORDER_STATES, "order state")

        def read(ids: list[int]) -> list[dict[str, Any]]:
            return self._derived("order", [
                o for o in self._records("orders", Order, ids)
                if (isin is None or o["isin"] == isin) and (side is None or o["side"] == side)
                and _may_read_as(o["state"], state, "open")])

        return self._page(self._matching("orderCount", {"ordersOf": account}), read, after,
                          limit, keep=lambda o: state is None or o["state"] == state)

    def book(self, isin: str, levels: int = 10) -> dict[str, Any]:
        inst = record_json(Instrument, self._read("instrument", isin))

        def side(number: int) -> list[dict[str, Any]]:
            return [{"price": p, "quantity": q, "orders": n}
                    for p, q, n in self._read("depth", isin, number, levels)]

        return {"isin": isin, "currency": inst["currency"], "paused": inst["paused"],
                "bids": side(BUY), "asks": side(SELL)}

    def order_book(self, isin: str, levels: int = 10) -> dict[str, Any] | None:
        """The book's depth, at most MAX_LEVELS levels a side; None for an unknown ISIN."""
        return self.book(isin, min(levels, MAX_LEVELS)) if isin in self.isins() else None

    def holders_of(self, isin: str, height: int | None = None) -> list[dict[str, Any]] | None:
        """Holders now, or at the end of block `height` (a record date); None for an
        unknown ISIN."""
        if isin not in self.isins():
            return None
        return self.holders(isin) if height is None else self.holders_at(isin, height)

    def book_orders(self, isin: str, side: str, limit: int = MAX_READ) -> list[dict[str, Any]]:
        ids = [int(i) for i in self._read("bookOrders", isin, BUY if side == "buy" else SELL,
                                          limit)]
        return self._derived("order", self._records("orders", Order, ids))

    # --- trades --------------------------------------------------------------------------------
    def trades(self, *, isin: str | None = None, account: str | None = None,
               state: str | None = None, after: int = 0,
               limit: int = PAGE_LIMIT) -> list[dict[str, Any]]:
        """Trades matching every filter given, in id order, a page at a time (as `orders`)."""
        self._check(state, TRADE_STATES, "trade state")

        def read(ids: list[int]) -> list[dict[str, Any]]:
            return self._derived("trade", [
                t for t in self._records("trades", Trade, ids)
                if (isin is None or t["isin"] == isin)
                and _may_read_as(t["state"], state, "pending")])

        ids = self._matching("tradeCount", {"tradesOf": account, "tradesOfInstrument": isin})
        return self._page(ids, read, after, limit,
                          keep=lambda t: state is None or t["state"] == state)

    def pending_trades(self, isin: str) -> list[int]:
        return [int(i) for i in self._read("pendingTrades", isin)]

    # --- bilateral proposals, dividends and forced transfers -----------------------------------
    def proposals(self, account: str | None = None) -> list[dict[str, Any]]:
        ids = self._matching("proposalCount", {"proposalsOf": account})
        return self._derived("proposal", [record_json(Proposal, self._read("proposal", i))
                                          for i in ids])

    def dividends_listed(self, isin: str | None = None) -> list[dict[str, Any]] | None:
        """Every dividend, or an instrument's; None for an unknown ISIN."""
        if isin is not None and isin not in self.isins():
            return None
        ids = self._matching("dividendCount", {"dividendsOf": isin})
        return [record_json(Dividend, self._read("dividend", i)) for i in ids]

    def dividend_of(self, dividend_id: int, account: str) -> dict[str, Any]:
        shares, amount, paid = self._read("dividendOf", dividend_id, account.lower())
        return {"dividend": dividend_id, "account": account.lower(), "shares": shares,
                "amount": amount, "paid": paid}

    def forced_transfers(self) -> list[dict[str, Any]]:
        return [record_json(ForcedTransfer, self._read("forcedTransfer", i))
                for i in self._matching("forcedTransferCount", {})]


__all__ = ["CASH", "SECURITIES", "SecuritiesReader", "record_json"]
