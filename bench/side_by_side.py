"""Two variants of one `consortium bench` run at the same time, one core each.

The machine's speed here drifts by ×2–3 over a day and by ±30 % between two runs a minute
apart, so a change measured by sequential runs — even alternated — can show +30 % that is
the machine's spell (issue 23 found two such "gains" this way: a block gas limit of 2e9 and
uvloop). Two runs side by side share the spell: each variant's network (node, CometBFT and
load generator) runs pinned to its own core (`taskset`), the cores swap every pair, and the
ratio of each pair is the measure. Absolute figures are lower than a run with both cores.

    .venv/bin/python bench/side_by_side.py --workload securities --txs 5000 --pairs 4 \\
        --a "CONSORTIUM_PURE_PYTHON=1" --b "" [--name-a python --name-b compiled]

A variant is environment assignments (`NAME=value`) and extra `consortium bench` options
(`--block-gas-limit 2000000000`). Prints one line a pair and the mean ratio b/a; writes
bench/results/<UTC time>-side-by-side.json (`--out` elsewhere).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def variant(spec: str) -> tuple[dict[str, str], list[str]]:
    """`NAME=value … --option value …` as (environment, bench options)."""
    env: dict[str, str] = {}
    args: list[str] = []
    for word in shlex.split(spec):
        if not args and "=" in word and not word.startswith("-"):
            name, _, value = word.partition("=")
            env[name] = value
        else:
            args.append(word)
    return env, args


def start(core: int, env: dict[str, str], args: list[str], common: list[str],
          out: Path) -> subprocess.Popen[bytes]:
    cli = Path(sys.executable).parent / "consortium"
    return subprocess.Popen(
        ["taskset", "-c", str(core), str(cli), "bench", *common, *args, "--no-references",
         "--out", str(out.parent), "--json"],
        stdout=out.open("wb"), stderr=out.with_suffix(".err").open("wb"), env=os.environ | env,
        cwd=ROOT)


def summary(path: Path) -> dict[str, Any]:
    report = json.loads(path.read_text())
    ledger = report["ledger"]
    node = ledger["processes"]["node0"]
    return {"tps": round(ledger["tps"], 1), "blocks": len(report["series"]["ledger_blocks"]),
            "node_cpu_percent": node["cpu_percent"],
            "finalize_ms_per_tx": node["threads_cpu_ms_per_tx"].get("abci-call")}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--workload", "-w", default="securities")
    p.add_argument("--txs", type=int, default=5000)
    p.add_argument("--pairs", type=int, default=4)
    p.add_argument("--a", default="", help="the first variant (the reference)")
    p.add_argument("--b", default="", help="the second variant")
    p.add_argument("--name-a", default="a")
    p.add_argument("--name-b", default="b")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results",
                   help="where the report goes (default: bench/results)")
    a = p.parse_args()
    if (os.cpu_count() or 1) < 2:
        p.error("side by side needs two cores")
    common = ["-w", a.workload, "--txs", str(a.txs)]
    variants = {a.name_a: variant(a.a), a.name_b: variant(a.b)}
    pairs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="side-by-side-") as tmp:
        for n in range(a.pairs):
            cores = (0, 1) if n % 2 == 0 else (1, 0)  # each variant on each core in turn
            outs = {name: Path(tmp) / f"{n}-{name}.json" for name in variants}
            procs = {name: start(core, *variants[name], common, outs[name])
                     for core, name in zip(cores, variants, strict=True)}
            codes = {name: proc.wait() for name, proc in procs.items()}
            failed = [name for name, code in codes.items() if code]
            if failed:
                for name in failed:
                    tail = outs[name].with_suffix(".err").read_text(errors="replace")
                    print(f"pair {n + 1}: the {name} run failed (exit code {codes[name]}):\n"
                          + "\n".join(tail.strip().splitlines()[-8:]), file=sys.stderr)
                return 1
            row = {name: summary(outs[name]) for name in variants}
            row["ratio"] = round(row[a.name_b]["tps"] / row[a.name_a]["tps"], 3)
            pairs.append(row)
            print(f"pair {n + 1} (cores {cores}): {a.name_a} {row[a.name_a]['tps']:,.0f} tx/s, "
                  f"{a.name_b} {row[a.name_b]['tps']:,.0f} tx/s: ×{row['ratio']:.2f}", flush=True)
    ratios = [row["ratio"] for row in pairs]
    print(f"{a.workload}, {a.txs:,} txs, {a.pairs} pairs: {a.name_b} against {a.name_a} "
          f"×{statistics.mean(ratios):.2f} (pairs ×{min(ratios):.2f}–{max(ratios):.2f})")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / f"{stamp}-side-by-side.json").write_text(json.dumps({
        "workload": a.workload, "txs": a.txs, "variants": {a.name_a: a.a, a.name_b: a.b},
        "pairs": pairs, "mean_ratio": round(statistics.mean(ratios), 3)}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
