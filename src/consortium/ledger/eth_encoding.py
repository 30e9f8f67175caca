"""Ethereum's encodings of a block's contents, as the ledger computes them when a block is
read: transactionsRoot and receiptsRoot (Ethereum's ordered tries), receipts' RLP and logs
bloom, a raw transaction's type. The JSON shaping of blocks, transactions and receipts is the
API's (`consortium.api.eth_json`).
"""

from __future__ import annotations

import rlp
from eth.constants import BLANK_ROOT_HASH
from eth_bloom import BloomFilter
from trie import HexaryTrie

from consortium.ledger.chain_store import LogRecord, TxRecord


def trie_root(items: list[bytes]) -> bytes:
    if not items:
        return bytes(BLANK_ROOT_HASH)
    db: dict[bytes, bytes] = {}
    trie = HexaryTrie(db, BLANK_ROOT_HASH)
    with trie.squash_changes() as memory_trie:
        for index, item in enumerate(items):
            memory_trie[rlp.encode(index)] = item
    return bytes(trie.root_hash)


def receipt_bloom(logs: list[LogRecord]) -> bytes:
    bloom = BloomFilter()
    for log in logs:
        bloom.add(log.address)
        for topic in log.topics:
            bloom.add(topic)
    return int(bloom).to_bytes(256, "big")


def encode_receipt(tx: TxRecord, type_id: int, logs: list[LogRecord]) -> bytes:
    payload = rlp.encode([
        tx.status, tx.cumulative_gas_used, receipt_bloom(logs),
        [[log.address, list(log.topics), log.data] for log in logs],
    ])
    return payload if type_id == 0 else bytes([type_id]) + payload


def tx_type(raw: bytes) -> int:
    return 0 if raw[0] >= 0xC0 else raw[0]
