"""State-sync snapshots: the ledger's state at one height, in chunks another node can restore.

A snapshot of height H holds everything a node needs to carry on from H without the blocks
before it:
  - every state trie node reachable from the state root after H (account trie, storage tries,
    contract code), stored under the same places (height + hash) as in the source ledger, so
    the records' locators stay valid. They are listed depth first from the root: a restoring
    node knows which node must come next, checks its keccak against the reference that named
    it, and so proves the whole state against the app hash CometBFT's light client verified,
    holding only the walk's path in memory;
  - the chain's context: the genesis document (chain id, gas limit, members at genesis), the
    block records of H and of the 255 blocks before it (BLOCKHASH and the next block's
    parent), and block H's transactions and logs (so its receipts and logs answer).

Format 1 (the `format` field of the ABCI Snapshot): each chunk is a run of entries
`kind u8 | key length u16 | value length u32 | key | value`; the metadata is JSON
{"format", "height", "state_root", "root_at", "chunk_hashes"} and the snapshot's hash is
sha256 of the metadata, so the per-chunk hashes are bound to the hash peers agree on.

On disk, under a node's snapshot folder: `<height>/metadata.json` and `<height>/<i>.chunk`,
written to a temporary folder and renamed when complete (a crash leaves no half snapshot).

`write_snapshot(store, height, folder)` and `SnapshotRestore` (plus `restore_snapshot` for a
snapshot folder) are usable on their own, e.g. for backups.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import shutil
import struct
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lmdb

from consortium.errors import ConfigError, ConsortiumError
from consortium.evm.trie_records import (
    BLANK_ROOT,
    account_links,
    node_refs,
    read_varints,
    rlp_length,
)

log = logging.getLogger("consortium.snapshots")

FORMAT = 1
CHUNK_BYTES = 4 << 20  # well under CometBFT's 16 MB chunk message limit
DEFAULT_INTERVAL = 1000
DEFAULT_KEEP = 2
RECENT_BLOCKS = 256  # BLOCKHASH's window (ledger.BLOCKHASH_WINDOW)
EMPTY_CODE_HASH = bytes.fromhex(
    "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470")
RESTORED_KEY = b"restored_height"  # in `meta`: the snapshot height a node was restored from

# entry kinds
GENESIS, BLOCK, TX, LOG, ACCOUNT_NODE, STORAGE_NODE, CODE = 1, 2, 3, 4, 10, 11, 12
_ENTRY = struct.Struct(">BHI")
_DB_NAMES = (
    "meta", "nodes", "code", "roots", "blocks", "block_hash", "txs", "tx_hash", "logs",
    "log_addr", "log_topic", "rejections",
)


class SnapshotRefused(ConsortiumError):
    """A snapshot (or one of its chunks) that must not be restored, and why."""


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


@dataclass(frozen=True)
class SnapshotInfo:
    """What ListSnapshots offers: the ABCI Snapshot's fields."""

    height: int
    format: int
    chunks: int
    hash: bytes
    metadata: bytes

    @classmethod
    def from_metadata(cls, metadata: bytes) -> SnapshotInfo:
        doc = parse_metadata(metadata)
        return cls(doc["height"], doc["format"], len(doc["chunk_hashes"]),
                   hashlib.sha256(metadata).digest(), metadata)


def parse_metadata(metadata: bytes) -> dict[str, Any]:
    """The metadata document, checked for shape (raises SnapshotRefused)."""
    try:
        doc = json.loads(metadata)
        ok = (isinstance(doc, dict) and isinstance(doc.get("height"), int)
              and isinstance(doc.get("format"), int) and isinstance(doc.get("root_at"), int)
              and isinstance(doc.get("chunk_hashes"), list) and doc["chunk_hashes"]
              and all(isinstance(h, str) and len(h) == 64 for h in doc["chunk_hashes"])
              and isinstance(doc.get("state_root"), str) and len(doc["state_root"]) == 64)
        if ok:
            doc["chunk_hashes"] = [bytes.fromhex(h) for h in doc["chunk_hashes"]]
            doc["state_root"] = bytes.fromhex(doc["state_root"])
            return doc  # type: ignore[no-any-return]
    except (ValueError, UnicodeDecodeError):
        pass
    raise SnapshotRefused("snapshot metadata is malformed")


# --- writing ---------------------------------------------------------------------------------


class _ChunkWriter:
    """Cuts the entry stream into chunk files of about `chunk_bytes`, hashing each."""

    def __init__(self, folder: Path, chunk_bytes: int) -> None:
        self.folder, self.chunk_bytes = folder, chunk_bytes
        self.hashes: list[bytes] = []
        self._buf = bytearray()

    def add(self, kind: int, key: bytes, value: bytes) -> None:
        buf = self._buf
        buf += _ENTRY.pack(kind, len(key), len(value))
        buf += key
        buf += value
        if len(buf) >= self.chunk_bytes:
            self.flush()

    def flush(self) -> None:
        if not self._buf and self.hashes:
            return
        data = bytes(self._buf)
        (self.folder / f"{len(self.hashes)}.chunk").write_bytes(data)
        self.hashes.append(hashlib.sha256(data).digest())
        self._buf.clear()


def _children(kind: int, record: bytes) -> list[tuple[int, bytes]]:
    """What a trie node record refers to, in order: (entry kind, key) of each child node,
    and for an account leaf its code (by hash) then its storage root (by place)."""
    end = rlp_length(record)
    node, locator = record[:end], record[end:]
    children, value = node_refs(node)
    heights = read_varints(locator) if locator else []
    if value is None:
        if len(heights) != len(children):
            raise ConsortiumError("corrupt trie node record: locator and node disagree")
        return [(kind, u64(h) + c) for c, h in zip(children, heights, strict=True)]
    if kind != ACCOUNT_NODE:
        return []
    storage_root, code_hash = account_links(value)
    out: list[tuple[int, bytes]] = []
    if code_hash != EMPTY_CODE_HASH:
        out.append((CODE, code_hash))
    if storage_root != BLANK_ROOT:
        if len(heights) != 1:
            raise ConsortiumError("corrupt trie node record: a leaf's locator")
        out.append((STORAGE_NODE, u64(heights[0]) + storage_root))
    return out


def write_snapshot(store: Any, height: int, folder: Path, *,
                   chunk_bytes: int = CHUNK_BYTES) -> SnapshotInfo:
    """Write the snapshot of committed height `height` of `store` (anything with a `StateStore`'s
    `env` and `dbs`) into `folder` (created; must not exist), reading one LMDB read
    transaction. Returns what ListSnapshots offers for it."""
    from consortium.ledger.chain_store import BlockRecord

    folder.mkdir(parents=True)
    out = _ChunkWriter(folder, chunk_bytes)
    dbs = store.dbs
    with store.env.begin(buffers=False) as txn:
        ref = txn.get(u64(height), db=dbs["roots"])
        genesis = txn.get(b"genesis", db=dbs["meta"])
        if ref is None or genesis is None:
            raise ConsortiumError(f"no committed state at height {height} to snapshot")
        root, root_at = ref[:32], int.from_bytes(ref[32:40], "big")
        out.add(GENESIS, b"genesis", genesis)
        first = max(int(json.loads(genesis)["genesis_height"]), height - RECENT_BLOCKS + 1)
        for h in range(first, height + 1):
            raw = txn.get(u64(h), db=dbs["blocks"])
            if raw is None:
                raise ConsortiumError(f"block {h} is missing from the store")
            out.add(BLOCK, u64(h), raw)
        if BlockRecord.decode(raw).state_root != root:
            raise ConsortiumError(f"block {height}'s state root is not the stored root")
        for table, kind in (("txs", TX), ("logs", LOG)):
            cur = txn.cursor(db=dbs[table])
            if cur.set_range(u64(height)):
                for key, value in cur:
                    if key[:8] != u64(height):
                        break
                    out.add(kind, key, value)
        if root != BLANK_ROOT:
            _walk(txn, dbs, u64(root_at) + root, out)
    out.flush()
    metadata = json.dumps({
        "format": FORMAT, "height": height, "state_root": root.hex(), "root_at": root_at,
        "chunk_hashes": [h.hex() for h in out.hashes],
    }, sort_keys=True).encode()
    (folder / "metadata.json").write_bytes(metadata)
    return SnapshotInfo.from_metadata(metadata)


def _walk(txn: lmdb.Transaction, dbs: dict[str, Any], root_place: bytes,
          out: _ChunkWriter) -> None:
    """Every node and code reachable from the root, depth first, each place once."""
    nodes, code_db = dbs["nodes"], dbs["code"]
    stack: list[tuple[int, bytes]] = [(ACCOUNT_NODE, root_place)]
    seen: set[bytes] = set()  # storage roots and code already written (shared subtrees)
    while stack:
        kind, key = stack.pop()
        if kind == CODE:
            code: Any = txn.get(key, db=code_db)
            if code is None:
                raise ConsortiumError(f"contract code 0x{key.hex()} is missing from the store")
            out.add(CODE, key, code)
            continue
        record: Any = txn.get(key, db=nodes)
        if record is None:
            raise ConsortiumError(f"state trie node 0x{key[8:].hex()} is missing from the store")
        out.add(kind, key, record)
        children = _children(kind, record)
        for child in reversed(children):
            if child[0] != ACCOUNT_NODE:
                if child[1] in seen:
                    continue
                seen.add(child[1])
            stack.append(child)


def _entries(chunk: bytes) -> Iterator[tuple[int, bytes, bytes]]:
    pos, end = 0, len(chunk)
    while pos < end:
        if pos + _ENTRY.size > end:
            raise SnapshotRefused("snapshot chunk ends inside an entry")
        kind, klen, vlen = _ENTRY.unpack_from(chunk, pos)
        pos += _ENTRY.size
        if pos + klen + vlen > end:
            raise SnapshotRefused("snapshot chunk ends inside an entry")
        yield kind, chunk[pos:pos + klen], chunk[pos + klen:pos + klen + vlen]
        pos += klen + vlen


# --- restoring -------------------------------------------------------------------------------


class SnapshotRestore:
    """Restores one snapshot into an empty `StateStore`, chunk by chunk, in order.

    Every trie node must be the one the walk expects next (or one already restored, for a
    shared subtree), and hash to the key that named it, starting from the state root the
    caller trusts: a snapshot whose nodes do not prove that root is refused. `apply` raises
    SnapshotRefused: `.chunk_corrupt` tells a chunk that does not match its hash (fetch it
    again, from another peer) from a snapshot that is wrong in itself."""

    def __init__(self, store: Any, metadata: bytes, app_hash: bytes,
                 expected_app_state: dict[str, Any] | None = None) -> None:
        doc = parse_metadata(metadata)
        if doc["format"] != FORMAT:
            raise SnapshotRefused(f"snapshot format {doc['format']} is not {FORMAT}")
        if doc["state_root"] != app_hash:
            raise SnapshotRefused(
                f"snapshot of height {doc['height']} has state root "
                f"{doc['state_root'].hex()}, the verified app hash is {app_hash.hex()}")
        self.store = store
        self.height: int = doc["height"]
        self.root: bytes = app_hash
        self.root_at: int = doc["root_at"]
        self.chunk_hashes: list[bytes] = doc["chunk_hashes"]
        self.next_chunk = 0
        self.expected_app_state = expected_app_state
        self._stack: list[tuple[int, bytes]] = (
            [] if app_hash == BLANK_ROOT else [(ACCOUNT_NODE, u64(self.root_at) + app_hash)])
        self._genesis: bytes | None = None
        self._blocks: dict[int, bytes] = {}
        self._txs: list[tuple[bytes, bytes]] = []
        self._logs: list[tuple[bytes, bytes]] = []
        self.done = False
        wipe(store)

    @property
    def chunks(self) -> int:
        return len(self.chunk_hashes)

    def apply(self, index: int, chunk: bytes) -> bool:
        """Verify and store chunk `index`; True once the last chunk completed the restore."""
        from eth_hash.auto import keccak

        if index != self.next_chunk or self.done:
            raise SnapshotRefused(f"chunk {index} out of order (expected {self.next_chunk})")
        if hashlib.sha256(chunk).digest() != self.chunk_hashes[index]:
            err = SnapshotRefused(f"chunk {index} of snapshot {self.height} does not match "
                                  "its hash in the metadata")
            err.chunk_corrupt = True  # type: ignore[attr-defined]
            raise err
        dbs, stack = self.store.dbs, self._stack
        with self.store.env.begin(write=True, buffers=False) as txn:
            for kind, key, value in _entries(chunk):
                if kind in (ACCOUNT_NODE, STORAGE_NODE, CODE):
                    self._expect(txn, kind, key)
                    if kind == CODE:
                        if keccak(value) != key:
                            raise SnapshotRefused(f"code 0x{key.hex()} does not match its hash")
                        txn.put(key, value, db=dbs["code"])
                        continue
                    try:
                        node = value[:rlp_length(value)]
                        children = _children(kind, value)
                    except Exception as exc:  # noqa: BLE001 - any malformed record
                        raise SnapshotRefused(f"malformed trie node 0x{key[8:].hex()}: "
                                              f"{exc}") from None
                    if keccak(node) != key[8:]:
                        raise SnapshotRefused(f"trie node 0x{key[8:].hex()} does not match "
                                              "its hash")
                    txn.put(key, value, db=dbs["nodes"])
                    stack.extend(reversed(children))
                elif kind == GENESIS:
                    self._genesis = value
                elif kind == BLOCK and len(key) == 8:
                    self._blocks[int.from_bytes(key, "big")] = value
                elif kind == TX and len(key) == 12:
                    self._txs.append((key, value))
                elif kind == LOG and len(key) == 12:
                    self._logs.append((key, value))
                else:
                    raise SnapshotRefused(f"unknown snapshot entry kind {kind}")
        self.next_chunk += 1
        if self.next_chunk < self.chunks:
            return False
        self._finish()
        return True

    def _expect(self, txn: lmdb.Transaction, kind: int, key: bytes) -> None:
        """Pop the walk's expectations up to `key`: those skipped must be restored already."""
        dbs, stack = self.store.dbs, self._stack
        while stack:
            want_kind, want = stack.pop()
            if want == key and want_kind == kind:
                return
            table = dbs["code"] if want_kind == CODE else dbs["nodes"]
            if txn.get(want, db=table) is None:
                raise SnapshotRefused(f"snapshot lists 0x{key[-32:].hex()} where the state "
                                      f"needs 0x{want[-32:].hex()}")
        raise SnapshotRefused(f"snapshot holds 0x{key[-32:].hex()}, which the state root "
                              "does not reach")

    def _finish(self) -> None:
        from consortium.ledger.chain_store import BlockRecord, LogRecord, TxRecord, write_block
        from consortium.ledger.genesis import AppState

        dbs = self.store.dbs
        with self.store.env.begin(write=True, buffers=False) as txn:
            while self._stack:  # what is left must be restored already (shared subtrees)
                want_kind, want = self._stack.pop()
                table = dbs["code"] if want_kind == CODE else dbs["nodes"]
                if txn.get(want, db=table) is None:
                    raise SnapshotRefused(f"snapshot ends without 0x{want[-32:].hex()}, "
                                          "which the state needs")
            if self._genesis is None or self.height not in self._blocks:
                raise SnapshotRefused("snapshot lacks the genesis or its own block")
            try:
                genesis = json.loads(self._genesis)
                app_state = AppState.from_json(genesis["app_state"])
                blocks = {h: BlockRecord.decode(r) for h, r in self._blocks.items()}
                txs = [TxRecord.decode(v, self.height, int.from_bytes(k[8:], "big"))
                       for k, v in self._txs]
                logs = [LogRecord.decode(v, self.height, int.from_bytes(k[8:], "big"))
                        for k, v in self._logs]
            except Exception as exc:  # noqa: BLE001 - a malformed context is refused
                raise SnapshotRefused(f"snapshot's chain context is malformed: {exc}") from None
            if (self.expected_app_state is not None
                    and app_state.to_json() != AppState.from_json(
                        self.expected_app_state).to_json()):
                raise SnapshotRefused("snapshot's genesis app_state is not this node's genesis")
            top = blocks[self.height]
            if top.state_root != self.root:
                raise SnapshotRefused(f"snapshot's block {self.height} names another state root")
            for h, block in blocks.items():
                parent = blocks.get(h - 1)
                if parent is not None and block.parent_hash != parent.hash:
                    raise SnapshotRefused(f"snapshot's blocks {h - 1} and {h} do not chain")
            for h in sorted(blocks):
                write_block(self.store, txn, blocks[h], txs if h == self.height else (),
                            logs if h == self.height else ())
            txn.put(u64(self.height), self.root + u64(self.root_at), db=dbs["roots"])
            meta = dbs["meta"]
            txn.put(b"genesis", self._genesis, db=meta)
            txn.put(b"height", u64(self.height), db=meta)
            txn.put(b"app_hash", self.root, db=meta)
            txn.put(RESTORED_KEY, u64(self.height), db=meta)
        self.done = True


def wipe(store: Any) -> None:
    """Empty every database of `store` but its record format (a fresh or half-restored
    ledger about to receive a snapshot)."""
    with store.env.begin(write=True, buffers=False) as txn:
        fmt = txn.get(b"format", db=store.dbs["meta"])
        for dbi in store.dbs.values():
            txn.drop(dbi, delete=False)
        if fmt is not None:
            txn.put(b"format", fmt, db=store.dbs["meta"])


def restore_snapshot(store: Any, folder: Path, app_hash: bytes | None = None) -> int:
    """Restore the snapshot in `folder` into `store` (emptied first); checks it against
    `app_hash` (default: the root its metadata names, i.e. only internal consistency).
    Returns its height."""
    metadata = (folder / "metadata.json").read_bytes()
    doc = parse_metadata(metadata)
    restore = SnapshotRestore(store, metadata, app_hash or doc["state_root"])
    for i in range(restore.chunks):
        restore.apply(i, (folder / f"{i}.chunk").read_bytes())
    return restore.height


def restored_height(store: Any) -> int:
    """The snapshot height this ledger was restored from (0: it holds its whole history)."""
    raw = store.get("meta", RESTORED_KEY)
    return int.from_bytes(raw, "big") if raw else 0


# --- a node's snapshots: config, schedule, listing -----------------------------------------


@dataclass(frozen=True)
class SnapshotConfig:
    """`[state_sync]` in consortium.toml: `snapshot_interval` (blocks; 0 turns snapshots
    off) and `snapshot_keep` (how many of the newest to keep)."""

    interval: int = DEFAULT_INTERVAL
    keep: int = DEFAULT_KEEP
    chunk_bytes: int = CHUNK_BYTES

    @classmethod
    def load(cls, home: Path) -> SnapshotConfig:
        path = home / "consortium.toml"
        try:
            data = tomllib.loads(path.read_text()) if path.is_file() else {}
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path} is not valid TOML: {exc}") from None
        table = data.get("state_sync", {})
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: [state_sync] must be a table")
        values = {}
        for key, field, least in (("snapshot_interval", "interval", 0),
                                  ("snapshot_keep", "keep", 1),
                                  ("snapshot_chunk_bytes", "chunk_bytes", 1024)):
            value = table.get(key, getattr(cls, field))
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise ConfigError(f"{path}: state_sync.{key} must be an integer of at least "
                                  f"{least}, got {value!r}")
            values[field] = value
        return cls(**values)


class NodeSnapshots:
    """One node's snapshot folder: takes a snapshot every `interval` committed heights in a
    separate, low-priority process (the walk is Python: in a thread it would hold the GIL
    against block execution), keeps the newest `keep`, and lists and serves them."""

    def __init__(self, folder: Path, ledger_dir: Path, config: SnapshotConfig,
                 genesis_app_state: dict[str, Any] | None = None,
                 bootstrap_peers: frozenset[str] = frozenset()) -> None:
        self.folder = folder
        self.ledger_dir = ledger_dir
        self.config = config
        # a restored state's genesis must be this one (the node's own genesis.json)
        self.genesis_app_state = genesis_app_state
        # node ids the node may connect to while it has no state to check peers against
        self.bootstrap_peers = bootstrap_peers
        self._writer: subprocess.Popen[bytes] | None = None
        self._writer_height = 0

    @classmethod
    def for_home(cls, home: Path, ledger_dir: Path) -> NodeSnapshots:
        genesis = None
        with contextlib.suppress(OSError, ValueError):
            genesis = json.loads((home / "config" / "genesis.json").read_text()).get("app_state")
        peers: set[str] = set()
        with contextlib.suppress(OSError, ValueError, KeyError, TypeError, AttributeError):
            p2p = tomllib.loads((home / "config" / "config.toml").read_text())["p2p"]
            for key in ("persistent_peers", "unconditional_peer_ids"):
                peers.update(p.split("@")[0].strip().lower()
                             for p in str(p2p.get(key, "")).split(",") if p.strip())
        return cls(home / "snapshots", ledger_dir, SnapshotConfig.load(home), genesis,
                   frozenset(peers))

    def after_commit(self, height: int) -> None:
        """Start the snapshot of `height` if it is due and no other is being written."""
        interval = self.config.interval
        if not interval or height % interval:
            return
        if self._writer is not None and self._writer.poll() is None:
            log.warning("snapshot of height %d skipped: the one of height %d is still being "
                        "written", height, self._writer_height)
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "consortium.ledger.snapshots", "--ledger",
               str(self.ledger_dir), "--height", str(height), "--folder", str(self.folder),
               "--keep", str(self.config.keep), "--chunk-bytes", str(self.config.chunk_bytes)]
        # no preexec_fn: Popen can then vfork, which costs the node's thread nothing however
        # large its heap (a fork copies its page tables); the child lowers its own priority
        self._writer = subprocess.Popen(cmd, stdin=subprocess.DEVNULL)
        self._writer_height = height
        log.info("snapshot of height %d started (pid %d)", height, self._writer.pid)

    def wait(self, timeout: float | None = None) -> None:
        """Wait for a snapshot being written (tests, shutdown)."""
        if self._writer is not None:
            self._writer.wait(timeout)

    def stop(self) -> None:
        """Stop a snapshot being written (the node is stopping); its partial folder goes."""
        if self._writer is not None and self._writer.poll() is None:
            self._writer.terminate()
            self._writer.wait(10)
            shutil.rmtree(self.folder / f".tmp-{self._writer_height}", ignore_errors=True)

    def list(self) -> list[SnapshotInfo]:
        return list_snapshots(self.folder)

    def load_chunk(self, height: int, fmt: int, index: int) -> bytes:
        """A chunk of a listed snapshot, or b"" if it is gone (pruned meanwhile)."""
        if fmt != FORMAT or index < 0:
            return b""
        try:
            with open(self.folder / str(height) / f"{index}.chunk", "rb") as f:
                return f.read()
        except OSError:
            return b""


def list_snapshots(folder: Path) -> list[SnapshotInfo]:
    """The complete snapshots in `folder`, newest first."""
    out: list[SnapshotInfo] = []
    if not folder.is_dir():
        return out
    for entry in folder.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            out.append(SnapshotInfo.from_metadata((entry / "metadata.json").read_bytes()))
        except (OSError, SnapshotRefused):
            continue
    return sorted(out, key=lambda s: s.height, reverse=True)


def take_snapshot(store: Any, height: int, folder: Path, *, keep: int = DEFAULT_KEEP,
                  chunk_bytes: int = CHUNK_BYTES) -> SnapshotInfo:
    """Write the snapshot of `height` into `folder/<height>` (through a temporary folder, so
    it appears complete or not at all), then drop all but the newest `keep`."""
    final = folder / str(height)
    if final.is_dir():
        return SnapshotInfo.from_metadata((final / "metadata.json").read_bytes())
    tmp = folder / f".tmp-{height}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        info = write_snapshot(store, height, tmp, chunk_bytes=chunk_bytes)
        tmp.rename(final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in list_snapshots(folder)[keep:]:
        shutil.rmtree(folder / str(old.height), ignore_errors=True)
    return info


@dataclass
class _ReadOnlyStore:
    env: lmdb.Environment
    dbs: dict[str, Any]


def open_read_only(ledger_dir: Path) -> _ReadOnlyStore:
    """The ledger's LMDB opened for reading beside the node that writes it."""
    from consortium.ledger.state_store import MAP_SIZE

    # the node's own map size: a smaller one fails once the file grows past it
    env = lmdb.open(str(ledger_dir), readonly=True, lock=True, max_dbs=len(_DB_NAMES) + 2,
                    subdir=True, readahead=False, max_readers=512, map_size=MAP_SIZE)
    dbs = {}
    for name in _DB_NAMES:
        try:
            dbs[name] = env.open_db(name.encode(), create=False)
        except lmdb.NotFoundError:
            continue
    return _ReadOnlyStore(env, dbs)


def main(argv: list[str] | None = None) -> int:
    """The snapshot writer process `NodeSnapshots` starts."""
    parser = argparse.ArgumentParser(prog="python -m consortium.ledger.snapshots")
    parser.add_argument("--ledger", type=Path, required=True)
    parser.add_argument("--height", type=int, required=True)
    parser.add_argument("--folder", type=Path, required=True)
    parser.add_argument("--keep", type=int, default=DEFAULT_KEEP)
    parser.add_argument("--chunk-bytes", type=int, default=CHUNK_BYTES)
    args = parser.parse_args(argv)
    os.nice(10)  # yield the cores to the node whose ledger this reads
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    store = open_read_only(args.ledger)
    try:
        info = take_snapshot(store, args.height, args.folder, keep=args.keep,
                             chunk_bytes=args.chunk_bytes)
    except (ConsortiumError, lmdb.Error, OSError) as err:
        log.error("snapshot of height %d failed: %s", args.height,
                  err.message if isinstance(err, ConsortiumError) else f"{type(err).__name__}: "
                  f"{err}")
        return 1
    finally:
        store.env.close()
    log.info("snapshot of height %d written: %d chunks, hash %s", info.height, info.chunks,
             info.hash.hex())
    return 0


if __name__ == "__main__":
    sys.exit(main())
