"""Invoices' vocabulary (contract, client, API, CLI): its address, invoice and tranche
states, roles, and due-date arithmetic. Due dates are yyyymmdd integers; the chain's today
is the UTC date of the block's BFT time, computed here in integers (the same on every
node): an invoice is at maturity when today >= its due date."""

from __future__ import annotations

from datetime import date

from consortium.apps.currency import currency_problem as currency_problem  # re-exported
from consortium.evm.native import native_address

INVOICES_ADDRESS = native_address(0x2004)

# Invoice states, stored as index + 1 (0: no such invoice). Append only.
STATES = ("issued", "confirmed", "financing_requested", "financed", "repaid", "defaulted",
          "cancelled", "reimbursed")
FINAL_STATES = ("repaid", "defaulted", "cancelled", "reimbursed")
CANCELLABLE = ("issued", "confirmed", "financing_requested")  # never once financed

# Tranche states, stored as index + 1. A tranche is "active" until the invoice is repaid or
# defaulted; only active tranches count against the face amount.
TRANCHE_STATES = ("active", "repaid", "defaulted")

# The roles of Permissions each step checks (system/model.py ROLES holds them).
SELLER, BUYER, FINANCING_BANK, TAX_AUTHORITY = "seller", "buyer", "financing_bank", "tax_authority"
INVOICE_ROLES = (SELLER, BUYER, FINANCING_BANK, TAX_AUTHORITY)

MAX_AMOUNT = 2**128  # face amounts and tranches are below this


def date_problem(yyyymmdd: int) -> str | None:
    """Why `yyyymmdd` is not a calendar date between 1900-01-01 and 9999-12-31, or None."""
    year, month, day = yyyymmdd // 10_000, yyyymmdd // 100 % 100, yyyymmdd % 100
    try:
        if 1900 <= year <= 9999 and date(year, month, day):
            return None
    except ValueError:
        pass
    return f"due date {yyyymmdd} is not a date (yyyymmdd)"


def utc_date(timestamp: int) -> int:
    """The UTC calendar date of a Unix timestamp, as yyyymmdd (integers only: Howard
    Hinnant's days-to-civil algorithm)."""
    z = timestamp // 86_400 + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year * 10_000 + month * 100 + day


def show_date(yyyymmdd: int) -> str:
    """20250630 -> "2025-06-30"."""
    return f"{yyyymmdd // 10_000:04d}-{yyyymmdd // 100 % 100:02d}-{yyyymmdd % 100:02d}"
