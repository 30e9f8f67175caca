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
    """The hand-written RLP of a block record is pyrlp's, byte for byte (stored blocks and
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
