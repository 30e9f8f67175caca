"""`consortium up` and `status` on real local networks (free ports; every process stopped
after), from an outside tester's findings:

1. a node whose start failed (its ledger cannot be opened; an exception nothing expected)
   is `down (exit 1)` with that error, not the previous run's "stopped on request";
2. a node that stopped on a full disk (its ledger on a small tmpfs) says the disk is full,
   in last-exit.json, in `status` and in `up`;
4. a frozen node (SIGSTOP) is `not answering`, and a chain that lost its quorum (1 of 2
   validators) gets one warning line with the validators that answer.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from consortium.cli.main import main
from consortium.errors import NetworkError
from consortium.network import health, supervisor
from tests.support.localnet import LocalNet, wait_for


@pytest.fixture
def net(tmp_path: Path) -> Iterator[LocalNet]:
    network = LocalNet(tmp_path / "net", validators=2, timeout_commit="300ms")
    try:
        yield network
    finally:
        for node in network.network.nodes:  # a stopped node would wait for SIGCONT
            pid = supervisor.node_pid(network.network.node_home(node))
            if pid is not None:
                os.killpg(os.getpgid(pid), signal.SIGCONT)
        network.cleanup()


def _status(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["status", "--dir", str(root), "--json"]) == 0
    found: dict[str, Any] = json.loads(capsys.readouterr().out)
    return found


def _table(root: Path, capsys: pytest.CaptureFixture[str]) -> list[str]:
    capsys.readouterr()
    assert main(["status", "--dir", str(root)]) == 0
    return capsys.readouterr().out.splitlines()


def _row(found: dict[str, Any], name: str) -> dict[str, Any]:
    row: dict[str, Any] = next(n for n in found["nodes"] if n["name"] == name)
    return row


# --- 1 ------------------------------------------------------------------------------------

# Imported by the node (CONSORTIUM_UPGRADE_MODULES): it fails at start, after its ledger
# opened, with an exception nothing in the node expects
FAIL_AT_START = textwrap.dedent('''
    import consortium.network.node as node

    def settle_gc():
        raise RuntimeError("injected at start")

    node.settle_gc = settle_gc
''')


def test_a_node_that_failed_to_start_is_down_with_its_error(
        net: LocalNet, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    net.up()
    net.wait_height(2)
    net.down(["node1"])
    home = net.network.node_home(net.node("node1"))
    assert _row(_status(net.root, capsys), "node1")["last_exit"]["code"] == 0
    # its ledger cannot be opened (as with an immutable data.mdb: a lock file LMDB
    # cannot open, here a directory in its place)
    lock = home / "app" / "lock.mdb"
    lock.unlink(missing_ok=True)
    lock.mkdir()
    with pytest.raises(NetworkError, match=r"^node1 exited with code 1: error: the ledger at "
                       rf"{re.escape(str(home / 'app'))} cannot be opened: lmdb\.Error: .*"
                       r"Is a directory"):
        net.up(["node1"])
    row = _row(_status(net.root, capsys), "node1")
    assert row["state"] == "down (exit 1)" and row["last_exit"]["code"] == 1
    assert "cannot be opened" in row["last_exit"]["reason"]
    assert "Is a directory" in row["last_exit"]["reason"]
    table = _table(net.root, capsys)
    assert any("down (exit 1)" in line for line in table)
    # without its record, from node.log alone: this run's error, not the clean stop before
    (home / supervisor.LAST_EXIT_FILE).unlink()
    found = supervisor.last_exit(home)
    assert found is not None and found.code == 1 and "cannot be opened" in found.reason
    # an exception nothing in the node expects: recorded too (code 1, its line)
    lock.rmdir()
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "fail_at_start.py").write_text(FAIL_AT_START)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(tmp_path / "mods"), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("CONSORTIUM_UPGRADE_MODULES", "fail_at_start")
    with pytest.raises(NetworkError, match=r"^node1 exited with code 1: RuntimeError: "
                                           r"injected at start$"):
        net.up(["node1"])
    record = json.loads((home / supervisor.LAST_EXIT_FILE).read_text())
    assert (record["code"], record["reason"]) == (1, "RuntimeError: injected at start")
    row = _row(_status(net.root, capsys), "node1")
    assert row["state"] == "down (exit 1)"
    assert row["last_exit"]["reason"] == "RuntimeError: injected at start"
    (home / supervisor.LAST_EXIT_FILE).unlink()
    found = supervisor.last_exit(home)
    assert found is not None and (found.code, found.reason) == (
        1, "RuntimeError: injected at start")


# --- 2 ------------------------------------------------------------------------------------

def test_a_full_disk_is_named_where_the_node_stopped(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = LocalNet(tmp_path / "one", validators=1, timeout_commit="200ms")
    home = one.network.node_home(one.network.nodes[0])
    app = home / "app"
    app.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(app)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    full = rf"; the disk holding {re.escape(str(app))} is full \([\d,]+ bytes free\)"
    try:
        one.up()
        one.wait_height(2)
        fd = os.open(app / "filler", os.O_WRONLY | os.O_CREAT)
        try:
            while True:
                os.write(fd, bytes(1 << 16))
        except OSError:
            pass  # full; what is left goes in smaller writes
        try:
            while True:
                os.write(fd, bytes(512))
        except OSError:
            pass
        finally:
            os.close(fd)
        wait_for(lambda: supervisor.node_pid(home) is None, 60, "the node to stop")
        record = json.loads((home / supervisor.LAST_EXIT_FILE).read_text())
        assert record["code"] == 1 and re.search(full + "$", record["reason"]), record
        row = _row(_status(one.root, capsys), "node0")
        assert re.search(full + "$", row["last_exit"]["reason"]), row
        with pytest.raises(NetworkError, match=r"^node0 exited with code 1: .*" + full):
            one.up()
    finally:
        one.cleanup()
        subprocess.run(["umount", "-l", str(app)], check=False)


# --- 4 ------------------------------------------------------------------------------------

HALTED = re.compile(r"no new block for \d+ s: the chain may be halted \(validators answering: "
                    r"1 of 2, 10 of 20 voting power; blocks need more than 2/3 of it\)")


def _stalled(root: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """status --json once the chain has had no new block for longer than its threshold."""
    def stalled() -> dict[str, Any] | None:
        found = _status(root, capsys)
        return found if found["chain"]["warning"] is not None else None
    found: dict[str, Any] = wait_for(stalled, 30, "the chain warning")
    return found


def test_a_frozen_node_is_not_answering_and_a_halted_chain_is_named(
        net: LocalNet, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    # threshold: STALL_BLOCKS x 300 ms = 3 s (at least STALL_MIN_S, 10 s by default)
    monkeypatch.setattr(health, "STALL_MIN_S", 1.0)
    monkeypatch.setenv("COLUMNS", "200")
    net.up()
    net.wait_height(2)
    found = _status(net.root, capsys)
    assert [n["state"] for n in found["nodes"]] == ["up", "up"]
    assert found["chain"]["warning"] is None
    assert (found["chain"]["validators"], found["chain"]["voting_power"]) == (2, 20)
    assert found["chain"]["stalled_after_s"] == 3.0
    # node1 frozen, its engine with it (the whole process group)
    pid = supervisor.node_pid(net.network.node_home(net.node("node1")))
    assert pid is not None
    os.killpg(os.getpgid(pid), signal.SIGSTOP)
    try:
        found = _stalled(net.root, capsys)
        assert _row(found, "node1")["state"] == "not answering (SIGSTOP)"
        assert _row(found, "node1")["answers"] == {"api": False, "rpc": False}
        assert _row(found, "node0")["state"] == "up"
        assert HALTED.fullmatch(found["chain"]["warning"])
        assert (found["chain"]["validators_answering"],
                found["chain"]["voting_power_answering"]) == (1, 10)
        table = _table(net.root, capsys)
        assert any("not answering (SIGSTOP)" in line for line in table)
        assert sum(bool(HALTED.fullmatch(line)) for line in table) == 1
    finally:
        os.killpg(os.getpgid(pid), signal.SIGCONT)
    height = net.height("node0")
    net.wait_height(height + 2)
    # node1 killed: 1 of 2 validators left, the chain halts
    net.kill("node1")
    time.sleep(0.5)
    found = _stalled(net.root, capsys)
    assert [n["state"] for n in found["nodes"]] == ["up", "down (killed?)"]
    assert HALTED.fullmatch(found["chain"]["warning"])
