"""Credit information sharing (docs/services/credit.md): the Credit native contract at
0x…2002 and a typed client."""

from consortium.apps.credit.contract import Credit
from consortium.apps.credit.model import (
    CONSENT_STATES,
    CREDIT_ADDRESS,
    CREDIT_ROLES,
    QUERY_STATES,
    RECORD_KINDS,
)
from consortium.apps.service import lazy_exports

_LAZY = {"CreditClient": "client", "ReportMismatch": "client", "sha256_of": "client",
         "CreditReader": "reader"}
__all__ = ["CONSENT_STATES", "CREDIT_ADDRESS", "CREDIT_ROLES", "QUERY_STATES", "RECORD_KINDS",
           "Credit", *_LAZY]
__getattr__ = lazy_exports(__name__, _LAZY)
