"""`consortium bench --engine both`: the engines it runs, the ratio it reports, the table it
prints; and (slow) one tiny real run of a service workload on both engines."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psutil
import pytest

from consortium.bench import BenchConfig, run_bench
from consortium.bench.report import TABLE_COLUMNS, summary_rows
from consortium.bench.runner import engine_ratios
from consortium.errors import ConfigError
from consortium.evm.revm_engine import available


def test_engines_in_order() -> None:
    assert BenchConfig(engine="both").engines() == ["revm", "py-evm"]
    assert BenchConfig(engine="py-evm").engines() == ["py-evm"]
    BenchConfig(engine="both").check()
    with pytest.raises(ConfigError, match="both"):
        BenchConfig(engine="evmone").check()


def test_engine_ratios() -> None:
    runs = {"revm": {"ledger": {"tps": 900.0}, "execution_engine": {"tps": 40_000.0}},
            "py-evm": {"ledger": {"tps": 600.0}, "execution_engine": {"tps": 1_000.0}}}
    assert engine_ratios(runs, "revm", "py-evm") == {"revm_vs_py_evm": 1.5,
                                                     "revm_vs_py_evm_in_memory": 40.0}
    assert engine_ratios({"revm": runs["revm"]}, "revm", "py-evm")["revm_vs_py_evm"] is None


def _ledger(tps: float) -> dict[str, Any]:
    return {"tps": tps, "tps_steady": None, "committed": 10, "txs": 10,
            "latency_ms": {"p50": 1.0, "p95": 2.0, "p99": 3.0}}


def test_table_has_a_row_per_engine_and_their_ratio() -> None:
    report = {
        "config": {"validators": 1, "node_engine": "revm"},
        "ledger": _ledger(900.0),
        "engines": {"revm": {"ledger": _ledger(900.0),
                             "execution_engine": {"engine": "revm", "tps": 40_000.0, "txs": 10,
                                                  "failed": 0}},
                    "py-evm": {"ledger": _ledger(600.0),
                               "execution_engine": {"engine": "py-evm", "tps": 1_000.0,
                                                    "txs": 10, "failed": 0}}},
        "execution_ceiling_error": "RuntimeError: no",
        "ratios": {"revm_vs_py_evm": 1.5, "revm_vs_py_evm_in_memory": 40.0},
    }
    rows = summary_rows(report)
    assert all(len(r) == len(TABLE_COLUMNS) for r in rows)
    labels = [r[0] for r in rows]
    assert labels == ["consortium (revm), 1 val.", "consortium (py-evm), 1 val.",
                      "revm / py-evm", "py-evm (execution)", "revm, in memory",
                      "py-evm, in memory", "revm / py-evm, in memory"]
    assert rows[2][1] == "1.50" and rows[3][1] == "-" and rows[6][1] == "40.00"


@pytest.mark.slow
@pytest.mark.skipif(not available(), reason="needs the revm engine")
def test_invoices_on_both_engines(tmp_path: Path) -> None:
    cfg = BenchConfig(workload="invoice", engine="both", validators=1, txs=120, batch=30,
                      concurrency=2, senders=4, references=False, out=tmp_path,
                      timeout_commit="200ms")
    report = run_bench(cfg).report
    assert list(report["engines"]) == ["revm", "py-evm"]
    for run in report["engines"].values():
        assert run["ledger"]["committed"] == 120
        checked = run["ledger"]["receipts_checked"]
        assert checked["status_1"] == checked["sampled"] > 0
    assert report["ratios"]["revm_vs_py_evm"] > 0
    assert not psutil.Process().children(recursive=True)


def test_networks_cap_block_gas_at_the_ledgers_limit(tmp_path: Path) -> None:
    import json

    from consortium.bench.networks import LedgerNet

    net = LedgerNet(tmp_path / "net", validators=2, accounts=2, timeout_commit="200ms",
                    roles={"Bench 0001": ["seller"]}, block_gas_limit=4_000_000_000)
    for node in net.network.nodes:
        doc = json.loads((net.network.node_home(node) / "config" / "genesis.json").read_text())
        assert doc["app_state"]["block_gas_limit"] == 4_000_000_000  # as asked (default 1e9)
        assert doc["consensus_params"]["block"]["max_gas"] == "4000000000"
    assert net.app_state()["governance"]["roles"] == {
        "0x" + net.accounts()[1].address.hex(): ["seller"]}
