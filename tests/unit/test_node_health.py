"""`consortium status`'s health figures (`consortium.network.health`) from an engine's RPC
and a node's /metrics, served by a small HTTP server with CometBFT's and the node's answer
shapes; broken answers leave figures unknown, never fail the command. A node's /metrics is
read where its API is (https with TLS, its configured host), with the token and CA of
CONSORTIUM_API_TOKEN and CONSORTIUM_API_CA."""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from consortium.errors import ConfigError
from consortium.network.health import NodeHealth, engine_health, metrics_health, node_health
from consortium.network.layout import NodeEntry
from consortium.network.supervisor import NodeStatus
from consortium.network.tls import make_ca, make_cert


@contextmanager
def serving(pages: dict[str, bytes], tls: tuple[Path, Path] | None = None,
            token: str | None = None) -> Iterator[str]:
    """An HTTP server answering GET PATH with pages[PATH] (query ignored), else 404; over
    HTTPS with `tls` (certificate, key); 401 without `token` as bearer token, if given."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            body = pages.get(self.path.split("?")[0])
            if token is not None and self.headers.get("Authorization") != f"Bearer {token}":
                body = None
                self.send_response(401)
            else:
                self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*tls)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{server.server_address[1]}"
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


METRICS = (b'# TYPE consortium_checktx_refused_total counter\n'
           b'consortium_checktx_refused_total{reason="nonce_too_low"} 4.0\n'
           b'# TYPE consortium_lmdb_size_bytes gauge\nconsortium_lmdb_size_bytes 8192.0\n'
           b'# TYPE consortium_snapshot_height gauge\nconsortium_snapshot_height 2000.0\n')


@pytest.fixture
def node_tls(tmp_path: Path) -> tuple[Path, tuple[Path, Path]]:
    """A consortium CA's certificate, and a node certificate (cert, key) for 127.0.0.1."""
    _, ca_pem = make_ca(tmp_path / "ca")
    key, cert = make_cert(tmp_path / "ca", "node0", ["127.0.0.1"], tmp_path / "tls")
    return ca_pem, (cert, key)


def test_metrics_over_tls_with_the_token_and_ca_of_the_environment(
        node_tls: tuple[Path, tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch) -> None:
    ca_pem, tls = node_tls
    with serving({"/metrics": METRICS}, tls, token="cst_secret") as url:
        monkeypatch.setenv("CONSORTIUM_API_TOKEN", "cst_secret")
        monkeypatch.setenv("CONSORTIUM_API_CA", str(ca_pem))
        health = NodeHealth()
        metrics_health(url, health)
        assert (health.refused, health.lmdb_bytes, health.snapshot_height) == (4, 8192, 2000)
        # the system's CAs do not know the consortium's: the figures stay unknown
        monkeypatch.delenv("CONSORTIUM_API_CA")
        health = NodeHealth()
        metrics_health(url, health)
        assert health == NodeHealth()
        # the CA, but no token: refused, unknown
        monkeypatch.setenv("CONSORTIUM_API_CA", str(ca_pem))
        monkeypatch.delenv("CONSORTIUM_API_TOKEN")
        metrics_health(url, health)
        assert health == NodeHealth()


def test_a_ca_that_does_not_exist_or_load_is_named(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from consortium.network.health import Credentials

    monkeypatch.setenv("CONSORTIUM_API_CA", str(tmp_path / "nope.pem"))
    with pytest.raises(ConfigError, match=r"CONSORTIUM_API_CA: the CA certificate .*nope\.pem "
                       "does not exist"):
        Credentials.from_env()
    (tmp_path / "notes.txt").write_text("not a certificate\n")
    monkeypatch.setenv("CONSORTIUM_API_CA", str(tmp_path / "notes.txt"))
    with pytest.raises(ConfigError, match="notes.txt is not a PEM CA certificate"):
        Credentials.from_env()


def test_a_nodes_health_reads_the_api_where_it_is(
        node_tls: tuple[Path, tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Its API's URL as `status` found it (https, its configured host), not the layout's
    http://127.0.0.1:<api port>, which a node serving TLS does not answer."""
    ca_pem, tls = node_tls
    monkeypatch.setenv("CONSORTIUM_API_CA", str(ca_pem))
    engine = {"/num_unconfirmed_txs": _result({"total": "0"}),
              "/blockchain": _result({"block_metas": [_meta(7, 1, 0)]})}
    with serving(engine) as rpc, serving({"/metrics": METRICS}, tls) as api:
        rpc_port, api_port = int(rpc.rsplit(":", 1)[1]), int(api.rsplit(":", 1)[1])
        node = NodeEntry("node0", "Bank A", "nodes/node0", "6b45" * 10, "", 0, rpc_port,
                         api_port)
        assert node.api_url == api.replace("https:", "http:")  # the layout's: no TLS
        status = NodeStatus("node0", "Bank A", True, height=7, api_url=api)
        health = node_health(node, status, top=9)
    assert (health.behind, health.mempool) == (2, 0)
    assert (health.refused, health.lmdb_bytes, health.snapshot_height) == (4, 8192, 2000)
