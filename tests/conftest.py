from __future__ import annotations

import os
import signal
import uuid
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
OURS = ("consortium.cli.main", "consortium.network.node_process", "cometbft")
# This test run's mark: set here, in the pytest process, before any test starts a process,
# it is in the environment of every process the run starts (children inherit it; the tests,
# the supervisor and `ip netns exec` pass os.environ on). Made of this process's pid, so a
# second import of this file keeps it and a pytest run inside a test gets its own.
RUN_MARK = "CONSORTIUM_TEST_RUN"
if not os.environ.get(RUN_MARK, "").startswith(f"{os.getpid()}:"):
    os.environ[RUN_MARK] = f"{os.getpid()}:{uuid.uuid4().hex}"
RUN_ID = os.environ[RUN_MARK]


def _started_here(proc: psutil.Process, line: str, basetemp: Path | None) -> bool:
    """Whether this test run started `proc`: its environment carries the run's mark, or
    (an environment a test replaced, or one this user may not read) its command line names
    the run's temporary folder."""
    try:
        if proc.environ().get(RUN_MARK) == RUN_ID:
            return True
    except psutil.Error:
        pass
    return basetemp is not None and f"{basetemp}{os.sep}" in f"{line}{os.sep}"


def _ours(basetemp: Path | None = None) -> dict[int, str]:
    """pid -> command line of every node, engine or CLI process this test run started
    (`basetemp`: pytest's temporary folder of the run). A node that someone runs beside the
    tests is never one of them, whatever its command line says."""
    found = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        line = " ".join(proc.info["cmdline"] or ())
        if any(word in line for word in OURS) and _started_here(proc, line, basetemp):
            found[proc.info["pid"]] = line
    return found


@pytest.fixture(scope="module", autouse=True)
def no_process_left_running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every node and engine a module started is gone when the module ends: one left behind
    (paused, or under load) would take the cores of the tests after it, and their timeouts
    would fail for it. A leftover is stopped, and reported as the module's error. Only this
    test run's processes are looked at (`_ours`): the nodes of a real network on the same
    machine are left alone."""
    basetemp = tmp_path_factory.getbasetemp()
    before = set(_ours(basetemp))
    yield

    def left() -> dict[int, str]:
        return {pid: line for pid, line in _ours(basetemp).items() if pid not in before}

    try:
        wait_for(lambda: not left(), 30, "the module's processes to exit")
    except AssertionError:
        leftovers = left()
        for pid in leftovers:
            try:
                proc = psutil.Process(pid)
                if not _started_here(proc, " ".join(proc.cmdline()), basetemp):
                    continue  # gone meanwhile, its pid another's now
                proc.send_signal(signal.SIGCONT)  # a paused one gets the kill too
                proc.kill()
            except psutil.Error:
                pass
        if leftovers:
            pytest.fail("processes left running (killed now):\n" + "\n".join(
                f"  {pid}: {line[:200]}" for pid, line in sorted(leftovers.items())))
