"""A read's budget: a wall-clock deadline and a cancel flag for eth_call, gas estimation and
log scans, so no client can hold a node's CPU past the timeout or after it has gone.

One `CallBudget` covers one client request: every call of a gas estimate's binary search
draws on the same deadline. The API makes it (`CallBudget(timeout_s)`) and calls `cancel()`
from any thread when the client disconnects; the engines check it while they run:
- revm: every frame, every native's gas charge and every 128 JUMPDESTs (every loop passes
  one), without the GIL, through a native token linked here (`link`);
- py-evm: every message and every JUMPDEST (`consortium.evm.fork.BudgetedComputation`);
- log scans: every few hundred records (`check`).
A spent budget raises `CallTimeout` or `CallCancelled` (JSON-RPC -32000, as geth's
"execution aborted (timeout = 5s)"). Block execution never has one: the wall clock must not
decide state.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol

from consortium.errors import CallCancelled, CallTimeout


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class CallBudget:
    """`timeout_s` seconds from now (None: no deadline), until `cancel()`."""

    __slots__ = ("timeout_s", "_deadline", "_cancelled", "_linked", "_lock")

    def __init__(self, timeout_s: float | None = None) -> None:
        if timeout_s is not None and not timeout_s >= 0:
            raise ValueError(f"timeout_s must be >= 0, not {timeout_s!r}")
        self.timeout_s = timeout_s
        self._deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self._cancelled = False
        self._linked: list[Cancellable] = []
        self._lock = threading.Lock()

    def cancel(self) -> None:
        """Stop every call running with this budget (from any thread), and any later one."""
        with self._lock:
            self._cancelled = True
            linked, self._linked = self._linked, []
        for token in linked:
            token.cancel()

    @property
    def cancelled(self) -> bool:
        return self._cancelled

    @property
    def expired(self) -> bool:
        """Cancelled, or past the deadline."""
        return self._cancelled or (
            self._deadline is not None and time.monotonic() >= self._deadline)

    def remaining(self) -> float | None:
        """Seconds left before the deadline (0 when past it), None without one."""
        if self._deadline is None:
            return None
        return max(0.0, self._deadline - time.monotonic())

    def check(self) -> None:
        """Raise CallCancelled or CallTimeout if the budget is spent."""
        if self._cancelled:
            raise self.error(cancelled=True)
        if self._deadline is not None and time.monotonic() >= self._deadline:
            raise self.error(cancelled=False)

    def error(self, *, cancelled: bool) -> CallTimeout | CallCancelled:
        """The error a call stopped by this budget answers."""
        if cancelled:
            return CallCancelled("execution aborted (cancelled)")
        return CallTimeout(f"execution aborted (timeout = {_seconds(self.timeout_s)})")

    def link(self, token: Cancellable) -> None:
        """Cancel `token` (an engine's own flag, read without the GIL) with this budget."""
        with self._lock:
            if not self._cancelled:
                self._linked.append(token)
                return
        token.cancel()

    def unlink(self, token: Cancellable) -> None:
        with self._lock:
            if token in self._linked:
                self._linked.remove(token)


def _seconds(timeout_s: float | None) -> str:
    """geth's way of writing a duration: 5s, 500ms."""
    if timeout_s is None:
        return "none"
    if timeout_s >= 1 and float(timeout_s).is_integer():
        return f"{int(timeout_s)}s"
    if timeout_s >= 1:
        return f"{timeout_s:g}s"
    return f"{timeout_s * 1000:g}ms"


__all__ = ["CallBudget"]
