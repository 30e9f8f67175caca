"""`consortium bench state-sync`: its options are checked, and the commit-overhead part runs
(tiny sizes) with a real snapshot writer process beside the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from consortium.bench.runner import QuietUi
from consortium.bench.state_sync import StateSyncConfig, measure_commit_overhead
from consortium.errors import ConfigError


def test_options_are_checked() -> None:
    StateSyncConfig(blocks=[20, 40], snapshot_interval=10).check()
    StateSyncConfig(blocks=[]).check()  # the overhead alone
    with pytest.raises(ConfigError, match="--blocks must be at least 10"):
        StateSyncConfig(blocks=[5]).check()
    with pytest.raises(ConfigError, match="--blocks must be at least 10"):
        StateSyncConfig(blocks=[], overhead_accounts=0).check()
    with pytest.raises(ConfigError, match="--snapshot-interval"):
        StateSyncConfig(blocks=[100], snapshot_interval=1000).check()


def test_commit_overhead_is_measured_with_a_writer_running(tmp_path: Path) -> None:
    out = measure_commit_overhead(2_000, 2, 20, tmp_path, QuietUi())
    assert out["failed_txs"] == 0
    assert out["writers_started"] >= 1
    assert out["quiet_ms_median"] > 0 and out["busy_ms_median"] > 0
