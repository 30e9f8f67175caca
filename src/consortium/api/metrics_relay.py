"""The node's metrics for an API in a process of its own: the node serves its registry's
text on a unix socket in its home (`serve_node_metrics`, mode 0600), and the API's process
answers /metrics with the node's families and its own (`NodeFamilies`): its requests,
JSON-RPC calls and WebSocket figures from itself, everything else — blocks, CheckTx, the
ledger, the engine, the threads — as the node counts it. One scrape of the API's port then
reads what the node's would with the API inside it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from prometheus_client.core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

log = logging.getLogger("consortium.api.metrics")

READ_TIMEOUT = 5.0


async def serve_node_metrics(path: Path, exposition: Callable[[], bytes]
                             ) -> asyncio.base_events.Server:
    """Answer every connection to `path` with `exposition()` (run off the loop), then close
    it: the node's side."""

    async def answer(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            writer.write(await asyncio.to_thread(exposition))
            await writer.drain()
        except Exception:  # noqa: BLE001 (a scraper that went, or a probe that failed)
            log.exception("serving the node's metrics to its API's process failed")
        finally:
            writer.close()

    with contextlib.suppress(FileNotFoundError):
        path.unlink()
    server = await asyncio.start_unix_server(answer, str(path))
    os.chmod(path, 0o600)
    return server


def read_node_metrics(path: Path, timeout: float = READ_TIMEOUT) -> str:
    """The node's metrics text, read from its socket (blocking: the scrape's worker thread).
    Raises OSError when the node does not answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        chunks = []
        while chunk := sock.recv(1 << 16):
            chunks.append(chunk)
    return b"".join(chunks).decode()


class NodeFamilies(Collector):
    """The node's families, read at each scrape, but for those the API's process counts
    itself (`own`: their names; the node's copies of them stay at 0). When the node does
    not answer, none (logged once a run of failures): the API's own are still served."""

    def __init__(self, read: Callable[[], str], own: Iterable[str]) -> None:
        self.read = read
        self.own = frozenset(own)
        self._failing = False

    def collect(self) -> Iterator[Metric]:
        try:
            text = self.read()
        except OSError as exc:
            if not self._failing:
                log.warning("the node's metrics cannot be read (%s): /metrics serves the "
                            "API's own", exc)
            self._failing = True
            return
        self._failing = False
        for family in text_string_to_metric_families(text):
            if family.name.removesuffix("_created") not in self.own:
                yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())  # collect() asks the node: not at registration
