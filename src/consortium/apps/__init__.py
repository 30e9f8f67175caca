"""The consortium's finance services and its forum, as native contracts at 0x…2000…
(docs/services/).

Importing this package registers their contracts; the node's startup hands them to its ledger
(`consortium.natives.chain_natives`), so every node serves the same services at the same
addresses.
"""

from __future__ import annotations

from consortium.apps.credit.contract import Credit
from consortium.apps.credit.model import CREDIT_ADDRESS
from consortium.apps.forum.contract import Forum
from consortium.apps.forum.model import FORUM_ADDRESS
from consortium.apps.invoices.contract import Invoices
from consortium.apps.invoices.model import INVOICES_ADDRESS
from consortium.apps.registry.contract import Registry
from consortium.apps.registry.model import REGISTRY_ADDRESS
from consortium.apps.securities.cash import CashTokens
from consortium.apps.securities.contract import Securities
from consortium.apps.securities.model import CASH_ADDRESS, SECURITIES_ADDRESS

__all__ = ["CASH_ADDRESS", "CREDIT_ADDRESS", "FORUM_ADDRESS", "INVOICES_ADDRESS",
           "REGISTRY_ADDRESS", "SECURITIES_ADDRESS", "CashTokens", "Credit", "Forum", "Invoices",
           "Registry", "Securities"]
