"""`consortium bench`: measure the ledger's throughput and latency beside its own limits;
`consortium bench state`: block time and throughput with a large state (in process, or with
`--network` end to end)."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from consortium.cli.kit import BlockGasLimitOption, console, err_console, print_json, table
from consortium.errors import ConfigError
from consortium.network.node_config import DEFAULT_API_PROCESS

app = typer.Typer(help="Benchmark the ledger.", add_completion=False)

OutOption = typer.Option(None, "--out", help="Results folder (default: bench/results).")
JsonOption = typer.Option(False, "--json", help="Print the report as JSON.")
BatchOption = typer.Option(100, "--batch", help="eth_sendRawTransaction calls per request.")
TimeoutCommitOption = typer.Option("500ms", "--timeout-commit", help="Block interval.")


def _run(cfg: Any, out: Path | None, run: Callable[[Any, Any], Any], json_out: bool,
         bench: ModuleType | None = None, title: str = "",
         verdict: Callable[[dict[str, Any]], str] | None = None) -> Any:
    """Run a benchmark with the rich UI (results in `out` if given): its report as JSON
    (answering None), else the `bench` module's table under `title` and the `verdict` line.
    SIGTERM (`timeout`) exits through the run's `finally` blocks, so the networks it started
    are stopped and their folders removed, as on Ctrl-C."""
    if out is not None:
        cfg.out = out
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))
    outcome = run(cfg, _RichUi())
    if json_out:
        print_json(outcome.report)
        return None
    if bench is not None:
        table(title, bench.TABLE_COLUMNS, bench.summary_rows(outcome.report))
    if verdict is not None:
        console.print(verdict(outcome.report))
        console.print(f"report: {outcome.json_path}")
    return outcome


def _met(met: Any) -> str:
    return "met" if met else "missed"


class _RichUi:
    """Steps as dim lines, each measured stage as a progress bar (on stderr)."""

    def step(self, text: str) -> None:
        err_console.print(f"[dim]·[/dim] {text}")

    @contextlib.contextmanager
    def bar(self, text: str, total: int) -> Iterator[Callable[[int], None]]:
        with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                      console=err_console, transient=False) as progress:
            task = progress.add_task(text, total=total, rate="")
            t0 = progress.get_time()
            done = 0

            def advance(n: int) -> None:
                nonlocal done
                done += n
                spent = progress.get_time() - t0
                shown = f"{done / spent:,.0f} tx/s" if spent > 0 else ""
                progress.update(task, advance=n, rate=shown)

            yield advance


@app.callback(invoke_without_command=True)
def bench(
    ctx: typer.Context,
    workload: str = typer.Option("erc20", "--workload", "-w", help="transfer | erc20 | native | "
                                 "native-small | invoice | securities | securities-mix | "
                                 "credit | registry"),
    validators: int = typer.Option(1, "--validators", "-n", help="Validator nodes."),
    txs: int = typer.Option(5_000, "--txs", help="Transactions in the measured run."),
    batch: int = BatchOption,
    concurrency: int = typer.Option(8, "--concurrency", "-c", help="Submitting lanes; without "
                                    "--rate each sends its next batch once the last is answered."),
    rate: float | None = typer.Option(
        None, "--rate", "-r", help="Submit at this many tx/s (open loop) instead."),
    senders: int = typer.Option(64, "--senders", help="Sending accounts (consortium members)."),
    no_references: bool = typer.Option(
        False, "--no-references", help="Skip the kvstore and py-evm reference runs."),
    profile: bool = typer.Option(
        False, "--profile", help="Record node0 with py-spy, the execution run with pyinstrument."),
    timeout_commit: str = TimeoutCommitOption,
    submit: str = typer.Option("api", "--submit", help="api: eth_sendRawTransaction batches to "
                               "the nodes' JSON-RPC; engine / engine-async: broadcast_tx_sync / "
                               "_async straight to CometBFT (diagnostics: what the API's path "
                               "costs)."),
    engine: str = typer.Option("revm", "--engine", help="The nodes' execution engine: revm, "
                               "py-evm, or both (a network run on each, the same signed "
                               "transactions, one table with their ratio)."),
    block_gas_limit: int = BlockGasLimitOption,
    api_process: str = typer.Option(DEFAULT_API_PROCESS, "--api-process", help="Where each "
                                    "node serves its API: own (a process of its own) or node "
                                    "(in the node's process): `\\[api] process`."),
    out: Path | None = OutOption,
    json_out: bool = JsonOption,
) -> None:
    """Benchmark a local network: committed tx/s and latency, beside the engine's and
    py-evm's own ceilings measured in the same run. `consortium bench state`: large state."""
    if ctx.invoked_subcommand is not None:
        return
    from consortium.bench import BenchConfig, run_bench
    from consortium.bench.report import TABLE_COLUMNS, summary_rows

    cfg = BenchConfig(workload=workload, validators=validators, txs=txs, batch=batch,
                      concurrency=concurrency, rate=rate, senders=senders,
                      references=not no_references, profile=profile,
                      timeout_commit=timeout_commit, submit=submit, engine=engine,
                      block_gas_limit=block_gas_limit, api_process=api_process)
    outcome = _run(cfg, out, run_bench, json_out)
    if outcome is None:
        return
    report = outcome.report
    table(f"{report['workload']['description']}, {txs:,} txs", TABLE_COLUMNS, summary_rows(report))
    ledger = report["ledger"]
    procs = ledger.get("processes", {})
    if procs:
        table("processes during the consortium run", ["process", "CPU %", "peak RSS MB"],
              [[n, f"{p['cpu_percent']:.0f}", f"{p['peak_rss_mb']:.0f}"]
               for n, p in procs.items()])
        split = (procs.get("node0") or {}).get("threads_cpu_ms_per_tx")
        if split:
            table("node0's CPU by thread", ["thread", "CPU ms / tx"],
                  [[name, f"{ms:.3f}"] for name, ms in split.items()])
    prof = report.get("profile")
    if prof and prof.get("phases"):
        table("node0: where the time goes (py-spy samples)", ["phase", "%"],
              [[p["name"], f"{p['percent']:.1f}"] for p in prof["phases"]])
        table("node0: by component (leaf frame)", ["component", "%"],
              [[p["name"], f"{p['percent']:.1f}"] for p in prof["components"][:12]])
    elif prof:
        err_console.print(f"[yellow]profile:[/yellow] {prof.get('error')}")
    for name, run in (report.get("engines") or {"": {"ledger": ledger}}).items():
        _warn_run(name, run["ledger"])
    console.print(f"report: {outcome.json_path}")
    if outcome.png_path is not None:
        console.print(f"plot:   {outcome.png_path}")
    for path in outcome.flamegraphs:
        console.print(f"profile: {path}")


@app.command("api-access")
def api_access(
    txs: int = typer.Option(20_000, "--txs", help="Transfers in each measured run."),
    batch: int = BatchOption,
    concurrency: int = typer.Option(8, "--concurrency", "-c", help="Submitting lanes."),
    rounds: int = typer.Option(2, "--rounds", help="Rounds, each one run of each API."),
    out: Path | None = OutOption,
    json_out: bool = JsonOption,
) -> None:
    """What HTTPS and a bearer token on every request cost the node's throughput: ERC-20
    transfers on 1 validator over plain HTTP and over HTTPS + token, alternated in the same
    run (issue 18: goal, under 5 %)."""
    from consortium.bench import api_access as bench

    cfg = bench.AccessConfig(txs=txs, batch=batch, concurrency=concurrency, rounds=rounds)
    _run(cfg, out, bench.run_api_access_bench, json_out, bench,
         f"ERC-20 transfers on 1 validator, batches of {batch}, {rounds} round(s)",
         verdict=lambda r: f"https + token / http: ×{r['ratio']} ({r['cost_percent']} "
         f"% cost; goal under 5 %: {_met(r['met'])}); the token check alone: "
         f"{r['token_check_us_per_request']} µs a request")


@app.command("privacy")
def privacy(
    txs: int = typer.Option(2_000, "--txs", help="ERC-20 transfers in each run."),
    batch: int = typer.Option(100, "--batch", help="JSON-RPC calls per request."),
    rounds: int = typer.Option(3, "--rounds", help="Rounds, each a public and a private run."),
    timeout_commit: str = TimeoutCommitOption,
    out: Path | None = OutOption,
    json_out: bool = JsonOption,
) -> None:
    """Private ERC-20 transfers/s in a group of two against public ones, on one 2-validator
    network in the same run (issue 22: goal ≥ 0.5×)."""
    from consortium.bench import privacy as bench

    cfg = bench.PrivacyBenchConfig(txs=txs, batch=batch, rounds=rounds,
                                   timeout_commit=timeout_commit)
    _run(cfg, out, bench.run_privacy_bench, json_out, bench,
         f"ERC-20 transfers, 2 members on 2 validators, {rounds} round(s)",
         verdict=lambda r: f"private / public: ×{r['ratio']} (goal ≥ {r['goal']}: "
         f"{_met(r['met'])})")


@app.command("call-flood")
def call_flood(
    window: float = typer.Option(30.0, "--window", help="Seconds per measured window."),
    clients: int = typer.Option(8, "--clients", help="Flooding threads per flooded node."),
    batch: int = typer.Option(20, "--batch", help="eth_calls per flooding request."),
    validators: int = typer.Option(4, "--validators", help="Validators in the network."),
    flooded: int = typer.Option(2, "--flooded", help="Validators flooded."),
    calls: str = typer.Option("loop", "--calls",
                              help="What floods: loop (an EVM contract that loops until its "
                                   "gas is gone) or native (a service read, Python)."),
    out: Path | None = OutOption,
    json_out: bool = JsonOption,
) -> None:
    """Block rate of a network while worst-case eth_calls flood some of its validators,
    against quiet windows before and after, in the same run (issue 17: goal ≥ 0.9×)."""
    from consortium.bench import call_flood as bench

    cfg = bench.FloodConfig(window=window, clients=clients, batch=batch, validators=validators,
                            flooded=flooded, calls=calls)
    what = "eth_calls" if calls == "loop" else "consortium_members reads"
    _run(cfg, out, bench.run_call_flood_bench, json_out, bench,
         f"{validators} validators, {flooded} flooded by {clients} clients "
         f"each (batches of {batch} {what})",
         verdict=lambda r: f"block rate flooded / quiet: ×{r['ratio']} (goal ≥ 0.9: "
         f"{_met(r['met'])})")


@app.command("state-sync")
def state_sync(
    blocks: list[int] = typer.Option(
        [20_000], "--blocks", help="Chain length to measure; repeat for several (flatness)."),
    accounts: int = typer.Option(100_000, "--accounts", help="Accounts in the large state."),
    snapshot_interval: int = typer.Option(
        1_000, "--snapshot-interval", help="node0's \\[state_sync] snapshot_interval."),
    tx_rate: int = typer.Option(0, "--tx-rate", help="Value transfers per second while the "
                                "chain grows (0: empty blocks)."),
    overhead_accounts: int = typer.Option(200_000, "--overhead-accounts", help="Also time "
                                          "1,000-transfer blocks at this many accounts while a "
                                          "snapshot is written, against quiet blocks (in "
                                          "process; 0: skip)."),
    overhead_only: bool = typer.Option(
        False, "--overhead-only", help="Only that measurement, no joining networks."),
    out: Path | None = OutOption,
    json_out: bool = JsonOption,
) -> None:
    """Join time of a new node on a long chain with a large state: state sync against
    replay from genesis, in the same run (issue 21: goal ≥ 10× faster, flat in length)."""
    from consortium.bench import state_sync as bench

    cfg = bench.StateSyncConfig(blocks=[] if overhead_only else sorted(blocks),
                                accounts=accounts, snapshot_interval=snapshot_interval,
                                tx_rate=tx_rate, overhead_accounts=overhead_accounts)
    outcome = _run(cfg, out, bench.run_state_sync_bench, json_out, bench if cfg.blocks else None,
                   f"joining a 1-validator chain with {accounts:,} accounts")
    if outcome is None:
        return
    goal = outcome.report["goal"]
    growth = goal["state_sync_growth"]
    overhead = outcome.report["commit_overhead"]
    if overhead:
        console.print(f"block time (finalize + commit) while a snapshot is written, at "
                      f"{overhead['accounts']:,} accounts: {overhead['busy_ms_median']} ms "
                      f"against {overhead['quiet_ms_median']} ms quiet "
                      f"(×{overhead['busy_over_quiet']})")
    if goal["met"] is not None:
        console.print(f"state sync ≥ 10× faster than replay: {_met(goal['met'])}"
                      + (f"; state-sync time, longest / shortest chain: ×{growth}"
                         if growth else ""))
    console.print(f"report: {outcome.json_path}")


@app.command("explorer")
def explorer(
    cost_blocks: int = typer.Option(20, "--cost-blocks",
                                    help="Blocks committed with and without the index."),
    block_txs: int = typer.Option(1_000, "--block-txs", help="ERC-20 transfers per block."),
    blocks: int = typer.Option(100_000, "--blocks", help="Length of the chain pages are read on."),
    txs: int = typer.Option(1_000_000, "--txs", help="Transactions that chain carries."),
    rounds: int = typer.Option(20, "--rounds", help="Fetches of each page."),
    keep: Path | None = typer.Option(
        None, "--keep", help="Keep the long chain's ledger in this folder (reused if there)."),
    skip_cost: bool = typer.Option(False, "--skip-cost", help="Only the pages."),
    skip_pages: bool = typer.Option(False, "--skip-pages", help="Only the index cost."),
    out: Path | None = OutOption,
    json_out: bool = JsonOption,
) -> None:
    """The explorer's costs (issue 20): the address index's extra commit time per block
    (goal under 5 %), and the console's and its reads' server time on a long chain (goal
    under 300 ms each), in process."""
    from consortium.bench import explorer as bench

    cfg = bench.ExplorerConfig(cost_blocks=cost_blocks, block_txs=block_txs, blocks=blocks,
                               txs=txs, rounds=rounds, keep=keep, skip_cost=skip_cost,
                               skip_pages=skip_pages)
    _run(cfg, out, bench.run_explorer_bench, json_out, bench,
         f"explorer: index cost ({block_txs:,}-transfer blocks), pages on {blocks:,} blocks",
         verdict=lambda r: "index cost and page times against issue 20's goals above")


@app.command("state")
def state(
    accounts: int | None = typer.Option(None, "--accounts", help="Accounts in the large state "
                                        "(default 100000; with --network 1000000; issue #11: "
                                        "1000000)."),
    small: int = typer.Option(1_000, "--small", help="Accounts in the small state compared."),
    blocks: int | None = typer.Option(
        None, "--blocks", help="Measured blocks per state (in process; default 5)."),
    block_txs: int | None = typer.Option(
        None, "--block-txs", help="Value transfers per block (in process; default 1000)."),
    senders: int = typer.Option(64, "--senders", help="Sending accounts (members)."),
    network: bool = typer.Option(False, "--network", help="End to end instead: 1-validator "
                                 "networks filled through the chain, the node's committed tx/s "
                                 "through JSON-RPC at each state size."),
    txs: int | None = typer.Option(
        None, "--txs", help="--network: value transfers per measured run (default 20000)."),
    concurrency: int | None = typer.Option(
        None, "--concurrency", "-c", help="--network: submitting lanes (default 32)."),
    batch: int | None = typer.Option(
        None, "--batch", help="--network: eth_sendRawTransaction calls per request (100)."),
    fill_per_tx: int | None = typer.Option(
        None, "--fill-per-tx", help="--network: accounts each fill transaction creates (500)."),
    restart: bool = typer.Option(
        False, "--restart", help="--network: restart the node after the fill (cold caches)."),
    timeout_commit: str | None = typer.Option(
        None, "--timeout-commit", help="--network: block interval (default 500ms)."),
    engine: str | None = typer.Option(
        None, "--engine", help="--network: the node's execution engine, revm or py-evm."),
    out: Path | None = OutOption,
    json_out: bool = JsonOption,
) -> None:
    """Large state, in process (real LMDB, revm): a block's state root and the ledger's
    throughput (finalize + commit) with many accounts, beside a small state. With
    --network: the node's own throughput through JSON-RPC, end to end."""
    network_only = {"txs": txs, "concurrency": concurrency, "batch": batch,
                    "fill_per_tx": fill_per_tx, "timeout_commit": timeout_commit,
                    "engine": engine, "restart": restart or None}
    if network and (blocks is not None or block_txs is not None):
        raise ConfigError("--blocks and --block-txs are for the in-process bench, "
                          "not --network (it measures --txs transfers)")
    given = ["--" + name.replace("_", "-") for name, value in network_only.items()
             if value is not None]
    if given and not network:
        raise ConfigError(f"{', '.join(given)}: only with --network")
    from consortium.bench import state as in_process
    from consortium.bench import state_network

    # the options given (not None): a config's defaults stand for the others
    options: dict[str, Any] = {name: value for name, value in dict(
        accounts=accounts, small=small, blocks=blocks, block_txs=block_txs, senders=senders,
        **network_only).items() if value is not None}
    if network:
        cfg: Any = state_network.StateNetworkConfig(**options)
        outcome = _run(cfg, out, state_network.run_state_network_bench, json_out, state_network,
                       f"{cfg.txs:,} value transfers through JSON-RPC, 1 validator, "
                       f"concurrency {cfg.concurrency}, per state size")
    else:
        cfg = in_process.StateConfig(**options)
        outcome = _run(cfg, out, in_process.run_state_bench, json_out, in_process,
                       f"{cfg.block_txs:,}-transfer blocks, {cfg.blocks} per state (medians)")
    if outcome is None:
        return
    report = outcome.report
    t = report["target"]
    if network:
        rows = [[f"{r['accounts']:,}", name, f"{p['cpu_percent']:.0f}", f"{p['peak_rss_mb']:.0f}",
                 f"{p.get('cpu_ms_per_tx', 0):.3f}"]
                for r in report["runs"] for name, p in r["ledger"].get("processes", {}).items()]
        if rows:
            table("processes during the measured runs",
                  ["accounts", "process", "CPU %", "peak RSS MB", "CPU ms / tx"], rows)
        console.print(f"fill: {', '.join(_fill_line(r) for r in report['runs'])}")
        console.print(f"throughput at {t['accounts']:,} accounts vs {t['small']:,}: "
                      f"{t['large_tps']:,.0f} / {t['small_tps']:,.0f} tx/s = ×{t['tps_ratio']} "
                      f"(target ≥ {t['tps_ratio_limit']:.2f}: {_met(t['tps_met'])});"
                      f" steady ×{t['tps_steady_ratio']}")
        for r in report["runs"]:
            _warn_run(f"{r['accounts']:,} accounts", r["ledger"])
    else:
        console.print(f"state root at {t['accounts']:,} accounts: {t['root_ms_median']:.1f} ms "
                      f"(target ≤ {t['root_ms_limit']:.0f} ms: {_met(t['root_met'])})")
        console.print(f"throughput (finalize + commit, warm) vs the small state: ×{t['tps_ratio']} "
                      f"(target ≥ 0.70: {_met(t['tps_met'])})")
        load = report["machine"]
        others = report.get("machine_load", {}).get("others_cpu_percent", 0.0)
        console.print(f"load average at start / end: {load['loadavg_at_start'][0]} / "
                      f"{load['loadavg_at_end'][0]}; other processes' CPU meanwhile: "
                      f"{others:.0f} %; peak RSS {report['peak_rss_mb']:,} MB")
    console.print(f"report: {outcome.json_path}")


def _fill_line(run: dict[str, Any]) -> str:
    f = run["fill"]
    return (f"{f['accounts']:,} accounts in {f['seconds']:,.1f} s ({f['txs']:,} txs, "
            f"{f['blocks']} blocks, LMDB {f['disk_mb']:,.0f} MB)")


def _warn_run(label: str, ledger: dict[str, Any]) -> None:
    """What makes a measured run's figures doubtful, on stderr: sampled receipts that failed,
    refused transactions, other processes busy meanwhile. `label` names the run (or "")."""
    where = f"{label}: " if label else ""
    checked = ledger.get("receipts_checked") or {}
    if checked.get("status_1", 0) < checked.get("sampled", 0):
        err_console.print(f"[yellow]{where}only {checked['status_1']} of {checked['sampled']} "
                          "sampled receipts have status 1: the workload's transactions "
                          "failed[/yellow]")
    if ledger.get("refused"):
        err_console.print(f"[yellow]{where}{ledger['refused']} transactions refused:[/yellow] "
                          f"{'; '.join(ledger.get('refused_examples', []))}")
    others = (ledger.get("machine_load") or {}).get("others_cpu_percent", 0)
    if others > 20:
        err_console.print(f"[yellow]{where}other processes used {others:.0f}% CPU during the "
                          "run: the figures are not this system's alone[/yellow]")
