"""Where a native contract's transaction spends its time, by part, in process.

`bench/services_inprocess.py --breakdown` runs each workload once more with timers around the
parts a service transaction goes through — the native's storage reads and writes, its
events, its calls into other contracts, the contract's own code (its dispatch, less all of
those), the block's state trie, the block's records and Commit — and prints microseconds a
transaction for each. Times are exclusive (a part's time less the timed parts inside it) and
corrected for the timers' own cost (a wrapped no-op, measured beside them), so the parts add
up to the instrumented run's total; "the rest" is what no timer covers (the engine's own
work per transaction, admission, receipts). Each part's count a transaction is printed too.

Timers change what they measure a little (a wrapper per call); the un-instrumented rates of
the same script are the figures to quote, this table the split."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import consortium.ledger.ledger as ledger_module
from consortium.evm.native import NativeContract
from consortium.evm.revm_engine import EngineWordSets, RevmHost, RevmWorldState
from consortium.ledger.ledger import Ledger

_now = time.perf_counter_ns

# (owner, attribute, part): what is timed, and the part its time goes to
PARTS: tuple[tuple[Any, str, str], ...] = (
    (RevmHost, "sload", "storage reads"),
    (RevmHost, "sload_at", "storage reads"),
    (RevmHost, "_sloads", "storage reads"),  # a record's one-word fields, one call
    (RevmHost, "sstore", "storage writes"),
    (RevmHost, "_sstores", "storage writes"),  # a record's fields, one call
    (EngineWordSets, "_apply", "set add/remove (one engine call)"),
    (NativeContract, "emit", "events (encode + log)"),
    (RevmHost, "call", "calls into other contracts"),
    (NativeContract, "dispatch", "the contract's own code"),
    (RevmWorldState, "persist", "state trie (persist)"),
    (ledger_module, "block_rows", "block records (encode)"),
    (Ledger, "commit", "Commit (LMDB write)"),
)


class Breakdown:
    """Exclusive time and calls per part, while `timing()` is active."""

    def __init__(self) -> None:
        self.ns: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self._inner = [0]  # per open timer: the time of the timed calls inside it

    def _wrap(self, fn: Callable[..., Any], part: str) -> Callable[..., Any]:
        inner, ns, calls = self._inner, self.ns, self.calls

        def timed(*args: Any, **kwargs: Any) -> Any:
            inner.append(0)
            start = _now()
            try:
                return fn(*args, **kwargs)
            finally:
                took = _now() - start
                nested = inner.pop()
                ns[part] += took - nested
                calls[part] += 1
                inner[-1] += took

        return timed

    @contextmanager
    def timing(self) -> Iterator[None]:
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in PARTS]
        try:
            for (owner, name, part), (_, _, fn) in zip(PARTS, saved, strict=True):
                setattr(owner, name, self._wrap(fn, part))
            yield
        finally:
            for owner, name, fn in saved:
                setattr(owner, name, fn)

    def timer_cost_ns(self, rounds: int = 200_000) -> float:
        """What one timed call adds (a wrapped no-op against the bare one), in ns."""
        def noop() -> None:
            return None

        wrapped = Breakdown()._wrap(noop, "x")
        start = _now()
        for _ in range(rounds):
            noop()
        bare = _now() - start
        start = _now()
        for _ in range(rounds):
            wrapped()
        return max(0.0, (_now() - start - bare) / rounds)

    def table(self, total_ns: int, txs: int) -> list[tuple[str, float, float, float]]:
        """(part, µs a transaction, share of the total, calls a transaction), the timers'
        own cost taken out of each part and of the total; "the rest" last."""
        cost = self.timer_cost_ns()
        total = total_ns - cost * sum(self.calls.values())
        rows = []
        for part in dict.fromkeys(p for _, _, p in PARTS):
            ns = max(0.0, self.ns[part] - cost * self.calls[part])
            rows.append((part, ns / txs / 1e3, ns / total, self.calls[part] / txs))
        rest = total - sum(r[1] * txs * 1e3 for r in rows)
        rows.append(("the rest (engine, admission, receipts)", rest / txs / 1e3, rest / total,
                     0.0))
        return rows
