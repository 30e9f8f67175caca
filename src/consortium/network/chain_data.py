"""Whether a node home holds chain data that replacing it would lose: a validator's signing
state past height 0, or a ledger (or block store) with committed blocks.

`consortium node setup` and `consortium join --force` both replace a folder with a new node
home; neither may replace one whose node ran (`refuse_chain_data`). A module of its own so
that `join` and `ceremony` (which imports `join`) can both use it without an import cycle.
"""

from __future__ import annotations

import json
from pathlib import Path

from consortium.errors import ConfigError, ConsortiumError
from consortium.network.layout import Network

SIGNING_STATE_FILE = "data/priv_validator_state.json"  # what the validator last signed
BLOCK_STORE_DIR = "data/blockstore.db"
LEDGER_FILE = "app/data.mdb"


def refuse_chain_data(out: Path) -> None:
    """Refuse to set up over a home whose node ran: with or without --force.

    A new home starts the validator's signing state at height 0, so the validator would sign
    again at heights it already signed, possibly differently (double signing, which CometBFT
    can only detect afterwards); and the ledger and blocks would be gone. A home that was set
    up but never started, or started but never committed a block, may be replaced. The
    node homes a network.json in `out` lists (`init`, `join`) are checked too: all would go."""
    homes = [out]
    if (out / "network.json").is_file():
        try:
            network = Network.load(out)
        except ConsortiumError:
            network = None
        inside = out.resolve()
        homes += [] if network is None else [
            network.node_home(n) for n in network.nodes
            if inside in network.node_home(n).resolve().parents]
    for home in homes:
        _refuse_node_home(home)


def _refuse_node_home(home: Path) -> None:
    lost: list[str] = []
    signed = _signing_height(home / SIGNING_STATE_FILE)
    if signed is None or signed > 0:
        at = "that cannot be read" if signed is None else f"at height {signed}"
        lost.append(f"a validator's signing state {at} ({SIGNING_STATE_FILE})")
    if (home / LEDGER_FILE).exists():
        height = _ledger_height(home / LEDGER_FILE)
        if height is None or height > 0:
            at = "that cannot be read" if height is None else f"at height {height}"
            lost.append(f"a ledger {at} ({LEDGER_FILE})")
    elif (home / BLOCK_STORE_DIR).exists():
        lost.append(f"a block store and no ledger beside it ({BLOCK_STORE_DIR})")
    if not lost:
        return
    held = " and ".join(lost)
    if signed != 0:
        raise ConfigError(
            f"{home} holds {held}: setting up over it would let this validator sign twice; "
            f"keep that home (change its settings in place), or move it aside and copy its "
            f"{SIGNING_STATE_FILE} into the new home before the new home's first start"
        )
    raise ConfigError(
        f"{home} holds {held}: setting up over it would throw that chain data away; keep "
        "that home, or move it aside"
    )


def _signing_height(path: Path) -> int | None:
    """The height the validator last signed at: 0 without the file (`cometbft init` writes
    one at 0), None when it cannot be read (never guessed to be 0)."""
    if not path.exists():
        return 0
    try:
        return int(json.loads(path.read_text())["height"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _ledger_height(data_file: Path) -> int | None:
    """The ledger's last committed height (0 for one never committed to), None when it
    cannot be read. Read-only and without LMDB's lock file: nothing in the home changes."""
    import lmdb

    from consortium.ledger.state_store import MAP_SIZE

    try:
        env = lmdb.open(str(data_file.parent), readonly=True, lock=False, subdir=True,
                        max_dbs=32, map_size=MAP_SIZE)
    except lmdb.Error:
        return None
    try:
        with env.begin(buffers=False) as txn:
            try:
                meta = env.open_db(b"meta", txn=txn, create=False)
            except lmdb.NotFoundError:
                return 0  # the app never opened it
            raw = txn.get(b"height", db=meta)
    except lmdb.Error:
        return None
    finally:
        env.close()
    return int.from_bytes(raw, "big") if raw else 0
