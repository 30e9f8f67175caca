"""The figures a node reads when Prometheus scrapes it, not while it works: height, LMDB
and disk sizes, the engine's mempool, peers and sync state, WebSocket connections and
subscriptions, the newest state-sync snapshot.

Each costs a stat, an LMDB read or (the engine's) three RPC calls on loopback, cached a few
seconds so a busy scraper (or several) cannot load the engine.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from consortium.api.metrics import PREFIX, ApiMetrics, NodeMetrics

log = logging.getLogger("consortium.api.metrics")

ENGINE_CACHE_SECONDS = 3.0
ENGINE_TIMEOUT = 1.0


def parse_block_time(text: str) -> float:
    """CometBFT's RFC 3339 time with up to nanoseconds ("2026-12-05T04:23:15.123456789Z")
    as Unix seconds."""
    head, _, frac = text.rstrip("Z").partition(".")
    seconds = dt.datetime.fromisoformat(head).replace(tzinfo=dt.UTC).timestamp()
    return seconds + (float(f"0.{frac}") if frac.isdigit() else 0.0)


class EngineView:
    """The engine's mempool, peers and sync state from its RPC, at most one fetch per
    `ENGINE_CACHE_SECONDS`; {} when the engine does not answer."""

    def __init__(self, rpc_url: str, cache_seconds: float = ENGINE_CACHE_SECONDS) -> None:
        self.rpc_url = rpc_url.rstrip("/")
        self.cache_seconds = cache_seconds
        self._lock = threading.Lock()
        self._at = -float("inf")
        self._last: dict[str, float] = {}

    def read(self) -> dict[str, float]:
        with self._lock:
            if time.monotonic() - self._at >= self.cache_seconds:
                self._last = self._fetch()
                self._at = time.monotonic()
            return self._last

    def _fetch(self) -> dict[str, float]:
        """One batch of three calls; each figure the engine answered, the others left out."""
        calls = [{"jsonrpc": "2.0", "id": i, "method": method, "params": {}}
                 for i, method in enumerate(("status", "net_info", "num_unconfirmed_txs"))]
        try:
            with httpx.Client(timeout=ENGINE_TIMEOUT) as client:
                answers = client.post(self.rpc_url, json=calls).json()
        except (httpx.HTTPError, ValueError) as exc:
            log.debug("engine RPC did not answer for metrics: %s", exc)
            return {}
        if not isinstance(answers, list):
            return {}
        results = {a.get("id"): a.get("result") or {} for a in answers if isinstance(a, dict)}
        figures: dict[str, float] = {}
        readers: list[tuple[str, int, Callable[[Any], float]]] = [
            ("catching_up", 0, lambda r: 1.0 if r["sync_info"]["catching_up"] else 0.0),
            ("block_time", 0, lambda r: parse_block_time(r["sync_info"]["latest_block_time"])),
            ("peers", 1, lambda r: float(r["n_peers"])),
            ("mempool_txs", 2, lambda r: float(r["total"])),
            ("mempool_bytes", 2, lambda r: float(r["total_bytes"])),
        ]
        for name, index, read in readers:
            with contextlib.suppress(KeyError, TypeError, ValueError):
                figures[name] = read(results.get(index))
        return figures


def gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
    """A scrape-time gauge, without a sample when `value` is None (not known now)."""
    family = GaugeMetricFamily(f"{PREFIX}_{name}", doc)
    if value is not None:
        family.add_metric([], value)
    return family


class NodeProbe(Collector):
    """Scrape-time gauges of one node. `metrics` is the node's `NodeMetrics` (its `hub`,
    set by `instrument`, gives the WebSocket figures; its last block time is preferred
    to the engine's); `snapshot_height` answers the newest snapshot's height, or None."""

    def __init__(self, ledger: Any, engine: EngineView | None, metrics: Any = None,
                 snapshot_height: Callable[[], int | None] | None = None) -> None:
        self.ledger = ledger
        self.engine = engine
        self.metrics = metrics
        self.snapshot_height = snapshot_height

    def collect(self) -> Iterator[Metric]:
        height, _ = self.ledger.info()
        yield gauge("height", "Height of the newest block this node committed.", height)
        engine = self.engine.read() if self.engine is not None else {}
        yield gauge("engine_up", "1 if the node's CometBFT answered its last RPC probe "
                    "(probed at most every 3 s).",
                    (1.0 if engine else 0.0) if self.engine is not None else None)
        yield gauge("peers", "Peers the engine is connected to.", engine.get("peers"))
        yield gauge("catching_up", "1 while the engine is catching up (block sync or "
                    "state sync).", engine.get("catching_up"))
        yield gauge("mempool_transactions", "Transactions waiting in the engine's mempool.",
                    engine.get("mempool_txs"))
        yield gauge("mempool_bytes", "Bytes of the transactions in the engine's mempool.",
                    engine.get("mempool_bytes"))
        own = getattr(self.metrics, "last_block_time", 0.0)  # exact, once a block commits
        block_time = max(own, engine.get("block_time", 0.0)) or None
        yield gauge("last_block_timestamp_seconds", "Header time of the newest block "
                    "(Unix seconds): the newest this node committed, or the engine's.",
                    block_time)
        data = Path(self.ledger.store.env.path())
        yield gauge("lmdb_size_bytes", "Size of the ledger's LMDB data file (data.mdb).",
                    _file_size(data / "data.mdb"))
        yield gauge("lmdb_map_size_bytes", "LMDB's map size: the most the data file may grow "
                    "to.", float(self.ledger.store.env.info()["map_size"]))
        usage = _disk_usage(data)
        yield gauge("disk_free_bytes", "Free bytes on the file system of the ledger's data.",
                    None if usage is None else usage.free)
        yield gauge("disk_size_bytes", "Size of the file system of the ledger's data.",
                    None if usage is None else usage.total)
        snapshot = self.snapshot_height() if self.snapshot_height is not None else None
        yield gauge("snapshot_height", "Height of the newest state-sync snapshot this node "
                    "offers (0: none).", snapshot or 0)
        given = CounterMetricFamily(
            f"{PREFIX}_checktx_senders_given", "Transactions whose sender CheckTx took as the "
            "API's own process told it instead of recovering the signature ([api] process = "
            "\"own\").")
        given.add_metric([], getattr(getattr(self.ledger, "senders", None), "given", 0))
        yield given

    def describe(self) -> Iterator[Metric]:
        return iter(())  # collect() reads the node: not at registration


class Connections(Collector):
    """The API's WebSocket connections and subscriptions (its hub's, once `instrument`
    gave `metrics` one), read at scrape time."""

    def __init__(self, metrics: Any) -> None:
        self.metrics = metrics

    def collect(self) -> Iterator[Metric]:
        hub = getattr(self.metrics, "hub", None)
        yield gauge("websocket_connections", "Open WebSocket connections to the API.",
                    None if hub is None else len(hub.connections))
        yield gauge("websocket_subscriptions", "eth_subscribe subscriptions open on the API.",
                    None if hub is None else _subscriptions(hub))

    def describe(self) -> Iterator[Metric]:
        return iter(())


def _file_size(path: Path) -> float | None:
    try:
        return float(os.stat(path).st_size)
    except OSError:
        return None


def _disk_usage(path: Path) -> Any:
    try:
        return shutil.disk_usage(path)
    except OSError:
        return None


def _subscriptions(hub: Any) -> float | None:
    """The hub's subscriptions; its set of connections belongs to the API's loop, so a
    count taken from the scraping thread may meet a change and is tried again."""
    for _ in range(3):
        try:
            return float(hub.subscription_count)
        except RuntimeError:  # the set changed size during the count
            continue
    return None


def newest_snapshot(folder: Path) -> int | None:
    """Height of the newest complete snapshot in a node's snapshot folder, or None."""
    try:
        from consortium.ledger.snapshots import list_snapshots
    except ImportError:  # a version without state sync
        return None
    found = list_snapshots(folder)
    return max((info.height for info in found), default=None)


def node_metrics(name: str, ledger: Any, engine_rpc: str | None,
                 snapshots: Path | None = None) -> NodeMetrics:
    """A running node's metrics: counted (`NodeMetrics`) and probed at scrape time
    (`NodeProbe`: the ledger, the engine at `engine_rpc`, the snapshot folder)."""
    from consortium.api.jsonrpc import method_names

    metrics = NodeMetrics(name, engine=str(getattr(ledger, "engine", "")),
                          rpc_methods=method_names())
    engine = EngineView(engine_rpc) if engine_rpc else None
    newest = None if snapshots is None else (lambda: newest_snapshot(snapshots))
    metrics.registry.register(NodeProbe(ledger, engine, metrics, newest))
    metrics.registry.register(Connections(metrics))
    return metrics


def api_metrics(node_metrics_socket: Path) -> ApiMetrics:
    """The metrics of an API in a process of its own: what it counts (requests, JSON-RPC
    calls, WebSockets) and, read from its node at each scrape, everything else
    (`metrics_relay`)."""
    from consortium.api.jsonrpc import method_names
    from consortium.api.metrics_relay import NodeFamilies, read_node_metrics

    metrics = ApiMetrics(rpc_methods=method_names())
    metrics.registry.register(Connections(metrics))
    own = {family.name for family in metrics.registry.collect()}
    metrics.registry.register(NodeFamilies(lambda: read_node_metrics(node_metrics_socket), own))
    return metrics
