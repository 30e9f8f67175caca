"""The consortium's genesis: the `app_state` section of CometBFT's genesis.json.

`consortium init` writes it and the ledger reads it in InitChain. It is parsed into typed,
validated objects here, once, so a malformed genesis fails with a message naming the field
instead of a KeyError deep inside the node.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from consortium.errors import ConfigError

DEFAULT_ETH_CHAIN_ID = 20251
DEFAULT_BLOCK_GAS_LIMIT = 1_000_000_000
MEMBER_TIERS = ("founding", "ordinary", "observer")


@dataclass(frozen=True)
class GenesisMember:
    """A member institution present at genesis: its accounts sign, its nodes may peer."""

    name: str
    tier: str
    accounts: tuple[str, ...]  # 0x-prefixed, lower-case addresses
    nodes: tuple[str, ...]  # CometBFT node ids (40 lower-case hex chars)


@dataclass(frozen=True)
class AppState:
    """Everything the ledger needs to build its state at height 0."""

    eth_chain_id: int
    block_gas_limit: int
    members: tuple[GenesisMember, ...]
    alloc: dict[str, int] = field(default_factory=dict)  # address -> wei

    def member_accounts(self) -> set[str]:
        return {a for m in self.members for a in m.accounts}

    def node_ids(self) -> set[str]:
        return {n for m in self.members for n in m.nodes}

    def to_json(self) -> dict[str, Any]:
        return {
            "eth_chain_id": self.eth_chain_id,
            "block_gas_limit": self.block_gas_limit,
            "members": [
                {
                    "name": m.name,
                    "tier": m.tier,
                    "accounts": list(m.accounts),
                    "nodes": list(m.nodes),
                }
                for m in self.members
            ],
            "alloc": {addr: {"balance": hex(wei)} for addr, wei in sorted(self.alloc.items())},
        }

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
            members.append(GenesisMember(name, tier, accounts, nodes))
        alloc_raw = data.get("alloc", {})
        if not isinstance(alloc_raw, dict):
            raise ConfigError("genesis app_state.alloc must be an object")
        alloc = {}
        for addr, entry in alloc_raw.items():
            where = f"app_state.alloc[{addr}]"
            if not isinstance(entry, dict):
                raise ConfigError(f"{where} must be an object with a balance")
            alloc[_address(addr, where)] = _int(entry.get("balance", 0), f"{where}.balance")
        return cls(chain_id, gas_limit, tuple(members), alloc)


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
