"""The values that cross the ledger's boundary: to the ABCI application and to the API.

The ABCI layer turns these into protobuf; the API turns them into Ethereum JSON. Neither
sees py-evm or LMDB objects, so the execution engine and the store can change behind them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from consortium.evm.budget import CallBudget

if TYPE_CHECKING:
    from consortium.ledger.chain_store import BlockRecord, BlockView, LogRecord, TxRecord


@dataclass(frozen=True)
class BlockContext:
    """Header fields that come from consensus, never from the local clock or randomness."""

    height: int
    time_ns: int  # CometBFT block time, nanoseconds since the Unix epoch
    proposer: bytes  # 20-byte CometBFT address of the proposing validator
    block_hash: bytes  # 32-byte CometBFT block hash; becomes the Ethereum block hash
    prevrandao: bytes = b"\x00" * 32  # derived from consensus data by the caller


@dataclass(frozen=True)
class Event:
    """An ABCI event: a type and ordered (key, value, index) attributes."""

    type: str
    attributes: tuple[tuple[str, str, bool], ...]


@dataclass(slots=True)  # not frozen: made per transaction, 5x cheaper
class CheckOutcome:
    """What CheckTx answers. code 0 admits the transaction to the mempool."""

    code: int
    log: str = ""
    gas_wanted: int = 0
    sender: str = ""  # 0x address, when known
    nonce: int = -1
    tx_hash: str = ""  # 0x keccak of the raw bytes


@dataclass(slots=True)  # not frozen: made per transaction, 5x cheaper
class TxOutcome:
    """One ExecTxResult. code 0 = executed with status 1; ExecutionReverted's code = status 0
    (still in the Ethereum block, nonce used); any other code = skipped, not in the block."""

    code: int
    log: str = ""
    data: bytes = b""
    gas_wanted: int = 0
    gas_used: int = 0
    tx_ref: tuple[bytes, bytes, int] | None = None  # (hash, sender, nonce) when executed
    logs: tuple[tuple[bytes, tuple[bytes, ...], bytes], ...] = ()  # (address, topics, data)

    @property
    def tx_event(self) -> Event | None:
        """The "tx" event (hash, sender, nonce): the one event handed to the engine."""
        if self.tx_ref is None:
            return None
        tx_hash, sender, nonce = self.tx_ref
        return Event("tx", (("hash", "0x" + tx_hash.hex(), True),
                            ("sender", "0x" + sender.hex(), True),
                            ("nonce", str(nonce), False)))

    @property
    def events(self) -> tuple[Event, ...]:
        """The "tx" event, then an "eth_log" event per contract log. Built on demand: the
        engine gets only the tx event, the logs are served from the ledger's own index."""
        first = self.tx_event
        if first is None:
            return ()
        events = [first]
        for address, topics, data in self.logs:
            attrs = [("address", "0x" + address.hex(), True)]
            attrs += [(f"topic{i}", "0x" + t.hex(), True) for i, t in enumerate(topics)]
            attrs.append(("data", "0x" + data.hex(), False))
            events.append(Event("eth_log", tuple(attrs)))
        return tuple(events)


@dataclass(frozen=True)
class ValidatorUpdate:
    pub_key_ed25519: bytes  # 32 bytes
    power: int  # 0 removes the validator


@dataclass(frozen=True)
class BlockOutcome:
    tx_results: tuple[TxOutcome, ...]
    app_hash: bytes
    validator_updates: tuple[ValidatorUpdate, ...] = ()


@dataclass(frozen=True)
class LogEntry:
    address: str  # 0x, lower-case
    topics: tuple[str, ...]  # 0x 32-byte hex
    data: bytes
    block_number: int
    block_hash: str
    tx_hash: str
    tx_index: int
    log_index: int  # position in the block


@dataclass(frozen=True)
class CallResult:
    success: bool
    output: bytes
    gas_used: int
    error: str = ""  # revert reason or error text when not successful


@dataclass
class TxFilter:
    """eth_getLogs criteria. topics follow Ethereum's rules: position-wise, None = any,
    a list = any of."""

    from_block: int
    to_block: int
    addresses: Sequence[str] = ()
    topics: Sequence[str | Sequence[str] | None] = field(default_factory=list)


class LedgerReader(Protocol):
    """What the API reads. Blocks, transactions and receipts are records; the API shapes
    them into Ethereum JSON (`consortium.api.eth_json.EthReads`)."""

    @property
    def eth_chain_id(self) -> int: ...

    def info(self) -> tuple[int, bytes]: ...  # last committed height and app hash

    def latest_height(self) -> int: ...

    def get_balance(self, address: str, height: int | None = None) -> int: ...

    def get_nonce(self, address: str, height: int | None = None) -> int: ...

    def pending_nonce(self, address: str) -> int: ...

    def get_code(self, address: str, height: int | None = None) -> bytes: ...

    def get_storage_at(self, address: str, slot: int, height: int | None = None) -> bytes: ...

    def block_record(self, height: int) -> BlockView | None: ...

    def block_height(self, block_hash: str) -> int | None: ...

    def tx_record(self, tx_hash: str) -> tuple[TxRecord, BlockRecord] | None: ...

    def receipt_record(self, tx_hash: str
                       ) -> tuple[TxRecord, BlockRecord, list[LogRecord]] | None: ...

    def get_logs(self, flt: TxFilter, *, budget: CallBudget | None = None
                 ) -> list[LogEntry]: ...

    def call(self, tx: dict, height: int | None = None, *, budget: CallBudget | None = None,
             gas_cap: int | None = None) -> CallResult: ...

    def estimate_gas(self, tx: dict, height: int | None = None, *,
                     budget: CallBudget | None = None, gas_cap: int | None = None) -> int: ...
