"""A member card: the public half of a member's keys, the one file a member sends out.

`consortium keygen` writes it beside the member's secrets; `consortium genesis` builds the
genesis from cards alone, and `consortium join` writes one for a later member. As JSON:

    {"version": 1, "name": "Bank A",
     "node_id": "<40 hex: CometBFT's id of the node key>",
     "validator_pub_key": "<base64 of the 32-byte ed25519 consensus key>",
     "account": "0x<20-byte address of the member's account>",
     "encryption_pub_key": "<hex of a 33-byte compressed secp256k1 key, for ECIES>",
     "p2p_address": "<host:port the other nodes dial>"}

Every field is checked on load, with the file named in the error; unknown fields are refused
(a newer card format gets a new version).

A member's keys folder (`consortium keygen --out DIR`, mode 700; secrets mode 600):

    DIR/node_key.json             CometBFT node key (the node id)
    DIR/priv_validator_key.json   CometBFT validator key (ed25519)
    DIR/account.json              the account's V3 keystore (password-protected)
    DIR/encryption_key.json       the secp256k1 encryption key, as a V3 keystore under the
                                  same password (opens the consortium key envelope)
    DIR/card.json                 the card (public)
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import shutil
import socket
import unicodedata
from collections.abc import Callable, Hashable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import coincurve
from eth_account import Account
from eth_utils import is_checksum_address, is_hex_address

from consortium.errors import ConfigError
from consortium.network.init import (
    cometbft_init,
    fresh_folder,
    node_id_from_key,
    slug,
    write_keystore,
)

CARD_FILE = "card.json"
CARD_VERSION = 1
NODE_KEY_FILE = "node_key.json"
VALIDATOR_KEY_FILE = "priv_validator_key.json"
ACCOUNT_FILE = "account.json"
ENCRYPTION_KEY_FILE = "encryption_key.json"
ENCRYPTION_PUB_KEY_BYTES = 33  # compressed secp256k1
MAX_NAME = 100
DEFAULT_P2P_PORT = 26656

_HOST_PORT = re.compile(r"^([A-Za-z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$")
_PEER = re.compile(r"^([0-9a-fA-F]{40})@(.+)$")
_FIELDS = ("version", "name", "node_id", "validator_pub_key", "account", "encryption_pub_key",
           "p2p_address")


def parse_host_port(text: str, what: str) -> tuple[str, int]:
    """HOST:PORT (a name, an IPv4 address or a [bracketed] IPv6 address, a port 1-65535)."""
    match = _HOST_PORT.match(text.strip()) if isinstance(text, str) else None
    if not match or not 1 <= int(match.group(2)) <= 65535:
        raise ConfigError(f"{what} must look like HOST:PORT, got {text!r}")
    return match.group(1), int(match.group(2))


def dialable_address(text: str, what: str) -> str:
    """A HOST:PORT other nodes can dial: not 0.0.0.0 or ::."""
    host, port = parse_host_port(text, what)
    try:
        unspecified = ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        unspecified = False
    if unspecified:
        raise ConfigError(f"{what} {text!r} cannot be dialled; give this host's own address")
    return f"{host}:{port}"


def outbound_host(towards: str = "192.0.2.1") -> str:
    """This host's address on the route to `towards` (no packet is sent), else its name."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect((towards.strip("[]"), 9))
            return str(s.getsockname()[0])
        except OSError:
            return socket.gethostname()


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


def parse_peer(text: str, option: str = "--peer") -> Peer:
    """ID@HOST:PORT, as CometBFT names a peer (the id is the node id, 40 hex digits)."""
    match = _PEER.match(text.strip())
    address = _HOST_PORT.match(match.group(2)) if match else None
    if not match or not address or not 1 <= int(address.group(2)) <= 65535:
        raise ConfigError(
            f"{option} must look like NODE_ID@HOST:PORT (a 40-hex-digit node id), got {text!r}"
        )
    return Peer(match.group(1).lower(), address.group(1), int(address.group(2)))


@dataclass(frozen=True)
class MemberCard:
    name: str
    node_id: str
    validator_pub_key: str
    account: str
    encryption_pub_key: str
    p2p_address: str

    @property
    def peer(self) -> str:
        return f"{self.node_id}@{self.p2p_address}"

    def to_json(self) -> dict[str, Any]:
        return {"version": CARD_VERSION, **asdict(self)}

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        path.chmod(0o644)

    @classmethod
    def from_json(cls, data: Any, where: str) -> MemberCard:
        """A checked card; `where` (the file) starts every error."""
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: a member card must be a JSON object")
        unknown = sorted(set(data) - set(_FIELDS))
        if unknown:
            raise ConfigError(f"{where}: unknown field {unknown[0]!r} in a member card")
        missing = [name for name in _FIELDS if data.get(name) is None]
        if missing:
            raise ConfigError(f"card {where} has no {missing[0]}")
        if data.get("version") != CARD_VERSION:
            raise ConfigError(
                f"{where}: card version {data.get('version')!r}, this program reads version "
                f"{CARD_VERSION}"
            )
        return cls(
            name=check_member_name(data.get("name"), f"{where}: name"),
            node_id=_node_id(data.get("node_id"), where),
            validator_pub_key=_validator_key(data.get("validator_pub_key"), where),
            account=_account(data.get("account"), where),
            encryption_pub_key=_encryption_key(data.get("encryption_pub_key"), where),
            p2p_address=dialable_address(_text(data.get("p2p_address")),
                                         f"{where}: p2p_address"),
        )

    @classmethod
    def load(cls, path: Path) -> MemberCard:
        return cls.from_json(read_json(path, "the card"), str(path))


def read_json(path: Path, what: str) -> Any:
    """A JSON file, or one line naming the file and what is wrong with it. UTF-8, with or
    without the byte-order mark Windows editors put first."""
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except OSError as exc:
        raise ConfigError(f"cannot read {what} {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text") from None
    except ValueError as exc:
        raise ConfigError(f"{what} {path} is not JSON: {exc}") from None


def check_member_name(value: Any, what: str) -> str:
    name = value.strip() if isinstance(value, str) else ""
    if not name or len(name) > MAX_NAME:
        raise ConfigError(f"{what} must be a name of 1 to {MAX_NAME} characters")
    if any(unicodedata.category(ch) == "Cc" for ch in name):
        raise ConfigError(f"{what} contains a control character")
    return name


def check_distinct(cards: list[tuple[str, MemberCard]]) -> None:
    """Each card names a different member: no card is given twice, and no two share a name
    (as files and nodes spell it, `slug`), node id, validator key, account, encryption key
    or address."""
    clash = _first_clash(cards, lambda c: c)
    if clash:
        (earlier, _), (where, card) = clash
        if Path(earlier).resolve() == Path(where).resolve():
            raise ConfigError(f"card {where} is given twice: give each member's card once")
        raise ConfigError(f"cards {earlier} and {where} are the same card ({card.name}'s): "
                          "give each member's card once")
    clash = _first_clash(cards, lambda c: slug(c.name))
    if clash:
        (earlier, other), (where, card) = clash
        if other.name.casefold() == card.name.casefold():
            raise ConfigError(f"cards {earlier} and {where} have the same name ({card.name})")
        raise ConfigError(
            f"cards {earlier} and {where} have names that differ only in accents, "
            f"punctuation or case ({other.name!r} and {card.name!r} would both name "
            f"{slug(card.name)!r} files and nodes): one member must change its name"
        )
    checks: tuple[tuple[str, Callable[[MemberCard], str]], ...] = (
        ("node id", lambda c: c.node_id),
        ("validator key", lambda c: c.validator_pub_key),
        ("account", lambda c: c.account),
        ("encryption key", lambda c: c.encryption_pub_key),
        ("p2p address", lambda c: c.p2p_address.lower()),
    )
    for what, key in checks:
        clash = _first_clash(cards, key)
        if clash:
            (earlier, card), (where, _) = clash
            raise ConfigError(f"cards {earlier} and {where} have the same {what} ({key(card)})")


def _first_clash(
    cards: list[tuple[str, MemberCard]], key: Callable[[MemberCard], Hashable]
) -> tuple[tuple[str, MemberCard], tuple[str, MemberCard]] | None:
    """The first two cards (in order) with the same `key`, if any."""
    seen: dict[Hashable, int] = {}
    for i, (_, card) in enumerate(cards):
        first = seen.setdefault(key(card), i)
        if first != i:
            return cards[first], cards[i]
    return None


def new_encryption_key() -> tuple[bytes, str]:
    """A secp256k1 key pair for ECIES: the 32-byte secret and the card's public key (hex)."""
    key = coincurve.PrivateKey()
    return key.secret, key.public_key.format(compressed=True).hex()


def encryption_public_key(secret: bytes) -> str:
    return str(coincurve.PrivateKey(secret).public_key.format(compressed=True).hex())


def read_keystore(path: Path, password: str) -> bytes:
    """The secret in a V3 keystore; a wrong password is named as such."""
    keystore = read_json(path, "the keystore")
    try:
        return bytes(Account.decrypt(keystore, password))
    except ValueError as exc:
        if "MAC mismatch" in str(exc):
            raise ConfigError(f"wrong password for {path}") from None
        raise ConfigError(f"{path} is not a usable keystore: {exc}") from None


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _node_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-fA-F]{40}", value):
        raise ConfigError(f"{where}: node_id must be 40 hex digits, got {value!r}")
    return value.lower()


def _validator_key(value: Any, where: str) -> str:
    try:
        raw = base64.b64decode(value, validate=True) if isinstance(value, str) else None
    except (binascii.Error, ValueError):
        raw = None
    if raw is None:
        raise ConfigError(f"{where}: validator_pub_key is not base64")
    if len(raw) != 32:
        raise ConfigError(
            f"{where}: validator_pub_key has the wrong length: {len(raw)} bytes, "
            "an ed25519 public key has 32"
        )
    return base64.b64encode(raw).decode()


def _account(value: Any, where: str) -> str:
    if not isinstance(value, str) or not is_hex_address(value) or not value.startswith("0x"):
        raise ConfigError(f"{where}: account must be a 0x address of 20 bytes, got {value!r}")
    digits = value[2:]
    if digits != digits.lower() and digits != digits.upper() and not is_checksum_address(value):
        raise ConfigError(f"{where}: account {value} has a wrong EIP-55 checksum")
    return value.lower()


def _encryption_key(value: Any, where: str) -> str:
    try:
        raw = bytes.fromhex(value.removeprefix("0x")) if isinstance(value, str) else None
    except ValueError:
        raw = None
    if raw is None:
        raise ConfigError(f"{where}: encryption_pub_key is not hex")
    if len(raw) != ENCRYPTION_PUB_KEY_BYTES or raw[0] not in (2, 3):
        raise ConfigError(
            f"{where}: encryption_pub_key has the wrong length or form: {len(raw)} bytes, "
            f"a compressed secp256k1 public key has {ENCRYPTION_PUB_KEY_BYTES} "
            "(starting 02 or 03)"
        )
    try:
        coincurve.PublicKey(raw)
    except ValueError:
        raise ConfigError(f"{where}: encryption_pub_key is not a point on secp256k1") from None
    return raw.hex()


def keygen(out: Path, *, name: str, p2p_address: str | None, password: str) -> MemberCard:
    """A member's keys folder and card (see the module's description), made on its own host.

    `p2p_address` is what the other nodes will dial (default: this host's address on its
    default route, port 26656)."""
    name = check_member_name(name, "--name")
    address = (
        dialable_address(p2p_address, "--external")
        if p2p_address
        else f"{outbound_host()}:{DEFAULT_P2P_PORT}"
    )
    if not password:
        raise ConfigError("the keystore password must not be empty (it protects the keys)")
    refusal = "keys are never overwritten, choose another folder"
    with fresh_folder(out, mode=0o700, refusal=refusal):
        scratch = out / ".cometbft-init"
        cometbft_init(scratch, name)
        for file in (NODE_KEY_FILE, VALIDATOR_KEY_FILE):
            (scratch / "config" / file).rename(out / file)
            (out / file).chmod(0o600)
        shutil.rmtree(scratch)
        account = write_keystore(out / ACCOUNT_FILE, Account.create().key, password, fast=False)
        secret, public = new_encryption_key()
        write_keystore(out / ENCRYPTION_KEY_FILE, secret, password, fast=False)
        card = MemberCard(
            name=name,
            node_id=node_id_from_key(out / NODE_KEY_FILE),
            validator_pub_key=_validator_pub_key(out / VALIDATOR_KEY_FILE),
            account=account.lower(),
            encryption_pub_key=public,
            p2p_address=address,
        )
        card.save(out / CARD_FILE)
    return card


@dataclass(frozen=True)
class MemberKeys:
    """A member's keys folder, opened: its card (checked against the keys beside it) and
    the decrypted encryption key."""

    folder: Path
    card: MemberCard
    encryption_secret: bytes

    @property
    def slug(self) -> str:
        return slug(self.card.name)


def open_member_keys(folder: Path, password: str) -> MemberKeys:
    for file in (CARD_FILE, NODE_KEY_FILE, VALIDATOR_KEY_FILE, ACCOUNT_FILE, ENCRYPTION_KEY_FILE):
        if not (folder / file).is_file():
            raise ConfigError(
                f"{folder} is not a keys folder made by `consortium keygen` ({file} is missing)"
            )
    card = MemberCard.load(folder / CARD_FILE)
    try:
        actual = {
            "node_id": node_id_from_key(folder / NODE_KEY_FILE),
            "validator_pub_key": _validator_pub_key(folder / VALIDATOR_KEY_FILE),
            "account": "0x" + _keystore_address(folder / ACCOUNT_FILE),
        }
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{folder} holds a malformed key file: {exc}") from None
    secret = read_keystore(folder / ENCRYPTION_KEY_FILE, password)
    actual["encryption_pub_key"] = encryption_public_key(secret)
    for field_name, value in actual.items():
        if getattr(card, field_name) != value:
            raise ConfigError(
                f"{folder / CARD_FILE} does not match the keys beside it ({field_name} differs)"
            )
    return MemberKeys(folder, card, secret)


def _keystore_address(path: Path) -> str:
    return str(json.loads(path.read_text())["address"]).lower().removeprefix("0x")


def _validator_pub_key(path: Path) -> str:
    return str(json.loads(path.read_text())["pub_key"]["value"])
