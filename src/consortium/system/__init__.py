"""The consortium's system contracts, as native contracts at fixed addresses.

Importing this package registers them (the ledger imports it before building genesis or
executing a block), so every node serves the same set at the same addresses.
"""

from __future__ import annotations

from consortium.system.crypto import CRYPTO_ADDRESS, Crypto

__all__ = ["CRYPTO_ADDRESS", "Crypto"]
