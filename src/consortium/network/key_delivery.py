"""The consortium key for a member admitted after the genesis.

The founding members receive the shared consortium key (invoice fingerprints, asset ids)
sealed to them in the ceremony. A member that joins later (`consortium join`) has a card with
an encryption key but no consortium key: once its admission has passed, any member seals its
own node's key to the newcomer's card (`consortium key seal`) and sends the envelope; the
newcomer opens it into its node home (`consortium key open`). The envelope is the ceremony's:
ECIES to the card's encryption key, bound to the chain, the genesis hash and the newcomer's
node, so it opens nowhere else and the key never travels in clear.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path

from consortium.apps.invoices.fingerprint import KEY_FILE_NAME, key_from_node_home, write_key
from consortium.errors import ConfigError
from consortium.network.cards import (
    CARD_FILE,
    MemberCard,
    MemberKeys,
    encryption_public_key,
    read_keystore,
)
from consortium.network.ceremony import envelope_file_name, genesis_hash, open_envelope, seal_key
from consortium.network.layout import Network
from consortium.network.node_config import NodeConfig


@dataclass(frozen=True)
class SealResult:
    member: str
    node_id: str
    chain_id: str
    genesis_sha256: str
    envelope: str


def _genesis_of(home: Path) -> tuple[str, str]:
    """(chain id, genesis SHA-256) of a node home."""
    path = home / "config" / "genesis.json"
    try:
        data = path.read_bytes()
        chain_id = str(json.loads(data)["chain_id"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{home} is not a node home with a genesis ({path}: {exc})") from None
    return chain_id, genesis_hash(data)


def seal_for_card(home: Path, card_file: Path, out: Path | None = None) -> SealResult:
    """Seal the consortium key of the node at `home` to the member of `card_file`; the
    envelope goes to `out` (default: consortium-key.<member>.enc beside the card)."""
    card = MemberCard.load(card_file)
    key = key_from_node_home(home)
    chain_id, digest = _genesis_of(home)
    envelope = seal_key(key, card, chain_id=chain_id, genesis_sha256=digest)
    target = out or card_file.parent / envelope_file_name(card.name)
    if target.exists():
        raise ConfigError(f"{target} exists already; choose another --out")
    tmp = target.with_name(f".{target.name}.tmp")
    tmp.write_text(json.dumps(envelope, indent=2) + "\n")
    os.replace(tmp, target)
    return SealResult(card.name, card.node_id, chain_id, digest, str(target))


def open_into_join_dir(root: Path, envelope: Path, password: str) -> Path:
    """Open an envelope with the keys `consortium join` made in `root` and install the key
    in its node home; returns the key file's path."""
    network = Network.load(root)
    if len(network.nodes) != 1 or not (root / CARD_FILE).is_file():
        raise ConfigError(f"{root} is not a folder made by `consortium join` (one node and "
                          f"its {CARD_FILE})")
    node = network.nodes[0]
    home = network.node_home(node)
    card = MemberCard.load(root / CARD_FILE)
    secret = read_keystore(root / "keystores" / f"{node.name}.encryption.json", password)
    if encryption_public_key(secret) != card.encryption_pub_key:
        raise ConfigError(f"{root / CARD_FILE} does not match the encryption keystore beside it")
    chain_id, digest = _genesis_of(home)
    key = open_envelope(envelope, MemberKeys(root, card, secret), chain_id=chain_id,
                        genesis_sha256=digest)
    cfg = NodeConfig.load(home)
    if cfg.consortium_key_file is not None and cfg.consortium_key_path.exists():
        if key_from_node_home(home) == key:
            return cfg.consortium_key_path  # the same key again: nothing to do
        raise ConfigError(f"{home} has a consortium key already ({cfg.consortium_key_path}), "
                          "a different one; it is never overwritten")
    write_key(home / KEY_FILE_NAME, key)
    dataclasses.replace(cfg, consortium_key_file=KEY_FILE_NAME).save()
    return home / KEY_FILE_NAME
