"""Securities trading and settlement (docs/services/securities.md): CashTokens at 0x…2000
(tokenised deposits that settle the cash leg), Securities at 0x…2001 (instruments,
eligibility, order books, bilateral trades, delivery versus payment, forced transfers,
dividends), their reader, client (`SecuritiesClient`) and a benchmark workload."""

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
from consortium.apps.securities.upgrade import (  # registers them
    SECURITIES_LAYOUT_UPGRADE,
    SECURITIES_LEAN_UPGRADE,
)
from consortium.apps.service import lazy_exports

_LAZY = {"SecuritiesClient": "client", "document_hash": "client"}
__all__ = ["CASH_ADDRESS", "RESTRICTIONS", "SECURITIES_ADDRESS", "SECURITIES_LAYOUT_UPGRADE",
           "SECURITIES_LEAN_UPGRADE",
           "SECURITIES_ROLES", "CashTokens", "Securities", "SecuritiesReader", "isin_problem",
           *_LAZY]
__getattr__ = lazy_exports(__name__, _LAZY)
