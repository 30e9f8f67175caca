"""Reads of the Invoices contract as plain JSON-ready dicts, over any way of making an
eth_call: the typed client (web3 over HTTP), the node's API (`consortium_invoice*` JSON-RPC
and REST, straight on the ledger) and the CLI tables all answer the same shapes.

An invoice:

    {"fingerprint": "0x…", "seller": "0x…", "buyer": "0x…", "amount": 1000000,
     "currency": "CNY", "dueDate": "2025-06-30", "taxVerified": false, "state": "financed",
     "assignee": "0x…", "registrant": "0x…", "financed": 600000, "issuedAt": 12,
     "updatedAt": 15, "tranches": [{"tranche": 0, "bank": "0x…", "amount": 600000,
     "state": "active", "height": 15}], "payments": [{"payee": "0x…", "amount": …,
     "height": …}]}

Lists (`invoices(seller=…, buyer=…, bank=…, state=…)`) answer invoices without tranches and
payments, in the order of the contract's index (registration order without filters).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_abi import decode as abi_decode
from eth_abi import encode as abi_encode

from consortium.apps.invoices.contract import Invoices
from consortium.apps.invoices.model import INVOICES_ADDRESS, MAX_BATCH_READ, STATES
from consortium.apps.invoices.state import InvoiceRecord, PaymentRecord, TrancheRecord
from consortium.evm.native import MethodSpec

# (to, calldata) -> return data; raises the caller's error when the call reverts
Call = Callable[[bytes, bytes], bytes]

_SPECS: dict[str, MethodSpec] = {spec.name: spec for spec in Invoices.methods().values()}


def method_spec(name: str) -> MethodSpec:
    return _SPECS[name]


def encode_call(name: str, *args: Any) -> bytes:
    spec = _SPECS[name]
    return spec.selector + abi_encode(list(spec.inputs), list(args))


def decode_result(name: str, output: bytes) -> Any:
    spec = _SPECS[name]
    values = abi_decode(list(spec.outputs), output)
    return values[0] if len(values) == 1 else values


def fingerprint_bytes(value: str | bytes) -> bytes:
    """A fingerprint from 0x-hex (64 digits) or 32 bytes; ValueError otherwise."""
    if isinstance(value, bytes):
        raw = value
    else:
        try:
            raw = bytes.fromhex(value.strip().lower().removeprefix("0x"))
        except ValueError:
            raw = b""
    if len(raw) != 32:
        raise ValueError(f"{value!r} is not an invoice fingerprint (0x and 64 hex digits)")
    return raw


def invoice_json(t: Any) -> dict[str, Any]:
    return InvoiceRecord.from_abi(t, tranche_count=0, payment_count=0).to_json()


class InvoiceReader:
    """Typed reads of the Invoices contract through `call`."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def _read(self, name: str, *args: Any) -> Any:
        return decode_result(name, self._call(INVOICES_ADDRESS, encode_call(name, *args)))

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

    def fingerprints(
        self,
        *,
        seller: str | None = None,
        buyer: str | None = None,
        bank: str | None = None,
        state: str | None = None,
    ) -> list[bytes]:
        """Fingerprints matching every filter given (all invoices without filters)."""
        if state is not None and state not in STATES:
            raise ValueError(f"unknown state {state!r} (states: {', '.join(STATES)})")
        lists: list[list[bytes]] = []
        if seller is not None:
            lists.append(list(self._read("invoicesBySeller", seller.lower())))
        if buyer is not None:
            lists.append(list(self._read("invoicesByBuyer", buyer.lower())))
        if bank is not None:
            lists.append(list(self._read("invoicesByBank", bank.lower())))
        if state is not None:
            lists.append(list(self._read("invoicesByState", state)))
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

    def invoices(
        self,
        *,
        seller: str | None = None,
        buyer: str | None = None,
        bank: str | None = None,
        state: str | None = None,
    ) -> list[dict[str, Any]]:
        fps = self.fingerprints(seller=seller, buyer=buyer, bank=bank, state=state)
        out: list[dict[str, Any]] = []
        for start in range(0, len(fps), MAX_BATCH_READ):
            batch = fps[start:start + MAX_BATCH_READ]
            out += [invoice_json(t) for t in self._read("invoicesOf", batch)]
        return out

    def by_due_date(self, until: str, since: str | None = None) -> list[dict[str, Any]]:
        """Invoices due on or before `until` (and on or after `since`), dates as yyyy-mm-dd,
        soonest first: what falls due for a bank or a buyer."""
        due = [i for i in self.invoices() if (since or "") <= i["dueDate"] <= until]
        return sorted(due, key=lambda i: (i["dueDate"], i["fingerprint"]))


__all__ = ["InvoiceReader", "decode_result", "encode_call", "fingerprint_bytes", "invoice_json"]
