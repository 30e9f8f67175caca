"""The explorer's costs (`consortium bench explorer`), issue 20's two figures, in process:

1. **Index cost per block.** Two ledgers from the same genesis (64 members) commit the same
   blocks of `block_txs` ERC-20 transfers (BenchToken: each transfer's sender, the token,
   and the Transfer event's two holders are indexed — the index's worst common case), one
   with the address index and one without (`Ledger.index_addresses`), alternating which
   goes first. Reported: the median `commit` (the block's one LMDB write transaction, fsync
   included) of each, their difference, and that difference against the commit and against
   finalize + commit. Goal: under 5 % of a block's commit.
2. **Pages on a long chain.** A ledger grown to `blocks` blocks carrying `txs` transactions
   (after block 1, the token's deployment)
   (value transfers between 64 members and 1,024 recipients, and ERC-20 transfers every
   `token_every`-th), built by driving the ledger as the ABCI application does (FinalizeBlock,
   Commit; no CometBFT: nothing is measured while filling, and LMDB's fsync is skipped for
   the fill only). Then a node API (`create_app`, uvicorn on a loopback port) serves it and
   each page is fetched `rounds` times over HTTP: the console's overview, block, transaction
   and address pages (`/console/…`, when the console is mounted) and the JSON-RPC reads they
   make. Reported: median and max server time (request sent → response read, on loopback).
   Goal: under 300 ms each.

The report is `bench/results/<UTC time>-explorer.json`.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import shutil
import statistics
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_hash.auto import keccak

from consortium.bench.report import default_out, machine, write_json
from consortium.bench.runner import QuietUi, Ui
from consortium.bench.state import CHAIN_ID, T0_NS, _swapped, app_state_json, members
from consortium.bench.workloads import (
    BenchAccount,
    PreSigned,
    TokenTransfer,
    ValueTransfer,
    Workload,
    presign,
)
from consortium.errors import ConfigError

SCHEMA = "consortium-bench-explorer/1"
INDEX_GOAL = 0.05  # issue 20: the index's cost under 5 % of a block's commit
PAGE_GOAL_MS = 300.0  # issue 20: every page under 300 ms server time


@dataclass
class ExplorerConfig:
    cost_blocks: int = 20  # blocks of the index-cost comparison
    block_txs: int = 1_000
    blocks: int = 100_000  # the long chain's length
    txs: int = 1_000_000  # transactions it carries
    token_every: int = 10  # every n-th of them an ERC-20 transfer (0: none)
    rounds: int = 20  # fetches of each page
    senders: int = 64
    skip_cost: bool = False
    skip_pages: bool = False
    keep: Path | None = None  # keep (or reuse) the long chain's ledger here
    out: Path = field(default_factory=default_out)

    def check(self) -> None:
        if self.cost_blocks < 1 or self.block_txs < 1:
            raise ConfigError("--cost-blocks and --block-txs must be at least 1")
        if self.blocks < 1 or self.txs < 0 or self.rounds < 1 or self.senders < 1:
            raise ConfigError("--blocks, --rounds and --senders must be at least 1")

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"out": str(self.out),
                               "keep": str(self.keep) if self.keep else None}


@dataclass
class ExplorerOutcome:
    report: dict[str, Any]
    json_path: Path


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 3)


def _new_ledger(path: Path, senders: list[BenchAccount]) -> Any:
    from consortium.ledger.genesis import AppState
    from consortium.ledger.ledger import Ledger
    from consortium.natives import chain_natives

    ledger = Ledger(path, engine="revm", natives=chain_natives())
    if ledger.info()[0] == 0 and ledger.store.get("meta", b"genesis") is None:
        ledger.init_chain(AppState.from_json(app_state_json(senders)), 1)
    return ledger


def _context(height: int) -> Any:
    from consortium.ledger.types import BlockContext

    return BlockContext(height=height, time_ns=T0_NS + height * 10**9, proposer=b"\xaa" * 20,
                        block_hash=keccak(height.to_bytes(8, "big")),
                        prevrandao=keccak(b"prevrandao" + height.to_bytes(8, "big")))


def _run_block(ledger: Any, raws: list[bytes]) -> tuple[float, float, int]:
    """FinalizeBlock then Commit, as the ABCI application calls them: (finalize s,
    commit s, failed transactions)."""
    ledger.prime_senders(raws)  # CheckTx's work, before the clock
    height = ledger.info()[0] + 1
    start = time.perf_counter()
    outcome = ledger.finalize_block(_context(height), raws)
    finalized = time.perf_counter()
    ledger.commit()
    committed = time.perf_counter()
    return finalized - start, committed - finalized, sum(
        1 for r in outcome.tx_results if r.code != 0)


# --- 1. the index's cost per block -----------------------------------------------------


def index_cost(cfg: ExplorerConfig, senders: list[BenchAccount], work: Path,
               ui: Ui) -> dict[str, Any]:
    workload = TokenTransfer()
    setup = workload.prepare(senders, CHAIN_ID)
    total = cfg.cost_blocks * cfg.block_txs
    with ui.bar(f"signing {total:,} ERC-20 transfers", total) as advance:
        txs = presign(workload, senders, total, CHAIN_ID, setup.next_nonces(len(senders)),
                      advance)
    ledgers = {"with": _new_ledger(work / "with-index", senders),
               "without": _new_ledger(work / "without-index", senders)}
    ledgers["without"].index_addresses = False
    timings: dict[str, list[tuple[float, float]]] = {"with": [], "without": []}
    failed = 0
    entries = 0
    own: list[float] = []  # the index's own work in each commit: entries built and written
    try:
        for ledger in ledgers.values():
            _run_block(ledger, [t.raw for t in setup.txs])
        gc.collect()
        gc.freeze()
        label = f"{cfg.cost_blocks} blocks of {cfg.block_txs:,}, with and without the index"
        with _timing_index(own), ui.bar(label, total) as advance:
            for b in range(cfg.cost_blocks):
                raws = [t.raw for t in txs[b * cfg.block_txs:(b + 1) * cfg.block_txs]]
                order = ("with", "without") if b % 2 == 0 else ("without", "with")
                for name in order:
                    fin, com, bad = _run_block(ledgers[name], raws)
                    timings[name].append((fin, com))
                    failed += bad
                advance(len(raws))
        store = ledgers["with"].store
        with store.read() as txn:
            entries = txn.stat(store.dbs["addr_txs"])["entries"]
        hashes = {name: ledger.info()[1] for name, ledger in ledgers.items()}
    finally:
        gc.unfreeze()
        for ledger in ledgers.values():
            ledger.close()
    commit = {k: statistics.median(c for _, c in v) for k, v in timings.items()}
    block = {k: statistics.median(f + c for f, c in v) for k, v in timings.items()}
    extra = commit["with"] - commit["without"]
    share = extra / commit["without"] if commit["without"] else 0.0
    return {
        "workload": "erc20", "blocks": cfg.cost_blocks, "block_txs": cfg.block_txs,
        "failed": failed, "index_entries": entries,
        "same_app_hash": hashes["with"] == hashes["without"],
        "commit_ms_median": {k: _ms(v) for k, v in commit.items()},
        "finalize_commit_ms_median": {k: _ms(v) for k, v in block.items()},
        "extra_commit_ms": _ms(extra),
        "index_work_ms_median": _ms(statistics.median(own)) if own else None,
        "index_work_share_of_commit": (round(statistics.median(own) / commit["without"], 4)
                                       if own and commit["without"] else None),
        "extra_share_of_commit": round(share, 4),
        "extra_share_of_block": round(extra / block["without"], 4) if block["without"] else 0,
        "goal": INDEX_GOAL, "met": share < INDEX_GOAL,
        "blocks_ms": {k: [[_ms(f), _ms(c)] for f, c in v] for k, v in timings.items()},
    }


@contextlib.contextmanager
def _timing_index(times: list[float]) -> Iterator[None]:
    """Time the index's part of each commit (building its entries, writing them), apart
    from the noise of two whole commits' difference."""
    from consortium.ledger import address_index

    build, write = address_index.block_entries, address_index.write_entries
    pending: list[float] = []

    def timed_build(*args: Any) -> Any:
        start = time.perf_counter()
        out = build(*args)
        pending.append(time.perf_counter() - start)
        return out

    def timed_write(*args: Any) -> None:
        start = time.perf_counter()
        write(*args)
        times.append(pending.pop() + time.perf_counter() - start)

    with _swapped(address_index, "block_entries", timed_build), \
            _swapped(address_index, "write_entries", timed_write):
        yield


# --- 2. pages on a long chain ----------------------------------------------------------


class _Mixed(Workload):
    """Value transfers, and every n-th transaction an ERC-20 transfer."""

    def __init__(self, token: TokenTransfer, every: int) -> None:
        self.token = token
        self.value = ValueTransfer()
        self.every = every
        self.gas = token.gas

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        if self.every and i % self.every == 0:
            return self.token.call(i)
        return self.value.call(i)


@contextlib.contextmanager
def _no_fsync() -> Iterator[None]:
    """The fill's LMDB opened without fsync on commit (nothing is measured while filling;
    a crash would only lose the bench's own throwaway chain)."""
    import lmdb

    import consortium.ledger.state_store as state_store

    real = lmdb.open

    class _Lmdb:
        def __getattr__(self, name: str) -> Any:
            return getattr(lmdb, name)

        @staticmethod
        def open(*args: Any, **kwargs: Any) -> Any:
            return real(*args, **{**kwargs, "sync": False, "metasync": False})

    with _swapped(state_store, "lmdb", _Lmdb()):
        yield


def fill_chain(path: Path, cfg: ExplorerConfig, senders: list[BenchAccount],
               ui: Ui) -> dict[str, Any]:
    """Grow the ledger at `path` to `cfg.blocks` blocks carrying `cfg.txs` transactions
    (resumes a kept one); returns what it built."""
    token = TokenTransfer()
    setup = token.prepare(senders, CHAIN_ID)
    workload = _Mixed(token, cfg.token_every)
    per_block, extra = divmod(cfg.txs, cfg.blocks)
    chunk_blocks = max(1, 20_000 // max(per_block, 1))
    started = time.perf_counter()
    failed = 0
    with _no_fsync():
        ledger = _new_ledger(path, senders)
    try:
        height = ledger.info()[0]
        if height == 0:
            _run_block(ledger, [t.raw for t in setup.txs])
            height = 1
        if height > cfg.blocks:
            return {"reused": True, "blocks": height}
        # the n-th block (from 2) carries per_block (+1 for the first `extra`) transactions
        done = sum(per_block + (1 if b < extra else 0) for b in range(height - 1))
        nonces = [n + done // len(senders) + (1 if i < done % len(senders) else 0)
                  for i, n in enumerate(setup.next_nonces(len(senders)))]
        gc.collect()
        gc.freeze()
        with ui.bar(f"filling {cfg.blocks:,} blocks with {cfg.txs:,} transactions",
                    cfg.blocks) as advance:
            advance(height)
            while height <= cfg.blocks:
                blocks = min(chunk_blocks, cfg.blocks - height + 1)
                sizes = [per_block + (1 if height - 1 + b < extra else 0)
                         for b in range(blocks)]
                count = sum(sizes)
                signed = _presign_from(workload, senders, count, nonces, done)
                at = 0
                for size in sizes:
                    raws = [t.raw for t in signed[at:at + size]]
                    at += size
                    failed += _run_block(ledger, raws)[2]
                    height += 1
                done += count
                advance(blocks)
        ledger.store.env.sync(True)
        info = {"reused": False, "blocks": ledger.info()[0], "failed": failed}
    finally:
        gc.unfreeze()
        ledger.close()
    info["fill_s"] = round(time.perf_counter() - started, 1)
    return info


def _presign_from(workload: Workload, senders: list[BenchAccount], count: int,
                  nonces: list[int], offset: int) -> list[PreSigned]:
    """`count` transactions continuing the round-robin at `offset` (nonces advanced)."""
    n = len(senders)
    rotated = senders[offset % n:] + senders[:offset % n]
    start = nonces[offset % n:] + nonces[:offset % n]

    class _Shifted(Workload):
        gas = workload.gas

        def call(self, i: int) -> tuple[bytes, int, bytes]:
            return workload.call(offset + i)

    signed = presign(_Shifted(), rotated, count, CHAIN_ID, start)
    for j in range(count):
        nonces[(offset + j) % n] += 1
    return signed


class _StubEngine:
    """Enough of CometBFT's RPC for the overview page (status, net_info, validators)."""

    def __init__(self, height: Callable[[], int]) -> None:
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        stub_height = height

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                calls = body if isinstance(body, list) else [body]
                out = [{"jsonrpc": "2.0", "id": c.get("id"), "result": self._answer(c)}
                       for c in calls]
                data = json.dumps(out if isinstance(body, list) else out[0]).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST  # noqa: N815

            def _answer(self, call: dict[str, Any]) -> Any:
                h = str(stub_height())
                return {"status": {"sync_info": {"catching_up": False,
                                                 "latest_block_height": h,
                                                 "earliest_block_height": "1"},
                                   "node_info": {"id": "bench", "moniker": "bench"},
                                   "validator_info": {"voting_power": "10"}},
                        "net_info": {"listening": True, "n_peers": "0", "peers": []},
                        "validators": {"block_height": h, "validators": [], "count": "0",
                                       "total": "0"}}.get(call.get("method", ""), {})

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def serve(ledger: Any) -> Iterator[str]:
    """The node's API over `ledger` on a loopback port (uvicorn in a thread)."""
    import socket

    import uvicorn

    from consortium.api.app import create_app

    engine = _StubEngine(lambda: ledger.info()[0])
    app = create_app(ledger, engine.url, node_name="bench")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the bench's API server did not start")
        time.sleep(0.05)
    try:
        yield url
    finally:
        server.should_exit = True
        thread.join(30)
        engine.close()


def _fetch(url: str, body: Any = None) -> tuple[float, int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, headers={
        "Content-Type": "application/json"} if data else {})
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            payload = answer.read()
            status = answer.status
    except urllib.error.HTTPError as err:
        payload, status = err.read(), err.code
    return time.perf_counter() - start, status, payload


def _rpc(method: str, *params: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)}


def page_targets(url: str, ledger_height: int, tx_hash: str, address: str,
                 block_hash: str) -> list[tuple[str, str, Any]]:
    """(label, URL, JSON-RPC body or None for a GET) of every timed page and read."""
    console = f"{url}/console"
    mid = ledger_height // 2
    return [
        ("console overview", f"{console}/", None),
        ("console block", f"{console}/block/{mid}", None),
        ("console transaction", f"{console}/tx/{tx_hash}", None),
        ("console address", f"{console}/address/{address}", None),
        ("rpc latest block (overview)", url, _rpc("eth_getBlockByNumber", "latest", True)),
        ("rpc block", url, _rpc("eth_getBlockByNumber", hex(mid), True)),
        ("rpc block by hash", url, _rpc("eth_getBlockByHash", block_hash, False)),
        ("rpc transaction", url, _rpc("eth_getTransactionByHash", tx_hash)),
        ("rpc receipt", url, _rpc("eth_getTransactionReceipt", tx_hash)),
        ("rpc decodeTransaction", url, _rpc("consortium_decodeTransaction", tx_hash)),
        ("rpc address transactions", url,
         _rpc("consortium_getAddressTransactions", address, {"limit": 25})),
        ("rpc address balance", url, _rpc("eth_getBalance", address, "latest")),
        ("rest status", f"{url}/api/v1/status", None),
    ]


def time_pages(path: Path, cfg: ExplorerConfig, senders: list[BenchAccount],
               ui: Ui) -> dict[str, Any]:
    from consortium.api.eth_json import EthReads

    ledger = _new_ledger(path, senders)
    try:
        height = ledger.info()[0]
        mid = height // 2
        view = ledger.block_record(mid)
        token_tx = next((t for t in (view.txs if view else []) if t.log_count), None)
        sample = token_tx or (view.txs[0] if view and view.txs else None)
        if sample is None:
            raise ConfigError(f"block {mid} of the bench chain carries no transaction")
        tx_hash = "0x" + sample.hash.hex()
        address = "0x" + senders[0].address.hex()
        block_hash = "0x" + view.block.hash.hex() if view else ""
        latest = EthReads(ledger).get_block(height, False)
        out: dict[str, Any] = {"height": height, "txs_in_chain": _count_txs(ledger),
                               "tx": tx_hash, "address": address,
                               "address_transactions": _count_address(ledger, address),
                               "latest_block_hash": latest["hash"] if latest else None,
                               "pages": {}}
        with serve(ledger) as url:
            targets = page_targets(url, height, tx_hash, address, block_hash)
            with ui.bar(f"fetching {len(targets)} pages x {cfg.rounds}",
                        len(targets) * cfg.rounds) as advance:
                for label, target, body in targets:
                    _fetch(target, body)  # first fetch: caches, imports
                    times, status, size = [], 0, 0
                    for _ in range(cfg.rounds):
                        took, status, payload = _fetch(target, body)
                        times.append(took)
                        size = len(payload)
                        advance(1)
                        if status == 404 and label.startswith("console"):
                            break  # the console (or that page) is not mounted here
                    ok = status == 200 and b'"error"' not in payload[:200]
                    out["pages"][label] = {
                        "status": status, "ok": ok, "bytes": size,
                        "median_ms": _ms(statistics.median(times)), "max_ms": _ms(max(times)),
                        "met": ok and statistics.median(times) * 1000 < PAGE_GOAL_MS,
                    }
    finally:
        ledger.close()
    return out


def _count_txs(ledger: Any) -> int:
    with ledger.store.read() as txn:
        return int(txn.stat(ledger.store.dbs["txs"])["entries"])


def _count_address(ledger: Any, address: str) -> int:
    from consortium.ledger import address_index

    raw = bytes.fromhex(address[2:])
    return len(address_index.address_entries(ledger.store, raw, lo=0, hi=ledger.info()[0],
                                             limit=10**9))


def run_explorer_bench(cfg: ExplorerConfig, ui: Ui | None = None) -> ExplorerOutcome:
    cfg.check()
    ui = ui or QuietUi()
    started = datetime.now(UTC)
    senders = members(cfg.senders)
    report: dict[str, Any] = {
        "schema": SCHEMA, "started": started.isoformat(timespec="seconds"),
        "config": cfg.to_json(),
        "machine": machine() | {"loadavg_at_start": [round(v, 2) for v in os.getloadavg()]},
    }
    work = Path(tempfile.mkdtemp(prefix="consortium-bench-explorer-"))
    try:
        if not cfg.skip_cost:
            report["index_cost"] = index_cost(cfg, senders, work, ui)
        if not cfg.skip_pages:
            path = cfg.keep or work / "long-chain"
            report["fill"] = fill_chain(path, cfg, senders, ui)
            report["pages"] = time_pages(path, cfg, senders, ui)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["machine"]["loadavg_at_end"] = [round(v, 2) for v in os.getloadavg()]
    path = write_json(report, cfg.out / f"{started.strftime('%Y%m%dT%H%M%SZ')}-explorer.json")
    return ExplorerOutcome(report, path)


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per figure: what, measured, goal, met."""
    rows = []
    cost = report.get("index_cost")
    if cost:
        c = cost["commit_ms_median"]
        rows.append(["index cost per block (commit, median)",
                     f"{c['with']:.2f} vs {c['without']:.2f} ms: +{cost['extra_commit_ms']:.2f}"
                     f" ms ({cost['extra_share_of_commit'] * 100:.1f} %)",
                     "< 5 %", "yes" if cost["met"] else "NO"])
        if cost.get("index_work_ms_median") is not None:
            rows.append(["index's own work in a commit (median)",
                         f"{cost['index_work_ms_median']:.2f} ms "
                         f"({cost['index_work_share_of_commit'] * 100:.1f} % of the commit)",
                         "< 5 %", "yes" if cost["index_work_share_of_commit"] < INDEX_GOAL
                         else "NO"])
    pages = (report.get("pages") or {}).get("pages", {})
    for label, p in pages.items():
        rows.append([label, f"{p['median_ms']:.1f} ms (max {p['max_ms']:.1f}), "
                            f"HTTP {p['status']}",
                     "< 300 ms", "yes" if p["met"] else ("NO" if p["ok"] else "n/a")])
    return rows


TABLE_COLUMNS = ["figure", "measured", "goal", "met"]
