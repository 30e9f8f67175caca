"""Securities trading and settlement (docs/services/securities.md): CashTokens at 0x…2000
(tokenised deposits that settle the cash leg), Securities at 0x…2001 (instruments,
eligibility, order books, bilateral trades, delivery versus payment, forced transfers,
dividends), their reader, client (`SecuritiesClient`) and a benchmark workload."""

from __future__ import annotations

from typing import Any

from consortium.apps.securities.cash import CashTokens as CashTokens
from consortium.apps.securities.contract import Securities as Securities
from consortium.apps.securities.model import CASH_ADDRESS as CASH_ADDRESS
from consortium.apps.securities.model import RESTRICTIONS as RESTRICTIONS
from consortium.apps.securities.model import SECURITIES_ADDRESS as SECURITIES_ADDRESS
from consortium.apps.securities.model import SECURITIES_ROLES as SECURITIES_ROLES
from consortium.apps.securities.model import isin_problem as isin_problem
from consortium.apps.securities.reader import SecuritiesReader as SecuritiesReader


def __getattr__(name: str) -> Any:
    # The client side (web3) loads only when asked for: the ledger imports the contracts alone.
    if name in ("SecuritiesClient", "document_hash"):
        from consortium.apps.securities import client

        return getattr(client, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
