"""The node's Prometheus metrics, on a registry of its own per node (several nodes may share a
test process). Blocks and CheckTx answers are counted where they happen (the ABCI
application's observer), JSON-RPC calls and HTTP requests by the dispatcher and middleware;
sizes, mempool, peers and subscriptions are read at scrape time (`metrics_probe`). Served at
/metrics (a read credential when auth is on) and on `[metrics] listen`; docs/operations.md
lists them."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import anyio.to_thread
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from consortium import __version__
from consortium.errors import NetworkError, tx_error_classes

PREFIX = "consortium"
BLOCK_SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
BLOCK_TXS = (0, 1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000)
REQUEST_SECONDS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0, 30.0)
HTTP_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
OTHER = "other"  # the label of a JSON-RPC method or route this node does not serve
BATCH = "batch"  # the latency label of a JSON-RPC batch (its calls are counted one by one)
MAX_CODE = 64  # CheckTx codes counted one by one; above: "other"


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def refusal_reasons() -> dict[int, str]:
    """CheckTx refusal code -> reason label, from the protocol's own error classes
    (`NonceTooLow` -> "nonce_too_low"); code 1 is an unexpected internal error."""
    reasons = {1: "internal"}
    for cls in tx_error_classes():
        if cls.__module__ == "consortium.errors" and cls.__name__ != "TxError":
            reasons[cls.abci_code] = _snake(cls.__name__.removesuffix("Tx"))
    reasons.setdefault(2, "malformed")
    return reasons


class _CheckCounts(Collector):
    """CheckTx answers by code: a plain list the consensus thread increments (its only
    writer), turned into counters when Prometheus scrapes."""

    def __init__(self) -> None:
        self.by_code = [0] * (MAX_CODE + 1)
        self.reasons = refusal_reasons()

    def collect(self) -> Iterator[CounterMetricFamily]:
        counts = list(self.by_code)
        accepted = CounterMetricFamily(
            f"{PREFIX}_checktx_accepted", "Transactions CheckTx admitted to the mempool "
            "(first checks; rechecks after a block are not counted).")
        accepted.add_metric([], counts[0])
        yield accepted
        refused = CounterMetricFamily(
            f"{PREFIX}_checktx_refused", "Transactions CheckTx refused, by reason (first "
            "checks).", labels=["reason"])
        totals: dict[str, int] = {name: 0 for name in sorted(set(self.reasons.values()))}
        totals[OTHER] = 0
        for code in range(1, len(counts)):
            if counts[code]:
                reason = self.reasons.get(code, OTHER)
                totals[reason] += counts[code]
        for reason, count in totals.items():
            refused.add_metric([reason], count)
        yield refused

    def describe(self) -> Iterator[CounterMetricFamily]:
        return self.collect()


def thread_label(name: str) -> str:
    """A thread's name without the pool's running number ("abci-call_0" -> "abci-call"),
    so that a pool's threads add up under one label."""
    return re.sub(r"[-_]\d+$", "", name) or name


class _ThreadCpu(Collector):
    """CPU seconds of this process's threads by name (`thread_label`): which part of the
    node is busy — the API's event loop ("MainThread"), its worker threads, the consensus
    thread ("abci"), block execution ("abci-call"). A thread that ended counts with what it
    had used at the scrape before it ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._live: dict[int, tuple[str, float]] = {}  # ident -> (label, CPU seconds)
        self._ended: dict[str, float] = {}

    def totals(self) -> dict[str, float]:
        now: dict[int, tuple[str, float]] = {}
        for thread in threading.enumerate():
            if thread.ident is None:
                continue
            try:
                clock = time.pthread_getcpuclockid(thread.ident)
                now[thread.ident] = (thread_label(thread.name), time.clock_gettime(clock))
            except (OSError, AttributeError):  # ended meanwhile, or no per-thread clocks
                continue
        with self._lock:
            for ident, (label, seconds) in self._live.items():
                later = now.get(ident)
                # gone, or its ident reused by a new thread (whose clock starts again)
                if later is None or later[0] != label or later[1] < seconds:
                    self._ended[label] = self._ended.get(label, 0.0) + seconds
            self._live = now
            totals = dict(self._ended)
        for label, seconds in now.values():
            totals[label] = totals.get(label, 0.0) + seconds
        return totals

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            f"{PREFIX}_thread_cpu_seconds", "CPU time of the node process's threads, by "
            "thread name (a pool's threads together).", labels=["thread"])
        for label, seconds in sorted(self.totals().items()):
            family.add_metric([label], seconds)
        yield family

    def describe(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(f"{PREFIX}_thread_cpu_seconds", "", labels=["thread"])


class ApiMetrics:
    """What an API counts, on its own registry: its HTTP requests and JSON-RPC calls (the
    dispatcher's observer, `rpc_calls`), its WebSockets at scrape time (`hub`, set by
    `instrument`). An API in a process of its own exports these and, read from its node,
    the rest (`metrics_probe.api_metrics`)."""

    def __init__(self, *, rpc_methods: Collection[str] = ()) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.rpc_methods = frozenset(rpc_methods)
        reg = self.registry
        self.rpc_requests = Counter(
            f"{PREFIX}_rpc_calls", "JSON-RPC calls (HTTP and WebSocket; each call of a batch), "
            "by method (\"other\": a method this node does not serve) and status (ok, error, "
            "refused: the request was refused whole, e.g. 429).", ["method", "status"],
            registry=reg)
        self.rpc_seconds = Histogram(
            f"{PREFIX}_rpc_seconds", "Time to answer a JSON-RPC request, by method (\"batch\" "
            "for a batch).", ["method"], buckets=REQUEST_SECONDS, registry=reg)
        self.http_requests = Counter(
            f"{PREFIX}_http_requests", "HTTP requests to the API, by route (\"GET "
            "/api/v1/blocks/{number}\", \"POST /\" for JSON-RPC, \"other\" when none matched) "
            "and HTTP status.", ["route", "status"], registry=reg)
        self.http_seconds = Histogram(
            f"{PREFIX}_http_request_seconds", "Time to answer an HTTP request to the API, by "
            "route.", ["route"], buckets=REQUEST_SECONDS, registry=reg)
        self._rpc_children: dict[tuple[str, str], Any] = {}
        self._rpc_timers: dict[str, Any] = {}
        self.hub: Any = None  # the API's SubscriptionHub (`instrument`), for the probe

    # --- the JSON-RPC dispatcher's observer (API loop) --------------------------------

    def rpc_calls(self, items: Sequence[Any], answers: Sequence[Any] | None,
                  seconds: float) -> None:
        """One request (a call or a batch) answered: `answers` in the order of `items`
        (None for a notification), or None if the request was refused whole."""
        counts: dict[tuple[str, str], int] = {}
        method = OTHER
        for index, item in enumerate(items):
            name = item.get("method") if isinstance(item, dict) else None
            method = name if isinstance(name, str) and name in self.rpc_methods else OTHER
            if answers is None:
                status = "refused"
            else:
                answer = answers[index]
                status = "error" if isinstance(answer, dict) and "error" in answer else "ok"
            key = (method, status)
            counts[key] = counts.get(key, 0) + 1
        for key, count in counts.items():
            child = self._rpc_children.get(key)
            if child is None:
                child = self._rpc_children[key] = self.rpc_requests.labels(*key)
            child.inc(count)
        label = method if len(items) == 1 else BATCH
        timer = self._rpc_timers.get(label)
        if timer is None:
            timer = self._rpc_timers[label] = self.rpc_seconds.labels(label)
        timer.observe(seconds)

    # --- exposition ---------------------------------------------------------------------

    def exposition(self) -> bytes:
        """The text format of every metric (runs the scrape-time probes: call it off the
        event loop)."""
        return generate_latest(self.registry)

    def serve(self, host: str, port: int) -> Callable[[], None]:
        """Serve the metrics on a port of their own (a daemon thread); returns the stop."""
        from prometheus_client import start_http_server

        try:
            server, thread = start_http_server(port, addr=host, registry=self.registry)
        except OSError as exc:
            raise NetworkError(f"metrics.listen {host}:{port} cannot be opened: "
                               f"{exc.strerror or exc}") from None

        def stop() -> None:
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

        return stop


class NodeMetrics(ApiMetrics):
    """The metrics of one node, on one registry: its API's (`ApiMetrics`, when the API runs
    in the node's process) and its blocks', CheckTx's and threads'. Also the ABCI
    application's observer (`checked`, `finalized`, `committed`)."""

    def __init__(self, node_name: str, *, engine: str = "",
                 rpc_methods: Collection[str] = ()) -> None:
        super().__init__(rpc_methods=rpc_methods)
        reg = self.registry
        info = Gauge(f"{PREFIX}_node_info", "Always 1; the node's name, software version and "
                     "execution engine as labels.", ["node", "version", "engine"], registry=reg)
        info.labels(node_name, __version__, engine).set(1)
        self.block_seconds = Histogram(
            f"{PREFIX}_block_execution_seconds", "Time to execute a block's transactions "
            "(FinalizeBlock).", buckets=BLOCK_SECONDS, registry=reg)
        self.commit_seconds = Histogram(
            f"{PREFIX}_block_commit_seconds", "Time to persist a block (Commit: one LMDB "
            "transaction).", buckets=BLOCK_SECONDS, registry=reg)
        self.block_txs = Histogram(
            f"{PREFIX}_block_transactions", "Transactions per block.", buckets=BLOCK_TXS,
            registry=reg)
        self.txs = Counter(f"{PREFIX}_transactions", "Transactions in executed blocks "
                           "(including those execution refused).", registry=reg)
        self.checks = _CheckCounts()
        reg.register(self.checks)
        reg.register(_ThreadCpu())
        self._block_time = 0.0
        self.last_block_time = 0.0  # header time of the newest block committed (Unix s)

    # --- the ABCI application's observer (consensus thread) ---------------------------

    def checked(self, code: int) -> None:
        """One first CheckTx answered with `code` (0: accepted)."""
        self.checks.by_code[code if 0 <= code < MAX_CODE else MAX_CODE] += 1

    def finalized(self, height: int, txs: int, time_ns: int, seconds: float) -> None:
        """A block executed (not yet committed)."""
        self.block_seconds.observe(seconds)
        self.block_txs.observe(txs)
        self.txs.inc(txs)
        self._block_time = time_ns / 1e9

    def committed(self, seconds: float) -> None:
        self.commit_seconds.observe(seconds)
        self.last_block_time = self._block_time


def exported_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name a registry can export (a counter's `_total`, a histogram's
    `_bucket`, `_sum` and `_count`), whether or not it has samples yet: what dashboards and
    alert rules may use."""
    suffixes = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"),
                "summary": ("_sum", "_count", "")}
    return {family.name + suffix for family in registry.collect()
            for suffix in suffixes.get(family.type, ("",))}


def route_label(scope: Scope, routes: Sequence[BaseRoute] = ()) -> str:
    """A bounded label for an HTTP request: its method and route template ("POST /" for
    JSON-RPC), or "other" when no route matches. A request refused before routing (401,
    403, 429) is matched against `routes` here."""
    method = scope.get("method", "")
    if method not in HTTP_METHODS:
        return OTHER
    route = scope.get("route")
    if route is None:
        route = next((r for r in routes if r.matches(scope)[0] is not Match.NONE), None)
    path = getattr(route, "path", None)
    return f"{method} {path}" if isinstance(path, str) else OTHER


class RequestMetrics:
    """ASGI middleware: counts and times every HTTP request by route and status
    (WebSockets are counted at scrape time, their calls by the dispatcher)."""

    def __init__(self, app: ASGIApp, metrics: ApiMetrics,
                 routes: Sequence[BaseRoute] = ()) -> None:
        self.app = app
        self.metrics = metrics
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = route_label(scope, self.routes)
            self.metrics.http_requests.labels(route, str(status)).inc()
            self.metrics.http_seconds.labels(route).observe(time.perf_counter() - started)


def instrument(app: Starlette, metrics: ApiMetrics) -> None:
    """Give an API app (`consortium.api.app.create_app`) its metrics: `GET /metrics`,
    request counts and latency, and the JSON-RPC dispatcher's calls."""

    async def serve_metrics(_: Request) -> Response:
        body = await anyio.to_thread.run_sync(metrics.exposition)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    app.router.routes.insert(0, Route("/metrics", serve_metrics, methods=["GET"]))
    app.add_middleware(RequestMetrics, metrics=metrics, routes=app.router.routes)
    app.state.jsonrpc.on_calls = metrics.rpc_calls
    metrics.hub = app.state.hub
    app.state.metrics = metrics
