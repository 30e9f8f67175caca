"""The digital asset registry's JSON-RPC methods, read straight from the Registry contract
(eth_call on the ledger, histories from its log index), in the shapes of
`consortium.apps.registry.reader`.

    consortium_assetClasses()           every asset class: name, schema hash, registrars, k
    consortium_assetClass(ref)          one class by id or name, or null
    consortium_asset(id)                one asset with its approvals, pledges and full
                                        history (in order), or null
    consortium_assets([filter])         {"class": id, "owner", "state", "securedParty"}

Every filter key is optional; all given must match. `JsonRpc` inherits these handlers.
"""

from __future__ import annotations

from typing import Any

from consortium.api.apps_rpc import apps_rpc
from consortium.api.encoding import Params
from consortium.api.rpc_error import InvalidParams
from consortium.api.service_reads import filter_object, ledger_call, ledger_logs, object_id
from consortium.apps.registry.model import ASSET_STATES
from consortium.apps.registry.reader import RegistryReader
from consortium.ledger.types import LedgerReader


def registry_reader(ledger: LedgerReader) -> RegistryReader:
    return RegistryReader(ledger_call(ledger), ledger_logs(ledger))


def asset_filter(value: Any, where: str) -> dict[str, Any]:
    """{"class", "owner", "state", "securedParty"} as RegistryReader.assets' arguments."""
    raw = filter_object(value, where, ("owner", "securedParty"), ASSET_STATES, ("class",))
    names = {"class": "asset_class", "securedParty": "secured_party"}
    return {names.get(k, k): v for k, v in raw.items()}


def class_ref(value: Any, where: str) -> int | str:
    """A class id, or its name."""
    if isinstance(value, str) and not value.strip().isdigit():
        if not value.strip():
            raise InvalidParams(f"{where}: expected a class id or name")
        return value
    return object_id(value, where)


class RegistryMethods:
    """The registry's handlers (mixed into `JsonRpc`, which sets `ledger`)."""

    ledger: LedgerReader

    @apps_rpc("consortium_assetClasses")
    def consortium_asset_classes(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return registry_reader(self.ledger).classes()

    @apps_rpc("consortium_assetClass")
    def consortium_asset_class(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return registry_reader(self.ledger).asset_class(p.required(0, class_ref))

    @apps_rpc("consortium_asset")
    def consortium_asset(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return registry_reader(self.ledger).asset(p.required(0, object_id))

    @apps_rpc("consortium_assets")
    def consortium_assets(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return registry_reader(self.ledger).assets(**p.optional(0, asset_filter, {}))
