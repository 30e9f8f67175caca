"""The API's client of its own CometBFT engine's RPC (`broadcast_tx_async`, `status`,
`net_info`) over pooled aiohttp connections (a POST costs ~0.2 ms of CPU; httpx's took ~1.9).

Transactions leave in JSON-RPC batches, one POST in flight at a time: arrivals during a POST
share the next one (a request per transaction caps the engine at a few hundred tx/s), and
order is kept, which CheckTx's nonce rule needs. In a node the CheckTx answers come back
through `CheckTxWatch` (`broadcast_tx_sync` waits on each in turn: ~500 tx/s); an API outside
the node's process falls back to `broadcast_tx_sync`."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from consortium.api import json_codec
from consortium.api.bursts import LoopBursts
from consortium.errors import (
    ConsortiumError,
    MempoolFull,
    NetworkError,
    TxError,
    TxTooLarge,
    error_for_abci_code,
)

log = logging.getLogger("consortium.api.engine")

MAX_ENGINE_BATCH = 1000  # the node config sets rpc.max_request_batch_size = 1000
ALREADY_KNOWN = "tx already exists in cache"
_JSON_HEADERS = {"Content-Type": "application/json"}


@dataclass(frozen=True)
class Broadcast:
    """The engine's answer to one transaction: accepted (error None) or refused."""

    error: ConsortiumError | None = None
    already_known: bool = False


class _Batch:
    """One `broadcast` call's transactions: their answers as they come, and one future that
    completes with all of them (a future per transaction and a gather over them cost more
    than the rest of the answer's path)."""

    __slots__ = ("answers", "future", "left")

    def __init__(self, count: int, future: asyncio.Future[list[Broadcast]]) -> None:
        self.answers: list[Broadcast | None] = [None] * count
        self.left = count
        self.future = future

    def settle(self, index: int, result: Broadcast) -> None:
        """The answer for the transaction at `index`; the first one given counts."""
        if self.answers[index] is not None:
            return
        self.answers[index] = result
        self.left -= 1
        if not self.left and not self.future.done():
            self.future.set_result(self.answers)  # type: ignore[arg-type]  # all set now

    def settled(self, index: int) -> bool:
        return self.answers[index] is not None


class _Pending:
    """A transaction queued for the engine: its bytes and its place in its `_Batch` (one
    per transaction sent: a plain class, a frozen dataclass's __init__ costs 3x)."""

    __slots__ = ("batch", "index", "raw")

    def __init__(self, raw: bytes, batch: _Batch, index: int) -> None:
        self.raw = raw
        self.batch = batch
        self.index = index

    def settle(self, result: Broadcast) -> None:
        self.batch.settle(self.index, result)

    @property
    def done(self) -> bool:
        return self.batch.settled(self.index) or self.batch.future.done()


class CheckTxWatch:
    """CheckTx answers for this node's own submissions. The ABCI application calls `resolve`
    from its check_tx — in a node, on the consensus thread's own event loop (see
    `consortium.abci.consensus_thread`), not on the API's. The answers are handed to the
    API's loop in one `call_soon_threadsafe` per burst (a wake-up costs a pipe write; a
    batch of 100 answers pays one), and only that loop touches the waiting batches."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._waiting: dict[bytes, list[_Pending]] = {}
        self._loop = loop
        self._told: LoopBursts[tuple[bytes, int, str]] = LoopBursts(self._settle_all)

    def __len__(self) -> int:
        return len(self._waiting)

    def expect(self, item: _Pending) -> None:
        if self._loop is None:
            self._loop = item.batch.future.get_loop()
        waiting = self._waiting.get(item.raw)
        if waiting is None:
            self._waiting[item.raw] = [item]
        else:  # the same bytes submitted again before CheckTx answered the first
            waiting.append(item)

    def forget(self, item: _Pending) -> None:
        waiting = self._waiting.get(item.raw)
        if waiting and item in waiting:
            waiting.remove(item)
            if not waiting:
                del self._waiting[item.raw]

    def resolve(self, raw: bytes, code: int, log_text: str) -> None:
        """Told by CheckTx, from any thread."""
        loop = self._loop
        if loop is None:
            return  # nothing was ever submitted through this node's API
        if _running_loop() is loop:
            self._settle(raw, code, log_text)
            return
        self._told.tell(loop, (raw, code, log_text))

    def _settle_all(self, told: list[tuple[bytes, int, str]]) -> None:
        for raw, code, log_text in told:
            self._settle(raw, code, log_text)

    def _settle(self, raw: bytes, code: int, log_text: str) -> None:
        waiting = self._waiting.pop(raw, None)
        if not waiting:
            return  # a transaction from a peer, or one whose wait already expired
        result = _ACCEPTED if code == 0 else Broadcast(error=error_for_abci_code(code, log_text))
        for item in waiting:
            item.settle(result)


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


class EngineClient:
    """One node's connection to its CometBFT RPC. Safe to share across requests; the HTTP
    client is made per event loop (tests start several)."""

    def __init__(self, url: str, *, timeout: float = 15.0, status_ttl: float = 1.0,
                 max_batch: int = MAX_ENGINE_BATCH, checks: CheckTxWatch | None = None) -> None:
        self.checks = checks
        self.url = url.rstrip("/") + "/"
        self.max_batch = max_batch
        self.timeout = timeout
        self.status_ttl = status_ttl
        self._client: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: list[_Pending] = []
        self._sending = False
        self._cache: dict[str, tuple[float, Any]] = {}
        self._next_id = 0

    # --- transport -------------------------------------------------------------------------

    def _http(self) -> aiohttp.ClientSession:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = aiohttp.ClientSession(
                timeout=aiohttp.ClientTimeout(total=self.timeout),
                connector=aiohttp.TCPConnector(limit=64))
            self._loop = loop
            self._queue = []
            self._sending = False
        return self._client

    async def aclose(self) -> None:
        client, self._client, self._loop = self._client, None, None
        if client is not None:
            await client.close()

    async def _post(self, payload: Any) -> Any:
        client = self._http()
        try:
            async with client.post(self.url, data=json_codec.dumps(payload),
                                   headers=_JSON_HEADERS) as response:
                status, body = response.status, await response.read()
        except TimeoutError:
            raise NetworkError(f"engine RPC {self.url} did not answer within "
                               f"{self.timeout:g} s") from None
        except aiohttp.ClientError as exc:
            raise NetworkError(f"engine RPC {self.url} unreachable: "
                               f"{exc or type(exc).__name__}") from None
        try:
            return json_codec.engine_loads(body)
        except ValueError:
            raise NetworkError(f"engine RPC answered HTTP {status} with a non-JSON body"
                               ) from None

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """One engine RPC call; its `result`, or NetworkError with the engine's message."""
        self._next_id += 1
        answer = await self._post(
            {"jsonrpc": "2.0", "id": self._next_id, "method": method, "params": params or {}})
        if not isinstance(answer, dict):
            raise NetworkError(f"engine RPC {method}: unexpected answer")
        if "error" in answer:
            err = answer["error"] or {}
            raise NetworkError(f"engine RPC {method}: {err.get('data') or err.get('message')}")
        return answer.get("result")

    async def cached(self, method: str) -> Any:
        """`call(method)` answered from a cache at most `status_ttl` seconds old."""
        hit = self._cache.get(method)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.status_ttl:
            return hit[1]
        result = await self.call(method)
        self._cache[method] = (now, result)
        return result

    # --- transactions ------------------------------------------------------------------------

    async def broadcast(self, raws: Sequence[bytes]) -> list[Broadcast]:
        """Submit transactions to CheckTx; one answer per tx, in order. Transactions reach
        the engine in the order submitted: one POST at a time, each carrying everything
        queued meanwhile (up to `max_batch`)."""
        if not raws:
            return []
        self._http()
        batch = _Batch(len(raws), asyncio.get_running_loop().create_future())
        self._queue.extend(_Pending(raw, batch, i) for i, raw in enumerate(raws))
        if not self._sending:
            self._sending = True
            task = asyncio.ensure_future(self._drain())  # starts next turn: same-turn
            task.add_done_callback(_log_unexpected)  # submissions join the first POST
        return list(await batch.future)

    async def _drain(self) -> None:
        try:
            while self._queue:
                chunk = self._queue[:self.max_batch]
                del self._queue[:self.max_batch]
                await self._send(chunk)
        finally:
            self._sending = False
            for item in self._queue:  # only if cancelled: never leave a client waiting
                item.settle(Broadcast(error=NetworkError("the API is shutting down")))

    async def _send(self, chunk: list[_Pending]) -> None:
        first = self._next_id + 1
        self._next_id += len(chunk)
        watch = self.checks
        method = "broadcast_tx_sync" if watch is None else "broadcast_tx_async"
        payload = [{"jsonrpc": "2.0", "id": first + i, "method": method,
                    "params": {"tx": base64.b64encode(item.raw).decode()}}
                   for i, item in enumerate(chunk)]
        if watch is not None:  # before the POST: CheckTx may answer before the POST returns
            for item in chunk:
                watch.expect(item)
        try:
            answer = await self._post(payload)
        except ConsortiumError as exc:
            self._fail(chunk, exc)
            return
        except Exception as exc:  # never leave a client waiting forever
            log.exception("engine broadcast failed")
            self._fail(chunk, NetworkError(f"engine broadcast failed: {exc}"))
            return
        answers = answer if isinstance(answer, list) else [answer]
        by_id = {a.get("id"): a for a in answers if isinstance(a, dict)}
        if len(chunk) > 1 and len(by_id) == 1 and first not in by_id:
            # one error for the whole batch (e.g. over the engine's batch size limit)
            (whole,) = by_id.values()
            err = whole.get("error") or {}
            self._fail(chunk, NetworkError(f"engine refused the batch: "
                                           f"{err.get('data') or err.get('message') or whole}"))
            return
        for i, item in enumerate(chunk):
            out = _outcome(by_id.get(first + i))
            if watch is None:
                item.settle(out)
            elif out.error is not None:  # refused before CheckTx (cache, full, too large)
                watch.forget(item)
                item.settle(out)
        if watch is not None:
            asyncio.get_running_loop().call_later(self.timeout, self._expire, chunk)

    def _fail(self, chunk: list[_Pending], error: ConsortiumError) -> None:
        for item in chunk:
            if self.checks is not None:
                self.checks.forget(item)
            item.settle(Broadcast(error=error))

    def _expire(self, chunk: list[_Pending]) -> None:
        """Accepted by the engine's RPC but no CheckTx answer within the timeout."""
        late = [item for item in chunk if not item.done]
        if late:
            self._fail(late, NetworkError(
                f"the engine accepted the transaction but gave no CheckTx answer within "
                f"{self.timeout:g} s"))


_ACCEPTED = Broadcast()


def _log_unexpected(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("engine broadcast task failed", exc_info=task.exception())


def _outcome(answer: dict[str, Any] | None) -> Broadcast:
    """Map one broadcast_tx_sync answer to accepted / already known / a typed error."""
    if answer is None:
        return Broadcast(error=NetworkError("engine RPC gave no answer for the transaction"))
    if "error" in answer and answer["error"]:
        err = answer["error"]
        text = str(err.get("data") or err.get("message") or "engine refused the transaction")
        return Broadcast(error=engine_refusal(text), already_known=ALREADY_KNOWN in text)
    result = answer.get("result") or {}
    code = int(result.get("code", 0) or 0)
    if code == 0:
        return _ACCEPTED
    return Broadcast(error=error_for_abci_code(code, str(result.get("log") or "")))


def engine_refusal(text: str) -> TxError:
    """The error for a transaction the engine's mempool refused before CheckTx."""
    lowered = text.lower()
    if ALREADY_KNOWN in lowered:
        return TxError("already known")
    if "mempool is full" in lowered:
        return MempoolFull(text)
    if "tx too large" in lowered:
        return TxTooLarge(text)
    return TxError(text)
