"""One benchmark run, start to finish: networks, references, load, report.

Order, so that no two measured systems share the two cores: sign the workload; run the
execution ceiling (in this process, nothing else running); start the kvstore network, load
it, stop it; start the consortium network, commit the workload's setup, load it (sampling
CPU and memory, and with `profile` recording the node with py-spy), stop it; write the
report. Every network lives in a temporary folder removed at the end, and every process
started is stopped, whatever happens.
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import httpx
import psutil

from consortium.bench import profiling
from consortium.bench.execution import ExecutionResult, engine_execution, execution_ceiling
from consortium.bench.load import (
    CometTarget,
    EngineSubmitTarget,
    EthTarget,
    LoadResult,
    LoadRun,
    eth_txs,
    kv_txs,
    plan_lanes,
)
from consortium.bench.networks import KvstoreNet, LedgerNet, bench_member_names
from consortium.bench.report import (
    SCHEMA,
    default_out,
    flamegraph_dir,
    machine,
    plot,
    run_summary,
    series,
    write_json,
)
from consortium.bench.resources import ResourceMonitor, process_tree
from consortium.bench.stats import ratio
from consortium.bench.workloads import PreSigned, make_workload, presign
from consortium.errors import ConfigError, NetworkError
from consortium.ledger.genesis import DEFAULT_BLOCK_GAS_LIMIT
from consortium.network.init import check_block_gas_limit
from consortium.network.node_config import (
    API_PROCESSES,
    DEFAULT_API_PROCESS,
    DEFAULT_ENGINE,
    ENGINES,
)

BOTH = "both"  # --engine both: revm, then py-evm

# --submit: how transactions reach the nodes besides their JSON-RPC API (diagnostics)
SUBMIT_METHODS = {"engine": "broadcast_tx_sync", "engine-async": "broadcast_tx_async"}


@dataclass
class BenchConfig:
    workload: str = "erc20"
    validators: int = 1
    txs: int = 5_000
    batch: int = 100
    concurrency: int = 8
    rate: float | None = None
    senders: int = 64
    references: bool = True
    profile: bool = False
    out: Path = field(default_factory=default_out)
    timeout_commit: str = "500ms"
    submit: str = "api"  # or straight to CometBFT's RPC (SUBMIT_METHODS; diagnostics)
    # the nodes' execution engine: "revm", "py-evm", or "both" (a network run on each,
    # revm first, the same signed transactions)
    engine: str = DEFAULT_ENGINE
    block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT  # the bench network's genesis
    api_process: str = DEFAULT_API_PROCESS  # where each node's API runs (`[api] process`)

    def check(self) -> None:
        if not 1 <= self.validators <= 16:
            raise ConfigError("--validators must be between 1 and 16")
        check_block_gas_limit(self.block_gas_limit)
        check_load(self.txs, self.batch, self.concurrency, self.senders)
        if self.rate is not None and self.rate <= 0:
            raise ConfigError("--rate must be positive")
        if self.submit != "api" and self.submit not in SUBMIT_METHODS:
            raise ConfigError("--submit must be api, engine or engine-async")
        if self.engine not in (*ENGINES, BOTH):
            raise ConfigError(f"--engine must be one of {', '.join(ENGINES)} or {BOTH}")
        if self.api_process not in API_PROCESSES:
            raise ConfigError(f"--api-process must be one of {', '.join(API_PROCESSES)}")

    def engines(self) -> list[str]:
        """The engines to run the network with, in order."""
        return ["revm", "py-evm"] if self.engine == BOTH else [self.engine]

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc["out"] = str(self.out)
        return doc


def check_load(txs: int, batch: int, concurrency: int, senders: int) -> None:
    """The load options every network bench takes, each with its error."""
    if txs < 1:
        raise ConfigError("--txs must be at least 1")
    if not 1 <= batch <= 1000:
        raise ConfigError("--batch must be between 1 and 1000 (the API's batch limit)")
    if concurrency < 1:
        raise ConfigError("--concurrency must be at least 1")
    if senders < 1:
        raise ConfigError("--senders must be at least 1")


class Ui(Protocol):
    """What a run tells its user: steps, and a progress bar per measured stage (the CLI
    draws them with rich)."""

    def step(self, text: str) -> None: ...

    def bar(self, text: str,
            total: int) -> contextlib.AbstractContextManager[Callable[[int], None]]: ...


class QuietUi:
    """A Ui that says nothing (tests, library use)."""

    def step(self, text: str) -> None:
        pass

    @contextlib.contextmanager
    def bar(self, text: str, total: int) -> Iterator[Callable[[int], None]]:
        yield lambda _n: None


@dataclass
class BenchOutcome:
    report: dict[str, Any]
    json_path: Path
    png_path: Path | None
    flamegraphs: list[Path] = field(default_factory=list)


def run_bench(cfg: BenchConfig, ui: Ui | None = None) -> BenchOutcome:
    cfg.check()
    ui = ui or QuietUi()
    workload = make_workload(cfg.workload)
    started = datetime.now(UTC)
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    flames = flamegraph_dir(cfg.out)
    lanes = cfg.concurrency
    senders = max(cfg.senders, lanes)
    from consortium.evm.revm_engine import world_factory

    # what the nodes will run (same Python), in order: one network run each
    node_engines = [world_factory(e)[1] for e in cfg.engines()]
    report: dict[str, Any] = {
        "schema": SCHEMA,
        "started": started.isoformat(timespec="seconds"),
        "workload": {"name": workload.name, "description": workload.description,
                     "gas_limit": workload.gas},
        "config": cfg.to_json() | {"senders": senders, "node_engine": node_engines[0]},
        "machine": machine(),
    }
    outcome_flames: list[Path] = []
    runs: dict[str, dict[str, Any]] = {}
    work = Path(tempfile.mkdtemp(prefix="consortium-bench-"))
    try:
        ui.step(f"creating a {cfg.validators}-validator consortium network, "
                f"{senders} member accounts")
        roles = workload.genesis_roles(bench_member_names(senders))
        net = LedgerNet(work / "ledger", validators=cfg.validators, accounts=senders,
                        timeout_commit=cfg.timeout_commit, roles=roles,
                        block_gas_limit=cfg.block_gas_limit)
        chain_id = net.network.eth_chain_id
        accounts = net.accounts()
        workload.plan(cfg.txs)
        setup = workload.prepare(accounts, chain_id)
        with ui.bar(f"signing {cfg.txs:,} {workload.name} transactions", cfg.txs) as advance:
            txs = presign(workload, accounts, cfg.txs, chain_id,
                          setup.next_nonces(len(accounts)), advance)
        if len(node_engines) > 1:  # every engine's network starts from the same homes
            shutil.copytree(net.network.root, work / "pristine", symlinks=True)

        execution: ExecutionResult | None = None
        if cfg.references:
            addresses = [a.address for a in accounts]
            app_state = net.app_state()
            html = flames / f"{stamp}-{workload.name}-execution.html" if cfg.profile else None
            try:
                with ui.bar("execution ceiling: py-evm, in memory", cfg.txs) as advance:
                    execution = execution_ceiling(addresses, setup.txs, txs, chain_id,
                                                  app_state=app_state, profile_html=html,
                                                  progress=advance)
                report["execution_ceiling"] = execution.to_json()
            except Exception as exc:  # a workload py-evm as shipped cannot run: "-"
                report["execution_ceiling_error"] = f"{type(exc).__name__}: {exc}"
                ui.step(f"execution ceiling not measured: {exc}")
            if html is not None and html.exists():
                outcome_flames.append(html)
            for engine in node_engines:
                with ui.bar(f"execution: the nodes' engine ({engine}), in memory",
                            cfg.txs) as advance:
                    own = engine_execution(engine, addresses, setup.txs, txs, chain_id,
                                           app_state=app_state, progress=advance)
                runs.setdefault(engine, {})["execution_engine"] = own.to_json()
            report["execution_engine"] = runs[node_engines[0]]["execution_engine"]
            ui.step(f"starting the kvstore reference ({cfg.validators} validator(s))")
            report["engine_ceiling"] = _kvstore_run(cfg, work / "kvstore", stamp, ui)

        for n, engine in enumerate(node_engines):
            if n:
                shutil.rmtree(net.network.root)
                shutil.copytree(work / "pristine", net.network.root, symlinks=True)
            net.set_engine(engine, api_process=cfg.api_process)
            profiled = cfg.profile and n == 0
            ui.step(f"starting the consortium network ({engine})")
            net.up()
            try:
                commit_setup(net, setup.txs, ui)
                result, monitor, stacks, err = _ledger_run(
                    cfg, net, txs, f"{workload.name} on {engine}", ui,
                    flames / f"{stamp}-{workload.name}", profiled)
                summary = run_summary(result, cfg.txs, monitor.usage, monitor.machine)
                summary["receipts_checked"] = check_receipts(net, result)
            finally:
                ui.step("stopping the consortium network")
                net.down()
            run = runs.setdefault(engine, {})
            run["ledger"] = summary
            run["ledger_blocks"] = [[b.height, b.txs, round(b.at, 3)] for b in result.blocks]
            if n == 0:
                report["ledger"] = summary
                report["series"] = {"ledger": series(result),
                                    "ledger_blocks": run["ledger_blocks"]}
                if profiled:
                    report["profile"] = _profile_report(stacks, err, flames, stamp,
                                                        workload.name, outcome_flames)
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ledger_tps = report["ledger"]["tps"]
    engine_ref = report.get("engine_ceiling")
    own_tps = (report.get("execution_engine") or {}).get("tps")
    report["ratios"] = {
        "vs_execution_ceiling": _round(ratio(ledger_tps, execution.tps if execution else None)),
        "vs_engine_ceiling": _round(ratio(ledger_tps, engine_ref["tps"] if engine_ref else None)),
        "vs_node_engine_in_memory": _round(ratio(ledger_tps, own_tps)),
    }
    if len(node_engines) > 1:
        report["engines"] = {e: runs[e] for e in node_engines}
        report["ratios"] |= engine_ratios(runs, node_engines[0], node_engines[1])
    name = f"{stamp}-{workload.name}"
    json_path = write_json(report, cfg.out / f"{name}.json")
    png = plot(report, cfg.out / f"{name}.png")
    return BenchOutcome(report, json_path, png, outcome_flames)


def engine_ratios(runs: dict[str, dict[str, Any]], first: str,
                  second: str) -> dict[str, float | None]:
    """`first` / `second` (e.g. revm / py-evm): committed tx/s, and in memory."""
    key = f"{first}_vs_{second}".replace("-", "_")

    def of(part: str) -> float | None:
        a, b = ((runs.get(e, {}).get(part) or {}).get("tps") for e in (first, second))
        return None if a is None else _round(ratio(a, b))

    return {key: of("ledger"), f"{key}_in_memory": of("execution_engine")}


def _round(v: float | None) -> float | None:
    return None if v is None else round(v, 3)


def node_processes(pids: dict[str, int]) -> dict[str, psutil.Process]:
    """The processes to sample during a run: each node with its children, and this one."""
    procs: dict[str, psutil.Process] = {}
    for name, pid in pids.items():
        procs |= process_tree(name, pid)
    procs["bench client"] = psutil.Process(os.getpid())
    return procs


def _kvstore_run(cfg: BenchConfig, root: Path, stamp: str, ui: Ui) -> dict[str, Any]:
    kv = KvstoreNet(root, validators=cfg.validators, timeout_commit=cfg.timeout_commit)
    try:
        kv.up()
        items = kv_txs(cfg.txs, max(cfg.senders, cfg.concurrency), stamp)
        target = CometTarget()
        lanes = plan_lanes(target, items, kv.rpc_urls, cfg.concurrency, cfg.batch)
        monitor = ResourceMonitor(node_processes(kv.pids()))
        with ui.bar("engine ceiling: CometBFT kvstore", cfg.txs) as advance:
            run = LoadRun(target, lanes, kv.rpc_urls[0], on_commit=advance,
                          on_start=monitor.start)
            result = _run(run)
        processes = monitor.stop()
        return run_summary(result, cfg.txs, processes, monitor.machine)
    finally:
        kv.down()


def _run(run: LoadRun) -> LoadResult:
    import asyncio

    return asyncio.run(run.run())


def commit_setup(net: LedgerNet, setup: list[PreSigned], ui: Ui) -> None:
    """Commit a workload's setup transactions; raises NetworkError unless every one
    committed with status 1."""
    if not setup:
        return
    ui.step(f"committing {len(setup)} setup transaction(s)")
    target = EthTarget(net.rpc_urls[0])
    url = net.api_urls[0]
    lanes = plan_lanes(target, eth_txs([(t.raw, t.hash, t.sender) for t in setup]), [url], 1,
                       100)
    result = _run(LoadRun(target, lanes, url, stall_timeout=60))
    if result.refused or result.aborted or len(result.committed) != len(setup):
        raise NetworkError(f"setup transactions did not commit: "
                           f"{result.aborted or next(iter(result.refused.values()), '')}")
    for tx in setup:
        receipt = _rpc(url, "eth_getTransactionReceipt", ["0x" + tx.hash.hex()])
        if not receipt or receipt.get("status") != "0x1":
            raise NetworkError(f"setup transaction 0x{tx.hash.hex()} failed: {receipt}")


def _ledger_run(cfg: BenchConfig, net: LedgerNet, txs: list[PreSigned], name: str, ui: Ui,
                flame_base: Path, profile: bool
                ) -> tuple[LoadResult, ResourceMonitor, profiling.Stacks, str]:
    target = EthTarget(net.rpc_urls[0])
    urls = net.api_urls
    if cfg.submit in SUBMIT_METHODS:
        target = EngineSubmitTarget(net.rpc_urls[0], SUBMIT_METHODS[cfg.submit])
        urls = net.rpc_urls
    items = eth_txs([(t.raw, t.hash, t.sender) for t in txs])
    lanes = plan_lanes(target, items, urls, cfg.concurrency, cfg.batch)
    pids = net.pids()
    node0 = net.network.nodes[0]  # the report splits node0's CPU by thread
    monitor = ResourceMonitor(node_processes(pids), metrics={
        node0.name: node0.api_url.rstrip("/") + "/metrics"})
    monitor.read_threads()  # before the window: a scrape is work for the node
    profiler = None
    if profile:
        profiler = profiling.NodeProfiler(pids["node0"], flame_base.with_suffix(".node0.txt"))

    def start() -> None:
        monitor.start()
        if profiler is not None:
            profiler.start()

    what = f"consortium: {name}, " + (f"{cfg.rate:g} tx/s" if cfg.rate
                                      else f"concurrency {cfg.concurrency}")
    with ui.bar(what, cfg.txs) as advance:
        result = _run(LoadRun(target, lanes, net.api_urls[0], rate=cfg.rate,
                              on_commit=advance, on_start=start))
    monitor.stop()
    stacks = profiler.stop() if profiler is not None else {}
    return result, monitor, stacks, profiler.error if profiler is not None else ""


def _rpc(url: str, method: str, params: list[Any]) -> Any:
    r = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                   timeout=30)
    return r.json().get("result")


def check_receipts(net: LedgerNet, result: LoadResult, sample: int = 50) -> dict[str, int]:
    """Receipts of a sample of committed transactions: how many succeeded (status 1)."""
    keys = sorted(result.committed)
    chosen = random.Random(0).sample(keys, min(sample, len(keys)))
    body = [{"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt", "params": [k]}
            for i, k in enumerate(chosen)]
    ok = 0
    if body:
        answers = httpx.post(net.api_urls[0], json=body, timeout=60).json()
        ok = sum(1 for a in answers if (a.get("result") or {}).get("status") == "0x1")
    return {"sampled": len(chosen), "status_1": ok}


def _profile_report(stacks: profiling.Stacks, error: str, flames: Path, stamp: str,
                    name: str, written: list[Path]) -> dict[str, Any]:
    if not stacks:
        return {"error": error or "no samples"}
    svg = flames / f"{stamp}-{name}.node0.svg"
    svg.parent.mkdir(parents=True, exist_ok=True)
    svg.write_text(profiling.flamegraph_svg(stacks, f"consortium node0, {name} ({stamp})"))
    written.append(svg)
    doc = profiling.summarize(stacks).to_json()
    doc["flamegraph"] = str(svg)
    doc["execution_html"] = next((str(p) for p in written if p.suffix == ".html"), None)
    return doc
