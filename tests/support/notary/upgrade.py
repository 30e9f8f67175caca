"""The software upgrade that gives a running chain the notary, as a handler registered in
`src/consortium/ledger/upgrades.py` would (modelled on its `enable_privacy`)."""

from __future__ import annotations

from consortium.ledger.upgrades import UpgradeContext
from consortium.system.upgrade_plan import NATIVE_VERSION_SLOT, set_native_version
from tests.support.notary.model import NOTARY_ADDRESS

NOTARY_UPGRADE = "notary"


def enable_notary(ctx: UpgradeContext) -> None:
    """Give the Notary its account and version slot, as genesis `native_versions:
    {"Notary": 1}` does; on a chain that has it already, nothing changes."""
    storage = ctx.storage(NOTARY_ADDRESS)
    if storage.get_uint(NATIVE_VERSION_SLOT):
        return
    ctx.install_native(NOTARY_ADDRESS)
    set_native_version(storage, 1)
