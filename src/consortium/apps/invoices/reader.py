"""Reads of the Invoices contract as JSON-ready dicts, the same for the client, the API and
the CLI; lists in registration order, without tranches and payments."""

from __future__ import annotations

from typing import Any

from consortium.apps.invoices.contract import Invoices
from consortium.apps.invoices.model import INVOICES_ADDRESS, STATES
from consortium.apps.invoices.state import InvoiceRecord, PaymentRecord, TrancheRecord
from consortium.apps.service import MAX_BATCH_READ, ServiceReader, lowered
from consortium.apps.surface import BadValue, hash_bytes, json_of
from consortium.evm.native import NativeCalls

CALLS = NativeCalls(Invoices)
encode_call = CALLS.encode


FP_WHAT = "invoice fingerprint"


def fingerprint_bytes(value: str | bytes) -> bytes:
    """A fingerprint from 0x hex (64 digits) or 32 bytes; ValueError otherwise."""
    try:
        return hash_bytes(value, FP_WHAT)
    except BadValue as exc:
        raise ValueError(exc.message) from None


invoice_json = json_of(InvoiceRecord, tranche_count=0, payment_count=0)


class InvoiceReader(ServiceReader):
    address, calls, histories = INVOICES_ADDRESS, CALLS, {"invoice": Invoices.InvoiceTransition}

    def today(self) -> int:
        """The chain's date (UTC date of the latest block time), yyyymmdd."""
        return int(self._read("today"))

    def is_registered(self, fingerprint: str | bytes) -> bool:
        return bool(self._read("isRegistered", fingerprint_bytes(fingerprint)))

    def invoice(self, fingerprint: str | bytes) -> dict[str, Any] | None:
        """One invoice with its tranches and payments, or None."""
        fp = fingerprint_bytes(fingerprint)
        if not self._read("isRegistered", fp):
            return None
        out = invoice_json(self._read("invoice", fp))
        out["tranches"] = [TrancheRecord.from_abi(t, index=i).to_json()
                           for i, t in enumerate(self._read("tranches", fp))]
        out["payments"] = [PaymentRecord.from_abi(t).to_json() for t in self._read("payments", fp)]
        return out

    def fingerprints(self, *, seller: str | None = None, buyer: str | None = None,
                     bank: str | None = None, state: str | None = None) -> list[bytes]:
        """Fingerprints matching every filter given (all invoices without filters)."""
        self._check(state, STATES, "state")
        lists = [list(self._read(m, lowered(a)))
                 for m, a in (("invoicesBySeller", seller), ("invoicesByBuyer", buyer),
                              ("invoicesByBank", bank), ("invoicesByState", state))
                 if a is not None]
        if not lists:
            count = int(self._read("invoiceCount"))
            found: list[bytes] = []
            while len(found) < count:
                page = list(self._read("invoiceList", len(found), MAX_BATCH_READ))
                if not page:
                    break
                found += page
            return [bytes(f) for f in found]
        others = [{bytes(f) for f in lst} for lst in lists[1:]]
        return [bytes(f) for f in lists[0] if all(bytes(f) in o for o in others)]

    def invoices(self, *, seller: str | None = None, buyer: str | None = None,
                 bank: str | None = None, state: str | None = None) -> list[dict[str, Any]]:
        fps = self.fingerprints(seller=seller, buyer=buyer, bank=bank, state=state)
        return self._many("invoicesOf", fps, invoice_json)

    def by_due_date(self, until: str, since: str | None = None) -> list[dict[str, Any]]:
        """Invoices due on or before `until` (and on or after `since`), dates as yyyy-mm-dd,
        soonest first: what falls due for a bank or a buyer."""
        due = [i for i in self.invoices() if (since or "") <= i["dueDate"] <= until]
        return sorted(due, key=lambda i: (i["dueDate"], i["fingerprint"]))


__all__ = ["CALLS", "InvoiceReader", "encode_call", "fingerprint_bytes", "invoice_json"]
