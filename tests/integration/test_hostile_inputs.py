"""Issue 17, the hostile-input catalogue (tests/support/faults/catalogue.py) against one node of a
4-validator network: every input gets a clear error naming the problem (or a closed
connection where that is right), and afterwards no node has crashed, heights advance and app
hashes agree. The last test prints the figures: inputs tried, refused with a reason,
crashes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.evmutil import dev_accounts
from tests.support.faults.catalogue import (
    ACCOUNTS,
    CATALOGUE,
    CLOSED,
    ERROR,
    NOT_RUN,
    Entry,
    Outcome,
    Target,
)
from tests.support.faults.report import emit
from tests.support.faults.schedule import Schedule
from tests.support.localnet import LocalNet

RESULTS: dict[str, tuple[Entry, Outcome, str | None]] = {}


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    net = LocalNet(tmp_path_factory.mktemp("hostile") / "net", validators=4, members=ACCOUNTS)
    try:
        net.up()
        net.wait_height(2)
        yield Target(net, "node0", dev_accounts(net), net.network.eth_chain_id)
    finally:
        net.cleanup()


@pytest.mark.parametrize("entry", [
    pytest.param(e, id=e.name, marks=[pytest.mark.slow] if e.slow else [])
    for e in CATALOGUE
])
def test_hostile_input(target: Target, entry: Entry) -> None:
    got = entry.send(target)
    problem = entry.expect.problem(got)
    RESULTS[entry.name] = (entry, got, problem)
    if got.kind == NOT_RUN and NOT_RUN not in entry.expect.kinds:
        pytest.fail(f"not run: {got.message}")
    assert problem is None, f"{entry.kind}: {problem}"


def test_no_node_crashed(target: Target, tmp_path: Path, capsys) -> None:
    """After the catalogue: every node alive and committing, no fork, the same app hashes."""
    net = target.net
    schedule = Schedule(net)
    alive = [n.name for n in net.network.nodes if net.height(n.name) >= 0]
    crashes = len(net.network.nodes) - len(alive)
    schedule.assert_live()
    heights = schedule.assert_no_fork()
    tried = [r for r in RESULTS.values() if r[1].kind != NOT_RUN]
    figures = {
        "inputs tried": len(tried),
        "refused with a reason": sum(o.kind in (ERROR, CLOSED) and bool(o.message.strip())
                                     for _, o, _ in tried),
        "answered as expected": sum(p is None for _, _, p in tried),
        "crashes": crashes,
        "heights compared (no fork)": heights,
        "not run": {e.name: o.message for e, o, _ in RESULTS.values() if o.kind == NOT_RUN},
        "unexpected": {e.name: p for e, _, p in tried if p is not None},
        "notes": target.notes,
    }
    answers = {e.name: {"class": e.kind, "got": o.kind, "message": o.message,
                        "seconds": round(o.seconds, 3)} for e, o, _ in RESULTS.values()}
    emit("hostile inputs", figures, tmp_path, capsys, details=answers)
    assert crashes == 0
