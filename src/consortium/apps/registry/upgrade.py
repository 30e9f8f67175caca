"""The software upgrade `registry-layout-2`: the Registry contract from version 1 to 2, its
assets and pledges rewritten to layout 2 (`consortium.apps.registry.state`) at the upgrade's
height.

Every asset (ids 1 to the asset count) and its pledges are read in layout 1 and written packed
at the same slots, the words layout 1 used beyond them cleared, and the positions of the set
that became a list (the assets of a class) cleared: afterwards the storage holds what layout
2 would have written. No gas, no logs; every view answers the same. Deterministic: the same
writes on every node, part of the block's app hash. A chain made at version 2 stays as it
is."""

from __future__ import annotations

from consortium.apps.layout import forget_position, register_layout_upgrade, repack
from consortium.apps.registry.model import REGISTRY_ADDRESS
from consortium.apps.registry.state import (
    NOT_ANSWERED,
    PACKED_LAYOUT,
    Asset,
    PackedAsset,
    PackedPledge,
    Pledge,
    RegistryState,
)
from consortium.evm.host import Storage

REGISTRY_LAYOUT_UPGRADE = "registry-layout-2"


def migrate_to_layout_2(storage: Storage) -> int:
    """Rewrite the Registry contract's assets (layout 1) in layout 2; answers how many
    assets were moved."""
    S = RegistryState
    count = storage.get_uint(S.ASSET_COUNT)
    for asset_id in range(1, count + 1):
        asset = repack(storage, S.base(asset_id), Asset, PackedAsset, id=asset_id,
                       **NOT_ANSWERED)
        assert isinstance(asset, Asset)
        for i in range(asset.pledge_count):
            repack(storage, Storage.at(S.PLEDGES, asset_id, i), Pledge, PackedPledge, index=i)
        forget_position(storage, Storage.at(S.BY_CLASS, asset.class_id), asset_id)
    return count


register_layout_upgrade(REGISTRY_LAYOUT_UPGRADE, REGISTRY_ADDRESS, PACKED_LAYOUT,
                        migrate_to_layout_2)
