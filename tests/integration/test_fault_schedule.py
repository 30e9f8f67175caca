"""Issue 17, the fault schedule under load: validators killed, paused, restarted, all of
them at once, and two of four down, while signed transfers flow in. Afterwards: no fork, the
same app hashes on every node, every node live, and no transaction lost: every hash a node
answered is committed or reported rejected with a reason (`consortium_getTransactionStatus`).

The lean test (default run) kills two validators (one at a time) the moment each answered a
batch of 500, and pauses another; the full schedule runs under `-m slow`. Both print their
figures."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.evmutil import dev_accounts
from tests.support.faults.load import Load, Settled, describe_lost, settle
from tests.support.faults.report import emit
from tests.support.faults.schedule import Schedule
from tests.support.localnet import LocalNet, wait_for

SINK = "0x000000000000000000000000000000000000dEaD"
SENDERS = ["Bank A", "Bank B", "Bank C", "Bank D"]  # the load: one per node
BURSTER = "Bank E"  # one batch through a node that is killed the moment it answers


def begin(localnet: Callable[..., LocalNet], per_sender: int, batch: int,
          interval: float) -> tuple[Schedule, Load]:
    """A 4-validator network under load: one sender per node (dev accounts Bank A.. send
    through node0..), failing over to the other nodes when theirs is down."""
    net = localnet(validators=4, members=[*SENDERS, BURSTER])
    net.wait_height(2)
    accts = dev_accounts(net)
    names = [n.name for n in net.network.nodes]
    senders = [accts[name] for name in SENDERS]
    load = Load(urls=[net.node(n).api_url for n in names], senders=senders, to=SINK,
                chain_id=net.network.eth_chain_id, per_sender=per_sender, batch=batch,
                interval=interval)
    return Schedule(net), load.start()


def kill_after_accepting(schedule: Schedule, load: Load, name: str, more: int) -> None:
    """Kill node `name` as soon as it has answered `more` hashes beyond those it had: its
    last batch was accepted a moment before (the transactions a journal must keep)."""
    url = schedule.net.node(name).api_url

    def answered() -> int:
        return sum(s.node == url for s in list(load.accepted.values()))

    target = answered() + more
    wait_for(lambda: answered() >= target, 120, f"{name} to accept {more} more transactions",
             interval=0.02)
    schedule.kill_restart(name)


def kill_after_burst(schedule: Schedule, load: Load, name: str, count: int) -> int:
    """Send one batch of `count` transactions through node `name` and SIGKILL it the moment
    it answers: many have reached no peer yet (before the journal, a third of 500 were lost
    this way in about half the tries). Returns how many it accepted."""
    acct = dev_accounts(schedule.net)[BURSTER]
    accepted = load.burst(acct, schedule.net.node(name).api_url, count)
    schedule.kill_restart(name)
    return accepted


def figures(load: Load, done: Settled, schedule: Schedule, heights: int) -> dict[str, object]:
    return {
        "transactions accepted": len(load.accepted),
        "committed": len(done.committed),
        "rejected with a reason": len(done.rejected),
        "lost": len(done.lost),
        "refused at submission": len(load.refused),
        "first refusal": load.refused[0][2][:160] if load.refused else "",
        "batches no node answered": load.unanswered,
        "perturbations survived": len(schedule.survived),
        "recovery times (s)": {p.name: p.recovery_s for p in schedule.survived},
        "heights compared (no fork)": heights,
        "lost, by sender and accepting node": describe_lost(
            load, done.lost, schedule.events(),
            {n.api_url: n.name for n in schedule.net.network.nodes}),
    }


def journal_lines(net: LocalNet, last: int = 15) -> str:
    """What each node logged about its journal of accepted transactions (the logs go with
    pytest's tmp dirs)."""
    out = []
    for node in net.network.nodes:
        lines = [ln for ln in net.log(node.name).splitlines()
                 if "journal" in ln.lower() or "resubmit" in ln.lower()]
        out += [f"{node.name}: {ln}" for ln in lines[-last:]]
    return "\n".join(out)


def finish(load: Load, schedule: Schedule, title: str, tmp_path: Path,
           capsys: pytest.CaptureFixture[str], settle_s: float) -> None:
    """Stop the load, let it settle, print the figures, then assert what they must show."""
    net = schedule.net
    load.stop()
    schedule.assert_live()
    done = settle(net.node("node0").api_url, load.hashes(), timeout=settle_s)
    heights = schedule.assert_no_fork()
    emit(title, figures(load, done, schedule, heights), tmp_path, capsys)
    assert not done.lost, (
        f"{len(done.lost)} of {len(load.accepted)} accepted transactions neither committed nor "
        f"rejected with a reason (see the figures); refused at submission: "
        f"{load.refused[:2]}; the nodes' journal lines:\n{journal_lines(net)}")
    assert load.accepted, "the load got no transaction accepted"


def test_kill_and_pause_under_load(localnet, tmp_path: Path, capsys) -> None:
    schedule, load = begin(localnet, per_sender=150, batch=5, interval=0.3)
    assert kill_after_burst(schedule, load, "node3", count=500) > 0
    schedule.pause_resume("node2", heights=3)
    assert kill_after_burst(schedule, load, "node1", count=500) > 0
    finish(load, schedule, "fault schedule (lean)", tmp_path, capsys, settle_s=45)


@pytest.mark.slow
def test_full_fault_schedule(localnet, tmp_path: Path, capsys) -> None:
    schedule, load = begin(localnet, per_sender=3000, batch=20, interval=0.2)
    kill_after_accepting(schedule, load, "node3", more=40)
    kill_after_burst(schedule, load, "node2", count=300)
    schedule.pause_resume("node2", heights=5)
    schedule.graceful_restart("node1")
    kill_after_accepting(schedule, load, "node0", more=40)
    schedule.kill_all()
    schedule.two_down(["node2", "node3"])
    schedule.pause_resume("node0", heights=3)
    finish(load, schedule, "fault schedule (full)", tmp_path, capsys, settle_s=120)
