"""`consortium restore`: a node home from a backup archive, and the keys it runs with.

The archive is checked member by member against its manifest while it is written into a
temporary sibling of the new home, which is renamed into place only when everything
matched; any problem leaves nothing behind.

On its first start the node's engine replays the blocks between the ledger's height and its
block store's (the backup took the ledger first) and then catches up from its peers.

Signing. A validator key must never sign two different votes for one height and round.
`data/priv_validator_state.json` records the last thing a key signed; the copy in an archive
is as old as the archive, and the node kept signing after it. So by default a restored home
gets no validator key: CometBFT makes a fresh one, and the node runs as a full node that
signs nothing. `as_validator` installs the archive's (or `keys_from`'s) validator key with
the newest signing state it is given (`validator_state`: the replaced node's own file). When
it is not given, the restore cannot know what the key signed after the backup: it says so
loudly and sets CometBFT's `consensus.double_sign_check_height`, so the engine refuses to
start while the key's signature is in any of the last blocks (the original still running,
or stopped only moments ago). A restored validator replaces the original node; it never
runs beside it.

Files the archive does not hold. An archive made without keys lacks the home's secrets (its
manifest lists those the home had: `left_out`); `keys_from` (an old home or a keys folder)
brings back what it holds of them. What is still missing is named in `Restored.missing`
with how to bring it back, so an operator never learns it from a node that does not start
(TLS files) or, worse, starts without it: a node without its privacy key makes a new one at
its first start and can no longer open its privacy groups' data, so that one is also a loud
warning.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomlkit

from consortium import __version__
from consortium.network.backup_archive import (
    BackupError,
    Manifest,
    Progress,
    genesis_chain_id,
    read_archive,
    read_manifest,
)

VALIDATOR_KEY = "config/priv_validator_key.json"
VALIDATOR_STATE = "data/priv_validator_state.json"
NODE_KEY = "config/node_key.json"
PRIVACY_KEY = "privacy_key.json"
API_TOKENS = "api-tokens.json"
NETWORK_FILE = "network.json"
CARD_FILE = "card.json"
KEYGEN_ACCOUNT = "account.json"  # the account keystore in a `consortium keygen` folder
DOUBLE_SIGN_CHECK_BLOCKS = 10

if TYPE_CHECKING:
    from consortium.network.node_config import NodeConfig

Warn = Callable[[str], None]


@dataclass(frozen=True)
class Missing:
    """A file the restored home needs and does not have: what it is for, how to get it."""

    file: str  # relative to the home, or absolute when consortium.toml names it so
    what: str
    how: str


@dataclass
class Restored:
    manifest: Manifest
    home: Path
    validator: bool
    warnings: list[str] = field(default_factory=list)
    missing: list[Missing] = field(default_factory=list)
    # the `consensus.double_sign_check_height` restore set (no newest signing state): to be
    # set back to 0 once the node signs again, or a quick restart later waits as long
    double_sign_check: int | None = None

    @property
    def network_folder(self) -> bool:
        """Whether the home is its own one-node network folder (`consortium up --dir`)."""
        return (self.home / NETWORK_FILE).is_file()

    @property
    def start_command(self) -> str:
        """How to start the restored node: `consortium up` on the network folder that holds
        it (its own, or a local network's `nodes/NAME`), else in the foreground."""
        foreground = f"consortium node --home {_quote(self.home)}"
        if self.network_folder:
            return (f"`consortium up --dir {_quote(self.home)}` (or in the foreground "
                    f"`{foreground}`)")
        place = _place_in_network(self.home)
        if place is not None:
            root, name = place
            return f"`consortium up {name} --dir {_quote(root)}`"
        return f"`{foreground}`"


def _quote(path: Path) -> str:
    import shlex

    return shlex.quote(str(path))


def _place_in_network(home: Path) -> tuple[Path, str] | None:
    """The network folder and node name whose home `home` is (a local network's or a
    `join` folder's `nodes/NAME`), if it is one's."""
    root = home.parent.parent
    if home.parent.name != "nodes" or not (root / NETWORK_FILE).is_file():
        return None
    try:
        nodes = json.loads((root / NETWORK_FILE).read_text()).get("nodes", [])
        for node in nodes:
            if (root / node["home"]).resolve() == home.resolve():
                return root, str(node["name"])
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def check_archive(archive: Path, progress: Progress = lambda _: None) -> Manifest:
    """Verify every member of `archive` against its manifest; write nothing."""
    return read_archive(archive, None, progress)


def restore_node(
    archive: Path,
    home: Path,
    *,
    as_validator: bool = False,
    validator_state: Path | None = None,
    keys_from: Path | None = None,
    chain_id: str | None = None,
    double_sign_check: int = DOUBLE_SIGN_CHECK_BLOCKS,
    progress: Progress = lambda _: None,
) -> Restored:
    """Make the node home `home` (absent or an empty folder) from `archive`."""
    home = home.expanduser().resolve()
    if home.exists() and (not home.is_dir() or any(home.iterdir())):
        raise BackupError(f"{home} is not empty; restore into a new or empty folder "
                          "(move the old home away first)")
    if keys_from is not None and not keys_from.is_dir():
        raise BackupError(f"--keys-from {keys_from} is not a folder")
    if validator_state is not None and not as_validator:
        raise BackupError("--validator-state only makes sense with --as-validator")
    _check_chain(read_manifest(archive), keys_from, chain_id, archive)  # before any copy
    home.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{home.name}.restoring.", dir=home.parent))
    try:
        manifest = read_archive(archive, staging, progress)
        genesis = genesis_chain_id(staging / "config" / "genesis.json")
        if genesis != manifest.chain_id:
            raise BackupError(f"{archive} is corrupt: its genesis is of chain {genesis!r}, "
                              f"its manifest says {manifest.chain_id!r}")
        restored = Restored(manifest, home, as_validator)
        warn = restored.warnings.append
        if manifest.software_version != __version__:
            warn(f"the archive was made by consortium {manifest.software_version}, "
                 f"this is {__version__}")
        _install_keys(staging, keys_from, as_validator)
        restored.missing = _missing(staging, home, manifest)
        if any(m.file == PRIVACY_KEY for m in restored.missing):
            warn(f"WARNING: no privacy key ({PRIVACY_KEY}): started like this, the node makes "
                 "a NEW one and can no longer open its privacy groups' keys, so it loses "
                 "their private data. Before the first start copy the old home's "
                 f"{PRIVACY_KEY} into {home} (or restore again with --keys-from OLD_HOME)")
        check: int | None = None
        if as_validator:
            if not _install_signing_state(staging, validator_state, double_sign_check, warn):
                check = restored.double_sign_check = double_sign_check
        else:
            (staging / VALIDATOR_STATE).unlink(missing_ok=True)  # CometBFT makes both anew
        _configure_engine(staging, home, check)
        if home.exists():
            home.rmdir()
        staging.rename(home)
        return restored
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_chain(manifest: Manifest, keys_from: Path | None, expected: str | None,
                 archive: Path) -> None:
    if expected is not None and expected != manifest.chain_id:
        raise BackupError(f"{archive} is a backup of chain {manifest.chain_id!r}, "
                          f"not {expected!r}")
    if keys_from is not None:
        other = keys_from / "config" / "genesis.json"
        if other.is_file() and genesis_chain_id(other) != manifest.chain_id:
            raise BackupError(f"{keys_from} belongs to chain {genesis_chain_id(other)!r}, "
                              f"the archive to {manifest.chain_id!r}; refused")


def _key_source(keys_from: Path, rel: str) -> Path | None:
    """A key file in `keys_from`: a node home (config/…) or the folder holding the file."""
    for candidate in (keys_from / rel, keys_from / Path(rel).name):
        if candidate.is_file():
            return candidate
    return None


def _install_keys(staging: Path, keys_from: Path | None, as_validator: bool) -> None:
    """Bring what `keys_from` holds of the home's keys into it (they win over the archive's),
    and the network folder's files an older archive lacks; drop the validator key unless the
    restore signs."""
    if keys_from is not None:
        _install_folder_files(staging, keys_from)
        cfg = _config(staging)
        access = cfg.api_access
        named = [p for p in (access.tls_cert, access.tls_key, access.tls_client_ca)
                 if p is not None and not Path(p).is_absolute()]
        key_file = _consortium_key_file(staging)
        for rel in (NODE_KEY, VALIDATOR_KEY, API_TOKENS, PRIVACY_KEY, *named,
                    *(() if Path(key_file).is_absolute() else (key_file,))):
            source = _key_source(keys_from, rel)
            if source is not None:
                _install(source, staging / rel)
        for _, address, rel in _keystores(staging):
            source = _keystore_source(keys_from, rel, address)
            if source is not None:
                _install(source, staging / rel)
    if not as_validator:
        (staging / VALIDATOR_KEY).unlink(missing_ok=True)
    elif not (staging / VALIDATOR_KEY).is_file():
        raise BackupError("--as-validator needs the validator key: the archive has none "
                          "(back up with --include-keys) and --keys-from gave none")


def _install(source: Path, target: Path) -> None:
    target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(source, target)
    target.chmod(0o600)


def _install_folder_files(staging: Path, keys_from: Path) -> None:
    """network.json and card.json from an old `node setup` home when the archive (of an
    earlier version) lacks them: only a one-node folder that is its own node home, of the
    same node."""
    if not (staging / NETWORK_FILE).is_file():
        try:
            old = json.loads((keys_from / NETWORK_FILE).read_text())
            nodes = old["nodes"]
            own = len(nodes) == 1 and nodes[0]["home"] in (".", "")
        except (OSError, ValueError, KeyError, TypeError, IndexError):
            own = False
        if own:
            shutil.copyfile(keys_from / NETWORK_FILE, staging / NETWORK_FILE)
    if (staging / NETWORK_FILE).is_file() and not (staging / CARD_FILE).is_file():
        try:
            node_id = json.loads((staging / NETWORK_FILE).read_text())["nodes"][0]["node_id"]
            card = json.loads((keys_from / CARD_FILE).read_text())
            same = card["node_id"].lower() == str(node_id).lower()
        except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
            same = False
        if same:
            shutil.copyfile(keys_from / CARD_FILE, staging / CARD_FILE)


def _keystores(home: Path) -> list[tuple[str, str, str]]:
    """(member, account, keystore path) of each member network.json names (none without)."""
    try:
        data = json.loads((home / NETWORK_FILE).read_text())
        return [(str(m["name"]), str(m["address"]).lower(), str(m["keystore"]))
                for m in data.get("members", [])
                if not Path(str(m["keystore"])).is_absolute()]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return []


def _keystore_source(keys_from: Path, rel: str, address: str) -> Path | None:
    """The member's account keystore in an old home (`rel`), or the `consortium keygen`
    folder's account.json when it is that account's."""
    found = _key_source(keys_from, rel)
    if found is not None:
        return found
    candidate = keys_from / KEYGEN_ACCOUNT
    try:
        keystore_address = str(json.loads(candidate.read_text())["address"]).lower()
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return candidate if "0x" + keystore_address.removeprefix("0x") == address else None


def _config(staging: Path) -> NodeConfig:
    from consortium.network.node_config import NodeConfig

    return NodeConfig.load(staging)


def _consortium_key_file(staging: Path) -> str:
    """The consortium key's path relative to the home (absolute when configured outside)."""
    path = _config(staging).consortium_key_path
    return path.relative_to(staging).as_posix() if path.is_relative_to(staging) else str(path)


def _envelope_name(staging: Path) -> str | None:
    """The genesis envelope's file name of a `node setup` home's member (None: no card)."""
    from consortium.network.ceremony import envelope_file_name

    try:
        return envelope_file_name(str(json.loads((staging / CARD_FILE).read_text())["name"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _missing(staging: Path, home: Path, manifest: Manifest) -> list[Missing]:
    """What the restored home lacks that it needs, and how to bring each back."""
    cfg = _config(staging)
    access = cfg.api_access
    left_out = manifest.left_out  # None: an older archive, which did not record it
    envelope = _envelope_name(staging)
    copy = "copy it from the old home, or restore again with --keys-from OLD_HOME"
    out: list[Missing] = []

    def absent(rel: str) -> bool:
        return not (staging / rel).is_file() if not Path(rel).is_absolute() \
            else not Path(rel).is_file()

    for option, value, what in (
            ("tls_cert", access.tls_cert, "the API's TLS certificate"),
            ("tls_key", access.tls_key, "the API's TLS key"),
            ("tls_client_ca", access.tls_client_ca, "the CA of the API's client certificates")):
        if value is not None and absent(value):
            out.append(Missing(value, f"{what} ([api] {option} in consortium.toml); the node "
                               "does not start without it",
                               f"{copy}; or make a new certificate and key with `consortium "
                               "tls cert` and set [api] tls_cert / tls_key to them"))
    if absent(NODE_KEY):
        out.append(Missing(NODE_KEY, "the node key: without it the node gets a new node id, "
                           "which the consortium's peer filters refuse until it is registered",
                           "restore again with --keys-from KEYS (the `consortium keygen` "
                           "folder holds node_key.json) or --keys-from OLD_HOME"))
    key_file = _consortium_key_file(staging)
    if absent(key_file):
        how = (f"`consortium key open --dir {home} --envelope {envelope} --keys KEYS` (your "
               "envelope from the genesis, your `consortium keygen` folder), or copy it from "
               "the old home or another node of your institution"
               if envelope is not None else
               "copy it from the old home or another node of your institution (or "
               "--keys-from); a `consortium join` member: `consortium key open` of the "
               "envelope a member sealed to it")
        out.append(Missing(key_file, "the consortium key ([consortium] key_file): invoice "
                           "fingerprints and asset ids need it", how))
    if absent(PRIVACY_KEY) and (left_out is None or PRIVACY_KEY in left_out):
        out.append(Missing(PRIVACY_KEY, "the node's privacy key: without it the node makes a "
                           "new one and loses its privacy groups' data"
                           + (" (the archive does not say whether the node had one)"
                              if left_out is None else ""), copy))
    tokens_used = access.mode(cfg.api_host) == "token"
    if absent(API_TOKENS) and (API_TOKENS in left_out if left_out is not None
                               else tokens_used):
        out.append(Missing(API_TOKENS, "the API tokens: without them the node accepts no "
                           "token (every client gets 401)",
                           f"{copy}; or create new ones with `consortium api-token create "
                           f"--home {home}`"))
    for member, _, rel in _keystores(staging):
        if absent(rel):
            out.append(Missing(rel, f"{member}'s account keystore (network.json): `--from "
                               f'"{member}"` signs with it',
                               "restore again with --keys-from KEYS (the `consortium keygen` "
                               "folder's account.json) or --keys-from OLD_HOME, or copy it"))
    return out


def _configure_engine(staging: Path, home: Path, double_sign_check: int | None) -> None:
    """Point CometBFT at the ABCI socket of the home it now lives in (config.toml names it
    by absolute path), and set its double-sign check when asked."""
    from consortium.network.node_config import NodeConfig

    socket = replace(NodeConfig.load(staging), home=home).abci_socket
    config = staging / "config" / "config.toml"
    doc = tomlkit.parse(config.read_text())
    doc["proxy_app"] = f"unix://{socket}"
    if double_sign_check is not None:
        doc["consensus"]["double_sign_check_height"] = double_sign_check  # type: ignore[index]
    config.write_text(tomlkit.dumps(doc))


def _install_signing_state(staging: Path, newer: Path | None, check_blocks: int,
                           warn: Warn) -> bool:
    """Install the newest signing state known; False (with a loud warning) when none came
    from the replaced node, so CometBFT's double-sign check must guard the start."""
    state_path = staging / VALIDATOR_STATE
    given = _read_state(newer)
    if newer is not None and given is None:
        raise BackupError(f"--validator-state {newer} is not a priv_validator_state.json")
    states = [s for s in (_read_state(state_path), given) if s is not None]
    if not states:
        states = [{"height": "0", "round": 0, "step": 0}]
    newest = max(states, key=_sign_position)
    state_path.parent.mkdir(parents=True, exist_ok=True)
    state_path.write_text(json.dumps(newest, indent=2) + "\n")
    if newer is None:
        warn(f"WARNING: restoring a validator without its newest signing state "
             f"(--validator-state): the archive's is from height {newest['height']}, and the "
             f"original node signed after it. The engine will refuse to start while this key "
             f"signed any of the last {check_blocks} blocks "
             f"(consensus.double_sign_check_height = {check_blocks}); make sure the original "
             "node is stopped for good — never run both")
    return newer is not None


def _read_state(path: Path | None) -> dict[str, Any] | None:
    if path is None or not path.is_file():
        return None
    try:
        data = json.loads(path.read_text())
        _sign_position(data)
        return data  # type: ignore[no-any-return]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _sign_position(state: dict[str, Any]) -> tuple[int, int, int]:
    """Height, round, step (0 none, 1 propose, 2 prevote, 3 precommit): later is larger."""
    return int(state["height"]), int(state["round"]), int(state["step"])
