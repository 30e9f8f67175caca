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
from consortium.apps.invoices.reader import InvoiceReader
from consortium.apps.invoices.surface import INVOICES
from consortium.apps.invoices.surface import fingerprint_arg as _fp
from consortium.apps.service import transition_history
from consortium.apps.service_client import GAS_MARGIN, ServiceClient, account_hex
from consortium.apps.surface import with_writes
from consortium.errors import ConfigError
from consortium.evm.native import NativeCalls
from consortium.sdk.client import ConsortiumClient

_TRANSITION = Invoices.InvoiceTransition.topic0
_TRANCHE = Invoices.TrancheFinanced.topic0


@with_writes(INVOICES)
class InvoiceClient(ServiceClient):
    """The Invoices contract through one node's API. Calls, checks and sending are the
    services' (`ServiceClient`); a write answers the invoice's fingerprint, its new state and
    reason, and a financed tranche. Its plain writes (confirm, request_financing, finance,
    repay, mark_defaulted, cancel, reimburse, set_tax_verified) are made from the declared
    surface (apps/invoices/surface.py)."""

    address = INVOICES_ADDRESS
    calls = NativeCalls(Invoices)
    transitions = {"invoice": Invoices.InvoiceTransition}

    def __init__(self, client: ConsortiumClient | str, key: bytes | None = None) -> None:
        super().__init__(client)
        self.key = key
        self.read = InvoiceReader(self._call)

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
        return transition_history(self._logs, INVOICES_ADDRESS, Invoices.InvoiceTransition,
                                  _fp(fingerprint))

    # --- sending ----------------------------------------------------------------------------

    def outcome(self, tx_hash: bytes, name: str, args: tuple[Any, ...],
                timeout: float = 60) -> dict[str, Any]:
        """Wait for a sent call's receipt: what happened, or ExecutionReverted with why."""
        receipt, number = self.receipt(tx_hash, name, args, timeout)
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
            account_hex(seller or account.address),
            account_hex(buyer),
            int(amount),
            currency.strip().upper(),
            due,
        )


__all__ = ["GAS_MARGIN", "InvoiceClient"]
