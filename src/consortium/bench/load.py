"""The load generator: pre-built batches submitted over HTTP, commits watched block by block.

Transactions are split into *lanes*: every sender belongs to one lane, a lane talks to one
node and sends its batches one after the other, so each sender's transactions reach its node
in nonce order (CheckTx refuses nonce gaps). Lanes run concurrently, spread over the nodes.

Two ways to pace them:
- concurrency (default): every lane sends its next batch as soon as the previous one is
  answered (the node has run CheckTx on it): the most the chain takes, the node's own
  admission being the only back-pressure; a cap on uncommitted transactions keeps the engine's
  mempool from filling;
- rate: batches leave on a fixed schedule (R tx/s over all lanes), whether or not earlier
  ones were answered; a transaction's latency counts from its scheduled time, so a stalled
  node shows as latency rather than as a slower schedule.

Latency is submit-to-visible: one watcher polls the chain head of one node and reads every
new block's transaction list, so a transaction is committed when the block holding it is
readable there. Everything the HTTP requests carry is encoded before the clock starts.

The client is aiohttp: the load generator shares the machine's cores with the nodes, and
httpx's pool cost ~3.2 ms of CPU a POST with 32 connections against aiohttp's 0.14 — half a
core at kvstore's rate, taken from whatever was measured.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from eth_hash.auto import keccak

MAX_UNCOMMITTED = 40_000  # below the node's mempool size (50,000)
POLL_INTERVAL = 0.05
STALL_TIMEOUT = 120.0  # no commit for this long while transactions are pending: give up
HTTP_TIMEOUT = 300.0  # a node answers a batch only after its current block: be patient
_JSON = {"content-type": "application/json"}
HTTP_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError, ValueError)


@dataclass(frozen=True, slots=True)
class LoadTx:
    key: str  # how the chain names it in a block (tx hash, or base64 of the bytes)
    payload: str  # what goes into the submit request (0x-hex raw tx, or base64 bytes)
    sender: int


class Target:
    """How to talk to one kind of chain: submit requests, chain head, block contents."""

    name = ""

    def submit_body(self, txs: Sequence[LoadTx]) -> bytes:
        raise NotImplementedError

    def parse_submit(self, answer: Any, count: int) -> list[str | None]:
        """One error message (or None: accepted) per transaction of a batch."""
        raise NotImplementedError

    async def head(self, client: aiohttp.ClientSession, url: str) -> int:
        raise NotImplementedError

    async def block_txs(self, client: aiohttp.ClientSession, url: str,
                        heights: Sequence[int]) -> dict[int, list[str]]:
        raise NotImplementedError


async def post_json(client: aiohttp.ClientSession, url: str, body: Any) -> Any:
    """POST a JSON-RPC request (bytes as they are, else encoded) and decode the answer."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with client.post(url, data=data, headers=_JSON) as r:
        return json.loads(await r.read())


def _as_list(answer: Any) -> list[Any]:
    """CometBFT answers a batch of one with a bare object."""
    return answer if isinstance(answer, list) else [answer]


def _by_id(answer: Any, count: int) -> list[dict[str, Any] | None]:
    if isinstance(answer, dict) and count > 1:  # one error for the whole batch
        return [answer] * count
    answer = _as_list(answer)
    by_id = {a.get("id"): a for a in answer if isinstance(a, dict)}
    return [by_id.get(i) for i in range(count)]


def _error(item: dict[str, Any] | None) -> str | None:
    if item is None:
        return "no answer"
    err = item.get("error")
    if err:
        return str(err.get("data") or err.get("message") or err)
    return None


class EthTarget(Target):
    """A consortium node: eth_sendRawTransaction batches to its JSON-RPC API.

    Visibility is the ledger's: a block counts once the node's `eth_blockNumber` reaches it
    (the ledger answers it from its last Commit, so the block's receipts are readable). The
    block's transaction list is read from the node's own CometBFT RPC, so watching costs the
    node under test one cheap read per poll rather than a full block (whose transaction and
    receipt roots the API builds on every `eth_getBlockByNumber`).
    """

    name = "consortium"

    def __init__(self, engine_rpc: str) -> None:
        self.engine_rpc = engine_rpc

    def submit_body(self, txs: Sequence[LoadTx]) -> bytes:
        return json.dumps([
            {"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction", "params": [t.payload]}
            for i, t in enumerate(txs)
        ], separators=(",", ":")).encode()

    def parse_submit(self, answer: Any, count: int) -> list[str | None]:
        return [_error(item) for item in _by_id(answer, count)]

    async def head(self, client: aiohttp.ClientSession, url: str) -> int:
        answer = await post_json(client, url,
                                 {"jsonrpc": "2.0", "id": 0, "method": "eth_blockNumber"})
        return int(answer["result"], 16)

    async def block_txs(self, client: aiohttp.ClientSession, url: str,
                        heights: Sequence[int]) -> dict[int, list[str]]:
        blocks = await CometTarget().block_txs(client, self.engine_rpc, heights)
        return {h: ["0x" + keccak(base64.b64decode(t)).hex() for t in txs]
                for h, txs in blocks.items()}


class EngineSubmitTarget(EthTarget):
    """Diagnostics: the same transactions sent straight to the node's CometBFT RPC,
    bypassing its JSON-RPC API (lanes still keep each sender's order). With
    `broadcast_tx_sync` each transaction waits for its CheckTx answer; with
    `broadcast_tx_async` the engine queues every CheckTx of a batch at once and answers
    before they run (refusals are then not seen: the run stalls on them)."""

    def __init__(self, engine_rpc: str, method: str = "broadcast_tx_sync") -> None:
        super().__init__(engine_rpc)
        self.method = method
        self.name = f"consortium ({method} to the engine)"

    def submit_body(self, txs: Sequence[LoadTx]) -> bytes:
        return json.dumps([
            {"jsonrpc": "2.0", "id": i, "method": self.method,
             "params": {"tx": base64.b64encode(bytes.fromhex(t.payload[2:])).decode()}}
            for i, t in enumerate(txs)
        ], separators=(",", ":")).encode()

    def parse_submit(self, answer: Any, count: int) -> list[str | None]:
        return CometTarget().parse_submit(answer, count)


class CometTarget(Target):
    """A CometBFT node's own RPC: broadcast_tx_sync batches (the kvstore reference)."""

    name = "kvstore"

    def submit_body(self, txs: Sequence[LoadTx]) -> bytes:
        return json.dumps([
            {"jsonrpc": "2.0", "id": i, "method": "broadcast_tx_sync", "params": {"tx": t.payload}}
            for i, t in enumerate(txs)
        ], separators=(",", ":")).encode()

    def parse_submit(self, answer: Any, count: int) -> list[str | None]:
        errors = []
        for item in _by_id(answer, count):
            err = _error(item)
            if err is None and item is not None:
                result = item.get("result") or {}
                if int(result.get("code", 0) or 0):
                    err = str(result.get("log") or f"code {result.get('code')}")
            errors.append(err)
        return errors

    async def head(self, client: aiohttp.ClientSession, url: str) -> int:
        answer = await post_json(client, url, {"jsonrpc": "2.0", "id": 0, "method": "status",
                                               "params": {}})
        return int(answer["result"]["sync_info"]["latest_block_height"])

    async def block_txs(self, client: aiohttp.ClientSession, url: str,
                        heights: Sequence[int]) -> dict[int, list[str]]:
        body = [{"jsonrpc": "2.0", "id": h, "method": "block", "params": {"height": str(h)}}
                for h in heights]
        out = {}
        for item in _as_list(await post_json(client, url, body)):
            result = item.get("result")
            if result is not None:
                out[int(item["id"])] = list(result["block"]["data"]["txs"] or [])
        return out


def eth_txs(raws: Sequence[tuple[bytes, bytes, int]]) -> list[LoadTx]:
    """(raw, hash, sender) of signed Ethereum transactions as load items."""
    return [LoadTx("0x" + h.hex(), "0x" + raw.hex(), s) for raw, h, s in raws]


def kv_txs(count: int, senders: int, tag: str) -> list[LoadTx]:
    """`count` distinct kvstore transactions ("key=value" bytes)."""
    out = []
    for j in range(count):
        b64 = base64.b64encode(f"bench-{tag}-{j}={j}".encode()).decode()
        out.append(LoadTx(b64, b64, j % senders))
    return out


@dataclass
class Batch:
    lane: int
    keys: list[str]
    body: bytes
    scheduled: float = 0.0  # rate mode: seconds after the start it is due


@dataclass
class Lane:
    url: str
    batches: list[Batch] = field(default_factory=list)


def plan_lanes(target: Target, txs: Sequence[LoadTx], urls: Sequence[str], lanes: int,
               batch_size: int) -> list[Lane]:
    """Split transactions into lanes by sender (sender mod lanes), keeping their order, and
    each lane into batches; lane i sends to urls[i mod len(urls)]."""
    if lanes < 1 or batch_size < 1:
        raise ValueError("lanes and batch size must be at least 1")
    per_lane: list[list[LoadTx]] = [[] for _ in range(lanes)]
    for tx in txs:
        per_lane[tx.sender % lanes].append(tx)
    out = []
    for i, items in enumerate(per_lane):
        lane = Lane(urls[i % len(urls)])
        for k in range(0, len(items), batch_size):
            chunk = items[k:k + batch_size]
            lane.batches.append(Batch(i, [t.key for t in chunk], target.submit_body(chunk)))
        out.append(lane)
    return [lane for lane in out if lane.batches]


def schedule(lanes: Sequence[Lane], rate: float) -> None:
    """Rate mode: batches due in round-robin order over the lanes, `rate` tx/s in all."""
    order: list[Batch] = []
    depth = max(len(lane.batches) for lane in lanes)
    for k in range(depth):
        order += [lane.batches[k] for lane in lanes if k < len(lane.batches)]
    sent = 0
    for batch in order:
        batch.scheduled = sent / rate
        sent += len(batch.keys)


@dataclass
class BlockSeen:
    height: int
    txs: int  # of ours
    at: float  # seconds after the start


@dataclass
class LoadResult:
    target: str
    started: float  # perf_counter at the start
    submitted: dict[str, float] = field(default_factory=dict)  # key -> seconds after start
    committed: dict[str, float] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    blocks: list[BlockSeen] = field(default_factory=list)
    ended: float = 0.0  # seconds after the start: the last commit seen
    aborted: str = ""

    def latencies(self) -> list[float]:
        return [t - self.submitted[k] for k, t in self.committed.items()]

    def commits(self) -> list[tuple[float, float]]:
        """(commit time, latency) of every committed transaction."""
        return [(t, t - self.submitted[k]) for k, t in self.committed.items()]


Progress = Callable[[int], None]


class LoadRun:
    """One load run against one target; `await run()` returns its LoadResult."""

    def __init__(self, target: Target, lanes: list[Lane], watch_url: str, *,
                 rate: float | None = None, poll: float = POLL_INTERVAL,
                 stall_timeout: float = STALL_TIMEOUT, start_height: int | None = None,
                 on_commit: Progress = lambda _n: None,
                 on_start: Callable[[], None] = lambda: None,
                 headers: Mapping[str, str] | None = None,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        """`headers` go with every request (a token's); `ssl_context` verifies an HTTPS
        node."""
        self.target = target
        self.headers = dict(headers or {})
        self.ssl_context = ssl_context
        self.lanes = lanes
        self.watch_url = watch_url
        self.rate = rate
        self.poll = poll
        self.stall_timeout = stall_timeout
        self.start_height = start_height
        self.on_commit = on_commit
        self.on_start = on_start
        self._pending: set[str] = set()
        self._room = asyncio.Condition()
        self._sending = 0

    async def run(self) -> LoadResult:
        connector = aiohttp.TCPConnector(limit=len(self.lanes) + 8,
                                         ssl=self.ssl_context or True)
        async with aiohttp.ClientSession(
                connector=connector, headers=self.headers,
                timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT)) as client:
            height = self.start_height
            if height is None:
                height = await self.target.head(client, self.watch_url)
            if self.rate:
                schedule(self.lanes, self.rate)
            self.result = LoadResult(self.target.name, time.perf_counter())
            self.on_start()
            self._sending = len(self.lanes)
            senders = [asyncio.create_task(self._lane(client, lane)) for lane in self.lanes]
            try:
                await self._watch(client, height)
            finally:
                for task in senders:
                    task.cancel()
                await asyncio.gather(*senders, return_exceptions=True)
            for task in senders:
                if not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        return self.result

    def _now(self) -> float:
        return time.perf_counter() - self.result.started

    async def _lane(self, client: aiohttp.ClientSession, lane: Lane) -> None:
        try:
            for batch in lane.batches:
                if self.rate:
                    delay = batch.scheduled - self._now()
                    if delay > 0:
                        await asyncio.sleep(delay)
                else:
                    await self._wait_room(len(batch.keys))
                await self._submit(client, lane.url, batch)
        finally:
            self._sending -= 1

    async def _wait_room(self, size: int) -> None:
        """Concurrency mode: hold a batch while the uncommitted transactions would pass the
        cap (the engine's mempool must not fill up)."""
        async with self._room:
            await self._room.wait_for(
                lambda: len(self._pending) + size <= MAX_UNCOMMITTED or not self._pending)

    async def _submit(self, client: aiohttp.ClientSession, url: str, batch: Batch) -> None:
        sent = batch.scheduled if self.rate else self._now()
        for key in batch.keys:  # registered before the POST: a fast block may come first
            self._pending.add(key)
            self.result.submitted[key] = sent
        try:
            errors = self.target.parse_submit(await post_json(client, url, batch.body),
                                              len(batch.keys))
        except HTTP_ERRORS as exc:
            errors = [f"{type(exc).__name__}: {exc}"] * len(batch.keys)
        for key, err in zip(batch.keys, errors, strict=True):
            if err is not None and key not in self.result.committed:
                self.result.refused[key] = err
                self._pending.discard(key)
                self.result.submitted.pop(key, None)

    async def _watch(self, client: aiohttp.ClientSession, height: int) -> None:
        last_progress = time.perf_counter()
        while True:
            try:
                head = await self.target.head(client, self.watch_url)
            except (*HTTP_ERRORS, KeyError):
                head = height
            if head > height:
                heights = list(range(height + 1, head + 1))
                for k in range(0, len(heights), 20):
                    chunk = heights[k:k + 20]
                    blocks = await self.target.block_txs(client, self.watch_url, chunk)
                    now = self._now()
                    for h in chunk:
                        self._seen(h, blocks.get(h, []), now)
                height = head
                last_progress = time.perf_counter()
            if self._sending == 0 and not self._pending:
                return
            if self._pending and time.perf_counter() - last_progress > self.stall_timeout:
                self.result.aborted = (f"no block for {self.stall_timeout:.0f} s with "
                                       f"{len(self._pending)} transactions pending")
                return
            await asyncio.sleep(self.poll)

    def _seen(self, height: int, keys: Sequence[str], now: float) -> None:
        ours = 0
        for key in keys:
            if key not in self._pending:
                continue
            self._pending.discard(key)
            ours += 1
            self.result.committed[key] = now
            self.result.refused.pop(key, None)
        if ours:
            self.result.blocks.append(BlockSeen(height, ours, now))
            self.result.ended = now
            self.on_commit(ours)
            self._wake()

    def _wake(self) -> None:
        async def notify() -> None:
            async with self._room:
                self._room.notify_all()

        asyncio.get_running_loop().create_task(notify())


def run_load(target: Target, lanes: list[Lane], watch_url: str, **kw: Any) -> LoadResult:
    """Run a load to completion (blocking)."""
    return asyncio.run(LoadRun(target, lanes, watch_url, **kw).run())
