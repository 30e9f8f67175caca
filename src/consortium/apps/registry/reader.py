"""Reads of the Registry contract as plain JSON-ready dicts, over any way of making an
eth_call (and, for histories, of reading logs): the typed client, the node's API
(`consortium_asset*` JSON-RPC and REST, straight on the ledger) and the CLI tables all answer
the same shapes.

    class  {"id": 1, "name": "Land title", "schemaHash": "0x…", "registrars": ["0x…", …],
            "k": 2, "createdAt": 7}
    asset  {"id": 4, "class": 1, "externalIdHash": "0x…", "metadataHash": "0x…",
            "owner": "0x…", "state": "encumbered", "frozenFrom": null,
            "pendingOwner": null, "approvals": 0, "k": 2, "activePledges": 1,
            "applicant": "0x…", "createdAt": 9, "updatedAt": 14}

`asset(id)` adds the registrars who approved (`approvedBy`; with `approvals`, their count): those
of the current round, else, given a log source, those whose approvals last completed its
registration or retirement, as its history shows them. It also adds its pledges ({"pledge",
"securedParty", "state", "pledgedAt", "releasedAt"}) and, when the reader has a log source,
its full history, oldest first ({"block", "txHash", "actor", "from", "to", "reason"}).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_abi import decode as abi_decode

from consortium.apps.registry.contract import Registry
from consortium.apps.registry.model import ASSET_STATES, MAX_BATCH_READ, REGISTRY_ADDRESS
from consortium.apps.registry.state import Asset, AssetClass, Pledge
from consortium.apps.service import LogSource, hex_of, transition_history
from consortium.evm.native import NativeCalls

# (to, calldata) -> return data; raises the caller's error when the call reverts
Call = Callable[[bytes, bytes], bytes]

CALLS = NativeCalls(Registry)
encode_call = CALLS.encode
decode_result = CALLS.decode
HISTORY_EVENTS = {"asset": Registry.AssetTransition, "class": Registry.ClassTransition}
ASSET_FILTERS = ("class", "owner", "state", "securedParty")


def class_json(t: Any) -> dict[str, Any]:
    return AssetClass.from_abi(t).to_json()


def asset_json(t: Any) -> dict[str, Any]:
    return Asset.from_abi(t, round=0, pledge_count=0).to_json()


class RegistryReader:
    """Typed reads of the Registry contract through `call` (and `logs` for histories)."""

    def __init__(self, call: Call, logs: LogSource | None = None) -> None:
        self._call = call
        self._logs = logs

    def _read(self, name: str, *args: Any) -> Any:
        return decode_result(name, self._call(REGISTRY_ADDRESS, encode_call(name, *args)))

    # --- classes -----------------------------------------------------------------------------

    def classes(self) -> list[dict[str, Any]]:
        return [class_json(t) for t in self._read("classes")]

    def asset_class(self, ref: int | str) -> dict[str, Any] | None:
        """A class by id or by name."""
        class_id = ref if isinstance(ref, int) else int(self._read("classByName", ref))
        if not 1 <= class_id <= int(self._read("classCount")):
            return None
        return class_json(self._read("assetClass", class_id))

    # --- assets ------------------------------------------------------------------------------

    def asset(self, asset_id: int, *, history: bool = True) -> dict[str, Any] | None:
        """One asset with its approvals, pledges and (given a log source) history."""
        if not 1 <= asset_id <= int(self._read("assetCount")):
            return None
        out = asset_json(self._read("asset", asset_id))
        out["approvedBy"] = [hex_of(a) for a in self._read("approvals", asset_id)]
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
        events = []
        for log in self._logs(REGISTRY_ADDRESS, [spec.topic0, asset_id.to_bytes(32, "big")]):
            action, count, k = abi_decode(["string", "uint256", "uint256"], bytes(log["data"]))
            events.append((action, int(count), int(k),
                           "0x" + bytes(log["topics"][2])[12:].hex()))
        done = [i for i, (_, count, k, _) in enumerate(events) if count >= k]
        if not done:
            return []
        # The completing approval was the count-th of its round: walk back through the
        # approvals of the same action counted 1 less each.
        last = done[-1]
        run = [events[last]]
        while run[0][1] > 1 and last - len(run) >= 0:
            before = events[last - len(run)]
            if before[0] != run[0][0] or before[1] != run[0][1] - 1:
                break
            run.insert(0, before)
        return [registrar for _, _, _, registrar in run]

    def asset_by_external_id(self, class_id: int, external_id_hash: bytes) -> int:
        """The asset holding an external id hash in a class, or 0."""
        return int(self._read("assetByExternalId", class_id, external_id_hash))

    def assets(self, *, asset_class: int | None = None, owner: str | None = None,
               state: str | None = None,
               secured_party: str | None = None) -> list[dict[str, Any]]:
        """Assets matching every filter given (all without filters), in id order."""
        if state is not None and state not in ASSET_STATES:
            raise ValueError(f"unknown asset state {state!r} (states: {', '.join(ASSET_STATES)})")
        lists: list[list[int]] = []
        if asset_class is not None:
            lists.append(list(self._read("assetsByClass", asset_class)))
        if owner is not None:
            lists.append(list(self._read("assetsByOwner", owner.lower())))
        if state is not None:
            lists.append(list(self._read("assetsByState", state)))
        if secured_party is not None:
            lists.append(list(self._read("assetsBySecuredParty", secured_party.lower())))
        if lists:
            ids = sorted(set(lists[0]).intersection(*lists[1:]))
        else:
            ids = list(range(1, int(self._read("assetCount")) + 1))
        out: list[dict[str, Any]] = []
        for start in range(0, len(ids), MAX_BATCH_READ):
            batch = ids[start:start + MAX_BATCH_READ]
            out += [asset_json(t) for t in self._read("assetsOf", batch)]
        return out

    def history(self, kind: str, object_id: int) -> list[dict[str, Any]]:
        """The transitions of an "asset" or a "class", oldest first."""
        if self._logs is None:
            raise ValueError("this reader has no log source for histories")
        return transition_history(self._logs, REGISTRY_ADDRESS, HISTORY_EVENTS[kind], object_id)


__all__ = ["CALLS", "RegistryReader", "asset_json", "class_json", "decode_result",
           "encode_call"]
