"""The large-state bench on tiny states: the bulk genesis is a real ledger state (every
account funded, the same root py-evm's own genesis gives), blocks execute, and the report
says what the issue's target needs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consortium.bench.runner import QuietUi
from consortium.bench.state import (
    BALANCE,
    MEMBER_BALANCE,
    BlockTiming,
    StateConfig,
    StateRun,
    app_state_json,
    build_ledger,
    bulk_addresses,
    members,
    run_state_bench,
    summary_rows,
    target,
)
from consortium.evm.revm_engine import available
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger

pytestmark = pytest.mark.skipif(not available(), reason="the state bench needs revm")


def test_bulk_genesis_is_the_genesis_an_alloc_gives(tmp_path: Path) -> None:
    senders = members(3)
    addresses = bulk_addresses(250)
    build_ledger(tmp_path / "bulk", senders, addresses, QuietUi())
    bulk = Ledger(tmp_path / "bulk")
    try:
        assert bulk.get_balance("0x" + addresses[7].hex()) == BALANCE
        assert bulk.get_balance("0x" + senders[2].address.hex()) == MEMBER_BALANCE
        assert bulk.is_member_account("0x" + senders[0].address.hex())
        bulk_root = bulk.info()[1]
    finally:
        bulk.close()
    doc = app_state_json(senders)
    doc["alloc"] |= {"0x" + a.hex(): {"balance": hex(BALANCE)} for a in addresses}
    plain = Ledger(tmp_path / "plain", engine="py-evm")
    try:
        assert plain.init_chain(AppState.from_json(doc), 1) == bulk_root
    finally:
        plain.close()


def test_a_tiny_run_reports_both_states(tmp_path: Path) -> None:
    cfg = StateConfig(accounts=400, small=20, blocks=2, block_txs=30, senders=4,
                      out=tmp_path / "results")
    outcome = run_state_bench(cfg)
    report = json.loads(outcome.json_path.read_text())
    assert outcome.json_path.parent == tmp_path / "results"
    assert [r["accounts"] for r in report["runs"]] == [20, 400]
    for run in report["runs"]:
        assert [b["txs"] for b in run["blocks"]] == [30, 30]
        assert all(b["failed"] == 0 for b in run["blocks"])
        assert all(b["root_ms"] > 0 and b["commit_ms"] > 0 for b in run["blocks"])
        assert run["tps"] > 0 and run["tps_warm"] > 0
    assert set(report["target"]) >= {"root_ms_median", "root_met", "tps_ratio", "tps_met"}
    assert len(report["machine"]["loadavg_at_start"]) == 3
    assert "others_cpu_percent" in report["machine_load"] and report["peak_rss_mb"] > 0
    assert [row[0] for row in summary_rows(report)] == ["20", "400"]


def test_target_judges_the_warm_blocks_of_the_large_state() -> None:
    def run(accounts: int, first: float, rest: float, root: float) -> StateRun:
        blocks = [BlockTiming(1000, 0, first, root, 0.0)]
        blocks += [BlockTiming(1000, 0, rest, root, 0.0) for _ in range(3)]
        return StateRun(accounts, 0.0, 0.0, blocks)

    verdict = target(run(1000, 0.5, 0.1, 0.01), run(10**6, 5.0, 0.125, 0.04))
    assert verdict["root_ms_median"] == 40.0 and verdict["root_met"]
    assert verdict["tps_ratio"] == 0.8 and verdict["tps_met"]
    verdict = target(run(1000, 0.1, 0.1, 0.01), run(10**6, 0.2, 0.2, 0.06))
    assert not verdict["root_met"] and not verdict["tps_met"]


def test_config_is_checked() -> None:
    from consortium.errors import ConfigError

    with pytest.raises(ConfigError):
        StateConfig(accounts=0).check()
    with pytest.raises(ConfigError):
        StateConfig(block_txs=0).check()
