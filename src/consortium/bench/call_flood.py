"""`consortium bench call-flood`: does consensus keep its pace while clients flood two of
four validators with worst-case `eth_call`s? (issue 17)

One 4-validator network. A contract whose every call loops until its gas is gone (KECCAK256
in a loop: about the most CPU per unit of gas the EVM offers) is deployed. Then, in the same
run, three windows of equal length: quiet, flooded, quiet again. In the flooded window
`--clients` threads per flooded node send batches of `--batch` such calls, each asking for
the block gas limit, as fast as the node answers them (the node caps, times out and refuses
them with 429 as configured). Throughout, a light load of value transfers keeps blocks
non-empty and one probe per flooded node measures `eth_blockNumber`'s latency.

The figure is the block rate (heights per second) while flooded against the mean of the two
quiet windows (the machine's speed drifts over minutes; bracketing cancels most of it).
Goal: ≥ 0.9×.

`--calls native` floods with a service read instead (`consortium_members`: a native
contract's view and its decoding, Python that holds the interpreter's lock throughout,
where the looping call spends its time in revm without it).
"""

from __future__ import annotations

import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from eth_account import Account

from consortium.bench.networks import LedgerNet
from consortium.bench.report import RunOutcome, default_out, machine, write_json
from consortium.bench.stats import LatencySummary
from consortium.errors import ConfigError

# JUMPDEST PUSH1 32 PUSH1 0 KECCAK256 POP PUSH1 0 JUMP
LOOP_RUNTIME = bytes.fromhex("5b602060002050600056")
# PUSH10 <runtime> PUSH1 0 MSTORE PUSH1 10 PUSH1 22 RETURN
LOOP_INITCODE = bytes.fromhex("69" + LOOP_RUNTIME.hex() + "600052600a6016f3")
DEPLOY_TIMEOUT = 60.0
CALL_KINDS = ("loop", "native")


class Ui(Protocol):
    def step(self, text: str) -> None: ...


@dataclass
class FloodConfig:
    window: float = 30.0  # seconds per window
    flooded: int = 2  # validators flooded (of `validators`)
    validators: int = 4
    clients: int = 8  # flooding threads per flooded node
    batch: int = 20  # eth_calls per flooding request
    tx_rate: float = 20.0  # value transfers per second, light load on every window
    timeout_commit: str = "500ms"
    calls: str = "loop"  # CALL_KINDS: the looping contract, or a native service read
    out: Path = field(default_factory=default_out)

    def check(self) -> None:
        if self.calls not in CALL_KINDS:
            raise ConfigError(f"--calls must be one of {', '.join(CALL_KINDS)}, "
                              f"not {self.calls!r}")
        if not 0 < self.flooded <= self.validators:
            raise ConfigError(f"--flooded must be between 1 and --validators ({self.validators})")
        if self.window <= 0 or self.clients < 1 or self.batch < 1:
            raise ConfigError("--window, --clients and --batch must be positive")


@dataclass
class _Window:
    name: str
    heights: tuple[int, int] = (0, 0)
    seconds: float = 0.0
    probes: list[float] = field(default_factory=list)
    flood: dict[str, int] = field(default_factory=lambda: {
        "requests": 0, "answered": 0, "http_429": 0, "timeouts": 0, "other_errors": 0})

    @property
    def block_rate(self) -> float:
        return (self.heights[1] - self.heights[0]) / self.seconds if self.seconds else 0.0

    def to_json(self) -> dict[str, Any]:
        return {"window": self.name, "seconds": round(self.seconds, 2),
                "heights": list(self.heights), "blocks_per_s": round(self.block_rate, 3),
                "block_number_latency_ms": LatencySummary.of(self.probes).to_json(),
                "flood": dict(self.flood)}


def _rpc(client: httpx.Client, url: str, method: str, *params: Any) -> Any:
    body = client.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                  "params": list(params)}, timeout=30).json()
    if "error" in body:
        raise RuntimeError(f"{method}: {body['error']}")
    return body["result"]


def _height(client: httpx.Client, rpc_url: str) -> int:
    doc = client.get(f"{rpc_url}/status", timeout=10).json()
    return int(doc["result"]["sync_info"]["latest_block_height"])


def _deploy_loop(url: str, key: bytes) -> str:
    """Deploy the looping contract; its address once committed."""
    acct = Account.from_key(key)
    with httpx.Client() as client:
        chain_id = int(_rpc(client, url, "eth_chainId"), 16)
        nonce = int(_rpc(client, url, "eth_getTransactionCount", acct.address, "pending"), 16)
        raw = acct.sign_transaction({"nonce": nonce, "gas": 200_000, "maxFeePerGas": 0,
                                     "maxPriorityFeePerGas": 0, "data": LOOP_INITCODE,
                                     "chainId": chain_id, "value": 0}).raw_transaction
        tx_hash = _rpc(client, url, "eth_sendRawTransaction", "0x" + bytes(raw).hex())
        deadline = time.monotonic() + DEPLOY_TIMEOUT
        while time.monotonic() < deadline:
            receipt = _rpc(client, url, "eth_getTransactionReceipt", tx_hash)
            if receipt is not None:
                if receipt["status"] != "0x1":
                    raise RuntimeError("deploying the looping contract failed")
                return str(receipt["contractAddress"])
            time.sleep(0.2)
    raise RuntimeError("the looping contract was not committed in time")


class _Transfers(threading.Thread):
    """A light, steady load of value transfers from one account through node0."""

    def __init__(self, url: str, key: bytes, rate: float, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.url, self.acct, self.rate, self.stop = url, Account.from_key(key), rate, stop
        self.sent = 0

    def run(self) -> None:
        with httpx.Client() as client:
            chain_id = int(_rpc(client, self.url, "eth_chainId"), 16)
            nonce = int(_rpc(client, self.url, "eth_getTransactionCount", self.acct.address,
                             "pending"), 16)
            while not self.stop.wait(1 / self.rate):
                raw = self.acct.sign_transaction({
                    "nonce": nonce, "gas": 21_000, "maxFeePerGas": 0,
                    "maxPriorityFeePerGas": 0, "to": "0x" + "00" * 19 + "01", "value": 1,
                    "chainId": chain_id}).raw_transaction
                try:
                    _rpc(client, self.url, "eth_sendRawTransaction", "0x" + bytes(raw).hex())
                except (RuntimeError, httpx.HTTPError):
                    continue
                nonce += 1
                self.sent += 1


def _flood_body(calls: str, target: str, batch: int, gas: int) -> list[dict[str, Any]]:
    if calls == "native":
        return [{"jsonrpc": "2.0", "id": i, "method": "consortium_members", "params": []}
                for i in range(batch)]
    return [{"jsonrpc": "2.0", "id": i, "method": "eth_call",
             "params": [{"to": target, "gas": hex(gas)}, "latest"]} for i in range(batch)]


def _flood(url: str, body: list[dict[str, Any]], window: _Window,
           stop: threading.Event, lock: threading.Lock) -> None:
    with httpx.Client() as client:
        while not stop.is_set():
            outcome = "other_errors"
            try:
                r = client.post(url, json=body, timeout=60)
                if r.status_code == 429:
                    outcome = "http_429"
                    stop.wait(0.05)
                elif r.status_code == 200:
                    answers = r.json()
                    timed_out = any("timeout" in str(a.get("error", "")) for a in answers)
                    outcome = "timeouts" if timed_out else "answered"
            except httpx.HTTPError:
                pass
            with lock:
                window.flood["requests"] += 1
                window.flood[outcome] += 1


def _probe(url: str, window: _Window, stop: threading.Event) -> None:
    with httpx.Client() as client:
        while not stop.wait(0.1):
            start = time.monotonic()
            try:
                _rpc(client, url, "eth_blockNumber")
            except (RuntimeError, httpx.HTTPError):
                continue
            window.probes.append(time.monotonic() - start)


def _measure(net: LedgerNet, cfg: FloodConfig, window: _Window,
             flood: Callable[[threading.Event], list[threading.Thread]]) -> None:
    stop = threading.Event()
    flooded_urls = net.api_urls[:cfg.flooded]
    threads = [threading.Thread(target=_probe, args=(u, window, stop), daemon=True)
               for u in flooded_urls]
    threads += flood(stop)
    for t in threads:
        t.start()
    with httpx.Client() as client:
        time.sleep(min(2.0, cfg.window / 5))  # let the flood reach its pace
        start_h, start = _height(client, net.rpc_urls[-1]), time.monotonic()
        time.sleep(cfg.window)
        end_h, end = _height(client, net.rpc_urls[-1]), time.monotonic()
    stop.set()
    for t in threads:
        t.join(70)
    window.heights, window.seconds = (start_h, end_h), end - start


def run_call_flood_bench(cfg: FloodConfig, ui: Ui) -> RunOutcome:
    cfg.check()
    started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    with tempfile.TemporaryDirectory(prefix="consortium-flood-") as tmp:
        net = LedgerNet(Path(tmp) / "net", validators=cfg.validators, accounts=2,
                        timeout_commit=cfg.timeout_commit)
        ui.step(f"starting {cfg.validators} validators")
        net.up()
        try:
            keys = [a.key for a in net.accounts()]
            target = _deploy_loop(net.api_urls[0], keys[0])
            ui.step(f"looping contract at {target}")
            stop_tx = threading.Event()
            transfers = _Transfers(net.api_urls[-1], keys[1], cfg.tx_rate, stop_tx)
            transfers.start()
            windows = [_Window("quiet"), _Window("flooded"), _Window("quiet again")]
            lock = threading.Lock()
            gas = 10**9  # the block gas limit: the node's gas cap decides
            body = _flood_body(cfg.calls, target, cfg.batch, gas)
            for window in windows:
                ui.step(f"{window.name}: {cfg.window:.0f} s")

                def flood(stop: threading.Event, w: _Window = window) -> list[threading.Thread]:
                    if w.name != "flooded":
                        return []
                    return [threading.Thread(target=_flood, daemon=True,
                                             args=(url, body, w, stop, lock))
                            for url in net.api_urls[:cfg.flooded] for _ in range(cfg.clients)]

                _measure(net, cfg, window, flood)
            stop_tx.set()
            transfers.join(10)
        finally:
            net.down()
    quiet = (windows[0].block_rate + windows[2].block_rate) / 2
    ratio = windows[1].block_rate / quiet if quiet else 0.0
    report = {
        "schema": "consortium-bench-call-flood/1", "started": started,
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()},
        "machine": machine(), "windows": [w.to_json() for w in windows],
        "transfers_sent": transfers.sent,
        "quiet_blocks_per_s": round(quiet, 3), "flooded_blocks_per_s":
            round(windows[1].block_rate, 3), "ratio": round(ratio, 3),
        "goal": 0.9, "met": ratio >= 0.9,
    }
    path = write_json(report, Path(cfg.out) / f"{started}-call-flood.json")
    return RunOutcome(report, path)


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    rows = []
    for w in report["windows"]:
        lat = w["block_number_latency_ms"]
        f = w["flood"]
        rows.append([w["window"], f"{w['blocks_per_s']:.2f}",
                     f"{lat['p50']:.0f} / {lat['p99']:.0f}" if lat["count"] else "-",
                     f"{f['requests']:,}", f"{f['http_429']:,}", f"{f['timeouts']:,}"])
    return rows


TABLE_COLUMNS = ["window", "blocks/s", "eth_blockNumber p50 / p99 ms (flooded nodes)",
                 "flood requests", "429", "timed out"]

