"""`consortium bench`: measure the ledger's throughput and latency beside its own limits;
`consortium bench state`: block time and throughput with a large state."""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)

from consortium.cli.common import console, err_console, print_json, table

app = typer.Typer(help="Benchmark the ledger.", add_completion=False)


def _stop_cleanly_on_sigterm() -> None:
    """SIGTERM (e.g. `timeout`) exits through the run's `finally` blocks, so the networks it
    started are stopped and their folders removed, as on Ctrl-C."""
    signal.signal(signal.SIGTERM, lambda _sig, _frame: sys.exit(143))


def _run(cfg: Any, out: Path | None, run: Callable[[Any, Any], Any], json_out: bool) -> Any:
    """Run a benchmark with the rich UI, its results in `out` if given; with `json_out`
    print the report as JSON and answer None (nothing more to show)."""
    if out is not None:
        cfg.out = out
    _stop_cleanly_on_sigterm()
    outcome = run(cfg, _RichUi())
    if json_out:
        print_json(outcome.report)
        return None
    return outcome


class _RichUi:
    """Steps as dim lines, each measured stage as a progress bar (on stderr)."""

    def step(self, text: str) -> None:
        err_console.print(f"[dim]·[/dim] {text}")

    @contextlib.contextmanager
    def bar(self, text: str, total: int) -> Iterator[Callable[[int], None]]:
        with Progress(
            TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
            console=err_console, transient=False,
        ) as progress:
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
    workload: str = typer.Option(
        "erc20", "--workload", "-w",
        help="transfer | erc20 | native | invoice | securities | credit | registry"),
    validators: int = typer.Option(1, "--validators", "-n", help="Validator nodes."),
    txs: int = typer.Option(5_000, "--txs", help="Transactions in the measured run."),
    batch: int = typer.Option(100, "--batch", help="eth_sendRawTransaction calls per request."),
    concurrency: int = typer.Option(
        8, "--concurrency", "-c",
        help="Submitting lanes; without --rate each sends its next batch once the last is "
             "answered."),
    rate: float | None = typer.Option(
        None, "--rate", "-r", help="Submit at this many tx/s (open loop) instead."),
    senders: int = typer.Option(64, "--senders", help="Sending accounts (consortium members)."),
    no_references: bool = typer.Option(
        False, "--no-references", help="Skip the kvstore and py-evm reference runs."),
    profile: bool = typer.Option(
        False, "--profile", help="Record node0 with py-spy, the execution run with pyinstrument."),
    timeout_commit: str = typer.Option("500ms", "--timeout-commit", help="Block interval."),
    submit: str = typer.Option(
        "api", "--submit",
        help="api: eth_sendRawTransaction batches to the nodes' JSON-RPC; engine / "
             "engine-async: broadcast_tx_sync / _async straight to CometBFT (diagnostics: "
             "what the API's path costs)."),
    engine: str = typer.Option(
        "revm", "--engine",
        help="The nodes' execution engine: revm, py-evm, or both (a network run on each, "
             "the same signed transactions, one table with their ratio)."),
    out: Path | None = typer.Option(None, "--out", help="Results folder (default: bench/results)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Benchmark a local network: committed tx/s and latency, beside the engine's and
    py-evm's own ceilings measured in the same run. `consortium bench state`: large state."""
    if ctx.invoked_subcommand is not None:
        return
    from consortium.bench import BenchConfig, run_bench

    cfg = BenchConfig(
        workload=workload, validators=validators, txs=txs, batch=batch,
        concurrency=concurrency, rate=rate, senders=senders, references=not no_references,
        profile=profile, timeout_commit=timeout_commit, submit=submit, engine=engine,
    )
    outcome = _run(cfg, out, run_bench, json_out)
    if outcome is None:
        return
    report = outcome.report
    from consortium.bench.report import TABLE_COLUMNS, summary_rows

    table(f"{report['workload']['description']}, {txs:,} txs", TABLE_COLUMNS,
          summary_rows(report))
    ledger = report["ledger"]
    procs = ledger.get("processes", {})
    if procs:
        table("processes during the consortium run", ["process", "CPU %", "peak RSS MB"],
              [[n, f"{p['cpu_percent']:.0f}", f"{p['peak_rss_mb']:.0f}"]
               for n, p in procs.items()])
    prof = report.get("profile")
    if prof and prof.get("phases"):
        table("node0: where the time goes (py-spy samples)", ["phase", "%"],
              [[p["name"], f"{p['percent']:.1f}"] for p in prof["phases"]])
        table("node0: by component (leaf frame)", ["component", "%"],
              [[p["name"], f"{p['percent']:.1f}"] for p in prof["components"][:12]])
    elif prof:
        err_console.print(f"[yellow]profile:[/yellow] {prof.get('error')}")
    others = (ledger.get("machine_load") or {}).get("others_cpu_percent", 0)
    if others > 20:
        err_console.print(f"[yellow]other processes used {others:.0f}% CPU during the run: "
                          "the figures are not this system's alone[/yellow]")
    for name, run in (report.get("engines") or {"": {"ledger": ledger}}).items():
        checked = run["ledger"].get("receipts_checked") or {}
        if checked.get("status_1", 0) < checked.get("sampled", 0):
            err_console.print(f"[yellow]{name + ': ' if name else ''}only "
                              f"{checked['status_1']} of {checked['sampled']} sampled receipts "
                              "have status 1: the workload's transactions failed[/yellow]")
    if ledger.get("refused"):
        err_console.print(f"[yellow]{ledger['refused']} transactions refused:[/yellow] "
                          f"{'; '.join(ledger.get('refused_examples', []))}")
    console.print(f"report: {outcome.json_path}")
    if outcome.png_path is not None:
        console.print(f"plot:   {outcome.png_path}")
    for path in outcome.flamegraphs:
        console.print(f"profile: {path}")


@app.command("state")
def state(
    accounts: int = typer.Option(
        100_000, "--accounts", help="Accounts in the large state (issue #11: 1000000)."),
    small: int = typer.Option(1_000, "--small", help="Accounts in the small state compared."),
    blocks: int = typer.Option(5, "--blocks", help="Measured blocks per state."),
    block_txs: int = typer.Option(1_000, "--block-txs", help="Value transfers per block."),
    senders: int = typer.Option(64, "--senders", help="Sending accounts (members)."),
    out: Path | None = typer.Option(None, "--out", help="Results folder (default: bench/results)."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Large state, in process (real LMDB, revm): a block's state root and the ledger's
    throughput (finalize + commit) with many accounts, beside a small state."""
    from consortium.bench.state import TABLE_COLUMNS, StateConfig, run_state_bench, summary_rows

    cfg = StateConfig(accounts=accounts, small=small, blocks=blocks, block_txs=block_txs,
                      senders=senders)
    outcome = _run(cfg, out, run_state_bench, json_out)
    if outcome is None:
        return
    report = outcome.report
    table(f"{block_txs:,}-transfer blocks, {blocks} per state (medians)", TABLE_COLUMNS,
          summary_rows(report))
    t = report["target"]
    verdict = [
        f"state root at {t['accounts']:,} accounts: {t['root_ms_median']:.1f} ms "
        f"(target ≤ {t['root_ms_limit']:.0f} ms: {'met' if t['root_met'] else 'missed'})",
        f"throughput (finalize + commit, warm) vs the small state: ×{t['tps_ratio']} "
        f"(target ≥ 0.70: {'met' if t['tps_met'] else 'missed'})",
    ]
    for line in verdict:
        console.print(line)
    load = report["machine"]
    others = report.get("machine_load", {}).get("others_cpu_percent", 0.0)
    console.print(f"load average at start / end: {load['loadavg_at_start'][0]} / "
                  f"{load['loadavg_at_end'][0]}; other processes' CPU meanwhile: {others:.0f} %; "
                  f"peak RSS {report['peak_rss_mb']:,} MB")
    console.print(f"report: {outcome.json_path}")
