"""The digital asset registry (docs/services/registry.md): the Registry native contract at
0x…2003, external id hashes and a typed client."""

from consortium.apps.registry.contract import Registry
from consortium.apps.registry.external_id import external_id_hash, normalise_external_id
from consortium.apps.registry.model import ASSET_STATES, REGISTRY_ADDRESS, REGISTRY_ROLES
from consortium.apps.registry.upgrade import REGISTRY_LAYOUT_UPGRADE  # registers its handler
from consortium.apps.service import lazy_exports

_LAZY = {"RegistryClient": "client", "RegistryReader": "reader"}
__all__ = ["ASSET_STATES", "REGISTRY_ADDRESS", "REGISTRY_LAYOUT_UPGRADE", "REGISTRY_ROLES",
           "Registry",
           "external_id_hash", "normalise_external_id", *_LAZY]
__getattr__ = lazy_exports(__name__, _LAZY)
