"""The node's journal of transactions its API accepted and that are not yet committed, so a
restart loses none (CometBFT keeps its mempool in memory only): an LMDB environment of its
own (`<home>/app/tx-journal`, apart from the ledger's, whose one writer is the block commit)
written with sync commits, so a kill -9 leaves a batch or nothing; its few small entries are
also kept in memory for reads."""

from __future__ import annotations

import struct
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import lmdb

from consortium.errors import ConfigError, MempoolFull

MAP_SIZE = 1 << 30  # 1 GiB of address space (sparse): ~8,000 transactions of the 128 KiB limit
_HEAD = struct.Struct(">20sQd")  # sender, nonce, accepted at (unix seconds)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One accepted transaction: what resubmission and pruning need without decoding."""

    hash: bytes
    raw: bytes
    sender: bytes
    nonce: int
    accepted_at: float

    def encode(self) -> bytes:
        return _HEAD.pack(self.sender, self.nonce, self.accepted_at) + self.raw

    @classmethod
    def decode(cls, tx_hash: bytes, value: bytes) -> JournalEntry:
        sender, nonce, accepted_at = _HEAD.unpack_from(value)
        return cls(tx_hash, bytes(value[_HEAD.size:]), sender, nonce, accepted_at)


class TxJournal:
    """Accepted, uncommitted transactions by hash: durable when opened on a path, in memory
    only without one (tests, an API outside a node). Thread-safe."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._entries: dict[bytes, JournalEntry] = {}
        self._env: lmdb.Environment | None = None
        if path is not None:
            try:
                path.mkdir(parents=True, exist_ok=True)
                self._env = lmdb.open(str(path), map_size=MAP_SIZE, subdir=True, sync=True,
                                      metasync=True, max_dbs=0, readahead=False)
                with self._env.begin() as txn:
                    for key, value in txn.cursor():
                        entry = JournalEntry.decode(bytes(key), bytes(value))
                        self._entries[entry.hash] = entry
            except (OSError, lmdb.Error, struct.error) as exc:
                if self._env is not None:
                    self._env.close()
                raise ConfigError(
                    f"cannot open the transaction journal {path}: {exc}; move it aside to "
                    "start without the transactions it kept") from None

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, tx_hash: bytes) -> bool:
        return tx_hash in self._entries

    def get(self, tx_hash: bytes) -> JournalEntry | None:
        return self._entries.get(tx_hash)

    def entries(self, *, ordered: bool = True) -> list[JournalEntry]:
        """Every entry, in (sender, nonce) order: the order to resubmit them in (unordered
        for a per-block scan, which sorting tens of thousands of entries would slow)."""
        with self._lock:
            items = list(self._entries.values())
        return sorted(items, key=lambda e: (e.sender, e.nonce)) if ordered else items

    def update(self, add: Iterable[JournalEntry] = (), remove: Iterable[bytes] = ()) -> None:
        """Add and remove entries in one durable write (blocking: call it off the event
        loop). Raises MempoolFull if the journal's file is full."""
        add, remove = list(add), list(remove)
        if not add and not remove:
            return
        with self._lock:
            if self._env is not None:
                try:
                    with self._env.begin(write=True) as txn:
                        for tx_hash in remove:
                            txn.delete(tx_hash)
                        for entry in add:
                            txn.put(entry.hash, entry.encode())
                except lmdb.MapFullError:
                    raise MempoolFull("txpool is full: the node's transaction journal is "
                                      "full") from None
            for tx_hash in remove:
                self._entries.pop(tx_hash, None)
            self._entries.update((entry.hash, entry) for entry in add)

    def close(self) -> None:
        with self._lock:
            env, self._env = self._env, None
            if env is not None:
                env.close()
