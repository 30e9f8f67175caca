"""The consortium key for a member admitted after the genesis.

The founding members receive the shared consortium key (invoice fingerprints, asset ids)
sealed to them in the ceremony. A member that joins later (`consortium join`) has a card with
an encryption key but no consortium key: once its admission has passed, any member seals its
own node's key to the newcomer's card (`consortium key seal`) and sends the envelope; the
newcomer opens it into its node home (`consortium key open`). The envelope is the ceremony's:
ECIES to the card's encryption key, bound to the chain, the genesis hash and the newcomer's
node, so it opens nowhere else and the key never travels in clear.

`key seal` seals only to a card whose name, account and node id are an active member on the
chain the sealing node serves (its own API, with `CONSORTIUM_API_TOKEN` / `CONSORTIUM_API_CA`
when it needs them): a card handed over by anyone else would otherwise get the key behind
invoice fingerprints and asset ids. There is no override: when that node cannot answer, start
it (or let a member whose node runs seal instead).

`key open` installs the key into a `consortium join` folder (its encryption keystore is in
`keystores/`) or into a home made by `consortium node setup`, e.g. after a restore, given the
member's keys folder (`--keys`, it holds `encryption_key.json`) and the envelope it was set up
with (the genesis' envelope opens for the same node of the same chain again).
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consortium.apps.invoices.fingerprint import KEY_FILE_NAME, key_from_node_home, write_key
from consortium.errors import ConfigError, ConsortiumError, NetworkError
from consortium.network.cards import (
    CARD_FILE,
    MemberCard,
    MemberKeys,
    encryption_public_key,
    open_member_keys,
    read_keystore,
)
from consortium.network.ceremony import envelope_file_name, genesis_hash, open_envelope, seal_key
from consortium.network.layout import NETWORK_FILE, Network
from consortium.network.node_config import CONFIG_FILE, NodeConfig
from consortium.sdk.credentials import CA_ENV, TOKEN_ENV


@dataclass(frozen=True)
class SealResult:
    member: str
    node_id: str
    chain_id: str
    genesis_sha256: str
    envelope: str
    checked_at: str  # the API whose member registry admitted the card
    checked_height: int  # the block height it answered at


@dataclass(frozen=True)
class ChainMembers:
    """The member registry as one node answered it."""

    url: str
    height: int
    members: list[dict[str, Any]]


def _genesis_of(home: Path) -> tuple[str, str]:
    """(chain id, genesis SHA-256) of a node home."""
    path = home / "config" / "genesis.json"
    try:
        data = path.read_bytes()
        chain_id = str(json.loads(data)["chain_id"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{home} is not a node home with a genesis ({path}: {exc})") from None
    return chain_id, genesis_hash(data)


def chain_members(home: Path) -> ChainMembers:
    """The members on chain, read from the node of `home` through its own API (the URL its
    consortium.toml gives, https with TLS; `CONSORTIUM_API_TOKEN` and `CONSORTIUM_API_CA`
    from the environment, as every client command). An unreachable or refusing node is an
    error: a card is never sealed to unchecked."""
    from consortium.sdk.client import ConsortiumClient
    from consortium.system.client import GovernanceClient

    url = NodeConfig.load(home).api_url
    try:
        client = ConsortiumClient(url, timeout=10)
        height = int(client.eth("get_block_number"))
        members = GovernanceClient(client).members()
    except ConsortiumError as exc:
        hint = _reach_hint(home, url, str(exc))
        raise NetworkError(f"refused: the card cannot be checked against the chain, the "
                           f"node's API at {url} did not answer ({exc})"
                           + (f"; {hint}" if hint else "")) from None
    return ChainMembers(url, height, members)


def _reach_hint(home: Path, url: str, error: str) -> str:
    """What to do when the node's API does not answer the check ("" when the client's
    error says it already)."""
    if " 401" in error or " 403" in error:
        return (f"make a read token with `consortium api-token create --home {home} --name "
                f"key-seal --scope read` and set {TOKEN_ENV} to it")
    if url.startswith("https") and "CERTIFICATE" in error.upper():
        return "" if CA_ENV in error else (
            f"set {CA_ENV} to the CA certificate that signed the node's (e.g. the consortium "
            "CA's ca.pem)")
    return (f"start the node (`consortium up --dir {home}`) and seal again once it has caught "
            "up, or let a member whose node runs seal it")


def check_admitted(card: MemberCard, card_file: Path, chain: ChainMembers) -> None:
    """Refuse a card that is not an active member on chain under its name, with its account
    and its node id; the one error names what does not match."""
    where = f"on chain (the node at {chain.url}, height {chain.height})"
    named = [m for m in chain.members
             if str(m["name"]).strip().lower() == card.name.strip().lower()]
    if not named:
        for m in chain.members:
            if card.account in _lower(m["accounts"]) or card.node_id in _lower(m["nodes"]):
                raise ConfigError(
                    f"refused: {card_file} names {card.name!r}, but its account or node id "
                    f"is that of member {m['name']!r} {where}; this card is not an admitted "
                    "member's")
        raise ConfigError(
            f"refused: {card.name} ({card_file}) is not admitted yet: no member of that name "
            f"{where}. Seal only after its admit-member proposal has passed (`consortium "
            "proposals`); a node still catching up may not show it yet")
    member = named[0]
    name = member["name"]
    if member["status"] != "active":
        raise ConfigError(f"refused: {name} is {member['status']} {where}; only an active "
                          "member gets the consortium key")
    differs = []
    if card.account not in _lower(member["accounts"]):
        differs.append(f"account differs (the card: {card.account}; on chain: "
                       f"{', '.join(_lower(member['accounts'])) or 'none'})")
    if card.node_id not in _lower(member["nodes"]):
        differs.append(f"node id differs (the card: {card.node_id}; on chain: "
                       f"{', '.join(_lower(member['nodes'])) or 'none'})")
    if differs:
        raise ConfigError(f"refused: {card_file} is not the card of the admitted {name}: "
                          f"{'; '.join(differs)} {where}")


def _lower(values: Any) -> list[str]:
    return [str(v).lower() for v in values]


def seal_for_card(home: Path, card_file: Path, out: Path | None = None) -> SealResult:
    """Seal the consortium key of the node at `home` to the member of `card_file`, once the
    chain that node serves shows the card's member admitted; the envelope goes to `out`
    (default: consortium-key.<member>.enc beside the card). Nothing is written on refusal."""
    card = MemberCard.load(card_file)
    key = key_from_node_home(home)
    chain_id, digest = _genesis_of(home)
    target = out or card_file.parent / envelope_file_name(card.name)
    if target.exists():
        raise ConfigError(f"{target} exists already; choose another --out")
    chain = chain_members(home)
    check_admitted(card, card_file, chain)
    envelope = seal_key(key, card, chain_id=chain_id, genesis_sha256=digest)
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(envelope, indent=2) + "\n")
    os.replace(tmp, target)
    return SealResult(card.name, card.node_id, chain_id, digest, str(target), chain.url,
                      chain.height)


def _node_home_of(root: Path) -> Path:
    """The node home of a one-node folder (`consortium join`, `consortium node setup`), or
    `root` itself when it is a node home without network.json (restored from an archive of
    an older version)."""
    if (root / NETWORK_FILE).is_file():
        network = Network.load(root)
        if len(network.nodes) != 1:
            raise ConfigError(f"{root} has {len(network.nodes)} nodes; give the folder of one "
                              "member's node (made by `consortium join` or `consortium node "
                              "setup`)")
        return network.node_home(network.nodes[0])
    if (root / CONFIG_FILE).is_file():
        return root
    raise ConfigError(f"{root} is not a member's node folder (neither {NETWORK_FILE} nor "
                      f"{CONFIG_FILE}): give the folder `consortium join` or `consortium node "
                      "setup` made")


def open_into_home(root: Path, envelope: Path, password: str,
                   keys: Path | None = None) -> Path:
    """Open an envelope and install the key in the node home of `root`; returns the key
    file's path. The encryption key is `keys`' (the keys folder `consortium keygen` made: a
    `node setup` home holds none), else the one `consortium join` wrote into `root`."""
    home = _node_home_of(root)
    own = MemberCard.load(root / CARD_FILE) if (root / CARD_FILE).is_file() else None
    if keys is not None:
        member = open_member_keys(keys, password)
        if own is not None and own != member.card:
            raise ConfigError(f"{keys} holds the keys of {member.card.name} (node "
                              f"{member.card.node_id}), not of {root / CARD_FILE} "
                              f"({own.name}, node {own.node_id})")
    else:
        if own is None:
            raise ConfigError(f"{root} has no {CARD_FILE}: give --keys KEYS, the folder "
                              "`consortium keygen` made")
        node = Network.load(root).nodes[0] if (root / NETWORK_FILE).is_file() else None
        stored = root / "keystores" / f"{node.name}.encryption.json" if node else None
        if stored is None or not stored.is_file():
            raise ConfigError(f"{root} holds no encryption key (a `consortium join` folder "
                              "has keystores/<node>.encryption.json): for a home made by "
                              "`consortium node setup`, give --keys KEYS, the folder "
                              "`consortium keygen` made (it holds encryption_key.json)")
        secret = read_keystore(stored, password)
        if encryption_public_key(secret) != own.encryption_pub_key:
            raise ConfigError(f"{root / CARD_FILE} does not match the encryption keystore "
                              "beside it")
        member = MemberKeys(root, own, secret)
    chain_id, digest = _genesis_of(home)
    key = open_envelope(envelope, member, chain_id=chain_id, genesis_sha256=digest)
    cfg = NodeConfig.load(home)
    if cfg.consortium_key_file is not None and cfg.consortium_key_path.exists():
        if key_from_node_home(home) == key:
            return cfg.consortium_key_path  # the same key again: nothing to do
        raise ConfigError(f"{home} has a consortium key already ({cfg.consortium_key_path}), "
                          "a different one; it is never overwritten")
    target = cfg.consortium_key_path if cfg.consortium_key_file else home / KEY_FILE_NAME
    write_key(target, key)
    if cfg.consortium_key_file is None:
        dataclasses.replace(cfg, consortium_key_file=KEY_FILE_NAME).save()
    return target


def open_into_join_dir(root: Path, envelope: Path, password: str) -> Path:
    """`open_into_home` with the encryption key `consortium join` wrote into `root`."""
    return open_into_home(root, envelope, password)
