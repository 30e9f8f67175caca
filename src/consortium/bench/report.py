"""A benchmark's report: the JSON document, its summary table rows, and the PNG plot.

The JSON (`<out>/<timestamp>-<workload>.json`) holds everything measured, small enough to
commit; the plot (`.png` beside it) shows the ledger's throughput and latency over time
against the execution ceiling.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from consortium.bench.load import LoadResult
from consortium.bench.resources import ProcessUsage
from consortium.bench.stats import LatencySummary, rate, steady_rate, time_series

SCHEMA = "consortium-bench/1"


def checkout_root() -> Path:
    return Path(__file__).resolve().parents[3]


def default_out() -> Path:
    """bench/results of this checkout, else ./bench-results."""
    bench = checkout_root() / "bench"
    return bench / "results" if bench.is_dir() else Path("bench-results")


@dataclass
class RunOutcome:
    """A finished run: its report, and the JSON file it was written to."""

    report: dict[str, Any]
    json_path: Path


class OutConfig:
    """A bench config dataclass's `to_json`: its fields, the output folder as text."""

    out: Path

    def to_json(self) -> dict[str, Any]:
        return asdict(self) | {"out": str(self.out)}  # type: ignore[call-overload]


def loadavg() -> list[float]:
    """The 1, 5 and 15 minute load averages: how busy the machine was around a run."""
    return [round(v, 2) for v in os.getloadavg()]


def report_head(schema: str, started: datetime, config: dict[str, Any]) -> dict[str, Any]:
    """What a run's report opens with, the load average at its start included."""
    return {"schema": schema, "started": started.isoformat(timespec="seconds"),
            "config": config, "machine": machine() | {"loadavg_at_start": loadavg()}}


def flamegraph_dir(out: Path) -> Path:
    """`flamegraphs` beside a `results` folder (bench/results -> bench/flamegraphs), else
    inside the output folder."""
    if out.name == "results":
        return out.parent / "flamegraphs"
    return out / "flamegraphs"


def machine() -> dict[str, Any]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        cpu = platform.processor()
    info: dict[str, Any] = {
        "nproc": os.cpu_count(),
        "cpu_model": cpu,
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
    }
    try:
        import psutil

        info["memory_gb"] = round(psutil.virtual_memory().total / 2**30, 1)
    except Exception:
        pass
    root = checkout_root()
    if os.environ.get("CONSORTIUM_GIT_COMMIT"):  # a run from an exported tree
        info["git_commit"] = os.environ["CONSORTIUM_GIT_COMMIT"]
    elif (root / ".git").exists():
        try:
            info["git_commit"] = subprocess.run(
                ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
                capture_output=True, text=True, timeout=10).stdout.strip()
            dirty = subprocess.run(
                ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no",
                 "src"], capture_output=True, text=True, timeout=10).stdout.strip()
            info["git_dirty"] = bool(dirty)
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def run_summary(result: LoadResult, txs: int,
                processes: dict[str, ProcessUsage] | None = None,
                machine_load: dict[str, float] | None = None) -> dict[str, Any]:
    """What one load run measured: throughput, latency, blocks, processes."""
    committed = len(result.committed)
    first_submit = min(result.submitted.values(), default=0.0)
    seconds = result.ended - first_submit if committed else 0.0
    per_block = [b.txs for b in result.blocks]
    steady = steady_rate(list(result.committed.values()))
    out: dict[str, Any] = {
        "txs": txs,
        "committed": committed,
        "refused": len(result.refused),
        "seconds": round(seconds, 3),
        "tps": round(rate(committed, seconds), 1),
        "tps_steady": round(steady, 1) if steady else None,
        "latency_ms": LatencySummary.of(result.latencies()).to_json(),
        "blocks": len(result.blocks),
        "txs_per_block": {
            "mean": round(sum(per_block) / len(per_block), 1) if per_block else 0,
            "max": max(per_block, default=0),
        },
    }
    if result.refused:
        out["refused_examples"] = sorted(set(result.refused.values()))[:3]
    if result.aborted:
        out["aborted"] = result.aborted
    if processes is not None:
        out["processes"] = {}
        for name, p in processes.items():
            doc = p.to_json()
            if committed:  # CPU per transaction: robust to other load on the machine
                doc["cpu_ms_per_tx"] = round(10 * p.cpu_percent * seconds / committed, 3)
                if p.threads:
                    doc["threads_cpu_ms_per_tx"] = {
                        k: round(10 * v * seconds / committed, 3) for k, v in p.threads.items()}
            out["processes"][name] = doc
    if machine_load:
        out["machine_load"] = machine_load
    return out


def series(result: LoadResult, width: float = 1.0) -> list[dict[str, Any]]:
    def num(v: float) -> float | None:
        return None if math.isnan(v) else round(v, 1)

    return [{"t": b.start, "tps": b.tps, "p50_ms": num(b.p50_ms), "p99_ms": num(b.p99_ms)}
            for b in time_series(result.commits(), width)]


def write_json(report: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1, sort_keys=False) + "\n")
    return path


def _fmt(v: Any, spec: str = ",.0f") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return format(v, spec)


def _ledger_row(label: str, ledger: dict[str, Any], ratios: dict[str, Any]) -> list[str]:
    lat = ledger["latency_ms"]
    return [
        label, _fmt(ledger["tps"]), _fmt(ledger["tps_steady"]), _fmt(lat["p50"]),
        _fmt(lat["p95"]), _fmt(lat["p99"]), f"{ledger['committed']}/{ledger['txs']}",
        _fmt(ratios.get("vs_execution_ceiling"), ".2f"),
        _fmt(ratios.get("vs_engine_ceiling"), ".3f"),
    ]


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    """Rows of the summary table: one per measured system (with `--engine both`, one per
    engine and their ratio)."""
    rows = []
    ratios = report.get("ratios") or {}
    validators = report["config"]["validators"]
    engines: dict[str, Any] = report.get("engines") or {}
    ex_ceiling = (report.get("execution_ceiling") or {}).get("tps")
    kv = (report.get("engine_ceiling") or {}).get("tps")
    if engines:
        for name, run in engines.items():
            tps = run["ledger"]["tps"]
            own = {"vs_execution_ceiling": tps / ex_ceiling if ex_ceiling else None,
                   "vs_engine_ceiling": tps / kv if kv else None}
            rows.append(_ledger_row(f"consortium ({name}), {validators} val.", run["ledger"],
                                    own))
        first, second = list(engines)[:2]
        key = f"{first}_vs_{second}".replace("-", "_")
        rows.append([f"{first} / {second}", _fmt(ratios.get(key), ".2f"), "", "", "", "", "",
                     "", ""])
    else:
        engine_name = report["config"].get("node_engine", "")
        rows.append(_ledger_row(
            f"consortium{f' ({engine_name})' if engine_name else ''}, {validators} val.",
            report["ledger"], ratios))
    engine = report.get("engine_ceiling")
    if engine:
        lat = engine["latency_ms"]
        rows.append([
            "kvstore (engine)", _fmt(engine["tps"]), _fmt(engine["tps_steady"]),
            _fmt(lat["p50"]), _fmt(lat["p95"]), _fmt(lat["p99"]),
            f"{engine['committed']}/{engine['txs']}", "", "",
        ])
    if report.get("execution_ceiling_error"):
        rows.append(["py-evm (execution)", "-", "", "", "", "", "-", "", ""])
    in_memory = ([run.get("execution_engine") for run in engines.values()] if engines
                 else [report.get("execution_engine")])
    for ex in [report.get("execution_ceiling"), *in_memory]:
        if ex:
            label = ("py-evm (execution)" if ex is report.get("execution_ceiling")
                     else f"{ex['engine']}, in memory")
            rows.append([label, _fmt(ex["tps"]), "", "", "", "", f"{ex['txs'] - ex['failed']}/"
                         f"{ex['txs']}", "", ""])
    if engines and ratios.get(f"{key}_in_memory") is not None:
        rows.append([f"{first} / {second}, in memory", _fmt(ratios[f"{key}_in_memory"], ".2f"),
                     "", "", "", "", "", "", ""])
    return rows


TABLE_COLUMNS = ["system", "tx/s", "steady", "p50 ms", "p95 ms", "p99 ms", "committed",
                 "×exec", "×engine"]


def plot(report: dict[str, Any], path: Path) -> Path | None:
    """Throughput and latency of the ledger over time; None when matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    points = report.get("series", {}).get("ledger", [])
    if not points:
        return None
    t = [p["t"] for p in points]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6.5), sharex=True)
    top.step(t, [p["tps"] for p in points], where="post", label="consortium, committed tx/s")
    ex = report.get("execution_ceiling")
    if ex:
        top.axhline(ex["tps"], linestyle="--", color="tab:red",
                    label=f"execution ceiling {ex['tps']:,.0f} tx/s")
    top.axhline(report["ledger"]["tps"], linestyle=":", color="tab:green",
                label=f"run average {report['ledger']['tps']:,.0f} tx/s")
    top.set_ylabel("tx/s (1 s bins)")
    top.legend(loc="lower right", fontsize=8)
    cfg = report["config"]
    top.set_title(f"{report['workload']['name']}: {cfg['txs']} txs, {cfg['validators']} "
                  f"validator(s), batch {cfg['batch']}, "
                  + (f"rate {cfg['rate']:g} tx/s" if cfg.get("rate")
                     else f"concurrency {cfg['concurrency']}"))
    for key, style in (("p50_ms", "-"), ("p99_ms", "--")):
        bottom.plot(t, [p[key] if p[key] is not None else float("nan") for p in points],
                    style, label=key.replace("_ms", ""), marker=".")
    bottom.set_ylabel("submit → visible latency (ms)")
    bottom.set_xlabel("seconds since the first submission")
    bottom.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
