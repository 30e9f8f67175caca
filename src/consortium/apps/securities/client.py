"""`SecuritiesClient`: cash tokens and securities trading from Python, over a node's JSON-RPC.

Reads are eth_calls to CashTokens (0x…2000) and Securities (0x…2001) and answer the dicts of
`consortium.apps.securities.reader`. Writes sign a transaction with the caller's account,
check it first with eth_estimateGas (a refusal raises `ExecutionReverted` with the
contract's reason — a transfer restriction names its ERC-1404 code — and nothing is sent),
send it, wait for the receipt and answer what happened, decoded from its events:

    sec = SecuritiesClient("http://127.0.0.1:8545")
    sec.create_token(bank, "CNY", "Bank A digital yuan")
    sec.mint_cash(bank, "CNY", alice.address, 1_000_000)
    sec.approve(alice, "CNY")                       # the settlement contract may lock cash
    sec.set_investor(custodian, alice.address, kyc_expiry=10**9, jurisdiction="CN")
    sec.issue(agent, "US0378331005", "Apple Inc.", 1_000, currency="CNY",
              document=b"…prospectus…")
    out = sec.sell(alice, "US0378331005", 10, price=101)    # {"orderId": 1, "trades": [], …}
    out = sec.buy(bob, "US0378331005", 4, price=101)         # {"trades": [{… "state":
                                                             #   "settled"}], …}
"""

from __future__ import annotations

import hashlib
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from web3 import Web3

from consortium.apps.securities.cash import CashTokens
from consortium.apps.securities.contract import Securities
from consortium.apps.securities.model import (
    BUY,
    MAX_DISTRIBUTE,
    SECURITIES_ADDRESS,
    SELL,
    UNLIMITED,
    isin_text,
)
from consortium.apps.securities.reader import CASH, SECURITIES, Codec, SecuritiesReader
from consortium.errors import ConfigError, ExecutionReverted
from consortium.evm.native import EventSpec
from consortium.sdk.client import ConsortiumClient

GAS_MARGIN = 300_000  # the book may move between the estimate and the block
SETTLEMENT = "0x" + SECURITIES_ADDRESS.hex()

_EVENTS: dict[bytes, EventSpec] = {
    e.topic0: e for cls in (CashTokens, Securities) for e in cls.events()
}


def document_hash(document: bytes) -> bytes:
    """The hash an instrument keeps of its document (SHA-256 of the file's bytes)."""
    return hashlib.sha256(document).digest()


def decode_event(topics: list[bytes], data: bytes) -> dict[str, Any] | None:
    """One log of either contract as {"event": name, field: value…}, or None."""
    if not topics:
        return None
    spec = _EVENTS.get(bytes(topics[0]))
    if spec is None:
        return None
    out: dict[str, Any] = {"event": spec.name}
    plain = [(t, n) for t, n, indexed in spec.params if not indexed]
    values = iter(abi_decode([t for t, _ in plain], bytes(data)))
    rest = iter(topics[1:])
    for type_str, name, indexed in spec.params:
        if indexed:
            raw = bytes(next(rest))
            value: Any = ("0x" + raw[12:].hex() if type_str == "address"
                          else int.from_bytes(raw, "big") if type_str.startswith("uint")
                          else "0x" + raw.hex())
        else:
            value = next(values)
            if type_str == "address":
                value = str(value).lower()
            elif type_str.startswith("bytes"):
                value = "0x" + bytes(value).hex()
        out[name] = value
    if spec.name == "Transition":
        out["id"] = transition_id(out["kind"], out["id"])
    return out


def transition_id(kind: str, word: int) -> int | str:
    """A Transition's object id as users name it: an instrument's ISIN, an investor's
    0x account, otherwise the number."""
    if kind == "instrument":
        return isin_text(word)
    if kind == "investor":
        return "0x" + word.to_bytes(32, "big")[12:].hex()
    return word


def _address(value: str) -> str:
    text = str(value).strip().lower()
    if not text.startswith("0x") or len(text) != 42:
        raise ConfigError(f"{value!r} is not a 0x account address")
    try:
        int(text, 16)
    except ValueError:
        raise ConfigError(f"{value!r} is not a 0x account address") from None
    return text


class SecuritiesClient:
    """CashTokens and Securities through one node's API."""

    def __init__(self, client: ConsortiumClient | str) -> None:
        self.client = client if isinstance(client, ConsortiumClient) else ConsortiumClient(client)
        self.read = SecuritiesReader(self._call)

    def _call(self, to: bytes, data: bytes, block: Any = "latest") -> bytes:
        w3 = self.client.w3
        tx = {"to": Web3.to_checksum_address(to), "data": Web3.to_hex(data)}
        return bytes(self.client._rpc(lambda: w3.eth.call(tx, block)))  # type: ignore[arg-type]

    def height(self) -> int:
        return int(self.client._rpc(lambda: self.client.w3.eth.block_number))

    # --- sending -------------------------------------------------------------------------------

    def _tx(self, account: LocalAccount, codec: Codec, name: str, *args: Any) -> dict[str, Any]:
        return {"to": Web3.to_checksum_address(codec.address),
                "data": Web3.to_hex(codec.encode(name, *args)), "from": account.address}

    def check(self, account: LocalAccount, codec: Codec, name: str, *args: Any) -> int:
        """Would `account` calling `name(*args)` succeed now? Answers the gas estimate, or
        raises ExecutionReverted with the contract's reason."""
        tx = self._tx(account, codec, name, *args)
        return int(self.client._rpc(lambda: self.client.w3.eth.estimate_gas(tx)))  # type: ignore[arg-type]

    def submit(self, account: LocalAccount, codec: Codec, name: str, *args: Any, gas: int,
               nonce: int | None = None) -> bytes:
        """Sign and send without waiting; answers the transaction hash."""
        tx = self._tx(account, codec, name, *args)
        tx["gas"] = gas
        if nonce is not None:
            tx["nonce"] = nonce
        return bytes(self.client.send(account, tx, wait=False)["transactionHash"])

    def outcome(self, tx_hash: bytes, codec: Codec, name: str, args: tuple[Any, ...],
                timeout: float = 60) -> dict[str, Any]:
        """Wait for a sent call's receipt: what happened, or ExecutionReverted with why."""
        receipt = self.client.wait_receipt(tx_hash, timeout)
        number = int(receipt["blockNumber"])
        if receipt["status"] != 1:
            reason = self._replay_reason(receipt, codec, name, args, number)
            raise ExecutionReverted(
                f"transaction {Web3.to_hex(tx_hash)} reverted in block {number}: {reason}"
            )
        events = [e for log in receipt["logs"]
                  if (e := decode_event(list(log["topics"]), bytes(log["data"]))) is not None]
        return summarise({"txHash": Web3.to_hex(tx_hash), "block": number}, events)

    def _replay_reason(self, receipt: dict[str, Any], codec: Codec, name: str,
                       args: tuple[Any, ...], number: int) -> str:
        """Why a sent transaction reverted: the same call on the state before its block."""
        tx = {"to": Web3.to_checksum_address(codec.address), "from": receipt["from"],
              "data": Web3.to_hex(codec.encode(name, *args))}
        try:
            self.client._rpc(lambda: self.client.w3.eth.call(tx, number - 1))  # type: ignore[arg-type]
        except ExecutionReverted as err:
            return err.message
        except Exception:
            pass
        return "execution reverted"

    def transact(self, account: LocalAccount, codec: Codec, name: str,
                 *args: Any) -> dict[str, Any]:
        """Check, send and wait for one call."""
        gas = self.check(account, codec, name, *args) + GAS_MARGIN
        return self.outcome(self.submit(account, codec, name, *args, gas=gas), codec, name,
                            args)

    def _sec(self, account: LocalAccount, name: str, *args: Any) -> dict[str, Any]:
        return self.transact(account, SECURITIES, name, *args)

    def _cash(self, account: LocalAccount, name: str, *args: Any) -> dict[str, Any]:
        return self.transact(account, CASH, name, *args)

    # --- cash tokens ---------------------------------------------------------------------------

    def create_token(self, account: LocalAccount, currency: str, name: str) -> dict[str, Any]:
        return self._cash(account, "createToken", currency.strip().upper(), name)

    def mint_cash(self, account: LocalAccount, currency: str, to: str,
                  amount: int) -> dict[str, Any]:
        return self._cash(account, "mint", currency.strip().upper(), _address(to), int(amount))

    def burn_cash(self, account: LocalAccount, currency: str, amount: int) -> dict[str, Any]:
        return self._cash(account, "burn", currency.strip().upper(), int(amount))

    def transfer_cash(self, account: LocalAccount, currency: str, to: str,
                      amount: int) -> dict[str, Any]:
        return self._cash(account, "transfer", currency.strip().upper(), _address(to),
                          int(amount))

    def approve(self, account: LocalAccount, currency: str, amount: int = UNLIMITED,
                spender: str = SETTLEMENT) -> dict[str, Any]:
        """Let the settlement contract (by default) lock up to `amount` of this cash
        (unlimited by default)."""
        return self._cash(account, "approve", currency.strip().upper(), _address(spender),
                          int(amount))

    # --- instruments ---------------------------------------------------------------------------

    def issue(self, account: LocalAccount, isin: str, name: str, supply: int, *,
              currency: str, document: bytes | None = None,
              document_hash_: bytes | None = None, issuer: str | None = None,
              cycle: int = 0) -> dict[str, Any]:
        """Issue an instrument; its supply goes to `issuer` (the signer by default). Give the
        document (hashed here) or its 32-byte hash."""
        if document_hash_ is None:
            if document is None:
                raise ConfigError("give the instrument's document or its hash")
            document_hash_ = document_hash(document)
        return self._sec(account, "issue", isin.strip().upper(), name,
                         _address(issuer or account.address), int(supply), document_hash_,
                         currency.strip().upper(), int(cycle))

    def mint(self, account: LocalAccount, isin: str, to: str, amount: int) -> dict[str, Any]:
        return self._sec(account, "mint", isin, _address(to), int(amount))

    def redeem(self, account: LocalAccount, isin: str, holder: str,
               amount: int) -> dict[str, Any]:
        return self._sec(account, "redeem", isin, _address(holder), int(amount))

    def pause(self, account: LocalAccount, isin: str, reason: str = "") -> dict[str, Any]:
        return self._sec(account, "pause", isin, reason)

    def unpause(self, account: LocalAccount, isin: str, reason: str = "") -> dict[str, Any]:
        return self._sec(account, "unpause", isin, reason)

    def set_settlement_cycle(self, account: LocalAccount, isin: str, cycle: int,
                             window: int) -> dict[str, Any]:
        return self._sec(account, "setSettlementCycle", isin, int(cycle), int(window))

    def set_jurisdictions(self, account: LocalAccount, isin: str,
                          allowed: list[str]) -> dict[str, Any]:
        return self._sec(account, "setJurisdictions", isin, [j.upper() for j in allowed])

    # --- eligibility ---------------------------------------------------------------------------

    def set_investor(self, account: LocalAccount, investor: str, *, kyc_expiry: int,
                     jurisdiction: str, frozen: bool = False) -> dict[str, Any]:
        return self._sec(account, "setInvestor", _address(investor), int(kyc_expiry),
                         jurisdiction.strip().upper(), frozen)

    def freeze_investor(self, account: LocalAccount, investor: str,
                        reason: str) -> dict[str, Any]:
        return self._sec(account, "freezeInvestor", _address(investor), reason)

    def unfreeze_investor(self, account: LocalAccount, investor: str,
                          reason: str) -> dict[str, Any]:
        return self._sec(account, "unfreezeInvestor", _address(investor), reason)

    # --- transfers -----------------------------------------------------------------------------

    def transfer(self, account: LocalAccount, isin: str, to: str,
                 amount: int) -> dict[str, Any]:
        return self._sec(account, "transfer", isin, _address(to), int(amount))

    def force_transfer(self, account: LocalAccount, isin: str, src: str, dest: str,
                       amount: int, reason: str) -> dict[str, Any]:
        return self._sec(account, "forceTransfer", isin, _address(src), _address(dest),
                         int(amount), reason)

    # --- orders --------------------------------------------------------------------------------

    def place_order(self, account: LocalAccount, isin: str, side: str, quantity: int,
                    price: int, expiry: int = 0) -> dict[str, Any]:
        if side not in ("buy", "sell"):
            raise ConfigError(f"side must be buy or sell, not {side!r}")
        return self._sec(account, "placeOrder", isin, BUY if side == "buy" else SELL,
                         int(price), int(quantity), int(expiry))

    def buy(self, account: LocalAccount, isin: str, quantity: int, *, price: int,
            expiry: int = 0) -> dict[str, Any]:
        return self.place_order(account, isin, "buy", quantity, price, expiry)

    def sell(self, account: LocalAccount, isin: str, quantity: int, *, price: int,
             expiry: int = 0) -> dict[str, Any]:
        return self.place_order(account, isin, "sell", quantity, price, expiry)

    def cancel_order(self, account: LocalAccount, order_id: int) -> dict[str, Any]:
        return self._sec(account, "cancelOrder", int(order_id))

    def expire_order(self, account: LocalAccount, order_id: int) -> dict[str, Any]:
        return self._sec(account, "expireOrder", int(order_id))

    # --- settlement ----------------------------------------------------------------------------

    def settle(self, account: LocalAccount, trade_id: int) -> dict[str, Any]:
        return self._sec(account, "settle", int(trade_id))

    def expire_trade(self, account: LocalAccount, trade_id: int) -> dict[str, Any]:
        return self._sec(account, "expireTrade", int(trade_id))

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
                out = self._sec(account, name, trade_id)
            except ExecutionReverted as err:
                out = {"trade": trade_id, "refused": err.message}
            done.append({"trade": trade_id, "action": name} | out)
        return done

    # --- bilateral trades ----------------------------------------------------------------------

    def propose(self, account: LocalAccount, isin: str, counterparty: str, side: str,
                quantity: int, price: int, deadline: int) -> dict[str, Any]:
        """Propose a bilateral trade; `side` is the proposer's (buy or sell)."""
        if side not in ("buy", "sell"):
            raise ConfigError(f"side must be buy or sell, not {side!r}")
        return self._sec(account, "propose", isin, _address(counterparty),
                         BUY if side == "buy" else SELL, int(quantity), int(price),
                         int(deadline))

    def accept(self, account: LocalAccount, proposal_id: int) -> dict[str, Any]:
        return self._sec(account, "accept", int(proposal_id))

    def cancel_proposal(self, account: LocalAccount, proposal_id: int) -> dict[str, Any]:
        return self._sec(account, "cancelProposal", int(proposal_id))

    def expire_proposal(self, account: LocalAccount, proposal_id: int) -> dict[str, Any]:
        return self._sec(account, "expireProposal", int(proposal_id))

    # --- dividends -----------------------------------------------------------------------------

    def declare_dividend(self, account: LocalAccount, isin: str, *, record_height: int,
                         currency: str, per_share: int) -> dict[str, Any]:
        return self._sec(account, "declareDividend", isin, int(record_height),
                         currency.strip().upper(), int(per_share))

    def claim_dividend(self, account: LocalAccount, dividend_id: int) -> dict[str, Any]:
        return self._sec(account, "claimDividend", int(dividend_id))

    def distribute_dividend(self, account: LocalAccount, dividend_id: int,
                            max_holders: int = MAX_DISTRIBUTE) -> dict[str, Any]:
        return self._sec(account, "distributeDividend", int(dividend_id), int(max_holders))

    # --- history -------------------------------------------------------------------------------

    def history(self, kind: str, object_id: int | str) -> list[dict[str, Any]]:
        """Every Transition of one object ("order" 3, "trade" 1, "proposal" 2, "dividend" 1,
        "instrument" ISIN, "investor" 0x…), oldest first."""
        from consortium.apps.securities.model import isin_word

        if kind == "instrument":
            word = isin_word(str(object_id))
        elif kind == "investor":
            word = int(_address(str(object_id)), 16)
        else:
            word = int(object_id)
        logs = self.client._rpc(lambda: self.client.w3.eth.get_logs({
            "address": Web3.to_checksum_address(SECURITIES_ADDRESS),
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": [Web3.to_hex(Securities.Transition.topic0),
                       Web3.to_hex(word.to_bytes(32, "big"))],
        }))
        out = []
        for log in logs:
            e = decode_event(list(log["topics"]), bytes(log["data"]))
            if e is None or e["kind"] != kind:
                continue
            out.append({"block": log["blockNumber"],
                        "txHash": Web3.to_hex(log["transactionHash"]), "actor": e["actor"],
                        "from": e["fromState"], "to": e["toState"], "reason": e["reason"]})
        return out


def summarise(out: dict[str, Any], events: list[dict[str, Any]]) -> dict[str, Any]:
    """A transaction's outcome from its decoded events: the ids it created, its trades and
    transitions, and the events themselves."""
    out["events"] = events
    out["trades"] = [
        {"id": e["tradeId"], "buyer": e["buyer"], "seller": e["seller"], "price": e["price"],
         "quantity": e["quantity"], "settleHeight": e["settleHeight"]}
        for e in events if e["event"] == "TradeExecuted"
    ]
    out["transitions"] = [
        {"kind": e["kind"], "id": e["id"], "from": e["fromState"], "to": e["toState"],
         "reason": e["reason"]}
        for e in events if e["event"] == "Transition"
    ]
    for e in events:
        if e["event"] == "OrderPlaced":
            out["orderId"] = e["orderId"]
        elif e["event"] == "DividendDeclared":
            out["dividendId"] = e["dividendId"]
        elif e["event"] == "ForcedTransfer":
            out["forcedTransferId"] = e["id"]
        elif e["event"] == "Transition" and e["kind"] == "proposal" and not e["fromState"]:
            out["proposalId"] = e["id"]
    states = {(t["kind"], t["id"]): t["to"] for t in out["transitions"]}
    for trade in out["trades"]:
        trade["state"] = states.get(("trade", trade["id"]), "")
    if "orderId" in out:
        out["orderState"] = states.get(("order", out["orderId"]), "open")
    return out


__all__ = ["SecuritiesClient", "decode_event", "document_hash", "summarise", "transition_id"]
