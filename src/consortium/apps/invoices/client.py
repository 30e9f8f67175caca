"""`InvoiceClient`: invoice management and financing from Python, over a node's JSON-RPC.

Reads are eth_calls to the Invoices contract (0x…2004) and answer the dicts of
`consortium.apps.invoices.reader`. Writes sign a transaction with the caller's account,
check it first with eth_estimateGas (a refusal raises `ExecutionReverted` with the contract's
reason, and nothing is sent), send it, wait for the receipt and answer what happened:

    invoices = InvoiceClient("http://127.0.0.1:8545", key=find_key(network_dir=Path("net")))
    fp = invoices.fingerprint("91310000MA1FL4XX7J", "INV-0042", "2025-03-01", 1_000_000)
    invoices.issue(seller, fp, buyer=buyer.address, amount=1_000_000, currency="CNY",
                   due_date="2025-06-30")                      # {"state": "issued", …}
    invoices.confirm(buyer, fp)
    invoices.request_financing(seller, fp)
    invoices.finance(bank, fp, 600_000)                        # {"tranche": 0, …}

The consortium key (needed only to compute fingerprints) stays on this machine: only the
fingerprint, the parties, the amount, the currency and the due date are sent.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from eth_abi import decode as abi_decode
from eth_account.signers.local import LocalAccount
from web3 import Web3

from consortium.apps.invoices.contract import Invoices
from consortium.apps.invoices.fingerprint import compute, date_number
from consortium.apps.invoices.model import INVOICES_ADDRESS
from consortium.apps.invoices.reader import (
    InvoiceReader,
    encode_call,
    fingerprint_bytes,
)
from consortium.errors import ConfigError, ExecutionReverted
from consortium.sdk.client import ConsortiumClient

GAS_MARGIN = 200_000  # state may move between the estimate and the block (index sets)
_TRANSITION = Invoices.InvoiceTransition.topic0
_TRANCHE = Invoices.TrancheFinanced.topic0


def _address(value: str) -> str:
    text = value.strip().lower()
    if not text.startswith("0x") or len(text) != 42:
        raise ConfigError(f"{value!r} is not a 0x account address")
    try:
        int(text, 16)
    except ValueError:
        raise ConfigError(f"{value!r} is not a 0x account address") from None
    return text


def _fp(value: str | bytes) -> bytes:
    try:
        return fingerprint_bytes(value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


class InvoiceClient:
    """The Invoices contract through one node's API."""

    def __init__(self, client: ConsortiumClient | str, key: bytes | None = None) -> None:
        self.client = client if isinstance(client, ConsortiumClient) else ConsortiumClient(client)
        self.key = key
        self.read = InvoiceReader(self._call)

    def _call(self, to: bytes, data: bytes, block: Any = "latest") -> bytes:
        w3 = self.client.w3
        tx = {"to": Web3.to_checksum_address(to), "data": Web3.to_hex(data)}
        return bytes(self.client._rpc(lambda: w3.eth.call(tx, block)))  # type: ignore[arg-type]

    # --- fingerprints ---------------------------------------------------------------------

    def fingerprint(
        self, seller_tax_id: str, invoice_number: str, issue_date: str | int | date,
        amount: str | int,
    ) -> str:
        """The invoice's fingerprint (0x hex) under the consortium key; computed here."""
        if self.key is None:
            raise ConfigError("computing a fingerprint needs the consortium key (key=…)")
        return "0x" + compute(self.key, seller_tax_id, invoice_number, issue_date, amount).hex()

    # --- reads ----------------------------------------------------------------------------

    def invoice(self, fingerprint: str | bytes) -> dict[str, Any] | None:
        return self.read.invoice(_fp(fingerprint))

    def invoices(self, *, seller: str | None = None, buyer: str | None = None,
                 bank: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        try:
            return self.read.invoices(seller=seller, buyer=buyer, bank=bank, state=state)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    def is_registered(self, fingerprint: str | bytes) -> bool:
        return self.read.is_registered(_fp(fingerprint))

    def today(self) -> int:
        return self.read.today()

    def history(self, fingerprint: str | bytes) -> list[dict[str, Any]]:
        """Every transition of an invoice, oldest first, from the InvoiceTransition events."""
        fp = _fp(fingerprint)
        logs = self.client._rpc(lambda: self.client.w3.eth.get_logs({
            "address": Web3.to_checksum_address(INVOICES_ADDRESS),
            "fromBlock": 0,
            "toBlock": "latest",
            "topics": [Web3.to_hex(_TRANSITION), Web3.to_hex(fp)],
        }))
        out = []
        for log in logs:
            old, new, reason = abi_decode(["string", "string", "string"], bytes(log["data"]))
            out.append({
                "block": log["blockNumber"],
                "txHash": Web3.to_hex(log["transactionHash"]),
                "actor": "0x" + bytes(log["topics"][2])[12:].hex(),
                "from": old,
                "to": new,
                "reason": reason,
            })
        return out

    # --- sending ----------------------------------------------------------------------------

    def check(self, account: LocalAccount, name: str, *args: Any) -> int:
        """Would `account` calling `name(*args)` succeed now? Answers the gas estimate, or
        raises ExecutionReverted with the contract's reason."""
        tx = self._tx(account, name, *args)
        return int(self.client._rpc(lambda: self.client.w3.eth.estimate_gas(tx)))  # type: ignore[arg-type]

    def _tx(self, account: LocalAccount, name: str, *args: Any) -> dict[str, Any]:
        return {
            "to": Web3.to_checksum_address(INVOICES_ADDRESS),
            "data": Web3.to_hex(encode_call(name, *args)),
            "from": account.address,
        }

    def submit(self, account: LocalAccount, name: str, *args: Any, gas: int,
               nonce: int | None = None) -> bytes:
        """Sign and send without waiting; answers the transaction hash."""
        tx = self._tx(account, name, *args)
        tx["gas"] = gas
        if nonce is not None:
            tx["nonce"] = nonce
        sent = self.client.send(account, tx, wait=False)
        return bytes(sent["transactionHash"])

    def outcome(self, tx_hash: bytes, name: str, args: tuple[Any, ...],
                timeout: float = 60) -> dict[str, Any]:
        """Wait for a sent call's receipt: what happened, or ExecutionReverted with why."""
        receipt = self.client.wait_receipt(tx_hash, timeout)
        number = int(receipt["blockNumber"])
        if receipt["status"] != 1:
            reason = self._replay_reason(receipt, name, args, number)
            raise ExecutionReverted(
                f"transaction {Web3.to_hex(tx_hash)} reverted in block {number}: {reason}"
            )
        out: dict[str, Any] = {
            "fingerprint": "0x" + bytes(args[0]).hex(),
            "txHash": Web3.to_hex(tx_hash),
            "block": number,
        }
        for log in receipt["logs"]:
            topic = bytes(log["topics"][0])
            if topic == _TRANSITION:
                _, new, reason = abi_decode(["string", "string", "string"], bytes(log["data"]))
                out["state"] = new
                out["reason"] = reason
            elif topic == _TRANCHE:
                tranche, _, financed = abi_decode(["uint256"] * 3, bytes(log["data"]))
                out["tranche"] = tranche
                out["financed"] = financed
        return out

    def _replay_reason(self, receipt: dict[str, Any], name: str, args: tuple[Any, ...],
                       number: int) -> str:
        """Why a sent transaction reverted: the same call on the state before its block."""
        tx = {
            "to": Web3.to_checksum_address(INVOICES_ADDRESS),
            "from": receipt["from"],
            "data": Web3.to_hex(encode_call(name, *args)),
        }
        try:
            self.client._rpc(lambda: self.client.w3.eth.call(tx, number - 1))  # type: ignore[arg-type]
        except ExecutionReverted as err:
            return err.message
        except Exception:
            pass
        return "execution reverted"

    def transact(self, account: LocalAccount, name: str, *args: Any) -> dict[str, Any]:
        """Check, send and wait for one call of the contract."""
        gas = self.check(account, name, *args) + GAS_MARGIN
        return self.outcome(self.submit(account, name, *args, gas=gas), name, args)

    # --- the steps of an invoice ----------------------------------------------------------

    def issue(
        self,
        account: LocalAccount,
        fingerprint: str | bytes,
        *,
        buyer: str,
        amount: int,
        currency: str,
        due_date: str | int | date,
        seller: str | None = None,
    ) -> dict[str, Any]:
        """Register an invoice: by its seller (`seller` defaults to the signer), or by a
        financing bank for its client (give `seller`)."""
        return self.transact(account, "issue", *self.issue_args(
            account, fingerprint, buyer=buyer, amount=amount, currency=currency,
            due_date=due_date, seller=seller,
        ))

    def issue_args(
        self,
        account: LocalAccount,
        fingerprint: str | bytes,
        *,
        buyer: str,
        amount: int,
        currency: str,
        due_date: str | int | date,
        seller: str | None = None,
    ) -> tuple[Any, ...]:
        due = date_number(due_date) if not isinstance(due_date, int) else due_date
        return (
            _fp(fingerprint),
            _address(seller or account.address),
            _address(buyer),
            int(amount),
            currency.strip().upper(),
            due,
        )

    def confirm(self, account: LocalAccount, fingerprint: str | bytes) -> dict[str, Any]:
        return self.transact(account, "confirm", _fp(fingerprint))

    def request_financing(self, account: LocalAccount, fingerprint: str | bytes) -> dict[str, Any]:
        return self.transact(account, "requestFinancing", _fp(fingerprint))

    def finance(self, account: LocalAccount, fingerprint: str | bytes,
                amount: int) -> dict[str, Any]:
        """Finance one tranche of `amount` (the whole invoice: its face amount)."""
        return self.transact(account, "finance", _fp(fingerprint), int(amount))

    def repay(self, account: LocalAccount, fingerprint: str | bytes) -> dict[str, Any]:
        return self.transact(account, "repay", _fp(fingerprint))

    def mark_defaulted(self, account: LocalAccount, fingerprint: str | bytes,
                       reason: str) -> dict[str, Any]:
        return self.transact(account, "markDefaulted", _fp(fingerprint), reason)

    def cancel(self, account: LocalAccount, fingerprint: str | bytes,
               reason: str) -> dict[str, Any]:
        return self.transact(account, "cancel", _fp(fingerprint), reason)

    def reimburse(self, account: LocalAccount, fingerprint: str | bytes) -> dict[str, Any]:
        return self.transact(account, "reimburse", _fp(fingerprint))

    def set_tax_verified(self, account: LocalAccount, fingerprint: str | bytes,
                         verified: bool = True, reason: str = "") -> dict[str, Any]:
        return self.transact(account, "setTaxVerified", _fp(fingerprint), verified, reason)


__all__ = ["InvoiceClient"]
