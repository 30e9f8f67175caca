"""The key ceremony across the members' own hosts: no one ever holds another member's secret.

1. Each member, on its own host: `consortium keygen` (`consortium.network.cards`) makes its
   keys and a card, the one file it sends to the coordinator.
2. The coordinator: `consortium genesis` (`write_genesis`) assembles genesis.json from the
   cards alone, makes the shared consortium key (invoice fingerprints, asset ids) in memory
   and writes it only inside one envelope per member, ECIES-encrypted to the card's
   encryption key; it prints the genesis hash for the members to compare.
3. Each member: `consortium node setup` (`setup_node`) checks the announced hash, refuses a
   genesis without its own card, opens its envelope and writes its node home. It never
   replaces a home whose validator signed or that holds a ledger (`refuse_chain_data`).

An envelope (`consortium-key.<member slug>.enc`, JSON) names its member, chain and genesis
hash in clear; the ciphertext holds the same names beside the key, so an envelope cannot be
opened as another member's or for another genesis.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ecies

from consortium.apps.invoices.fingerprint import KEY_BYTES, new_key
from consortium.errors import ConfigError, NetworkError
from consortium.ledger.genesis import DEFAULT_BLOCK_GAS_LIMIT, DEFAULT_ETH_CHAIN_ID, AppState
from consortium.network.cards import (
    ACCOUNT_FILE,
    CARD_FILE,
    NODE_KEY_FILE,
    VALIDATOR_KEY_FILE,
    MemberCard,
    MemberKeys,
    Peer,
    check_distinct,
    dialable_address,
    open_member_keys,
    parse_host_port,
    parse_peer,
    read_json,
)
from consortium.network.chain_data import refuse_chain_data
from consortium.network.init import (
    DEFAULT_API_PORT,
    FoundingMember,
    _PortPicker,
    _refuse_if_running,
    check_chain_id,
    check_timeout_commit,
    cometbft_init,
    fresh_folder,
    genesis_app_state,
    genesis_document,
    slug,
)
from consortium.network.join import port_option, write_node_home
from consortium.network.layout import JsonFields, MemberEntry, Network, NodeEntry
from consortium.network.node_config import NodeConfig
from consortium.network.ports import port_free
from consortium.network.tls import check_server_files

ENVELOPE_VERSION = 1
ENVELOPE_KIND = "consortium-key"
GENESIS_FILE = "genesis.json"
PEERS_FILE = "peers.txt"
DEFAULT_RPC_PORT = 26657


def envelope_file_name(member: str) -> str:
    return f"consortium-key.{slug(member)}.enc"


def genesis_hash(data: bytes) -> str:
    """What members compare out of band: SHA-256 of the genesis file's bytes, in hex."""
    return hashlib.sha256(data).hexdigest()


# --- envelopes -----------------------------------------------------------------------------


def seal_key(key: bytes, card: MemberCard, *, chain_id: str, genesis_sha256: str) -> dict[str, Any]:
    """The consortium key, encrypted to one member's encryption key (ECIES, secp256k1)."""
    names = {"chain_id": chain_id, "genesis_sha256": genesis_sha256, "node_id": card.node_id}
    payload = json.dumps({**names, "key": key.hex()}, sort_keys=True).encode()
    return {
        "version": ENVELOPE_VERSION,
        "kind": ENVELOPE_KIND,
        "member": card.name,
        "encryption_pub_key": card.encryption_pub_key,
        **names,
        "ciphertext": bytes(ecies.encrypt(bytes.fromhex(card.encryption_pub_key), payload)).hex(),
    }


def open_envelope(
    path: Path, keys: MemberKeys, *, chain_id: str, genesis_sha256: str
) -> bytes:
    """The consortium key in this member's envelope, after checking it is this member's and
    this genesis'."""
    envelope = read_json(path, "the envelope")
    if not isinstance(envelope, dict) or envelope.get("kind") != ENVELOPE_KIND:
        raise ConfigError(f"{path} is not a consortium key envelope")
    if envelope.get("version") != ENVELOPE_VERSION:
        raise ConfigError(f"{path}: envelope version {envelope.get('version')!r} is unknown")
    card = keys.card
    if envelope.get("encryption_pub_key") != card.encryption_pub_key:
        raise ConfigError(
            f"{path} is the envelope of {envelope.get('member')!r}, not of {card.name!r}"
        )
    try:
        payload = json.loads(
            bytes(ecies.decrypt(keys.encryption_secret, bytes.fromhex(envelope["ciphertext"])))
        )
        key = bytes.fromhex(payload["key"])
    except (KeyError, TypeError, ValueError):
        raise ConfigError(f"{path} does not open with {card.name}'s encryption key") from None
    if payload.get("node_id") != card.node_id:
        raise ConfigError(f"{path} was sealed for node {payload.get('node_id')}, not this one")
    if payload.get("chain_id") != chain_id or payload.get("genesis_sha256") != genesis_sha256:
        raise ConfigError(
            f"{path} belongs to another genesis (chain {payload.get('chain_id')!r}, hash "
            f"{str(payload.get('genesis_sha256'))[:16]}…)"
        )
    if len(key) != KEY_BYTES:
        raise ConfigError(f"{path} does not hold a {KEY_BYTES}-byte consortium key")
    return key


# --- genesis -------------------------------------------------------------------------------


@dataclass(frozen=True)
class GenesisResult(JsonFields):
    out: str
    chain_id: str
    genesis: str
    genesis_sha256: str
    peers: list[str]
    envelopes: dict[str, str]  # member name -> envelope file


def read_cards(files: Sequence[Path]) -> list[MemberCard]:
    """The cards, each checked, none naming a member, node or key another names."""
    if not files:
        raise ConfigError("give at least one --card")
    cards = [(str(f), MemberCard.load(f)) for f in files]
    check_distinct(cards)
    return [card for _, card in cards]


def assemble_genesis(
    cards: Sequence[MemberCard],
    *,
    chain_id: str,
    eth_chain_id: int = DEFAULT_ETH_CHAIN_ID,
    roles: dict[str, list[str]] | None = None,
    block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
) -> bytes:
    """genesis.json's bytes from the cards: every card a founding member with its account,
    node and validator (equal power), CometBFT's default consensus parameters."""
    check_chain_id(chain_id)
    if not 1 <= eth_chain_id < 2**63:
        raise ConfigError("--eth-chain-id must be a positive integer")
    app_state = genesis_app_state(
        [
            FoundingMember(c.name, c.account, (c.node_id,), (c.validator_pub_key,))
            for c in cards
        ],
        eth_chain_id=eth_chain_id,
        roles=roles or {},
        dev_balances=False,
        block_gas_limit=block_gas_limit,
    )
    with tempfile.TemporaryDirectory(prefix="consortium-genesis-") as scratch:
        cometbft_init(Path(scratch), "the genesis template")  # its keys are thrown away
        template = json.loads((Path(scratch) / "config" / "genesis.json").read_text())
    document = genesis_document(
        template, chain_id, [(c.name, c.validator_pub_key) for c in cards], app_state
    )
    return (json.dumps(document, indent=2) + "\n").encode()


def write_genesis(
    out: Path,
    card_files: Sequence[Path],
    *,
    chain_id: str,
    eth_chain_id: int = DEFAULT_ETH_CHAIN_ID,
    roles: dict[str, list[str]] | None = None,
    block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT,
) -> GenesisResult:
    """The coordinator's output folder: genesis.json, peers.txt and one envelope per member.
    The consortium key exists only in memory here and inside the envelopes."""
    cards = read_cards(card_files)
    genesis = assemble_genesis(cards, chain_id=chain_id, eth_chain_id=eth_chain_id, roles=roles,
                               block_gas_limit=block_gas_limit)
    digest = genesis_hash(genesis)
    key = new_key()
    envelopes: dict[str, str] = {}
    with fresh_folder(out, refusal="choose another folder for a new genesis"):
        (out / GENESIS_FILE).write_bytes(genesis)
        (out / PEERS_FILE).write_text("".join(f"{c.peer}\n" for c in cards))
        for card in cards:
            sealed = seal_key(key, card, chain_id=chain_id, genesis_sha256=digest)
            path = out / envelope_file_name(card.name)
            path.write_text(json.dumps(sealed, indent=2) + "\n")
            envelopes[card.name] = str(path)
    return GenesisResult(
        str(out), chain_id, str(out / GENESIS_FILE), digest, [c.peer for c in cards], envelopes
    )


# --- a member's node -----------------------------------------------------------------------


@dataclass(frozen=True)
class SetupResult(JsonFields):
    name: str
    root: str
    chain_id: str
    genesis_sha256: str
    node_id: str
    listen: str
    external: str
    peers: list[str]
    p2p_port: int
    rpc_port: int
    api_host: str
    api_port: int


def setup_node(
    out: Path,
    *,
    genesis_file: Path,
    announced_hash: str,
    keys_dir: Path,
    envelope_file: Path,
    password: str,
    listen: str = "0.0.0.0:26656",
    external: str | None = None,
    peers: Sequence[str] = (),
    rpc_port: int | None = None,
    api_host: str = "127.0.0.1",
    api_port: int | None = None,
    timeout_commit: str = "500ms",
    force: bool = False,
    tls: tuple[Path, Path] | None = None,
) -> SetupResult:
    """A member's node home at `out`, a one-node network folder (`consortium up --dir OUT`)
    that is itself the node home (`consortium node --home OUT`). With `tls` (certificate,
    key: PEM files, checked first) the API serves HTTPS and WSS only, from copies of them
    in `OUT/tls/`. Every check runs before an existing `out` is replaced (`force`), so a
    refusal leaves it as it was; one whose node ran is never replaced (`refuse_chain_data`)."""
    check_timeout_commit(timeout_commit)
    if tls is not None:
        check_server_files(*tls)
    home, keys_home = out.resolve(), keys_dir.resolve()
    if home == keys_home or home in keys_home.parents or keys_home in home.parents:
        raise ConfigError("--out must not be, hold or be inside the --keys folder: keep the "
                          "keys apart (e.g. --out beside the keys folder)")
    if out.is_dir() and any(out.iterdir()):
        if (out / "network.json").is_file():
            _refuse_if_running(out)
        refuse_chain_data(out)
    genesis = _read_bytes(genesis_file, "--genesis")
    digest = genesis_hash(genesis)
    wanted = announced_hash.strip().lower().removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]{64}", wanted):
        raise ConfigError("--genesis-hash must be the 64-hex-digit SHA-256 the coordinator printed")
    if digest != wanted:
        raise ConfigError(
            f"{genesis_file} has hash {digest}, not the announced {wanted}: it is not the "
            "genesis the members agreed on"
        )
    document = _genesis_json(genesis, genesis_file)
    app_state = AppState.from_json(document["app_state"])
    keys = open_member_keys(keys_dir, password)
    card = keys.card
    _require_own_card(document, app_state, card, genesis_file)
    chain_id = str(document["chain_id"])
    consortium_key = open_envelope(
        envelope_file, keys, chain_id=chain_id, genesis_sha256=digest
    )
    listen_host, p2p_port = parse_host_port(listen, "--listen")
    external_address = dialable_address(external, "--external") if external else card.p2p_address
    dialled = [parse_peer(text, "--peers") for text in peers if text.strip()]
    others = _genesis_peers(dialled, card, app_state, genesis_file)
    _require_port_free("--listen port", listen_host, p2p_port)
    ports = _PortPicker()
    ports.taken.add(p2p_port)
    rpc = port_option(rpc_port, DEFAULT_RPC_PORT, "--rpc-port", ports)
    api = _api_port(api_port, api_host, ports)
    tls_files = None if tls is None else (_read_bytes(tls[0], "--tls-cert"),
                                          _read_bytes(tls[1], "--tls-key"))
    with fresh_folder(out, force=force, mode=0o700):
        cometbft_init(out, card.name)
        for file in (NODE_KEY_FILE, VALIDATOR_KEY_FILE):
            shutil.copyfile(keys_dir / file, out / "config" / file)
            (out / "config" / file).chmod(0o600)
        entry = NodeEntry(
            name=keys.slug,
            member=card.name,
            home=".",
            node_id=card.node_id,
            validator_pub_key=card.validator_pub_key,
            p2p_port=p2p_port,
            rpc_port=rpc,
            api_port=api,
        )
        write_node_home(
            out, entry, genesis, others, listen_host=listen_host,
            external_address=external_address, timeout_commit=timeout_commit,
            api_host=api_host, consortium_key=consortium_key,
        )
        keystore = f"keystores/{keys.slug}.json"
        (out / "keystores").mkdir()
        shutil.copyfile(keys_dir / ACCOUNT_FILE, out / keystore)
        (out / keystore).chmod(0o600)
        shutil.copyfile(keys_dir / CARD_FILE, out / CARD_FILE)
        if tls_files is not None:
            _install_api_tls(out, *tls_files)
        Network(
            out, chain_id, app_state.eth_chain_id, True, [entry],
            [MemberEntry(name=card.name, address=card.account, keystore=keystore)],
        ).save()
    return SetupResult(
        card.name, str(out), chain_id, digest, card.node_id, f"{listen_host}:{p2p_port}",
        external_address, others, p2p_port, entry.rpc_port, api_host, entry.api_port,
    )


# --- what node setup checks before it writes ----------------------------------------------


def _genesis_peers(
    dialled: Sequence[Peer], card: MemberCard, app_state: AppState, genesis_file: Path
) -> list[str]:
    """The --peers this node dials: each a node of the genesis (every other node's peer
    filter refuses any other, and a typo in an id would only show as a peer that never
    connects), its own entry skipped; at least one when the genesis has other nodes."""
    owners = {node: m.name for m in app_state.members for node in m.nodes}
    others: list[str] = []
    given: dict[str, Peer] = {}
    for peer in dialled:
        if peer.node_id == card.node_id:
            continue
        if peer.node_id in given:  # one address a node: CometBFT would dial both, one fails
            if str(given[peer.node_id]) == str(peer):
                continue  # the same entry twice: once is enough
            raise ConfigError(f"--peers gives node {peer.node_id} twice, at "
                              f"{given[peer.node_id].host}:{given[peer.node_id].port} and "
                              f"{peer.host}:{peer.port}: keep the address its owner announced")
        given[peer.node_id] = peer
        if peer.node_id not in owners:
            close = difflib.get_close_matches(peer.node_id, list(owners), n=1, cutoff=0.8)
            hint = (f"did you mean {close[0]} ({owners[close[0]]}'s node)?" if close else
                    f"copy the entries of {PEERS_FILE} from the coordinator")
            raise ConfigError(
                f"--peers {peer}: no member of {genesis_file} has node id {peer.node_id}; {hint}"
            )
        others.append(str(peer))
    missing = sorted({name for node, name in owners.items() if node != card.node_id})
    if not others and missing:
        listed = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if missing[5:] else "")
        raise ConfigError(
            f"--peers names no other node of the genesis ({listed}): a validator that dials no "
            f'peer may never reach consensus; give --peers "$(paste -sd, {PEERS_FILE})" with '
            f"the {PEERS_FILE} the coordinator sent"
        )
    return others


def _api_port(wanted: int | None, host: str, ports: _PortPicker) -> int:
    """--api-port, or the first port from 8545: free on loopback (as the node's start checks)
    and on --api-host, where the API listens."""
    if wanted is not None:
        port = port_option(wanted, DEFAULT_API_PORT, "--api-port", ports)
        _require_port_free("--api-port", host, port)
        return port
    start = DEFAULT_API_PORT
    while not port_free(port := ports.pick(start), host):
        start = port + 1
    return port


def _require_port_free(option: str, host: str, port: int) -> None:
    """Refuse a port something already listens on, on loopback (the node's start checks it
    there) or on `host` (where the node will listen; 0.0.0.0: any address of this host)."""
    for where in dict.fromkeys(("127.0.0.1", host)):
        if not port_free(port, where):
            on = "this host" if where in ("0.0.0.0", "::", "[::]", "") else where
            raise NetworkError(f"{option} {port} is in use on {on}: choose another port, or "
                               "stop what listens there")


def _install_api_tls(home: Path, cert: bytes, key: bytes) -> None:
    """Write the API's certificate and key into HOME/tls/ (the key mode 600) and name them
    in the node's `[api]` settings. Their bytes were read before the home was replaced:
    the files given may be the old home's own tls/ copies."""
    folder = home / "tls"
    folder.mkdir(mode=0o700, exist_ok=True)
    (folder / "node.pem").write_bytes(cert)
    (folder / "node.key").touch(mode=0o600)
    (folder / "node.key").chmod(0o600)
    (folder / "node.key").write_bytes(key)
    cfg = NodeConfig.load(home)
    dataclasses.replace(cfg, api_access=dataclasses.replace(
        cfg.api_access, tls_cert="tls/node.pem", tls_key="tls/node.key")).save()


def _read_bytes(path: Path, option: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {option} {path}: {exc.strerror or exc}") from None


def _genesis_json(data: bytes, path: Path) -> dict[str, Any]:
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise ConfigError(f"{path} is not JSON: {exc}") from None
    if not isinstance(document, dict) or "chain_id" not in document \
            or "app_state" not in document or not isinstance(document.get("validators"), list):
        raise ConfigError(f"{path} is not a consortium genesis.json")
    return document


def _require_own_card(
    document: dict[str, Any], app_state: AppState, card: MemberCard, path: Path
) -> None:
    """Refuse a genesis that leaves out, or changes, any public part of this member's card."""
    member = next((m for m in app_state.members if card.node_id in m.nodes), None)
    if member is None:
        raise ConfigError(
            f"{path} does not contain {card.name}'s card: no member has node id {card.node_id}"
        )
    if card.account not in member.accounts:
        raise ConfigError(
            f"{path} does not contain {card.name}'s card: its node is listed with accounts "
            f"{', '.join(member.accounts) or 'none'}, not {card.account}"
        )
    if card.validator_pub_key not in [v.pub_key for v in member.validators] or not any(
        isinstance(v, dict) and isinstance(v.get("pub_key"), dict)
        and v["pub_key"].get("value") == card.validator_pub_key
        for v in document["validators"]
    ):
        raise ConfigError(
            f"{path} does not contain {card.name}'s card: validator key "
            f"{card.validator_pub_key} is not a genesis validator"
        )
    if member.name != card.name:
        raise ConfigError(
            f"{path} does not contain {card.name}'s card: its node is listed as {member.name!r}"
        )
