"""The consortium's genesis: the `app_state` section of CometBFT's genesis.json.

`consortium init` writes it and the ledger reads it in InitChain. It is parsed into typed,
validated objects here, once, so a malformed genesis fails with a message naming the field
instead of a KeyError deep inside the node.

Governance fields (all optional, so older genesis files still load):
- per member: `weight` (its committee weight; default 1, observers 0) and `validators`
  (`[{"pub_key": "<base64 ed25519>", "power": 10}]`: the consensus keys of its validator
  nodes, as in genesis.json's own `validators`);
- `governance`: `rules` (per proposal kind: `{"participation": bp, "win_rate": bp,
  "period": blocks}`, replacing the defaults), `roles` (`{"0x…": ["regulator"]}`, beyond the
  `member` and `committee` roles every member account gets) and `deploy_allowlist`;
- `native_versions` (`{"Nodes": 2}`): the layout versions the system contracts start at
  (unlisted: 1). Nodes 2 records which member owns each validator (so expelling a member
  removes its validators); `consortium init` writes it, older genesis files lack it and
  keep their genesis state. `{"Privacy": 1}` gives the chain the Privacy contract (privacy
  groups); without it there is no account at its address and its calls revert.
  `{"Securities": 2}`: the Securities service's `mint` checks the recipient's eligibility
  (version 1, unlisted, mints unchecked: chains made before; the software upgrade
  `securities-mint-eligibility` moves them to 2). `{"Invoices": 2}`: invoices stored packed
  (version 1, unlisted: chains made before; the upgrade `invoices-layout-2` moves them);
  `{"Registry": 2}` likewise for assets (`registry-layout-2`); `{"Securities": 3}` keeps 2's
  rule and packs trades and checkpoints (`securities-layout-3`); `{"Securities": 4}` an
  order's lean path: each record written once, its indexes lists (`securities-layout-4`).
Chain rules (`consortium.evm.chain_rules`: a version each, unlisted = 1, what chains made
before the rule ran under; `consortium init` and the key ceremony write the newest; a
software upgrade moves an older chain on):
- `native_gas` (`2`): the native contracts' gas schedule (`consortium.evm.native.write_gas`):
  2 prices a storage write by the slot's present value as the EVM does (20,000 to set an
  empty slot, 2,900 to change or clear one, 100 to leave it); 1, or unlisted (chains made
  before), 20,000 for any write; the upgrade `native-gas-2`.
- `evm_clock` (`2`): the EVM clock rule (`consortium.evm.header.block_timestamp`): 2 takes
  the block time in whole seconds, never below the parent's (blocks within a second share
  it); 1, or unlisted (chains made before), forces each block a second past its parent,
  which runs ahead of wall time under sub-second blocks; the upgrade `evm-clock-2`.
The ledger moves all of it into the system contracts' storage at genesis.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from consortium.errors import ConfigError
from consortium.evm.chain_rules import CHAIN_RULES

DEFAULT_ETH_CHAIN_ID = 20251
DEFAULT_BLOCK_GAS_LIMIT = 1_000_000_000
MEMBER_TIERS = ("founding", "ordinary", "observer")
MAX_VALIDATOR_POWER = 10**12  # as consortium.system.model.MAX_POWER


@dataclass(frozen=True)
class GenesisValidator:
    """A validator at genesis, named by its ed25519 consensus public key."""

    pub_key: str  # base64 of the 32-byte key, as in priv_validator_key.json
    power: int

    @property
    def pub_key_bytes(self) -> bytes:
        return base64.b64decode(self.pub_key)


@dataclass(frozen=True)
class GenesisMember:
    """A member institution present at genesis: its accounts sign, its nodes may peer."""

    name: str
    tier: str
    accounts: tuple[str, ...]  # 0x-prefixed, lower-case addresses
    nodes: tuple[str, ...]  # CometBFT node ids (40 lower-case hex chars)
    weight: int | None = None  # committee weight; None: 1, or 0 for observers
    validators: tuple[GenesisValidator, ...] = ()

    @property
    def voting_weight(self) -> int:
        if self.weight is not None:
            return self.weight
        return 0 if self.tier == "observer" else 1


@dataclass(frozen=True)
class GenesisRule:
    participation: int  # basis points
    win_rate: int  # basis points
    period: int  # blocks


@dataclass(frozen=True)
class GovernanceGenesis:
    rules: dict[str, GenesisRule] = field(default_factory=dict)  # proposal kind -> rule
    roles: dict[str, tuple[str, ...]] = field(default_factory=dict)  # address -> roles
    deploy_allowlist: tuple[str, ...] = ()

    def is_default(self) -> bool:
        return not self.rules and not self.roles and not self.deploy_allowlist

    def to_json(self) -> dict[str, Any]:
        return {
            "rules": {
                k: {"participation": r.participation, "win_rate": r.win_rate, "period": r.period}
                for k, r in sorted(self.rules.items())
            },
            "roles": {a: list(r) for a, r in sorted(self.roles.items())},
            "deploy_allowlist": list(self.deploy_allowlist),
        }


@dataclass(frozen=True)
class AppState:
    """Everything the ledger needs to build its state at height 0."""

    eth_chain_id: int
    block_gas_limit: int
    members: tuple[GenesisMember, ...]
    alloc: dict[str, int] = field(default_factory=dict)  # address -> wei
    governance: GovernanceGenesis = field(default_factory=GovernanceGenesis)
    native_versions: dict[str, int] = field(default_factory=dict)  # contract -> version
    native_gas: int = 1  # the natives' gas schedule (1: unlisted, as chains made before it)
    evm_clock: int = 1  # the EVM clock rule (1: unlisted, as chains made before it)

    def member_accounts(self) -> set[str]:
        return {a for m in self.members for a in m.accounts}

    def node_ids(self) -> set[str]:
        return {n for m in self.members for n in m.nodes}

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "eth_chain_id": self.eth_chain_id,
            "block_gas_limit": self.block_gas_limit,
            "members": [_member_json(m) for m in self.members],
            "alloc": {addr: {"balance": hex(wei)} for addr, wei in sorted(self.alloc.items())},
        }
        if not self.governance.is_default():
            doc["governance"] = self.governance.to_json()
        if self.native_versions:
            doc["native_versions"] = dict(sorted(self.native_versions.items()))
        doc.update(self.chain_rules())
        return doc

    def chain_rules(self) -> dict[str, int]:
        """The chain rules this genesis sets (`consortium.evm.chain_rules`): those not 1."""
        return {rule.key: version for rule in CHAIN_RULES
                if (version := getattr(self, rule.key)) != 1}

    @classmethod
    def from_json(cls, data: Any) -> AppState:
        if not isinstance(data, dict):
            raise ConfigError("genesis app_state must be a JSON object")
        chain_id = _int(data.get("eth_chain_id", DEFAULT_ETH_CHAIN_ID), "app_state.eth_chain_id")
        gas_limit = _int(
            data.get("block_gas_limit", DEFAULT_BLOCK_GAS_LIMIT), "app_state.block_gas_limit"
        )
        raw_members = data.get("members")
        if not isinstance(raw_members, list) or not raw_members:
            raise ConfigError("genesis app_state.members must be a non-empty list")
        members = []
        seen_names: set[str] = set()
        for i, m in enumerate(raw_members):
            where = f"app_state.members[{i}]"
            if not isinstance(m, dict):
                raise ConfigError(f"{where} must be an object")
            name = m.get("name")
            if not isinstance(name, str) or not name.strip():
                raise ConfigError(f"{where}.name must be a non-empty string")
            if name in seen_names:
                raise ConfigError(f"{where}.name {name!r} is listed twice")
            seen_names.add(name)
            tier = m.get("tier", "founding")
            if tier not in MEMBER_TIERS:
                raise ConfigError(f"{where}.tier must be one of {', '.join(MEMBER_TIERS)}")
            accounts = tuple(_address(a, f"{where}.accounts") for a in m.get("accounts", []))
            nodes = tuple(_node_id(n, f"{where}.nodes") for n in m.get("nodes", []))
            weight = None
            if m.get("weight") is not None:
                weight = _int(m["weight"], f"{where}.weight")
                if tier == "observer" and weight:
                    raise ConfigError(f"{where}.weight must be 0 for an observer")
            validators = tuple(
                _validator(v, f"{where}.validators[{j}]")
                for j, v in enumerate(_list(m.get("validators", []), f"{where}.validators"))
            )
            members.append(GenesisMember(name, tier, accounts, nodes, weight, validators))
        _check_unique([a for m in members for a in m.accounts], "an account is listed twice: {}")
        _check_unique([n for m in members for n in m.nodes], "a node id is listed twice: {}")
        _check_unique(
            [v.pub_key for m in members for v in m.validators],
            "a validator key is listed twice: {}",
        )
        alloc_raw = data.get("alloc", {})
        if not isinstance(alloc_raw, dict):
            raise ConfigError("genesis app_state.alloc must be an object")
        alloc = {}
        for addr, entry in alloc_raw.items():
            where = f"app_state.alloc[{addr}]"
            if not isinstance(entry, dict):
                raise ConfigError(f"{where} must be an object with a balance")
            alloc[_address(addr, where)] = _int(entry.get("balance", 0), f"{where}.balance")
        governance = _governance(data.get("governance", {}))
        versions = _native_versions(data.get("native_versions", {}))
        rules = {}
        for rule in CHAIN_RULES:
            rules[rule.key] = version = _int(data.get(rule.key, 1), f"app_state.{rule.key}")
            if (problem := rule.problem(version)) is not None:
                raise ConfigError(f"genesis app_state.{rule.key}: {problem}")
        return cls(chain_id, gas_limit, tuple(members), alloc, governance, versions, **rules)


def _member_json(m: GenesisMember) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": m.name,
        "tier": m.tier,
        "accounts": list(m.accounts),
        "nodes": list(m.nodes),
    }
    if m.weight is not None:
        doc["weight"] = m.weight
    if m.validators:
        doc["validators"] = [{"pub_key": v.pub_key, "power": v.power} for v in m.validators]
    return doc


def _governance(raw: Any) -> GovernanceGenesis:
    where = "app_state.governance"
    if not isinstance(raw, dict):
        raise ConfigError(f"genesis {where} must be an object")
    from consortium.system.model import KIND_BY_NAME, ROLES, Rule

    rules = {}
    rules_raw = raw.get("rules", {})
    if not isinstance(rules_raw, dict):
        raise ConfigError(f"genesis {where}.rules must be an object")
    for kind, r in rules_raw.items():
        at = f"{where}.rules[{kind}]"
        if kind not in KIND_BY_NAME:
            raise ConfigError(
                f"genesis {at}: unknown proposal kind (kinds: {', '.join(KIND_BY_NAME)})"
            )
        if not isinstance(r, dict):
            raise ConfigError(f"genesis {at} must be an object")
        rule = GenesisRule(
            _int(r.get("participation"), f"{at}.participation"),
            _int(r.get("win_rate"), f"{at}.win_rate"),
            _int(r.get("period"), f"{at}.period"),
        )
        problem = Rule(rule.participation, rule.win_rate, rule.period).problem()
        if problem:
            raise ConfigError(f"genesis {at}: {problem}")
        rules[kind] = rule
    roles: dict[str, tuple[str, ...]] = {}
    roles_raw = raw.get("roles", {})
    if not isinstance(roles_raw, dict):
        raise ConfigError(f"genesis {where}.roles must be an object")
    for addr, names in roles_raw.items():
        at = f"{where}.roles[{addr}]"
        names = _list(names, at)
        for name in names:
            if name not in ROLES:
                raise ConfigError(
                    f"genesis {at}: unknown role {name!r} (roles: {', '.join(ROLES)})"
                )
        roles[_address(addr, at)] = tuple(names)
    allow = tuple(
        _address(a, f"{where}.deploy_allowlist")
        for a in _list(raw.get("deploy_allowlist", []), f"{where}.deploy_allowlist")
    )
    _check_unique(list(allow), "the deploy allowlist lists an account twice: {}")
    return GovernanceGenesis(rules, roles, allow)


def _native_versions(raw: Any) -> dict[str, int]:
    where = "app_state.native_versions"
    if not isinstance(raw, dict):
        raise ConfigError(f"genesis {where} must be an object")
    from consortium.system.upgrade_plan import LATEST_NATIVE_VERSIONS

    out = {}
    for name, value in raw.items():
        latest = LATEST_NATIVE_VERSIONS.get(name)
        if latest is None:
            raise ConfigError(
                f"genesis {where}: no system contract {name!r} "
                f"(contracts: {', '.join(LATEST_NATIVE_VERSIONS)})"
            )
        version = _int(value, f"{where}[{name}]")
        if not 1 <= version <= latest:
            raise ConfigError(f"genesis {where}[{name}]: versions 1 to {latest} exist")
        out[name] = version
    return out


def _validator(value: Any, where: str) -> GenesisValidator:
    if not isinstance(value, dict):
        raise ConfigError(f"genesis {where} must be an object with pub_key and power")
    key = value.get("pub_key")
    if isinstance(key, dict):  # genesis.json's own shape: {"type": …, "value": …}
        key = key.get("value")
    try:
        raw = base64.b64decode(key, validate=True) if isinstance(key, str) else b""
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise ConfigError(f"genesis {where}.pub_key must be a base64 ed25519 public key")
    power = _int(value.get("power", 0), f"{where}.power")
    if not 1 <= power <= MAX_VALIDATOR_POWER:
        raise ConfigError(f"genesis {where}.power must be 1..{MAX_VALIDATOR_POWER}")
    return GenesisValidator(base64.b64encode(raw).decode(), power)


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise ConfigError(f"genesis {where} must be a list")
    return value


def _check_unique(values: list[str], message: str) -> None:
    seen: set[str] = set()
    for v in values:
        if v in seen:
            raise ConfigError(f"genesis app_state: {message.format(v)}")
        seen.add(v)


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise ConfigError(f"genesis {where} must be an integer")
    if isinstance(value, int):
        result = value
    elif isinstance(value, str):
        try:
            result = int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            raise ConfigError(f"genesis {where} must be an integer, got {value!r}") from None
    else:
        raise ConfigError(f"genesis {where} must be an integer")
    if result < 0:
        raise ConfigError(f"genesis {where} must not be negative")
    return result


def _address(value: Any, where: str) -> str:
    if (
        not isinstance(value, str)
        or not value.startswith("0x")
        or len(value) != 42
        or not _is_hex(value[2:])
    ):
        raise ConfigError(f"genesis {where}: {value!r} is not a 20-byte 0x address")
    return value.lower()


def _node_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or len(value) != 40 or not _is_hex(value):
        raise ConfigError(f"genesis {where}: {value!r} is not a 40-hex-digit node id")
    return value.lower()


def _is_hex(text: str) -> bool:
    try:
        int(text, 16)
    except ValueError:
        return False
    return True
