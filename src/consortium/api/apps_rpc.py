"""The finance services' JSON-RPC methods, read straight from their contracts (eth_call on
the ledger), in the shapes of each service's reader.

    consortium_invoice(fingerprint)           one invoice with its tranches and payments,
                                              or null
    consortium_invoices([filter])             invoices; filter: {"seller": "0x…",
                                              "buyer": "0x…", "bank": "0x…", "state": "financed"}
                                              (every key optional; all given must match)

`JsonRpc` inherits these handlers; `APPS_METHODS` names them for its method table. They read
the ledger, so they run in the ledger worker thread with the other reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consortium.api.encoding import Params
from consortium.api.rpc_error import InvalidParams
from consortium.api.service_reads import ledger_call
from consortium.apps.invoices.model import STATES
from consortium.apps.invoices.reader import InvoiceReader, fingerprint_bytes
from consortium.ledger.types import LedgerReader

APPS_METHODS: dict[str, str] = {}  # JSON-RPC method name -> handler attribute
INVOICE_FILTERS = ("seller", "buyer", "bank", "state")


def apps_rpc(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        APPS_METHODS[name] = fn.__name__
        return fn

    return register


def invoice_reader(ledger: LedgerReader) -> InvoiceReader:
    return InvoiceReader(ledger_call(ledger))


def parse_fingerprint(value: Any, where: str) -> bytes:
    try:
        return fingerprint_bytes(value) if isinstance(value, str) else fingerprint_bytes(b"")
    except ValueError:
        raise InvalidParams(f"{where}: expected an invoice fingerprint (0x + 64 hex)") from None


def _account(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 42:
        raise InvalidParams(f"{where}: expected a 0x account address")
    try:
        int(value, 16)
    except ValueError:
        raise InvalidParams(f"{where}: expected a 0x account address") from None
    return value.lower()


def invoice_filter(value: Any, where: str) -> dict[str, str]:
    """{"seller", "buyer", "bank", "state"}: each optional."""
    if not isinstance(value, dict):
        raise InvalidParams(f"{where}: expected a filter object ({', '.join(INVOICE_FILTERS)})")
    unknown = sorted(set(value) - set(INVOICE_FILTERS))
    if unknown:
        raise InvalidParams(
            f"{where}: unknown filter {unknown[0]!r} (filters: {', '.join(INVOICE_FILTERS)})"
        )
    out: dict[str, str] = {}
    for key in ("seller", "buyer", "bank"):
        if value.get(key) is not None:
            out[key] = _account(value[key], f"{where}.{key}")
    state = value.get("state")
    if state is not None:
        if state not in STATES:
            raise InvalidParams(f"{where}.state: one of {', '.join(STATES)}")
        out["state"] = state
    return out


class AppsMethods:
    """The finance services' handlers (mixed into `JsonRpc`, which sets `ledger`)."""

    ledger: LedgerReader

    @apps_rpc("consortium_invoice")
    def consortium_invoice(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return invoice_reader(self.ledger).invoice(p.required(0, parse_fingerprint))

    @apps_rpc("consortium_invoices")
    def consortium_invoices(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return invoice_reader(self.ledger).invoices(**p.optional(0, invoice_filter, {}))
