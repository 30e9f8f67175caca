"""Every native contract the chain serves, gathered above the ledger: the system contracts
(governance, permissions, nodes, crypto, privacy) and the services' (credit, forum, invoices,
registry, securities and its cash tokens).

The node's startup hands `chain_natives()` to its `Ledger`, so the ledger never imports the
services; a process that builds ledgers itself (tests, benches) imports this module for the
same set.
"""

from __future__ import annotations

from consortium.apps import CashTokens, Credit, Forum, Invoices, Registry, Securities
from consortium.evm.native import NativeContract, register
from consortium.system import Crypto, Governance, Nodes, Permissions, Privacy

SYSTEM_NATIVES: tuple[type[NativeContract], ...] = (
    Crypto, Governance, Nodes, Permissions, Privacy,
)
SERVICE_NATIVES: tuple[type[NativeContract], ...] = (
    Credit, Forum, Invoices, Registry, Securities, CashTokens,
)


def chain_natives() -> dict[bytes, type[NativeContract]]:
    """The natives by address: exactly the system's and the services', whatever else this
    process registered (a test's probe contract does not reach a genesis built from these)."""
    natives = {bytes(cls.address): cls for cls in SYSTEM_NATIVES + SERVICE_NATIVES}
    for cls in natives.values():
        register(cls)  # idempotent: their modules registered them on import
    return natives
