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
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

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
DOUBLE_SIGN_CHECK_BLOCKS = 10

Warn = Callable[[str], None]


@dataclass
class Restored:
    manifest: Manifest
    home: Path
    validator: bool
    warnings: list[str] = field(default_factory=list)


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
        _install_keys(staging, keys_from, as_validator, warn)
        check: int | None = None
        if as_validator:
            if not _install_signing_state(staging, validator_state, double_sign_check, warn):
                check = double_sign_check
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


def _install_keys(staging: Path, keys_from: Path | None, as_validator: bool,
                  warn: Warn) -> None:
    key_file = _consortium_key_file(staging)
    for rel in (NODE_KEY, VALIDATOR_KEY, key_file, "api-tokens.json"):
        source = _key_source(keys_from, rel) if keys_from is not None else None
        if source is not None:
            shutil.copyfile(source, staging / rel)
            (staging / rel).chmod(0o600)
    if not as_validator:
        (staging / VALIDATOR_KEY).unlink(missing_ok=True)
    elif not (staging / VALIDATOR_KEY).is_file():
        raise BackupError("--as-validator needs the validator key: the archive has none "
                          "(back up with --include-keys) and --keys-from gave none")
    if not (staging / NODE_KEY).is_file():
        warn("no node key (neither in the archive nor --keys-from): the node gets a new node "
             "id, which the consortium's peer filters refuse until it is registered")
    if not (staging / key_file).is_file():
        warn(f"no consortium key ({key_file}): invoice fingerprints need it; copy it from "
             "another node of your institution")


def _consortium_key_file(staging: Path) -> str:
    from consortium.network.node_config import NodeConfig

    cfg = NodeConfig.load(staging)
    return cfg.consortium_key_path.relative_to(staging).as_posix()


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
