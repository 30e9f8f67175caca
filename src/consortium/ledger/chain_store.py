"""Blocks, transactions, receipts and logs as the ledger stores them, and their indexes.

Blocks are RLP lists; transactions and logs, written thousands per block, are fixed-layout
binary records (`struct`), several times cheaper to encode than RLP in Python. Everything of
one block is written by `write_block` (or `block_rows`, then `write_rows`) inside the caller's
LMDB write transaction. Logs are indexed by address and by (topic position, topic), each key
ending in (height, log index), so an eth_getLogs query over many blocks reads only the
matching index entries.

A transaction a block carried but execution refused (it became invalid after CheckTx admitted
it: a nonce taken by another node's transaction, a balance spent meanwhile) leaves a
rejection record under its hash — where it was, the ABCI code and the reason — written with
the block, so a client holding its hash learns why instead of meeting silence. Rejections are
not part of the state root.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import lmdb
import rlp
from rlp.codec import encode_raw

from consortium.ledger.state_store import StateStore, u32, u64

ZERO_HASH = b"\x00" * 32


def _int(b: bytes) -> int:
    return int.from_bytes(b, "big")


def _be(value: int) -> bytes:
    """An integer as RLP stores it: minimal big-endian bytes (0 is empty)."""
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


# hash, sender, status, gas used, cumulative gas used, first log, log count, effective gas
# price (uint256), contract address length (0 or 20); then the address and the raw tx
_TX = struct.Struct(">32s20sBQQII32sB")
# address, transaction index, transaction hash, topic count; then the topics and the data
_LOG = struct.Struct(">20sI32sB")
# height, index in the block's transaction list, ABCI code; then the reason (UTF-8)
_REJECTION = struct.Struct(">QII")
_TOPIC_POSITION = [bytes([i]) for i in range(256)]  # a log_topic key's first byte


@dataclass(frozen=True)
class BlockRecord:
    number: int
    hash: bytes
    parent_hash: bytes
    timestamp: int
    miner: bytes
    gas_limit: int
    gas_used: int
    state_root: bytes
    prevrandao: bytes
    bloom: bytes  # 256 bytes
    tx_hashes: tuple[bytes, ...]

    def encode(self) -> bytes:
        """rlp.encode of the fields, through pyrlp's raw encoder: its sedes inference cost
        1.3 ms for a 1,000-transaction block's hash list, the raw encoder half that."""
        return encode_raw([
            _be(self.number), self.hash, self.parent_hash, _be(self.timestamp), self.miner,
            _be(self.gas_limit), _be(self.gas_used), self.state_root, self.prevrandao,
            self.bloom, list(self.tx_hashes),
        ])

    @classmethod
    def decode(cls, raw: bytes) -> BlockRecord:
        f = rlp.decode(raw)
        return cls(
            _int(f[0]), f[1], f[2], _int(f[3]), f[4], _int(f[5]), _int(f[6]), f[7], f[8], f[9],
            tuple(f[10]),
        )


@dataclass(slots=True)  # not frozen: made per transaction, 5x cheaper
class TxRecord:
    """An executed transaction with its receipt fields (status 0 = failed / reverted)."""

    hash: bytes
    raw: bytes
    sender: bytes
    height: int
    index: int
    status: int
    gas_used: int
    cumulative_gas_used: int
    contract_address: bytes  # b"" unless a successful creation
    first_log: int  # block-level index of this transaction's first log
    log_count: int
    effective_gas_price: int

    def encode(self) -> bytes:
        return _TX.pack(
            self.hash, self.sender, self.status, self.gas_used, self.cumulative_gas_used,
            self.first_log, self.log_count, self.effective_gas_price.to_bytes(32, "big"),
            len(self.contract_address),
        ) + self.contract_address + self.raw

    @classmethod
    def decode(cls, raw: bytes, height: int, index: int) -> TxRecord:
        (tx_hash, sender, status, gas_used, cumulative, first_log, log_count, price,
         address_len) = _TX.unpack_from(raw)
        end = _TX.size + address_len
        return cls(
            tx_hash, raw[end:], sender, height, index, status, gas_used, cumulative,
            raw[_TX.size:end], first_log, log_count, _int(price),
        )


@dataclass(slots=True)  # not frozen: made per transaction, 5x cheaper
class LogRecord:
    height: int
    log_index: int
    tx_index: int
    tx_hash: bytes
    address: bytes
    topics: tuple[bytes, ...]
    data: bytes

    def encode(self) -> bytes:
        return (_LOG.pack(self.address, self.tx_index, self.tx_hash, len(self.topics))
                + b"".join(self.topics) + self.data)

    @classmethod
    def decode(cls, raw: bytes, height: int, log_index: int) -> LogRecord:
        address, tx_index, tx_hash, count = _LOG.unpack_from(raw)
        end = _LOG.size + 32 * count
        topics = tuple(raw[i:i + 32] for i in range(_LOG.size, end, 32))
        return cls(height, log_index, tx_index, tx_hash, address, topics, raw[end:])


class BlockView(NamedTuple):
    """A block as the ledger stores it, with what Ethereum's header adds when it is read."""

    block: BlockRecord
    txs: list[TxRecord]  # in order
    roots: tuple[bytes, bytes]  # (transactionsRoot, receiptsRoot)


@dataclass(frozen=True)
class RejectionRecord:
    """A transaction a block carried that execution refused: nothing of it is in the state
    or the Ethereum block; `index` is its place in the consensus block's transaction list."""

    hash: bytes
    height: int
    index: int
    code: int  # the ABCI code of the refusal (consortium.errors)
    reason: str

    def encode(self) -> bytes:
        return _REJECTION.pack(self.height, self.index, self.code) + self.reason.encode()

    @classmethod
    def decode(cls, tx_hash: bytes, raw: bytes) -> RejectionRecord:
        height, index, code = _REJECTION.unpack_from(raw)
        return cls(tx_hash, height, index, code,
                   raw[_REJECTION.size:].decode("utf-8", "replace"))


BlockRows = list[tuple[str, list[tuple[bytes, bytes]]]]
"""A block's records encoded for their tables, in write order: (table, rows)."""


def block_rows(block: BlockRecord, txs: Sequence[TxRecord], logs: Sequence[LogRecord],
               rejections: Sequence[RejectionRecord] = ()) -> BlockRows:
    """Everything `write_block` puts, encoded: the ledger makes these when the block is
    finalized, so that Commit (while the engine holds its mempool) only writes them."""
    h = u64(block.number)
    rows = [(h + u32(tx.index), tx) for tx in txs]
    # a later rejection of the same hash replaces an earlier one (rows are put in order);
    # the index keys are sorted so that neighbouring keys share pages
    out: BlockRows = [("rejections", [(r.hash, r.encode()) for r in rejections]),
                      ("blocks", [(h, block.encode())]), ("block_hash", [(block.hash, h)]),
                      ("txs", [(pos, tx.encode()) for pos, tx in rows]),
                      ("tx_hash", sorted([(tx.hash, pos) for pos, tx in rows]))]
    if logs:
        at = [(h + u32(log.log_index), log) for log in logs]
        out += [("logs", [(pos, log.encode()) for pos, log in at]),
                ("log_addr", sorted([(log.address + pos, b"") for pos, log in at])),
                ("log_topic", sorted([(_TOPIC_POSITION[i] + topic + pos, b"")
                                      for pos, log in at for i, topic in enumerate(log.topics)]))]
    return out


def write_rows(store: StateStore, txn: lmdb.Transaction, rows: BlockRows) -> None:
    """Put `block_rows`' output in the caller's write transaction: each table's rows in
    one C call (putmulti), the same records as one put each."""
    for table, items in rows:
        if items:
            txn.cursor(db=store.dbs[table]).putmulti(items)


def write_block(store: StateStore, txn: lmdb.Transaction, block: BlockRecord,
                txs: Sequence[TxRecord], logs: Sequence[LogRecord],
                rejections: Sequence[RejectionRecord] = ()) -> None:
    write_rows(store, txn, block_rows(block, txs, logs, rejections))


class ChainReader:
    """Reads of committed blocks, transactions and logs (each in its own read txn)."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def block(self, height: int) -> BlockRecord | None:
        raw = self.store.get("blocks", u64(height))
        return BlockRecord.decode(raw) if raw else None

    def height_of(self, block_hash: bytes) -> int | None:
        raw = self.store.get("block_hash", block_hash)
        return _int(raw) if raw else None

    def recent_hashes(self, height: int, count: int) -> list[bytes]:
        """Hashes of blocks height, height-1, … (newest first), at most `count`."""
        out: list[bytes] = []
        with self.store.env.begin(db=self.store.dbs["blocks"], buffers=False) as txn:
            cur = txn.cursor()
            if not cur.set_range(u64(height + 1)):
                if not cur.last():
                    return out
            elif not cur.prev():
                return out
            while len(out) < count:
                out.append(BlockRecord.decode(cur.value()).hash)
                if not cur.prev():
                    break
        return out

    def tx_hashes_in(self, first: int, last: int) -> set[bytes]:
        """The hashes of the transactions blocks `first`..`last` committed: one cursor over
        their transaction records, each record's first 32 bytes (no block to decode)."""
        out: set[bytes] = set()
        end = u64(last + 1)
        with self.store.env.begin(db=self.store.dbs["txs"], buffers=True) as txn:
            cur = txn.cursor()
            if cur.set_range(u64(first)):
                for key, value in cur:
                    if bytes(key[:8]) >= end:
                        break
                    out.add(bytes(value[:32]))  # TxRecord.encode: the hash comes first
        return out

    def tx_position(self, tx_hash: bytes) -> tuple[int, int] | None:
        return self.tx_positions([tx_hash])[0]

    def tx_positions(self, tx_hashes: Iterable[bytes]) -> list[tuple[int, int] | None]:
        """(height, index) of each committed transaction, None for the others: one read
        transaction for a whole batch (admission looks up every submitted hash)."""
        with self.store.env.begin(db=self.store.dbs["tx_hash"], buffers=False) as txn:
            raws = [txn.get(h) for h in tx_hashes]
        return [None if raw is None else (_int(raw[:8]), _int(raw[8:])) for raw in raws]

    def rejection(self, tx_hash: bytes) -> RejectionRecord | None:
        """Why a block's execution refused this transaction — unless a block committed the
        same hash (resubmitted, then valid): a committed transaction wins."""
        with self.store.env.begin(buffers=False) as txn:
            if txn.get(tx_hash, db=self.store.dbs["tx_hash"]) is not None:
                return None
            raw = txn.get(tx_hash, db=self.store.dbs["rejections"])
        return RejectionRecord.decode(tx_hash, raw) if raw is not None else None

    def tx(self, height: int, index: int) -> TxRecord | None:
        raw = self.store.get("txs", u64(height) + u32(index))
        return TxRecord.decode(raw, height, index) if raw else None

    def txs_of_block(self, height: int) -> list[TxRecord]:
        prefix = u64(height)
        out = []
        with self.store.env.begin(db=self.store.dbs["txs"], buffers=False) as txn:
            cur = txn.cursor()
            if cur.set_range(prefix):
                for key, value in cur:
                    if key[:8] != prefix:
                        break
                    out.append(TxRecord.decode(value, height, _int(key[8:])))
        return out

    def logs_range(self, height: int, first: int, count: int) -> list[LogRecord]:
        out = []
        with self.store.env.begin(db=self.store.dbs["logs"], buffers=False) as txn:
            for i in range(first, first + count):
                raw = txn.get(u64(height) + u32(i))
                if raw is not None:
                    out.append(LogRecord.decode(raw, height, i))
        return out

    # --- eth_getLogs -----------------------------------------------------------------

    def log_positions_by_address(self, address: bytes, lo: int, hi: int) -> Iterator[bytes]:
        yield from self._scan("log_addr", address, lo, hi)

    def log_positions_by_topic(self, position: int, topic: bytes, lo: int,
                               hi: int) -> Iterator[bytes]:
        yield from self._scan("log_topic", bytes([position]) + topic, lo, hi)

    def _scan(self, db: str, prefix: bytes, lo: int, hi: int) -> Iterator[bytes]:
        n = len(prefix)
        start, end = prefix + u64(lo), prefix + u64(hi + 1)
        with self.store.env.begin(db=self.store.dbs[db], buffers=False) as txn:
            cur = txn.cursor()
            if not cur.set_range(start):
                return
            for key in cur.iternext(keys=True, values=False):
                if key >= end:
                    break
                yield key[n:]

    def logs_at(self, positions: Iterable[bytes]) -> list[LogRecord]:
        out = []
        with self.store.env.begin(db=self.store.dbs["logs"], buffers=False) as txn:
            for pos in positions:
                raw = txn.get(pos)
                if raw is not None:
                    out.append(LogRecord.decode(raw, _int(pos[:8]), _int(pos[8:])))
        return out

    def logs_in_heights(self, lo: int, hi: int) -> list[LogRecord]:
        out: list[LogRecord] = []
        end = u64(hi + 1)
        with self.store.env.begin(db=self.store.dbs["logs"], buffers=False) as txn:
            cur = txn.cursor()
            if not cur.set_range(u64(lo)):
                return out
            for key, value in cur:
                if key >= end:
                    break
                out.append(LogRecord.decode(value, _int(key[:8]), _int(key[8:])))
        return out
