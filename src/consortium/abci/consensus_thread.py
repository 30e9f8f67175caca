"""The ABCI server on a thread of its own, with its own event loop, so that CometBFT's calls
are answered on time whatever the API's clients do.

Before, one event loop served ABCI *and* the HTTP/WebSocket API: a client whose request kept
that loop busy (an expensive `eth_call`, a large batch to parse, a slow serializer) delayed
FinalizeBlock and Commit, and flooding two of four validators with worst-case calls cut the
chain's block rate to ×0.4–0.6. With the ABCI server on its own loop, the API's work and
CometBFT's calls only share the interpreter lock, which CPython hands over every few
milliseconds and which the EVM (revm) releases while it executes.

A thread rather than a process: the API reads the ledger's committed state and its
in-memory views (the sender cache filled before CheckTx, the pending nonces, CheckTx's
answers to the API's own submissions) directly. A process would need all of those over
IPC, and LMDB forbids a second open of the environment in one process tree only by
convention (a reader in another process would work, the caches would not be shared).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading

from consortium.abci.server import AbciServer
from consortium.errors import NetworkError

log = logging.getLogger("consortium.abci")

START_TIMEOUT = 15.0
STOP_TIMEOUT = 15.0


class ConsensusThread:
    """Runs an `AbciServer` on a dedicated thread and event loop."""

    def __init__(self, server: AbciServer, *, name: str = "abci") -> None:
        self.server = server
        self.name = name
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Start the thread and wait until the socket listens (or raise why it did not)."""
        self._thread = threading.Thread(target=self._main, name=self.name, daemon=True)
        self._thread.start()
        if not self._ready.wait(timeout):
            raise NetworkError(f"the ABCI server did not start within {timeout:g} s")
        if self._failure is not None:
            raise NetworkError(f"the ABCI server failed to start: {self._failure}")

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self.loop = loop
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(self.server.start())
        except BaseException as exc:  # reported by start()
            self._failure = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(self.server.stop())
            for task in asyncio.all_tasks(loop):
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.sleep(0))
            loop.close()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Close the socket and end the thread (after the engine has stopped: nothing is
        then in flight)."""
        thread, loop = self._thread, self.loop
        if thread is None or loop is None or not thread.is_alive():
            return
        with contextlib.suppress(RuntimeError):  # the loop already closed
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)
        if thread.is_alive():
            log.warning("the ABCI thread did not stop within %.0f s", timeout)
