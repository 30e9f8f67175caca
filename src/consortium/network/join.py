"""`consortium join`: a new institution's own node home and account, ready to be admitted.

The institution runs this on its own machine with the consortium's genesis.json and one
existing node as its peer. It gets a network folder of its own (so `consortium up / status /
down --dir DIR` work on it) holding one node home — keys from CometBFT's `init`, the given
genesis, a config with the peer as persistent peer and `filter_peers = true` — and one account
keystore. What the consortium's admission proposals name is printed: the node id (peer
filter), the validator's consensus public key (validator set) and the account address.

Until a vote admits the node id, the consortium's nodes refuse it as a peer; once admitted
it connects and syncs; a second vote (add-validator with the printed key) makes it a validator.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import tomlkit
from eth_account import Account

from consortium.errors import ConfigError, EngineError, NetworkError
from consortium.ledger.genesis import AppState
from consortium.network.engine import require_cometbft
from consortium.network.init import (
    DEFAULT_API_PORT,
    DEFAULT_BASE_PORT,
    DEV_KDF_ITERATIONS,
    _PortPicker,
    node_id_from_key,
    slug,
    write_cometbft_config,
)
from consortium.network.layout import MemberEntry, Network, NodeEntry
from consortium.network.node_config import NodeConfig

_PEER = re.compile(r"^([0-9a-fA-F]{40})@([^@:\s]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$")


@dataclass(frozen=True)
class Peer:
    node_id: str
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.node_id}@{self.host}:{self.port}"

    @property
    def is_loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host.strip("[]")).is_loopback
        except ValueError:
            return False


def parse_peer(text: str) -> Peer:
    """ID@HOST:PORT, as CometBFT names a peer (the id is the node id, 40 hex digits)."""
    match = _PEER.match(text.strip())
    if not match or not 1 <= int(match.group(3)) <= 65535:
        raise ConfigError(
            f"--peer must look like NODE_ID@HOST:PORT (a 40-hex-digit node id), got {text!r}"
        )
    return Peer(match.group(1).lower(), match.group(2), int(match.group(3)))


@dataclass(frozen=True)
class JoinResult:
    name: str
    root: str
    home: str
    node_id: str
    validator_pub_key: str  # base64 ed25519, as add-validator wants it
    validator_address: str  # CometBFT's address of that key (in /validators and commits)
    account: str
    keystore: str
    chain_id: str
    peer: str
    p2p_port: int
    rpc_port: int
    api_port: int

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def join_network(
    root: Path,
    *,
    genesis_file: Path,
    peer: str,
    name: str,
    p2p_port: int | None = None,
    rpc_port: int | None = None,
    api_port: int | None = None,
    listen: str | None = None,
    external_address: str = "",
    password: str = "",
    timeout_commit: str = "500ms",
    force: bool = False,
) -> JoinResult:
    """Create the institution's network folder at `root` (see the module's description)."""
    name = name.strip()
    if not name:
        raise ConfigError("--name must not be empty")
    the_peer = parse_peer(peer)
    genesis = _read_genesis(genesis_file)
    app_state = AppState.from_json(genesis.get("app_state", {}))
    for member in app_state.members:
        if member.name.lower() == name.lower():
            raise ConfigError(f"the genesis already has a member named {member.name!r}")
    root = root.expanduser().resolve()
    if root.exists() and any(root.iterdir()):
        if not force:
            raise NetworkError(f"{root} already exists; pass --force to replace it")
        if (root / "network.json").is_file():
            from consortium.network.supervisor import running_nodes

            if running_nodes(Network.load(root)):
                raise NetworkError(f"{root} has a running node; stop it with `consortium down`")
        shutil.rmtree(root)
    binary = require_cometbft()
    root.mkdir(parents=True, exist_ok=True)

    node_name = slug(name)
    home = root / "nodes" / node_name
    result = subprocess.run(
        [str(binary), "init", "--home", str(home)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise EngineError(f"cometbft init failed: {result.stderr.strip()[-200:]}")
    (home / "config" / "genesis.json").write_text(genesis_file.read_text())
    pv = json.loads((home / "config" / "priv_validator_key.json").read_text())

    ports = _PortPicker()
    entry = NodeEntry(
        name=node_name,
        member=name,
        home=f"nodes/{node_name}",
        node_id=node_id_from_key(home / "config" / "node_key.json"),
        validator_pub_key=pv["pub_key"]["value"],
        p2p_port=_port(ports, p2p_port, DEFAULT_BASE_PORT, "--p2p-port"),
        rpc_port=_port(ports, rpc_port, DEFAULT_BASE_PORT + 1, "--rpc-port"),
        api_port=_port(ports, api_port, DEFAULT_API_PORT, "--api-port"),
        validator=False,
    )
    write_cometbft_config(home, entry, [], timeout_commit=timeout_commit)
    host = listen or ("127.0.0.1" if the_peer.is_loopback else "0.0.0.0")
    _set_peer(home, the_peer, host, entry.p2p_port, external_address)
    NodeConfig(home=home, name=entry.name, member=name, api_port=entry.api_port).save()

    acct = Account.create()
    kdf: dict[str, Any] = (
        {"kdf": "pbkdf2", "iterations": DEV_KDF_ITERATIONS} if not password else {}
    )
    keystore = f"keystores/{node_name}.json"
    (root / "keystores").mkdir()
    (root / keystore).write_text(
        json.dumps(Account.encrypt(acct.key, password, **kdf), indent=2) + "\n"
    )
    (root / keystore).chmod(0o600)

    network = Network(
        root,
        str(genesis["chain_id"]),
        app_state.eth_chain_id,
        True,
        [entry],
        [MemberEntry(name=name, address=acct.address, keystore=keystore)],
    )
    network.save()
    return JoinResult(
        name=name,
        root=str(root),
        home=str(home),
        node_id=entry.node_id,
        validator_pub_key=entry.validator_pub_key,
        validator_address=pv["address"].upper(),
        account=acct.address.lower(),
        keystore=str(root / keystore),
        chain_id=network.chain_id,
        peer=str(the_peer),
        p2p_port=entry.p2p_port,
        rpc_port=entry.rpc_port,
        api_port=entry.api_port,
    )


def _read_genesis(path: Path) -> dict[str, object]:
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read --genesis {path}: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"--genesis {path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or "chain_id" not in data or "app_state" not in data:
        raise ConfigError(
            f"--genesis {path} is not a consortium genesis.json (no chain_id or app_state)"
        )
    return data


def _port(ports: _PortPicker, wanted: int | None, start: int, option: str) -> int:
    if wanted is None:
        return ports.pick(start)
    if not 1 <= wanted <= 65535:
        raise ConfigError(f"{option} must be a port number (1-65535)")
    if ports.pick(wanted) != wanted:
        raise NetworkError(f"{option} {wanted} is in use")
    return wanted


def _set_peer(home: Path, peer: Peer, host: str, p2p_port: int, external_address: str) -> None:
    """The one persistent peer, the listen address and (across machines) the address the
    other nodes should dial back."""
    path = home / "config" / "config.toml"
    doc = tomlkit.parse(path.read_text())
    p2p = doc["p2p"]
    p2p["persistent_peers"] = str(peer)  # type: ignore[index]
    p2p["laddr"] = f"tcp://{host}:{p2p_port}"  # type: ignore[index]
    if external_address:
        p2p["external_address"] = external_address  # type: ignore[index]
    path.write_text(tomlkit.dumps(doc))
