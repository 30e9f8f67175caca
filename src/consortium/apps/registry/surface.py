"""The digital asset registry's surface (`consortium.apps.surface`): its reads, served as
the `consortium_asset*` JSON-RPC methods, the /api/v1/registry REST routes and their
OpenAPI paths."""

from __future__ import annotations

from consortium.apps.registry.model import ASSET_STATES
from consortium.apps.registry.reader import RegistryReader
from consortium.apps.surface import ACCOUNT, ID, Param, Read, Service, choice, id_or_name

REGISTRY = Service(
    name="registry",
    title="Digital asset registry",
    reader=RegistryReader,
    reads=(
        Read("classes", "Every asset class", rpc="consortium_assetClasses", rest="/classes"),
        Read("asset_class", "One asset class by id or name", rpc="consortium_assetClass",
             rest="/classes/{ref}", params=(Param("ref", id_or_name("class")),), nullable=True,
             noun="asset class"),
        Read("assets", "Assets matching every filter given", rpc="consortium_assets",
             rest="/assets", filters=(
                 Param("class", ID, "the asset class id", arg="asset_class"),
                 Param("owner", ACCOUNT, "the owner's account"),
                 Param("state", choice(ASSET_STATES), "the asset state"),
                 Param("securedParty", ACCOUNT, "a secured party's account",
                       arg="secured_party"),
             )),
        Read("asset", "One asset with its approvals, pledges and full history",
             rpc="consortium_asset", rest="/assets/{id}", params=(Param("id", ID),),
             nullable=True),
    ),
)
