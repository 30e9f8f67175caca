"""Reads of the Registry contract as JSON-ready dicts, the same for the client, the API and
the CLI. `asset(id)` adds its pledges, who approved and (given a log source) its history."""

from __future__ import annotations

from typing import Any

from consortium.apps.registry.contract import Registry
from consortium.apps.registry.model import ASSET_STATES, REGISTRY_ADDRESS
from consortium.apps.registry.state import Asset, AssetClass, Pledge
from consortium.apps.service import ServiceReader, matching
from consortium.apps.surface import decode_log, json_of
from consortium.evm.native import NativeCalls
from consortium.evm.records import hex0x

CALLS = NativeCalls(Registry)
HISTORY_EVENTS = {"asset": Registry.AssetTransition, "class": Registry.ClassTransition}


class_json, asset_json = json_of(AssetClass), json_of(Asset, round=0, pledge_count=0)


class RegistryReader(ServiceReader):
    address, calls, histories = REGISTRY_ADDRESS, CALLS, HISTORY_EVENTS

    def classes(self) -> list[dict[str, Any]]:
        return [class_json(t) for t in self._read("classes")]

    def asset_class(self, ref: int | str) -> dict[str, Any] | None:
        """A class by id or by name."""
        class_id = ref if isinstance(ref, int) else int(self._read("classByName", ref))
        if not self._exists("classCount", class_id):
            return None
        return class_json(self._read("assetClass", class_id))

    def asset(self, asset_id: int, *, history: bool = True) -> dict[str, Any] | None:
        """One asset with its approvals, pledges and (given a log source) history."""
        if not self._exists("assetCount", asset_id):
            return None
        out = asset_json(self._read("asset", asset_id))
        out["approvedBy"] = [hex0x(a) for a in self._read("approvals", asset_id)]
        if history and not out["approvedBy"] and self._logs is not None:
            out["approvedBy"] = self.last_approvals(asset_id)
            out["approvals"] = len(out["approvedBy"])
        out["pledges"] = [Pledge.from_abi(t).to_json() for t in self._read("pledges", asset_id)]
        if history and self._logs is not None:
            out["history"] = self.history("asset", asset_id)
        return out

    def last_approvals(self, asset_id: int) -> list[str]:
        """The registrars whose approvals last completed an action on the asset (its
        registration or retirement), in order; [] when none has completed. The contract
        counts approvals per round and a state change starts a new one, so a registered
        asset's own count is 0: who registered it is read from its RegistrarApproval events."""
        assert self._logs is not None
        spec = Registry.RegistrarApproval
        run: list[tuple[str, int, str]] = []  # a round's approvals so far: counted 1, 2, …
        approved: list[str] = []
        for log in self._logs(REGISTRY_ADDRESS, [spec.topic0, asset_id.to_bytes(32, "big")]):
            e = decode_log(spec, log["topics"], log["data"])
            step = (e["action"], int(e["approvals"]), e["registrar"])
            chained = bool(run) and run[-1][0] == step[0] and run[-1][1] == step[1] - 1
            run = [*run, step] if chained else [step]
            if step[1] >= int(e["k"]):
                approved = [registrar for _, _, registrar in run]
        return approved

    def asset_by_external_id(self, class_id: int, external_id_hash: bytes) -> int:
        """The asset holding an external id hash in a class, or 0."""
        return int(self._read("assetByExternalId", class_id, external_id_hash))

    assets = matching("assetCount", "assetsOf", asset_json, (ASSET_STATES, "asset state"),
                      asset_class="assetsByClass", owner="assetsByOwner", state="assetsByState",
                      secured_party="assetsBySecuredParty")


__all__ = ["CALLS", "RegistryReader", "asset_json", "class_json"]
