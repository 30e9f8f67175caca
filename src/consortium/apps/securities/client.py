"""`SecuritiesClient`: cash tokens and securities trading from Python, over a node's JSON-RPC.
Reads answer `SecuritiesReader`'s dicts; a write is checked with eth_estimateGas first (a
refusal raises `ExecutionReverted` with the contract's reason, nothing sent), sent, awaited and
answered as what its events say happened. The plain writes come from `surface.py`:

    sec = SecuritiesClient("http://127.0.0.1:8545")
    sec.mint_cash(bank, "CNY", alice.address, 1_000_000); sec.approve(alice, "CNY")
    sec.sell(alice, "US0378331005", 10, price=101)  # {"orderId": 1, "trades": [], …}
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount

from consortium.apps.securities.cash import CashTokens
from consortium.apps.securities.contract import Securities
from consortium.apps.securities.model import (
    GAS_MARGIN,
    SECURITIES_ADDRESS,
    UNLIMITED,
    isin_text,
    isin_word,
    side_number,
)
from consortium.apps.securities.reader import CASH, SECURITIES, SecuritiesReader
from consortium.apps.securities.surface import CASH as CASH_SURFACE
from consortium.apps.securities.surface import COUNT
from consortium.apps.securities.surface import SECURITIES as SECURITIES_SURFACE
from consortium.apps.service_client import ServiceClient, account_hex, decode_log
from consortium.apps.surface import AMOUNT, HEIGHT, sha256_of, with_writes
from consortium.errors import BadValue, ExecutionReverted, known
from consortium.evm.native import EventSpec, NativeCalls
from consortium.evm.records import hex0x, word_address
from consortium.sdk.client import ConsortiumClient

_CASH_TRANSFER = next(w for w in CASH_SURFACE.writes if w.client == "transfer_cash")
SETTLEMENT = hex0x(SECURITIES_ADDRESS)
_EVENTS = {e.topic0: e for cls in (CashTokens, Securities) for e in cls.events()}
document_hash = sha256_of  # the hash an instrument keeps of its document (bytes or a file)
# a Transition's object id as users name it (an ISIN, a 0x account; else the number) and back
_NAMED_IDS = {"instrument": (isin_text, isin_word),
              "investor": (lambda w: hex0x(word_address(w)), lambda a: int(account_hex(a), 16))}


def decode_event(topics: list[bytes], data: bytes) -> dict[str, Any] | None:
    """One log of either contract as {"event": name, field: value…}, or None."""
    spec = _EVENTS.get(bytes(topics[0])) if topics else None
    if spec is None:
        return None
    out = {"event": spec.name} | decode_log(spec, topics, data)
    if spec.name == "Transition" and out["kind"] in _NAMED_IDS:
        out["id"] = _NAMED_IDS[out["kind"]][0](out["id"])
    return out


class _Contract(ServiceClient):
    """One of the two contracts: the transport `SecuritiesClient` sends its calls by."""

    transitions: dict[str, EventSpec] = {}

    def __init__(self, client: ConsortiumClient, calls: NativeCalls) -> None:
        self.address, self.calls = bytes(calls.cls.address), calls
        super().__init__(client)


@with_writes(SECURITIES_SURFACE, SECURITIES)
@with_writes(CASH_SURFACE, CASH)
class SecuritiesClient:
    """CashTokens and Securities through one node's API (the declared writes: create_token,
    mint_cash …, mint, redeem, pause, transfer, cancel_order, settle, accept, set_investor,
    declare_dividend …)."""

    def __init__(self, client: ConsortiumClient | str) -> None:
        self.client = client if isinstance(client, ConsortiumClient) else ConsortiumClient(client)
        self._contracts = {id(c): _Contract(self.client, c) for c in (SECURITIES, CASH)}
        self.read = SecuritiesReader(self._call)

    def _on(self, codec: NativeCalls) -> _Contract:
        return self._contracts[id(codec)]

    def _call(self, to: bytes, data: bytes, block: Any = "latest") -> bytes:
        return self._on(SECURITIES)._call(to, data, block)

    def height(self) -> int:
        return self._on(SECURITIES).height()

    # --- sending -------------------------------------------------------------------------------
    def check(self, account: LocalAccount, codec: NativeCalls, name: str, *args: Any) -> int:
        """Would `account` calling `name(*args)` succeed now? Answers the gas estimate, or
        raises ExecutionReverted with the contract's reason."""
        return self._on(codec).check(account, name, *args)

    def submit(self, account: LocalAccount, codec: NativeCalls, name: str, *args: Any,
               gas: int, nonce: int | None = None) -> bytes:
        """Sign and send without waiting; answers the transaction hash."""
        return self._on(codec).submit(account, name, *args, gas=gas, nonce=nonce)

    def outcome(self, tx_hash: bytes, codec: NativeCalls, name: str, args: tuple[Any, ...],
                timeout: float = 60) -> dict[str, Any]:
        """Wait for a sent call's receipt: what happened, or ExecutionReverted with why."""
        receipt, number = self._on(codec).receipt(tx_hash, name, args, timeout)
        events = [e for log in receipt["logs"]
                  if (e := decode_event(list(log["topics"]), bytes(log["data"]))) is not None]
        return summarise({"txHash": hex0x(tx_hash), "block": number}, events)

    def transact(self, account: LocalAccount, codec: NativeCalls, name: str,
                 *args: Any) -> dict[str, Any]:
        """Check, send and wait for one call."""
        gas = self.check(account, codec, name, *args) + GAS_MARGIN
        return self.outcome(self.submit(account, codec, name, *args, gas=gas), codec, name, args)

    # --- writes with flows of their own --------------------------------------------------------
    def transfer_cash(self, account: LocalAccount, *values: Any, **named: Any) -> dict[str, Any]:
        """Transfer free cash (currency, to, amount: the declared write), refused here when it
        would move nothing, as a mint of 0 is: an amount of 0, or to the sender itself."""
        currency, to, amount = _CASH_TRANSFER.call_args(values, named)
        if amount == 0:
            raise BadValue("amount: must be above 0 (a transfer of 0 moves nothing)")
        if to == account_hex(account.address):
            raise BadValue(f"to: {to} is the sender: a transfer to oneself moves nothing")
        return self.transact(account, CASH, _CASH_TRANSFER.method, currency, to, amount)

    def approve(self, account: LocalAccount, currency: str, amount: int = UNLIMITED,
                spender: str = SETTLEMENT) -> dict[str, Any]:
        """Let the settlement contract (by default) lock up to `amount` (default: any)."""
        return self.transact(account, CASH, "approve", currency.strip().upper(),
                             account_hex(spender), AMOUNT.parse(amount, "amount"))

    def issue(self, account: LocalAccount, isin: str, name: str, supply: int, *,
              currency: str, document: bytes | None = None,
              document_hash_: bytes | None = None, issuer: str | None = None,
              cycle: int = 0) -> dict[str, Any]:
        """Issue an instrument; its supply goes to `issuer` (the signer by default). Give the
        document (hashed here) or its 32-byte hash."""
        if document_hash_ is None:
            document_hash_ = document_hash(known(document, "give the instrument's document or "
                                                           "its hash"))
        return self.transact(account, SECURITIES, "issue", isin.strip().upper(), name,
                             account_hex(issuer or account.address),
                             AMOUNT.parse(supply, "supply"), document_hash_,
                             currency.strip().upper(), COUNT.parse(cycle, "cycle"))

    def set_jurisdictions(self, account: LocalAccount, isin: str,
                          allowed: list[str]) -> dict[str, Any]:
        return self.transact(account, SECURITIES, "setJurisdictions", isin,
                             [j.upper() for j in allowed])

    def place_order(self, account: LocalAccount, isin: str, side: str, quantity: int,
                    price: int, expiry: int = 0) -> dict[str, Any]:
        return self.transact(account, SECURITIES, "placeOrder", isin, side_number(side),
                             AMOUNT.parse(price, "price"), AMOUNT.parse(quantity, "quantity"),
                             HEIGHT.parse(expiry, "expiry"))

    def buy(self, account: LocalAccount, isin: str, quantity: int, *, price: int,
            expiry: int = 0) -> dict[str, Any]:
        return self.place_order(account, isin, "buy", quantity, price, expiry)

    def sell(self, account: LocalAccount, isin: str, quantity: int, *, price: int,
             expiry: int = 0) -> dict[str, Any]:
        return self.place_order(account, isin, "sell", quantity, price, expiry)

    def propose(self, account: LocalAccount, isin: str, counterparty: str, side: str,
                quantity: int, price: int, deadline: int) -> dict[str, Any]:
        """Propose a bilateral trade; `side` is the proposer's (buy or sell)."""
        return self.transact(account, SECURITIES, "propose", isin, account_hex(counterparty),
                             side_number(side), AMOUNT.parse(quantity, "quantity"),
                             AMOUNT.parse(price, "price"), HEIGHT.parse(deadline, "deadline"))

    def settle_due(self, account: LocalAccount, isin: str) -> list[dict[str, Any]]:
        """Settle every pending trade of `isin` that is due, expire those past their
        deadline; trades that cannot settle yet (or are refused) are reported, not raised."""
        height = self.height() + 1  # the block the transactions land in, at the earliest
        done: list[dict[str, Any]] = []
        for trade_id in self.read.pending_trades(isin):
            trade = self.read.trade(trade_id)
            if trade is None or trade["settleHeight"] > height:
                continue
            name = "expireTrade" if height >= trade["deadline"] else "settle"
            try:
                out = self.transact(account, SECURITIES, name, trade_id)
            except ExecutionReverted as err:
                out = {"trade": trade_id, "refused": err.message}
            done.append({"trade": trade_id, "action": name} | out)
        return done

    # --- reads ---------------------------------------------------------------------------------
    def instrument(self, isin: str) -> dict[str, Any] | None:
        """An instrument with its holders; None for an unknown ISIN."""
        found = self.read.instrument(isin)
        if found is not None:
            found["holders"] = self.read.holders(found["isin"])
        return found

    def history(self, kind: str, object_id: int | str) -> list[dict[str, Any]]:
        """Every Transition of one object ("order" 3, "trade" 1, "proposal" 2, "dividend" 1,
        "instrument" ISIN, "investor" 0x…), oldest first; an order's fills among them (a
        partial fill changes no state, so no Transition tells it)."""
        word = _NAMED_IDS[kind][1](str(object_id)) if kind in _NAMED_IDS else int(object_id)
        logs = self._on(SECURITIES)._logs(
            SECURITIES_ADDRESS, [Securities.Transition.topic0, word.to_bytes(32, "big")])
        found = [(log["block"], log["index"], {
            "block": log["block"], "txHash": log["txHash"], "actor": e["actor"],
            "from": e["fromState"], "to": e["toState"], "reason": e["reason"]})
            for log in logs if (e := decode_event(log["topics"], log["data"])) is not None
            and e["kind"] == kind]
        if kind == "order":
            found += self._fills(word)
        return [entry for _, _, entry in sorted(found, key=lambda f: (f[0], f[1]))]

    def _fills(self, order_id: int) -> list[tuple[int, int, dict[str, Any]]]:
        """An order's fills as history entries: TradeExecuted names its orders unindexed, so
        the trades of the order's owner on its side are read and those of the order kept.
        The actor is the counterparty; the state stays open until the last fill's
        Transition."""
        order = self.read.order(order_id)
        if order is None:
            return []
        buying = order["side"] == "buy"
        owner = bytes(12) + bytes.fromhex(order["owner"][2:])
        topics: list[bytes | None] = [Securities.TradeExecuted.topic0, None,
                                      owner if buying else None, None if buying else owner]
        fills = []
        for log in self._on(SECURITIES)._logs(SECURITIES_ADDRESS, topics):
            e = decode_event(log["topics"], log["data"])
            if e is None or e["buyOrder" if buying else "sellOrder"] != order_id:
                continue
            other = e["sellOrder"] if buying else e["buyOrder"]
            against = f"order {other}" if other else "a bilateral proposal"
            fills.append((log["block"], log["index"], {
                "block": log["block"], "txHash": log["txHash"],
                "actor": e["seller" if buying else "buyer"], "from": "open", "to": "open",
                "reason": f"filled {e['quantity']} at {e['price']} by trade {e['tradeId']} "
                          f"against {against}", "trade": e["tradeId"]}))
        return fills


# event -> the outcome's key for the id it created, and the event's field holding it
CREATED = {"OrderPlaced": ("orderId", "orderId"), "DividendDeclared": ("dividendId", "dividendId"),
           "ForcedTransfer": ("forcedTransferId", "id")}


def summarise(out: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction's outcome from its decoded events: the ids it created, its trades and
    transitions, and the events themselves."""
    out["events"] = events
    out["trades"] = [{"id": e["tradeId"], "buyer": e["buyer"], "seller": e["seller"],
                      "price": e["price"], "quantity": e["quantity"],
                      "settleHeight": e["settleHeight"]}
                     for e in events if e["event"] == "TradeExecuted"]
    out["transitions"] = [{"kind": e["kind"], "id": e["id"], "from": e["fromState"],
                           "to": e["toState"], "reason": e["reason"]}
                          for e in events if e["event"] == "Transition"]
    for e in events:
        if e["event"] in CREATED:
            key, name = CREATED[e["event"]]
            out[key] = e[name]
        elif e["event"] == "Transition" and e["kind"] == "proposal" and not e["fromState"]:
            out["proposalId"] = e["id"]
    states = {(t["kind"], t["id"]): t["to"] for t in out["transitions"]}
    for trade in out["trades"]:
        trade["state"] = states.get(("trade", trade["id"]), "")
    if "orderId" in out:
        out["orderState"] = states.get(("order", out["orderId"]), "open")
    return out

