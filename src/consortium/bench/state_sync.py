"""Join time of a new node (`consortium bench state-sync`, issue 21): state sync against
replay from genesis, for each chain length asked, on one machine (goal: ≥ 10× faster, flat
in the chain's length); and what writing a snapshot costs commits. The method is in
bench/README.md. Every network and process started is removed and stopped, whatever happens.
"""

from __future__ import annotations

import contextlib
import json
import random
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import tomlkit

from consortium.bench.networks import LedgerNet
from consortium.bench.report import OutConfig, RunOutcome, default_out, machine, write_json
from consortium.bench.runner import QuietUi, Ui
from consortium.bench.state_network import (
    ToFilled,
    _disk_mb,
    _fill,
    airdrop_bytecode,
    plan_fill,
)
from consortium.bench.workloads import presign
from consortium.errors import ConfigError, NetworkError
from consortium.network import supervisor
from consortium.network.state_sync import JoinSettings
from consortium.network.supervisor import last_log_line

SCHEMA = "consortium-bench-state-sync/1"
BUILD_TIMEOUT_COMMIT = "1ms"  # empty blocks as fast as the node commits them
JOIN_TIMEOUT_COMMIT = "1s"  # while the joiners catch up
JOIN_TIMEOUT = 3600.0
MEMBERS = 8  # bench member accounts (the fill's senders)
TABLE_COLUMNS = ["chain (blocks)", "accounts", "state sync (s)", "restored at",
                 "replay (s)", "× faster", "snapshot (MB)"]


@dataclass
class StateSyncConfig(OutConfig):
    blocks: list[int] = field(default_factory=lambda: [20_000])  # chain lengths measured
    accounts: int = 100_000  # the large state
    snapshot_interval: int = 1_000
    fill_per_tx: int = 500
    # value transfers per second sent while the chain grows (0: its blocks stay empty)
    tx_rate: int = 0
    # the cost to commits of a snapshot being written (in process; 0 accounts: skipped)
    overhead_accounts: int = 200_000
    overhead_window: int = 10  # blocks per window (quiet, busy, quiet)
    overhead_block_txs: int = 1_000
    out: Path = field(default_factory=default_out)

    def check(self) -> None:
        if any(b < 10 for b in self.blocks) or not (self.blocks or self.overhead_accounts):
            raise ConfigError("--blocks must be at least 10 (one or more chain lengths)")
        if self.accounts < 1:
            raise ConfigError("--accounts must be at least 1")
        if self.tx_rate < 0:
            raise ConfigError("--tx-rate must be at least 0")
        if self.overhead_accounts < 0 or self.overhead_window < 1:
            raise ConfigError("--overhead-accounts must be at least 0 (0: skip)")
        if self.blocks and not 1 <= self.snapshot_interval <= min(self.blocks):
            raise ConfigError("--snapshot-interval must be between 1 and the shortest chain")


def _status(url: str) -> dict[str, Any]:
    return httpx.get(f"{url}/status", timeout=5).json()["result"]  # type: ignore[no-any-return]


def _height(url: str) -> int:
    try:
        return int(_status(url)["sync_info"]["latest_block_height"])
    except (httpx.HTTPError, KeyError, ValueError):
        return -1


def _snapshot_heights(url: str) -> list[int]:
    import base64

    try:
        r = httpx.get(f"{url}/abci_query", params={"path": '"/snapshots"'}, timeout=5)
        doc = json.loads(base64.b64decode(r.json()["result"]["response"]["value"]))
        return [int(s["height"]) for s in doc["snapshots"]]
    except (httpx.HTTPError, KeyError, ValueError):
        return []


def _app_hash_after(url: str, height: int) -> str:
    r = httpx.get(f"{url}/block", params={"height": height + 1}, timeout=5)
    return str(r.json()["result"]["block"]["header"]["app_hash"])


def _wait(condition: Any, timeout: float, what: str, interval: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise NetworkError(f"timed out after {timeout:.0f} s waiting for {what}")


def _one_validator(net: LedgerNet) -> None:
    """Keep node0 the only validator: node1 and node2 stay admitted nodes, without power."""
    network = net.network
    home0 = network.node_home(network.nodes[0])
    doc = json.loads((home0 / "config" / "genesis.json").read_text())
    doc["validators"] = doc["validators"][:1]
    for member in doc["app_state"]["members"][1:]:
        member["validators"] = []
    raw = json.dumps(doc, indent=2).encode()
    for node in network.nodes:
        (network.node_home(node) / "config" / "genesis.json").write_bytes(raw)


def _set_timeout_commit(home: Path, value: str) -> None:
    path = home / "config" / "config.toml"
    doc = tomlkit.parse(path.read_text())
    doc["consensus"]["timeout_commit"] = value
    path.write_text(tomlkit.dumps(doc))


def _set_snapshots(home: Path, interval: int) -> None:
    path = home / "consortium.toml"
    doc = tomlkit.parse(path.read_text())
    table = tomlkit.table()
    table["snapshot_interval"] = interval
    table["snapshot_keep"] = 2
    doc["state_sync"] = table
    path.write_text(tomlkit.dumps(doc))


class _Feeder:
    """Sends pre-signed transactions to a node's API at about `rate` per second, in order
    (one batch at a time), on a thread, until they run out or `stop` is called."""

    def __init__(self, url: str, raws: list[bytes], rate: int) -> None:
        import threading

        self.url, self.raws, self.rate = url, raws, rate
        self.sent = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="tx-feeder", daemon=True)

    def start(self) -> None:
        if self.raws and self.rate:
            self._thread.start()

    def _run(self) -> None:
        tick = 0.1
        per_tick = max(1, int(self.rate * tick))
        with httpx.Client(timeout=30) as client:
            while not self._stop.is_set() and self.sent < len(self.raws):
                started = time.perf_counter()
                batch = self.raws[self.sent:self.sent + per_tick]
                body = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
                         "params": ["0x" + raw.hex()]} for i, raw in enumerate(batch)]
                with contextlib.suppress(httpx.HTTPError):  # counted as sent all the same
                    client.post(self.url, json=body)
                self.sent += len(batch)
                self._stop.wait(max(0.0, tick - (time.perf_counter() - started)))

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(60)


def _log_offsets(log: str, started_wall: float) -> dict[str, float]:
    """Seconds from the joiner's start to its restore's first and last log lines."""
    out = {}
    for key, marker in (("restore_started_s", "restoring snapshot of height"),
                        ("restore_done_s", "state restored from the snapshot")):
        line = next((ln for ln in log.splitlines() if marker in ln), None)
        if line is None:
            continue
        try:
            stamp = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").astimezone()
        except ValueError:
            continue
        out[key] = round(stamp.timestamp() - started_wall, 2)
    return out


def _join(net: LedgerNet, name: str, target: int, ui: Ui, label: str) -> dict[str, Any]:
    """Start `name` and time it until it has committed `target`."""
    network = net.network
    node = network.node(name)
    started = time.perf_counter()
    started_wall = time.time()
    supervisor.up(network, [name])
    with ui.bar(f"{label}: {name} catching up to height {target:,}", target) as advance:
        done = 0
        while True:
            h = _height(node.rpc_url)
            if h > done:
                advance(h - done)
                done = h
            if h >= target:
                break
            if time.perf_counter() - started > JOIN_TIMEOUT:
                raise NetworkError(f"{name} did not reach height {target} in "
                                   f"{JOIN_TIMEOUT:.0f} s")
            time.sleep(0.2)
    seconds = time.perf_counter() - started
    home = network.node_home(node)
    log = (home / "node.log").read_text(errors="replace")
    marker = "state restored from the snapshot of height "
    restored = int(log.split(marker)[1].split(",")[0]) if marker in log else 0
    ours = _app_hash_after(node.rpc_url, target - 1)
    theirs = _app_hash_after(net.rpc_urls[0], target - 1)
    if ours != theirs:
        raise NetworkError(f"{name}'s app hash at {target - 1} differs from node0's")
    earliest = int(_status(node.rpc_url)["sync_info"]["earliest_block_height"])
    return {"seconds": round(seconds, 2), "target_height": target,
            "restored_height": restored, "earliest_block": earliest,
            "blocks_executed": target - restored, "app_hash_agrees": True,
            **_log_offsets(log, started_wall)}


def _committed_transfers(url: str, senders: list[str], start_nonces: list[int]) -> int:
    """Transactions the senders have committed since `start_nonces` (their nonces now)."""
    body = [{"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionCount",
             "params": [address, "latest"]} for i, address in enumerate(senders)]
    try:
        answers = sorted(httpx.post(url, json=body, timeout=30).json(), key=lambda a: a["id"])
        return sum(int(a["result"], 16) for a in answers) - sum(start_nonces)
    except (httpx.HTTPError, ValueError, TypeError, KeyError):
        return 0


def run_length(cfg: StateSyncConfig, blocks: int, root: Path, ui: Ui) -> dict[str, Any]:
    label = f"{blocks:,} blocks"
    ui.step(f"{label}: a 3-node network (node0 the only validator), {MEMBERS} members")
    net = LedgerNet(root, validators=3, accounts=MEMBERS, timeout_commit=BUILD_TIMEOUT_COMMIT)
    _one_validator(net)
    network = net.network
    home0 = network.node_home(network.nodes[0])
    _set_snapshots(home0, cfg.snapshot_interval)
    chain_id = network.eth_chain_id
    plan = plan_fill(net.accounts(), cfg.accounts, cfg.fill_per_tx, chain_id, airdrop_bytecode())
    rpc0 = net.rpc_urls[0]
    raws: list[bytes] = []
    if cfg.tx_rate:
        count = min(cfg.tx_rate * max(blocks // 30, 10), 400_000)  # ~30 blocks/s at worst
        with ui.bar(f"signing {count:,} transfers for the chain's blocks", count) as advance:
            raws = [t.raw for t in presign(ToFilled(cfg.accounts, random.Random(blocks)),
                                           net.accounts(), count, chain_id,
                                           plan.next_nonces, advance)]
    feeder = _Feeder(net.api_urls[0], raws, cfg.tx_rate)
    try:
        supervisor.up(network, ["node0"])
        _wait(lambda: _height(rpc0) >= 1, 90, "node0's first block")
        fill = _fill(net, plan, cfg.accounts, ui)
        ui.step(f"{label}: {cfg.accounts:,} accounts filled in {fill['seconds']:,.1f} s")
        build_start = time.perf_counter()
        feeder.start()
        with ui.bar(f"{label}: growing the chain"
                    + (f" ({cfg.tx_rate} transfers/s)" if cfg.tx_rate else ""),
                    blocks) as advance:
            done = 0
            while done < blocks:
                h = max(_height(rpc0), 0)
                advance(min(h, blocks) - done)
                done = min(h, blocks)
                time.sleep(0.5)
        feeder.stop()
        chain_txs = _committed_transfers(
            net.api_urls[0], ["0x" + a.address.hex() for a in net.accounts()],
            plan.next_nonces) if cfg.tx_rate else 0
        last = blocks // cfg.snapshot_interval * cfg.snapshot_interval
        ui.step(f"{label}: waiting for node0's snapshot of height {last:,}")
        _wait(lambda: any(h >= last for h in _snapshot_heights(rpc0)), 600,
              f"node0's snapshot of height {last}")
        build_s = time.perf_counter() - build_start
        snap_dir = home0 / "snapshots"
        snap = max(_snapshot_heights(rpc0))
        snapshot_mb = round(_disk_mb(snap_dir / str(snap)), 1)
        ui.step(f"{label}: restarting node0 with a {JOIN_TIMEOUT_COMMIT} block interval")
        supervisor.down(network, ["node0"])
        _set_timeout_commit(home0, JOIN_TIMEOUT_COMMIT)
        supervisor.up(network, ["node0"])
        # its API answers before its engine's RPC does: the joiners fetch their trust there
        chain = _wait(lambda: max(_height(rpc0), 0), 120, "node0's RPC after its restart")
        ledger_mb = round(_disk_mb(home0 / "app"), 1)

        home1 = network.node_home(network.node("node1"))
        JoinSettings(True, (rpc0,)).save(home1)
        state_sync = _join(net, "node1", _height(rpc0), ui, f"{label}, state sync")
        supervisor.down(network, ["node1"])
        replay = _join(net, "node2", _height(rpc0), ui, f"{label}, replay")
    except Exception:
        for node in network.nodes:
            ui.step(f"{label}: {node.name}'s log ends with: "
                    f"{last_log_line(network.node_home(node))}")
        raise
    finally:
        feeder.stop()
        ui.step(f"{label}: stopping the network")
        net.down()
    speedup = replay["seconds"] / state_sync["seconds"] if state_sync["seconds"] else None
    return {
        "blocks": blocks, "chain_height_at_join": chain, "accounts": cfg.accounts,
        "fill": fill, "build_seconds": round(build_s, 1),
        "tx_rate": cfg.tx_rate, "transfers_sent": feeder.sent, "transfers_committed": chain_txs,
        "snapshot": {"height": snap, "mb": snapshot_mb}, "ledger_mb": ledger_mb,
        "state_sync": state_sync, "replay": replay,
        "speedup": round(speedup, 1) if speedup else None,
    }


def run_state_sync_bench(cfg: StateSyncConfig, ui: Ui | None = None) -> RunOutcome:
    cfg.check()
    ui = ui or QuietUi()
    airdrop_bytecode()  # a missing compiler fails before any network exists
    started = datetime.now(UTC)
    overhead = None
    if cfg.overhead_accounts:
        ui.step(f"commit time while a snapshot is written: {cfg.overhead_accounts:,} accounts")
        work = Path(tempfile.mkdtemp(prefix="consortium-bench-snapshot-overhead-"))
        try:
            overhead = measure_commit_overhead(cfg.overhead_accounts, cfg.overhead_window,
                                               cfg.overhead_block_txs, work, ui)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    runs = []
    for blocks in cfg.blocks:
        root = Path(tempfile.mkdtemp(prefix="consortium-bench-state-sync-"))
        try:
            runs.append(run_length(cfg, blocks, root / "net", ui))
        finally:
            shutil.rmtree(root, ignore_errors=True)
    syncs = [r["state_sync"]["seconds"] for r in runs] or [0.0]
    report = {
        "schema": SCHEMA,
        "started": started.isoformat(timespec="seconds"),
        "config": cfg.to_json(),
        "machine": machine(),
        "commit_overhead": overhead,
        "runs": runs,
        "goal": {
            "speedup_at_least": 10,
            "met": all((r["speedup"] or 0) >= 10 for r in runs) if runs else None,
            # flat: the longest chain's state-sync time over the shortest's
            "state_sync_growth": round(syncs[-1] / syncs[0], 2) if len(runs) > 1 else None,
            "commit_overhead_at_most": 1.05,
        },
    }
    stamp = started.strftime("%Y%m%dT%H%M%SZ")
    path = write_json(report, cfg.out / f"{stamp}-state-sync.json")
    return RunOutcome(report, path)


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    return [[f"{r['blocks']:,}", f"{r['accounts']:,}", f"{r['state_sync']['seconds']:,.1f}",
             f"{r['state_sync']['restored_height']:,}", f"{r['replay']['seconds']:,.1f}",
             f"{r['speedup']}", f"{r['snapshot']['mb']:,.1f}"] for r in report["runs"]]


# --- what a snapshot being written costs the node's commits ----------------------------------


def measure_commit_overhead(accounts: int, window: int, block_txs: int, work: Path,
                            ui: Ui, rounds: int = 3) -> dict[str, Any]:
    """Blocks of `block_txs` transfers on a ledger of `accounts` accounts (in process, as
    `consortium bench state` runs them), timed as finalize + commit, in windows of `window`
    blocks alternating quiet and busy — busy: a snapshot writer process (the node's own, at
    its lowered priority) walking the whole state all along — `rounds` times, then quiet
    again (alternating cancels most of a shared machine's drift). Answers the medians and
    the busy / quiet ratio."""
    import statistics
    import subprocess
    import sys

    from consortium.bench.state import (
        CHAIN_ID,
        _ToAccounts,
        build_ledger,
        bulk_addresses,
        measure_blocks,
        members,
    )
    from consortium.bench.workloads import presign

    path = work / "ledger"
    senders = members(8)
    addresses = bulk_addresses(accounts)
    build_ledger(path, senders, addresses, ui)
    warm = 3
    count = warm + (2 * rounds + 1) * window
    total = count * block_txs
    with ui.bar(f"signing {total:,} transfers", total) as advance:
        txs = presign(_ToAccounts(addresses, seed=1), senders, total, CHAIN_ID,
                      [0] * len(senders), advance)
    blocks = [txs[i:i + block_txs] for i in range(0, total, block_txs)]

    def is_busy(n: int) -> bool:  # block n (0-based) is in a busy window
        return n >= warm and ((n - warm) // window) % 2 == 1

    writer: list[subprocess.Popen[bytes]] = []
    completed = 0
    done = 0

    def after_block() -> None:
        """Before block `done` runs: a writer walking the state if it is a busy one."""
        nonlocal completed
        running = bool(writer) and writer[-1].poll() is None
        if writer and not running and writer[-1].returncode == 0:
            completed += 1
        if done < count and is_busy(done) and not running:
            folder = work / f"snapshots-{len(writer)}"
            writer.append(subprocess.Popen(
                [sys.executable, "-m", "consortium.ledger.snapshots", "--ledger", str(path),
                 "--height", "0", "--folder", str(folder), "--keep", "1"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        elif (done >= count or not is_busy(done)) and running:
            writer[-1].terminate()
            writer[-1].wait(30)
        for old in work.glob("snapshots-*"):
            if old.name != f"snapshots-{len(writer) - 1}":
                shutil.rmtree(old, ignore_errors=True)

    try:
        with ui.bar(f"{count} blocks of {block_txs:,} at {accounts:,} accounts, quiet and "
                    "with a snapshot being written in turn", count) as advance:
            def progress(_n: int) -> None:
                nonlocal done
                done += 1
                after_block()
                advance(1)

            timings = measure_blocks(path, blocks, progress)
    finally:
        for proc in writer:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    per_block = [t.finalize_s + t.commit_s for t in timings]
    quiet = [t for n, t in enumerate(per_block) if n >= warm and not is_busy(n)]
    loaded = [t for n, t in enumerate(per_block) if is_busy(n)]
    q, b = statistics.median(quiet), statistics.median(loaded)
    return {"accounts": accounts, "block_txs": block_txs, "window_blocks": window,
            "rounds": rounds, "quiet_blocks": len(quiet), "busy_blocks": len(loaded),
            "quiet_ms_median": round(q * 1000, 1), "busy_ms_median": round(b * 1000, 1),
            "busy_over_quiet": round(b / q, 3), "writers_started": len(writer),
            "snapshots_completed_while_busy": completed,
            "failed_txs": sum(t.failed for t in timings)}
