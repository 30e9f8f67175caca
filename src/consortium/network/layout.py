"""The on-disk layout of a local network folder, described by `DIR/network.json`.

```
DIR/network.json          this description
DIR/dev-accounts.json     insecure development keys (not with --production)
DIR/keystores/*.json      V3 keystores of the members' accounts
DIR/nodes/<name>/         one node home: CometBFT config/ and data/, the ledger's app/,
                          consortium.toml, node.log, node.pid
```
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from consortium.errors import ConfigError, NetworkError

DEFAULT_DIR = Path("consortium-net")
NETWORK_FILE = "network.json"


class JsonFields:
    """A result whose JSON (what `--json` prints) is its dataclass fields."""

    def to_json(self) -> dict[str, object]:
        return asdict(self)  # type: ignore[call-overload]


@dataclass
class NodeEntry:
    name: str
    member: str
    home: str  # relative to the network folder
    node_id: str
    validator_pub_key: str  # base64 ed25519
    p2p_port: int
    rpc_port: int
    api_port: int
    validator: bool = True
    prometheus_port: int = 0  # CometBFT's own metrics (0: a free port near rpc_port)

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"


@dataclass
class MemberEntry:
    name: str
    address: str
    keystore: str  # relative to the network folder


@dataclass
class Network:
    """A local network folder and what `consortium init` put in it."""

    root: Path
    chain_id: str
    eth_chain_id: int
    production: bool
    nodes: list[NodeEntry] = field(default_factory=list)
    members: list[MemberEntry] = field(default_factory=list)

    def node_home(self, node: NodeEntry) -> Path:
        return self.root / node.home

    def node(self, name: str) -> NodeEntry:
        for node in self.nodes:
            if node.name == name:
                return node
        raise ConfigError(f"no node named {name!r} in {self.root} (nodes: {self.node_names()})")

    def node_names(self) -> str:
        return ", ".join(n.name for n in self.nodes)

    def member(self, name_or_address: str) -> MemberEntry | None:
        key = name_or_address.lower()
        for m in self.members:
            if m.name.lower() == key or m.address.lower() == key:
                return m
        return None

    def save(self) -> None:
        data = {
            "chain_id": self.chain_id,
            "eth_chain_id": self.eth_chain_id,
            "production": self.production,
            "nodes": [asdict(n) for n in self.nodes],
            "members": [asdict(m) for m in self.members],
        }
        (self.root / NETWORK_FILE).write_text(json.dumps(data, indent=2) + "\n")

    @classmethod
    def load(cls, root: Path) -> Network:
        path = root / NETWORK_FILE
        if not path.is_file():
            raise NetworkError(_not_a_network_folder(root))
        try:
            data: dict[str, Any] = json.loads(path.read_text())
            return cls(
                root=root,
                chain_id=data["chain_id"],
                eth_chain_id=int(data["eth_chain_id"]),
                production=bool(data.get("production", False)),
                nodes=[NodeEntry(**n) for n in data["nodes"]],
                members=[MemberEntry(**m) for m in data.get("members", [])],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(f"{path} is malformed: {exc}") from None


def _not_a_network_folder(root: Path) -> str:
    """Why `root` is no network folder, and what to give instead: a node home inside a
    network folder (`consortium init`'s or `consortium join`'s DIR/nodes/NAME) names that
    folder; anything else names the three kinds of folder --dir takes."""
    outer = root.parent.parent
    if root.parent.name == "nodes" and (outer / NETWORK_FILE).is_file():
        return f"{root} is a node home inside the network folder {outer}: give --dir {outer}"
    return (f"{root} is not a consortium network folder (no {NETWORK_FILE}): give --dir a "
            "local network (made by `consortium init`), a member's node home (`consortium node "
            "setup --out`) or the folder `consortium join --dir` made")
