"""Large state, end to end (`consortium bench state --network`): the node's throughput as
clients see it with many accounts, filled through the chain by `bench/contracts/Airdrop.sol`,
against a small state in the same run (issue #11: within 30 %). `bench state` measures the
ledger alone, in process; the method is in bench/README.md. Every network and process started
is removed and stopped, whatever happens.
"""

from __future__ import annotations

import functools
import random
import re
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from eth._utils.address import generate_contract_address
from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey
from eth_typing import Address

from consortium.bench.load import EthTarget, LoadResult, eth_txs, plan_lanes, run_load
from consortium.bench.networks import LedgerNet
from consortium.bench.report import (
    OutConfig,
    RunOutcome,
    default_out,
    loadavg,
    report_head,
    run_summary,
    write_json,
)
from consortium.bench.resources import ResourceMonitor
from consortium.bench.runner import (
    QuietUi,
    Ui,
    check_load,
    check_receipts,
    commit_setup,
    node_processes,
)
from consortium.bench.state import TPS_TOLERANCE
from consortium.bench.workloads import BenchAccount, PreSigned, Workload, presign, sign
from consortium.errors import ConfigError, NetworkError
from consortium.network.node_config import DEFAULT_ENGINE, ENGINES
from consortium.network.supervisor import last_log_line

SCHEMA = "consortium-bench-state-network/1"
SEED = int.from_bytes(keccak(b"consortium-bench-state-network"), "big")  # of the addresses
BLOCK_GAS_LIMIT = 1_000_000_000  # the bench networks' (and CometBFT's block max_gas)
FILL_GAS_BASE = 60_000  # a fill transaction's gas limit: this, plus per account
FILL_GAS_PER_ACCOUNT = 36_000  # measured: ~34,750 gas per account created (value CALL + loop)
MAX_FILL_PER_TX = (BLOCK_GAS_LIMIT // 2 - FILL_GAS_BASE) // FILL_GAS_PER_ACCOUNT
DEPLOY_GAS = 500_000
FILL_SENDERS = 8  # senders the fill transactions are spread over (one lane each)
FILL_BATCH = 10  # fill transactions per eth_sendRawTransaction batch
BALANCE_SAMPLE = 8  # filled accounts whose balance is read after the fill
RPC_CHUNK = 100  # calls per JSON-RPC batch when reading receipts
# a Go duration, as CometBFT's timeout_commit takes it ("500ms", "1s", "1m30s")
DURATION = re.compile(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+|0")

FILL_SELECTOR = keccak(b"fill(uint256,uint256,uint256)")[:4]
RECIPIENT_SELECTOR = keccak(b"recipient(uint256,uint256)")[:4]


@dataclass
class StateNetworkConfig(OutConfig):
    accounts: int = 1_000_000  # the large state (issue #11's target)
    small: int = 1_000  # the small state it is compared with, filled the same way
    txs: int = 20_000  # value transfers in each measured run
    concurrency: int = 32
    batch: int = 100
    senders: int = 64
    fill_per_tx: int = 500  # accounts each fill transaction creates
    restart: bool = False  # restart the node between fill and load (cold caches)
    timeout_commit: str = "500ms"
    engine: str = DEFAULT_ENGINE
    out: Path = field(default_factory=default_out)

    def check(self) -> None:
        if self.accounts < 1 or self.small < 1:
            raise ConfigError("--accounts and --small must be at least 1")
        check_load(self.txs, self.batch, self.concurrency, self.senders)
        if not 1 <= self.fill_per_tx <= MAX_FILL_PER_TX:
            raise ConfigError(f"--fill-per-tx must be between 1 and {MAX_FILL_PER_TX:,} "
                              "(a fill transaction must fit in half a block's gas)")
        if not DURATION.fullmatch(self.timeout_commit):
            raise ConfigError(f"--timeout-commit {self.timeout_commit!r} is not a duration "
                              "(e.g. 500ms, 1s)")
        if self.engine not in ENGINES:
            raise ConfigError(f"--engine must be one of {', '.join(ENGINES)}")


# --- the filled addresses and the Airdrop contract ---------------------------------------------


def fill_address(seed: int, i: int) -> bytes:
    """The i-th address `Airdrop.fill(seed, …)` credits: keccak(abi.encode(seed, i))[12:]
    (two uint256 words, big-endian)."""
    return keccak(seed.to_bytes(32, "big") + i.to_bytes(32, "big"))[-20:]


def airdrop_source() -> Path:
    """bench/contracts/Airdrop.sol of this checkout."""
    return Path(__file__).resolve().parents[3] / "bench" / "contracts" / "Airdrop.sol"


@functools.cache
def airdrop_bytecode() -> bytes:
    from consortium.contracts.compiler import compile_solidity

    path = airdrop_source()
    if not path.is_file():
        raise ConfigError(f"the network state bench needs {path} (a source checkout)")
    return compile_solidity(path.read_text(), path.name, "Airdrop").bytecode


def fill_calldata(seed: int, start: int, count: int) -> bytes:
    return FILL_SELECTOR + b"".join(v.to_bytes(32, "big") for v in (seed, start, count))


def fill_gas(count: int) -> int:
    return FILL_GAS_BASE + FILL_GAS_PER_ACCOUNT * count


@dataclass
class FillPlan:
    """The signed transactions that fill a network's state, and the nonces after them."""

    contract: bytes
    per_tx: int
    deploy: PreSigned
    fills: list[PreSigned]
    next_nonces: list[int]


def plan_fill(accounts: list[BenchAccount], count: int, per_tx: int, chain_id: int,
              bytecode: bytes, seed: int = SEED) -> FillPlan:
    """Deploy Airdrop from the first account (funded with `count` wei), then fill
    transactions of `per_tx` accounts each, round-robin over the first `FILL_SENDERS`."""
    keys = [PrivateKey(a.key) for a in accounts]
    nonces = [0] * len(accounts)
    deploy = sign(keys[0], 0, 0, chain_id, b"", count, bytecode, DEPLOY_GAS)
    nonces[0] = 1
    contract = bytes(generate_contract_address(Address(accounts[0].address), 0))
    fills = []
    senders = min(FILL_SENDERS, len(accounts))
    for k, start in enumerate(range(0, count, per_tx)):
        n = min(per_tx, count - start)
        s = k % senders
        fills.append(sign(keys[s], s, nonces[s], chain_id, contract, 0,
                          fill_calldata(seed, start, n), fill_gas(n)))
        nonces[s] += 1
    return FillPlan(contract, per_tx, deploy, fills, nonces)


class ToFilled(Workload):
    """Value transfers of 1 wei to filled accounts picked at random."""

    name = "transfer-to-existing"
    description = "value transfer (1 wei) to a random existing account"

    def __init__(self, count: int, rng: random.Random, seed: int = SEED) -> None:
        self.count = count
        self.rng = rng
        self.seed = seed

    def call(self, i: int) -> tuple[bytes, int, bytes]:
        return fill_address(self.seed, self.rng.randrange(self.count)), 1, b""


# --- JSON-RPC reads ------------------------------------------------------------------------------


def _batch(url: str, calls: list[tuple[str, list[Any]]]) -> list[Any]:
    """Answers (results, None on error) of `calls`, in order, batched."""
    out: list[Any] = []
    with httpx.Client(timeout=120) as client:
        for k in range(0, len(calls), RPC_CHUNK):
            chunk = calls[k:k + RPC_CHUNK]
            body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                    for i, (m, p) in enumerate(chunk)]
            answers = client.post(url, json=body).json()
            if isinstance(answers, dict):  # one error for the whole batch
                raise NetworkError(f"{url}: {answers.get('error')}")
            by_id = {a.get("id"): a for a in answers}
            out += [(by_id.get(i) or {}).get("result") for i in range(len(chunk))]
    return out


def _hex(b: bytes) -> str:
    return "0x" + b.hex()


# --- one state size ----------------------------------------------------------------------------


def _disk_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 2**20


def _fill(net: LedgerNet, plan: FillPlan, count: int, ui: Ui) -> dict[str, Any]:
    """Commit the deployment and the fill transactions; check every receipt, a sample of
    balances and the contract's own address derivation. What it took, as JSON."""
    url = net.api_urls[0]
    start = time.perf_counter()
    commit_setup(net, [plan.deploy], ui)
    target = EthTarget(net.rpc_urls[0])
    items = eth_txs([(t.raw, t.hash, t.sender) for t in plan.fills])
    lanes = plan_lanes(target, items, [url], min(FILL_SENDERS, len(plan.next_nonces)),
                       FILL_BATCH)
    with ui.bar(f"filling the state: {count:,} accounts in {len(plan.fills):,} transactions",
                len(plan.fills)) as advance:
        result = run_load(target, lanes, url, on_commit=advance)
    if result.refused or result.aborted or len(result.committed) != len(plan.fills):
        why = result.aborted or next(iter(result.refused.values()), "not all committed")
        raise NetworkError(f"fill transactions did not commit: {why}")
    receipts = _batch(url, [("eth_getTransactionReceipt", [_hex(t.hash)]) for t in plan.fills])
    failed = [t for t, r in zip(plan.fills, receipts, strict=True)
              if not r or r.get("status") != "0x1"]
    if failed:
        raise NetworkError(f"{len(failed)} of {len(plan.fills)} fill transactions failed "
                           f"(e.g. {_hex(failed[0].hash)})")
    seconds = time.perf_counter() - start
    gas = sum(int(r["gasUsed"], 16) for r in receipts)
    checks = _check_fill(url, plan.contract, count)
    return {
        "accounts": count, "txs": len(plan.fills), "per_tx": plan.per_tx,
        # seconds: deployment, fill and the receipts' check; the fill alone: its first
        # submission to its last commit
        "seconds": round(seconds, 1), "fill_seconds": round(result.ended, 1),
        "accounts_per_s": round(count / seconds, 1) if seconds > 0 else None,
        "blocks": len(result.blocks),
        "gas_used": gas, "gas_per_account": round(gas / count, 1),
        "receipts_status_1": len(plan.fills) - len(failed),
    } | checks


def _check_fill(url: str, contract: bytes, count: int) -> dict[str, Any]:
    """Balances of a sample of the filled accounts (the first, the last, some at random:
    each must hold ≥ 1 wei; the one past the end none) and the contract's `recipient`
    against `fill_address`."""
    rng = random.Random(count)
    sample = sorted({0, count - 1, *(rng.randrange(count) for _ in range(BALANCE_SAMPLE - 2))})
    calls: list[tuple[str, list[Any]]] = [
        ("eth_getBalance", [_hex(fill_address(SEED, i)), "latest"]) for i in [*sample, count]]
    probe = count - 1
    data = RECIPIENT_SELECTOR + SEED.to_bytes(32, "big") + probe.to_bytes(32, "big")
    calls.append(("eth_call", [{"to": _hex(contract), "data": _hex(data)}, "latest"]))
    *balances, beyond, derived = _batch(url, calls)
    values = [int(b, 16) if b else 0 for b in balances]
    matches = derived is not None and derived[-40:] == fill_address(SEED, probe).hex()
    credited = sum(v >= 1 for v in values)
    doc: dict[str, Any] = {
        "balances_checked": {"sampled": len(sample), "at_least_1": credited},
        "last_balance": values[sample.index(count - 1)],
        "beyond_balance": int(beyond, 16) if beyond else 0,
        "contract_derivation_matches": matches,
    }
    if credited < len(sample) or not matches:
        raise NetworkError(f"the fill did not credit the expected accounts: {doc}")
    return doc


def _measure(cfg: StateNetworkConfig, net: LedgerNet, txs: list[PreSigned], label: str,
             ui: Ui) -> tuple[LoadResult, ResourceMonitor]:
    """The measured load, as `consortium bench` runs it (closed loop), with the node's
    processes sampled."""
    target = EthTarget(net.rpc_urls[0])
    items = eth_txs([(t.raw, t.hash, t.sender) for t in txs])
    lanes = plan_lanes(target, items, net.api_urls, cfg.concurrency, cfg.batch)
    monitor = ResourceMonitor(node_processes(net.pids()))
    with ui.bar(f"consortium: {len(txs):,} transfers at {label}, concurrency "
                f"{cfg.concurrency}", len(txs)) as advance:
        try:
            result = run_load(target, lanes, net.api_urls[0], on_commit=advance,
                              on_start=monitor.start)
        finally:
            monitor.stop()
    return result, monitor


def run_size(cfg: StateNetworkConfig, count: int, root: Path, ui: Ui) -> dict[str, Any]:
    """A fresh network: fill its state to `count` accounts, then the measured load."""
    senders = max(cfg.senders, cfg.concurrency)
    label = f"{count:,} accounts"
    ui.step(f"{label}: creating a 1-validator consortium network, {senders} member accounts")
    net = LedgerNet(root, validators=1, accounts=senders, timeout_commit=cfg.timeout_commit)
    net.set_engine(cfg.engine)
    chain_id = net.network.eth_chain_id
    accounts = net.accounts()
    plan = plan_fill(accounts, count, cfg.fill_per_tx, chain_id, airdrop_bytecode())
    with ui.bar(f"signing {cfg.txs:,} transfers to {label}", cfg.txs) as advance:
        txs = presign(ToFilled(count, random.Random(0)), accounts, cfg.txs, chain_id,
                      plan.next_nonces, advance)
    home = net.network.node_home(net.network.nodes[0])
    app_dir = home / "app"
    try:
        ui.step(f"{label}: starting the network ({cfg.engine})")
        net.up()
        fill = _fill(net, plan, count, ui)
        fill["disk_mb"] = round(_disk_mb(app_dir), 1)
        ui.step(f"{label}: filled in {fill['seconds']:,.1f} s "
                f"({fill['accounts_per_s']:,.0f} accounts/s, {fill['blocks']} blocks), "
                f"LMDB {fill['disk_mb']:,.0f} MB")
        if cfg.restart:
            ui.step(f"{label}: restarting the node (cold caches)")
            net.down()
            net.up()
        result, monitor = _measure(cfg, net, txs, label, ui)
        summary = run_summary(result, cfg.txs, monitor.usage, monitor.machine)
        summary["receipts_checked"] = check_receipts(net, result)
    except Exception:  # the node's last word, before its folder goes
        ui.step(f"{label}: node0's log ends with: {last_log_line(home)}")
        raise
    finally:
        ui.step(f"{label}: stopping the network")
        net.down()
    return {
        "accounts": count,
        "fill": fill,
        "ledger": summary,
        "ledger_blocks": [[b.height, b.txs, round(b.at, 3)] for b in result.blocks],
        "disk_mb_after": round(_disk_mb(app_dir), 1),
    }


def run_state_network_bench(cfg: StateNetworkConfig,
                            ui: Ui | None = None) -> RunOutcome:
    cfg.check()
    ui = ui or QuietUi()
    airdrop_bytecode()  # a missing compiler fails before any network exists
    from consortium.evm.revm_engine import world_factory

    started = datetime.now(UTC)
    report = report_head(SCHEMA, started, cfg.to_json() | {
        "senders": max(cfg.senders, cfg.concurrency), "node_engine": world_factory(cfg.engine)[1]})
    report |= {
        "contract": {"source": "bench/contracts/Airdrop.sol", "seed": hex(SEED),
                     "fill_gas_limit": {"base": FILL_GAS_BASE,
                                        "per_account": FILL_GAS_PER_ACCOUNT}},
    }
    work = Path(tempfile.mkdtemp(prefix="consortium-bench-statenet-"))
    runs = []
    try:
        for n, count in enumerate((cfg.small, cfg.accounts)):
            runs.append(run_size(cfg, count, work / f"net{n}", ui))
            shutil.rmtree(work / f"net{n}", ignore_errors=True)  # free the disk meanwhile
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report["runs"] = runs
    report["machine"]["loadavg_at_end"] = loadavg()
    report["target"] = target(runs[0], runs[1])
    path = write_json(report,
                      cfg.out / f"{started.strftime('%Y%m%dT%H%M%SZ')}-state-network.json")
    return RunOutcome(report, path)


def target(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """Issue #11's throughput criterion, end to end: the large state's committed tx/s over
    the small state's (whole run; the steady rates' ratio beside it)."""

    def of(key: str) -> float | None:
        a, b = large["ledger"].get(key), small["ledger"].get(key)
        return round(a / b, 3) if a is not None and b else None

    ratio = of("tps")
    return {
        "accounts": large["accounts"], "small": small["accounts"],
        "small_tps": small["ledger"]["tps"], "large_tps": large["ledger"]["tps"],
        "tps_ratio": ratio, "tps_steady_ratio": of("tps_steady"),
        "tps_ratio_limit": 1 - TPS_TOLERANCE,
        "tps_met": ratio is not None and ratio >= 1 - TPS_TOLERANCE,
    }


def _fmt(v: Any, spec: str = ",.0f") -> str:
    return "-" if v is None else format(v, spec)


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per state size."""
    rows = []
    for r in report["runs"]:
        ledger, fill = r["ledger"], r["fill"]
        lat = ledger["latency_ms"]
        checked = ledger.get("receipts_checked") or {}
        rows.append([
            f"{r['accounts']:,}", f"{fill['seconds']:,.1f}", _fmt(fill["disk_mb"]),
            _fmt(ledger["tps"]), _fmt(ledger["tps_steady"]), _fmt(lat["p50"]),
            _fmt(lat["p95"]), _fmt(lat["p99"]), f"{ledger['committed']}/{ledger['txs']}",
            f"{checked.get('status_1', 0)}/{checked.get('sampled', 0)}",
        ])
    return rows


TABLE_COLUMNS = ["accounts", "fill s", "LMDB MB", "tx/s", "steady", "p50 ms", "p95 ms",
                 "p99 ms", "committed", "receipts ok"]
