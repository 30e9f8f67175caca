"""`RegistryClient`: the asset registry over a node's JSON-RPC. External ids are hashed here
under the consortium key; metadata and schemas are referenced by their SHA-256."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eth_account.signers.local import LocalAccount

from consortium.apps.registry.external_id import external_id_hash
from consortium.apps.registry.reader import RegistryReader
from consortium.apps.registry.surface import REGISTRY
from consortium.apps.service_client import ServiceClient
from consortium.apps.surface import (
    AMOUNT,
    ID,
    PAGE_LIMIT,
    account_hex,
    document_hash,
    hash_bytes,
    with_writes,
)
from consortium.errors import as_config_error, known
from consortium.sdk.client import ConsortiumClient


@with_writes(REGISTRY)
class RegistryClient(ServiceClient):
    """The Registry contract through one node's API; its plain writes come from its
    declared surface (apps/registry/surface.py)."""

    reader = RegistryReader
    reads = ("classes", "asset_class", "asset")
    read: RegistryReader

    def __init__(self, client: ConsortiumClient | str, key: bytes | None = None) -> None:
        super().__init__(client)
        self.key = key

    def external_id_hash(self, external_id: str) -> bytes:
        """An external id's hash under the consortium key (computed here)."""
        key = known(self.key, "hashing an external id needs the consortium key (key=…)")
        return external_id_hash(key, external_id)

    def _external(self, external_id: str | bytes) -> bytes:
        if isinstance(external_id, bytes):
            return hash_bytes(external_id, "external id hash")
        return self.external_id_hash(external_id)

    def class_id(self, ref: int | str) -> int:
        found = known(self.read.asset_class(int(ref) if str(ref).isdigit() else ref),
                      f"no asset class {ref!r}")
        return int(found["id"])

    def asset(self, asset_id: int) -> dict[str, Any] | None:
        return self.read.asset(int(asset_id))

    def assets(self, *, asset_class: int | str | None = None, owner: str | None = None,
               state: str | None = None, secured_party: str | None = None, after: int = 0,
               limit: int = PAGE_LIMIT) -> list[dict[str, Any]]:
        """Assets matching every filter given, in id order, a page at a time (`after` the
        last id of the page before, at most `limit`)."""
        class_id = None if asset_class is None else self.class_id(asset_class)
        with as_config_error():
            return self.read.assets(asset_class=class_id, owner=owner, state=state,
                                    secured_party=secured_party, after=after, limit=limit)

    def find(self, asset_class: int | str, external_id: str | bytes) -> dict[str, Any] | None:
        """The asset holding an external id (plain, hashed here; or its 0x hash as bytes)."""
        asset_id = self.read.asset_by_external_id(self.class_id(asset_class),
                                                  self._external(external_id))
        return self.read.asset(asset_id) if asset_id else None

    def history(self, asset_id: int) -> list[dict[str, Any]]:
        return self.read.history("asset", int(asset_id))

    def propose_registrars(self, committee: LocalAccount, asset_class: int | str,
                           registrars: list[str], k: int) -> dict[str, Any]:
        k = AMOUNT.parse(k, "k")  # before the class's look-up: a bad value costs no call
        return self.propose(committee, "setClassRegistrars", self.class_id(asset_class),
                            [account_hex(r) for r in registrars], k)

    def apply(self, account: LocalAccount, asset_class: int | str, external_id: str | bytes, *,
              metadata: str | bytes | Path, owner: str | None = None) -> dict[str, Any]:
        """Apply for an asset's registration: by its owner (`owner` defaults to the signer),
        or by a registrar of the class for the owner. `external_id` is hashed here (or give
        its 32-byte hash as bytes)."""
        return self.transact(account, "apply", self.class_id(asset_class),
                             self._external(external_id), document_hash(metadata),
                             account_hex(owner or account.address))

    def release(self, secured_party: LocalAccount, asset_id: int,
                pledge: int | None = None) -> dict[str, Any]:
        """Release a pledge (by default the signer's first active pledge on the asset; a
        signer with none is refused here: give `pledge` to have the contract say why)."""
        if pledge is None:
            me = secured_party.address.lower()
            mine = (p["pledge"] for p in self.active_pledges(asset_id) if p["securedParty"] == me)
            pledge = known(next(mine, None), f"{me} holds no active pledge of asset {asset_id}")
        return self.transact(secured_party, "release", ID.parse(asset_id, "asset_id"),
                             AMOUNT.parse(pledge, "pledge"))  # pledges count from 0

    def active_pledges(self, asset_id: int) -> list[dict[str, Any]]:
        """The asset's active pledges, oldest first ([] for no such asset)."""
        found = self.read.asset(int(asset_id), history=False)
        return [p for p in (found or {}).get("pledges", []) if p["state"] == "active"]


__all__ = ["RegistryClient", "document_hash"]
