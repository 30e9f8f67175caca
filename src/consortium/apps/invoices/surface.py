"""Invoices' surface (`consortium.apps.surface`): its reads, served as the
`consortium_invoice*` JSON-RPC methods, the /api/v1/invoices REST routes and their OpenAPI
paths (and `consortium invoice list`), and its plain writes, served as `consortium invoice …`
commands and `InvoiceClient` methods. An invoice is found by its fingerprint, with its
financing tranches and payments. (Issuing with its fingerprint, the CSV import, the tax
verification's --revoke and `show` with its history have flows of their own: `client.py`
and `cli/invoices.py`.)"""

from __future__ import annotations

from datetime import date
from typing import Any

from consortium.apps.invoices.model import STATES
from consortium.apps.invoices.reader import InvoiceReader, fingerprint_bytes
from consortium.apps.surface import (
    ACCOUNT,
    TEXT,
    Call,
    Kind,
    Logs,
    Param,
    Read,
    Service,
    Write,
    choice,
)
from consortium.errors import ConfigError


def _fingerprint(value: Any) -> bytes:
    if not isinstance(value, str):
        raise TypeError(value)
    return fingerprint_bytes(value)


FINGERPRINT = Kind("fingerprint", _fingerprint, "expected an invoice fingerprint (0x + 64 hex)",
                   {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"})


def fingerprint_arg(value: str | bytes) -> bytes:
    """A write's fingerprint: 0x hex or 32 bytes; ConfigError naming the value otherwise."""
    try:
        return fingerprint_bytes(value)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def _amount(value: Any) -> int:
    if isinstance(value, bool) or int(value) < 0:
        raise ValueError(value)
    return int(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(value)
    return value


AMOUNT = Kind("amount", _amount, "expected an amount (a whole number, 0 or more)",
              {"type": "integer", "minimum": 0})
FLAG = Kind("flag", _flag, "expected true or false", {"type": "boolean"})


def _day(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return date.fromisoformat(value).isoformat()


DAY = Kind("date", _day, "expected a date (yyyy-mm-dd)", {"type": "string", "format": "date"})
FP = Param("fingerprint", Kind("fingerprint", fingerprint_arg, FINGERPRINT.refusal,
                               FINGERPRINT.schema),
           "The invoice's fingerprint (0x + 64 hex digits).")
REASON = Param("reason", TEXT, "Why (kept in the event).")


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
                 # the CLI hands the client its text: an unknown state is named with the list
                 Param("state", choice(STATES), "the invoice state", cli_kind=TEXT),
             ), cli="list"),
        Read("by_due_date", "Invoices due by a date, soonest first",
             rpc="consortium_invoicesByDueDate", rest="/due/{until}", cli="due",
             params=(Param("until", DAY, "the last due date (yyyy-mm-dd)"),
                     Param("since", DAY, "the first due date (yyyy-mm-dd)", default=None))),
        Read("invoice", "One invoice with its financing tranches and payments",
             rpc="consortium_invoice", rest="/{fingerprint}",
             params=(Param("fingerprint", FINGERPRINT),), nullable=True, noun="invoice"),
    ),
    writes=(
        Write("confirm", "confirm", "The buyer confirms the invoice.", "confirm", (FP,),
              "confirmed"),
        Write("request-financing", "requestFinancing",
              "The seller offers a confirmed invoice for financing.", "request_financing",
              (FP,), "offered for financing"),
        Write("finance", "finance", "A financing bank finances the invoice, whole or one "
              "tranche.", "finance",
              (FP, Param("amount", AMOUNT, "This tranche's amount (smallest unit).",
                         positional=True)), "financed"),
        Write("repay", "repay", "The buyer pays at maturity: each tranche to its bank, the "
              "rest to the seller.", "repay", (FP,), "repaid"),
        Write("default", "markDefaulted",
              "A financing bank marks an overdue financed invoice defaulted.", "mark_defaulted",
              (FP, REASON), "marked defaulted"),
        Write("cancel", "cancel", "The seller reverses an invoice that is not financed.",
              "cancel", (FP, REASON), "cancelled"),
        Write("reimburse", "reimburse", "The buyer marks a consumer invoice reimbursed (once).",
              "reimburse", (FP,), "reimbursed"),
        Write("", "setTaxVerified", "The tax authority marks the invoice tax verified (or "
              "withdraws it).", "set_tax_verified",
              (FP, Param("verified", FLAG, default=True), Param("reason", TEXT, default="")),
              "tax verification set"),
    ),
)
