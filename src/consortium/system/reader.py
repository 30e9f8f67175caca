"""Reads of the system contracts as plain JSON-ready dicts, over any way of making an
eth_call (the typed client over HTTP, the node's API on the ledger, the CLI): one shape
everywhere. Keys are camelCase; addresses 0x lower-case hex, node ids 40 hex digits,
validator keys base64 (as CometBFT shows them)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from typing import Any

from consortium.errors import ConsortiumError
from consortium.evm.abi_codec import decode as abi_decode
from consortium.evm.native import NativeCalls, NativeContract, native_address, registered_natives
from consortium.evm.records import as_address, hex0x
from consortium.system.governance import Governance
from consortium.system.model import KIND_BY_NAME, ROLES, ProposalKind
from consortium.system.nodes import Nodes
from consortium.system.permissions import Permissions
from consortium.system.privacy import PRIVACY_ADDRESS, Privacy
from consortium.system.state import Member, Office, Proposal, TaskForce

# (to, calldata) -> return data; raises the caller's error when the call reverts
Call = Callable[[bytes, bytes], bytes]
CONTRACTS: dict[str, type[NativeContract]] = {
    "Governance": Governance, "Permissions": Permissions, "Nodes": Nodes}
CALLS = {name: NativeCalls(cls) for name, cls in CONTRACTS.items()}
# every native contract whose layout version genesis `native_versions` (and a software
# upgrade) sets, at its address: the system contracts, Privacy (opt-in: a chain whose
# genesis does not name it has none) and the Securities service (its fixed address; the
# system layer never imports the services, `consortium.ledger.system_genesis.NATIVE_ADDRESSES`
# lists the same, a test checks both)
PRIVACY_CALLS = NativeCalls(Privacy)
VERSIONED: dict[str, bytes] = {**{name: cls.address for name, cls in CONTRACTS.items()},
                               "Privacy": PRIVACY_ADDRESS, "Securities": native_address(0x2001),
                               "Invoices": native_address(0x2004),
                               "Registry": native_address(0x2003)}


def validator_address(pub_key: bytes) -> str:
    """CometBFT's validator address: the first 20 bytes of SHA-256 of the ed25519 key."""
    return hashlib.sha256(pub_key).digest()[:20].hex().upper()


def params_json(kind: ProposalKind, payload: bytes) -> dict[str, Any]:
    """A proposal's parameters by name, from its ABI-encoded payload."""
    values = abi_decode(list(kind.types), payload)
    out = {name: _param(t, v) for name, t, v in zip(kind.params, kind.types, values, strict=True)}
    if kind.name == "app-call":
        out["method"] = describe_call(values[0], bytes(values[1]))
    return out


def describe_call(contract: str | bytes, data: bytes) -> str:
    """A registered native's call as a reader sees it: "Registry.createClass('Land', …)"."""
    cls = registered_natives().get(as_address(contract))
    spec = cls.methods().get(data[:4]) if cls is not None else None
    if cls is None or spec is None:
        return "0x" + data[:4].hex() + " (unknown method)"
    try:
        args = spec.args.decode(data[4:])
    except Exception:
        return f"{cls.__name__}.{spec.name}(<malformed arguments>)"
    return f"{cls.__name__}.{spec.name}({', '.join(_shown(v) for v in args)})"


def _shown(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return repr(value)


def _param(type_str: str, value: Any) -> Any:
    if type_str.endswith("[]"):
        return [_param(type_str[:-2], v) for v in value]
    if type_str == "bytes20":
        return bytes(value).hex()
    if type_str == "bytes32":
        return base64.b64encode(bytes(value)).decode()
    return hex0x(value) if type_str in ("address", "bytes") else value


def proposal_json(t: Any) -> dict[str, Any]:
    p = Proposal.from_abi(t)
    return {
        "id": p.id, "kind": p.kind, "status": p.status,
        "params": params_json(p.spec, p.payload),
        "proposer": hex0x(p.proposer), "proposerMember": p.proposer_member,
        "createdAt": p.created, "expiresAt": p.expires,
        "rule": {"participation": p.participation, "winRate": p.win_rate,
                 "period": p.expires - p.created},
        "yesWeight": p.yes, "noWeight": p.no, "target": p.target or None, "note": p.note,
        "closedAt": p.closed or None,
    }


def officer_json(t: Any) -> dict[str, Any]:
    o = Office.from_abi(t, proposal=0)
    return {"office": o.office, "holder": None if o.vacant else hex0x(o.holder),
            "lastHolder": hex0x(o.holder), "termEnd": o.term_end, "electedAt": o.elected,
            "vacant": o.vacant}


class SystemReader:
    """Typed reads of Governance, Permissions and Nodes through `call` (`logs`: unused,
    for the service framework's reader signature)."""

    def __init__(self, call: Call, logs: Any = None) -> None:
        self._call = call

    def _read(self, contract: str, name: str, *args: Any) -> Any:
        calls = CALLS[contract]
        out = self._call(calls.cls.address, calls.encode(name, *args))
        return calls.decode(name, out)

    # --- members -----------------------------------------------------------------------------

    def members(self) -> list[dict[str, Any]]:
        return [Member.from_abi(t).to_json() for t in self._read("Governance", "members")]

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
        if not 1 <= member_id <= self._read("Governance", "memberCount"):
            return None
        return Member.from_abi(self._read("Governance", "member", member_id)).to_json()

    def total_weight(self) -> int:
        return int(self._read("Governance", "totalWeight"))

    def admin_mode(self) -> bool:
        return bool(self._read("Governance", "adminMode"))

    def upgrades(self) -> dict[str, Any]:
        """{"plan": {"name", "height", "version", "proposal"} | None, "applied": [{"name",
        "height"}], "nativeVersions": {"Governance": 1, …, "Securities": 2, "Invoices": 2, …}}:
        every native contract `native_versions` versions (`VERSIONED`); Privacy 0 on a
        chain that has not enabled it."""
        name, height, version, proposal = self._read("Governance", "upgradePlan")
        plan = ({"name": name, "height": height, "version": version, "proposal": proposal}
                if proposal else None)
        applied = [{"name": n, "height": h} for n, h in self._read("Governance", "appliedUpgrades")]
        versions = {c: int(self._read("Governance", "nativeVersion", address))
                    for c, address in VERSIONED.items()}
        if not self._privacy_enabled():
            versions["Privacy"] = 0
        return {"plan": plan, "applied": applied, "nativeVersions": versions}

    def _privacy_enabled(self) -> bool:
        """Whether the Privacy contract is enabled (its genesis named it, or the upgrade
        `privacy` ran): its version slot reads 1 either way, its calls revert until then."""
        try:
            self._call(PRIVACY_ADDRESS, PRIVACY_CALLS.encode("groupCount"))
        except ConsortiumError as exc:
            if "not enabled" in exc.message:
                return False
            raise
        return True

    # --- proposals and rules -----------------------------------------------------------------

    def proposals(self, open_only: bool = False) -> list[dict[str, Any]]:
        out = [proposal_json(t) for t in self._read("Governance", "proposals")]
        return [p for p in out if p["status"] == "open"] if open_only else out

    def proposal(self, proposal_id: int) -> dict[str, Any] | None:
        if not 1 <= proposal_id <= self._read("Governance", "proposalCount"):
            return None
        return proposal_json(self._read("Governance", "proposal", proposal_id))

    def proposal_with_votes(self, proposal_id: int) -> dict[str, Any] | None:
        found = self.proposal(proposal_id)
        if found is not None:
            found["votes"] = self.votes(proposal_id)
        return found

    def votes(self, proposal_id: int) -> list[dict[str, Any]]:
        """How each member voted on a proposal (members that did not vote are left out)."""
        out = []
        for m in self.members():
            voted, support = self._read("Governance", "voteOf", proposal_id, m["id"])
            if voted:
                out.append({"member": m["id"], "name": m["name"],
                            "vote": "yes" if support else "no", "weight": m["weight"]})
        return out

    def rules(self) -> list[dict[str, Any]]:
        return [{"kind": k, "participation": p, "winRate": w, "period": d}
                for k, p, w, d in self._read("Governance", "rules")]

    # --- officers, task forces, permissions, nodes ---------------------------------------

    def officers(self) -> list[dict[str, Any]]:
        return [officer_json(t) for t in self._read("Governance", "officers")]

    def task_forces(self) -> list[dict[str, Any]]:
        return [TaskForce.from_abi(t).to_json() for t in self._read("Governance", "taskForces")]

    def task_force(self, name: str) -> dict[str, Any] | None:
        return next((tf for tf in self.task_forces() if tf["name"] == name), None)

    def roles(self, account: str | None = None) -> dict[str, Any]:
        """Every role with the accounts holding it, or one account's roles."""
        if account is not None:
            return {"account": account.lower(),
                    "roles": list(self._read("Permissions", "roles", account.lower()))}
        return {role: [hex0x(a) for a in self._read("Permissions", "accountsWithRole", role)]
                for role in ROLES}

    def frozen(self) -> list[str]:
        return [hex0x(a) for a in self._read("Permissions", "frozen")]

    def deploy_allowlist(self) -> list[str]:
        return [hex0x(a) for a in self._read("Permissions", "deployAllowlist")]

    def validators(self) -> list[dict[str, Any]]:
        return [{"pubKey": base64.b64encode(bytes(k)).decode(), "power": p,
                 "address": validator_address(bytes(k))}
                for k, p in self._read("Nodes", "validators")]

    def nodes(self) -> list[dict[str, Any]]:
        return [{"nodeId": bytes(n).hex(), "member": m} for n, m in self._read("Nodes", "nodes")]


__all__ = ["KIND_BY_NAME", "SystemReader", "params_json", "proposal_json", "validator_address"]
