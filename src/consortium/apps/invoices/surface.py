"""Invoices' surface (`consortium.apps.surface`): its reads, served as the
`consortium_invoice*` JSON-RPC methods, the /api/v1/invoices REST routes and their OpenAPI
paths. An invoice is found by its fingerprint, with its financing tranches and payments."""

from __future__ import annotations

from typing import Any

from consortium.apps.invoices.model import STATES
from consortium.apps.invoices.reader import InvoiceReader, fingerprint_bytes
from consortium.apps.surface import ACCOUNT, Call, Kind, Logs, Param, Read, Service, choice


def _fingerprint(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(value)
    return fingerprint_bytes(value)


FINGERPRINT = Kind("fingerprint", _fingerprint, "expected an invoice fingerprint (0x + 64 hex)",
                   {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"})


def _reader(call: Call, _logs: Logs | None) -> InvoiceReader:
    return InvoiceReader(call)  # invoices keep no history in the reader's answers


INVOICES = Service(
    name="invoices",
    title="Invoices",
    reader=_reader,
    reads=(
        Read("invoices", "Invoices matching every filter given", rpc="consortium_invoices",
             rest="", filters=(
                 Param("seller", ACCOUNT, "the seller's account"),
                 Param("buyer", ACCOUNT, "the buyer's account"),
                 Param("bank", ACCOUNT, "a financing bank's account"),
                 Param("state", choice(STATES), "the invoice state"),
             )),
        Read("invoice", "One invoice with its financing tranches and payments",
             rpc="consortium_invoice", rest="/{fingerprint}",
             params=(Param("fingerprint", FINGERPRINT),), nullable=True, noun="invoice"),
    ),
)
