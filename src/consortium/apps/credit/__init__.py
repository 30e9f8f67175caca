"""Credit information sharing (docs/services/credit.md): the Credit native contract at
0x…2002 — consents, append-only credit records with corrections, query orders to licensed
agencies (reports off chain, their SHA-256 on chain) and the shared blacklist — and a typed
client.

    from consortium.apps.credit import CreditClient

    credit = CreditClient("http://127.0.0.1:8545")
    consent = credit.grant_consent(borrower, bank_a.address, "mortgage", expires_at=5_000)
    query = credit.create_query(bank_a, agency.address, consent["id"], "mortgage")
"""

from __future__ import annotations

from typing import Any

from consortium.apps.credit.contract import Credit
from consortium.apps.credit.model import (
    CONSENT_STATES,
    CREDIT_ADDRESS,
    CREDIT_ROLES,
    QUERY_STATES,
    RECORD_KINDS,
)

__all__ = [
    "CONSENT_STATES",
    "CREDIT_ADDRESS",
    "CREDIT_ROLES",
    "QUERY_STATES",
    "RECORD_KINDS",
    "Credit",
    "CreditClient",
    "CreditReader",
    "ReportMismatch",
    "sha256_of",
]


def __getattr__(name: str) -> Any:
    # The client side (web3) loads only when asked for: the ledger imports the contract alone.
    if name in ("CreditClient", "ReportMismatch", "sha256_of"):
        from consortium.apps.credit import client

        return getattr(client, name)
    if name == "CreditReader":
        from consortium.apps.credit.reader import CreditReader

        return CreditReader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
