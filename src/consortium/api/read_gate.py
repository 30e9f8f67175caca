"""Admission for the reads that can cost seconds of CPU (`eth_call`, `eth_estimateGas`,
`eth_getLogs`, the services' scans): unbounded, one client could keep a validator's cores
busy for minutes. They are bounded node-wide and per client address (429 at once past
either), run on worker threads of their own, below consensus while revm executes without
the GIL (SCHED_IDLE, `priority.rs`) and at the node's own priority whenever they hold it, and
share one `CallBudget` per request, cancelled when its client disconnects
(`consortium.evm.budget`).

Not niced otherwise: a thread holding Python's lock below the machine's other work is the
one the kernel leaves waiting on busy cores, and every thread of the node waits with it
(docs/reliability.md has the measurements)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from consortium.errors import TooManyRequests
from consortium.evm.budget import CallBudget

log = logging.getLogger("consortium.api")

T = TypeVar("T")

RPC_GAS_CAP = 50_000_000  # as geth's --rpc.gascap
CALL_TIMEOUT = 5.0  # as geth's --rpc.evmtimeout

# The client a request comes from (its address; later, its credential), set per request.
current_client: contextvars.ContextVar[str] = contextvars.ContextVar(
    "current_client", default="local")
# Awaits the HTTP client's disconnect (set per request by the HTTP handler).
current_disconnect: contextvars.ContextVar[Callable[[], Awaitable[None]] | None] = (
    contextvars.ContextVar("current_disconnect", default=None))
# The budget of the request being served, if it was admitted through the gate.
current_budget: contextvars.ContextVar[CallBudget | None] = contextvars.ContextVar(
    "current_budget", default=None)


@dataclass(frozen=True)
class ReadLimits:
    """The node's bounds on heavy reads (node config `[api]`, see `NodeConfig`)."""

    rpc_gas_cap: int = RPC_GAS_CAP  # gas of one eth_call / eth_estimateGas, at most
    call_timeout: float = CALL_TIMEOUT  # seconds for all the heavy reads of one request
    heavy_read_threads: int = 4  # heavy requests running at once
    max_heavy_reads: int = 32  # running + waiting, node-wide
    max_heavy_reads_per_client: int = 8  # running + waiting, per client address
    retry_after: int = 1  # seconds, in the 429's Retry-After


class ReadGate:
    """Admits, times and runs heavy reads (see the module's docstring)."""

    def __init__(self, limits: ReadLimits | None = None) -> None:
        self.limits = limits or ReadLimits()
        self._lock = threading.Lock()
        self.pending = 0  # requests admitted and not yet released
        self._by_client: Counter[str] = Counter()
        self._pool = ThreadPoolExecutor(max_workers=self.limits.heavy_read_threads,
                                        thread_name_prefix="heavy-read")
        self.refused = 0  # requests answered 429, for tests and metrics

    def acquire(self, client: str | None = None) -> Callable[[], None]:
        """Hold a place for one request, or raise TooManyRequests; returns its release."""
        who = client if client is not None else current_client.get()
        limits = self.limits
        with self._lock:
            busy = (f"on this node ({self.pending})" if self.pending >= limits.max_heavy_reads
                    else f"for client {who} (at most {limits.max_heavy_reads_per_client})"
                    if self._by_client[who] >= limits.max_heavy_reads_per_client else None)
            if busy is not None:
                self.refused += 1
                raise TooManyRequests(f"too many expensive reads in progress {busy}; retry in "
                                      f"{limits.retry_after} s", retry_after=limits.retry_after)
            self.pending += 1
            self._by_client[who] += 1
        released = False

        def release() -> None:
            nonlocal released
            with self._lock:
                if released:
                    return
                released = True
                self.pending -= 1
                self._by_client[who] -= 1
                if self._by_client[who] <= 0:
                    del self._by_client[who]

        return release

    async def run(self, fn: Callable[[], T], release: Callable[[], None]) -> T:
        """Run `fn` (the heavy reads of a request admitted by `acquire`, which find their
        budget in `current_budget`) on a heavy-read thread; `release` is called when the
        thread has really finished. If the caller is cancelled, or its HTTP client goes
        away (`current_disconnect`), the budget is cancelled, which stops the EVM at its
        next check."""
        budget = current_budget.get() or CallBudget(self.limits.call_timeout)
        ctx = contextvars.copy_context()
        ctx.run(current_budget.set, budget)
        try:
            future = asyncio.get_running_loop().run_in_executor(self._pool, ctx.run, fn)
        except BaseException:
            release()
            raise
        future.add_done_callback(lambda _: release())
        gone = current_disconnect.get()
        watcher: asyncio.Future[None] | None = (
            None if gone is None else asyncio.ensure_future(gone()))
        try:
            if watcher is not None:
                waits: set[asyncio.Future[Any]] = {future, watcher}
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                if not future.done():  # the client left: stop its work
                    budget.cancel()
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            budget.cancel()
            raise
        finally:
            if watcher is not None:
                watcher.cancel()

    async def run_admitted(self, fn: Callable[[], T]) -> T:
        """`acquire` then `run`: one heavy read from a REST route."""
        return await self.run(fn, self.acquire())

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

