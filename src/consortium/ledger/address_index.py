"""The address → transaction index: which committed transactions touched an address.

One LMDB database, `addr_txs`, keyed address (20) + height (u64), its value the items
(u32 transaction index, u8 roles: `FROM`, `TO`, `CREATED`) of that block's transactions
that touched the address: a transaction is listed under its sender, its recipient and the
contract it created. The entries are written in the block's
own LMDB write transaction (`Ledger.commit`), so the index never drifts from the chain; they
are not part of the state root (like the rejection records), and every node writes the same
ones from the same blocks (no clock, no dict order).

Addresses in events (ERC-20/721 `Transfer`'s from and to, any indexed address argument) cost
the commit nothing more: the log index the ledger already keeps (`log_topic`: topic position
+ topic + height + log index) finds them, and `address_entries` merges them in with the role
`EVENT`. Building the entries is a few list comprehensions over what the block holds (no
decoding), and a block writes one entry per address it touched, so a block of 1,000 token
transfers from 64 senders adds 65 LMDB puts to its commit.

The index starts where the ledger started writing it: `meta` key `addr_index_from` says the
first height indexed. A new ledger indexes from its genesis; a data folder committed by an
earlier version indexes from the first block after it was opened with this one (older
heights answer "the index starts at height N": no backfill at open, which on a long chain
would hold the node's start for minutes; `rebuild` backfills it offline); a state-synced
node indexes from the first block after its snapshot (nothing before it is on the node).
"""

from __future__ import annotations

import heapq
import logging
import struct
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

import lmdb
import rlp

from consortium.ledger.chain_store import TxRecord
from consortium.ledger.state_store import StateStore, u64

log = logging.getLogger("consortium.ledger")

DB = "addr_txs"
FROM_KEY = b"addr_index_from"  # in `meta`: the first height the index covers
RESTORED_KEY = b"restored_height"  # snapshots.RESTORED_KEY (not imported: no cycle)
FROM, TO, CREATED, EVENT = 1, 2, 4, 8
_ITEM = struct.Struct(">IB").pack  # an entry's item: transaction index, roles
_ITEMS = struct.Struct(">IB")
_PAD = b"\x00" * 12
_LOG = struct.Struct(">20sI")  # a log record's address and transaction index


class AddressEntry(NamedTuple):
    """One indexed transaction of an address."""

    height: int
    tx_index: int
    roles: int  # FROM | TO | CREATED | EVENT


def block_entries(txs: Sequence[TxRecord],
                  recipients: Sequence[bytes]) -> list[tuple[bytes, bytes]]:
    """The index entries of one block: one per address it touched, keyed address +
    height, the value that address's (u32 transaction index, u8 roles) items in order.
    `recipients[i]` is `txs[i]`'s `to` (b"" for a creation). One entry per address and
    block instead of one per transaction: a block of 1,000 token transfers from 64 senders
    writes 65 entries, not 2,000."""
    if not txs:
        return []
    groups: dict[bytes, bytearray] = {}
    get = groups.get
    for t, to in zip(txs, recipients, strict=True):
        sender, i = t.sender, t.index
        g = get(sender)
        if g is None:
            g = groups[sender] = bytearray()
        g += _ITEM(i, FROM | TO if to == sender else FROM)
        if to and to != sender:
            g = get(to)
            if g is None:
                g = groups[to] = bytearray()
            g += _ITEM(i, TO)
        created = t.contract_address
        if created:
            g = get(created)
            if g is None:
                g = groups[created] = bytearray()
            g += _ITEM(i, CREATED)
    height = u64(txs[0].height)
    return [(address + height, bytes(items)) for address, items in groups.items()]


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


def recipient_of(raw: bytes) -> bytes:
    """A raw transaction's `to` (b"" for a creation), without recovering its sender."""
    if raw[:1] >= b"\xc0":  # legacy: [nonce, gasPrice, gas, to, …]
        return bytes(rlp.decode(raw)[3])
    fields = rlp.decode(raw[1:])  # typed: EIP-2930's to is 5th, 1559's and later 6th
    return bytes(fields[4] if raw[0] == 1 else fields[5])


def rebuild(store: StateStore, progress: Callable[[int], None] = lambda _n: None) -> int:
    """Write the index again from the stored transactions (a backfill: the ledger must not
    be committing meanwhile, i.e. the node stopped), a thousand heights per LMDB write
    transaction; afterwards it covers every block this ledger holds. Returns the entries
    written."""
    dbs = store.dbs
    height, _ = store.committed()
    restored = store.get("meta", RESTORED_KEY)
    start = int.from_bytes(restored, "big") + 1 if restored else 0
    with store.env.begin(write=True, buffers=False) as txn:
        txn.drop(dbs[DB], delete=False)
        txn.put(FROM_KEY, u64(height + 1), db=dbs["meta"])  # nothing covered until done
    written = 0
    for first in range(start, height + 1, 1000):
        last = min(height, first + 999)
        with store.env.begin(write=True, buffers=False) as txn:
            blocks: dict[int, list[TxRecord]] = {}
            cur = txn.cursor(db=dbs["txs"])
            if cur.set_range(u64(first)):
                for key, value in cur:
                    h = int.from_bytes(key[:8], "big")
                    if h > last:
                        break
                    blocks.setdefault(h, []).append(
                        TxRecord.decode(value, h, int.from_bytes(key[8:], "big")))
            for recs in blocks.values():
                entries = block_entries(recs, [recipient_of(r.raw) for r in recs])
                write_entries(store, txn, entries)
                written += len(entries)
            if last == height:
                txn.put(FROM_KEY, u64(start), db=dbs["meta"])
        progress(last - first + 1)
    return written


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
    top = before[0] if before is not None else hi
    for key, value in _backwards(cur, address + u64(top + 1), address + u64(lo)):
        height = int.from_bytes(key[20:28], "big")
        for offset in range(len(value) - _ITEMS.size, -1, -_ITEMS.size):
            tx_index, roles = _ITEMS.unpack_from(value, offset)
            if before is not None and (height, tx_index) >= before:
                continue
            yield (height, tx_index), roles


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
