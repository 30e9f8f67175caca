"""The consortium's finance services, as native contracts at 0x…2000… (APPS.md).

Importing this package registers their contracts (the ledger imports it before building
genesis or executing a block), so every node serves the same services at the same addresses.
"""

from __future__ import annotations

from consortium.apps.invoices.contract import Invoices
from consortium.apps.invoices.model import INVOICES_ADDRESS

__all__ = ["INVOICES_ADDRESS", "Invoices"]
