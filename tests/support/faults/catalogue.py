"""Hostile inputs, each a (name, send function, expectation) entry, and what a node must
answer them: a JSON-RPC error whose message names the problem, or a closed connection where
that is the right answer. Sent to one node of a running network (`Target`)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import httpx
import psutil
import rlp
from eth_account.signers.local import LocalAccount
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from consortium.network import supervisor
from tests.support.faults import rpc
from tests.support.localnet import LocalNet

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
LOOP_INITCODE = "0x5b600056"  # JUMPDEST PUSH1 0 JUMP: runs until the gas is gone

# What came back.
ERROR = "error"  # a JSON-RPC error object (or an HTTP error status) with its message
CLOSED = "closed"  # the server closed the connection
ANSWER = "answer"  # a result: the input was taken
TIMEOUT = "timeout"  # no answer within the client's timeout
CANCELLED = "cancelled"  # the client gave up, and the node stopped the work
FAILED = "failed"  # a side condition broke (a node slowed down, log flooded, ...)
NOT_RUN = "not run"  # the input cannot be made on this network, or would harm the machine


@dataclass(frozen=True)
class Outcome:
    kind: str
    message: str
    seconds: float = 0.0


@dataclass(frozen=True)
class Expect:
    """The answers that are right: one of `kinds`, its message naming the problem (one of
    `needles`, case-insensitive) when needles are given."""

    kinds: tuple[str, ...] = (ERROR,)
    needles: tuple[str, ...] = ()

    def problem(self, got: Outcome) -> str | None:
        if got.kind not in self.kinds:
            return f"expected {'/'.join(self.kinds)}, got {got.kind}: {got.message[:300]}"
        if got.kind in (ERROR, CLOSED) and not got.message.strip():
            return f"{got.kind} without a reason"
        if self.needles and not any(n.lower() in got.message.lower() for n in self.needles):
            return f"message does not name the problem ({' | '.join(self.needles)}): " \
                   f"{got.message[:300]}"
        return None


def refused(*needles: str) -> Expect:
    return Expect((ERROR,), needles)


def refused_or_closed(*needles: str) -> Expect:
    return Expect((ERROR, CLOSED), needles)


@dataclass
class Target:
    """The node under attack, the network's dev accounts, and what entries leave for later
    ones (the endless call's duration)."""

    net: LocalNet
    node: str
    accounts: dict[str, LocalAccount]
    chain_id: int
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def api(self) -> str:
        return self.net.node(self.node).api_url

    @property
    def ws(self) -> str:
        return "ws://" + urlparse(self.api).netloc + "/"

    @property
    def engine_rpc(self) -> str:
        return self.net.node(self.node).rpc_url

    def pid(self) -> int:
        pid = supervisor.node_pid(self.net.network.node_home(self.net.node(self.node)))
        assert pid is not None, f"{self.node} is not running"
        return pid

    def nonce(self, who: str) -> int:
        addr = self.accounts[who].address
        return int(rpc.result(self.api, "eth_getTransactionCount", addr, "pending"), 16)

    def sign(self, who: str, **fields: Any) -> bytes:
        tx: dict[str, Any] = {"to": "0x000000000000000000000000000000000000dEaD", "value": 0,
                              "gas": 21000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0,
                              "chainId": self.chain_id}
        tx.update(fields)
        if "nonce" not in tx:
            tx["nonce"] = self.nonce(who)
        if "gasPrice" in tx:
            del tx["maxFeePerGas"], tx["maxPriorityFeePerGas"]
        if tx.get("to") is None:
            tx.pop("to")
        return bytes(self.accounts[who].sign_transaction(tx).raw_transaction)


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str  # the class of input, as issue 17 names it
    send: Callable[[Target], Outcome]
    expect: Expect
    slow: bool = False  # only under -m slow


# --- how inputs are sent ------------------------------------------------------------------------


def post(url: str, content: bytes | str | Iterator[bytes], timeout: float = 30,
         headers: dict[str, str] | None = None) -> Outcome:
    """POST a body as is; the answer as an Outcome (JSON-RPC errors read from the body)."""
    body = content.encode() if isinstance(content, str) else content
    t0 = time.monotonic()
    try:
        r = httpx.post(url, content=body, timeout=timeout,
                       headers={"Content-Type": "application/json", **(headers or {})})
    except httpx.TimeoutException as exc:
        return Outcome(TIMEOUT, f"no answer within {timeout:.0f}s ({type(exc).__name__})",
                       time.monotonic() - t0)
    except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError,
            httpx.ConnectError) as exc:
        return Outcome(CLOSED, f"connection closed: {exc}", time.monotonic() - t0)
    return read_answer(r.status_code, r.text, time.monotonic() - t0)


def read_answer(status: int, text: str, seconds: float) -> Outcome:
    try:
        body = json.loads(text) if text else None
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        return Outcome(ERROR, error_text(body["error"]), seconds)
    if isinstance(body, dict) and isinstance(body.get("result"), dict) \
            and body["result"].get("code") not in (None, 0):  # CometBFT's CheckTx refusal
        return Outcome(ERROR, str(body["result"].get("log") or body["result"]), seconds)
    if isinstance(body, list) and body and all("error" in a for a in body):
        return Outcome(ERROR, error_text(body[0]["error"]) + f" (x{len(body)})", seconds)
    if status >= 400:
        return Outcome(ERROR, f"HTTP {status}: {text[:300]}", seconds)
    return Outcome(ANSWER, text[:300], seconds)


def error_text(err: Any) -> str:
    if not isinstance(err, dict):
        return str(err)
    data = err.get("data")
    return f"[{err.get('code')}] {err.get('message', '')}" + (f" ({data})" if data else "")


def request(method: str, *params: Any, rid: Any = 1) -> str:
    return json.dumps({"jsonrpc": "2.0", "id": rid, "method": method, "params": list(params)})


def send_raw(t: Target, raw: bytes | str) -> Outcome:
    param = raw if isinstance(raw, str) else "0x" + raw.hex()
    return post(t.api, request("eth_sendRawTransaction", param))


def body(text: str | Callable[[], str]) -> Callable[[Target], Outcome]:
    return lambda t: post(t.api, text() if callable(text) else text)


def raw_tx(make: Callable[[Target], bytes | str]) -> Callable[[Target], Outcome]:
    return lambda t: send_raw(t, make(t))


def socket_exchange(host: str, port: int, data: bytes, timeout: float = 10) -> Outcome:
    """Write bytes to a TCP port and read until the server closes (or `timeout`)."""
    t0 = time.monotonic()
    got = b""
    with socket.create_connection((host, port), timeout=timeout) as s:
        try:
            s.sendall(data)
            while chunk := s.recv(65536):
                got += chunk
        except TimeoutError:
            return Outcome(TIMEOUT, f"still open after {timeout:.0f}s: {got[:200]!r}",
                           time.monotonic() - t0)
        except ConnectionError as exc:
            return Outcome(CLOSED, f"reset: {exc}; {got[:200]!r}", time.monotonic() - t0)
    head = got.split(b"\r\n", 1)[0].decode(errors="replace")
    return Outcome(CLOSED, f"closed after answering {head!r}" if got else "closed",
                   time.monotonic() - t0)


# --- transactions, refactored -------------------------------------------------------------------


def legacy_fields(t: Target, who: str = "Bank A") -> list[Any]:
    raw = t.sign(who, gasPrice=0, nonce=t.nonce(who))
    return list(rlp.decode(raw))


def typed_fields(t: Target, who: str = "Bank A") -> list[Any]:
    raw = t.sign(who, nonce=t.nonce(who))
    return list(rlp.decode(raw[1:]))


def legacy_with(t: Target, **changes: int) -> bytes:
    fields = legacy_fields(t)
    for name, value in changes.items():
        fields[{"v": 6, "r": 7, "s": 8}[name]] = value
    return rlp.encode(fields)


def typed_with(t: Target, **changes: int) -> bytes:
    fields = typed_fields(t)
    for name, value in changes.items():
        fields[{"y": 9, "r": 10, "s": 11}[name]] = value
    return b"\x02" + rlp.encode(fields)


def high_s(t: Target) -> bytes:
    """The malleable twin of a valid signature (s' = n - s, parity flipped)."""
    fields = typed_fields(t)
    s = int.from_bytes(fields[11], "big")
    fields[9] = 1 - int.from_bytes(fields[9], "big") if fields[9] else 1
    fields[11] = SECP256K1_N - s
    return b"\x02" + rlp.encode(fields)


# --- issue 17's classes -------------------------------------------------------------------------


def endless_call(t: Target, concurrent: int = 8) -> Outcome:
    """`concurrent` eth_calls of a loop with no gas given, at once (one client, as the issue's
    eight); meanwhile eth_blockNumber is timed on the same node. Right: each an error (or 429)
    within the timeout, and the node answering others fast."""
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        while not done.is_set():
            t0 = time.monotonic()
            with contextlib.suppress(httpx.HTTPError):
                rpc.call(t.api, "eth_blockNumber", timeout=30)
            latencies.append(time.monotonic() - t0)
            done.wait(0.05)

    prober = threading.Thread(target=probe, daemon=True)
    prober.start()
    body = request("eth_call", {"data": LOOP_INITCODE}, "latest")
    with ThreadPoolExecutor(concurrent) as pool:
        answers = list(pool.map(lambda _: post(t.api, body, timeout=60), range(concurrent)))
    done.set()
    prober.join(35)
    slowest = max(answers, key=lambda o: o.seconds)
    t.notes["endless_calls_slowest_s"] = round(slowest.seconds, 3)
    worst = max(latencies, default=0.0)
    t.notes["block_number_worst_s"] = round(worst, 3)
    wrong = [o for o in answers if o.kind != ERROR]
    if wrong:
        return wrong[0]
    if worst > 0.5:
        return Outcome(FAILED, f"{slowest.message}; but eth_blockNumber on {t.node} took "
                               f"{worst:.2f}s meanwhile (limit 0.5s)", slowest.seconds)
    if slowest.seconds > 6:
        return Outcome(FAILED, f"{slowest.message}; answered after {slowest.seconds:.1f}s "
                               "(limit 6s)", slowest.seconds)
    return slowest


def heavy_batch(t: Target, give_up_s: float = 15) -> Outcome:
    """1,000 endless eth_calls in one batch. Right: an answer (errors, or 429) before the
    client gives up after `give_up_s`; or, once it has given up, the node stopping the work
    (its process no busier than its peers within 10 s). Run last: a node that does neither
    stays busy until the network is torn down."""
    calls = [{"jsonrpc": "2.0", "id": i, "method": "eth_call",
              "params": [{"data": LOOP_INITCODE}, "latest"]} for i in range(1000)]
    got = post(t.api, json.dumps(calls), timeout=give_up_s)
    t.notes["heavy_batch"] = f"{got.kind} after {got.seconds:.1f}s: {got.message[:100]}"
    if got.kind != TIMEOUT:
        return got
    deadline = time.monotonic() + 10
    busy, others = 100.0, 0.0
    while time.monotonic() < deadline:
        busy, others = _cpu_against_peers(t)
        if busy < max(30.0, 3 * others):
            return Outcome(CANCELLED, f"no answer within {give_up_s:.0f}s; the node stopped "
                                      f"the work once the client had gone (CPU {busy:.0f}%, "
                                      f"its peers {others:.0f}%)", got.seconds)
    return Outcome(FAILED, f"no answer within {give_up_s:.0f}s, and the node still busy "
                           f"({busy:.0f}% CPU, its peers {others:.0f}%) 10s after the client "
                           "had gone: the work is not cancelled", got.seconds)


def _cpu_against_peers(t: Target, seconds: float = 1.0) -> tuple[float, float]:
    """The CPU % of the target node's process and the highest of its peers' over the same
    second (a share, on a machine others load too, so only the comparison says much)."""
    procs = {}
    for node in t.net.network.nodes:
        pid = supervisor.node_pid(t.net.network.node_home(node))
        if pid is not None:
            procs[node.name] = psutil.Process(pid)
            procs[node.name].cpu_percent(None)
    time.sleep(seconds)
    cpu = {name: p.cpu_percent(None) for name, p in procs.items()}
    return cpu.pop(t.node, 0.0), max(cpu.values(), default=0.0)


def balance_edge(t: Target) -> bytes:
    """EIP-1559: gas x maxFee + value must be covered, even with a tip of 0."""
    who = "Bank E"
    balance = int(rpc.result(t.api, "eth_getBalance", t.accounts[who].address, "latest"), 16)
    return t.sign(who, maxFeePerGas=balance // 21000 + 1, maxPriorityFeePerGas=0)


def big_initcode(t: Target) -> bytes:
    """EIP-3860: initcode over 49,152 bytes (zeros: STOP)."""
    return t.sign("Bank F", to=None, data=b"\x00" * 49_153, gas=1_000_000)


def oversize_tx(t: Target) -> bytes:
    return t.sign("Bank A", data=b"\x01" * (130 * 1024), gas=5_000_000)


def sender_with_code(t: Target) -> Outcome:
    """EIP-3607: a transaction from an account with code. Needs such an account with a known
    key; a local network's genesis gives accounts balances only."""
    for name, acct in t.accounts.items():
        if rpc.result(t.api, "eth_getCode", acct.address, "latest") not in ("0x", "0x0"):
            return send_raw(t, t.sign(name))
    return Outcome(NOT_RUN, "no dev account has code (genesis alloc takes balances only)")


def committed_again(t: Target) -> Outcome:
    raw = t.sign("Bank H")
    first = send_raw(t, raw)
    if first.kind != ANSWER:
        return Outcome(FAILED, f"the first submission was refused: {first.message}")
    tx_hash = json.loads(first.message)["result"]
    deadline = time.monotonic() + 60
    while not rpc.result(t.api, "eth_getTransactionReceipt", tx_hash):
        if time.monotonic() > deadline:
            return Outcome(FAILED, f"{tx_hash} not committed within 60s")
        time.sleep(0.25)
    return send_raw(t, raw)


def future_nonce(t: Target) -> Outcome:
    """nonce n+1 first, then n: both answered with a hash and both committed."""
    who = "Bank G"
    n = t.nonce(who)
    ahead = send_raw(t, t.sign(who, nonce=n + 1))
    if ahead.kind != ANSWER:
        send_raw(t, t.sign(who, nonce=n))  # fill the gap either way
        return ahead
    filler = send_raw(t, t.sign(who, nonce=n))
    hashes = [json.loads(o.message)["result"] for o in (ahead, filler) if o.kind == ANSWER]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(rpc.result(t.api, "eth_getTransactionReceipt", h) for h in hashes):
            return Outcome(ANSWER, f"queued nonce {n + 1} committed after nonce {n}")
        time.sleep(0.25)
    return Outcome(FAILED, f"nonce {n + 1} answered {ahead.message} but not committed in 60s")


def half_sent(t: Target, count: int = 50, wait_s: float = 40) -> Outcome:
    """`count` requests stopped in their headers and `count` in their bodies: the server
    must close them (a header / body timeout)."""
    host, port = urlparse(t.api).hostname or "127.0.0.1", urlparse(t.api).port or 80
    socks = []
    for i in range(2 * count):
        s = socket.create_connection((host, port), timeout=10)
        if i % 2:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n")
        else:
            s.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"json")
        s.setblocking(False)
        socks.append(s)
    t0 = time.monotonic()
    try:
        while True:
            open_ = [s for s in socks if _still_open(s)]
            if not open_:
                return Outcome(CLOSED, f"the server closed all {len(socks)} half-sent requests "
                                       f"within {time.monotonic() - t0:.1f}s",
                               time.monotonic() - t0)
            if time.monotonic() - t0 > wait_s:
                return Outcome(ANSWER, f"{len(open_)} of {len(socks)} half-sent requests still "
                                       f"open after {wait_s:.0f}s", time.monotonic() - t0)
            time.sleep(0.5)
    finally:
        for s in socks:
            s.close()


def _still_open(s: socket.socket) -> bool:
    try:
        return s.recv(65536, socket.MSG_PEEK) is None
    except BlockingIOError:
        return True
    except OSError:
        return False


def _ws(t: Target, rcvbuf: int | None = None, **kw: Any) -> ClientConnection:
    """A WebSocket client; `rcvbuf` fixes its socket's receive buffer (no autotuning), so a
    client that stops reading pushes back on the node at once."""
    u = urlparse(t.api)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.settimeout(10)
    sock.connect((u.hostname or "127.0.0.1", u.port or 80))
    return connect(t.ws, sock=sock, open_timeout=10, max_size=None, ping_interval=None, **kw)


def ws_exchange(t: Target, message: str | bytes, timeout: float = 10) -> Outcome:
    t0 = time.monotonic()
    with _ws(t) as ws:
        ws.send(message)
        try:
            answer = ws.recv(timeout=timeout)
        except TimeoutError:
            return Outcome(TIMEOUT, f"no answer within {timeout:.0f}s", time.monotonic() - t0)
        except ConnectionClosed as exc:
            return Outcome(CLOSED, f"closed: {exc}", time.monotonic() - t0)
    return read_answer(200, str(answer), time.monotonic() - t0)


def ws_vanishing(t: Target, subs: int = 1000) -> Outcome:
    """A client subscribes `subs` times to newHeads and vanishes (RST, no close frame). Right:
    the node stops writing to it at once (at most one log line about it)."""
    needle = "socket.send() raised exception"
    before = t.net.log(t.node).count(needle)
    got = Outcome(FAILED, "the WebSocket connection failed")
    with contextlib.suppress(OSError, ConnectionClosed), _ws(t) as ws:
        got = _subscribe_and_vanish(t, ws, subs, needle, before)
    return got


def _subscribe_and_vanish(t: Target, ws: ClientConnection, subs: int, needle: str,
                          before: int) -> Outcome:
    for i in range(subs):
        ws.send(json.dumps({"jsonrpc": "2.0", "id": i, "method": "eth_subscribe",
                            "params": ["newHeads"]}))
    refusals = []
    for _ in range(subs):
        try:
            answer = json.loads(ws.recv(timeout=30))
        except (TimeoutError, ConnectionClosed):
            break
        if "error" in answer:
            refusals.append(error_text(answer["error"]))
    sock = ws.socket
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # RST: the client is gone mid-stream
    top = t.net.height(t.node)
    t.net.wait_height(top + 4, [t.node], timeout=60)
    logged = t.net.log(t.node).count(needle) - before
    if logged > 1:
        return Outcome(FAILED, f"{logged} '{needle}' lines after one client vanished")
    if refusals:
        return Outcome(ERROR, f"{len(refusals)} of {subs} subscriptions refused: {refusals[0]}; "
                              f"{logged} log lines after the client vanished")
    return Outcome(ANSWER, f"all {subs} subscriptions taken; {logged} log lines after the "
                           "client vanished")


def ws_queue_overflow(t: Target, requests: int = 40_000, wait_s: float = 30) -> Outcome:
    """A client that sends and never reads: right is the node dropping it once its queue
    overflows (seen from the node's side: its end of the connection no longer established)."""
    got = Outcome(FAILED, "the WebSocket connection failed")
    with contextlib.suppress(OSError, ConnectionClosed), \
            _ws(t, rcvbuf=4096, max_queue=1) as ws:
        got = _flood_unread(t, ws, requests, wait_s)
    return got


def _flood_unread(t: Target, ws: ClientConnection, requests: int, wait_s: float) -> Outcome:
    port = ws.socket.getsockname()[1]
    message = request("eth_chainId")  # answered on the event loop: the backlog grows fast
    t0 = time.monotonic()
    try:
        for _ in range(requests):
            ws.send(message)
        while time.monotonic() - t0 < wait_s:
            if not _node_holds(t, port):
                return Outcome(CLOSED, f"the node dropped the client after "
                                       f"{time.monotonic() - t0:.1f}s", time.monotonic() - t0)
            time.sleep(0.5)
    except (ConnectionClosed, OSError) as exc:
        return Outcome(CLOSED, f"the node dropped the client: {exc}", time.monotonic() - t0)
    finally:
        ws.socket.close()
    return Outcome(ANSWER, f"the node still held a client that read none of {requests} "
                           f"answers after {wait_s:.0f}s", time.monotonic() - t0)


def _node_holds(t: Target, client_port: int) -> bool:
    for conn in psutil.Process(t.pid()).net_connections(kind="tcp"):
        if conn.raddr and conn.raddr.port == client_port:
            return bool(conn.status == psutil.CONN_ESTABLISHED)
    return False


def declared_oversize(t: Target) -> Outcome:
    u = urlparse(t.api)
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 70000000\r\n\r\n[")
    got = socket_exchange(u.hostname or "127.0.0.1", u.port or 80, head, timeout=15)
    return Outcome(ERROR, got.message, got.seconds) if "413" in got.message else got


def streamed_oversize(t: Target) -> Outcome:
    chunk = b" " * (1 << 20)
    return post(t.api, iter([chunk] * 70), timeout=60)


def cometbft_garbage(data: Callable[[], bytes]) -> Callable[[Target], Outcome]:
    def send(t: Target) -> Outcome:
        u = urlparse(t.engine_rpc)
        return socket_exchange(u.hostname or "127.0.0.1", u.port or 80, data())
    return send


def cometbft_get(path: str) -> Callable[[Target], Outcome]:
    def send(t: Target) -> Outcome:
        t0 = time.monotonic()
        try:
            r = httpx.get(t.engine_rpc + path, timeout=15)
        except httpx.HTTPError as exc:
            return Outcome(CLOSED, f"{type(exc).__name__}: {exc}", time.monotonic() - t0)
        return read_answer(r.status_code, r.text, time.monotonic() - t0)
    return send


def cometbft_post(text: str) -> Callable[[Target], Outcome]:
    return lambda t: post(t.engine_rpc, text, timeout=15)


def random_bytes(n: int) -> Callable[[], bytes]:
    return lambda: os.urandom(n)


def nested(depth: int, open_: str = "[", close: str = "]") -> str:
    return open_ * depth + close * depth


# --- the catalogue ------------------------------------------------------------------------------

PARSE = ("parse", "json", "invalid")
INVALID = ("invalid request", "invalid")
RLP = ("decode", "rlp", "malformed", "not an rlp", "type", "invalid")
SIG = ("signature", "r or s", "parity", "recover")
CHAIN = ("chain id", "chain", "eip-155", "unprotected")

CATALOGUE: list[Entry] = [
    # issue 17, weakness 1: one unauthenticated eth_call stalls the node
    Entry("8 concurrent eth_calls of an endless loop", "stalling reads", endless_call,
          refused("gas", "timeout", "timed out", "time limit", "too many", "429", "busy")),
    # weakness 5: admission and execution disagree
    Entry("EIP-1559 balance edge (gas x maxFee > balance, tip 0)", "validity rules",
          raw_tx(balance_edge), refused("balance", "insufficient", "funds")),
    Entry("initcode over 49,152 bytes (EIP-3860)", "validity rules", raw_tx(big_initcode),
          refused("initcode", "init code", "49152", "49,152")),
    Entry("sender with code (EIP-3607)", "validity rules", sender_with_code,
          Expect((ERROR, NOT_RUN), ("code", "contract", "eoa"))),
    # weakness 4 and 6: lenient parsing, future nonces
    Entry("id NaN", "strict JSON", body('{"jsonrpc":"2.0","id":NaN,"method":"eth_chainId"}'),
          refused(*PARSE, "nan")),
    Entry("id Infinity", "strict JSON",
          body('{"jsonrpc":"2.0","id":Infinity,"method":"eth_chainId"}'), refused(*PARSE)),
    Entry("param -Infinity", "strict JSON",
          body('{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":[-Infinity]}'),
          refused(*PARSE)),
    Entry("already-committed transaction resubmitted", "strict JSON", committed_again,
          refused("nonce too low", "already known", "already", "nonce")),
    Entry("future nonce queued, then committed", "future nonces", future_nonce,
          Expect((ANSWER,))),
    # weakness 3: slow or dead clients
    Entry("half-sent HTTP requests (headers and bodies)", "connections", half_sent,
          Expect((CLOSED,))),
    Entry("WebSocket: 1,000 subscriptions, client vanishes", "connections", ws_vanishing,
          Expect((ERROR, ANSWER))),
    Entry("WebSocket: queue overflow (never reads)", "connections", ws_queue_overflow,
          Expect((CLOSED,))),
    # malformed JSON-RPC
    Entry("body is a number", "malformed JSON-RPC", body("42"), refused(*INVALID)),
    Entry("body is a string", "malformed JSON-RPC", body('"eth_chainId"'), refused(*INVALID)),
    Entry("batch of non-objects", "malformed JSON-RPC", body("[1, 2, 3]"), refused(*INVALID)),
    Entry("empty batch", "malformed JSON-RPC", body("[]"), refused(*INVALID, "empty")),
    Entry("truncated JSON", "malformed JSON-RPC", body('{"jsonrpc":"2.0","id":1,'),
          refused(*PARSE)),
    Entry("not UTF-8", "malformed JSON-RPC", lambda t: post(t.api, b'{"id":"\xff\xfe"}'),
          refused(*PARSE, "utf")),
    Entry('jsonrpc "1.0"', "malformed JSON-RPC",
          body('{"jsonrpc":"1.0","id":1,"method":"eth_chainId"}'), refused("jsonrpc")),
    Entry("id is an object", "malformed JSON-RPC",
          body('{"jsonrpc":"2.0","id":{"a":1},"method":"eth_chainId"}'), refused("id")),
    Entry("id is an array", "malformed JSON-RPC",
          body('{"jsonrpc":"2.0","id":[1],"method":"eth_chainId"}'), refused("id")),
    Entry("id is a boolean", "malformed JSON-RPC",
          body('{"jsonrpc":"2.0","id":true,"method":"eth_chainId"}'), refused("id")),
    Entry("method missing", "malformed JSON-RPC", body('{"jsonrpc":"2.0","id":1}'),
          refused("method")),
    Entry("method is a number", "malformed JSON-RPC",
          body('{"jsonrpc":"2.0","id":1,"method":7}'), refused("method")),
    Entry("unknown method", "malformed JSON-RPC", body(request("eth_noSuchMethod")),
          refused("does not exist", "not found", "eth_noSuchMethod")),
    Entry("params an object for a positional method", "malformed JSON-RPC",
          body('{"jsonrpc":"2.0","id":1,"method":"eth_getBalance","params":{"a":1}}'),
          refused("param")),
    Entry("wrong param types", "malformed JSON-RPC",
          body(request("eth_getBalance", 12, {"x": []})), refused("param", "address")),
    Entry("huge block number", "malformed JSON-RPC",
          body(request("eth_getBlockByNumber", "0x" + "f" * 200, False)),
          Expect((ERROR, ANSWER), ())),
    Entry("subscription over HTTP", "malformed JSON-RPC",
          body(request("eth_subscribe", "newHeads")), refused("websocket")),
    # malformed RLP and hex
    Entry("raw tx: empty", "malformed RLP", raw_tx(lambda t: "0x"), refused("empty", *RLP)),
    Entry("raw tx: not hex", "malformed RLP", raw_tx(lambda t: "0xzz"),
          refused("hex", "param", "invalid")),
    Entry("raw tx: odd-length hex", "malformed RLP", raw_tx(lambda t: "0xabc"),
          refused("hex", "param", "invalid", "odd")),
    Entry("raw tx: random bytes", "malformed RLP",
          raw_tx(lambda t: b"\xf8" + os.urandom(200)), refused(*RLP)),
    Entry("raw tx: empty list", "malformed RLP", raw_tx(lambda t: b"\xc0"), refused(*RLP)),
    Entry("raw tx: RLP string, not list", "malformed RLP", raw_tx(lambda t: b"\x83abc"),
          refused(*RLP)),
    Entry("raw tx: truncated", "malformed RLP", raw_tx(lambda t: t.sign("Bank A")[:-7]),
          refused(*RLP)),
    Entry("raw tx: trailing bytes", "malformed RLP",
          raw_tx(lambda t: t.sign("Bank A") + b"\x00\x01"), refused(*RLP)),
    Entry("raw tx: legacy with 7 fields", "malformed RLP",
          raw_tx(lambda t: rlp.encode(legacy_fields(t)[:7])), refused(*RLP)),
    Entry("raw tx: type 2 with 13 fields", "malformed RLP",
          raw_tx(lambda t: b"\x02" + rlp.encode([*typed_fields(t), b"\x01"])), refused(*RLP)),
    Entry("raw tx: nonce is a list", "malformed RLP",
          raw_tx(lambda t: rlp.encode([[b"\x01"], *legacy_fields(t)[1:]])), refused(*RLP)),
    Entry("raw tx: 2^256 value", "malformed RLP",
          raw_tx(lambda t: rlp.encode([*legacy_fields(t)[:4], 2**256, *legacy_fields(t)[5:]])),
          refused(*RLP, "range", "signature")),
    Entry("raw tx: type 3 (blob)", "malformed RLP", raw_tx(lambda t: b"\x03" + b"\xc0"),
          refused("type")),
    Entry("raw tx: type 0x7f", "malformed RLP", raw_tx(lambda t: b"\x7f\xc0"), refused("type")),
    # bad signatures
    Entry("signature r = 0", "bad signatures", raw_tx(lambda t: legacy_with(t, r=0)),
          refused(*SIG)),
    Entry("signature s = 0", "bad signatures", raw_tx(lambda t: typed_with(t, s=0)),
          refused(*SIG)),
    Entry("signature r = n", "bad signatures", raw_tx(lambda t: typed_with(t, r=SECP256K1_N)),
          refused(*SIG)),
    Entry("signature s = 2^256 - 1", "bad signatures",
          raw_tx(lambda t: typed_with(t, s=2**256 - 1)), refused(*SIG)),
    Entry("signature high s (malleable twin)", "bad signatures", raw_tx(high_s),
          refused(*SIG, "lower half")),
    Entry("y parity 2", "bad signatures", raw_tx(lambda t: typed_with(t, y=2)),
          refused(*SIG)),
    Entry("legacy v = 30", "bad signatures", raw_tx(lambda t: legacy_with(t, v=30)),
          refused(*SIG, "v=")),
    # chain ids
    Entry("legacy without chain id (v = 27)", "chain ids",
          raw_tx(lambda t: bytes(t.accounts["Bank A"].sign_transaction(
              {"to": "0x000000000000000000000000000000000000dEaD", "value": 0, "gas": 21000,
               "gasPrice": 0, "nonce": t.nonce("Bank A")}).raw_transaction)), refused(*CHAIN)),
    Entry("type 2 for chain id 1", "chain ids",
          raw_tx(lambda t: t.sign("Bank A", chainId=1)), refused(*CHAIN)),
    Entry("legacy for chain id 1", "chain ids",
          raw_tx(lambda t: t.sign("Bank A", chainId=1, gasPrice=0)), refused(*CHAIN)),
    Entry("chain id 2^64", "chain ids",
          raw_tx(lambda t: b"\x02" + rlp.encode([2**64, *typed_fields(t)[1:]])),
          refused(*CHAIN, *SIG)),
    # oversize, nesting, batches
    Entry("transaction over 128 KiB", "oversize", raw_tx(oversize_tx),
          refused("limit", "large", "bytes", "size")),
    Entry("body over 64 MiB (declared)", "oversize", declared_oversize,
          refused_or_closed("413", "over", "large", "limit")),
    Entry("body over 64 MiB (streamed)", "oversize", streamed_oversize,
          refused_or_closed("413", "over", "large", "limit"), slow=True),
    Entry("array nested 100,000 deep", "deep nesting", body(nested(100_000)),
          refused("nest", "deep", "depth", *PARSE)),
    Entry("object nested 100,000 deep", "deep nesting",
          body(lambda: '{"a":' * 100_000 + "1" + "}" * 100_000),
          refused("nest", "deep", "depth", *PARSE)),
    Entry("params nested 5,000 deep", "deep nesting",
          body('{"jsonrpc":"2.0","id":1,"method":"eth_call","params":' + nested(5_000) + "}"),
          refused("nest", "deep", "depth", "param", *PARSE)),
    Entry("batch of 1,001 calls", "huge batches",
          body(lambda: json.dumps([{"jsonrpc": "2.0", "id": i, "method": "eth_chainId"}
                                   for i in range(1001)])), refused("batch", "limit", "1000")),
    # garbage straight to CometBFT's RPC
    Entry("CometBFT: random bytes", "CometBFT RPC", cometbft_garbage(random_bytes(4096)),
          refused_or_closed()),
    Entry("CometBFT: HTTP with random body", "CometBFT RPC",
          cometbft_garbage(lambda: b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 64\r\n"
                                   b"Connection: close\r\n\r\n" + os.urandom(64)),
          refused_or_closed()),
    Entry("CometBFT: bad JSON", "CometBFT RPC", cometbft_post('{"jsonrpc":"2.0","id":1,'),
          refused_or_closed("parse", "invalid", "error")),
    Entry("CometBFT: huge height", "CometBFT RPC", cometbft_get("/block?height=" + "9" * 40),
          refused_or_closed()),
    Entry("CometBFT: huge number in JSON", "CometBFT RPC",
          cometbft_post(request("block", rid=1).replace('"params": []',
                                                        '"params": {"height": 1e400}')),
          refused_or_closed()),
    Entry("CometBFT: broadcast garbage tx", "CometBFT RPC",
          cometbft_get("/broadcast_tx_sync?tx=0x" + "ab" * 64), refused_or_closed(*RLP)),
    Entry("CometBFT: abci_query garbage", "CometBFT RPC",
          cometbft_get('/abci_query?path="/%ff%00garbage"&data=0xdeadbeef'),
          Expect((ERROR, ANSWER, CLOSED))),
    Entry("CometBFT: unknown method", "CometBFT RPC", cometbft_post(request("no_such")),
          refused_or_closed("not found", "method")),
    Entry("CometBFT: batch of 5,000", "CometBFT RPC",
          cometbft_post(json.dumps([{"jsonrpc": "2.0", "id": i, "method": "health"}
                                    for i in range(5000)])),
          refused_or_closed("batch", "maximum", "exceeds")),
    # WebSocket abuse
    Entry("WebSocket: binary garbage frame", "WebSocket abuse",
          lambda t: ws_exchange(t, b"\xff\xfe\x00" + os.urandom(64)),
          refused_or_closed(*PARSE, "utf", "binary")),
    Entry("WebSocket: text garbage", "WebSocket abuse",
          lambda t: ws_exchange(t, "}{ not json"), refused_or_closed(*PARSE)),
    Entry("WebSocket: unknown subscription type", "WebSocket abuse",
          lambda t: ws_exchange(t, request("eth_subscribe", "noSuchThing")),
          refused("subscription", "noSuchThing", "param", "unknown")),
    Entry("WebSocket: eth_subscribe without params", "WebSocket abuse",
          lambda t: ws_exchange(t, request("eth_subscribe")), refused("param", "subscription")),
    Entry("WebSocket: logs filter of wrong type", "WebSocket abuse",
          lambda t: ws_exchange(t, request("eth_subscribe", "logs", {"address": 5})),
          refused("address", "param")),
    Entry("WebSocket: NaN id", "WebSocket abuse",
          lambda t: ws_exchange(t, '{"jsonrpc":"2.0","id":NaN,"method":"eth_chainId"}'),
          refused_or_closed(*PARSE, "nan")),
    # last: a node that neither answers nor cancels this stays busy for many minutes
    Entry("batch of 1,000 endless eth_calls", "stalling reads", heavy_batch,
          Expect((ERROR, CANCELLED), ("gas", "timeout", "timed out", "too many", "429", "busy",
                                      "stopped the work"))),
]

ACCOUNTS = ["Bank A", "Bank B", "Bank C", "Bank D", "Bank E", "Bank F", "Bank G", "Bank H"]
"""The dev accounts the catalogue needs (E..H: one per input that may leave a nonce gap
behind until admission, execution and the journal agree)."""
