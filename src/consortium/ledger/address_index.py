"""The address → transaction index: which committed transactions touched an address.

One LMDB database, `addr_txs`, keyed address (20) + height (u64) + transaction index (u32),
its value a byte of roles (`FROM`, `TO`, `CREATED`): a transaction is listed under its
sender, its recipient and the contract it created. The entries are written in the block's
own LMDB write transaction (`Ledger.commit`), so the index never drifts from the chain; they
are not part of the state root (like the rejection records), and every node writes the same
ones from the same blocks (no clock, no dict order).

Addresses in events (ERC-20/721 `Transfer`'s from and to, any indexed address argument) cost
the commit nothing more: the log index the ledger already keeps (`log_topic`: topic position
+ topic + height + log index) finds them, and `address_entries` merges them in with the role
`EVENT`. Building the entries is a few list comprehensions over what the block holds (no
decoding, no per-entry dict), so the index adds about two LMDB puts per transaction.

The index starts where the ledger started writing it: `meta` key `addr_index_from` says the
first height indexed. A new ledger indexes from its genesis; a data folder committed by an
earlier version indexes from the first block after it was opened with this one (older
heights answer "the index starts at height N": no backfill at open, which on a long chain
would hold the node's start for minutes); a state-synced node indexes from the first block
after its snapshot (nothing before the snapshot is on the node).
"""

from __future__ import annotations

import heapq
import logging
import struct
from collections.abc import Iterator, Sequence
from typing import NamedTuple

import lmdb

from consortium.ledger.chain_store import TxRecord
from consortium.ledger.state_store import StateStore, u64

log = logging.getLogger("consortium.ledger")

DB = "addr_txs"
FROM_KEY = b"addr_index_from"  # in `meta`: the first height the index covers
RESTORED_KEY = b"restored_height"  # snapshots.RESTORED_KEY (not imported: no cycle)
FROM, TO, CREATED, EVENT = 1, 2, 4, 8
_FROM, _TO, _SELF, _CREATED = bytes([FROM]), bytes([TO]), bytes([FROM | TO]), bytes([CREATED])
_POS = struct.Struct(">QI").pack
_PAD = b"\x00" * 12
_LOG = struct.Struct(">20sI")  # a log record's address and transaction index


class AddressEntry(NamedTuple):
    """One indexed transaction of an address."""

    height: int
    tx_index: int
    roles: int  # FROM | TO | CREATED | EVENT


def block_entries(txs: Sequence[TxRecord],
                  recipients: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
    """The index entries of one block: `recipients[i]` is `txs[i]`'s `to` (b"" for a
    creation). A payment to oneself is one entry with both roles (written last, it replaces
    the sender's)."""
    pos = [_POS(t.height, t.index) for t in txs]
    out = [(t.sender + p, _FROM) for t, p in zip(txs, pos, strict=True)]
    out += [(to + p, _SELF if to == t.sender else _TO)
            for t, to, p in zip(txs, recipients, pos, strict=True) if to]
    out += [(t.contract_address + p, _CREATED)
            for t, p in zip(txs, pos, strict=True) if t.contract_address]
    return out


def write_entries(store: StateStore, txn: lmdb.Transaction,
                  entries: list[tuple[bytes, bytes]]) -> None:
    """Write a block's entries in the block's transaction: sorted (neighbouring keys share
    pages), in one C call."""
    if entries:
        entries.sort()
        txn.cursor(db=store.dbs[DB]).putmulti(entries)


def prepare(store: StateStore) -> int:
    """Record where the index starts, if not yet (called when a ledger opens or reloads
    after a restore); returns that height."""
    meta = store.dbs["meta"]
    with store.env.begin(db=meta, write=True, buffers=False) as txn:
        raw = txn.get(FROM_KEY)
        if raw is not None:
            return int.from_bytes(raw, "big")
        restored = txn.get(RESTORED_KEY)
        height = txn.get(b"height")
        if restored is not None:  # state sync: the blocks after the snapshot
            start = int.from_bytes(restored, "big") + 1
        elif height is None:  # a new ledger (or genesis only): everything
            start = 0
        else:  # committed by a version without the index: from the next block on
            start = int.from_bytes(height, "big") + 1
            log.info("address index starts at height %d (earlier blocks were committed "
                     "before this version kept it)", start)
        txn.put(FROM_KEY, u64(start))
    return start


def indexed_from(store: StateStore) -> int:
    """The first height the index covers."""
    raw = store.get("meta", FROM_KEY)
    return int.from_bytes(raw, "big") if raw else 0


def address_entries(store: StateStore, address: bytes, *, lo: int, hi: int, limit: int,
                    before: tuple[int, int] | None = None) -> list[AddressEntry]:
    """`address`'s transactions from height `hi` down to `lo` (newest first), at most
    `limit`, strictly before position `before` (height, index) when given: the index's
    entries merged with the transactions whose events name the address in topic 1 or 2."""
    out: list[AddressEntry] = []
    if limit <= 0 or lo > hi:
        return out
    if before is not None and before[0] > hi:
        before = None
    if before is not None and before[0] < lo:
        return out
    dbs = store.dbs
    with store.env.begin(buffers=False) as txn:
        streams = [_indexed(txn.cursor(db=dbs[DB]), address, lo, hi, before)]
        logs = txn.cursor(db=dbs["logs"])
        for position in (1, 2):
            streams.append(_in_events(txn.cursor(db=dbs["log_topic"]), logs,
                                      bytes([position]) + _PAD + address, lo, hi, before))
        for key, roles in heapq.merge(*streams, reverse=True):
            if out and (out[-1].height, out[-1].tx_index) == key:
                last = out[-1]
                out[-1] = AddressEntry(last.height, last.tx_index, last.roles | roles)
                continue
            if len(out) >= limit:
                break
            out.append(AddressEntry(key[0], key[1], roles))
    return out


def _backwards(cur: lmdb.Cursor, upper: bytes, low: bytes) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of `cur` from just below `upper` down to `low`, newest first."""
    if not (cur.prev() if cur.set_range(upper) else cur.last()):
        return
    while True:
        key = bytes(cur.key())
        if key < low:
            return
        yield key, bytes(cur.value())
        if not cur.prev():
            return


def _indexed(cur: lmdb.Cursor, address: bytes, lo: int, hi: int,
             before: tuple[int, int] | None) -> Iterator[tuple[tuple[int, int], int]]:
    upper = address + (_POS(*before) if before is not None else u64(hi + 1))
    for key, value in _backwards(cur, upper, address + u64(lo)):
        yield (int.from_bytes(key[20:28], "big"), int.from_bytes(key[28:32], "big")), value[0]


def _in_events(cur: lmdb.Cursor, logs: lmdb.Cursor, prefix: bytes, lo: int, hi: int,
               before: tuple[int, int] | None) -> Iterator[tuple[tuple[int, int], int]]:
    """Transactions with a log naming the address at `prefix`'s topic position (a
    transaction with several such logs comes once per log; the merge folds them)."""
    top = before[0] if before is not None else hi
    n = len(prefix)
    for key, _ in _backwards(cur, prefix + u64(top + 1), prefix + u64(lo)):
        position = key[n:]
        raw = logs.get(position)
        if raw is None:
            continue
        height = int.from_bytes(position[:8], "big")
        tx_index = _LOG.unpack_from(raw)[1]
        if before is not None and (height, tx_index) >= before:
            continue
        yield (height, tx_index), EVENT
