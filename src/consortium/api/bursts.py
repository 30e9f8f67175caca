"""Items told from any thread, handed to one event loop in bursts: one
`call_soon_threadsafe` (a pipe write to wake the loop) per burst, not per item — CheckTx
tells its answers one by one from the consensus thread, a batch of 100 at a time."""

from __future__ import annotations

import threading
from asyncio import AbstractEventLoop
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class LoopBursts(Generic[T]):
    """`tell(loop, item)` from any thread; `deliver(items)` runs on `loop`, in order."""

    def __init__(self, deliver: Callable[[list[T]], None]) -> None:
        self._deliver = deliver
        self._lock = threading.Lock()
        self._items: list[T] = []
        self._scheduled = False

    def tell(self, loop: AbstractEventLoop, item: T) -> None:
        with self._lock:
            self._items.append(item)
            if self._scheduled:
                return
            self._scheduled = True
        try:
            loop.call_soon_threadsafe(self._drain)
        except RuntimeError:  # the loop is closed: its process is stopping
            with self._lock:
                self._items.clear()
                self._scheduled = False

    def _drain(self) -> None:
        with self._lock:
            items, self._items = self._items, []
            self._scheduled = False
        self._deliver(items)
