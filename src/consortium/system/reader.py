"""Reads of the system contracts as plain JSON-ready dicts, over any way of making an
eth_call: the typed client (web3 over HTTP), the node's API (`consortium_*` JSON-RPC and
REST, straight on the ledger) and the CLI tables all answer the same shapes.

Keys are camelCase as Ethereum JSON-RPC answers are; addresses are 0x lower-case hex, node
ids 40 hex digits, validator keys base64 (as CometBFT shows them), heights and weights numbers.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from eth_abi import decode as abi_decode

from consortium.system.abi_files import function
from consortium.system.model import (
    EXPIRED,
    GOVERNANCE_ADDRESS,
    KIND_BY_NAME,
    NODES_ADDRESS,
    PERMISSIONS_ADDRESS,
    ROLES,
    ProposalKind,
)

# (to, calldata) -> return data; raises the caller's error when the call reverts
Call = Callable[[bytes, bytes], bytes]

_ADDRESSES = {
    "Governance": GOVERNANCE_ADDRESS,
    "Permissions": PERMISSIONS_ADDRESS,
    "Nodes": NODES_ADDRESS,
}


def hex_address(value: Any) -> str:
    if isinstance(value, str):
        return value.lower()
    return "0x" + bytes(value).hex()


def validator_address(pub_key: bytes) -> str:
    """CometBFT's validator address: the first 20 bytes of SHA-256 of the ed25519 key."""
    return hashlib.sha256(pub_key).digest()[:20].hex().upper()


def member_json(t: Any) -> dict[str, Any]:
    member_id, name, tier, status, weight, accounts, nodes, since = t
    return {
        "id": member_id,
        "name": name,
        "tier": tier,
        "status": status,
        "weight": weight,
        "accounts": [hex_address(a) for a in accounts],
        "nodes": [bytes(n).hex() for n in nodes],
        "since": since,
    }


def params_json(kind: ProposalKind, payload: bytes) -> dict[str, Any]:
    """A proposal's parameters by name, from its ABI-encoded payload."""
    values = abi_decode(list(kind.types), payload)
    out = {name: _param(t, v) for name, t, v in zip(kind.params, kind.types, values, strict=True)}
    if kind.name == "app-call":
        out["method"] = describe_call(values[0], bytes(values[1]))
    return out


def describe_call(contract: str | bytes, data: bytes) -> str:
    """A finance service's call as a reader sees it: "Registry.createClass('Land', …)"."""
    import consortium.apps  # noqa: F401  (registers the services' contracts)
    from consortium.evm.native import registered_natives

    raw = bytes.fromhex(contract[2:]) if isinstance(contract, str) else bytes(contract)
    cls = registered_natives().get(raw)
    spec = cls.methods().get(data[:4]) if cls is not None else None
    if cls is None or spec is None:
        return "0x" + data[:4].hex() + " (unknown method)"
    try:
        args = abi_decode(list(spec.inputs), data[4:])
    except Exception:
        return f"{cls.__name__}.{spec.name}(<malformed arguments>)"
    shown = ", ".join(_shown(v) for v in args)
    return f"{cls.__name__}.{spec.name}({shown})"


def _shown(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return repr(value)


def _param(type_str: str, value: Any) -> Any:
    if type_str.endswith("[]"):
        return [_param(type_str[:-2], v) for v in value]
    if type_str == "address":
        return hex_address(value)
    if type_str == "bytes20":
        return bytes(value).hex()
    if type_str == "bytes32":
        return base64.b64encode(bytes(value)).decode()
    if type_str == "bytes":
        return "0x" + bytes(value).hex()
    return value


def proposal_json(t: Any) -> dict[str, Any]:
    (
        pid,
        kind,
        proposer,
        proposer_member,
        status,
        created,
        expires,
        participation,
        win_rate,
        yes,
        no,
        payload,
        target,
        note,
        closed,
    ) = t
    k = KIND_BY_NAME[kind]
    return {
        "id": pid,
        "kind": kind,
        "status": status,
        "params": params_json(k, payload),
        "proposer": hex_address(proposer),
        "proposerMember": proposer_member,
        "createdAt": created,
        "expiresAt": expires,
        "rule": {"participation": participation, "winRate": win_rate, "period": expires - created},
        "yesWeight": yes,
        "noWeight": no,
        "target": target or None,
        "note": note,
        "closedAt": closed or None,
    }


def officer_json(t: Any) -> dict[str, Any]:
    office, holder, term_end, elected, vacant = t
    return {
        "office": office,
        "holder": None if vacant else hex_address(holder),
        "lastHolder": hex_address(holder),
        "termEnd": term_end,
        "electedAt": elected,
        "vacant": vacant,
    }


def task_force_json(t: Any) -> dict[str, Any]:
    name, charter, lead, members, formed = t
    return {
        "name": name,
        "charter": charter,
        "lead": hex_address(lead),
        "members": [hex_address(m) for m in members],
        "formedAt": formed,
    }


class SystemReader:
    """Typed reads of Governance, Permissions and Nodes through `call`."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def _read(self, contract: str, name: str, *args: Any) -> Any:
        fn = function(contract, name)
        return fn.decode(self._call(_ADDRESSES[contract], fn.encode(*args)))

    # --- members -----------------------------------------------------------------------------

    def members(self) -> list[dict[str, Any]]:
        return [member_json(t) for t in self._read("Governance", "members")]

    def member_id(self, ref: str | int) -> int:
        """A member's id from its id, its name or one of its accounts (0 if none)."""
        if isinstance(ref, int):
            return ref
        text = str(ref).strip()
        if text.isdigit():
            return int(text)
        if text.lower().startswith("0x") and len(text) == 42:
            return int(self._read("Governance", "memberOf", text.lower()))
        return int(self._read("Governance", "memberByName", text))

    def member(self, ref: str | int) -> dict[str, Any] | None:
        member_id = self.member_id(ref)
        if member_id == 0:
            return None
        count = self._read("Governance", "memberCount")
        if member_id > count:
            return None
        return member_json(self._read("Governance", "member", member_id))

    def total_weight(self) -> int:
        return int(self._read("Governance", "totalWeight"))

    def admin_mode(self) -> bool:
        return bool(self._read("Governance", "adminMode"))

    # --- software upgrades ---------------------------------------------------------------------

    def upgrades(self) -> dict[str, Any]:
        """The scheduled software upgrade (or None), the applied ones and the system
        contracts' versions: {"plan": {"name", "height", "version", "proposal"} | None,
        "applied": [{"name", "height"}], "nativeVersions": {"Governance": 1, …}}."""
        name, height, version, proposal = self._read("Governance", "upgradePlan")
        plan = (
            {"name": name, "height": height, "version": version, "proposal": proposal}
            if proposal
            else None
        )
        applied = [{"name": n, "height": h} for n, h in self._read("Governance", "appliedUpgrades")]
        versions = {
            c: int(self._read("Governance", "nativeVersion", "0x" + _ADDRESSES[c].hex()))
            for c in ("Governance", "Permissions", "Nodes")
        }
        return {"plan": plan, "applied": applied, "nativeVersions": versions}

    # --- proposals and rules -----------------------------------------------------------------

    def proposals(self, open_only: bool = False) -> list[dict[str, Any]]:
        out = [proposal_json(t) for t in self._read("Governance", "proposals")]
        return [p for p in out if p["status"] == "open"] if open_only else out

    def proposal(self, proposal_id: int) -> dict[str, Any] | None:
        if not 1 <= proposal_id <= self._read("Governance", "proposalCount"):
            return None
        return proposal_json(self._read("Governance", "proposal", proposal_id))

    def votes(self, proposal_id: int) -> list[dict[str, Any]]:
        """How each member voted on a proposal (members that did not vote are left out)."""
        out = []
        for m in self.members():
            voted, support = self._read("Governance", "voteOf", proposal_id, m["id"])
            if voted:
                out.append(
                    {
                        "member": m["id"],
                        "name": m["name"],
                        "vote": "yes" if support else "no",
                        "weight": m["weight"],
                    }
                )
        return out

    def rules(self) -> list[dict[str, Any]]:
        return [
            {"kind": k, "participation": p, "winRate": w, "period": d}
            for k, p, w, d in self._read("Governance", "rules")
        ]

    # --- officers and task forces ------------------------------------------------------------

    def officers(self) -> list[dict[str, Any]]:
        return [officer_json(t) for t in self._read("Governance", "officers")]

    def task_forces(self) -> list[dict[str, Any]]:
        return [task_force_json(t) for t in self._read("Governance", "taskForces")]

    def task_force(self, name: str) -> dict[str, Any] | None:
        for tf in self.task_forces():
            if tf["name"] == name:
                return tf
        return None

    # --- permissions ---------------------------------------------------------------------------

    def roles(self, account: str | None = None) -> dict[str, Any]:
        """Every role with the accounts holding it, or one account's roles."""
        if account is not None:
            return {
                "account": account.lower(),
                "roles": list(self._read("Permissions", "roles", account.lower())),
            }
        return {
            role: [hex_address(a) for a in self._read("Permissions", "accountsWithRole", role)]
            for role in ROLES
        }

    def frozen(self) -> list[str]:
        return [hex_address(a) for a in self._read("Permissions", "frozen")]

    def deploy_allowlist(self) -> list[str]:
        return [hex_address(a) for a in self._read("Permissions", "deployAllowlist")]

    # --- nodes ---------------------------------------------------------------------------------

    def validators(self) -> list[dict[str, Any]]:
        return [
            {
                "pubKey": base64.b64encode(bytes(k)).decode(),
                "power": p,
                "address": validator_address(bytes(k)),
            }
            for k, p in self._read("Nodes", "validators")
        ]

    def nodes(self) -> list[dict[str, Any]]:
        return [{"nodeId": bytes(n).hex(), "member": m} for n, m in self._read("Nodes", "nodes")]


__all__ = ["EXPIRED", "SystemReader", "params_json", "proposal_json", "validator_address"]
