"""Issue 23, services: each service workload against ERC-20 on the ledger in this process.

A fresh `Ledger` (revm, LMDB in a temporary folder) per workload, the bench's genesis (its
members and the workload's roles), the setup committed, senders recovered before the clock
(as CheckTx does on a node), the collector set as a node sets it, then the timed part:
FinalizeBlock + Commit of blocks of at most `--block` transactions whose gas limits fit the
block gas limit (as CometBFT reaps a proposal). No network, no RPC: what the ledger's own work
per transaction is.
Rounds alternate the workloads so that a loaded machine weighs on all of them alike.

    .venv/bin/python bench/services_inprocess.py [--txs 2000] [--rounds 3]
        [--profile DIR]    # one more pass per workload under pyinstrument: DIR/<name>.html
        [--breakdown]      # one more pass per workload with timers: µs a tx by part
                           # (bench/host_breakdown.py)
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from host_breakdown import Breakdown  # bench/, beside this script

from consortium.bench.networks import bench_member_names
from consortium.bench.workloads import BenchAccount, Workload, make_workload, presign
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.types import BlockContext
from consortium.network.init import NEW_CHAIN_NATIVE_VERSIONS
from consortium.network.node import settle_gc

CHAIN_ID = 20251
GAS_LIMIT = 1_000_000_000
WORKLOADS = ("erc20", "invoice", "securities", "securities-mix", "credit", "registry")


def genesis(workload: Workload, accounts: list[BenchAccount]) -> dict[str, Any]:
    names = bench_member_names(len(accounts))
    roles = workload.genesis_roles(names)
    return {
        "eth_chain_id": CHAIN_ID, "block_gas_limit": GAS_LIMIT,
        "native_gas": 2,  # as `consortium init` makes a chain
        "native_versions": NEW_CHAIN_NATIVE_VERSIONS,
        "members": [{"name": n, "accounts": ["0x" + a.address.hex()]}
                    for n, a in zip(names, accounts, strict=True)],
        "alloc": {"0x" + a.address.hex(): {"balance": hex(10**24)} for a in accounts},
        "governance": {"roles": {"0x" + a.address.hex(): roles[n]
                                 for n, a in zip(names, accounts, strict=True) if n in roles}},
    }


def block_ctx(height: int) -> BlockContext:
    return BlockContext(height=height, time_ns=1_700_000_000 * 10**9 + height * 10**9,
                        proposer=bytes([0xAA]) * 20, block_hash=height.to_bytes(32, "big"),
                        prevrandao=bytes([height % 256]) * 32)


def blocks(count: int, block: int, gas: list[int], limit: int = GAS_LIMIT) -> list[range]:
    """The runs of `count` transactions (gas limits `gas`) that make blocks: at most `block`
    each and their gas limits summed within `limit`, as CometBFT reaps a proposal."""
    out, start, used = [], 0, 0
    for i in range(count):
        if i > start and (i - start == block or used + gas[i] > limit):
            out.append(range(start, i))
            start, used = i, 0
        used += gas[i]
    if count > start:
        out.append(range(start, count))
    return out


def run(name: str, txs: int, block: int, accounts: list[BenchAccount],
        profile: Path | None = None, breakdown: Breakdown | None = None) -> tuple[float, float]:
    """Committed tx/s of `txs` transactions of workload `name` (fresh ledger): by the wall
    clock, and by this process's CPU time (steadier on a shared machine)."""
    workload = make_workload(name)
    with tempfile.TemporaryDirectory(prefix="svc-bench-") as tmp:
        ledger = Ledger(Path(tmp) / "l", engine="revm")
        try:
            ledger.init_chain(AppState.from_json(genesis(workload, accounts)), 1)
            height = 1
            workload.plan(txs)
            setup = workload.prepare(accounts, CHAIN_ID)
            setup_raws = [t.raw for t in setup.txs]
            # in blocks whose gas limits fit, as CometBFT reaps them (a large mix's setup
            # places thousands of orders)
            setup_gas = [ledger.senders.decode(raw, CHAIN_ID).gas for raw in setup_raws]
            for r in blocks(len(setup_raws), len(setup_raws) or 1, setup_gas):
                out = ledger.finalize_block(block_ctx(height), setup_raws[r.start:r.stop])
                ledger.commit()
                height += 1
                assert all(r.code == 0 for r in out.tx_results), "setup failed"
            signed = [t.raw for t in presign(workload, accounts, txs, CHAIN_ID,
                                             setup.next_nonces(len(accounts)))]
            ledger.prime_senders(signed)
            runs = blocks(len(signed), block, [workload.gas_for(j) for j in range(txs)])
            settle_gc()  # the node's collector settings
            profiler = None
            if profile is not None:
                from pyinstrument import Profiler
                profiler = Profiler(interval=0.002)
                profiler.start()
            failed = 0
            with breakdown.timing() if breakdown is not None else nullcontext():
                start, cpu = time.perf_counter(), time.process_time()
                for r in runs:
                    out = ledger.finalize_block(block_ctx(height), signed[r.start:r.stop])
                    ledger.commit()
                    height += 1
                    failed += sum(r.code != 0 for r in out.tx_results)
                seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            if profiler is not None and profile is not None:
                profiler.stop()
                profile.parent.mkdir(parents=True, exist_ok=True)
                profile.write_text(profiler.output_html())
                (profile.with_suffix(".txt")).write_text(
                    profiler.output_text(unicode=False, color=False, show_all=False))
            if failed:
                raise RuntimeError(f"{name}: {failed} transactions failed")
            return txs / seconds, txs / cpu
        finally:
            gc.unfreeze()  # each run starts from the same collector state
            ledger.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--txs", type=int, default=2000)
    p.add_argument("--block", type=int, default=500)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--senders", type=int, default=64)
    p.add_argument("--only", nargs="*", default=list(WORKLOADS))
    p.add_argument("--profile", type=Path)
    p.add_argument("--breakdown", action="store_true",
                   help="one more pass per workload with timers: µs a transaction by part")
    p.add_argument("--json", action="store_true",
                   help='print {"wall"|"cpu": {workload: [tx/s, …]}} only')
    a = p.parse_args()
    accounts = [BenchAccount.from_key((i + 1).to_bytes(32, "big")) for i in range(a.senders)]
    rates: dict[str, list[float]] = {n: [] for n in a.only}
    cpu_rates: dict[str, list[float]] = {n: [] for n in a.only}
    for _ in range(a.rounds):
        for name in a.only:
            wall, cpu = run(name, a.txs, a.block, accounts)
            rates[name].append(wall)
            cpu_rates[name].append(cpu)
    if a.json:
        print(json.dumps({"wall": rates, "cpu": cpu_rates}))
        return
    for clock, table in (("wall", rates), ("cpu", cpu_rates)):
        ref = statistics.median(table["erc20"]) if "erc20" in table else None
        print(f"{'workload':<16}{'tx/s ' + clock:>15}{'x erc20':>9}   rounds")
        for name, r in table.items():
            med = statistics.median(r)
            ratio = f"{med / ref:.2f}" if ref else "-"
            print(f"{name:<16}{med:>15,.0f}{ratio:>9}   {', '.join(f'{x:,.0f}' for x in r)}")
    if a.profile is not None:
        for name in a.only:
            run(name, a.txs, a.block, accounts, a.profile / f"{name}.html")
    if a.breakdown:
        for name in a.only:
            parts = Breakdown()
            wall, _ = run(name, a.txs, a.block, accounts, breakdown=parts)
            total_ns = round(1e9 * a.txs / wall)
            print(f"\n{name}: {a.txs:,} txs with timers, {1e6 / wall:,.1f} µs a tx")
            print(f"  {'part':<40}{'µs/tx':>8}{'share':>8}{'calls/tx':>10}")
            for part, us, share, calls in parts.table(total_ns, a.txs):
                print(f"  {part:<40}{us:>8.1f}{share:>8.0%}{calls:>10.2f}")


if __name__ == "__main__":
    main()
