"""The explorer bench on a tiny chain: both ledgers commit every transfer and agree on the
app hash, the index's own work is timed, the fill carries the asked transactions (resumed
on a kept ledger), and the pages and reads it times answer 200 over real HTTP."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consortium.bench.explorer import ExplorerConfig, run_explorer_bench, summary_rows
from consortium.evm.revm_engine import available

pytestmark = pytest.mark.skipif(not available(), reason="the explorer bench needs revm")


def test_a_tiny_explorer_bench(tmp_path: Path) -> None:
    cfg = ExplorerConfig(cost_blocks=2, block_txs=30, blocks=40, txs=120, rounds=2,
                         senders=4, keep=tmp_path / "chain", out=tmp_path / "results")
    outcome = run_explorer_bench(cfg)
    report = json.loads(outcome.json_path.read_text())
    cost = report["index_cost"]
    assert cost["failed"] == 0 and cost["same_app_hash"]
    assert cost["index_entries"] > 0 and cost["index_work_ms_median"] > 0
    assert report["fill"]["blocks"] == 41 and report["fill"]["failed"] == 0  # setup + 40
    pages = report["pages"]
    assert pages["height"] == 41 and pages["txs_in_chain"] == 1 + 120  # the token's setup
    assert pages["address_transactions"] >= 120 // 4
    for label, page in pages["pages"].items():
        if label.startswith("rpc") or label.startswith("rest"):
            assert page["ok"], (label, page)
    assert len(summary_rows(report)) == 2 + len(pages["pages"])
    # a kept chain is reused, not filled again
    again = run_explorer_bench(ExplorerConfig(blocks=40, txs=120, rounds=1, senders=4,
                                              skip_cost=True, keep=tmp_path / "chain",
                                              out=tmp_path / "results"))
    assert again.report["fill"]["reused"] is True
