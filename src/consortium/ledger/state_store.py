"""The node's one LMDB environment, its named databases, and the trie-node store py-evm
writes through.

Databases (LMDB "sub-databases"), keys big-endian so ranges sort by height:
  meta        b"height" -> u64 last committed height; b"app_hash"; b"genesis" -> JSON;
              b"initial_height" -> u64; b"format" -> the record format (FORMAT)
  state       keccak -> trie node or contract code (never deleted: every past root readable)
  roots       u64 height -> 32-byte state root (the genesis root at initial_height - 1)
  blocks      u64 height -> block record         (see chain_store)
  block_hash  32-byte hash -> u64 height
  txs         u64 height + u32 index -> tx record (raw tx, sender, receipt fields)
  tx_hash     32-byte hash -> u64 height + u32 index
  logs        u64 height + u32 log index -> log record
  log_addr    20-byte address + u64 height + u32 log index -> b""
  log_topic   u8 position + 32-byte topic + u64 height + u32 log index -> b""

A block's writes reach LMDB in one write transaction (`StateStore.write()`), so a crash
leaves either all of a block or none of it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import lmdb
from eth.db.atomic import AtomicDB
from eth.db.backends.base import BaseDB

from consortium.errors import ConsortiumError

# The layout of stored records; bumped when it changes. A data folder written with another
# layout is refused at open (re-initialise the node, or sync it again from its peers).
FORMAT = b"2"
MAP_SIZE = 64 << 30  # 64 GiB of address space; the file is sparse and grows as used
DB_NAMES = (
    "meta", "state", "roots", "blocks", "block_hash", "txs", "tx_hash", "logs", "log_addr",
    "log_topic",
)

_open_paths: set[str] = set()
_open_lock = threading.Lock()


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


class StateStore:
    """Owns the LMDB environment of one node directory (one per process per path)."""

    def __init__(self, path: Path, *, map_size: int = MAP_SIZE) -> None:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        key = os.path.realpath(path)
        with _open_lock:
            if key in _open_paths:
                raise ConsortiumError(f"the ledger at {path} is already open in this process")
            _open_paths.add(key)
        self._key = key
        try:
            self.env = lmdb.open(
                str(path), map_size=map_size, max_dbs=len(DB_NAMES) + 2, subdir=True,
                readahead=False, max_readers=512,
            )
        except BaseException:
            with _open_lock:
                _open_paths.discard(key)
            raise
        self.dbs: dict[str, Any] = {name: self.env.open_db(name.encode()) for name in DB_NAMES}
        self._check_format(path)

    def _check_format(self, path: Path) -> None:
        with self.env.begin(db=self.dbs["meta"], write=True, buffers=False) as txn:
            found = txn.get(b"format")
            if found is None and txn.get(b"height") is None:
                txn.put(b"format", FORMAT)  # a new ledger
                return
        if found != FORMAT:
            self.close()
            raise ConsortiumError(
                f"the ledger at {path} was written in record format "
                f"{(found or b'1').decode()}, this version reads format {FORMAT.decode()}: "
                "initialise the node again (its chain is re-synced from the peers)"
            )

    def close(self) -> None:
        if self._key is None:
            return
        self.env.close()
        with _open_lock:
            _open_paths.discard(self._key)
        self._key = None  # type: ignore[assignment]

    @contextmanager
    def read(self) -> Iterator[lmdb.Transaction]:
        with self.env.begin(buffers=False) as txn:
            yield txn

    @contextmanager
    def write(self) -> Iterator[lmdb.Transaction]:
        """One atomic, durable write transaction (fsync on commit)."""
        with self.env.begin(write=True, buffers=False) as txn:
            yield txn

    def get(self, db: str, key: bytes) -> bytes | None:
        with self.env.begin(db=self.dbs[db], buffers=False) as txn:
            return txn.get(key)  # type: ignore[no-any-return]

    # --- committed height and state roots --------------------------------------------

    def committed(self) -> tuple[int, bytes]:
        with self.env.begin(db=self.dbs["meta"], buffers=False) as txn:
            height = txn.get(b"height")
            app_hash = txn.get(b"app_hash") or b""
        return (int.from_bytes(height, "big") if height else 0), app_hash

    def root_at(self, height: int) -> bytes | None:
        return self.get("roots", u64(height))

    def trie_db(self) -> TrieNodeDB:
        """A fresh py-evm database over the committed state nodes (writes stay in memory)."""
        return TrieNodeDB(self)


class _Overlay(BaseDB):
    """Pending node writes in memory, reads falling through to LMDB's `state` database."""

    def __init__(self, store: StateStore) -> None:
        self._env = store.env
        self._dbi = store.dbs["state"]
        self.pending: dict[bytes, bytes] = {}
        self._txn: Any = None

    def __getitem__(self, key: bytes) -> bytes:
        try:
            return self.pending[key]
        except KeyError:
            pass
        value = self._txn_get(key)
        if value is None:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    def _txn_get(self, key: bytes) -> bytes | None:
        txn = self._txn
        if txn is None:
            with self._env.begin(db=self._dbi, buffers=False) as t:
                return t.get(key)  # type: ignore[no-any-return]
        return txn.get(key, db=self._dbi)  # type: ignore[no-any-return]

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.pending[key] = value

    def __delitem__(self, key: bytes) -> None:
        # Nodes are content-addressed and kept forever (no pruning): a delete only drops a
        # pending write.
        self.pending.pop(key, None)

    def _exists(self, key: bytes) -> bool:
        return key in self.pending or self._txn_get(key) is not None


class TrieNodeDB(AtomicDB):
    """The database py-evm's account DB writes state through; flushed in `flush_into`."""

    def __init__(self, store: StateStore) -> None:
        self._overlay = _Overlay(store)
        super().__init__(self._overlay)

    @contextmanager
    def reading(self, txn: lmdb.Transaction) -> Iterator[None]:
        """Serve reads from one open LMDB read transaction (faster than one per read)."""
        self._overlay._txn = txn
        try:
            yield
        finally:
            self._overlay._txn = None

    @property
    def pending(self) -> dict[bytes, bytes]:
        return self._overlay.pending

    def flush_into(self, txn: lmdb.Transaction, store: StateStore) -> int:
        dbi = store.dbs["state"]
        put = txn.put
        for key, value in self._overlay.pending.items():
            put(key, value, db=dbi)
        return len(self._overlay.pending)
