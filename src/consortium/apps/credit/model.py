"""Credit's vocabulary (contract, client, API, CLI): its address, states, record kinds,
roles and limits. A granted consent reads as `expired` from its expiry height (derived,
never stored)."""

from __future__ import annotations

from consortium.evm.native import native_address

CREDIT_ADDRESS = native_address(0x2002)

# Consent states, stored as index + 1 (0: no such consent). Append only.
CONSENT_STATES = ("granted", "used", "revoked")
EXPIRED = "expired"  # a granted consent at or past its expiry height (derived)

# Credit record kinds, stored as index + 1. Append only.
RECORD_KINDS = ("loan_opened", "repaid", "overdue", "default")
# A record is current until a correction supersedes it (derived from its superseded-by link).
CURRENT, SUPERSEDED = "current", "superseded"

# Query order states, stored as index + 1. Append only.
QUERY_STATES = ("created", "accepted", "delivered", "confirmed", "rejected", "disputed", "resolved")
REJECTABLE = ("created", "accepted")

# Blacklist entries: listed, then removed (the states of its events).
LISTED, REMOVED = "listed", "removed"

# The roles of Permissions each step checks (system/model.py ROLES holds them). A data
# subject needs no role: consents are granted and revoked by the subject's own account.
LENDER, CREDIT_AGENCY, MEDIATOR = "lender", "credit_agency", "mediator"
CREDIT_ROLES = (LENDER, CREDIT_AGENCY, MEDIATOR)

MAX_PURPOSE = 128  # bytes of a consent's purpose
MAX_LOCATION = 512  # bytes of a delivered report's location (a URL or file name)
MAX_USES = 1_000  # queries one consent may serve


def record_kind(text: str) -> str:
    """A record kind as typed ("loan opened", "Loan-Opened") in its stored spelling; the
    text unchanged when it is none of them (the contract names the choices)."""
    key = "_".join(text.strip().lower().replace("-", " ").split())
    return key if key in RECORD_KINDS else text
