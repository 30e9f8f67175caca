"""Reads of the CashTokens and Securities contracts as plain JSON-ready dicts, over any way
of making an eth_call: the typed client (web3 over HTTP), the node's API (`consortium_*`
JSON-RPC and REST, straight on the ledger) and the CLI tables all answer the same shapes.

    instrument  {"isin", "name", "agent", "issuer", "supply", "paused", "documentHash",
                 "currency", "settlementCycle", "settlementWindow", "createdAt",
                 "jurisdictions": [...]}
    order       {"id", "isin", "owner", "side": "buy"|"sell", "price", "quantity",
                 "remaining", "filled", "cashLocked", "expiry", "state", "placedAt", "closedAt"}
    trade       {"id", "isin", "buyer", "seller", "price", "quantity", "amount", "buyOrder",
                 "sellOrder", "state", "tradedAt", "settleHeight", "deadline", "closedAt",
                 "proposal"}
    book        {"isin", "currency", "bids": [{"price", "quantity", "orders"}], "asks": [...]}
    holding     {"isin", "account", "balance", "locked", "free"}
    investor    {"account", "custodian", "kycExpiry", "jurisdiction", "frozen",
                 "regulatorFrozen", "updatedAt", "registered", "restriction": code,
                 "eligible"}
    proposal, dividend, forced transfer, cash token, cash balance: see the functions below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

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
    side_text,
)
from consortium.evm.native import MethodSpec, NativeContract

# (to, calldata) -> return data; raises the caller's error when the call reverts
Call = Callable[[bytes, bytes], bytes]
ZERO = "0x" + "00" * 20


class Codec:
    """Encode calls to a native's methods by name; decode their answers."""

    def __init__(self, cls: type[NativeContract]) -> None:
        self.address = bytes(cls.address)
        self.specs: dict[str, MethodSpec] = {s.name: s for s in cls.methods().values()}

    def encode(self, name: str, *args: Any) -> bytes:
        spec = self.specs[name]
        return spec.selector + abi_encode(list(spec.inputs), list(args))

    def decode(self, name: str, output: bytes) -> Any:
        values = abi_decode(list(self.specs[name].outputs), output)
        return values[0] if len(values) == 1 else values


CASH = Codec(CashTokens)
SECURITIES = Codec(Securities)


def hex_address(value: Any) -> str:
    if isinstance(value, str):
        return value.lower()
    return "0x" + bytes(value).hex()


def instrument_json(t: Any) -> dict[str, Any]:
    (isin, name, agent, issuer, supply, paused, doc, currency, cycle, window, created) = t
    return {
        "isin": isin, "name": name, "agent": hex_address(agent), "issuer": hex_address(issuer),
        "supply": supply, "paused": paused, "documentHash": "0x" + bytes(doc).hex(),
        "currency": currency, "settlementCycle": cycle, "settlementWindow": window,
        "createdAt": created,
    }


def order_json(t: Any) -> dict[str, Any]:
    (oid, isin, owner, side, price, qty, remaining, cash, expiry, state, placed, closed) = t
    return {
        "id": oid, "isin": isin, "owner": hex_address(owner), "side": side_text(side),
        "price": price, "quantity": qty, "remaining": remaining, "filled": qty - remaining,
        "cashLocked": cash, "expiry": expiry, "state": state, "placedAt": placed,
        "closedAt": closed,
    }


def trade_json(t: Any) -> dict[str, Any]:
    (tid, isin, buyer, seller, price, qty, buy, sell, state, traded, settle, deadline, closed,
     proposal) = t
    return {
        "id": tid, "isin": isin, "buyer": hex_address(buyer), "seller": hex_address(seller),
        "price": price, "quantity": qty, "amount": price * qty, "buyOrder": buy,
        "sellOrder": sell, "state": state, "tradedAt": traded, "settleHeight": settle,
        "deadline": deadline, "closedAt": closed, "proposal": proposal,
    }


def proposal_json(t: Any) -> dict[str, Any]:
    (pid, isin, proposer, counterparty, side, qty, price, deadline, state, created, closed,
     trade) = t
    return {
        "id": pid, "isin": isin, "proposer": hex_address(proposer),
        "counterparty": hex_address(counterparty), "side": side_text(side),
        "seller": hex_address(proposer if side == SELL else counterparty),
        "buyer": hex_address(counterparty if side == SELL else proposer),
        "quantity": qty, "price": price, "amount": price * qty, "deadline": deadline,
        "state": state, "createdAt": created, "closedAt": closed, "trade": trade,
    }


def dividend_json(t: Any) -> dict[str, Any]:
    (did, isin, record, currency, per_share, total, paid, state, declared, cursor, payer) = t
    return {
        "id": did, "isin": isin, "recordHeight": record, "currency": currency,
        "perShare": per_share, "total": total, "paid": paid, "state": state,
        "declaredAt": declared, "distributed": cursor, "payer": hex_address(payer),
    }


def investor_json(t: Any) -> dict[str, Any]:
    (account, custodian, expiry, jurisdiction, frozen, reg_frozen, updated, code) = t
    return {
        "account": hex_address(account), "custodian": hex_address(custodian),
        "kycExpiry": expiry, "jurisdiction": jurisdiction, "frozen": frozen,
        "regulatorFrozen": reg_frozen, "updatedAt": updated,
        "registered": hex_address(custodian) != ZERO, "restriction": code,
        "eligible": code == 0, "reason": restriction_message(code) if code else "",
    }


def forced_json(t: Any) -> dict[str, Any]:
    (fid, isin, src, dest, amount, regulator, height, reason) = t
    return {
        "id": fid, "isin": isin, "from": hex_address(src), "to": hex_address(dest),
        "amount": amount, "regulator": hex_address(regulator), "height": height,
        "reason": reason,
    }


class SecuritiesReader:
    """Typed reads of both contracts through `call`."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def _read(self, name: str, *args: Any) -> Any:
        return SECURITIES.decode(name, self._call(SECURITIES_ADDRESS,
                                                  SECURITIES.encode(name, *args)))

    def _cash(self, name: str, *args: Any) -> Any:
        return CASH.decode(name, self._call(CASH_ADDRESS, CASH.encode(name, *args)))

    # --- cash ---------------------------------------------------------------------------------

    def cash_tokens(self) -> list[dict[str, Any]]:
        return [self._token(c) for c in self._cash("currencies")]

    def _token(self, currency: str) -> dict[str, Any]:
        code, name, issuer, supply, created = self._cash("token", currency)
        return {"currency": code, "name": name, "issuer": hex_address(issuer),
                "supply": supply, "createdAt": created}

    def cash_token(self, currency: str) -> dict[str, Any] | None:
        if currency not in self._cash("currencies"):
            return None
        out = self._token(currency)
        out["holders"] = [
            {"account": hex_address(a), "balance": b, "locked": lk, "free": b - lk}
            for a, b, lk in self._cash("holders", currency)
        ]
        return out

    def cash_balances(self, account: str) -> list[dict[str, Any]]:
        return [
            {"currency": c, "account": account.lower(), "balance": b, "locked": lk,
             "free": b - lk}
            for c, b, lk in self._cash("balancesOf", account.lower())
        ]

    def cash_balance(self, currency: str, account: str) -> dict[str, Any]:
        b = int(self._cash("balanceOf", currency, account.lower()))
        lk = int(self._cash("lockedOf", currency, account.lower()))
        return {"currency": currency, "account": account.lower(), "balance": b, "locked": lk,
                "free": b - lk}

    def allowance(self, currency: str, owner: str, spender: str | None = None) -> int:
        target = spender or "0x" + SECURITIES_ADDRESS.hex()
        return int(self._cash("allowance", currency, owner.lower(), target.lower()))

    # --- instruments and holdings --------------------------------------------------------------

    def isins(self) -> list[str]:
        return list(self._read("instruments"))

    def instruments(self) -> list[dict[str, Any]]:
        return [instrument_json(self._read("instrument", i)) for i in self.isins()]

    def instrument(self, isin: str) -> dict[str, Any] | None:
        if isin not in self.isins():
            return None
        out = instrument_json(self._read("instrument", isin))
        out["jurisdictions"] = list(self._read("jurisdictions", isin))
        return out

    def holders(self, isin: str) -> list[dict[str, Any]]:
        return [
            {"isin": isin, "account": hex_address(a), "balance": b, "locked": lk,
             "free": b - lk}
            for a, b, lk in self._read("holders", isin)
        ]

    def holders_at(self, isin: str, height: int) -> list[dict[str, Any]]:
        return [{"isin": isin, "account": hex_address(a), "balance": b, "height": height}
                for a, b in self._read("holdersAt", isin, height)]

    def holdings(self, account: str) -> list[dict[str, Any]]:
        return [
            {"isin": i, "account": account.lower(), "balance": b, "locked": lk, "free": b - lk}
            for i, b, lk in self._read("holdingsOf", account.lower())
        ]

    def holding(self, isin: str, account: str) -> dict[str, Any]:
        b, lk = self._read("holding", isin, account.lower())
        return {"isin": isin, "account": account.lower(), "balance": b, "locked": lk,
                "free": b - lk}

    def balance_at(self, isin: str, account: str, height: int) -> int:
        return int(self._read("balanceOfAt", isin, account.lower(), height))

    def supply_at(self, isin: str, height: int) -> int:
        return int(self._read("totalSupplyAt", isin, height))

    # --- eligibility ---------------------------------------------------------------------------

    def investor(self, account: str) -> dict[str, Any]:
        return investor_json(self._read("investor", account.lower()))

    def investors(self) -> list[dict[str, Any]]:
        return [self.investor(hex_address(a)) for a in self._read("investors")]

    def restriction(self, isin: str, src: str, dest: str, amount: int) -> dict[str, Any]:
        code = int(self._read("detectTransferRestriction", isin, src.lower(), dest.lower(),
                              amount))
        return {"code": code,
                "message": str(self._read("messageForTransferRestriction", code))}

    # --- orders and the book -------------------------------------------------------------------

    def order(self, order_id: int) -> dict[str, Any] | None:
        if not 1 <= order_id <= int(self._read("orderCount")):
            return None
        return order_json(self._read("order", order_id))

    def _orders(self, ids: list[int]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), MAX_READ):
            out += [order_json(t) for t in self._read("orders", ids[start:start + MAX_READ])]
        return out

    def orders(self, *, account: str | None = None, isin: str | None = None,
               state: str | None = None, side: str | None = None) -> list[dict[str, Any]]:
        if state is not None and state not in ORDER_STATES:
            raise ValueError(f"unknown order state {state!r} ({', '.join(ORDER_STATES)})")
        if account is not None:
            ids = sorted(int(i) for i in self._read("ordersOf", account.lower()))
        else:
            ids = list(range(1, int(self._read("orderCount")) + 1))
        return [o for o in self._orders(ids)
                if (isin is None or o["isin"] == isin) and (state is None or o["state"] == state)
                and (side is None or o["side"] == side)]

    def book(self, isin: str, levels: int = 10) -> dict[str, Any]:
        inst = instrument_json(self._read("instrument", isin))

        def side(number: int) -> list[dict[str, Any]]:
            return [{"price": p, "quantity": q, "orders": n}
                    for p, q, n in self._read("depth", isin, number, levels)]

        return {"isin": isin, "currency": inst["currency"], "paused": inst["paused"],
                "bids": side(BUY), "asks": side(SELL)}

    def order_book(self, isin: str, levels: int = 10) -> dict[str, Any] | None:
        """The book's depth, at most MAX_LEVELS levels a side; None for an unknown ISIN."""
        if isin not in self.isins():
            return None
        return self.book(isin, min(levels, MAX_LEVELS))

    def holders_of(self, isin: str, height: int | None = None) -> list[dict[str, Any]] | None:
        """Holders now, or at the end of block `height` (a record date); None for an
        unknown ISIN."""
        if isin not in self.isins():
            return None
        return self.holders(isin) if height is None else self.holders_at(isin, height)

    def book_orders(self, isin: str, side: str, limit: int = MAX_READ) -> list[dict[str, Any]]:
        ids = [int(i) for i in self._read("bookOrders", isin, BUY if side == "buy" else SELL,
                                          limit)]
        return self._orders(ids)

    # --- trades --------------------------------------------------------------------------------

    def trade(self, trade_id: int) -> dict[str, Any] | None:
        if not 1 <= trade_id <= int(self._read("tradeCount")):
            return None
        return trade_json(self._read("trade", trade_id))

    def trades(self, *, isin: str | None = None, account: str | None = None,
               state: str | None = None) -> list[dict[str, Any]]:
        if state is not None and state not in TRADE_STATES:
            raise ValueError(f"unknown trade state {state!r} ({', '.join(TRADE_STATES)})")
        if account is not None:
            ids = sorted(int(i) for i in self._read("tradesOf", account.lower()))
        elif isin is not None:
            ids = sorted(int(i) for i in self._read("tradesOfInstrument", isin))
        else:
            ids = list(range(1, int(self._read("tradeCount")) + 1))
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), MAX_READ):
            out += [trade_json(t) for t in self._read("trades", ids[start:start + MAX_READ])]
        return [t for t in out if (isin is None or t["isin"] == isin)
                and (state is None or t["state"] == state)]

    def pending_trades(self, isin: str) -> list[int]:
        return [int(i) for i in self._read("pendingTrades", isin)]

    # --- bilateral proposals -------------------------------------------------------------------

    def proposal(self, proposal_id: int) -> dict[str, Any] | None:
        if not 1 <= proposal_id <= int(self._read("proposalCount")):
            return None
        return proposal_json(self._read("proposal", proposal_id))

    def proposals(self, account: str | None = None) -> list[dict[str, Any]]:
        if account is not None:
            ids = sorted(int(i) for i in self._read("proposalsOf", account.lower()))
        else:
            ids = list(range(1, int(self._read("proposalCount")) + 1))
        return [proposal_json(self._read("proposal", i)) for i in ids]

    # --- dividends and forced transfers --------------------------------------------------------

    def dividend(self, dividend_id: int) -> dict[str, Any] | None:
        if not 1 <= dividend_id <= int(self._read("dividendCount")):
            return None
        return dividend_json(self._read("dividend", dividend_id))

    def dividends(self, isin: str | None = None) -> list[dict[str, Any]]:
        if isin is not None:
            ids = sorted(int(i) for i in self._read("dividendsOf", isin))
        else:
            ids = list(range(1, int(self._read("dividendCount")) + 1))
        return [dividend_json(self._read("dividend", i)) for i in ids]

    def dividends_listed(self, isin: str | None = None) -> list[dict[str, Any]] | None:
        """Every dividend, or an instrument's; None for an unknown ISIN."""
        if isin is not None and isin not in self.isins():
            return None
        return self.dividends(isin)

    def dividend_of(self, dividend_id: int, account: str) -> dict[str, Any]:
        shares, amount, paid = self._read("dividendOf", dividend_id, account.lower())
        return {"dividend": dividend_id, "account": account.lower(), "shares": shares,
                "amount": amount, "paid": paid}

    def forced_transfers(self) -> list[dict[str, Any]]:
        count = int(self._read("forcedTransferCount"))
        return [forced_json(self._read("forcedTransfer", i)) for i in range(1, count + 1)]


__all__ = ["CASH", "SECURITIES", "Codec", "SecuritiesReader"]
