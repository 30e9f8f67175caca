"""The Ethereum JSON-RPC method table and its dispatcher. `JsonRpc.handle(body)` answers a
request or a whole batch in one go: its ledger reads together in one worker thread (py-evm
and LMDB block), its eth_sendRawTransaction calls in one POST to the engine, the rest on the
event loop. Unexpected failures are logged and answered as -32603 without a traceback."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak

from consortium import __version__
from consortium.api import encoding as enc
from consortium.api.encoding import BlockRef, Params
from consortium.api.engine_client import EngineClient
from consortium.api.eth_json import EthReads, hx, log_json
from consortium.api.explorer_rpc import EXPLORER_METHODS, ExplorerMethods
from consortium.api.filters import BLOCKS, LOGS, PENDING, FilterRegistry, LogCriteria
from consortium.api.local_txs import LocalTransactions
from consortium.api.private_rpc import PRIVATE_HEAVY_METHODS, PRIVATE_METHODS, PrivateMethods
from consortium.api.read_gate import ReadGate, current_budget
from consortium.api.rpc_error import (
    INTERNAL_ERROR,
    InvalidParams,
    InvalidRequest,
    LimitExceeded,
    MethodNotFound,
    RpcError,
    call_answer,
    rpc_error_for,
)
from consortium.api.service_surface import RunSync, rpc_mixin
from consortium.api.subscriptions import Connection, SubscriptionHub
from consortium.apps.services import SURFACES
from consortium.errors import ConsortiumError
from consortium.ledger.types import LedgerReader

log = logging.getLogger("consortium.api.jsonrpc")

CLIENT_VERSION = f"consortium/v{__version__}/python"
MAX_BATCH = 1000
MAX_LOG_BLOCK_RANGE = 100_000
MAX_LOG_RESULTS = 10_000
MAX_FEE_HISTORY = 1024

# How a method runs: on the event loop (no I/O), in the ledger worker thread, against the
# engine (async), only over WebSocket, or batched to the engine (eth_sendRawTransaction).
INLINE, LEDGER, ENGINE, SOCKET, SEND = "inline", "ledger", "engine", "socket", "send"

_TABLE: dict[str, tuple[str, str]] = {}  # rpc name -> (attribute, kind)
_TABLE.update({name: (attr, LEDGER) for name, attr in EXPLORER_METHODS.items()})
ServiceReads, SERVICE_METHODS = rpc_mixin(SURFACES)  # governance's and the services' reads
_TABLE.update({name: (attr, LEDGER) for name, attr in SERVICE_METHODS.items()})
_TABLE.update(PRIVATE_METHODS)  # privacy groups' priv_* (api/private_rpc.py)

_KEYLESS = ": this node holds no keys: sign locally"
NOT_OFFERED = {  # method -> why, after "method M is not supported"
    "eth_sendTransaction": _KEYLESS + " and use eth_sendRawTransaction", "eth_sign": _KEYLESS,
    "eth_signTransaction": _KEYLESS, "eth_signTypedData_v4": _KEYLESS,
    "eth_getWork": "", "eth_submitWork": "",
}


@dataclass(frozen=True)
class Opt:
    """An optional positional parameter: its parser and the value when absent or null."""

    parse: Callable[[Any, str], Any]
    default: Any = None


def rpc(name: str, kind: str, *params: Callable[[Any, str], Any] | Opt,
        raw: bool = False) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a handler of `JsonRpc` under its JSON-RPC method name. It is given the
    values of `params` (one parser per position, at most that many given), or with `raw`
    the `Params` themselves."""

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        _TABLE[name] = (fn.__name__, kind)
        if raw:
            return fn

        @functools.wraps(fn)
        def handler(self: Any, p: Params) -> Any:
            p.at_most(len(params))
            return fn(self, *(p.optional(i, x.parse, x.default) if isinstance(x, Opt)
                              else p.required(i, x) for i, x in enumerate(params)))

        return handler

    return register


def _constants(answers: dict[str, Any],
               params: dict[str, tuple[Callable[[Any, str], Any], ...]]) -> type:
    """A class answering each of `answers`' methods with its value, once its `params` (each
    required; none if not named) parse."""
    attrs: dict[str, Any] = {}
    for name, value in answers.items():
        def answer(self: Any, *_: Any, value: Any = value) -> Any:
            return value

        answer.__name__ = "constant_" + name
        attrs[answer.__name__] = rpc(name, INLINE, *params.get(name, ()))(answer)
    return type("Constants", (), attrs)


_block_no_hash = functools.partial(enc.block_ref, allow_hash=False)
_block_hash = functools.partial(enc.hash32, what="block hash")


# what never changes on this chain: no keys held here, no fees, no mining, no uncles
Constants = _constants({
    "web3_clientVersion": CLIENT_VERSION, "net_listening": True, "eth_accounts": [],
    "eth_gasPrice": "0x0", "eth_maxPriorityFeePerGas": "0x0", "eth_blobBaseFee": "0x0",
    "eth_mining": False, "eth_hashrate": "0x0", "eth_getUncleCountByBlockNumber": "0x0",
    "eth_getUncleCountByBlockHash": "0x0", "eth_getUncleByBlockNumberAndIndex": None,
    "eth_getUncleByBlockHashAndIndex": None,
}, {
    "eth_getUncleCountByBlockNumber": (_block_no_hash,),
    "eth_getUncleCountByBlockHash": (_block_hash,),
    "eth_getUncleByBlockNumberAndIndex": (_block_no_hash, enc.quantity),
    "eth_getUncleByBlockHashAndIndex": (_block_hash, enc.quantity)})


def method_names() -> list[str]:
    return sorted(_TABLE)


# Reads that may cost seconds of CPU (EVM execution, scans of the log index or of a
# service's records): admitted through the node's `ReadGate`.
HEAVY_METHODS = frozenset({"eth_call", "eth_estimateGas", "eth_getLogs", "eth_getFilterLogs",
                           "eth_getFilterChanges"}) | PRIVATE_HEAVY_METHODS
LIGHT_CONSORTIUM_METHODS = frozenset({"consortium_getTransactionStatus"})


def _heavy_method(method: str) -> bool:
    # the services' reads (consortium_*) scan their records and histories
    return method in HEAVY_METHODS or (method.startswith("consortium_")
                                       and method not in LIGHT_CONSORTIUM_METHODS)


def _is_heavy(item: Any) -> bool:
    method = item.get("method") if isinstance(item, dict) else None
    return isinstance(method, str) and _heavy_method(method)


# --- parameter parsers specific to methods ------------------------------------------------------


@dataclass(frozen=True)
class _LogFilterSpec:
    criteria: LogCriteria
    from_block: BlockRef
    to_block: BlockRef
    block_hash: str | None
    given_range: bool


def _log_filter(value: Any, where: str) -> _LogFilterSpec:
    if not isinstance(value, dict):
        raise InvalidParams(f"{where}: filter must be an object")
    known = {"fromBlock", "toBlock", "address", "topics", "blockHash"}
    unknown = set(value) - known
    if unknown:
        raise InvalidParams(f"{where}: unknown filter field {sorted(unknown)[0]}")
    block_hash = None
    if value.get("blockHash") is not None:
        if value.get("fromBlock") is not None or value.get("toBlock") is not None:
            raise InvalidParams(f"{where}: blockHash excludes fromBlock and toBlock")
        block_hash = enc.hash32(value["blockHash"], f"{where}.blockHash", what="block hash")
    addresses = ([] if value.get("address") is None
                 else enc.list_of(enc.address)(value["address"], f"{where}.address"))
    topics = enc.topics(value.get("topics"), f"{where}.topics")
    return _LogFilterSpec(
        LogCriteria.of(addresses, topics),
        enc.block_ref(value.get("fromBlock"), f"{where}.fromBlock", allow_hash=False),
        enc.block_ref(value.get("toBlock"), f"{where}.toBlock", allow_hash=False),
        block_hash, value.get("fromBlock") is not None or value.get("toBlock") is not None)


_tx_hash = functools.partial(enc.hash32, what="transaction hash")


def _filter_id(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise InvalidParams(f"{where}: expected a 0x id")
    return value.lower()


def _string(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidParams(f"{where}: expected a string")
    return value


def _storage_slot(value: Any, where: str) -> int:
    if isinstance(value, str) and len(value) == 66:
        return int.from_bytes(enc.data(value, where, size=32, what="storage slot"), "big")
    return enc.quantity(value, where)


def _percentiles(value: Any, where: str) -> list[float]:
    if not isinstance(value, list):
        raise InvalidParams(f"{where}: reward percentiles must be an array of numbers")
    if len(value) > 100:
        raise InvalidParams(f"{where}: at most 100 reward percentiles")
    last = -1.0
    for i, v in enumerate(value):
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 100:
            raise InvalidParams(f"{where}[{i}]: percentile must be a number from 0 to 100")
        if v < last:
            raise InvalidParams(f"{where}: percentiles must be increasing")
        last = float(v)
    return [float(v) for v in value]


def _tx_at(block: dict[str, Any] | None, index: int) -> dict[str, Any] | None:
    txs = [] if block is None else block["transactions"]
    return txs[index] if index < len(txs) else None


def _tx_count(block: dict[str, Any] | None) -> str | None:
    return None if block is None else hex(len(block["transactions"]))


def _number(ref: BlockRef, latest: int) -> int:
    """The height a block number or tag names (`latest` for every tag but earliest)."""
    if ref.number is not None:
        return ref.number
    return 0 if ref.tag == "earliest" else latest


_AT_BLOCK = Opt(enc.block_ref, enc.LATEST)  # a state read's block: default latest


def _invalid(item: Any) -> tuple[Any, str] | None:
    """Why a request is not JSON-RPC 2.0: (the id to answer with, the reason), or None."""
    if not isinstance(item, dict):
        return None, "expected a JSON-RPC 2.0 object"
    req_id = item.get("id")
    if req_id is not None and (isinstance(req_id, bool)
                               or not isinstance(req_id, str | int | float)):
        return None, "id must be a string, a number or null"
    if item.get("jsonrpc", "2.0") != "2.0":
        return req_id, '"jsonrpc" must be "2.0"'
    if not isinstance(item.get("method"), str):
        return req_id, "method must be a string"
    return None


@dataclass
class _Call:
    index: int
    id: Any
    method: str
    params: Any
    notification: bool
    kind: str
    fn: Callable[..., Any]


def _result(req_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "result": result}


def error_response(req_id: Any, err: RpcError) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": req_id, "error": err.to_json()}


def batch_too_large(size: int, limit: int) -> InvalidRequest:
    """The answer to a batch of more than `limit` (`[api] max_batch`) requests."""
    return InvalidRequest(f"batch of {size} requests is over the limit of {limit}; split it")


class JsonRpc(ExplorerMethods, Constants,  # type: ignore[valid-type,misc]
              ServiceReads,  # type: ignore[valid-type,misc]  # made from the declarations
              PrivateMethods):
    """One node's JSON-RPC: the ledger it reads, the engine it submits to, its filters."""

    def __init__(self, ledger: LedgerReader, engine: EngineClient, run_sync: RunSync[Any], *,
                 hub: SubscriptionHub | None = None, filters: FilterRegistry | None = None,
                 node_name: str = "node", gate: ReadGate | None = None,
                 local_txs: LocalTransactions | None = None) -> None:
        self.ledger = ledger
        self.eth = EthReads(ledger)  # blocks, transactions, receipts in Ethereum JSON
        self.engine = engine
        self.run_sync = run_sync
        # what this node accepted and has not committed: journal, held nonces, drop reasons
        self.local_txs = local_txs or LocalTransactions(ledger, engine, run_sync)
        # heavy reads (HEAVY_METHODS): admitted, timed and run on threads of their own
        self.gate = gate if gate is not None else ReadGate()
        self.hub = hub
        self.filters = filters or FilterRegistry()
        self.node_name = node_name
        self.max_batch = MAX_BATCH  # `[api] max_batch`
        # told (calls, their answers or None if refused whole, seconds) of every request:
        # the node's metrics (`consortium.api.metrics`)
        self.on_calls: Callable[[list[Any], list[Any] | None, float], None] | None = None

    # --- dispatch -----------------------------------------------------------------------------

    async def handle(self, body: Any, conn: Connection | None = None) -> Any:
        """The answer to a parsed JSON body: a response object, a list of them for a
        batch, or None when there is nothing to answer (notifications only)."""
        if isinstance(body, list):
            if not body:
                return error_response(None, InvalidRequest("invalid request: empty batch"))
            if len(body) > self.max_batch:
                return error_response(None, batch_too_large(len(body), self.max_batch))
            answers = await self._run(body, conn)
            out = [a for a in answers if a is not None]
            return out or None
        return (await self._run([body], conn))[0]

    async def _run(self, items: list[Any], conn: Connection | None) -> list[Any]:
        started = time.perf_counter()
        answers: list[Any] | None = None
        release = None
        try:
            # A request with an expensive read is admitted whole or refused whole (429)
            # before any of it runs, so a refused batch has done nothing.
            release = self.gate.acquire() if any(map(_is_heavy, items)) else None
            answers = await self._dispatch(items, conn, release)
            return answers
        finally:
            if release is not None:
                release()  # a no-op if its reads' thread already released it
            if self.on_calls is not None:
                self.on_calls(items, answers, time.perf_counter() - started)

    async def _dispatch(self, items: list[Any], conn: Connection | None,
                        release: Callable[[], None] | None) -> list[Any]:
        answers: list[Any] = [None] * len(items)
        ledger_calls: list[_Call] = []
        sends: list[tuple[_Call, bytes]] = []
        waits: list[Awaitable[None]] = []
        for index, item in enumerate(items):
            call = self._parse(index, item, answers)
            if call is None:
                continue
            if call.kind == INLINE:
                self._finish(call, answers)
            elif call.kind == SOCKET:
                if conn is None:
                    self._fail(call, answers, MethodNotFound(
                        f"{call.method} is only available over WebSocket (ws:// on this port)"))
                else:
                    self._finish(call, answers, conn)
            elif call.kind == LEDGER:
                ledger_calls.append(call)
            elif call.kind == SEND:
                try:
                    raw = self.parse_raw_transaction(Params(call.params, call.method))
                except RpcError as err:
                    self._fail(call, answers, err)
                    continue
                sends.append((call, raw))
            else:
                waits.append(self._run_async(call, answers))
        if ledger_calls:
            waits.append(self._run_ledger(ledger_calls, answers, release))
        if sends:
            waits.append(self._send_raw(sends, answers))
        if len(waits) == 1:
            await waits[0]
        elif waits:
            await asyncio.gather(*waits)
        return answers

    def _parse(self, index: int, item: Any, answers: list[Any]) -> _Call | None:
        invalid = _invalid(item)
        if invalid is not None:
            answers[index] = error_response(invalid[0], InvalidRequest(
                f"invalid request: {invalid[1]}"))
            return None
        notification, req_id, method = "id" not in item, item.get("id"), item["method"]
        entry = _TABLE.get(method)
        if entry is None:
            if not notification:
                why = NOT_OFFERED.get(method)
                answers[index] = error_response(req_id, MethodNotFound(
                    f"the method {method} does not exist/is not available" if why is None
                    else f"method {method} is not supported{why}"))
            return None
        attr, kind = entry
        return _Call(index, req_id, method, item.get("params"), notification, kind,
                     getattr(self, attr))

    def _finish(self, call: _Call, answers: list[Any], *extra: Any) -> None:
        """Run a synchronous handler and store its answer (or error) at its place."""
        try:
            result = call.fn(Params(call.params, call.method), *extra)
        except Exception as exc:  # every failure becomes an error object
            self._fail(call, answers, self._to_rpc_error(call, exc))
            return
        if not call.notification:
            answers[call.index] = _result(call.id, result)

    @staticmethod
    def _fail(call: _Call, answers: list[Any], err: RpcError) -> None:
        if not call.notification:
            answers[call.index] = error_response(call.id, err)

    @staticmethod
    def _to_rpc_error(call: _Call, exc: BaseException) -> RpcError:
        if isinstance(exc, RpcError):
            return exc
        if isinstance(exc, ConsortiumError):
            return rpc_error_for(exc)
        log.error("%s failed", call.method, exc_info=exc)
        return RpcError(f"internal error in {call.method}", code=INTERNAL_ERROR)

    async def _run_ledger(self, calls: list[_Call], answers: list[Any],
                          release: Callable[[], None] | None = None) -> None:
        def work() -> None:
            budget = current_budget.get()  # the request's, when it was admitted as heavy
            for call in calls:
                if budget is not None and budget.expired and _heavy_method(call.method):
                    # the request's time is spent (or its client left): the expensive
                    # calls still to run answer as the one it stopped, without running
                    error = budget.error(cancelled=budget.cancelled)
                    self._fail(call, answers, rpc_error_for(error))
                else:
                    self._finish(call, answers)

        if release is None:
            await self.run_sync(work)
        else:  # the request was admitted as heavy: its one budget bounds all its reads
            await self.gate.run(work, release)

    async def _run_async(self, call: _Call, answers: list[Any]) -> None:
        try:
            result = await call.fn(Params(call.params, call.method))
        except Exception as exc:
            self._fail(call, answers, self._to_rpc_error(call, exc))
            return
        if not call.notification:
            answers[call.index] = _result(call.id, result)

    # --- web3, net ------------------------------------------------------------------------------

    @functools.cached_property
    def chain_id(self) -> int:
        return int(self.ledger.eth_chain_id)

    @rpc("web3_sha3", INLINE, enc.data)
    def web3_sha3(self, data: bytes) -> str:
        return hx(keccak(data))

    @rpc("net_version", INLINE)
    def net_version(self) -> str:
        return str(self.chain_id)

    @rpc("net_peerCount", ENGINE)
    async def net_peer_count(self) -> str:
        info = await self.engine.cached("net_info")
        return hex(int(info.get("n_peers", 0)))

    # --- chain ------------------------------------------------------------------------------

    @rpc("eth_chainId", INLINE)
    def eth_chain_id(self) -> str:
        return hex(self.chain_id)

    @rpc("eth_blockNumber", INLINE)
    def eth_block_number(self) -> str:
        return hex(self.ledger.latest_height())

    @rpc("eth_syncing", ENGINE)
    async def eth_syncing(self) -> Any:
        status = await self.engine.cached("status")
        sync = (status or {}).get("sync_info", {})
        if not sync.get("catching_up"):
            return False
        current = self.ledger.latest_height()
        highest = max(current, int(sync.get("latest_block_height", 0) or 0))
        return {"startingBlock": hex(int(sync.get("earliest_block_height", 0) or 0)),
                "currentBlock": hex(current), "highestBlock": hex(highest)}

    @rpc("eth_feeHistory", LEDGER, raw=True)
    def eth_fee_history(self, p: Params) -> dict[str, Any]:
        p.at_most(3)
        count = p.required(0, enc.quantity)
        newest = self._block_number(p.required(1, enc.block_ref), "params[1]")
        percentiles = p.optional(2, _percentiles, None)
        count = min(count, MAX_FEE_HISTORY, newest + 1)
        oldest = newest - count + 1
        history: dict[str, Any] = {
            "oldestBlock": hex(oldest if count else newest),
            "baseFeePerGas": ["0x0"] * (count + 1), "gasUsedRatio": [0.0] * count,
            "baseFeePerBlobGas": ["0x0"] * (count + 1), "blobGasUsedRatio": [0.0] * count}
        if percentiles is not None:
            history["reward"] = [["0x0"] * len(percentiles) for _ in range(count)]
        return history

    # --- state --------------------------------------------------------------------------------

    @rpc("eth_getBalance", LEDGER, enc.address, _AT_BLOCK)
    def eth_get_balance(self, addr: str, ref: BlockRef) -> str:
        return hex(self.ledger.get_balance(addr, self._state_height(ref, "params[1]")))

    @rpc("eth_getTransactionCount", LEDGER, enc.address, _AT_BLOCK)
    def eth_get_transaction_count(self, addr: str, ref: BlockRef) -> str:
        if ref.tag == "pending":  # counting held transactions that follow without a gap
            return hex(self.local_txs.next_nonce(addr))
        return hex(self.ledger.get_nonce(addr, self._state_height(ref, "params[1]")))

    @rpc("eth_getCode", LEDGER, enc.address, _AT_BLOCK)
    def eth_get_code(self, addr: str, ref: BlockRef) -> str:
        return hx(self.ledger.get_code(addr, self._state_height(ref, "params[1]")))

    @rpc("eth_getStorageAt", LEDGER, enc.address, _storage_slot, _AT_BLOCK)
    def eth_get_storage_at(self, addr: str, slot: int, ref: BlockRef) -> str:
        value = self.ledger.get_storage_at(addr, slot, self._state_height(ref, "params[2]"))
        return hx(bytes(value).rjust(32, b"\x00"))

    @rpc("eth_call", LEDGER, raw=True)
    def eth_call(self, p: Params) -> str:
        tx, height = self._call_params(p)
        return call_answer(self.ledger.call(tx, height, budget=current_budget.get(),
                                            gas_cap=self.gate.limits.rpc_gas_cap))

    @rpc("eth_estimateGas", LEDGER, raw=True)
    def eth_estimate_gas(self, p: Params) -> str:
        tx, height = self._call_params(p)
        return hex(self.ledger.estimate_gas(tx, height, budget=current_budget.get(),
                                                     gas_cap=self.gate.limits.rpc_gas_cap))

    # --- blocks -----------------------------------------------------------------------------

    @rpc("eth_getBlockByNumber", LEDGER, _block_no_hash, Opt(enc.boolean, False))
    def eth_get_block_by_number(self, ref: BlockRef, full: bool) -> dict[str, Any] | None:
        return self._block_at(ref, full)

    @rpc("eth_getBlockByHash", LEDGER, _block_hash, Opt(enc.boolean, False))
    def eth_get_block_by_hash(self, block_hash: str, full: bool) -> dict[str, Any] | None:
        return self.eth.get_block_by_hash(block_hash, full)

    @rpc("eth_getBlockTransactionCountByNumber", LEDGER, _block_no_hash)
    def eth_get_block_tx_count_by_number(self, ref: BlockRef) -> str | None:
        return _tx_count(self._block_at(ref, False))

    @rpc("eth_getBlockTransactionCountByHash", LEDGER, _block_hash)
    def eth_get_block_tx_count_by_hash(self, block_hash: str) -> str | None:
        return _tx_count(self.eth.get_block_by_hash(block_hash, False))

    @rpc("eth_getTransactionByBlockNumberAndIndex", LEDGER, _block_no_hash, enc.quantity)
    def eth_get_tx_by_block_number_and_index(self, ref: BlockRef,
                                             index: int) -> dict[str, Any] | None:
        return _tx_at(self._block_at(ref, True), index)

    @rpc("eth_getTransactionByBlockHashAndIndex", LEDGER, _block_hash, enc.quantity)
    def eth_get_tx_by_block_hash_and_index(self, block_hash: str,
                                           index: int) -> dict[str, Any] | None:
        return _tx_at(self.eth.get_block_by_hash(block_hash, True), index)

    @rpc("eth_getBlockReceipts", LEDGER, enc.block_ref)
    def eth_get_block_receipts(self, ref: BlockRef) -> list[dict[str, Any]] | None:
        block = (self.eth.get_block_by_hash(ref.hash, False) if ref.hash
                 else self._block_at(ref, False, pending_view=False))
        if block is None:
            return None
        receipts = map(self.eth.get_receipt, block["transactions"])  # hashes: not full
        return [receipt for receipt in receipts if receipt is not None]

    # --- transactions -------------------------------------------------------------------------

    @rpc("eth_getTransactionByHash", LEDGER, _tx_hash)
    def eth_get_transaction_by_hash(self, tx_hash: str) -> dict[str, Any] | None:
        """A committed transaction, or one this node accepted and has not committed yet
        (journalled or held: answered as pending, blockNumber null)."""
        return (self.eth.get_transaction(tx_hash)
                or self.local_txs.pending_transaction(bytes.fromhex(tx_hash[2:])))

    @rpc("eth_getTransactionReceipt", LEDGER, _tx_hash)
    def eth_get_transaction_receipt(self, tx_hash: str) -> dict[str, Any] | None:
        """The receipt; null while pending; an error naming the reason for a transaction a
        block refused or this node dropped, so a client waiting on a receipt learns why."""
        receipt = self.eth.get_receipt(tx_hash)
        if receipt is None:
            why = self.local_txs.refusal(bytes.fromhex(tx_hash[2:]))
            if why is not None:
                raise RpcError(why, code=-32000)
        return receipt

    @rpc("consortium_getTransactionStatus", LEDGER, _tx_hash)
    def consortium_get_transaction_status(self, tx_hash: str) -> dict[str, Any]:
        """{"status": committed|pending|queued|rejected|unknown, "blockNumber", "reason"}."""
        return self.local_txs.status(bytes.fromhex(tx_hash[2:]))

    @rpc("eth_sendRawTransaction", SEND, raw=True)
    def parse_raw_transaction(self, p: Params) -> bytes:
        """Validated here; submitted by `_send_raw` with the rest of the batch."""
        p.at_most(1)
        raw = p.required(0, lambda v, w: enc.data(v, w, what="raw transaction"))
        if not raw:
            raise InvalidParams("params[0]: raw transaction is empty")
        return raw

    async def _send_raw(self, sends: list[tuple[_Call, bytes]], answers: list[Any]) -> None:
        """The batch's transactions go through `LocalTransactions.submit`: journalled (or
        held for an earlier nonce) before their hashes are answered."""
        try:
            outcomes = await self.local_txs.submit([raw for _, raw in sends])
        except Exception as exc:
            log.error("broadcast failed", exc_info=exc)
            for call, _ in sends:
                self._fail(call, answers, RpcError("internal error submitting the transaction",
                                                   code=INTERNAL_ERROR))
            return
        for (call, _), outcome in zip(sends, outcomes, strict=True):
            if isinstance(outcome, bytes):  # its hash
                if not call.notification:
                    answers[call.index] = _result(call.id, hx(outcome))
            else:
                self._fail(call, answers, rpc_error_for(outcome))

    # --- logs and filters -----------------------------------------------------------------

    @rpc("eth_getLogs", LEDGER, _log_filter)
    def eth_get_logs(self, spec: _LogFilterSpec) -> list[dict[str, Any]]:
        if spec.block_hash is not None:
            block = self.eth.get_block_by_hash(spec.block_hash, False)
            if block is None:
                raise RpcError(f"block {spec.block_hash} not found", code=-32000)
            start = end = enc.quantity(block["number"], "block.number")
        else:
            latest = self.ledger.latest_height()
            start, end = _number(spec.from_block, latest), _number(spec.to_block, latest)
            if start > end:
                if start > latest:
                    return []
                raise InvalidParams("params[0]: fromBlock is after toBlock")
            end = min(end, latest)
        return self._logs(spec.criteria, start, end)

    _log_filter_param = staticmethod(_log_filter)  # for priv_getLogs (api/private_rpc.py)

    def _logs(self, criteria: LogCriteria, start: int, end: int,
              ledger: LedgerReader | None = None) -> list[dict[str, Any]]:
        if end < start:
            return []
        span = end - start + 1
        if span > MAX_LOG_BLOCK_RANGE:
            raise LimitExceeded(f"block range of {span} blocks is over the limit of "
                                f"{MAX_LOG_BLOCK_RANGE}; query a smaller range")
        entries = (ledger or self.ledger).get_logs(criteria.tx_filter(start, end),
                                                   budget=current_budget.get())
        if len(entries) > MAX_LOG_RESULTS:
            raise LimitExceeded(f"query returned more than {MAX_LOG_RESULTS} logs; narrow the "
                                "block range or the address/topics filter")
        return [log_json(e) for e in entries]

    @rpc("eth_newFilter", LEDGER, _log_filter)
    def eth_new_filter(self, spec: _LogFilterSpec) -> str:
        if spec.block_hash is not None:
            raise InvalidParams("params[0]: blockHash is not supported in filters; use "
                                "eth_getLogs")
        return self.filters.install(LOGS, self.ledger.latest_height(), criteria=spec.criteria,
                                    from_block=spec.from_block, to_block=spec.to_block)

    @rpc("eth_newBlockFilter", LEDGER)
    def eth_new_block_filter(self) -> str:
        return self.filters.install(BLOCKS, self.ledger.latest_height())

    @rpc("eth_newPendingTransactionFilter", LEDGER, raw=True)
    def eth_new_pending_tx_filter(self, p: Params) -> str:
        p.at_most(1)  # geth takes an optional "full transactions" flag: ignored here
        return self.filters.install(PENDING, self.ledger.latest_height())

    @rpc("eth_uninstallFilter", INLINE, _filter_id)
    def eth_uninstall_filter(self, filter_id: str) -> bool:
        return self.filters.uninstall(filter_id)

    @rpc("eth_getFilterChanges", LEDGER, _filter_id)
    def eth_get_filter_changes(self, filter_id: str) -> list[Any]:
        flt = self.filters.get(filter_id)
        if flt.kind == PENDING:
            return []
        latest = self.ledger.latest_height()
        start, end = flt.last_height + 1, latest
        if flt.kind == BLOCKS:
            start = max(start, end - MAX_LOG_RESULTS + 1)
            blocks = (self.eth.get_block(height, False) for height in range(start, end + 1))
            hashes = [block["hash"] for block in blocks if block is not None]
            self.filters.advance(filter_id, end)
            return hashes
        if flt.from_block is not None and flt.from_block.number is not None:
            start = max(start, flt.from_block.number)
        if flt.to_block is not None and flt.to_block.number is not None:
            end = min(end, flt.to_block.number)
        logs = self._logs(flt.criteria, start, end)
        self.filters.advance(filter_id, latest)
        return logs

    @rpc("eth_getFilterLogs", LEDGER, _filter_id)
    def eth_get_filter_logs(self, filter_id: str) -> list[Any]:
        flt = self.filters.get(filter_id)
        if flt.kind != LOGS:
            raise InvalidParams("params[0]: not a log filter (eth_getFilterLogs needs one "
                                "made by eth_newFilter)")
        latest = self.ledger.latest_height()
        start = _number(flt.from_block or enc.LATEST, latest)
        end = min(_number(flt.to_block or enc.LATEST, latest), latest)
        return self._logs(flt.criteria, start, end)

    # --- subscriptions (WebSocket) ------------------------------------------------------------

    @rpc("eth_subscribe", SOCKET, raw=True)
    def eth_subscribe(self, p: Params, conn: Connection) -> str:
        p.at_most(2)
        if self.hub is None:
            raise MethodNotFound("subscriptions are not enabled on this node")
        kind = p.required(0, _string)
        criteria = LogCriteria()
        if len(p) > 1 and p[1] is not None:
            if kind != "logs":
                raise InvalidParams(f"params[1]: {kind} takes no options")
            spec = p.required(1, _log_filter)
            if spec.block_hash or spec.given_range:
                raise InvalidParams("params[1]: logs subscriptions take address and topics "
                                    "only")
            criteria = spec.criteria
        return self.hub.subscribe(conn, kind, criteria)

    @rpc("eth_unsubscribe", SOCKET, raw=True)
    def eth_unsubscribe(self, p: Params, conn: Connection) -> bool:
        p.at_most(1)
        if self.hub is None:
            return False
        return self.hub.unsubscribe(conn, p.required(0, _filter_id))

    # --- block resolution ---------------------------------------------------------------------

    def _block_number(self, ref: BlockRef, where: str) -> int:
        """The height a block parameter names (it must exist)."""
        if ref.hash is not None:
            block = self.eth.get_block_by_hash(ref.hash, False)
            if block is None:
                raise RpcError(f"{where}: block {ref.hash} not found", code=-32000)
            return enc.quantity(block["number"], "block.number")
        latest = self.ledger.latest_height()
        if ref.number is not None and ref.number > latest:
            raise RpcError(f"{where}: block {ref.number} not found (latest is {latest})",
                           code=-32000)
        return _number(ref, latest)

    def _call_params(self, p: Params) -> tuple[dict[str, Any], int | None]:
        """eth_call's and eth_estimateGas's call object and state height (no overrides)."""
        p.at_most(3)
        tx = p.required(0, enc.call_object)
        height = self._state_height(p.optional(1, enc.block_ref, enc.LATEST), "params[1]")
        if len(p) > 2 and p[2] not in (None, {}):
            raise InvalidParams("params[2]: state overrides are not supported")
        return tx, height

    def _state_height(self, ref: BlockRef, where: str) -> int | None:
        """The height to read state at: None for the latest (the ledger's fast path)."""
        if ref.tag is not None and ref.tag != "earliest":
            return None
        return self._block_number(ref, where)

    def _block_at(self, ref: BlockRef, full: bool,
                  pending_view: bool = True) -> dict[str, Any] | None:
        if ref.hash is not None:
            return self.eth.get_block_by_hash(ref.hash, full)
        block = self.eth.get_block(_number(ref, self.ledger.latest_height()), full)
        if ref.tag == "pending" and pending_view and block is not None:
            return self._pending_block(block, full)
        return block

    def _pending_block(self, latest: dict[str, Any], full: bool) -> dict[str, Any]:
        """The block after `latest` as this node would propose it: the transactions its API
        accepted that wait in the mempool (not those held for a nonce gap), in nonce order
        per sender; hash and nonce null, as geth answers a pending block."""
        txs = self.local_txs.pending_block_transactions(full)
        return {**latest, "number": hex(int(latest["number"], 16) + 1), "hash": None,
                "parentHash": latest["hash"], "nonce": None, "gasUsed": "0x0",
                "transactions": txs}
