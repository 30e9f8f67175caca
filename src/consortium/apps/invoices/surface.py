"""Invoices' surface: its reads and plain writes. Issuing by fingerprint, the CSV import and
--revoke are the client's and CLI's own flows."""

from __future__ import annotations

from datetime import date
from typing import Any

from consortium.apps import surface as kinds
from consortium.apps.invoices.model import STATES
from consortium.apps.invoices.reader import InvoiceReader, fingerprint_bytes
from consortium.apps.surface import REASON, Param, Read, Service, Write

FINGERPRINT = kinds.Kind("fingerprint", fingerprint_bytes,
                         "expected an invoice fingerprint (0x + 64 hex)",
                         {"type": "string", "pattern": "^0x[0-9a-fA-F]{64}$"})


def _day(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(value)
    return date.fromisoformat(value).isoformat()


DAY = kinds.Kind("date", _day, "expected a date (yyyy-mm-dd)", {"type": "string", "format": "date"})
FP = Param("fingerprint", FINGERPRINT, "The invoice's fingerprint (0x + 64 hex digits).")


INVOICES = Service("invoices", "Invoices", InvoiceReader, reads=(
        Read("invoices", "Invoices matching every filter given", rpc="consortium_invoices",
             rest="", filters=(
                 Param("seller", kinds.ACCOUNT, "the seller's account"),
                 Param("buyer", kinds.ACCOUNT, "the buyer's account"),
                 Param("bank", kinds.ACCOUNT, "a financing bank's account"),
                 # the CLI hands the client its text: an unknown state is named with the list
                 Param("state", kinds.choice(STATES), "the invoice state", cli_kind=kinds.TEXT),
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
              (FP, Param("amount", kinds.AMOUNT, "This tranche's amount (smallest unit).",
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
              (FP, Param("verified", kinds.FLAG, default=True),
               Param("reason", kinds.TEXT, default="")),
              "tax verification set"),
    ),
)
