"""One tiny real benchmark run: a 1-validator network, the kvstore reference, py-evm."""

from __future__ import annotations

import shutil
from pathlib import Path

import psutil
import pytest

from consortium.bench import BenchConfig, run_bench
from consortium.contracts.compiler import node_modules


def _our_processes() -> set[int]:
    me = psutil.Process()
    return {p.pid for p in me.children(recursive=True)}


@pytest.mark.slow
def test_a_few_hundred_erc20_transfers(tmp_path: Path) -> None:
    if shutil.which("node") is None or not (node_modules() / "solc").is_dir():
        pytest.skip("the ERC-20 workload needs Node.js and solc-js (scripts/install.sh)")
    cfg = BenchConfig(workload="erc20", validators=1, txs=300, batch=50, concurrency=4,
                      senders=8, out=tmp_path / "results", timeout_commit="200ms")
    outcome = run_bench(cfg)
    report = outcome.report

    ledger = report["ledger"]
    assert ledger["committed"] == 300 and ledger["refused"] == 0
    assert ledger["receipts_checked"]["status_1"] == ledger["receipts_checked"]["sampled"]
    assert ledger["tps"] > 0 and ledger["latency_ms"]["p99"] >= ledger["latency_ms"]["p50"] > 0
    assert "node0/cometbft" in ledger["processes"]
    assert report["engine_ceiling"]["committed"] == 300
    assert report["execution_ceiling"]["failed"] == 0
    assert report["execution_ceiling"]["txs"] == 300
    assert report["execution_engine"]["failed"] == 0
    assert report["execution_engine"]["engine"] == report["config"]["node_engine"]
    assert report["ratios"]["vs_execution_ceiling"] > 0
    assert outcome.json_path.is_file() and outcome.json_path.parent == tmp_path / "results"
    assert not _our_processes(), "the benchmark left processes running"
