"""bench/side_by_side.py: two variants of a bench run at once, one core each."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def side_by_side() -> Any:
    sys.path.insert(0, str(BENCH))
    try:
        import side_by_side
    finally:
        sys.path.remove(str(BENCH))
    return side_by_side


def test_a_variant_is_environment_then_options(side_by_side: Any) -> None:
    assert side_by_side.variant("") == ({}, [])
    assert side_by_side.variant("CONSORTIUM_PURE_PYTHON=1 A=b c") == (
        {"CONSORTIUM_PURE_PYTHON": "1", "A": "b"}, ["c"])
    # after the first option every word is the bench's, `=` or not
    assert side_by_side.variant("X=1 --block-gas-limit 2000000000 --out=/tmp/y") == (
        {"X": "1"}, ["--block-gas-limit", "2000000000", "--out=/tmp/y"])


def test_two_networks_at_once_give_a_ratio(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH / "side_by_side.py"), "-w", "transfer", "--txs", "200",
         "--pairs", "1", "--a", "", "--b", "--batch 20", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "pair 1" in done.stdout
    (report,) = tmp_path.glob("*-side-by-side.json")
    data = json.loads(report.read_text())
    (pair,) = data["pairs"]
    assert pair["a"]["tps"] > 0 and pair["b"]["tps"] > 0
    assert pair["ratio"] == pytest.approx(pair["b"]["tps"] / pair["a"]["tps"], rel=1e-2)
