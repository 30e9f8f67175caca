"""Securities trading and settlement (docs/services/securities.md): the CashTokens native
contract at 0x…2000 (tokenised deposits that settle the cash leg), the Securities native
contract at 0x…2001 (instruments, eligibility, order books, bilateral trades, delivery
versus payment, forced transfers, dividends), a typed client and reader, and a benchmark
workload.

    from consortium.apps.securities import SecuritiesClient

    sec = SecuritiesClient("http://127.0.0.1:8545")
    sec.buy(alice, "US0378331005", 10, price=101)
    sec.read.book("US0378331005")        # {"bids": [...], "asks": [...]}
"""

from __future__ import annotations

from typing import Any

from consortium.apps.securities.cash import CashTokens
from consortium.apps.securities.contract import Securities
from consortium.apps.securities.model import (
    CASH_ADDRESS,
    RESTRICTIONS,
    SECURITIES_ADDRESS,
    SECURITIES_ROLES,
    isin_problem,
)
from consortium.apps.securities.reader import SecuritiesReader

__all__ = [
    "CASH_ADDRESS",
    "RESTRICTIONS",
    "SECURITIES_ADDRESS",
    "SECURITIES_ROLES",
    "CashTokens",
    "Securities",
    "SecuritiesClient",
    "SecuritiesReader",
    "document_hash",
    "isin_problem",
]


def __getattr__(name: str) -> Any:
    # The client side (web3) loads only when asked for: the ledger imports the contracts alone.
    if name in ("SecuritiesClient", "document_hash"):
        from consortium.apps.securities import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
