"""The node's Prometheus metrics: what the ABCI application and the API count, what is read
at scrape time, how /metrics is served (and guarded by auth), and the `[metrics]` config.
Every figure is read back through the Prometheus text parser, as a scraper would."""

from __future__ import annotations

import hashlib
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from consortium.abci.protocol import types_pb2
from consortium.api.app import create_app
from consortium.api.auth import TokenCheck, TokenFile
from consortium.api.jsonrpc import method_names
from consortium.api.metrics import NodeMetrics, refusal_reasons, thread_label
from consortium.api.metrics_probe import EngineView, node_metrics, parse_block_time
from consortium.errors import ConfigError, NetworkError
from consortium.ledger.application import ConsortiumApp
from consortium.network.init import port_free
from consortium.network.node_config import NodeConfig
from tests.support.jsonrpc_testkit import StubEngine
from tests.support.ledger_testkit import KEYS, new_ledger, sign

pytestmark = pytest.mark.timeout(120)


def samples(text: str | bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of an exposition, by (name, sorted labels)."""
    if isinstance(text, bytes):
        text = text.decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def value(found: dict[Any, float], name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


def test_refusal_reasons_name_the_protocol_errors() -> None:
    reasons = refusal_reasons()
    assert reasons[6] == "nonce_too_low"
    assert reasons[7] == "nonce_too_high"
    assert reasons[8] == "not_permitted"
    assert reasons[11] == "insufficient_funds"
    assert reasons[4] == "wrong_chain_id"
    assert reasons[1] == "internal"
    assert len(set(reasons.values())) == len(reasons)  # one label per code


def test_blocks_and_checktx_are_counted_by_the_abci_application(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path / "ledger")
    metrics = NodeMetrics("node0", rpc_methods=method_names())
    app = ConsortiumApp(ledger)
    app.observer = metrics
    try:
        good = sign(KEYS[0], nonce=0, to=KEYS[1].address, value=1, gas=21_000)
        stale = sign(KEYS[0], nonce=0, to=KEYS[1].address, value=2, gas=21_000)
        ahead = sign(KEYS[1], nonce=5, to=KEYS[0].address, value=1, gas=21_000)
        outsider = sign(KEYS[3], nonce=0, to=KEYS[0].address, value=1, gas=21_000)
        for raw in (good, stale, ahead, outsider):
            app.check_tx(types_pb2.RequestCheckTx(tx=raw, type=types_pb2.NEW))
        app.check_tx(types_pb2.RequestCheckTx(tx=good, type=types_pb2.RECHECK))  # not counted
        block_hash = hashlib.sha256(b"block 1").digest()
        app.finalize_block(types_pb2.RequestFinalizeBlock(
            txs=[good], height=1, hash=block_hash, time={"seconds": 1_800_000_000}))
        app.commit(types_pb2.RequestCommit())
        found = samples(metrics.exposition())
    finally:
        ledger.close()
    assert value(found, "consortium_checktx_accepted_total") == 1
    assert value(found, "consortium_checktx_refused_total", reason="nonce_too_low") == 1
    assert value(found, "consortium_checktx_refused_total", reason="nonce_too_high") == 1
    assert value(found, "consortium_checktx_refused_total", reason="not_permitted") == 1
    assert value(found, "consortium_checktx_refused_total", reason="insufficient_funds") == 0
    assert value(found, "consortium_transactions_total") == 1
    assert value(found, "consortium_block_execution_seconds_count") == 1
    assert value(found, "consortium_block_commit_seconds_count") == 1
    assert value(found, "consortium_block_transactions_bucket", le="1.0") == 1
    assert value(found, "consortium_block_transactions_bucket", le="0.0") == 0
    assert metrics.last_block_time == 1_800_000_000


def test_rpc_calls_are_counted_by_method_and_status_with_bounded_labels() -> None:
    metrics = NodeMetrics("node0", rpc_methods={"eth_blockNumber", "eth_call"})
    ok = {"jsonrpc": "2.0", "id": 1, "result": "0x1"}
    err = {"jsonrpc": "2.0", "id": 2, "error": {"code": -32000, "message": "no"}}
    metrics.rpc_calls([{"method": "eth_blockNumber"}], [ok], 0.002)
    metrics.rpc_calls([{"method": "eth_blockNumber"}, {"method": "eth_call"},
                       {"method": "made_up_1"}, {"method": ["not", "a", "name"]}, 7],
                      [ok, err, err, err, err], 0.01)
    metrics.rpc_calls([{"method": "eth_call"}], None, 0.0)  # refused whole (429)
    found = samples(metrics.exposition())
    assert value(found, "consortium_rpc_calls_total", method="eth_blockNumber",
                 status="ok") == 2
    assert value(found, "consortium_rpc_calls_total", method="eth_call", status="error") == 1
    assert value(found, "consortium_rpc_calls_total", method="eth_call", status="refused") == 1
    assert value(found, "consortium_rpc_calls_total", method="other", status="error") == 3
    assert value(found, "consortium_rpc_seconds_count", method="eth_blockNumber") == 1
    assert value(found, "consortium_rpc_seconds_count", method="batch") == 1
    assert value(found, "consortium_rpc_seconds_count", method="eth_call") == 1
    methods = {dict(labels).get("method") for (name, labels) in found
               if name == "consortium_rpc_calls_total"}
    assert methods == {"eth_blockNumber", "eth_call", "other"}


class _Api:
    """A node's API over a real ledger, with its metrics, in a TestClient."""

    def __init__(self, path: Path, *, home: Path | None = None) -> None:
        self.ledger = new_ledger(path / "ledger")
        self.engine = StubEngine(self.ledger)
        self.metrics = node_metrics("node0", self.ledger, None, path / "snapshots")
        self.app = create_app(self.ledger, self.engine.url, node_name="node0",
                              tokens=TokenCheck(home) if home else None, metrics=self.metrics)
        self.client = TestClient(self.app)

    def close(self) -> None:
        self.client.close()
        self.engine.close()
        self.ledger.close()


def test_the_api_serves_its_metrics_and_counts_its_requests(tmp_path: Path) -> None:
    api = _Api(tmp_path)
    try:
        with api.client:
            for _ in range(3):
                answer = api.client.post("/", json={"jsonrpc": "2.0", "id": 1,
                                                    "method": "eth_blockNumber"})
                assert answer.json()["result"] == "0x0"
            api.client.post("/", json=[{"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"},
                                       {"jsonrpc": "2.0", "id": 2, "method": "no_such"}])
            assert api.client.get("/api/v1/blocks/0").status_code in (200, 404)
            assert api.client.get("/nowhere/12345").status_code == 404
            scraped = api.client.get("/metrics")
            assert scraped.status_code == 200
            assert scraped.headers["content-type"].startswith("text/plain")
            found = samples(scraped.text)
    finally:
        api.close()
    assert value(found, "consortium_rpc_calls_total", method="eth_blockNumber",
                 status="ok") == 3
    assert value(found, "consortium_rpc_calls_total", method="eth_chainId", status="ok") == 1
    assert value(found, "consortium_rpc_calls_total", method="other", status="error") == 1
    assert value(found, "consortium_rpc_seconds_count", method="eth_blockNumber") == 3
    assert value(found, "consortium_http_requests_total", route="POST /", status="200") == 4
    routes = {dict(labels)["route"] for (name, labels) in found
              if name == "consortium_http_requests_total"}
    assert "GET /api/v1/blocks/{ident}" in routes  # the template, not the block asked for
    assert value(found, "consortium_http_requests_total", route="other", status="404") == 1
    assert not any("12345" in r for r in routes)
    # read at scrape time: the ledger's height and files, the snapshot folder
    assert value(found, "consortium_height") == 0
    assert value(found, "consortium_lmdb_size_bytes") > 0
    assert value(found, "consortium_lmdb_map_size_bytes") >= value(
        found, "consortium_lmdb_size_bytes")
    assert value(found, "consortium_disk_free_bytes") > 0
    assert value(found, "consortium_snapshot_height") == 0
    assert value(found, "consortium_websocket_subscriptions") == 0
    assert value(found, "consortium_node_info", node="node0", engine=api.ledger.engine,
                 version=__import__("consortium").__version__) == 1


def test_metrics_need_a_read_credential_when_auth_is_on(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    read = TokenFile(home).create("grafana", "read")
    api = _Api(tmp_path, home=home)
    try:
        with api.client:
            refused = api.client.get("/metrics")
            assert refused.status_code == 401
            allowed = api.client.get("/metrics", headers={"Authorization": f"Bearer {read}"})
            assert allowed.status_code == 200
            found = samples(allowed.text)
    finally:
        api.close()
    assert value(found, "consortium_http_requests_total", route="GET /metrics",
                 status="401") == 1


def test_two_nodes_in_one_process_keep_their_own_figures() -> None:
    a = NodeMetrics("a", rpc_methods={"eth_chainId"})
    b = NodeMetrics("b", rpc_methods={"eth_chainId"})
    a.checked(0)
    a.rpc_calls([{"method": "eth_chainId"}], [{"result": "0x1"}], 0.001)
    assert value(samples(a.exposition()), "consortium_checktx_accepted_total") == 1
    found_b = samples(b.exposition())
    assert value(found_b, "consortium_checktx_accepted_total") == 0
    assert value(found_b, "consortium_rpc_calls_total", method="eth_chainId", status="ok") == 0


class _FakeCometRpc:
    """CometBFT's JSON-RPC answers to the probe's batch (status, net_info,
    num_unconfirmed_txs), counting the requests."""

    def __init__(self) -> None:
        self.requests = 0
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                fake.requests += 1
                self.rfile.read(int(self.headers["Content-Length"]))
                body = (b'[{"jsonrpc":"2.0","id":0,"result":{"sync_info":{"catching_up":true,'
                        b'"latest_block_height":"7","latest_block_time":'
                        b'"2026-12-05T04:23:15.123456789Z"}}},'
                        b'{"jsonrpc":"2.0","id":1,"result":{"n_peers":"3"}},'
                        b'{"jsonrpc":"2.0","id":2,"result":{"n_txs":"2","total":"5",'
                        b'"total_bytes":"900"}}]')
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_engine_figures_are_read_in_one_batch_and_cached() -> None:
    fake = _FakeCometRpc()
    try:
        view = EngineView(fake.url, cache_seconds=60)
        first = view.read()
        assert view.read() == first
        assert fake.requests == 1
    finally:
        fake.close()
    assert first["peers"] == 3
    assert first["catching_up"] == 1
    assert first["mempool_txs"] == 5
    assert first["mempool_bytes"] == 900
    assert first["block_time"] == pytest.approx(parse_block_time("2026-12-05T04:23:15.123456Z"))
    assert EngineView(fake.url).read() == {}  # the engine is gone: no figures, no error


def test_block_time_keeps_cometbft_nanoseconds() -> None:
    assert parse_block_time("1970-01-01T00:00:01.5Z") == 1.5
    assert parse_block_time("1970-01-01T00:00:02Z") == 2.0
    assert parse_block_time("2026-12-05T04:23:15.123456789Z") % 1 == pytest.approx(0.123456789)


def test_metrics_listen_is_checked_and_serves_the_registry(tmp_path: Path) -> None:
    home = tmp_path
    base = '[node]\nname = "node0"\nmember = "Bank A"\n\n[api]\nport = 8545\n'
    (home / "consortium.toml").write_text(base)
    assert NodeConfig.load(home).metrics_listen is None
    for bad in ('"9464"', '"host:"', '"127.0.0.1:70000"', "9464"):
        (home / "consortium.toml").write_text(base + f"\n[metrics]\nlisten = {bad}\n")
        with pytest.raises(ConfigError, match="metrics.listen must look like"):
            NodeConfig.load(home)
    port = next(p for p in range(29464, 29564) if port_free(p))
    (home / "consortium.toml").write_text(base + f'\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
    assert NodeConfig.load(home).metrics_listen == ("127.0.0.1", port)
    metrics = NodeMetrics("node0")
    metrics.checked(0)
    stop = metrics.serve("127.0.0.1", port)
    try:
        found = samples(httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text)
    finally:
        stop()
    assert value(found, "consortium_checktx_accepted_total") == 1
    assert port_free(port)


def test_a_metrics_port_that_cannot_be_opened_is_one_clear_error() -> None:
    metrics = NodeMetrics("node0")
    with pytest.raises(NetworkError, match="metrics.listen 192.0.2.1:9464 cannot be opened"):
        metrics.serve("192.0.2.1", 9464)  # an address this host does not have


def _thread_cpu(metrics: NodeMetrics) -> dict[str, float]:
    text = metrics.exposition().decode()
    return {s.labels["thread"]: s.value for f in text_string_to_metric_families(text)
            if f.name == "consortium_thread_cpu_seconds" for s in f.samples
            if s.name.endswith("_total")}


def test_thread_cpu_is_counted_by_thread_name_and_survives_the_thread() -> None:
    assert thread_label("abci-call_0") == "abci-call" and thread_label("asyncio_12") == "asyncio"
    assert thread_label("AnyIO worker thread") == "AnyIO worker thread"
    metrics = NodeMetrics("n")
    go, stop = threading.Event(), threading.Event()

    def burn() -> None:
        go.wait()
        while not stop.is_set():
            sum(range(1000))

    pool = [threading.Thread(target=burn, name=f"burner_{i}") for i in range(2)]
    for t in pool:
        t.start()
    before = _thread_cpu(metrics)
    assert before["burner"] == pytest.approx(0.0, abs=0.05)  # two threads, one label
    go.set()
    deadline = time.monotonic() + 10
    while _thread_cpu(metrics)["burner"] < 0.2:  # the threads share the GIL: ~0.5 s
        assert time.monotonic() < deadline, "the burners' CPU was never counted"
        time.sleep(0.05)
    stop.set()
    for t in pool:
        t.join()
    during = _thread_cpu(metrics)["burner"]
    after = _thread_cpu(metrics)  # the threads ended: their time stays
    assert after["burner"] >= during >= 0.2
    assert "MainThread" in after


def test_an_api_in_its_own_process_serves_the_nodes_families_with_its_own(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """`[api] process = "own"`: the API's process counts its requests and JSON-RPC calls,
    and adds every other family as its node counts it, read over the node's metrics socket
    at each scrape — one family a name, the API's own counts winning over the node's
    zeros; without the node, its own alone."""
    import asyncio

    from consortium.api.metrics_probe import api_metrics
    from consortium.api.metrics_relay import serve_node_metrics

    ledger = new_ledger(tmp_path / "ledger")
    node = node_metrics("node0", ledger, None, tmp_path / "snapshots")
    node.finalized(7, 3, 1_700_000_000 * 10**9, 0.02)
    node.checked(0)
    node.rpc_calls([{"method": "eth_chainId"}], [{"result": "0x1"}], 0.001)  # not the API's
    socket_path = tmp_path / "metrics.sock"
    api = api_metrics(socket_path)
    api.rpc_calls([{"method": "eth_sendRawTransaction"}] * 2, [{"result": "0x"}] * 2, 0.002)

    async def scrape_while_served() -> bytes:
        server = await serve_node_metrics(socket_path, node.exposition)
        try:
            assert socket_path.stat().st_mode & 0o777 == 0o600
            return await asyncio.to_thread(api.exposition)
        finally:
            server.close()
            await server.wait_closed()

    try:
        text = asyncio.run(scrape_while_served()).decode()
    finally:
        ledger.close()
    names = [f.name for f in text_string_to_metric_families(text)]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    got = samples(text)
    assert got[("consortium_transactions_total", ())] == 3  # the node's
    assert got[("consortium_checktx_accepted_total", ())] == 1
    assert ("consortium_height", ()) in got and ("consortium_lmdb_size_bytes", ()) in got
    calls = {k: v for k, v in got.items() if k[0] == "consortium_rpc_calls_total"}
    assert calls == {("consortium_rpc_calls_total",
                      (("method", "eth_sendRawTransaction"), ("status", "ok"))): 2}
    assert sum(1 for n in names if n == "consortium_node_info") == 1

    socket_path.unlink(missing_ok=True)  # the node gone: the API's own families, a warning
    alone = samples(api.exposition())
    assert ("consortium_transactions_total", ()) not in alone
    assert alone[("consortium_rpc_calls_total",
                  (("method", "eth_sendRawTransaction"), ("status", "ok")))] == 2
    assert "the node's metrics cannot be read" in caplog.text
