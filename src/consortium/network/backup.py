"""`consortium backup`: a consistent copy of a node home, taken while the node runs.

Order matters, because CometBFT's handshake (consensus/replay.go, `ReplayBlocks`) accepts a
ledger *behind* its block store — it replays the missing blocks into it — but refuses one
ahead of it, and needs its own block store and state within one height of each other:

1. The ledger's LMDB first, with LMDB's own copy (`mdb_env_copy2`, compacting) inside one
   read transaction, so the copy is exactly the committed state at height H, read from the
   same transaction.
2. Then CometBFT's goleveldb folders (block store, state, evidence). They cannot be opened
   while the engine holds them, so their files are copied: a table file never changes once
   written, the MANIFEST and journals only grow (a torn last record is dropped when the copy
   is opened). A folder is copied only when its listing and CURRENT are the same before
   and after its MANIFEST is read — then every table the MANIFEST names is in the copy; a
   file removed by compaction meanwhile restarts that folder, and so does a copy missing a
   table its MANIFEST lists at that size (leveldb_manifest.py). The whole pass is repeated
   until the engine's block height (its RPC `/status`) is the same before and after it, so
   the block store holds exactly that height H' >= H and the state H' or H' - 1: the cases
   the handshake repairs. Table files already copied are kept between passes, so a repeat
   copies only what changed.
3. `data/priv_validator_state.json` last (the newest it can be; see restore.py for why it is
   still not the newest there will be).

A node that is stopped is copied the same way while holding the engine's database locks;
its engine height is then not known (null in the manifest).

Besides the databases and settings, the archive holds what a home made by `consortium node
setup` needs to be operated again, being public: `network.json` and `card.json` (`consortium
up/status/down --dir`, `key open` read them) and the API's TLS certificate (and client CA)
named in consortium.toml. Secrets — node, validator, consortium and privacy keys, API tokens,
the TLS key, the account keystores — only with `include_keys`; without it the manifest lists
those the home held (`left_out`), so a restore can say exactly which to bring back.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
import lmdb

from consortium import __version__
from consortium.ledger.state_store import MAP_SIZE
from consortium.network.backup_archive import (
    PROGRESS_STEP,
    BackupError,
    Manifest,
    Progress,
    genesis_chain_id,
    write_archive,
)
from consortium.network.engine import COMETBFT_VERSION
from consortium.network.leveldb_manifest import ManifestError, live_tables, table_file_names
from consortium.network.node import engine_ports
from consortium.network.node_config import NodeConfig

ENGINE_DBS = ("blockstore.db", "state.db", "evidence.db")
LEVELDB_SKIP = {"LOCK", "LOG", "LOG.old"}
# Files with secrets: in the archive only with include_keys.
KEY_FILES = ("config/node_key.json", "config/priv_validator_key.json", "api-tokens.json",
             "privacy_key.json")  # the node's privacy key: it opens its groups' keys
CONFIG_FILES = ("consortium.toml", "config/config.toml", "config/genesis.json",
                "config/addrbook.json", "data/priv_validator_state.json")
# A `consortium node setup` home is also its one-node network folder: these public files
# describe it (the node, the member, its keystore's place; the member's card).
FOLDER_FILES = ("network.json", "card.json")
PASS_ATTEMPTS = 50
FOLDER_ATTEMPTS = 50


def backup_node(home: Path, out: Path, *, include_keys: bool = False,
                progress: Progress = lambda _: None) -> Manifest:
    """Write the archive of the node home `home` to `out` (never left half-written)."""
    home = home.resolve()
    cfg = NodeConfig.load(home)
    chain_id = _chain_id(home)
    if out.exists():
        raise BackupError(f"{out} already exists; choose another file or remove it")
    if not out.parent.is_dir():
        raise BackupError(f"{out.parent} is not a folder")
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        progress(f"ledger: copying {cfg.app_dir / 'data.mdb'}")
        height, app_hash = copy_ledger(cfg.app_dir, staging / "app", progress)
        progress(f"ledger: height {height} copied")
        engine_height = _copy_engine(home, staging / "data", progress)
        progress("engine: block store at height "
                 + (str(engine_height) if engine_height is not None else "? (node stopped)"))
        public, secret = home_files(home, cfg)
        for rel in (*CONFIG_FILES, *public, *(secret if include_keys else ())):
            if (home / rel).is_file():
                (staging / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(home / rel, staging / rel)
        manifest = Manifest(
            chain_id=chain_id, node=cfg.name, member=cfg.member,
            software_version=__version__, engine_version=COMETBFT_VERSION,
            created_at=datetime.now(UTC).isoformat(timespec="seconds"),
            ledger_height=height, ledger_app_hash=app_hash.hex(),
            engine_height=engine_height, includes_keys=include_keys,
            left_out=[] if include_keys else sorted(r for r in secret if (home / r).is_file()))
        write_archive(staging, manifest, out, progress)
        return manifest
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def home_files(home: Path, cfg: NodeConfig) -> tuple[list[str], list[str]]:
    """The home's files besides the databases and CONFIG_FILES, relative to it: (public:
    always archived, secret: only with --include-keys). Files consortium.toml names outside
    the home are neither: they are not the home's."""
    access = cfg.api_access
    public = [*FOLDER_FILES, *_inside(home, access.tls_cert, access.tls_client_ca)]
    keystores = sorted(f"keystores/{p.name}" for p in (home / "keystores").glob("*.json")
                       if p.is_file())
    secret = [*KEY_FILES, *_inside(home, str(cfg.consortium_key_path), access.tls_key),
              *keystores]
    return public, secret


def _inside(home: Path, *named: str | None) -> list[str]:
    """The paths among `named` (relative to the home, or absolute) that lie in the home."""
    found = []
    for value in named:
        if value is None:
            continue
        path = Path(os.path.normpath(home / value))
        if path.is_relative_to(home):
            found.append(path.relative_to(home).as_posix())
    return found


def _chain_id(home: Path) -> str:
    chain_id = genesis_chain_id(home / "config" / "genesis.json")
    if chain_id is None:
        raise BackupError(f"{home} has no readable genesis (config/genesis.json)")
    return chain_id


# --- the ledger ------------------------------------------------------------------------------


def copy_ledger(app_dir: Path, dst: Path, progress: Progress) -> tuple[int, bytes]:
    """LMDB's own compacting copy of the ledger under one read transaction; returns the
    height and app hash that transaction saw (the copy's own)."""
    if not (app_dir / "data.mdb").is_file():
        raise BackupError(f"{app_dir} holds no ledger (data.mdb is missing)")
    dst.mkdir(parents=True)
    try:
        # The node's own map size: a map smaller than the file the node grows meanwhile
        # would fail the read transaction (MDB_MAP_RESIZED).
        env = lmdb.open(str(app_dir), readonly=True, lock=True, subdir=True, max_dbs=32,
                        max_readers=512, map_size=MAP_SIZE)
    except lmdb.Error as exc:
        raise BackupError(f"cannot open the ledger at {app_dir}: {exc}") from None
    try:
        meta = env.open_db(b"meta", create=False)
        with env.begin(buffers=False) as txn, _watch_size(
                dst / "data.mdb", env.info()["last_pgno"] * env.stat()["psize"], progress):
            raw_height = txn.get(b"height", db=meta)
            app_hash = txn.get(b"app_hash", db=meta) or b""
            env.copy(str(dst), compact=True, txn=txn)
    except lmdb.Error as exc:
        raise BackupError(f"copying the ledger at {app_dir} failed: {exc}") from None
    finally:
        env.close()
    return (int.from_bytes(raw_height, "big") if raw_height else 0), app_hash


@contextmanager
def _watch_size(path: Path, total: int, progress: Progress) -> Iterator[None]:
    """Report a long copy's progress (the copy itself is one call into LMDB)."""
    stop = threading.Event()

    def watch() -> None:
        reported = 0
        while not stop.wait(2):
            size = path.stat().st_size if path.exists() else 0
            if size - reported >= PROGRESS_STEP:
                reported = size
                progress(f"ledger: {size >> 20:,} MiB of at most {total >> 20:,} MiB copied")

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --- the engine ------------------------------------------------------------------------------


def _copy_engine(home: Path, dst: Path, progress: Progress) -> int | None:
    src = home / "data"
    dbs = [src / name for name in ENGINE_DBS if (src / name / "CURRENT").is_file()]
    if not any(db.name == "blockstore.db" for db in dbs):
        raise BackupError(f"{src} holds no CometBFT block store (blockstore.db)")
    with ExitStack() as locks:
        if all(_try_lock(db, locks) for db in dbs):  # the engine is not running
            for db in dbs:
                copy_leveldb(db, dst / db.name)
            return None
        locks.close()
        return _copy_live(dbs, dst, _engine_height_reader(home), progress)


def _try_lock(db: Path, locks: ExitStack) -> bool:
    """Take goleveldb's own lock (flock on LOCK) if nobody holds it."""
    handle = locks.enter_context(open(db / "LOCK", "a+b"))  # noqa: SIM115 - held by locks
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


def _engine_height_reader(home: Path) -> Callable[[], int]:
    url = f"http://127.0.0.1:{engine_ports(home)['rpc']}/status"

    def height() -> int:
        try:
            answer = httpx.get(url, timeout=10).json()
            return int(answer["result"]["sync_info"]["latest_block_height"])
        except (httpx.HTTPError, ValueError, KeyError, TypeError) as exc:
            raise BackupError(
                f"the engine holds its databases but its RPC {url} does not answer ({exc}); "
                "retry when the node is up, or stop it first") from None

    return height


def _copy_live(dbs: list[Path], dst: Path, height: Callable[[], int],
               progress: Progress) -> int:
    for attempt in range(PASS_ATTEMPTS):
        before = height()
        for db in dbs:
            copy_leveldb(db, dst / db.name)
        after = height()
        if before == after:
            return after
        if attempt == 0:
            progress(f"engine: blocks {before + 1}..{after} arrived during the copy; "
                     "copying the changes until a pass sees no new block")
    raise BackupError(f"the engine's databases changed during each of {PASS_ATTEMPTS} "
                      "copies; retry when the node is less busy")


def copy_leveldb(src: Path, dst: Path) -> None:
    """Copy one goleveldb folder that may be in use so that the copy opens: see the module
    docstring. Table files already in `dst` with the same size are kept (they never change)."""
    dst.mkdir(parents=True, exist_ok=True)
    for _ in range(FOLDER_ATTEMPTS):
        try:
            listing = _listing(src)
            current = (src / "CURRENT").read_bytes()
            manifest_name = current.decode().strip()
            manifest = (src / manifest_name).read_bytes()
            if _listing(src) != listing or (src / "CURRENT").read_bytes() != current:
                continue  # a compaction or flush moved things: start over
            for name in listing:
                if name in LEVELDB_SKIP or name in ("CURRENT", manifest_name):
                    continue
                if (name.endswith((".ldb", ".sst")) and (dst / name).is_file()
                        and (dst / name).stat().st_size == (src / name).stat().st_size):
                    continue
                shutil.copyfile(src / name, dst / name)
        except FileNotFoundError:
            continue  # removed by a compaction while copying: start over
        (dst / manifest_name).write_bytes(manifest)
        (dst / "CURRENT").write_bytes(current)
        for stale in set(_listing(dst)) - listing:
            (dst / stale).unlink()
        if _tables_present(dst, manifest_name, manifest):
            return
    raise BackupError(f"{src} kept changing during {FOLDER_ATTEMPTS} copies; retry later")


def _tables_present(dst: Path, manifest_name: str, manifest: bytes) -> bool:
    """Whether every table the copied MANIFEST lists is in the copy at its size."""
    try:
        tables = live_tables(manifest)
    except ManifestError as exc:
        raise BackupError(f"cannot read {dst.name}/{manifest_name} ({exc}); is this "
                          "CometBFT's goleveldb?") from None
    for number, size in tables.items():
        if not any((dst / name).is_file() and (dst / name).stat().st_size == size
                   for name in table_file_names(number)):
            return False
    return True


def _listing(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file()}
