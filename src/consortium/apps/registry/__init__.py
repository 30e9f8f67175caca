"""The digital asset registry (docs/services/registry.md): the Registry native contract at
0x…2003 — asset classes created by vote, assets registered and retired by k of n registrars,
transfers, pledges, freezes by the authority — external id hashes under the consortium key,
and a typed client.

    from consortium.apps.registry import RegistryClient

    registry = RegistryClient("http://127.0.0.1:8545", key=find_key(network_dir=Path("net")))
    asset = registry.apply(owner, class_id=1, external_id="PARCEL-0042", metadata=b"…")
    registry.approve_registration(registrar, asset["id"])
"""

from __future__ import annotations

from typing import Any

from consortium.apps.registry.contract import Registry
from consortium.apps.registry.external_id import external_id_hash, normalise_external_id
from consortium.apps.registry.model import ASSET_STATES, REGISTRY_ADDRESS, REGISTRY_ROLES

__all__ = [
    "ASSET_STATES",
    "REGISTRY_ADDRESS",
    "REGISTRY_ROLES",
    "Registry",
    "RegistryClient",
    "RegistryReader",
    "external_id_hash",
    "normalise_external_id",
]


def __getattr__(name: str) -> Any:
    # The client side (web3) loads only when asked for: the ledger imports the contract alone.
    if name == "RegistryClient":
        from consortium.apps.registry.client import RegistryClient

        return RegistryClient
    if name == "RegistryReader":
        from consortium.apps.registry.reader import RegistryReader

        return RegistryReader
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
