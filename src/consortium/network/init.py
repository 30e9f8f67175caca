"""`consortium init`: create a local network folder with one home per node.

Keys come from CometBFT's own `init` (node key, validator key), the members' Ethereum
accounts from eth-account (V3 keystores). One genesis.json, whose app_state names the
members, their accounts and their nodes, is written into every home.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
from consortium.network.ports import port_free

DEFAULT_BASE_PORT = 26650
DEFAULT_API_PORT = 8545
VALIDATOR_POWER = 10  # every genesis validator's voting power
DEV_BALANCE_WEI = 10**24  # one million ether-units per member account on a local network
DEV_KDF_ITERATIONS = 2  # pbkdf2 cost for *development* keystores only
ED25519_KEY_TYPE = "tendermint/PubKeyEd25519"

Progress = Callable[[str], None]


def default_member_names(count: int) -> list[str]:
    return [f"Bank {chr(ord('A') + i)}" if i < 26 else f"Member {i + 1}" for i in range(count)]


SLUG_HASH_DIGITS = 8  # of SHA-256, after a slug that had to leave letters out
# Latin letters that NFKD does not decompose into an ASCII letter and an accent
_LATIN_LETTERS = str.maketrans({"ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d",
                                "þ": "th", "ı": "i", "ħ": "h", "ŧ": "t", "ŀ": "l"})


def slug(name: str) -> str:
    """A member's name as files and nodes spell it (keystores, key envelopes, node names,
    which CometBFT takes as monikers: non-empty ASCII only): lower-case ASCII letters and
    digits, words joined by '-'.

    An ASCII name's slug is what it always was ("Bank A" -> "bank-a"), so the files of
    existing networks keep their names. Accents are dropped ("Société Générale" ->
    "societe-generale"). A name with letters ASCII cannot spell (Chinese, Cyrillic, …) keeps
    its ASCII part, else "member", and gets 8 hex digits of its SHA-256 (NFC, case-folded):
    "工商银行" and "建设银行" must not name the same files or be refused as one name."""
    if name.isascii():
        return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "member"
    kept: list[str] = []
    spelled_out = True
    for ch in unicodedata.normalize("NFKD", name.casefold().translate(_LATIN_LETTERS)):
        kind = unicodedata.category(ch)[0]
        if ch.isascii():
            kept.append(ch)
        elif kind in "PZ":  # punctuation and spaces part words, as in ASCII
            kept.append(" ")
        elif kind != "M":  # a combining mark is an accent, dropped
            spelled_out = False
    base = re.sub(r"[^a-z0-9]+", "-", "".join(kept)).strip("-")
    if spelled_out:
        return base or "member"
    digest = hashlib.sha256(unicodedata.normalize("NFC", name).casefold().encode()).hexdigest()
    return f"{base or 'member'}-{digest[:SLUG_HASH_DIGITS]}"


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
    block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
    progress: Progress = lambda _msg: None,
) -> Network:
    """Create every node home, key and account of a local network under `root`.

    `roles` gives members' accounts roles at genesis beyond `member` and `committee`
    (member name -> roles, e.g. {"Bank A": ["financing_bank"]}); later changes are
    grant-role / revoke-role proposals. Every node home gets the same consortium key
    (`consortium.key`, named by `[consortium] key_file` in consortium.toml). `engine` is every
    node's execution engine (`[node] engine`: "revm" or "py-evm"); `block_gas_limit` the gas
    a block may use in all (genesis, for the chain's life)."""
    if validators < 1 or validators > 64:
        raise ConfigError("--validators must be between 1 and 64")
    check_block_gas_limit(block_gas_limit)
    if engine not in ENGINES:
        raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}")
    names = members if members else default_member_names(validators)
    names = [n.strip() for n in names]
    if any(not n for n in names):
        raise ConfigError("--members has an empty name")
    if len(set(n.lower() for n in names)) != len(names):
        raise ConfigError("--members lists a name twice")
    slugs: dict[str, str] = {}
    for n in names:
        other = slugs.setdefault(slug(n), n)
        if other != n:
            raise ConfigError(
                f"--members has names that differ only in accents, punctuation or case "
                f"({other!r} and {n!r} would both name {slug(n)!r} files): change one"
            )
    if production and not password:
        raise ConfigError("--production needs a keystore password (--password-file)")
    roles = _check_roles(roles or {}, names)
    check_chain_id(chain_id)
    check_timeout_commit(timeout_commit)
    root = root.resolve()
    with fresh_folder(root, force=force):
        # Members and their accounts.
        (root / "keystores").mkdir()
        dev_accounts: dict[str, dict[str, str]] = {}
        member_entries: list[MemberEntry] = []
        for name in names:
            acct = Account.create()
            rel = f"keystores/{slug(name)}.json"
            write_keystore(root / rel, acct.key, password, fast=not production)
            member_entries.append(MemberEntry(name=name, address=acct.address, keystore=rel))
            dev_accounts[name] = {"address": acct.address, "private_key": acct.key.hex()}
            progress(f"account {acct.address} for {name}")

        # Node homes: keys from `cometbft init`, ports picked free.
        ports = _PortPicker()
        node_entries: list[NodeEntry] = []
        for i in range(validators):
            name = f"node{i}"
            home = root / "nodes" / name
            cometbft_init(home, name)
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
                    prometheus_port=ports.pick(base_port + 10 * i + 2),
                )
            )
            progress(f"node {name} for {node_entries[-1].member}")

        app_state = genesis_app_state(
            [
                FoundingMember(
                    m.name,
                    m.address,
                    tuple(n.node_id for n in node_entries if n.member == m.name),
                    tuple(n.validator_pub_key for n in node_entries if n.member == m.name),
                )
                for m in member_entries
            ],
            eth_chain_id=eth_chain_id,
            roles=roles,
            dev_balances=not production,
            block_gas_limit=block_gas_limit,
        )
        template = json.loads((root / node_entries[0].home / "config" / "genesis.json").read_text())
        genesis = genesis_document(
            template, chain_id, [(n.name, n.validator_pub_key) for n in node_entries], app_state
        )
        consortium_key = new_key()  # shared by the members, never on chain
        network = Network(root, chain_id, eth_chain_id, production, node_entries, member_entries)
        for index, node in enumerate(node_entries):
            home = network.node_home(node)
            (home / "config" / "genesis.json").write_text(json.dumps(genesis, indent=2) + "\n")
            # each pair of nodes is dialed by one side only (the later node dials the
            # earlier): two nodes dialing each other at once can each keep its own outbound
            # connection and refuse the other's as a duplicate, and CometBFT 0.38 has been
            # seen to stay split that way (a 2-validator test network stuck at height 0 for
            # 90 s; cometbft#3697). Either side's restart is still redialed: the later node
            # dials at start, and keeps redialing an earlier one that went away.
            peers = list(node_entries[:index])
            write_cometbft_config(home, node, peers, timeout_commit=timeout_commit)
            write_key(home / KEY_FILE_NAME, consortium_key)
            NodeConfig(
                home=home, name=node.name, member=node.member, api_port=node.api_port,
                consortium_key_file=KEY_FILE_NAME, engine=engine,
            ).save()
        network.save()
        if not production:
            dev = {
                "WARNING": "INSECURE development keys of a local network. "
                "Never use them elsewhere.",
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


def check_timeout_commit(value: str) -> None:
    """A Go duration CometBFT reads, e.g. "500ms" or "1s"."""
    if not re.fullmatch(r"0|(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", value):
        raise ConfigError(f"--timeout-commit must be a duration like 500ms or 1s, got {value!r}")


MIN_BLOCK_GAS_LIMIT = 30_000_000  # a deployment of the largest initcode must fit a block
MAX_BLOCK_GAS_LIMIT = 10**15  # far above any block a node executes in seconds; CometBFT's
# sum of a proposal's gas wanted (an int64) cannot overflow below it


def check_block_gas_limit(limit: int) -> None:
    """The gas every block may use in all (the genesis's `block_gas_limit`; CometBFT's
    `max_gas` reaps proposals by it)."""
    if not MIN_BLOCK_GAS_LIMIT <= limit <= MAX_BLOCK_GAS_LIMIT:
        raise ConfigError(f"--block-gas-limit must be between {MIN_BLOCK_GAS_LIMIT:,} and "
                          f"{MAX_BLOCK_GAS_LIMIT:,}, got {limit:,}")


def check_chain_id(chain_id: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9._-]{1,50}", chain_id):
        raise ConfigError("--chain-id may use letters, digits, '.', '_' and '-' (at most 50)")


def parse_roles(entries: Sequence[str]) -> dict[str, list[str]]:
    """`--role "Bank A=regulator,financing_bank"` options, by member name (unchecked)."""
    roles: dict[str, list[str]] = {}
    for entry in entries:
        member, sep, wanted = entry.partition("=")
        if not sep or not member.strip() or not wanted.strip():
            raise ConfigError(f"--role {entry!r}: expected MEMBER=ROLE[,ROLE…]")
        roles.setdefault(member.strip(), []).extend(r.strip() for r in wanted.split(","))
    return roles


@dataclass(frozen=True)
class FoundingMember:
    """What the genesis says of a member present from the start: public parts only."""

    name: str
    account: str  # 0x address
    node_ids: tuple[str, ...]
    validator_pub_keys: tuple[str, ...]  # base64 ed25519


# The native contracts' versions a new chain starts at (genesis `native_versions`).
NEW_CHAIN_NATIVE_VERSIONS = {"Nodes": 2, "Privacy": 1, "Securities": 4, "Invoices": 2,
                             "Registry": 2}


def genesis_app_state(
    members: Sequence[FoundingMember],
    *,
    eth_chain_id: int,
    roles: dict[str, list[str]],
    dev_balances: bool,
    block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
) -> AppState:
    """The ledger's `app_state`: the members, their accounts, nodes and validators, their
    genesis roles (checked by name), the block gas limit and, on a development network, a
    balance per account."""
    roles = _check_roles(roles, [m.name for m in members])
    check_block_gas_limit(block_gas_limit)
    return AppState(
        eth_chain_id=eth_chain_id,
        block_gas_limit=block_gas_limit,
        members=tuple(
            GenesisMember(
                name=m.name,
                tier="founding",
                accounts=(m.account.lower(),),
                nodes=m.node_ids,
                validators=tuple(
                    GenesisValidator(key, VALIDATOR_POWER) for key in m.validator_pub_keys
                ),
            )
            for m in members
        ),
        alloc={m.account.lower(): DEV_BALANCE_WEI for m in members} if dev_balances else {},
        governance=GovernanceGenesis(
            roles={m.account.lower(): tuple(roles[m.name]) for m in members if roles.get(m.name)}
        ),
        # Nodes 2 records the founders' validators as theirs: expelling removes them;
        # Privacy: the chain has privacy groups (docs/privacy.md); Securities 2: a mint
        # checks its recipient's eligibility (docs/services/securities.md), 3 also packs its
        # trades, 4 makes an order's path lean; Invoices 2 and Registry 2: their storage
        # packed (docs/services/*.md)
        native_versions=dict(NEW_CHAIN_NATIVE_VERSIONS),
        native_gas=2,  # natives' writes priced as the EVM's SSTORE (docs/evm.md)
        evm_clock=2,  # the EVM's clock keeps wall time under sub-second blocks (docs/evm.md)
    )


def validator_address(pub_key: str) -> str:
    """CometBFT's address of an ed25519 key: the first 20 bytes of its SHA-256, upper hex."""
    return hashlib.sha256(base64.b64decode(pub_key)).digest()[:20].hex().upper()


def genesis_document(
    template: dict[str, Any],
    chain_id: str,
    validators: Sequence[tuple[str, str]],
    app_state: AppState,
) -> dict[str, object]:
    """genesis.json: `template` (a genesis `cometbft init` wrote, for its time and consensus
    parameters), the validators as (name, base64 ed25519 key) at equal power, the app state."""
    params = template["consensus_params"]
    # Proposals must fit the ledger's block gas limit: CometBFT's mempool reaps by the gas
    # each CheckTx wanted (the transaction's gas limit). Unlimited (its default), a block of
    # heavy transactions overran it, execution refused the tail, and the mempool then dropped
    # those senders' later nonces.
    params["block"]["max_gas"] = str(app_state.block_gas_limit)
    return {
        "genesis_time": template["genesis_time"],
        "chain_id": chain_id,
        "initial_height": "1",
        "consensus_params": params,
        "validators": [
            {
                "address": validator_address(key),
                "pub_key": {"type": ED25519_KEY_TYPE, "value": key},
                "power": str(VALIDATOR_POWER),
                "name": name,
            }
            for name, key in validators
        ],
        "app_hash": "",
        "app_state": app_state.to_json(),
    }


def cometbft_init(home: Path, what: str) -> None:
    """CometBFT's own `init`: config.toml, a genesis template, a node key, a validator key."""
    binary = require_cometbft()
    result = subprocess.run(
        [str(binary), "init", "--home", str(home)], capture_output=True, text=True
    )
    if result.returncode != 0:
        raise EngineError(f"cometbft init failed for {what}: {result.stderr.strip()[-200:]}")


def write_keystore(path: Path, private_key: bytes, password: str, *, fast: bool) -> str:
    """A V3 keystore (eth-account) readable by its owner only; `fast` is a trivial KDF cost,
    for development keys. Returns the key's address."""
    kdf: dict[str, Any] = {"kdf": "pbkdf2", "iterations": DEV_KDF_ITERATIONS} if fast else {}
    keystore = Account.encrypt(private_key, password, **kdf)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(keystore, indent=2) + "\n")
    path.chmod(0o600)
    return Account.from_key(private_key).address


@contextlib.contextmanager
def fresh_folder(
    root: Path,
    *,
    force: bool = False,
    mode: int = 0o755,
    refusal: str = "pass --force to replace it",
) -> Iterator[Path]:
    """Make `root` for a command to fill, and leave nothing behind if the command fails.

    An existing non-empty folder is refused (with `refusal` as advice) unless `force`;
    `force` replaces only a folder this tool made (a network folder or node home: it holds
    network.json), never any other (a mistyped --out or --dir must not delete a user's
    files), and never while nodes run in it. On any error what was written is removed, so
    bad input leaves no partial folder."""
    if root.exists() and not root.is_dir():
        raise NetworkError(f"{root} exists and is not a folder")
    existed = root.exists()
    if existed and any(root.iterdir()):
        if not force:
            raise NetworkError(f"{root} already exists; {refusal}")
        if not (root / "network.json").is_file():
            raise NetworkError(
                f"{root} is not a network folder or node home (it has no network.json), so "
                "it is not replaced, even with --force: choose another folder, or empty it "
                "yourself")
        _refuse_if_running(root)
        shutil.rmtree(root)
        existed = False
    root.mkdir(parents=True, exist_ok=True)
    root.chmod(mode)
    try:
        yield root
    except BaseException:
        if existed:  # it was an empty folder: empty it again
            for child in root.iterdir():
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        else:
            shutil.rmtree(root, ignore_errors=True)
        raise


def write_cometbft_config(
    home: Path,
    node: NodeEntry,
    peers: Sequence[NodeEntry | str],
    *,
    timeout_commit: str = "500ms",
    listen_host: str = "127.0.0.1",
    external_address: str = "",
) -> None:
    """Set what a consortium node needs in CometBFT's config.toml, keeping the rest.

    `peers` are the nodes of a local network (on loopback) or ID@HOST:PORT addresses;
    `listen_host` is where P2P listens and `external_address` the HOST:PORT other machines
    dial back (none on a local network)."""
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
    p2p["laddr"] = f"tcp://{listen_host}:{node.p2p_port}"
    p2p["persistent_peers"] = ",".join(
        p if isinstance(p, str) else f"{p.node_id}@127.0.0.1:{p.p2p_port}" for p in peers
    )
    if external_address:
        p2p["external_address"] = external_address
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
    # No CheckTx of the whole mempool again after every block: CometBFT holds its mempool
    # (no admission) until those answers are in: about one recheck per transaction at full load.
    # The ledger carries each sender's pending nonce over the block instead, and execution
    # refuses (with the reason kept for the client) what the block made invalid.
    mempool["recheck"] = False
    consensus = doc["consensus"]
    consensus["peer_gossip_sleep_duration"] = "10ms"
    consensus["timeout_propose"] = "1s"
    consensus["timeout_prevote"] = "300ms"
    consensus["timeout_precommit"] = "300ms"
    consensus["timeout_commit"] = timeout_commit
    doc["tx_index"]["indexer"] = "null"  # the ledger keeps its own indexes
    # CometBFT's own Prometheus metrics (consensus, p2p, mempool), on loopback: a node's
    # metrics are scraped from its host (docs/operations.md)
    instrumentation = doc["instrumentation"]
    instrumentation["prometheus"] = True
    instrumentation["prometheus_listen_addr"] = (
        f"127.0.0.1:{node.prometheus_port or _PortPicker().pick(node.rpc_port + 1)}")
    path.write_text(tomlkit.dumps(doc))


def _refuse_if_running(root: Path) -> None:
    from consortium.network.supervisor import running_nodes

    live = running_nodes(Network.load(root))
    if live:
        raise NetworkError(
            f"{root} has running nodes ({', '.join(live)}); stop them with `consortium down`"
        )
