"""`consortium status`'s health figures (`consortium.network.health`) from an engine's RPC
and a node's /metrics, served by a small HTTP server with CometBFT's and the node's answer
shapes; broken answers leave figures unknown, never fail the command."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from consortium.network.health import NodeHealth, engine_health, metrics_health


@contextmanager
def serving(pages: dict[str, bytes]) -> Iterator[str]:
    """An HTTP server answering GET PATH with pages[PATH] (query ignored), else 404."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = pages.get(self.path.split("?")[0])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _result(value: Any) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": -1, "result": value}).encode()


def _meta(height: int, seconds: int, txs: int) -> dict[str, Any]:
    return {"header": {"height": str(height), "time": f"2026-01-01T00:00:{seconds:02d}.5Z"},
            "num_txs": str(txs)}


def test_block_age_mempool_and_recent_rate_come_from_the_engine() -> None:
    pages = {"/num_unconfirmed_txs": _result({"n_txs": "4", "total": "12", "total_bytes": "9"}),
             "/blockchain": _result({"last_height": "12", "block_metas": [
                 _meta(12, 20, 300), _meta(11, 10, 100), _meta(10, 0, 999)]})}
    with serving(pages) as url:
        start = 1767225600.5  # 2026-01-01T00:00:00.5Z
        health = engine_health(url, 12, now=start + 23)
    assert health.mempool == 12
    assert health.last_block_age_s == 3.0
    assert health.tx_per_s == 20.0  # 400 transactions in the 20 s after the oldest block


def test_broken_engine_answers_leave_the_figures_unknown() -> None:
    pages = {"/num_unconfirmed_txs": _result({"total": "1"}),
             "/blockchain": _result({"block_metas": [{"header": {"height": "1",
                                                                 "time": "yesterday"}}]})}
    with serving(pages) as url:
        assert engine_health(url, 1) == NodeHealth(mempool=1)  # what did parse is kept
    with serving({}) as url:
        assert engine_health(url, 1) == NodeHealth()


def test_refusals_lmdb_and_snapshot_come_from_the_nodes_metrics() -> None:
    text = (b'# TYPE consortium_checktx_refused_total counter\n'
            b'consortium_checktx_refused_total{reason="nonce_too_low"} 3.0\n'
            b'consortium_checktx_refused_total{reason="not_permitted"} 2.0\n'
            b'# TYPE consortium_lmdb_size_bytes gauge\nconsortium_lmdb_size_bytes 4096.0\n'
            b'# TYPE consortium_snapshot_height gauge\nconsortium_snapshot_height 1000.0\n')
    health = NodeHealth()
    with serving({"/metrics": text}) as url:
        metrics_health(url, health)
    assert (health.refused, health.lmdb_bytes, health.snapshot_height) == (5, 4096, 1000)
    for pages in ({"/metrics": b"<html>a proxy's page {{</html>"}, {}):  # not metrics; 404
        health = NodeHealth()
        with serving(pages) as url:
            metrics_health(url, health)
        assert health == NodeHealth()
