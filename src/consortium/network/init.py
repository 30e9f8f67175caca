"""`consortium init`: create a local network folder with one home per node.

Keys come from CometBFT's own `init` (node key, validator key), the members' Ethereum
accounts from eth-account (V3 keystores). One genesis.json, whose app_state names the
members, their accounts and their nodes, is written into every home.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import tomlkit
from eth_account import Account

from consortium.apps.invoices.fingerprint import KEY_FILE_NAME, new_key, write_key
from consortium.errors import ConfigError, EngineError, NetworkError
from consortium.ledger.genesis import (
    DEFAULT_BLOCK_GAS_LIMIT,
    DEFAULT_ETH_CHAIN_ID,
    AppState,
    GenesisMember,
    GenesisValidator,
    GovernanceGenesis,
)
from consortium.network.engine import require_cometbft
from consortium.network.layout import MemberEntry, Network, NodeEntry
from consortium.network.node_config import DEFAULT_ENGINE, ENGINES, NodeConfig

DEFAULT_BASE_PORT = 26650
DEFAULT_API_PORT = 8545
VALIDATOR_POWER = 10  # every genesis validator's voting power
DEV_BALANCE_WEI = 10**24  # one million ether-units per member account on a local network
DEV_KDF_ITERATIONS = 2  # scrypt cost for *development* keystores only (log2 n is tiny)

Progress = Callable[[str], None]


def default_member_names(count: int) -> list[str]:
    return [f"Bank {chr(ord('A') + i)}" if i < 26 else f"Member {i + 1}" for i in range(count)]


def slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "member"


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class _PortPicker:
    """Hands out distinct free loopback ports, starting from a base."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    def pick(self, start: int) -> int:
        port = start
        while port <= 65535:
            if port not in self.taken and port_free(port):
                self.taken.add(port)
                return port
            port += 1
        raise NetworkError(f"no free port at or above {start}")


def node_id_from_key(node_key_file: Path) -> str:
    """CometBFT's node id: the first 20 bytes of SHA-256 of the ed25519 public key."""
    data = json.loads(node_key_file.read_text())
    raw = base64.b64decode(data["priv_key"]["value"])
    return hashlib.sha256(raw[32:]).digest()[:20].hex()


def init_network(
    root: Path,
    *,
    validators: int,
    members: list[str] | None = None,
    chain_id: str = "consortium-local",
    eth_chain_id: int = DEFAULT_ETH_CHAIN_ID,
    base_port: int = DEFAULT_BASE_PORT,
    api_port: int = DEFAULT_API_PORT,
    production: bool = False,
    password: str = "",
    force: bool = False,
    timeout_commit: str = "500ms",
    roles: dict[str, list[str]] | None = None,
    engine: str = DEFAULT_ENGINE,
    progress: Progress = lambda _msg: None,
) -> Network:
    """Create every node home, key and account of a local network under `root`.

    `roles` gives members' accounts roles at genesis beyond `member` and `committee`
    (member name -> roles, e.g. {"Bank A": ["financing_bank"]}); later changes are
    grant-role / revoke-role proposals. Every node home gets the same consortium key
    (`consortium.key`, named by `[consortium] key_file` in consortium.toml). `engine` is every
    node's execution engine (`[node] engine`: "revm" or "py-evm")."""
    if validators < 1 or validators > 64:
        raise ConfigError("--validators must be between 1 and 64")
    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}")
    names = members if members else default_member_names(validators)
    names = [n.strip() for n in names]
    if any(not n for n in names):
        raise ConfigError("--members has an empty name")
    if len(set(n.lower() for n in names)) != len(names):
        raise ConfigError("--members lists a name twice")
    if len(set(slug(n) for n in names)) != len(names):
        raise ConfigError("--members has names that differ only in punctuation or case")
    if production and not password:
        raise ConfigError("--production needs a keystore password (--password-file)")
    roles = _check_roles(roles or {}, names)
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,50}", chain_id):
        raise ConfigError("--chain-id may use letters, digits, '.', '_' and '-' (at most 50)")
    root = root.resolve()
    if root.exists() and any(root.iterdir()):
        if not force:
            raise NetworkError(f"{root} already exists; pass --force to replace it")
        if (root / "network.json").is_file():
            _refuse_if_running(root)
        shutil.rmtree(root)
    binary = require_cometbft()
    root.mkdir(parents=True, exist_ok=True)

    # Members and their accounts.
    (root / "keystores").mkdir()
    dev_accounts: dict[str, dict[str, str]] = {}
    member_entries: list[MemberEntry] = []
    for name in names:
        acct = Account.create()
        kdf = {"iterations": DEV_KDF_ITERATIONS} if not production else {}
        keystore = Account.encrypt(acct.key, password, kdf="pbkdf2", **kdf)
        rel = f"keystores/{slug(name)}.json"
        (root / rel).write_text(json.dumps(keystore, indent=2) + "\n")
        (root / rel).chmod(0o600)
        member_entries.append(MemberEntry(name=name, address=acct.address, keystore=rel))
        dev_accounts[name] = {"address": acct.address, "private_key": acct.key.hex()}
        progress(f"account {acct.address} for {name}")

    # Node homes: keys from `cometbft init`, ports picked free.
    ports = _PortPicker()
    node_entries: list[NodeEntry] = []
    for i in range(validators):
        name = f"node{i}"
        home = root / "nodes" / name
        result = subprocess.run(
            [str(binary), "init", "--home", str(home)], capture_output=True, text=True
        )
        if result.returncode != 0:
            raise EngineError(f"cometbft init failed for {name}: {result.stderr.strip()[-200:]}")
        pv = json.loads((home / "config" / "priv_validator_key.json").read_text())
        node_entries.append(
            NodeEntry(
                name=name,
                member=names[i % len(names)],
                home=f"nodes/{name}",
                node_id=node_id_from_key(home / "config" / "node_key.json"),
                validator_pub_key=pv["pub_key"]["value"],
                p2p_port=ports.pick(base_port + 10 * i),
                rpc_port=ports.pick(base_port + 10 * i + 1),
                api_port=ports.pick(api_port + i),
            )
        )
        progress(f"node {name} for {node_entries[-1].member}")

    app_state = AppState(
        eth_chain_id=eth_chain_id,
        block_gas_limit=DEFAULT_BLOCK_GAS_LIMIT,
        members=tuple(
            GenesisMember(
                name=m.name,
                tier="founding",
                accounts=(m.address.lower(),),
                nodes=tuple(n.node_id for n in node_entries if n.member == m.name),
                validators=tuple(
                    GenesisValidator(n.validator_pub_key, VALIDATOR_POWER)
                    for n in node_entries
                    if n.member == m.name
                ),
            )
            for m in member_entries
        ),
        alloc={} if production else {m.address.lower(): DEV_BALANCE_WEI for m in member_entries},
        governance=_genesis_roles(roles, member_entries),
    )
    genesis = _genesis(root, chain_id, node_entries, app_state)
    consortium_key = new_key()  # shared by the members, never on chain
    network = Network(root, chain_id, eth_chain_id, production, node_entries, member_entries)
    for node in node_entries:
        home = network.node_home(node)
        (home / "config" / "genesis.json").write_text(json.dumps(genesis, indent=2) + "\n")
        peers = [p for p in node_entries if p is not node]
        write_cometbft_config(home, node, peers, timeout_commit=timeout_commit)
        write_key(home / KEY_FILE_NAME, consortium_key)
        NodeConfig(
            home=home, name=node.name, member=node.member, api_port=node.api_port,
            consortium_key_file=KEY_FILE_NAME, engine=engine,
        ).save()
    network.save()
    if not production:
        dev = {
            "WARNING": "INSECURE development keys of a local network. Never use them elsewhere.",
            "chain_id": eth_chain_id,
            "accounts": dev_accounts,
        }
        (root / "dev-accounts.json").write_text(json.dumps(dev, indent=2) + "\n")
    progress(f"network {chain_id} with {validators} validators written to {root}")
    return network


def _check_roles(roles: dict[str, list[str]], names: list[str]) -> dict[str, list[str]]:
    """Genesis roles by member name, checked (names as `names` spells them)."""
    from consortium.system.model import ROLES

    out: dict[str, list[str]] = {}
    for name, wanted in roles.items():
        member = next((n for n in names if n.lower() == name.strip().lower()), None)
        if member is None:
            raise ConfigError(f"--role names no member {name!r} (members: {', '.join(names)})")
        for role in wanted:
            if role not in ROLES:
                raise ConfigError(f"unknown role {role!r} (roles: {', '.join(ROLES)})")
        out[member] = list(dict.fromkeys([*out.get(member, []), *wanted]))
    return out


def _genesis_roles(
    roles: dict[str, list[str]], members: list[MemberEntry]
) -> GovernanceGenesis:
    """The genesis' extra roles, by account."""
    return GovernanceGenesis(
        roles={m.address.lower(): tuple(roles[m.name]) for m in members if roles.get(m.name)}
    )


def _genesis(
    root: Path, chain_id: str, nodes: list[NodeEntry], app_state: AppState
) -> dict[str, object]:
    first = json.loads((root / nodes[0].home / "config" / "genesis.json").read_text())
    validators = []
    for node in nodes:
        pv = json.loads((root / node.home / "config" / "priv_validator_key.json").read_text())
        validators.append(
            {
                "address": pv["address"],
                "pub_key": pv["pub_key"],
                "power": str(VALIDATOR_POWER),
                "name": node.name,
            }
        )
    params = first["consensus_params"]
    # Proposals must fit the ledger's block gas limit: CometBFT's mempool reaps by the gas
    # each CheckTx wanted (the transaction's gas limit). Unlimited (its default), a block of
    # heavy transactions overran it, execution refused the tail, and the mempool then dropped
    # those senders' later nonces.
    params["block"]["max_gas"] = str(app_state.block_gas_limit)
    return {
        "genesis_time": first["genesis_time"],
        "chain_id": chain_id,
        "initial_height": "1",
        "consensus_params": params,
        "validators": validators,
        "app_hash": "",
        "app_state": app_state.to_json(),
    }


def write_cometbft_config(
    home: Path, node: NodeEntry, peers: list[NodeEntry], *, timeout_commit: str = "500ms"
) -> None:
    """Set what a local consortium node needs in CometBFT's config.toml, keeping the rest."""
    path = home / "config" / "config.toml"
    doc = tomlkit.parse(path.read_text())
    cfg = NodeConfig(home=home, name=node.name, member=node.member)
    doc["moniker"] = node.name
    doc["proxy_app"] = f"unix://{cfg.abci_socket}"
    doc["filter_peers"] = True
    doc["log_level"] = "main:info,state:info,p2p:info,consensus:error,*:error"
    rpc = doc["rpc"]
    rpc["laddr"] = f"tcp://127.0.0.1:{node.rpc_port}"
    rpc["max_request_batch_size"] = 1000
    rpc["max_body_bytes"] = 64 * 1024 * 1024
    rpc["timeout_broadcast_tx_commit"] = "30s"
    p2p = doc["p2p"]
    p2p["laddr"] = f"tcp://127.0.0.1:{node.p2p_port}"
    p2p["persistent_peers"] = ",".join(f"{p.node_id}@127.0.0.1:{p.p2p_port}" for p in peers)
    p2p["addr_book_strict"] = False
    p2p["allow_duplicate_ip"] = True
    p2p["persistent_peers_max_dial_period"] = "2s"
    # Consensus messages wait for these before leaving (CometBFT's defaults: 100 ms each),
    # which at a few validators made up most of a block's time; 10 ms halves submit-to-
    # receipt latency for a little more CPU on the p2p threads.
    p2p["flush_throttle_timeout"] = "10ms"
    mempool = doc["mempool"]
    mempool["size"] = 50000
    mempool["cache_size"] = 100000
    consensus = doc["consensus"]
    consensus["peer_gossip_sleep_duration"] = "10ms"
    consensus["timeout_propose"] = "1s"
    consensus["timeout_prevote"] = "300ms"
    consensus["timeout_precommit"] = "300ms"
    consensus["timeout_commit"] = timeout_commit
    doc["tx_index"]["indexer"] = "null"  # the ledger keeps its own indexes
    path.write_text(tomlkit.dumps(doc))


def _refuse_if_running(root: Path) -> None:
    from consortium.network.supervisor import running_nodes

    live = running_nodes(Network.load(root))
    if live:
        raise NetworkError(
            f"{root} has running nodes ({', '.join(live)}); stop them with `consortium down`"
        )
