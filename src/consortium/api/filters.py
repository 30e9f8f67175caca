"""Polling filters (eth_newFilter, eth_newBlockFilter, eth_newPendingTransactionFilter): in
memory, per node, forgotten after five minutes without a poll. A filter remembers the last
height whose changes it handed out; the JSON-RPC layer reads the blocks and logs after it."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from consortium.api.encoding import BlockRef
from consortium.api.rpc_error import LimitExceeded, NotFound
from consortium.ledger.types import LogEntry, TxFilter

FILTER_TTL = 300.0  # seconds a filter lives without being polled
MAX_FILTERS = 10_000

LOGS, BLOCKS, PENDING = "logs", "blocks", "pending"


@dataclass(frozen=True)
class LogCriteria:
    """Which logs a filter or subscription wants: addresses (any of; empty = all) and
    topics position-wise (None = any, a tuple = any of)."""

    addresses: tuple[str, ...] = ()
    topics: tuple[str | tuple[str, ...] | None, ...] = ()

    @classmethod
    def of(cls, addresses: Sequence[str], topics: Sequence[str | Sequence[str] | None]
           ) -> LogCriteria:
        norm = [t if t is None or isinstance(t, str) else tuple(t) for t in topics]
        while norm and norm[-1] is None:
            norm.pop()
        return cls(tuple(addresses), tuple(norm))

    def tx_filter(self, from_block: int, to_block: int) -> TxFilter:
        return TxFilter(from_block, to_block, list(self.addresses), list(self.topics))

    def matches(self, entry: LogEntry) -> bool:
        if self.addresses and entry.address not in self.addresses:
            return False
        return len(self.topics) <= len(entry.topics) and all(
            want is None or (have == want if isinstance(want, str) else have in want)
            for want, have in zip(self.topics, entry.topics, strict=False))


@dataclass
class Filter:
    kind: str
    last_height: int  # changes up to this height were handed out
    last_used: float
    criteria: LogCriteria = field(default_factory=LogCriteria)
    from_block: BlockRef | None = None  # log filters: the range given at creation
    to_block: BlockRef | None = None


class FilterRegistry:
    """Installed filters by id. Thread-safe: the RPC layer reads the ledger in workers."""

    def __init__(self, *, ttl: float = FILTER_TTL, max_filters: int = MAX_FILTERS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_filters = max_filters
        self._clock = clock
        self._filters: dict[str, Filter] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._filters)

    def install(self, kind: str, start_height: int, *, criteria: LogCriteria | None = None,
                from_block: BlockRef | None = None, to_block: BlockRef | None = None) -> str:
        """A new filter whose first poll returns what happens after `start_height`."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            if len(self._filters) >= self.max_filters:
                raise LimitExceeded(f"too many filters installed on this node "
                                    f"({self.max_filters}); uninstall unused ones")
            filter_id = "0x" + secrets.token_hex(16)
            self._filters[filter_id] = Filter(kind, start_height, now,
                                              criteria or LogCriteria(), from_block, to_block)
            return filter_id

    def get(self, filter_id: str) -> Filter:
        """The filter, marked as used now; NotFound if unknown or expired."""
        now = self._clock()
        with self._lock:
            self._expire(now)
            flt = self._filters.get(filter_id.lower())
            if flt is None:
                raise NotFound(f"filter {filter_id} not found (filters expire after "
                               f"{int(self.ttl)} s without a poll)", code=-32000)
            flt.last_used = now
            return flt

    def advance(self, filter_id: str, height: int) -> None:
        """Record that changes up to `height` were handed out."""
        with self._lock:
            flt = self._filters.get(filter_id.lower())
            if flt is not None and height > flt.last_height:
                flt.last_height = height

    def uninstall(self, filter_id: str) -> bool:
        with self._lock:
            return self._filters.pop(filter_id.lower(), None) is not None

    def expire(self) -> int:
        """Drop filters unused for `ttl` seconds; returns how many were dropped."""
        with self._lock:
            return self._expire(self._clock())

    def _expire(self, now: float) -> int:
        stale = [fid for fid, f in self._filters.items() if now - f.last_used > self.ttl]
        for fid in stale:
            del self._filters[fid]
        return len(stale)
