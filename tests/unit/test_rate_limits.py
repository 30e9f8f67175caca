"""What one client address and one credential may ask of the API: request rates (token
buckets, 429 with Retry-After and -32005 before anything runs), batch and body sizes,
WebSockets and subscriptions per credential — against a real uvicorn server over a real
ledger (`test_api_auth.serving`), and the `[api]` keys that set them."""

from __future__ import annotations

import json
import time
from contextlib import AbstractContextManager as ContextManager
from pathlib import Path

import httpx
import pytest
from test_api_auth import Server, call, node_home, serving
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from consortium.api.auth import TokenFile
from consortium.api.rate_limits import ClientLimits, TokenBuckets
from consortium.errors import ConfigError
from consortium.network.node_config import NodeConfig

pytestmark = pytest.mark.timeout(120)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_its_burst_then_its_rate() -> None:
    clock = Clock()
    buckets = TokenBuckets(10, 2.0, clock)  # 10/s, holds 20
    assert all(buckets.take("a") == 0 for _ in range(20))
    assert buckets.take("a") == pytest.approx(0.1)  # the 21st waits a tenth of a second
    assert buckets.take("b") == 0  # another key has its own bucket
    clock.now += 0.5  # 5 tokens back
    assert buckets.take("a", 5) == 0 and buckets.take("a") > 0
    clock.now += 100  # refills to its capacity, not beyond
    assert buckets.take("a", 20) == 0 and buckets.take("a") > 0
    assert buckets.take("a", 1000) == pytest.approx(2.0)  # a batch over capacity: a full one
    assert TokenBuckets(0, 2.0, clock).take("a", 10**6) == 0  # rate 0: no limit


def with_tokens(tmp_path: Path, limits: ClientLimits, *names: str
                ) -> tuple[ContextManager[Server], list[str]]:
    """A server with token auth, and a read token of each name."""
    home = node_home(tmp_path)
    tokens = TokenFile(home)
    return (serving(tmp_path, home=home, client_limits=limits),
            [tokens.create(name, "read") for name in names])


def test_a_credential_over_its_rate_is_refused_whole_with_retry_after(tmp_path: Path) -> None:
    limits = ClientLimits(requests_per_second_per_credential=1, rate_burst_seconds=5.0)
    server_cm, (first, second) = with_tokens(tmp_path, limits, "app-1", "app-2")
    with server_cm as server:
        started = time.monotonic()
        batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(4)]
        ok = httpx.post(server.url, json=batch, timeout=10,
                        headers={"Authorization": f"Bearer {first}"})
        assert ok.status_code == 200 and len(ok.json()) == 4  # a batch counts each call
        answered = 4
        while (refused := call(server.url, "eth_blockNumber", token=first)).status_code == 200:
            answered += 1
            assert answered <= 20, "the credential's rate is not enforced"
        # the burst holds 5; a loaded machine may have refilled a few at 1/s meanwhile
        assert 5 <= answered <= 6 + time.monotonic() - started
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) >= 1
        error = refused.json()["error"]
        assert error["code"] == -32005 and "token:app-1" in error["message"]
        assert refused.json()["id"] == 7
        # REST reads count too, and another credential has its own bucket
        rest = httpx.get(server.url + "api/v1/governance/members", timeout=10,
                         headers={"Authorization": f"Bearer {first}"})
        assert rest.status_code == 429 and rest.json()["error"]["code"] == -32005
        assert call(server.url, "eth_chainId", token=second).status_code == 200
        assert httpx.get(server.url + "health", timeout=10).status_code == 200  # never limited


def test_a_client_address_over_its_rate_is_refused(tmp_path: Path) -> None:
    limits = ClientLimits(requests_per_second_per_client=1, rate_burst_seconds=3.0,
                          rate_limit_loopback=True)
    with serving(tmp_path, client_limits=limits) as server:
        assert [call(server.url, "eth_chainId").status_code for _ in range(3)] == [200] * 3
        refused = call(server.url, "eth_chainId")
        assert refused.status_code == 429
        assert "too many requests from 127.0.0.1" in refused.json()["error"]["message"]
    # loopback is the node's own host: not limited by address unless asked
    with serving(tmp_path / "2", client_limits=ClientLimits(
            requests_per_second_per_client=1, rate_burst_seconds=1.0)) as server:
        assert {call(server.url, "eth_chainId").status_code for _ in range(5)} == {200}


def test_batch_and_body_sizes_are_bounded(tmp_path: Path) -> None:
    limits = ClientLimits(max_batch=10, max_body_bytes=4000)
    with serving(tmp_path, client_limits=limits) as server:
        batch = [{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"} for i in range(11)]
        over = httpx.post(server.url, json=batch, timeout=10).json()
        assert over["error"]["code"] == -32600 and "limit of 10" in over["error"]["message"]
        assert len(httpx.post(server.url, json=batch[:10], timeout=10).json()) == 10
        big = httpx.post(server.url, content=b"[" + b" " * 5000 + b"]", timeout=10)
        assert big.status_code == 413 and "over 4000 bytes" in big.json()["error"]["message"]


def test_websockets_and_subscriptions_per_credential(tmp_path: Path) -> None:
    limits = ClientLimits(max_websockets_per_credential=2, max_subscriptions_per_credential=3)
    server_cm, (token, other) = with_tokens(tmp_path, limits, "watcher", "other")
    with server_cm as server:
        ws_url = server.url.replace("http", "ws", 1)
        auth = {"Authorization": f"Bearer {token}"}
        with connect(ws_url, additional_headers=auth) as one, \
                connect(ws_url, additional_headers=auth) as two:
            with pytest.raises(InvalidStatus) as refused:
                connect(ws_url, additional_headers=auth)
            assert refused.value.response.status_code == 429
            assert b"limit 2" in refused.value.response.body

            def subscribe(ws: object) -> dict[str, object]:
                ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe",  # type: ignore[attr-defined]
                                    "params": ["newHeads"]}))
                return json.loads(ws.recv(timeout=10))  # type: ignore[attr-defined]

            assert "result" in subscribe(one) and "result" in subscribe(one)
            assert "result" in subscribe(two)
            fourth = subscribe(two)  # over both connections: 3 in all
            assert "3 subscriptions per credential" in fourth["error"]["message"]
            with connect(ws_url, additional_headers={"Authorization": f"Bearer {other}"}) as o:
                assert "result" in subscribe(o)  # another credential is not affected
        # closed connections give their places back
        with connect(ws_url, additional_headers=auth) as again:
            assert "result" in subscribe(again)


def test_the_limits_are_api_keys(tmp_path: Path) -> None:
    for sub in ("d", "max_batc", "rate_lim", "max_body"):
        (tmp_path / sub).mkdir()
    home = node_home(tmp_path, "requests_per_second_per_client = 0\nmax_batch = 50\n"
                                "rate_limit_loopback = true\nrate_burst_seconds = 0.5\n")
    limits = NodeConfig.load(home).client_limits
    assert (limits.requests_per_second_per_client, limits.max_batch,
            limits.rate_limit_loopback, limits.rate_burst_seconds) == (0, 50, True, 0.5)
    assert NodeConfig.load(node_home(tmp_path / "d")).client_limits == ClientLimits()
    for bad, says in [("max_batch = 0", "api.max_batch must be an integer of at least 1"),
                      ("rate_limit_loopback = 1", "api.rate_limit_loopback must be true or"),
                      ("max_body_bytes = \"big\"", "api.max_body_bytes must be an integer")]:
        with pytest.raises(ConfigError, match=says):
            NodeConfig.load(node_home(tmp_path / bad[:8], bad + "\n"))
