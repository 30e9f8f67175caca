"""Issue 23's table from the reports `bench/reproduce.sh` just wrote: one row per run, each
beside the reference measured in the same run and the issue's goal for their ratio.

The script lists what it ran in a manifest, one `kind<TAB>label<TAB>report path` a line:

- `kvstore`: a `consortium bench` report with references; its ledger against the kvstore
  ceiling (goal ≥ 0.5), with node0's and CometBFT's CPU.
- `erc20`: an ERC-20 run without references, the reference of the `service` lines after it.
- `service`: a service workload's run against that ERC-20 run (goal ≥ 0.5).
- `mix`: the securities mix's run: orders/s against the goal of 2,000, beside that ERC-20 run.
- `inprocess`: `bench/services_inprocess.py --json`, each service against ERC-20 in process.
- `state`: a `consortium bench state --network` report, large state against small (≥ 0.7).
- `latency`: an ERC-20 run at a fixed `--rate` (half the goal rate: 0.25 × the kvstore figure
  of the run before it): its p99 against the goal of 1 s, every transaction committed.

    python -m consortium.bench.reproduce MANIFEST [--out combined.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

COLUMNS = ["run", "tx/s", "reference (same run)", "ratio", "goal", "CPU node / CometBFT"]
MIX_GOAL = 2000  # orders/s of the securities mix on 1 validator (issue 23)
P99_GOAL_MS = 1000  # ERC-20 at half the goal rate (issue 23)


def _tps(ledger: dict[str, Any]) -> str:
    steady = ledger.get("tps_steady")
    return f"{ledger['tps']:,.0f}" + (f" (steady {steady:,.0f})" if steady else "")


def _cpu(ledger: dict[str, Any]) -> str:
    procs = ledger.get("processes") or {}
    nodes = [p["cpu_percent"] for n, p in procs.items() if "/" not in n and n != "bench client"]
    comet = [p["cpu_percent"] for n, p in procs.items() if n.endswith("/cometbft")]
    if not nodes:
        return ""
    each = "" if len(nodes) == 1 else f"{len(nodes)} × "
    return (f"{each}{statistics.mean(nodes):.0f} % / "
            f"{each}{statistics.mean(comet) if comet else 0:.0f} %")


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _row(label: str, tps: str, ref: str, ratio: float | None, goal: float,
         cpu: str = "", met: bool | None = None, goal_text: str | None = None
         ) -> dict[str, Any]:
    """`met` for a goal other than the ratio (the mix's orders/s, a p99); else ratio ≥
    goal. `goal_text` says such a goal in the table."""
    if met is None and ratio is not None:
        met = ratio >= goal
    row = {"run": label, "tps": tps, "reference": ref, "ratio": ratio,
           "goal": goal, "met": met, "cpu": cpu}
    return row if goal_text is None else {**row, "goal_text": goal_text}


def rows(manifest: list[tuple[str, str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """One table row per manifest line (an `erc20` line is a row too, the services' base)."""
    out: list[dict[str, Any]] = []
    erc20: float | None = None
    kvstore: float | None = None
    for kind, label, doc in manifest:
        if kind == "kvstore":
            ledger, kv = doc["ledger"], doc.get("engine_ceiling") or {}
            kvstore = kv.get("tps")
            out.append(_row(label, _tps(ledger), f"kvstore {kv.get('tps', 0):,.0f}",
                            _ratio(ledger["tps"], kv.get("tps")), 0.5, _cpu(ledger)))
        elif kind == "latency":
            ledger = doc["ledger"]
            p99 = (ledger.get("latency_ms") or {}).get("p99")
            whole = ledger.get("committed") == ledger.get("txs")
            out.append(_row(
                label, f"{_tps(ledger)}, p99 {p99 or 0:,.0f} ms",
                f"sent at {doc['config']['rate']:,.0f}/s = 0.25 × kvstore {kvstore or 0:,.0f}",
                None, P99_GOAL_MS, _cpu(ledger),
                met=p99 is not None and p99 <= P99_GOAL_MS and whole,
                goal_text=f"p99 ≤ {P99_GOAL_MS:,} ms"))
        elif kind == "erc20":
            erc20 = doc["ledger"]["tps"]
            out.append(_row(label, _tps(doc["ledger"]), "", None, 0.0, _cpu(doc["ledger"])))
        elif kind == "service":
            ledger = doc["ledger"]
            out.append(_row(label, _tps(ledger), f"ERC-20 {erc20 or 0:,.0f}",
                            _ratio(ledger["tps"], erc20), 0.5, _cpu(ledger)))
        elif kind == "mix":
            ledger = doc["ledger"]
            out.append(_row(label, _tps(ledger), f"ERC-20 {erc20 or 0:,.0f}",
                            _ratio(ledger["tps"], erc20), MIX_GOAL, _cpu(ledger),
                            met=ledger["tps"] >= MIX_GOAL))
        elif kind == "inprocess":
            cpu = {name: statistics.median(r) for name, r in doc["cpu"].items()}
            base = cpu.get("erc20")
            for name, tps in cpu.items():
                if name != "erc20":
                    out.append(_row(f"{label}: {name}", f"{tps:,.0f}",
                                    f"ERC-20 {base or 0:,.0f}", _ratio(tps, base), 0.5))
        elif kind == "state":
            t = doc["target"]
            out.append(_row(label, f"{t['large_tps']:,.0f}",
                            f"{t['small']:,} accounts {t['small_tps']:,.0f}", t["tps_ratio"],
                            t["tps_ratio_limit"]))
        else:
            raise ValueError(f"unknown manifest kind {kind!r}")
    return out


def markdown(table: list[dict[str, Any]]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + " --- |" * len(COLUMNS)]
    for r in table:
        ratio = "" if r["ratio"] is None else f"×{r['ratio']:.2f}"
        goal = r.get("goal_text") or (
            f"≥ {r['goal']:,.0f}/s" if r["goal"] >= 100 else f"≥ {r['goal']:.1f}")
        goal = goal + (" met" if r["met"] else " missed") if r["goal"] else ""
        lines.append(f"| {r['run']} | {r['tps']} | {r['reference']} | {ratio} | {goal} | "
                     f"{r['cpu']} |")
    return "\n".join(lines)


def read_manifest(path: Path) -> list[tuple[str, str, dict[str, Any]]]:
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            kind, label, report = line.split("\t")
            out.append((kind, label, json.loads(Path(report).read_text())))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("manifest", type=Path)
    p.add_argument("--out", type=Path, help="write the rows and their reports' paths here")
    a = p.parse_args(argv)
    try:
        manifest = read_manifest(a.manifest)
        table = rows(manifest)
    except (OSError, ValueError, KeyError) as exc:
        print(f"error: cannot build the table from {a.manifest}: {exc}", file=sys.stderr)
        return 1
    head = manifest[0][2] if manifest else {}
    machine = head.get("machine") or {}
    print(f"commit {machine.get('git_commit', '?')}"
          f"{' (+ uncommitted changes)' if machine.get('git_dirty') else ''}, "
          f"started {head.get('started', '?')}, {machine.get('nproc', '?')} cores")
    print(markdown(table))
    if a.out is not None:
        reports = [line.split("\t")[2] for line in a.manifest.read_text().splitlines()
                   if line.strip()]
        a.out.write_text(json.dumps({"schema": "consortium-bench-reproduce/1",
                                     "machine": machine, "started": head.get("started"),
                                     "rows": table, "reports": reports}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
