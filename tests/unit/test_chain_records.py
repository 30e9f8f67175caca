"""The stored record layouts: transactions and logs round-trip through their binary records,
and a data folder written in another record format is refused at open with what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
import rlp

from consortium.errors import ConsortiumError
from consortium.ledger.chain_store import BlockRecord, LogRecord, TxRecord
from consortium.ledger.state_store import StateStore, u64


@pytest.mark.parametrize("contract", [b"", bytes(range(20))])
def test_tx_record_round_trips(contract: bytes) -> None:
    rec = TxRecord(hash=b"\x11" * 32, raw=b"\x02\xf8raw-bytes", sender=b"\x22" * 20, height=7,
                   index=3, status=1, gas_used=2**40, cumulative_gas_used=2**63,
                   contract_address=contract, first_log=2**31, log_count=5,
                   effective_gas_price=2**255 + 1)
    assert TxRecord.decode(rec.encode(), 7, 3) == rec


@pytest.mark.parametrize("count", [0, 1, 2, 55, 1000])
@pytest.mark.parametrize("ints", [(0, 0, 0, 0), (1, 127, 128, 255), (256, 2**63, 10**9, 2**64 - 1)])
def test_block_record_encodes_as_pyrlp_did(count: int, ints: tuple[int, ...]) -> None:
    """The raw RLP of a block record is pyrlp's, byte for byte (stored blocks and
    their hashes must not change), for 32-byte hashes and for any other lengths."""
    for hashes in (tuple(i.to_bytes(32, "big") for i in range(count)),
                   tuple(bytes([i % 256]) * (i % 70) for i in range(count)) + (b"\x05", b"\x80")):
        rec = BlockRecord(ints[0], b"\x01" * 32, b"\x02" * 32, ints[1], b"\x03" * 20, ints[2],
                          ints[3], b"\x04" * 32, b"\x7f", b"\x05" * 256, hashes)
        old = rlp.encode([rec.number, rec.hash, rec.parent_hash, rec.timestamp, rec.miner,
                          rec.gas_limit, rec.gas_used, rec.state_root, rec.prevrandao, rec.bloom,
                          list(rec.tx_hashes)])
        assert rec.encode() == old
        assert BlockRecord.decode(old) == rec


@pytest.mark.parametrize("topics", [(), (b"\x01" * 32,), tuple(bytes([i]) * 32 for i in range(4))])
def test_log_record_round_trips(topics: tuple[bytes, ...]) -> None:
    rec = LogRecord(height=9, log_index=4, tx_index=2, tx_hash=b"\x33" * 32,
                    address=b"\x44" * 20, topics=topics, data=b"\x00payload\xff")
    assert LogRecord.decode(rec.encode(), 9, 4) == rec


def test_a_ledger_in_another_record_format_is_refused(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    with store.write() as txn:
        txn.put(b"height", u64(5), db=store.dbs["meta"])
        txn.delete(b"format", db=store.dbs["meta"])  # as a ledger of the first layout
    store.close()
    with pytest.raises(ConsortiumError, match="record format 1.*initialise the node again"):
        StateStore(tmp_path)
    StateStore(tmp_path / "fresh").close()  # a new folder is stamped, then opens again
    StateStore(tmp_path / "fresh").close()


def test_write_block_stores_what_one_put_per_record_stored(tmp_path: Path) -> None:
    """write_block's batched writes leave every table as one put per record, in the order
    of the block, did (the stored layout is unchanged)."""
    import random

    from consortium.ledger.chain_store import BlockRecord, write_block
    from consortium.ledger.state_store import u32

    def one_put_each(store: StateStore, txn, block, txs, logs) -> None:  # type: ignore[no-untyped-def]
        d, h = store.dbs, u64(block.number)
        txn.put(h, block.encode(), db=d["blocks"])
        txn.put(block.hash, h, db=d["block_hash"])
        for tx in txs:
            txn.put(h + u32(tx.index), tx.encode(), db=d["txs"])
            txn.put(tx.hash, h + u32(tx.index), db=d["tx_hash"])
        for log in logs:
            pos = h + u32(log.log_index)
            txn.put(pos, log.encode(), db=d["logs"])
            txn.put(log.address + pos, b"", db=d["log_addr"])
            for i, topic in enumerate(log.topics):
                txn.put(bytes([i]) + topic + pos, b"", db=d["log_topic"])

    rnd = random.Random(7)
    addresses = [rnd.randbytes(20) for _ in range(5)]
    blocks = []
    for height in range(1, 5):
        txs: list[TxRecord] = []
        logs: list[LogRecord] = []
        for i in range((0, 1, 200, 50)[height - 1]):
            tx_hash, first, count = rnd.randbytes(32), len(logs), rnd.choice((0, 1, 3))
            logs += [LogRecord(height, first + j, i, tx_hash, rnd.choice(addresses),
                               tuple(rnd.randbytes(32) for _ in range(rnd.choice((0, 1, 4)))),
                               rnd.randbytes(rnd.choice((0, 32)))) for j in range(count)]
            txs.append(TxRecord(tx_hash, rnd.randbytes(90), rnd.choice(addresses), height, i,
                                1, 21_000, 21_000 * (i + 1), b"", first, count, 0))
        blocks.append((BlockRecord(height, rnd.randbytes(32), rnd.randbytes(32), height,
                                   b"\x01" * 20, 10**9, 5, rnd.randbytes(32), b"\x02" * 32,
                                   b"\x00" * 256, tuple(t.hash for t in txs)), txs, logs))
    tables = []
    for name, write in (("one", one_put_each), ("batched", write_block)):
        store = StateStore(tmp_path / name)
        try:
            for block, txs, logs in blocks:
                with store.write() as txn:
                    write(store, txn, block, txs, logs)
            with store.env.begin(buffers=False) as txn:
                tables.append({n: list(txn.cursor(db=db).iternext())
                               for n, db in store.dbs.items()})
        finally:
            store.close()
    assert tables[0] == tables[1]
    assert len(tables[0]["log_topic"]) > 100
