"""The test suite's reaper (`tests/conftest.py`: `no_process_left_running`, `_ours`) looks
only at the processes this test run started: one carrying the run's mark in its
environment, or one naming the run's temporary folder. A node or engine someone runs on the
same machine is never its business, whatever its command line (a CI run once killed an
operator's three nodes, started with `consortium up`, in the middle of a ceremony)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest

from tests.conftest import _ours
from tests.support.localnet import wait_for

RUN_MARK = "CONSORTIUM_TEST_RUN"  # (tests/conftest.py)


@contextmanager
def sleeper(name: str, env: dict[str, str]) -> Iterator[int]:
    """A `sleep` whose command line reads `name`; its pid."""
    proc = subprocess.Popen(["bash", "-c", 'exec -a "$0" sleep 300', name], env=env,
                            stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: psutil.Process(proc.pid).cmdline()[0] == name, 10, f"{name} to run")
        yield proc.pid
    finally:
        proc.kill()
        proc.wait(10)


def test_a_process_the_run_did_not_start_is_not_ours(tmp_path_factory: pytest.TempPathFactory
                                                     ) -> None:
    basetemp = tmp_path_factory.getbasetemp()
    outside = {k: v for k, v in os.environ.items() if k != RUN_MARK}
    with sleeper("cometbft start --home /srv/bank-a-node", outside) as pid:
        assert pid not in _ours(basetemp)
    with sleeper(f"python -m consortium.cli.main node --home {basetemp}0/node0", outside) \
            as pid:  # another run's folder, whose name begins with this run's
        assert pid not in _ours(basetemp)


def test_what_the_run_started_is_ours(tmp_path: Path,
                                      tmp_path_factory: pytest.TempPathFactory) -> None:
    basetemp = tmp_path_factory.getbasetemp()
    with sleeper("cometbft start --home /srv/anywhere", dict(os.environ)) as pid:
        assert pid in _ours(basetemp)  # the run's mark, inherited
    outside = {k: v for k, v in os.environ.items() if k != RUN_MARK}
    with sleeper(f"cometbft start --home {tmp_path}/net0/nodes/node0", outside) as pid:
        assert pid in _ours(basetemp)  # an environment a test replaced: the run's folder
