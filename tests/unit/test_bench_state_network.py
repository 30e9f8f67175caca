"""The end-to-end large-state bench (`consortium bench state --network`): the filled addresses
are the contract's, the fill plan covers exactly the requested accounts, and one tiny real
run (two 1-validator networks, filled through the chain) reports both state sizes."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import psutil
import pytest
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_abi.abi import encode as abi_encode
from eth_hash.auto import keccak

from consortium.bench.state_network import (
    BLOCK_GAS_LIMIT,
    FILL_SENDERS,
    SCHEMA,
    SEED,
    StateNetworkConfig,
    fill_address,
    fill_calldata,
    plan_fill,
    run_state_network_bench,
    summary_rows,
    target,
)
from consortium.bench.workloads import BenchAccount
from consortium.cli.main import main
from consortium.contracts.compiler import node_modules
from consortium.errors import ConfigError


def test_fill_address_is_keccak_of_abi_encode() -> None:
    for seed, i in [(SEED, 0), (SEED, 999_999), (1, 2**40), (0, 0)]:
        expected = keccak(abi_encode(["uint256", "uint256"], [seed, i]))[-20:]
        assert fill_address(seed, i) == expected
    assert fill_address(SEED, 1) != fill_address(SEED, 2)


def test_fill_calldata_is_the_abi_call() -> None:
    selector = keccak(b"fill(uint256,uint256,uint256)")[:4]
    assert fill_calldata(SEED, 500, 250) == selector + abi_encode(
        ["uint256", "uint256", "uint256"], [SEED, 500, 250])


def test_fill_plan_covers_every_account_once() -> None:
    accounts = [BenchAccount.from_key(keccak(b"k" + bytes([i]))) for i in range(12)]
    plan = plan_fill(accounts, 2_345, 500, 20251, b"\x00")
    assert plan.deploy.sender == 0 and plan.deploy.nonce == 0
    covered = []
    for tx in plan.fills:
        decoded = PragueTransactionBuilder.decode(tx.raw)
        assert bytes(decoded.to) == plan.contract
        words = decoded.data[4:]
        seed, start, count = (int.from_bytes(words[k:k + 32], "big") for k in (0, 32, 64))
        assert seed == SEED
        covered += range(start, start + count)
        assert decoded.gas <= BLOCK_GAS_LIMIT // 2
        assert tx.sender < FILL_SENDERS
    assert covered == list(range(2_345))
    assert len(plan.fills) == 5
    # nonces: the deployer's fills after its deployment, every sender's consecutive
    assert [t.nonce for t in plan.fills if t.sender == 0] == [1]
    assert plan.next_nonces[:5] == [2, 1, 1, 1, 1] and plan.next_nonces[5:] == [0] * 7


def test_target_is_large_over_small_throughput() -> None:
    def run(accounts: int, tps: float, steady: float | None) -> dict[str, object]:
        return {"accounts": accounts, "ledger": {"tps": tps, "tps_steady": steady}}

    verdict = target(run(1_000, 1_000.0, 1_200.0), run(10**6, 750.0, 600.0))
    assert verdict["tps_ratio"] == 0.75 and verdict["tps_met"]
    assert verdict["tps_steady_ratio"] == 0.5
    verdict = target(run(1_000, 1_000.0, None), run(10**6, 699.0, 600.0))
    assert not verdict["tps_met"] and verdict["tps_steady_ratio"] is None


def test_config_is_checked() -> None:
    for bad in (StateNetworkConfig(accounts=0), StateNetworkConfig(txs=0),
                StateNetworkConfig(batch=1001), StateNetworkConfig(fill_per_tx=10**6),
                StateNetworkConfig(engine="geth"), StateNetworkConfig(timeout_commit="soon")):
        with pytest.raises(ConfigError):
            bad.check()
    StateNetworkConfig(timeout_commit="1m30s").check()


def test_cli_refuses_mixed_modes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "state", "--txs", "10"]) == 1
    assert "only with --network" in capsys.readouterr().err
    assert main(["bench", "state", "--network", "--blocks", "2"]) == 1
    assert "not --network" in capsys.readouterr().err
    assert main(["bench", "state", "--network", "--concurrency", "0"]) == 1
    assert "--concurrency" in capsys.readouterr().err


def _our_processes() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


def test_a_tiny_end_to_end_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if shutil.which("node") is None or not (node_modules() / "solc").is_dir():
        pytest.skip("the Airdrop contract needs Node.js and solc-js (scripts/install.sh)")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    cfg = StateNetworkConfig(accounts=3_000, small=300, txs=600, concurrency=4, senders=8,
                             fill_per_tx=1_500, timeout_commit="200ms",
                             out=tmp_path / "results")
    outcome = run_state_network_bench(cfg)
    report = json.loads(outcome.json_path.read_text())
    assert outcome.json_path.parent == tmp_path / "results"
    assert report["schema"] == SCHEMA
    assert report["config"]["accounts"] == 3_000 and report["machine"]["nproc"]
    assert [r["accounts"] for r in report["runs"]] == [300, 3_000]
    for run, fill_txs in zip(report["runs"], [1, 2], strict=True):
        fill = run["fill"]
        assert fill["txs"] == fill_txs and fill["receipts_status_1"] == fill_txs
        # the last filled address (derived in Python) got its wei, the next one nothing,
        # and the contract's own recipient() agrees with the Python derivation
        assert fill["last_balance"] == 1 and fill["beyond_balance"] == 0
        assert fill["contract_derivation_matches"]
        assert fill["balances_checked"]["at_least_1"] == fill["balances_checked"]["sampled"]
        assert 30_000 < fill["gas_per_account"] < 36_000
        assert fill["seconds"] > 0 and fill["disk_mb"] > 0
        ledger = run["ledger"]
        assert ledger["committed"] == 600 and ledger["refused"] == 0
        checked = ledger["receipts_checked"]
        assert checked["sampled"] == 50 and checked["status_1"] == 50
        assert ledger["tps"] > 0 and ledger["latency_ms"]["p99"] >= ledger["latency_ms"]["p50"]
        assert "node0/cometbft" in ledger["processes"]
    t = report["target"]
    assert t["small"] == 300 and t["accounts"] == 3_000
    assert t["tps_ratio"] == round(t["large_tps"] / t["small_tps"], 3)
    assert t["tps_met"] == (t["tps_ratio"] >= 0.7)
    assert [row[0] for row in summary_rows(report)] == ["300", "3,000"]
    assert not _our_processes(), "the benchmark left processes running"
    assert not list(scratch.iterdir()), "the benchmark left its networks on disk"
