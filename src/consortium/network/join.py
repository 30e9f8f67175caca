"""`consortium join`: a new institution's own node home and account, ready to be admitted.

The institution runs this on its own machine with the consortium's genesis.json and one
existing node as its peer. It gets a network folder of its own (so `consortium up / status /
down --dir DIR` work on it) holding one node home — keys from CometBFT's `init`, the given
genesis, a config with the peer as persistent peer and `filter_peers = true` — one account
keystore, an encryption key (a keystore under the same password) and a member card,
`DIR/card.json`, in the format `consortium keygen` writes (`consortium.network.cards`). The card
is what the institution sends: the admission proposals name its node id (peer filter),
validator key (validator set) and account; its encryption key is where the consortium key can
be sealed to, as in the ceremony (`consortium.network.ceremony.seal_key`).

Until a vote admits the node id, the consortium's nodes refuse it as a peer; once admitted
it connects and syncs; a second vote (add-validator with the printed key) makes it a validator.
"""

from __future__ import annotations

import codecs
import contextlib
import ipaddress
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

from consortium.apps.invoices.fingerprint import KEY_FILE_NAME, write_key
from consortium.errors import ConfigError, NetworkError
from consortium.ledger.genesis import AppState
from consortium.network.cards import (
    CARD_FILE,
    MemberCard,
    Peer,
    check_member_name,
    dialable_address,
    new_encryption_key,
    outbound_host,
    parse_host_port,
    parse_peer,
    read_json,
)
from consortium.network.chain_data import refuse_chain_data
from consortium.network.init import (
    DEFAULT_API_PORT,
    DEFAULT_BASE_PORT,
    _PortPicker,
    _refuse_if_running,
    check_timeout_commit,
    cometbft_init,
    fresh_folder,
    node_id_from_key,
    slug,
    validator_address,
    write_cometbft_config,
    write_keystore,
)
from consortium.network.layout import JsonFields, MemberEntry, Network, NodeEntry
from consortium.network.node_config import DEFAULT_ENGINE, NodeConfig
from consortium.network.state_sync import JoinSettings, fetch_trust, write_statesync

__all__ = ["JoinResult", "Peer", "join_network", "parse_peer", "port_option", "write_node_home"]


@dataclass(frozen=True)
class JoinResult(JsonFields):
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
    card: dict[str, object]  # the member card (also in ROOT/card.json)
    card_file: str
    timeout_commit: str = "500ms"  # the block interval it was set up with
    # state sync: the trusted block (0: the node replays the chain from genesis)
    state_sync_trust_height: int = 0
    state_sync_snapshots: tuple[int, ...] = ()


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
    state_sync_rpc: Sequence[str] = (),
) -> JoinResult:
    """Create the institution's network folder at `root` (see the module's description).
    With `state_sync_rpc` (the CometBFT RPC of a node the institution trusts, one or two),
    the node starts from that node's latest snapshot instead of replaying from genesis
    (`consortium.network.state_sync`)."""
    name = check_member_name(name, "--name")
    the_peer = parse_peer(peer)
    check_timeout_commit(timeout_commit)
    listen_host, listen_port = parse_listen(listen) if listen else (None, None)
    if listen_port is not None:
        if p2p_port is not None and p2p_port != listen_port:
            raise ConfigError(f"--listen {listen} and --p2p-port {p2p_port} name different "
                              "ports: give the port once")
        p2p_port = listen_port
    if listen_host is not None and _is_loopback(listen_host) and not the_peer.is_loopback:
        raise ConfigError(
            f"--listen {listen} accepts connections from this host only, but the peer "
            f"{the_peer.host} is another host's and the other members must dial this node: "
            "listen on 0.0.0.0 (or this host's address) and give --external HOST:PORT if "
            "they reach it by another address")
    external = dialable_address(external_address, "--external") if external_address else ""
    genesis = _read_genesis(genesis_file)
    app_state = AppState.from_json(genesis.get("app_state", {}))
    for member in app_state.members:
        # the same name but for case, spaces or punctuation makes the same node folder name
        # and confuses people: one member, one name
        if member.name.lower() == name.lower() or slug(member.name) == slug(name):
            raise ConfigError(f"the genesis already has a member named {member.name!r}; "
                              f"{name!r} is too close to it: choose another name")
    root = root.expanduser().resolve()
    if force and root.is_dir() and any(root.iterdir()):
        # --force replaces a folder, never a node home whose node ran (checked before any
        # of it is deleted): its validator would sign twice, its ledger would be gone
        if (root / "network.json").is_file():
            _refuse_if_running(root)
        refuse_chain_data(root)
    trust = fetch_trust(state_sync_rpc) if state_sync_rpc else None
    with fresh_folder(root, force=force):
        node_name = slug(name)
        home = root / "nodes" / node_name
        cometbft_init(home, name)
        ports = _PortPicker()
        entry = NodeEntry(
            name=node_name,
            member=name,
            home=f"nodes/{node_name}",
            node_id=node_id_from_key(home / "config" / "node_key.json"),
            validator_pub_key=_validator_pub_key(home),
            p2p_port=port_option(p2p_port, DEFAULT_BASE_PORT,
                                 "--p2p-port" if listen_port is None else "--listen's port",
                                 ports),
            rpc_port=port_option(rpc_port, DEFAULT_BASE_PORT + 1, "--rpc-port", ports),
            api_port=port_option(api_port, DEFAULT_API_PORT, "--api-port", ports),
            validator=False,
            prometheus_port=ports.pick(DEFAULT_BASE_PORT + 2),
        )
        host = listen_host or ("127.0.0.1" if the_peer.is_loopback else "0.0.0.0")
        write_node_home(
            # a byte-order mark, which reading the genesis forgave, CometBFT would refuse
            home, entry, genesis_file.read_bytes().removeprefix(codecs.BOM_UTF8),
            [str(the_peer)], listen_host=host, external_address=external,
            timeout_commit=timeout_commit,
        )
        if trust is not None:
            write_statesync(home, trust)
            JoinSettings(True, trust.rpc_servers).save(home)
        keystore = f"keystores/{node_name}.json"
        account = write_keystore(root / keystore, Account.create().key, password, fast=not password)
        secret, public = new_encryption_key()
        write_keystore(
            root / f"keystores/{node_name}.encryption.json", secret, password, fast=not password
        )
        card = MemberCard(
            name=name,
            node_id=entry.node_id,
            validator_pub_key=entry.validator_pub_key,
            account=account.lower(),
            encryption_pub_key=public,
            p2p_address=_p2p_address(external, host, entry.p2p_port, the_peer),
        )
        card.save(root / CARD_FILE)
        network = Network(
            root,
            str(genesis["chain_id"]),
            app_state.eth_chain_id,
            True,
            [entry],
            [MemberEntry(name=name, address=account, keystore=keystore)],
        )
        network.save()
    return JoinResult(
        name=name,
        root=str(root),
        home=str(home),
        node_id=entry.node_id,
        validator_pub_key=entry.validator_pub_key,
        validator_address=validator_address(entry.validator_pub_key),
        account=account.lower(),
        keystore=str(root / keystore),
        chain_id=network.chain_id,
        peer=str(the_peer),
        p2p_port=entry.p2p_port,
        rpc_port=entry.rpc_port,
        api_port=entry.api_port,
        card=card.to_json(),
        card_file=str(root / CARD_FILE),
        timeout_commit=timeout_commit,
        state_sync_trust_height=trust.height if trust else 0,
        state_sync_snapshots=trust.snapshot_heights if trust else (),
    )


def write_node_home(
    home: Path,
    entry: NodeEntry,
    genesis: bytes,
    peers: Sequence[str],
    *,
    listen_host: str,
    external_address: str,
    timeout_commit: str,
    api_host: str = "127.0.0.1",
    consortium_key: bytes | None = None,
    engine: str = DEFAULT_ENGINE,
) -> None:
    """Fill a home `cometbft init` made: the genesis (its bytes as given), CometBFT's config
    with the peers and addresses, consortium.toml and, if given, the consortium key."""
    (home / "config" / "genesis.json").write_bytes(genesis)
    write_cometbft_config(
        home, entry, peers, timeout_commit=timeout_commit, listen_host=listen_host,
        external_address=external_address,
    )
    if consortium_key is not None:
        write_key(home / KEY_FILE_NAME, consortium_key)
    NodeConfig(
        home=home, name=entry.name, member=entry.member, api_host=api_host,
        api_port=entry.api_port, engine=engine,
        consortium_key_file=KEY_FILE_NAME if consortium_key is not None else None,
    ).save()


def _validator_pub_key(home: Path) -> str:
    return str(json.loads((home / "config" / "priv_validator_key.json").read_text())
               ["pub_key"]["value"])


def parse_listen(text: str) -> tuple[str, int | None]:
    """`--listen`: HOST:PORT, as `node setup --listen` takes it, or HOST alone (the port is
    then --p2p-port's). A bare IPv6 address is bracketed, as CometBFT's address wants it;
    anything else (a scheme, a second port, an empty host) is refused here rather than by
    CometBFT when the node starts."""
    text = text.strip()
    if _is_ipv6(text):
        return f"[{text}]", None
    if re.fullmatch(r"[A-Za-z0-9.-]+", text) or (
        text.startswith("[") and text.endswith("]") and _is_ipv6(text[1:-1])
    ):
        return text, None
    with contextlib.suppress(ConfigError):
        return parse_host_port(text, "--listen")
    raise ConfigError(f"--listen must be HOST:PORT (e.g. 0.0.0.0:26656) or HOST, got {text!r}")


def _is_ipv6(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv6Address)
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _p2p_address(external: str, host: str, port: int, peer: Peer) -> str:
    """What the card tells the other members to dial: the external address, else the
    listen address, else this host's address on the route to the peer."""
    if external:
        return external
    if host.strip("[]") not in ("0.0.0.0", "::"):
        return f"{host}:{port}"
    return f"{outbound_host(peer.host)}:{port}"


def _read_genesis(path: Path) -> dict[str, object]:
    data = read_json(path, "--genesis")
    if not isinstance(data, dict) or "chain_id" not in data or "app_state" not in data:
        raise ConfigError(
            f"--genesis {path} is not a consortium genesis.json (no chain_id or app_state)"
        )
    return data


def port_option(
    wanted: int | None, start: int, option: str, ports: _PortPicker | None = None
) -> int:
    """A port option's value, checked free; without one, a free port from `start` on."""
    ports = ports or _PortPicker()
    if wanted is None:
        return ports.pick(start)
    if not 1 <= wanted <= 65535:
        raise ConfigError(f"{option} must be a port number (1-65535)")
    if ports.pick(wanted) != wanted:
        raise NetworkError(f"{option} {wanted} is in use")
    return wanted
