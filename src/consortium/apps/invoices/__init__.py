"""Invoice management and financing (docs/services/invoices.md): the Invoices native
contract at 0x…2004, fingerprints under the consortium key, a typed client and CSV import.

    from consortium.apps.invoices import InvoiceClient, find_key

    invoices = InvoiceClient("http://127.0.0.1:8545", key=find_key(network_dir=Path("net")))
    fp = invoices.fingerprint("91310000MA1FL4XX7J", "INV-0042", "2025-03-01", 1_000_000)
    invoices.issue(seller, fp, buyer="0x…", amount=1_000_000, currency="CNY",
                   due_date="2025-06-30")
"""

from __future__ import annotations

from typing import Any

from consortium.apps.invoices.contract import Invoices
from consortium.apps.invoices.fingerprint import (
    FieldError,
    InvoiceFields,
    compute,
    find_key,
    fingerprint,
    normalise,
    read_key,
)
from consortium.apps.invoices.model import INVOICE_ROLES, INVOICES_ADDRESS, STATES

__all__ = [
    "INVOICES_ADDRESS",
    "INVOICE_ROLES",
    "STATES",
    "FieldError",
    "ImportReport",
    "InvoiceClient",
    "InvoiceFields",
    "InvoiceReader",
    "Invoices",
    "compute",
    "find_key",
    "fingerprint",
    "import_csv",
    "normalise",
    "read_key",
]


def __getattr__(name: str) -> Any:
    # The client side (web3) loads only when asked for: the ledger imports the contract alone.
    if name == "InvoiceClient":
        from consortium.apps.invoices.client import InvoiceClient

        return InvoiceClient
    if name == "InvoiceReader":
        from consortium.apps.invoices.reader import InvoiceReader

        return InvoiceReader
    if name in ("ImportReport", "import_csv"):
        from consortium.apps.invoices import csv_import

        return getattr(csv_import, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
