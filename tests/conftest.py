from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

import consortium.natives  # noqa: F401  (every native registered, as a node's startup does)
from tests.support.localnet import LIVE, LocalNet, wait_for


@pytest.fixture
def localnet(tmp_path: Path) -> Iterator:
    """A factory: `localnet(validators=4)` returns a started LocalNet, stopped at teardown."""
    nets: list[LocalNet] = []

    def make(
        validators: int = 4, members: list[str] | None = None, start: bool = True, **kw
    ) -> LocalNet:
        net = LocalNet(tmp_path / f"net{len(nets)}", validators, members, **kw)
        nets.append(net)
        if start:
            net.up()
        return net

    yield make
    for net in nets:
        net.cleanup()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """A failed test's report carries, for each network still running, its nodes' thread
    stacks and the ends of their logs: CI keeps no node directories, so this is all there is
    to learn why a node stopped answering."""
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when == "call":
        for net in list(LIVE):
            report.sections.append((f"nodes of {net.root}", net.diagnose()))


# What a test's network runs: the node processes and their engines (and any CLI they call)
OURS = ("consortium.cli.main", "cometbft")


def _ours() -> dict[int, str]:
    """pid -> command line of every node, engine or CLI process on the machine."""
    found = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or ())
        if any(word in line for word in OURS):
            found[proc.info["pid"]] = line
    return found


@pytest.fixture(scope="module", autouse=True)
def no_process_left_running() -> Iterator[None]:
    """Every node and engine a module started is gone when the module ends: one left behind
    (paused, or under load) would take the cores of the tests after it, and their timeouts
    would fail for it. A leftover is stopped, and reported as the module's error."""
    before = set(_ours())
    yield

    def left() -> dict[int, str]:
        return {pid: line for pid, line in _ours().items() if pid not in before}

    try:
        wait_for(lambda: not left(), 30, "the module's processes to exit")
    except AssertionError:
        leftovers = left()
        for pid in leftovers:
            try:
                proc = psutil.Process(pid)
                proc.send_signal(signal.SIGCONT)  # a paused one gets the kill too
                proc.kill()
            except psutil.Error:
                pass
        if leftovers:
            pytest.fail("processes left running (killed now):\n" + "\n".join(
                f"  {pid}: {line[:200]}" for pid, line in sorted(leftovers.items())))
