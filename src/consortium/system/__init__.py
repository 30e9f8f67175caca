"""The consortium's system contracts, as native contracts at fixed addresses.

Importing this package registers them (the ledger imports it: they are the chain's own rules
it applies), so every node serves the same set at the same addresses.
"""

from __future__ import annotations

from consortium.system.crypto import CRYPTO_ADDRESS, Crypto
from consortium.system.governance import Governance
from consortium.system.model import GOVERNANCE_ADDRESS, NODES_ADDRESS, PERMISSIONS_ADDRESS
from consortium.system.nodes import Nodes
from consortium.system.permissions import Permissions
from consortium.system.privacy import PRIVACY_ADDRESS, Privacy

__all__ = ["CRYPTO_ADDRESS", "GOVERNANCE_ADDRESS", "NODES_ADDRESS", "PERMISSIONS_ADDRESS",
           "PRIVACY_ADDRESS", "Crypto", "Governance", "Nodes", "Permissions", "Privacy"]
