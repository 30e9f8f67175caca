"""`InvoiceClient`: invoices over a node's JSON-RPC. The consortium key, needed only to compute
fingerprints, stays on this machine: only the fingerprint, parties, amount, currency and due
date are sent."""

from __future__ import annotations

from datetime import date
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from consortium.apps.invoices.contract import Invoices
from consortium.apps.invoices.fingerprint import compute, date_number
from consortium.apps.invoices.reader import FP_WHAT, InvoiceReader
from consortium.apps.invoices.surface import INVOICES
from consortium.apps.service_client import GAS_MARGIN, ServiceClient, decode_log
from consortium.apps.surface import AMOUNT, account_hex, hash_bytes, with_writes
from consortium.errors import known
from consortium.sdk.client import ConsortiumClient


@with_writes(INVOICES)
class InvoiceClient(ServiceClient):
    """The Invoices contract through one node's API; its plain writes come from its declared
    surface (apps/invoices/surface.py). A write answers the invoice's fingerprint, its new
    state and reason, and a financed tranche."""

    reader = InvoiceReader
    reads = ("invoice", "invoices", "is_registered", "today")
    read: InvoiceReader

    def __init__(self, client: ConsortiumClient | str, key: bytes | None = None) -> None:
        super().__init__(client)
        self.key = key

    def fingerprint(self, seller_tax_id: str, invoice_number: str,
                    issue_date: str | int | date, amount: str | int) -> str:
        """The invoice's fingerprint (0x hex) under the consortium key; computed here."""
        key = known(self.key, "computing a fingerprint needs the consortium key (key=…)")
        return "0x" + compute(key, seller_tax_id, invoice_number, issue_date, amount).hex()

    def history(self, fingerprint: str | bytes) -> list[dict[str, Any]]:
        """Every transition of an invoice, oldest first."""
        return self.read.history("invoice", hash_bytes(fingerprint, FP_WHAT))

    def outcome(self, tx_hash: bytes, name: str, args: tuple[Any, ...],
                timeout: float = 60) -> dict[str, Any]:
        receipt, number = self.receipt(tx_hash, name, args, timeout)
        out: dict[str, Any] = {"fingerprint": "0x" + bytes(args[0]).hex(),
                               "txHash": Web3.to_hex(tx_hash), "block": number}
        for log in receipt["logs"]:
            topics = [bytes(t) for t in log["topics"]]
            if topics[0] == Invoices.InvoiceTransition.topic0:
                e = decode_log(Invoices.InvoiceTransition, topics, log["data"])
                out["state"], out["reason"] = e["toState"], e["reason"]
            elif topics[0] == Invoices.TrancheFinanced.topic0:
                e = decode_log(Invoices.TrancheFinanced, topics, log["data"])
                out["tranche"], out["financed"] = e["tranche"], e["financed"]
        return out

    def issue(self, account: LocalAccount, fingerprint: str | bytes, *, buyer: str,
              amount: int, currency: str, due_date: str | int | date,
              seller: str | None = None) -> dict[str, Any]:
        """Register an invoice: by its seller (`seller` defaults to the signer), or by a
        financing bank for its client (give `seller`)."""
        return self.transact(account, "issue", *self.issue_args(
            account, fingerprint, buyer=buyer, amount=amount, currency=currency,
            due_date=due_date, seller=seller))

    def issue_args(self, account: LocalAccount, fingerprint: str | bytes, *, buyer: str,
                   amount: int, currency: str, due_date: str | int | date,
                   seller: str | None = None) -> tuple[Any, ...]:
        due = date_number(due_date) if not isinstance(due_date, int) else due_date
        return (hash_bytes(fingerprint, FP_WHAT), account_hex(seller or account.address),
                account_hex(buyer), AMOUNT.parse(amount, "amount"), currency.strip().upper(),
                due)


__all__ = ["GAS_MARGIN", "InvoiceClient"]
