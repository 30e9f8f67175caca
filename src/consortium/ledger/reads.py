"""The ledger's reads for the API: the `LedgerReader` protocol of `ledger.types`.

Every read sees committed data only. `height=None` means the latest committed block; a past
height reads the state root stored for it (trie nodes are never pruned). eth_call and gas
estimation run on a throwaway state that is never persisted.

Reads a client can make expensive are bounded: eth_call and gas estimation by a gas cap
(`RPC_GAS_CAP` unless the caller gives one; a larger gas limit is lowered to it, as geth
does) and, with a `CallBudget`, by its deadline and cancel flag (one budget for a whole
estimate's search); eth_getLogs by `MAX_LOG_RESULTS` and the budget, checked as it scans.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from consortium.errors import (
    ConsortiumError,
    ExecutionReverted,
    GasLimitError,
    HistoryNotHere,
    LimitExceeded,
)
from consortium.evm.abc import ExecResult, WorldFactory, WorldStateAPI
from consortium.evm.budget import CallBudget
from consortium.evm.header import BlockEnv
from consortium.evm.native import revert_reason
from consortium.ledger.chain_store import (
    BlockRecord,
    BlockView,
    ChainReader,
    LogRecord,
    TxRecord,
)
from consortium.ledger.eth_encoding import encode_receipt, trie_root, tx_type
from consortium.ledger.genesis import AppState
from consortium.ledger.snapshots import restored_height
from consortium.ledger.state_store import StateStore
from consortium.ledger.transactions import SenderCache
from consortium.ledger.types import CallResult, LogEntry, TxFilter

MAX_LOG_RESULTS = 10_000
ROOTS_CACHE_SIZE = 64
# The most gas one eth_call or estimate step may use (geth's default RPCGasCap); 0: no cap
# below the block gas limit.
RPC_GAS_CAP = 50_000_000
# Heights of logs read at once when no index narrows eth_getLogs (the budget is checked
# between slices), and records between two checks of it.
LOG_SCAN_HEIGHTS = 256
BUDGET_CHECK_EVERY = 256

T = TypeVar("T")


class LedgerReads:
    """Mixed into `Ledger`; relies on the attributes below, which `Ledger` sets."""

    store: StateStore
    chain: ChainReader
    _app_state: AppState | None
    senders: SenderCache
    _pending_nonces: dict[bytes, int]
    _genesis_height: int
    _world: WorldFactory  # the node's engine (revm or py-evm): reads run on it too

    def __init__(self) -> None:
        self._roots_cache = _RootsCache()

    def _last_height(self) -> int:  # provided by Ledger
        raise NotImplementedError

    def _stored_genesis(self) -> tuple[AppState, int] | None:
        """The chain's genesis (its app state and height) as InitChain stored it, or None
        before InitChain."""
        raw = self.store.get("meta", b"genesis")
        if raw is None:
            return None
        doc = json.loads(raw)
        return AppState.from_json(doc["app_state"]), int(doc["genesis_height"])

    # --- chain facts ---------------------------------------------------------------------

    @property
    def eth_chain_id(self) -> int:
        return self._app().eth_chain_id

    @property
    def block_gas_limit(self) -> int:
        return self._app().block_gas_limit

    def latest_height(self) -> int:
        return self._last_height()

    def prime_senders(self, raws: Sequence[bytes]) -> int:
        """Decode and recover transactions about to be submitted, off the event loop (see
        `SenderCache.prime`); thread-safe."""
        app_state = self._app_state
        if app_state is None:
            return 0
        return self.senders.prime(raws, app_state.eth_chain_id)

    # --- account state -------------------------------------------------------------------

    def get_balance(self, address: str, height: int | None = None) -> int:
        return self._state_at(height).get_balance(_address(address))

    def get_nonce(self, address: str, height: int | None = None) -> int:
        return self._state_at(height).get_nonce(_address(address))

    def committed_nonces(self, addresses: Iterable[bytes]) -> dict[bytes, int]:
        """The latest committed nonce of each 20-byte address, read from one state (the
        API's admission asks it for every batch's senders)."""
        state = self._state_at(None)
        return {a: state.get_nonce(a) for a in set(addresses)}

    def pending_nonce(self, address: str) -> int:
        """The next nonce counting transactions admitted to this node's mempool."""
        return max(self._pending_nonces.get(_address(address), 0), self.get_nonce(address))

    def get_code(self, address: str, height: int | None = None) -> bytes:
        return self._state_at(height).get_code(_address(address))

    def get_storage_at(self, address: str, slot: int, height: int | None = None) -> bytes:
        value = self._state_at(height).get_storage(_address(address), slot)
        return value.to_bytes(32, "big")

    # --- blocks, transactions, receipts ---------------------------------------------------

    def block_record(self, height: int) -> BlockView | None:
        """A committed block, its transactions in order and its (transactionsRoot,
        receiptsRoot); the API shapes them (`consortium.api.eth_json.EthReads`)."""
        if height > self._last_height():
            return None
        self._check_history(height)
        block = self.chain.block(height)
        if block is None:
            return None
        txs = self.chain.txs_of_block(height) if block.tx_hashes else []
        return BlockView(block, txs, self._roots(block, txs))

    def block_height(self, block_hash: str) -> int | None:
        """The height of the block with this hash, if this node has it."""
        return self.chain.height_of(_hash(block_hash))

    def tx_record(self, tx_hash: str) -> tuple[TxRecord, BlockRecord] | None:
        """A committed transaction and its block."""
        pos = self.chain.tx_position(_hash(tx_hash))
        if pos is None or pos[0] > self._last_height():
            return None
        rec = self.chain.tx(*pos)
        block = self.chain.block(pos[0])
        if rec is None or block is None:
            return None
        return rec, block

    def receipt_record(self, tx_hash: str
                       ) -> tuple[TxRecord, BlockRecord, list[LogRecord]] | None:
        """A committed transaction, its block and its logs: what its receipt says."""
        found = self.tx_record(tx_hash)
        if found is None:
            return None
        rec, block = found
        return rec, block, self.chain.logs_range(rec.height, rec.first_log, rec.log_count)

    def _roots(self, block: BlockRecord, txs: list[Any]) -> tuple[bytes, bytes]:
        """transactionsRoot and receiptsRoot, computed on first read and cached."""
        cache = self._roots_cache
        with cache.lock:
            hit = cache.items.get(block.hash)
        if hit is not None:
            return hit
        logs = self.chain.logs_in_heights(block.number, block.number) if txs else []
        receipts = [
            encode_receipt(t, tx_type(t.raw), logs[t.first_log:t.first_log + t.log_count])
            for t in txs
        ]
        roots = (trie_root([t.raw for t in txs]), trie_root(receipts))
        with cache.lock:
            cache.items[block.hash] = roots
            while len(cache.items) > ROOTS_CACHE_SIZE:
                cache.items.popitem(last=False)
        return roots

    # --- transactions a block refused -------------------------------------------------------

    def transaction_rejection(self, tx_hash: str) -> dict | None:
        """Why a block's execution refused the transaction `tx_hash` (0x hex), or None if no
        block refused it or one committed it since: {"hash", "blockNumber", "index" (in the
        consensus block's transaction list), "code" (ABCI), "reason"}, numbers as ints."""
        try:
            raw = bytes.fromhex(tx_hash.removeprefix("0x"))
        except ValueError:
            raw = b""
        if len(raw) != 32:
            raise ConsortiumError(f"invalid 32-byte hash {tx_hash!r}")
        found = self.chain.rejection(raw)
        return None if found is None else {
            "hash": "0x" + found.hash.hex(), "blockNumber": found.height, "index": found.index,
            "code": found.code, "reason": found.reason,
        }

    # --- logs ------------------------------------------------------------------------------

    def get_logs(self, flt: TxFilter, *, budget: CallBudget | None = None) -> list[LogEntry]:
        """eth_getLogs from the log indexes: with addresses, only those addresses' entries
        in the height range are read; else with a topic, only that topic's entries. With
        `budget`, raises CallTimeout / CallCancelled once it is spent (checked every
        `BUDGET_CHECK_EVERY` index entries or records)."""
        lo = max(flt.from_block, self._genesis_height)
        hi = min(flt.to_block, self._last_height())
        if lo > hi:
            return []
        self._check_history(lo)
        addresses = [_address(a) for a in flt.addresses]
        topics: list[list[bytes] | None] = []
        for t in flt.topics:
            if t is None:
                topics.append(None)
            elif isinstance(t, str):
                topics.append([_hash(t)])
            else:
                topics.append([_hash(x) for x in t] or None)
        records: Iterable[LogRecord]
        if addresses:
            positions = _union(_checked(self.chain.log_positions_by_address(a, lo, hi), budget)
                               for a in addresses)
            records = self._logs_at(positions, budget)
        elif any(t is not None for t in topics):
            pos_i = next(i for i, t in enumerate(topics) if t is not None)
            wanted = topics[pos_i] or []
            positions = _union(
                _checked(self.chain.log_positions_by_topic(pos_i, t, lo, hi), budget)
                for t in wanted)
            records = self._logs_at(positions, budget)
        else:
            records = self._logs_in_heights(lo, hi, budget)
        address_set = set(addresses)
        out: list[LogEntry] = []
        block_hashes: dict[int, bytes] = {}
        for log in records:
            if address_set and log.address not in address_set:
                continue
            if not _topics_match(log, topics):
                continue
            if len(out) >= MAX_LOG_RESULTS:
                raise LimitExceeded(
                    f"query returns more than {MAX_LOG_RESULTS} logs; narrow the block range"
                )
            bh = block_hashes.get(log.height)
            if bh is None:
                block = self.chain.block(log.height)
                bh = block_hashes[log.height] = block.hash if block else b"\x00" * 32
            out.append(LogEntry(
                address=_hx(log.address), topics=tuple(_hx(t) for t in log.topics),
                data=log.data, block_number=log.height, block_hash=_hx(bh),
                tx_hash=_hx(log.tx_hash), tx_index=log.tx_index, log_index=log.log_index,
            ))
        return out

    def _logs_at(self, positions: list[bytes], budget: CallBudget | None) -> Iterator[LogRecord]:
        """The log records at `positions`, read a slice at a time, the budget checked
        between slices."""
        for start in range(0, len(positions), BUDGET_CHECK_EVERY):
            if budget is not None:
                budget.check()
            yield from self.chain.logs_at(positions[start:start + BUDGET_CHECK_EVERY])

    def _logs_in_heights(self, lo: int, hi: int,
                         budget: CallBudget | None) -> Iterator[LogRecord]:
        """Every log record from height `lo` to `hi`, a slice of heights at a time (the
        caller stops early at MAX_LOG_RESULTS), the budget checked between slices. A slice
        starts at `LOG_SCAN_HEIGHTS` heights and doubles while slices hold few records, so a
        long stretch without logs takes a few reads, not one per slice."""
        if budget is None:
            yield from self.chain.logs_in_heights(lo, hi)
            return
        start, step = lo, LOG_SCAN_HEIGHTS
        while start <= hi:
            budget.check()
            end = min(hi, start + step - 1)
            found = self.chain.logs_in_heights(start, end)
            yield from _checked(found, budget)
            if len(found) < BUDGET_CHECK_EVERY:
                step *= 2
            start = end + 1

    # --- eth_call and gas estimation ------------------------------------------------------

    def call(self, tx: dict, height: int | None = None, *, budget: CallBudget | None = None,
             gas_cap: int | None = None) -> CallResult:
        """eth_call: `tx` holds JSON-RPC call fields (hex strings or ints): from (default
        the zero address), to (absent = create), gas (default and most: the gas cap, and the
        block gas limit), value, data or input, accessList. No nonce or balance check for
        the caller; gas price 0. `gas_cap`: the node's RPC gas cap (None: `RPC_GAS_CAP`, 0:
        none). With `budget`, raises CallTimeout / CallCancelled when it is spent."""
        gas, capped = self._call_gas(tx, gas_cap)
        result = self._run_call(tx, height, gas, budget)
        out = _call_result(result)
        if capped and result.error == "OutOfGas":
            out = CallResult(False, out.output, out.gas_used,
                             f"{out.error} (gas limited to the node's RPC gas cap of {gas})")
        return out

    def estimate_gas(self, tx: dict, height: int | None = None, *,
                     budget: CallBudget | None = None, gas_cap: int | None = None) -> int:
        """The least gas limit with which `tx` succeeds (binary search above the gas the
        call used with the most gas: refunds and the 63/64 rule can make it need more). Raises
        ExecutionReverted (data = revert bytes) if it reverts even with the most gas. The
        most gas is `tx`'s gas, the gas cap and the block gas limit, whichever is least; every
        step of the search draws on one `budget` (CallTimeout / CallCancelled when spent)."""
        cap, capped = self._call_gas(tx, gas_cap)
        first = self._run_call(tx, height, cap, budget)
        if first.status != 1:
            if first.error == "execution reverted":
                res = _call_result(first)
                raise ExecutionReverted(res.error, data=first.output)
            why = " (the node's RPC gas cap)" if capped else ""
            raise GasLimitError(f"gas required exceeds allowance ({cap}){why}: {first.error}")
        used = first.gas_used
        if used <= cap and self._run_call(tx, height, used, budget).status == 1:
            return used
        lo, hi = used, min(cap, used * 64 // 63 + 2_300)
        if hi <= lo or self._run_call(tx, height, hi, budget).status != 1:
            lo, hi = max(lo, hi), cap
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if self._run_call(tx, height, mid, budget).status == 1:
                hi = mid
            else:
                lo = mid
        return hi

    def _call_gas(self, tx: dict, gas_cap: int | None) -> tuple[int, bool]:
        """The gas a call runs with: its own (default: the most), at most the block gas
        limit and the gas cap; and whether the gas cap is what limits it."""
        cap = RPC_GAS_CAP if gas_cap is None else gas_cap
        most = self.block_gas_limit
        by_cap = 0 < cap < most
        if by_cap:
            most = cap
        asked = tx.get("gas")
        gas = most if asked is None else min(_int(asked), most)
        return gas, by_cap and gas == most and (asked is None or _int(asked) > most)

    def _run_call(self, tx: dict, height: int | None, gas: int,
                  budget: CallBudget | None = None) -> ExecResult:
        h = self._height(height)
        block = self.chain.block(h)
        root = self.store.root_at(h)
        if block is None or root is None:
            raise ConsortiumError(f"no state at height {h}")
        app = self._app()
        env = BlockEnv(
            number=block.number, timestamp=block.timestamp, coinbase=block.miner,
            prevrandao=block.prevrandao, gas_limit=app.block_gas_limit,
            chain_id=app.eth_chain_id,
            prev_hashes=tuple(self.chain.recent_hashes(h - 1, 256)) if h > 0 else (),
        )
        trie_db = self.store.trie_db(h)
        data = tx.get("data", tx.get("input")) or "0x"
        to = tx.get("to")
        access = tuple(
            (_address(e["address"]), tuple(_int(k) for k in e.get("storageKeys", ())))
            for e in tx.get("accessList") or ()
        )
        with self.store.read() as txn, trie_db.reading(txn):
            world = self._world(trie_db, root, env)
            return world.call(
                sender=_address(tx.get("from") or "0x" + "00" * 20),
                to=_address(to) if to else None,
                value=_int(tx.get("value", 0)),
                data=_bytes(data),
                gas=gas,
                access_list=access,
                budget=budget,
            )

    # --- helpers ---------------------------------------------------------------------------

    def _app(self) -> AppState:
        if self._app_state is None:
            raise ConsortiumError("the ledger has no genesis yet")
        return self._app_state

    def _height(self, height: int | None) -> int:
        last = self._last_height()
        if height is None:
            return last
        if height > last or height < self._genesis_height:
            raise ConsortiumError(f"no block at height {height} (latest is {last})")
        self._check_history(height)
        return height

    def _check_history(self, height: int) -> None:
        """Refuse a height before the snapshot this node was restored from (state sync)."""
        first = restored_height(self.store)
        if height < first:
            raise HistoryNotHere(f"state before height {first} is not on this node (it "
                                 f"started from a state-sync snapshot of height {first})")

    def _state_at(self, height: int | None) -> WorldStateAPI:
        h = self._height(height)
        root = self.store.root_at(h)
        if root is None:
            raise ConsortiumError(f"no state at height {h}")
        app = self._app()
        env = BlockEnv(h, 0, b"\x00" * 20, b"\x00" * 32, app.block_gas_limit,
                       app.eth_chain_id)
        return self._world(self.store.trie_db(h), root, env)


class _RootsCache:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: OrderedDict[bytes, tuple[bytes, bytes]] = OrderedDict()


def _call_result(result: ExecResult) -> CallResult:
    if result.status == 1:
        return CallResult(True, result.output, result.gas_used)
    error = result.error
    if error == "execution reverted":
        reason = revert_reason(result.output)
        if reason is not None:
            error = f"execution reverted: {reason}"
    return CallResult(False, result.output, result.gas_used, error)


def _topics_match(log: LogRecord, topics: Sequence[list[bytes] | None]) -> bool:
    for i, wanted in enumerate(topics):
        if wanted is None:
            continue
        if i >= len(log.topics) or log.topics[i] not in wanted:
            return False
    return True


def _checked(items: Iterable[T], budget: CallBudget | None) -> Iterator[T]:
    """`items`, the budget checked every `BUDGET_CHECK_EVERY` of them."""
    if budget is None:
        yield from items
        return
    for i, item in enumerate(items):
        if i % BUDGET_CHECK_EVERY == 0:
            budget.check()
        yield item


def _union(streams: Iterable[Iterable[bytes]]) -> list[bytes]:
    seen: set[bytes] = set()
    for stream in streams:
        seen.update(stream)
    return sorted(seen)


def _bytes(value: Any) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    text = str(value)
    if text.startswith(("0x", "0X")):
        text = text[2:]
    try:
        return bytes.fromhex(text)
    except ValueError:
        raise ConsortiumError(f"invalid hex data {value!r}") from None


def _address(value: Any) -> bytes:
    raw = _bytes(value)
    if len(raw) != 20:
        raise ConsortiumError(f"invalid address {value!r}")
    return raw


def _hash(value: Any) -> bytes:
    raw = _bytes(value)
    if len(raw) != 32:
        raise ConsortiumError(f"invalid 32-byte hash {value!r}")
    return raw


def _int(value: Any) -> int:
    if isinstance(value, int):
        return value
    if isinstance(value, (bytes, bytearray)):
        return int.from_bytes(value, "big")
    text = str(value)
    try:
        return int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise ConsortiumError(f"invalid quantity {value!r}") from None


def _hx(b: bytes) -> str:
    return "0x" + bytes(b).hex()
