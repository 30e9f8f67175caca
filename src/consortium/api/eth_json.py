"""Blocks, transactions, receipts and logs in Ethereum JSON-RPC shape (as geth answers them),
shaped here in the API from the ledger's records (`EthReads`) for JSON-RPC, REST and
subscriptions. Header fields CometBFT has no counterpart for are fixed (nonce, difficulty,
base fee 0, no uncles; mixHash = prevrandao); the transactions and receipts roots are the
ledger's tries, computed when a block is read; `size` adds a fixed 540-byte header estimate."""

from __future__ import annotations

from typing import Any

from eth.constants import BLANK_ROOT_HASH, EMPTY_UNCLE_HASH
from eth.vm.forks.prague.transactions import PragueTransactionBuilder

from consortium.ledger.chain_store import BlockRecord, LogRecord, TxRecord
from consortium.ledger.eth_encoding import receipt_bloom, tx_type
from consortium.ledger.types import LedgerReader, LogEntry

HEADER_SIZE_ESTIMATE = 540
ZERO32 = "0x" + "00" * 32


def hx(b: bytes) -> str:
    return "0x" + bytes(b).hex()


def block_json(
    block: BlockRecord,
    txs: list[TxRecord] | None,
    roots: tuple[bytes, bytes],
    full_transactions: bool,
) -> dict[str, Any]:
    """`txs` are needed (in order) when `full_transactions`; `roots` is (transactionsRoot,
    receiptsRoot)."""
    size = HEADER_SIZE_ESTIMATE + sum(len(t.raw) for t in txs or ())
    return {
        "number": hex(block.number),
        "hash": hx(block.hash),
        "parentHash": hx(block.parent_hash),
        "nonce": "0x0000000000000000",
        "sha3Uncles": hx(EMPTY_UNCLE_HASH),
        "logsBloom": hx(block.bloom),
        "transactionsRoot": hx(roots[0]),
        "stateRoot": hx(block.state_root),
        "receiptsRoot": hx(roots[1]),
        "miner": hx(block.miner),
        "difficulty": "0x0",
        "totalDifficulty": "0x0",
        "extraData": "0x",
        "size": hex(size),
        "gasLimit": hex(block.gas_limit),
        "gasUsed": hex(block.gas_used),
        "timestamp": hex(block.timestamp),
        "transactions": ([tx_json(t, block) for t in txs or ()] if full_transactions
                         else [hx(h) for h in block.tx_hashes]),
        "uncles": [],
        "baseFeePerGas": "0x0",
        "mixHash": hx(block.prevrandao),
        "withdrawals": [],
        "withdrawalsRoot": hx(BLANK_ROOT_HASH),
        "blobGasUsed": "0x0",
        "excessBlobGas": "0x0",
        "parentBeaconBlockRoot": ZERO32,
    }


def tx_json(rec: TxRecord, block: BlockRecord | None) -> dict[str, Any]:
    tx: Any = PragueTransactionBuilder.decode(rec.raw)
    type_id = tx_type(rec.raw)
    out: dict[str, Any] = {
        "blockHash": hx(block.hash) if block else None,
        "blockNumber": hex(rec.height),
        "from": hx(rec.sender),
        "gas": hex(tx.gas),
        "gasPrice": hex(rec.effective_gas_price),
        "hash": hx(rec.hash),
        "input": hx(tx.data),
        "nonce": hex(tx.nonce),
        "to": hx(tx.to) if tx.to else None,
        "transactionIndex": hex(rec.index),
        "value": hex(tx.value),
        "type": hex(type_id),
    }
    if type_id == 0:
        out["chainId"] = hex((tx.v - 35) // 2)
        out["v"] = hex(tx.v)
    else:
        out["chainId"] = hex(tx.chain_id)
        out["accessList"] = [
            {"address": hx(addr), "storageKeys": ["0x" + k.to_bytes(32, "big").hex()
                                                  for k in keys]}
            for addr, keys in tx.access_list
        ]
        out["v"] = out["yParity"] = hex(tx.y_parity)
        if type_id == 2:
            out["maxFeePerGas"] = hex(tx.max_fee_per_gas)
            out["maxPriorityFeePerGas"] = hex(tx.max_priority_fee_per_gas)
    out["r"] = hex(tx.r)
    out["s"] = hex(tx.s)
    return out


def log_json(entry: LogEntry, *, removed: bool = False) -> dict[str, Any]:
    """A log as eth_getLogs, eth_subscription("logs") and receipts answer it."""
    return {
        "address": entry.address,
        "topics": list(entry.topics),
        "data": hx(entry.data),
        "blockNumber": hex(entry.block_number),
        "blockHash": entry.block_hash,
        "transactionHash": entry.tx_hash,
        "transactionIndex": hex(entry.tx_index),
        "logIndex": hex(entry.log_index),
        "removed": removed,
    }


def receipt_json(rec: TxRecord, block: BlockRecord, logs: list[LogRecord]) -> dict[str, Any]:
    tx: Any = PragueTransactionBuilder.decode(rec.raw)
    return {
        "transactionHash": hx(rec.hash),
        "transactionIndex": hex(rec.index),
        "blockHash": hx(block.hash),
        "blockNumber": hex(rec.height),
        "from": hx(rec.sender),
        "to": hx(tx.to) if tx.to else None,
        "cumulativeGasUsed": hex(rec.cumulative_gas_used),
        "gasUsed": hex(rec.gas_used),
        "effectiveGasPrice": hex(rec.effective_gas_price),
        "contractAddress": hx(rec.contract_address) if rec.contract_address else None,
        "logs": [log_json(LogEntry(hx(log.address), tuple(map(hx, log.topics)), log.data,
                                   log.height, hx(block.hash), hx(log.tx_hash), log.tx_index,
                                   log.log_index)) for log in logs],
        "logsBloom": hx(receipt_bloom(logs)),
        "status": hex(rec.status),
        "type": hex(tx_type(rec.raw)),
    }


class EthReads:
    """A ledger's blocks, transactions and receipts as JSON-RPC answers them; None when
    not found."""

    def __init__(self, ledger: LedgerReader) -> None:
        self.ledger = ledger

    def get_block(self, height: int, full_transactions: bool = False) -> dict[str, Any] | None:
        found = self.ledger.block_record(height)
        return None if found is None else block_json(*found, full_transactions)

    def get_block_by_hash(self, block_hash: str,
                          full_transactions: bool = False) -> dict[str, Any] | None:
        height = self.ledger.block_height(block_hash)
        return None if height is None else self.get_block(height, full_transactions)

    def get_transaction(self, tx_hash: str) -> dict[str, Any] | None:
        found = self.ledger.tx_record(tx_hash)
        return None if found is None else tx_json(*found)

    def get_receipt(self, tx_hash: str) -> dict[str, Any] | None:
        found = self.ledger.receipt_record(tx_hash)
        return None if found is None else receipt_json(*found)
