"""What a slow, silent, greedy or vanished client can hold of a node's API server, against a
real uvicorn server (`consortium.api.http_server.api_server`) on a free port, serving the
node's app over a real ledger; and strict JSON on the wire (NaN, Infinity, big integers).

Timeouts are set short here (1-2 s) so the tests are quick; every wait is a condition with a
deadline, loose enough for a loaded machine."""

from __future__ import annotations

import asyncio
import json
import logging
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from consortium.api.app import create_app
from consortium.api.http_server import ApiLimits, api_server
from consortium.errors import ConfigError
from consortium.network.node_config import NodeConfig
from tests.support.jsonrpc_testkit import StubEngine
from tests.support.ledger_testkit import new_ledger, run_block

pytestmark = pytest.mark.timeout(180)

OTHER_CLIENT = "127.0.0.2"  # Linux routes all of 127/8 to lo: a second client address


class Records(logging.Handler):
    """Every log record at INFO or above, from any logger (uvicorn's do not propagate)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def lines(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.records]


class Server:
    """The node's API app (ledger, stub engine) served by `api_server` in a thread."""

    def __init__(self, path: Path, limits: ApiLimits) -> None:
        self.ledger = new_ledger(path)
        self.engine = StubEngine(self.ledger)
        self.app = create_app(self.ledger, self.engine.url, node_name="test-node")
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}/"
        self.server = api_server(self.app, "127.0.0.1", self.port, limits)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)

    @property
    def hub(self) -> Any:
        return self.app.state.hub

    def start(self) -> None:
        self.thread.start()
        wait_for(lambda: self.server.started, 30, "the server to start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()
        self.engine.close()
        self.ledger.close()


@contextmanager
def serving(path: Path, **limits: Any) -> Iterator[tuple[Server, Records]]:
    records = Records()
    loggers = [logging.getLogger(), logging.getLogger("uvicorn"), logging.getLogger("asyncio")]
    for lg in loggers:
        lg.addHandler(records)
    server = Server(path, ApiLimits(**limits))
    try:
        server.start()
        yield server, records
    finally:
        server.stop()
        for lg in loggers:
            lg.removeHandler(records)


def wait_for(cond: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def rpc(url: str, method: str, *params: Any, source: str = OTHER_CLIENT,
        timeout: float = 10.0) -> Any:
    """One call from a well-behaved client (another address than the abusive ones)."""
    transport = httpx.HTTPTransport(local_address=source)
    with httpx.Client(transport=transport, timeout=timeout) as client:
        answer = client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                        "params": list(params)})
    return answer.json()


def raw_post(port: int, body: bytes) -> dict[str, Any]:
    """POST a body byte for byte (no client-side JSON encoding) and read the JSON answer."""
    with httpx.Client(timeout=10) as client:
        answer = client.post(f"http://127.0.0.1:{port}/", content=body,
                             headers={"content-type": "application/json"})
    out: dict[str, Any] = answer.json()
    return out


def open_socket(port: int, source: str = "127.0.0.1") -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10,
                                    source_address=(source, 0))
    sock.setblocking(False)
    return sock


def read_until_closed(socks: list[socket.socket], timeout: float) -> dict[socket.socket, bytes]:
    """What each socket receives until the server closes it; raises if any stays open."""
    got = {s: b"" for s in socks}
    by_fd = {s.fileno(): s for s in socks}
    poller = select.poll()
    for fd in by_fd:
        poller.register(fd, select.POLLIN)
    deadline = time.monotonic() + timeout
    while by_fd:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"{len(by_fd)} of {len(socks)} connections still open")
        for fd, _ in poller.poll(min(left, 0.5) * 1000):
            sock = by_fd[fd]
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                got[sock] += chunk
            else:
                poller.unregister(fd)
                del by_fd[fd]
    return got


def get_health(sock: socket.socket) -> bytes:
    """GET /health on a blocking socket, keeping the connection; the whole response."""
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: node\r\n\r\n")
    data = b""
    while not data.endswith(b"}"):
        chunk = sock.recv(65536)
        assert chunk, data
        data += chunk
    return data


def still_open(sock: socket.socket) -> bool:
    poller = select.poll()
    poller.register(sock.fileno(), select.POLLIN)
    if not poller.poll(0):
        return True
    try:
        return bool(sock.recv(65536, socket.MSG_PEEK))
    except ConnectionResetError:
        return False


# --- HTTP: headers, bodies, idle and per-client caps ----------------------------------------


def test_half_sent_requests_are_closed_within_the_header_timeout(tmp_path: Path) -> None:
    with serving(tmp_path, header_timeout=2.0, max_connections_per_client=0) as (srv, _):
        started = time.monotonic()
        socks = [open_socket(srv.port) for _ in range(500)]
        for s in socks:
            s.send(b"POST / HTTP/1.1\r\nHost: node\r\nContent-Le")
        silent = [open_socket(srv.port) for _ in range(20)]  # not even that
        # A normal client is answered at once meanwhile.
        t0 = time.monotonic()
        assert rpc(srv.url, "eth_blockNumber")["result"] == "0x0"
        assert time.monotonic() - t0 < 2.0
        got = read_until_closed(socks + silent, timeout=30)
        elapsed = time.monotonic() - started
        assert elapsed >= 2.0 * 0.9  # closed by the timeout, not at once
        for s in socks:
            assert got[s].startswith(b"HTTP/1.1 408 "), got[s][:80]
            assert b"request headers not received within 2 s" in got[s]
        assert all(got[s] == b"" for s in silent)  # nothing of a request came: just closed
        for s in socks + silent:
            s.close()
        assert rpc(srv.url, "eth_blockNumber")["result"] == "0x0"


def test_a_drip_fed_header_is_cut_at_the_deadline(tmp_path: Path) -> None:
    """Bytes trickling in do not extend the deadline (slowloris)."""
    with serving(tmp_path, header_timeout=1.5) as (srv, _):
        sock = open_socket(srv.port)
        t0 = time.monotonic()
        for piece in (b"GET /health HTTP/1.1\r\n", b"Host: node\r\n", b"X-A: 1\r\n", b"X-B: 2\r\n"):
            if not still_open(sock):
                break
            sock.send(piece)
            time.sleep(0.5)
        got = read_until_closed([sock], timeout=20)[sock]
        assert got.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - t0 < 1.5 + 10
        sock.close()


def test_a_keep_alive_connection_gets_the_header_deadline_for_its_next_request(
        tmp_path: Path) -> None:
    with serving(tmp_path, header_timeout=1.0, keep_alive_timeout=30.0) as (srv, _):
        sock = open_socket(srv.port)
        sock.setblocking(True)
        assert get_health(sock).startswith(b"HTTP/1.1 200 ")
        time.sleep(1.5)  # idle: the keep-alive timeout (30 s) applies, not the header one
        assert still_open(sock)
        sock.send(b"GET /health HTTP/1.1\r\nHo")
        sock.setblocking(False)
        got = read_until_closed([sock], timeout=20)[sock]
        assert got.startswith(b"HTTP/1.1 408 ")
        sock.close()


def _head(size: int, method: bytes = b"GET", path: bytes = b"/health") -> bytes:
    """A request's line and headers of exactly `size` bytes (a padding header fills it)."""
    start = method + b" " + path + b" HTTP/1.1\r\nHost: node\r\nConnection: close\r\nX-Pad: "
    return start + b"a" * (size - len(start) - 4) + b"\r\n\r\n"


def test_headers_over_16_kib_are_refused_with_431_saying_so(tmp_path: Path) -> None:
    """The limit holds however the headers arrive: in one read (100,000 bytes were answered
    200), or in pieces; the request is not run, and other clients are served."""
    with serving(tmp_path) as (srv, _):
        post = b"POST / HTTP/1.1\r\nHost: node\r\nConnection: close\r\nContent-Length: 0\r\n"
        oversized = {
            "exactly one byte over": [_head(16 * 1024 + 1)],
            "in one read": [_head(100_000)],
            "over 150 KB": [_head(150_000)],
            "in pieces": [_head(40_000)[:10_000], _head(40_000)[10_000:]],
            "still incomplete at 20,000 bytes": [_head(40_000)[:20_000]],
            "a JSON-RPC call": [post + b"X-Pad: " + b"a" * 20_000 + b"\r\n\r\n"],
        }
        for how, pieces in oversized.items():
            sock = open_socket(srv.port)
            sock.setblocking(True)
            for piece in pieces:
                sock.sendall(piece)
                time.sleep(0.1)
            sock.setblocking(False)
            got = read_until_closed([sock], timeout=20)[sock]
            sock.close()
            assert got.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"), (
                how, got[:200])
            assert got.endswith(b"\r\n\r\nrequest line and headers over 16 KiB "
                                b"(16384 bytes)\n"), (how, got)
        sock = open_socket(srv.port)  # at the limit: served
        sock.setblocking(True)
        sock.sendall(_head(16 * 1024))
        sock.setblocking(False)
        got = read_until_closed([sock], timeout=20)[sock]
        sock.close()
        assert got.startswith(b"HTTP/1.1 200 ") and b'"ok":true' in got, got[:300]
        assert rpc(srv.url, "eth_blockNumber")["result"] == "0x0"


def test_a_slow_body_is_cut(tmp_path: Path) -> None:
    with serving(tmp_path, body_timeout=1.5) as (srv, records):
        sock = open_socket(srv.port)
        sock.send(b"POST / HTTP/1.1\r\nHost: node\r\nContent-Type: application/json\r\n"
                  b"Content-Length: 1000\r\n\r\n" + b'{"jsonrpc":"2.0",')
        t0 = time.monotonic()
        while still_open(sock) and time.monotonic() - t0 < 1.2:  # a byte now and then
            sock.send(b" ")
            time.sleep(0.3)
        assert rpc(srv.url, "eth_blockNumber")["result"] == "0x0"
        got = read_until_closed([sock], timeout=20)[sock]
        assert got.startswith(b"HTTP/1.1 408 "), got[:80]
        assert b"request body not received within 1.5 s" in got
        sock.close()
        # The app saw a client that left, not an error of its own.
        wait_for(lambda: not srv.server.server_state.tasks, 10, "the request to end")
        assert not [line for line in records.lines() if "Exception" in line], records.lines()


def test_a_client_that_does_not_read_its_answers_is_cut(tmp_path: Path) -> None:
    with serving(tmp_path, write_timeout=1.0, max_connections=3) as (srv, _):
        srv.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # small buffers
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", srv.port))
        for _ in range(100):  # ~3 MB of answers (/openapi.json), pipelined, never read
            sock.sendall(b"GET /openapi.json HTTP/1.1\r\nHost: node\r\n\r\n")
        wait_for(lambda: any(c.flow.write_paused for c in srv.server.server_state.connections),
                 20, "the node's writes to wait on the client")
        stalled = time.monotonic()
        wait_for(lambda: not srv.server.server_state.connections, 20,
                 "the stalled connection to be aborted")
        assert time.monotonic() - stalled >= 1.0 * 0.8
        assert rpc(srv.url, "eth_blockNumber")["result"] == "0x0"
        sock.close()


def test_idle_keep_alive_connections_over_the_cap_are_closed_oldest_first(
        tmp_path: Path) -> None:
    with serving(tmp_path, max_connections=20, keep_alive_timeout=60.0,
                 max_connections_per_client=0) as (srv, _):
        idle = []
        for _ in range(20):
            sock = open_socket(srv.port)
            sock.setblocking(True)
            assert get_health(sock).startswith(b"HTTP/1.1 200 ")
            idle.append(sock)
        newcomers = [open_socket(srv.port) for _ in range(5)]
        closed = read_until_closed(idle[:5], timeout=20)
        assert all(data == b"" for data in closed.values())  # closed quietly, as keep-alive
        assert all(still_open(s) for s in idle[5:])
        # Every slot busy with a half-sent request: the next connection is refused.
        for s in idle[5:] + newcomers:
            s.send(b"GET /health HTTP/1.1\r\n")
        refused = open_socket(srv.port)
        got = read_until_closed([refused], timeout=20)[refused]
        assert got.startswith(b"HTTP/1.1 503 ") and b"too many connections (limit 20)" in got
        for s in idle + newcomers + [refused]:
            s.close()
        wait_for(lambda: not srv.server.server_state.connections, 20, "connections to close")
        assert rpc(srv.url, "eth_blockNumber")["result"] == "0x0"


def test_connections_per_client_address_are_capped(tmp_path: Path) -> None:
    with serving(tmp_path, max_connections_per_client=5) as (srv, _):
        held = [open_socket(srv.port) for _ in range(5)]
        extra = open_socket(srv.port)
        got = read_until_closed([extra], timeout=20)[extra]
        assert got.startswith(b"HTTP/1.1 429 ")
        assert b"too many connections from 127.0.0.1 (limit 5)" in got
        assert rpc(srv.url, "eth_blockNumber")["result"] == "0x0"  # another address
        held[0].close()
        wait_for(lambda: sum(1 for s in srv.server.server_state.connections) <= 4, 20,
                 "the closed connection to be forgotten")
        again = open_socket(srv.port)
        again.setblocking(True)
        assert get_health(again).startswith(b"HTTP/1.1 200 ")
        for s in held + [extra, again]:
            s.close()


# --- strict JSON ------------------------------------------------------------------------------


@pytest.mark.parametrize(("body", "named"), [
    (b'{"jsonrpc":"2.0","id":NaN,"method":"eth_blockNumber"}', "NaN is not JSON"),
    (b'{"jsonrpc":"2.0","id":Infinity,"method":"eth_blockNumber"}', "Infinity is not JSON"),
    (b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[-Infinity]}',
     "-Infinity is not JSON"),
    (b'{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[1e400]}',
     "number 1e400 is out of range"),
    (b'{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber","id":2}', 'duplicate key "id"'),
    (b'{"jsonrpc":"2.0","id":"\\ud800","method":"eth_blockNumber"}', "surrogate"),
    (b'{"jsonrpc":"2.0","id":"\xff","method":"eth_blockNumber"}', "not UTF-8"),
    (b'\xef\xbb\xbf{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"}', "not valid JSON"),
    (b'[{"jsonrpc":"2.0","id":1,"method":"eth_blockNumber"},{"id":NaN}]', "NaN is not JSON"),
])
def test_what_is_not_json_is_a_parse_error(tmp_path: Path, body: bytes, named: str) -> None:
    with serving(tmp_path) as (srv, _):
        answer = raw_post(srv.port, body)
        assert answer["error"]["code"] == -32700 and answer["id"] is None
        assert named in answer["error"]["message"], answer
        with connect(f"ws://127.0.0.1:{srv.port}/") as ws:
            ws.send(body)  # a binary frame: the node reads it as UTF-8 JSON
            over_ws = json.loads(ws.recv(timeout=10))
            assert over_ws["error"]["code"] == -32700


def test_big_integers_stay_exact(tmp_path: Path) -> None:
    big = 2**70 + 1
    with serving(tmp_path) as (srv, _):
        body = f'{{"jsonrpc":"2.0","id":{big},"method":"eth_blockNumber"}}'.encode()
        assert raw_post(srv.port, body) == {"jsonrpc": "2.0", "id": big, "result": "0x0"}
        body = ('{"jsonrpc":"2.0","id":1,"method":"eth_getBlockByNumber",'
                f'"params":[{big},false]}}').encode()
        answer = raw_post(srv.port, body)
        assert answer["error"]["code"] != -32700  # read exactly, then refused as a param


# --- WebSocket ------------------------------------------------------------------------------


def ws_call(ws: ClientConnection, rid: int, method: str, *params: Any) -> None:
    ws.send(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)}))


def test_a_vanished_subscriber_costs_one_log_line_and_leaves_no_subscription(
        tmp_path: Path) -> None:
    with serving(tmp_path) as (srv, records):
        ws = connect(f"ws://127.0.0.1:{srv.port}/", max_size=None, legacy=True)
        for i in range(1000):
            ws_call(ws, i, "eth_subscribe", "newHeads")
        answers = [json.loads(ws.recv(timeout=30)) for _ in range(1000)]
        assert sum("result" in a for a in answers) == 256
        refused = [a["error"] for a in answers if "error" in a]
        assert len(refused) == 744 and refused[0]["code"] == -32005
        assert "at most 256 subscriptions per connection" in refused[0]["message"]
        assert srv.hub.subscription_count == 256
        run_block(srv.ledger, [])
        assert json.loads(ws.recv(timeout=30))["method"] == "eth_subscription"
        # Vanish mid-stream: a reset, no close frame, with notifications still coming.
        before = len(records.records)
        ws.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        ws.socket.close()
        for _ in range(10):
            run_block(srv.ledger, [])
            time.sleep(0.15)
        wait_for(lambda: srv.hub.subscription_count == 0 and not srv.hub.connections, 30,
                 "the vanished client's subscriptions to go")
        lines = [f"{r.name}: {r.getMessage()}" for r in records.records[before:]]
        assert len(lines) <= 1, lines
        assert not [line for line in lines if "socket.send() raised" in line]
        assert rpc(srv.url, "eth_blockNumber")["result"] == "0xb"


def test_a_subscriber_whose_queue_overflows_is_closed_with_1008(tmp_path: Path) -> None:
    with serving(tmp_path, websocket_max_backlog=50) as (srv, records):
        with connect(f"ws://127.0.0.1:{srv.port}/") as ws:
            for i in range(100):
                ws_call(ws, i, "eth_subscribe", "newHeads")
            assert all("result" in json.loads(ws.recv(timeout=30)) for _ in range(100))
            run_block(srv.ledger, [])  # 100 notifications at once: over the backlog of 50
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    ws.recv(timeout=30)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
            assert "backlog" in closed.value.rcvd.reason
        wait_for(lambda: srv.hub.subscription_count == 0 and not srv.hub.connections, 30,
                 "the dropped client's subscriptions to go")
        dropped = [line for line in records.lines() if "dropped" in line]
        assert len(dropped) == 1, records.lines()


def test_a_subscriber_that_stops_reading_is_dropped_at_once(tmp_path: Path) -> None:
    """Its socket buffers fill, the node's writer waits, the backlog overflows: the node
    drops it then (one log line) and closes the connection at once, not after waiting for
    the client to read a close frame it never reads (stock uvicorn: ~40 s, at the ping
    timeout)."""
    with serving(tmp_path, websocket_max_backlog=2000) as (srv, records):
        srv.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)  # small buffers:
        sock = socket.socket()  # the writer blocks after a few blocks, not hundreds
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", srv.port))
        ws = connect(f"ws://127.0.0.1:{srv.port}/", sock=sock, legacy=True)
        for i in range(256):
            ws_call(ws, i, "eth_subscribe", "newHeads")
        wait_for(lambda: srv.hub.subscription_count == 256, 30, "the subscriptions")
        deadline = time.monotonic() + 90
        while srv.hub.connections and time.monotonic() < deadline:
            run_block(srv.ledger, [])  # 256 notifications a block, never read
            time.sleep(0.05)
        wait_for(lambda: not srv.hub.connections and srv.hub.subscription_count == 0, 5,
                 "the client to be dropped")
        wait_for(lambda: not srv.server.server_state.connections, 8,
                 "the connection to be closed")
        assert len([line for line in records.lines() if "dropped" in line]) == 1
        assert not [line for line in records.lines() if "socket.send() raised" in line]
        assert rpc(srv.url, "eth_blockNumber")["result"] != "0x0"
        sock.close()


def test_a_websocket_client_that_stops_reading_is_found_by_the_ping(tmp_path: Path) -> None:
    """Its answers still fit in the socket buffers, so nothing backs up in the node: the
    unanswered ping finds it (stock uvicorn: 20 + 20 s)."""
    with serving(tmp_path, websocket_ping_interval=1.0) as (srv, records):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        sock.settimeout(10)
        sock.connect(("127.0.0.1", srv.port))
        ws = connect(f"ws://127.0.0.1:{srv.port}/", sock=sock, max_queue=1,
                     ping_interval=None, legacy=True)
        for i in range(2000):  # answered, never read (nor the pings behind them)
            ws_call(ws, i, "eth_chainId")
        wait_for(lambda: srv.hub.connections, 10, "the connection")
        t0 = time.monotonic()
        wait_for(lambda: not srv.hub.connections and not srv.server.server_state.connections,
                 20, "the client to be dropped")
        assert time.monotonic() - t0 < 15
        assert len(records.lines()) <= 1, records.lines()
        sock.close()


def test_websocket_connections_and_messages_are_capped(tmp_path: Path) -> None:
    with serving(tmp_path, max_websockets_per_client=2, max_websockets=3,
                 websocket_max_message_bytes=1000) as (srv, _):
        url = f"ws://127.0.0.1:{srv.port}/"
        first, second = connect(url, legacy=True), connect(url, legacy=True)
        with pytest.raises(InvalidStatus) as refused:
            connect(url, legacy=True)
        assert refused.value.response.status_code == 429
        assert b"too many WebSocket connections from 127.0.0.1 (limit 2)" in \
            refused.value.response.body
        third = connect(url, source_address=(OTHER_CLIENT, 0), legacy=True)
        with pytest.raises(InvalidStatus) as full:
            connect(url, source_address=(OTHER_CLIENT, 0), legacy=True)
        assert full.value.response.status_code == 429
        assert b"(limit 3)" in full.value.response.body
        ws_call(first, 1, "eth_blockNumber")
        assert json.loads(first.recv(timeout=10))["result"] == "0x0"
        first.send("[" + " " * 2000 + "]")
        with pytest.raises(ConnectionClosed) as too_big:
            first.recv(timeout=10)
        assert too_big.value.rcvd is not None and too_big.value.rcvd.code == 1009
        first.close()
        second.close()
        third.close()
        wait_for(lambda: not srv.server.server_state.connections, 20, "connections to close")
        with connect(url) as again:  # the slots are free again
            ws_call(again, 1, "eth_chainId")
            assert json.loads(again.recv(timeout=10))["result"]


# --- the node's settings ------------------------------------------------------------------


def write_config(home: Path, api: str) -> None:
    home.mkdir(exist_ok=True)
    (home / "consortium.toml").write_text(
        '[node]\nname = "node0"\nmember = "Bank A"\n\n[api]\nhost = "127.0.0.1"\n'
        'port = 8545\n' + api)


def test_api_limits_are_read_from_the_node_settings(tmp_path: Path) -> None:
    write_config(tmp_path, "")
    assert NodeConfig.load(tmp_path).api_limits == ApiLimits()  # an existing home: defaults
    write_config(tmp_path, "header_timeout = 3\nmax_connections_per_client = 0\n"
                           "max_subscriptions_per_websocket = 16\n")
    limits = NodeConfig.load(tmp_path).api_limits
    assert limits.header_timeout == 3.0 and limits.max_connections_per_client == 0
    assert limits.max_subscriptions_per_websocket == 16 and limits.body_timeout == 30.0
    for bad in ("header_timeout = 0", 'max_connections = "many"', "max_websockets = 0",
                "body_timeout = true", "websocket_max_backlog = 1.5"):
        write_config(tmp_path, bad + "\n")
        with pytest.raises(ConfigError, match=bad.split()[0]):
            NodeConfig.load(tmp_path)
