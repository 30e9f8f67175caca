"""The node's one LMDB environment, its named databases, and the trie-node store the
execution engines read and write the state through.

Databases (LMDB "sub-databases"), keys big-endian so ranges sort by height:
  meta        b"height" -> u64 last committed height; b"app_hash"; b"genesis" -> JSON;
              b"initial_height" -> u64; b"format" -> the record format (FORMAT)
  nodes       u64 height + 32-byte keccak -> trie node record (see below)
  code        32-byte keccak -> contract code
  roots       u64 height -> 32-byte state root + u64 height its node is stored at (the
              genesis root at initial_height - 1)
  blocks      u64 height -> block record         (see chain_store)
  block_hash  32-byte hash -> u64 height
  txs         u64 height + u32 index -> tx record (raw tx, sender, receipt fields)
  tx_hash     32-byte hash -> u64 height + u32 index
  logs        u64 height + u32 log index -> log record
  log_addr    20-byte address + u64 height + u32 log index -> b""
  log_topic   u8 position + 32-byte topic + u64 height + u32 log index -> b""
  rejections  32-byte tx hash -> u64 height + u32 index + u32 ABCI code + reason (a
              transaction a block carried and execution refused; see chain_store). Added
              after format 3 without changing it: opening a folder creates it, empty
  addr_txs    20-byte address + u64 height -> (u32 tx index + u8 roles) per transaction of
              that block touching the address (the address index, see address_index; not
              part of the state root; added after format 3 like rejections: meta
              b"addr_index_from" says where it starts)
  abis        20-byte address -> a contract ABI (JSON) registered with this node (the
              explorer's ABI registry: node-local, never part of consensus)

A block's writes reach LMDB in one write transaction (`StateStore.write()`), so a crash
leaves either all of a block or none of it.

Trie nodes are stored where they were written — under the height of the block that made them
— not only by hash. A block's new nodes (~4 per changed account) are then one run of adjacent
keys appended at the end of `nodes`, instead of thousands of hashes scattered over a B-tree
of millions (each dirtying its own page: at a million accounts that was ~100 ms a block, now
~10). A record is the node's RLP followed by its locator: the heights of the stored nodes it
refers to (hashed children in order; for an account leaf, its storage root), LEB128-coded, so
a reader walking from a root (whose height `roots` gives) knows where every node is. Nothing
is deleted: every past root stays readable.
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
from consortium.evm.trie_records import (
    BLANK_ROOT,
    account_links,
    node_refs,
    put_varint,
    read_varints,
    rlp_length,
)

# The layout of stored records; bumped when it changes. A data folder written with another
# layout is refused at open (re-initialise the node, or sync it again from its peers).
FORMAT = b"3"
MAP_SIZE = 64 << 30  # 64 GiB of address space; the file is sparse and grows as used
DB_NAMES = (
    "meta", "nodes", "code", "roots", "blocks", "block_hash", "txs", "tx_hash", "logs",
    "log_addr", "log_topic", "rejections", "addr_txs", "abis",
)

_open_paths: set[str] = set()
_open_lock = threading.Lock()


def u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


def u32(n: int) -> bytes:
    return n.to_bytes(4, "big")


class StateStore:
    """Owns the LMDB environment of one node directory (one per process per path)."""

    def __init__(self, path: Path, *, map_size: int = MAP_SIZE, readonly: bool = False) -> None:
        path = Path(path)
        if not readonly:
            path.mkdir(parents=True, exist_ok=True)
        self.readonly = readonly
        key = os.path.realpath(path)
        with _open_lock:
            if key in _open_paths:
                raise ConsortiumError(f"the ledger at {path} is already open in this process")
            _open_paths.add(key)
        self._key = key
        try:
            self.env = lmdb.open(
                str(path), map_size=map_size, max_dbs=len(DB_NAMES) + 2, subdir=True,
                readahead=False, max_readers=512, readonly=readonly,
            )
        except BaseException:
            with _open_lock:
                _open_paths.discard(key)
            raise
        self.dbs: dict[str, Any] = {
            name: self.env.open_db(name.encode(), create=not readonly) for name in DB_NAMES}
        self._check_format(path)
        self._engine: Any = None

    def _check_format(self, path: Path) -> None:
        with self.env.begin(db=self.dbs["meta"], write=not self.readonly, buffers=False) as txn:
            found = txn.get(b"format")
            if found is None and txn.get(b"height") is None:
                if not self.readonly:
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
        self._engine = None
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
        """The state root after block `height`."""
        ref = self.root_ref(height)
        return None if ref is None else ref[0]

    def root_ref(self, height: int) -> tuple[bytes, int] | None:
        """The state root after block `height` and the height its node is stored at."""
        raw = self.get("roots", u64(height))
        return None if raw is None else (raw[:32], int.from_bytes(raw[32:40], "big"))

    def put_root(self, txn: lmdb.Transaction, height: int, root: bytes, root_at: int) -> None:
        txn.put(u64(height), root + u64(root_at), db=self.dbs["roots"])

    def trie_db(self, height: int | None = None, *, write_height: int | None = None,
                ) -> TrieNodeDB:
        """A fresh database over the committed state, for a world at the root of block
        `height` (None: no committed root, e.g. building genesis), whose new nodes, if any,
        are stored under `write_height` (writes stay in memory until `flush_into`)."""
        db = TrieNodeDB(self, write_height)
        if height is not None:
            ref = self.root_ref(height)
            if ref is None:
                raise ConsortiumError(f"no state root at height {height}")
            db.anchor(*ref)
        return db

    def revm_engine(self) -> Any:
        """The revm engine's caches for this store (decoded nodes know their children's
        places in it, so no other store may share them); made on first use."""
        if self._engine is None:
            from consortium.evm.revm_engine import new_engine

            self._engine = new_engine()
        return self._engine


class _Overlay(BaseDB):
    """The engines' view of the store: pending writes in memory, reads falling through to
    LMDB (one read transaction when given, see `TrieNodeDB.reading`).

    py-evm reads and writes nodes by hash. Reads are served by place: every node handed to
    py-evm has its children's places learned from its locator (`locs`), starting from an
    anchored root, so the next hash py-evm asks for is found. Its writes wait in `raw` until
    `seal` walks them from the new root, gives each its record and drops what the root does
    not reach. revm reads (`fetch`) and writes (`add_sealed`) records by place directly.
    """

    def __init__(self, store: StateStore, write_height: int | None) -> None:
        self._env = store.env
        self._nodes = store.dbs["nodes"]
        self._code = store.dbs["code"]
        self.write_height = write_height
        self.raw: dict[bytes, bytes] = {}  # py-evm's writes: hash -> node RLP or code
        self.records: dict[bytes, bytes] = {}  # height + hash -> record (sealed)
        # revm's persisted blocks, each [(place, record)] in ascending order: indexed into
        # `records` only if something reads a pending node (rare), flushed as they are
        self.batches: list[list[tuple[bytes, bytes]]] = []
        self.code: dict[bytes, bytes] = {}  # code hash -> code
        self.locs: dict[bytes, int] = {}  # node hash -> height it is stored at
        self._txn: Any = None

    # --- reads ---------------------------------------------------------------------------

    def _get(self, dbi: Any, key: bytes) -> bytes | None:
        txn = self._txn
        if txn is None:
            with self._env.begin(db=dbi, buffers=False) as t:
                return t.get(key)  # type: ignore[no-any-return]
        return txn.get(key, db=dbi)  # type: ignore[no-any-return]

    def record(self, key: bytes) -> bytes | None:
        """A node's record by place (height + hash)."""
        if self.batches:
            self._index_batches()
        found = self.records.get(key)
        return found if found is not None else self._get(self._nodes, key)

    def _index_batches(self) -> None:
        for batch in self.batches:
            self.records.update(batch)
        self.batches = []

    def fetch_many(self, keys: list[bytes]) -> list[bytes | None]:
        """revm's batched reads: records by place."""
        if self.batches:
            self._index_batches()
        records, txn, nodes = self.records, self._txn, self._nodes
        if txn is None:
            with self._env.begin(db=nodes, buffers=False) as t:
                return [records.get(k) or t.get(k) for k in keys]
        return [records.get(k) or txn.get(k, db=nodes) for k in keys]

    def code_of(self, code_hash: bytes) -> bytes | None:
        found = self.code.get(code_hash)
        if found is None:
            found = self.raw.get(code_hash)
        return found if found is not None else self._get(self._code, code_hash)

    def fetch(self, key: bytes) -> bytes | None:
        """revm's reads: a record by its 40-byte place, code by its 32-byte hash."""
        if len(key) == 40:
            return self.record(key)
        return self.code_of(key)

    def __getitem__(self, key: bytes) -> bytes:
        found = self.raw.get(key)
        if found is not None:
            return found
        at = self.locs.get(key)
        if at is not None:
            record = self.record(u64(at) + key)
            if record is not None:
                return self._learn(record)
        found = self.code_of(key)
        if found is None:
            raise KeyError(key)
        return found

    def _learn(self, record: bytes) -> bytes:
        """The node of `record`, its children's places now known."""
        end = rlp_length(record)
        node, locator = record[:end], record[end:]
        if locator:
            children, value = node_refs(node)
            heights = read_varints(locator)
            if value is not None:  # an account leaf, its storage root at heights[0]
                if len(heights) != 1:
                    raise ConsortiumError("corrupt trie node record: a leaf's locator")
                children = [account_links(value)[0]]
            if len(heights) != len(children):
                raise ConsortiumError("corrupt trie node record: locator and node disagree")
            locs = self.locs
            for child, at in zip(children, heights, strict=True):
                locs.setdefault(child, at)
        return node

    def _exists(self, key: bytes) -> bool:
        try:
            self[key]
        except KeyError:
            return False
        return True

    # --- writes --------------------------------------------------------------------------

    def __setitem__(self, key: bytes, value: bytes) -> None:
        self.raw[key] = value

    def __delitem__(self, key: bytes) -> None:
        # Nothing stored is ever deleted (every past root stays readable): a delete only
        # drops a pending write.
        self.raw.pop(key, None)

    def seal(self, root: bytes) -> int:
        """Give py-evm's pending writes reachable from state root `root` their records at
        the write height (the rest is dropped); returns the height `root` is stored at."""
        if self.write_height is None:
            raise ConsortiumError("this state database was opened read-only")
        height = self.write_height
        raw, locs, records, code = self.raw, self.locs, self.records, self.code
        prefix = u64(height)
        sealed: set[bytes] = set()

        def place(h: bytes, account_trie: bool) -> int:
            if h in sealed:
                return height
            node = raw.get(h)
            if node is None:  # an older node: where it was read from
                at = locs.get(h)
                if at is None:
                    raise ConsortiumError(f"state trie node 0x{h.hex()} is referred to but "
                                          "neither written nor read")
                return at
            sealed.add(h)
            children, value = node_refs(node)
            locator = bytearray()
            if value is not None:
                if account_trie:
                    storage_root, code_hash = account_links(value)
                    if storage_root != BLANK_ROOT:
                        put_varint(locator, place(storage_root, False))
                    if code_hash in raw:
                        code[code_hash] = raw[code_hash]
            else:
                for child in children:
                    put_varint(locator, place(child, account_trie))
            records[prefix + h] = node + bytes(locator)
            locs[h] = height
            return height

        at = 0 if root == BLANK_ROOT else place(root, True)
        raw.clear()
        return at

    def add_sealed(self, root: bytes, root_at: int, records: list[tuple[bytes, bytes]],
                   codes: list[tuple[bytes, bytes]]) -> None:
        """revm's persisted block: its records (by place, ascending) and code."""
        if records:
            self.batches.append(records)
        self.code.update(codes)
        self.locs[root] = root_at


class TrieNodeDB(AtomicDB):
    """The database a world state reads and writes the store through (`_Overlay`); what a
    block wrote reaches LMDB in `flush_into`."""

    def __init__(self, store: StateStore, write_height: int | None = None) -> None:
        self._overlay = _Overlay(store, write_height)
        self._store = store
        super().__init__(self._overlay)

    @property
    def write_height(self) -> int | None:
        return self._overlay.write_height

    @property
    def revm_engine(self) -> Any:
        return self._store.revm_engine()

    def anchor(self, root: bytes, at: int) -> None:
        """Worlds on this database may start at state root `root`, stored at height `at`."""
        self._overlay.locs[root] = at

    def location(self, root: bytes) -> int:
        """The height state root `root` is stored at (0 for the empty trie)."""
        if root == BLANK_ROOT:
            return 0
        try:
            return self._overlay.locs[root]
        except KeyError:
            raise ConsortiumError(f"state root 0x{root.hex()} is not anchored in this "
                                  "database") from None

    def fetch(self, key: bytes) -> bytes | None:
        return self._overlay.fetch(key)

    def fetch_many(self, keys: list[bytes]) -> list[bytes | None]:
        return self._overlay.fetch_many(keys)

    def seal(self, root: bytes) -> int:
        return self._overlay.seal(root)

    def add_sealed(self, root: bytes, root_at: int, records: list[tuple[bytes, bytes]],
                   codes: list[tuple[bytes, bytes]]) -> None:
        self._overlay.add_sealed(root, root_at, records, codes)

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
        """The node records waiting for `flush_into`, by place."""
        self._overlay._index_batches()
        return self._overlay.records

    def flush_into(self, txn: lmdb.Transaction, store: StateStore) -> int:
        """Write the sealed nodes and code in `txn`: the nodes, all under one height,
        appended after every stored key (one contiguous run: few pages to write)."""
        overlay = self._overlay
        if overlay.raw:
            raise ConsortiumError("unsealed state writes: persist the world before flushing")
        if len(overlay.batches) == 1 and not overlay.records:
            items = overlay.batches[0]  # one block's persist: in order already
        else:
            overlay._index_batches()
            items = sorted(overlay.records.items())
        nodes = store.dbs["nodes"]
        if items:
            cursor = txn.cursor(db=nodes)
            if not cursor.last() or bytes(cursor.key()) < items[0][0]:
                _, added = cursor.putmulti(items, append=True)
                if added != len(items):
                    raise ConsortiumError(f"appending a block's {len(items)} trie nodes "
                                          f"stored {added}: their places are out of order")
            else:  # not after the end (a genesis written again): plain puts
                for key, value in items:
                    txn.put(key, value, db=nodes)
        code = store.dbs["code"]
        for key, value in overlay.code.items():
            txn.put(key, value, db=code)
        return len(items)
