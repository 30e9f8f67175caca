"""What `consortium up` and `status` tell an operator, from an outside tester's findings
(real files, processes and file systems; the running networks are in
tests/integration/test_status_faults_network.py):

1. a node that failed at start is `down (exit 1)` with its error, not the previous run's
   "stopped on request": each run begins in node.log with `starting node in … (pid N)`,
   and an exception nothing caught ends the run with code 1;
2. a storage error as exit reason says how much space the disk holding the data has (a
   full disk is "mdb_txn_commit: Input/output error" to LMDB);
3. a node.log that cannot be opened is one line naming it, not a traceback;
4. a node that had started and no longer answers is `not answering`; a chain without a
   new block for a while gets a warning line with the validators that answer.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import lmdb
import pytest

from consortium.cli.main import main
from consortium.errors import NetworkError
from consortium.network import health, supervisor
from consortium.network.disk_space import disk_note
from consortium.network.health import ChainHealth, NodeHealth, chain_health
from consortium.network.init import init_network
from consortium.network.layout import Network, NodeEntry

STARTED = ("2026-12-06 20:45:49,640 INFO consortium.ledger: ledger opened at height 14 (engine "
           "revm)\n"
           "2026-12-06 20:45:50,082 INFO consortium.node: node node3 (Bank D) started: engine "
           "pid 27169, execution on revm, API http://127.0.0.1:35545 (auth off)\n")
CLEAN_STOP = ("2026-12-06 21:00:00,000 INFO consortium.node: stopping node node3\n"
              "2026-12-06 21:00:00,500 INFO consortium.node: node node3 stopped\n")


def _starting(home: Path, pid: int, at: str = "2026-12-06 21:05:00") -> str:
    return f"{at},000 INFO consortium.node: starting node in {home} (pid {pid})\n"


def _log(home: Path, text: str) -> None:
    home.mkdir(parents=True, exist_ok=True)
    with (home / "node.log").open("a") as f:
        f.write(text)


# --- 1. a failed start is not the previous run's clean stop --------------------------------

def test_a_start_that_failed_is_not_the_previous_runs_clean_stop(tmp_path: Path) -> None:
    """The tester's node3: stopped with `down`, then its ledger could not be opened (an
    immutable data.mdb): the traceback follows the clean stop, with no "ledger opened"."""
    crash = ("Traceback (most recent call last):\n"
             '  File "/x/state_store.py", line 98, in __init__\n'
             "    self.env = lmdb.open(\n"
             f"lmdb.Error: {tmp_path}/app: Operation not permitted\n")
    _log(tmp_path, STARTED + CLEAN_STOP + _starting(tmp_path, 4242) + crash)
    found = supervisor.last_exit(tmp_path)
    assert found is not None and (found.code, found.label) == (1, "exit 1")
    assert found.reason == f"lmdb.Error: {tmp_path}/app: Operation not permitted"
    # the node's own one-line error (`error: …`, a ConsortiumError) the same way
    _log(tmp_path, STARTED + CLEAN_STOP + _starting(tmp_path, 4243)
         + "error: the ledger at /x/app cannot be opened: lmdb.Error: /x/app: Is a directory\n")
    found = supervisor.last_exit(tmp_path)
    assert found is not None and found.code == 1
    assert found.reason.startswith("error: the ledger at /x/app cannot be opened")


def test_a_traceback_logged_before_a_stop_is_not_the_exit(tmp_path: Path) -> None:
    """An error the node logged with its traceback and lived on: the run's end decides."""
    logged = ("2026-12-06 21:05:03,000 ERROR consortium.abci: ABCI query failed: boom\n"
              "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\n"
              "ValueError: boom\n")
    _log(tmp_path, _starting(tmp_path, 1) + STARTED + logged + CLEAN_STOP)
    found = supervisor.last_exit(tmp_path)
    assert found is not None and found.code == 0 and found.label == ""


# --- 2. a full disk is named -----------------------------------------------------------------

@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A node home whose ledger folder (app/) is a 2 MiB tmpfs of its own, as a data disk
    (root can mount one; skipped where mounting is not allowed)."""
    where = tmp_path / "node3" / "app"
    where.mkdir(parents=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(where)],
                             capture_output=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where.parent
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def _fill_with_lmdb(app: Path) -> str:
    """Write an LMDB in `app` until the disk refuses: LMDB's error (on a full tmpfs
    "mdb_txn_commit: Input/output error" or "No space left on device")."""
    env = lmdb.open(str(app), map_size=1 << 30)
    try:
        for _ in range(10_000):
            with env.begin(write=True) as txn:
                for _ in range(100):
                    txn.put(os.urandom(16), os.urandom(1000))
    except lmdb.Error as exc:
        return f"ABCI commit failed: {exc}"
    finally:
        env.close()
    raise AssertionError("a 2 MiB disk took 1 GB")


def test_a_full_disk_is_named_in_the_exit_record_and_status(small_disk: Path) -> None:
    home = small_disk
    reason = _fill_with_lmdb(home / "app")
    assert re.search(r"mdb_txn_commit: (Input/output error|No space left on device)", reason)
    full = re.compile(rf"; the disk holding {re.escape(str(home / 'app'))} is full "
                      r"\([\d,]+ bytes free\)$")
    assert full.search(disk_note(reason, [home / "app", home / "data"]))
    supervisor.record_exit(home, 1, reason)
    record = json.loads((home / supervisor.LAST_EXIT_FILE).read_text())
    assert record["reason"].startswith(reason) and full.search(record["reason"])
    # the engine's cause from the log replaces the reason: the note of the exit stays
    _log(home, _starting(home, 7) + STARTED
         + "E[2026-12-06|21:05:10.000] CONSENSUS FAILURE!!!  module=consensus err=\"commit "
           "failed: DiskError: mdb_txn_commit: Input/output error\"\n"
         + "2026-12-06 21:05:10,100 ERROR consortium.node: engine exited with code 1; "
           "stopping node node3\n")
    os.utime(home / supervisor.LAST_EXIT_FILE)  # the record and the log of one run
    found = supervisor.last_exit(home)
    assert found is not None and found.reason.startswith("CONSENSUS FAILURE!!!")
    assert full.search(found.reason)


def test_an_io_error_says_the_free_space_and_others_are_left_alone(tmp_path: Path) -> None:
    dirs = [tmp_path / "app", tmp_path / "data"]  # not made yet: their parent's disk
    noted = disk_note("mdb_txn_commit: Input/output error", dirs)
    assert re.fullmatch(r"mdb_txn_commit: Input/output error \([\d,]+ bytes free on the "
                        rf"disk holding {re.escape(str(tmp_path / 'app'))}\)", noted) \
        or "is full" in noted  # (a test machine's disk may be nearly full)
    assert disk_note(noted, dirs) == noted  # once
    for other in ("panic: found signature from the same key", "engine exited with code 2"):
        assert disk_note(other, dirs) == other or "is full" in disk_note(other, dirs)


def test_any_failure_on_a_full_disk_says_so(small_disk: Path) -> None:
    """A full disk breaks every write, the node's log's too: whatever the reason."""
    _fill_with_lmdb(small_disk / "app")
    assert disk_note("no stop was logged", [small_disk / "app"]).startswith(
        f"no stop was logged; the disk holding {small_disk / 'app'} is full (")


# --- 3. a node.log that cannot be opened -----------------------------------------------------

def test_up_names_a_log_it_cannot_open_in_one_line(tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    base = random.randrange(37000, 37800, 100)
    network = init_network(tmp_path / "net", validators=1, base_port=base, api_port=base + 90)
    log = network.node_home(network.nodes[0]) / "node.log"
    log.mkdir()  # what root cannot open either
    assert main(["up", "--dir", str(network.root)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1] == f"error: cannot open {log}, the log of node0: Is a directory"
    assert not any("Traceback" in line for line in err)
    assert supervisor.running_nodes(network) == []


# --- 4. not answering; a chain without new blocks ---------------------------------------------

@pytest.fixture
def sleeper() -> Iterator[int]:
    """A live process that answers nothing (a node that hangs, without SIGSTOP)."""
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        yield proc.pid
    finally:
        proc.kill()
        proc.wait()


def _clock(seconds_ago: float) -> str:
    return datetime.fromtimestamp(time.time() - seconds_ago).strftime("%Y-%m-%d %H:%M:%S")


def _started_line(seconds_ago: float) -> str:
    return (f"{_clock(seconds_ago)},000 INFO consortium.node: node node3 (Bank D) started: "
            "engine pid 1, execution on revm, API http://127.0.0.1:1 (auth off)\n")


ENGINE_STARTED = ('I[2026-12-06|21:05:01.000] Started node                                 '
                  'module=main nodeInfo="{…}"\n')


def test_a_node_that_had_started_and_hangs_is_not_answering(tmp_path: Path,
                                                            sleeper: int) -> None:
    unresponsive = supervisor._unresponsive
    # still opening its ledger: starting
    _log(tmp_path, _starting(tmp_path, sleeper, _clock(60)))
    assert unresponsive(tmp_path, sleeper, api=False, rpc=False) is None
    # its API began 30 s ago, its engine still replays: the API does not answer
    _log(tmp_path, _started_line(30))
    assert unresponsive(tmp_path, sleeper, api=False, rpc=False) == "API"
    # the engine's RPC listens ("Started node"): both
    _log(tmp_path, ENGINE_STARTED)
    assert unresponsive(tmp_path, sleeper, api=False, rpc=False) == "API, RPC"
    assert unresponsive(tmp_path, sleeper, api=True, rpc=False) == "RPC"
    # just started: its API gets API_GRACE
    _log(tmp_path, _starting(tmp_path, sleeper, _clock(1)) + _started_line(1))
    assert unresponsive(tmp_path, sleeper, api=False, rpc=True) is None
    # another process's run (a log it does not write): by the process's age, young here
    _log(tmp_path, _starting(tmp_path, sleeper + 1, _clock(1)))
    assert unresponsive(tmp_path, sleeper, api=False, rpc=False) is None


def test_states(tmp_path: Path) -> None:
    s = supervisor.NodeStatus("node3", "Bank D", True, answers={"api": False, "rpc": False},
                              unresponsive="API, RPC")
    assert s.state == "not answering"
    s.unresponsive = "SIGSTOP"
    assert s.state == "not answering (SIGSTOP)"
    s.unresponsive = None
    assert s.state == "starting"
    s.height, s.answers = 12, {"api": True, "rpc": True}
    assert s.state == "up"
    assert health.health_json(s, NodeHealth())["state"] == "up"


def _folder(tmp_path: Path, timeout_commit: str = "300ms") -> Network:
    nodes = [NodeEntry(name=f"node{i}", member=f"Bank {i}", home=f"nodes/node{i}",
                       node_id="0" * 40, validator_pub_key="", p2p_port=1, rpc_port=9,
                       api_port=3) for i in range(4)]
    for node in nodes:
        config = tmp_path / node.home / "config"
        config.mkdir(parents=True)
        (config / "config.toml").write_text(
            f'[consensus]\ntimeout_commit = "{timeout_commit}"\n')
    return Network(root=tmp_path, chain_id="test", eth_chain_id=1, production=False,
                   nodes=nodes)


def test_stall_threshold_follows_the_block_interval(tmp_path: Path) -> None:
    assert health.go_seconds("1m30s") == 90 and health.go_seconds("500ms") == 0.5
    assert health.go_seconds("fast") is None
    fast = _folder(tmp_path / "a")  # 300 ms blocks
    assert health.stall_after(fast.node_home(fast.nodes[0])) == health.STALL_MIN_S
    slow = _folder(tmp_path / "c", "5s")
    assert health.stall_after(slow.node_home(slow.nodes[0])) == 50
    home = slow.node_home(slow.nodes[1])
    (home / "config" / "config.toml").write_text(
        '[consensus]\ntimeout_commit = "1s"\ncreate_empty_blocks = false\n'
        'create_empty_blocks_interval = "0s"\n')
    assert health.stall_after(home) is None  # an idle chain makes no block


def test_a_stalled_chain_gets_one_warning_line(tmp_path: Path) -> None:
    network = _folder(tmp_path)
    rows = []
    for i, node in enumerate(network.nodes):
        live = i < 2
        status = supervisor.NodeStatus(node.name, node.member, live,
                                       height=20 if live else None,
                                       voting_power=10 if live else None,
                                       answers={"api": True, "rpc": True} if live else None)
        rows.append((status, NodeHealth(last_block_age_s=31.2 if live else None)))
    chain = chain_health(network, rows)
    assert (chain.newest_block_age_s, chain.stalled_after_s) == (31.2, 10.0)
    assert (chain.validators_answering, chain.voting_power_answering) == (2, 20)
    # nothing answers at the RPC port here: the set's size is unknown
    assert chain.warning == ("no new block for 31 s: the chain may be halted (validators "
                             "answering: 2, 20 voting power)")
    chain.validators, chain.voting_power = 4, 40
    assert health._answering(network, chain) == (
        "validators answering: 2 of 4, 20 of 40 voting power; blocks need more than 2/3 of it")
    fresh = [(r, NodeHealth(last_block_age_s=0.4)) for r, _ in rows[:2]]
    assert chain_health(network, fresh + rows[2:]).warning is None
    assert ChainHealth().to_json()["warning"] is None


# --- 5. every node asked at once ---------------------------------------------------------------

def test_status_and_health_ask_every_node_at_once(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """A frozen node takes its timeouts (~4 s): asked one after another, thirty of them made
    `status` wait minutes. Each stand-in below returns only once every node is being asked
    (a barrier), so asking one at a time fails; the answers keep the nodes' order."""
    base = random.randrange(37000, 37800, 100)
    network = init_network(tmp_path / "net", validators=4, base_port=base, api_port=base + 90)
    together = threading.Barrier(len(network.nodes), timeout=10)

    def status(net: Network, node: NodeEntry, timeout: float = 2.0) -> supervisor.NodeStatus:
        together.wait()
        return supervisor.NodeStatus(node.name, node.member, True, height=int(node.name[4:]))

    monkeypatch.setattr(supervisor, "node_status", status)
    statuses = supervisor.network_status(network)
    assert [s.name for s in statuses] == [n.name for n in network.nodes]

    def node_health(node: NodeEntry, status: supervisor.NodeStatus, top: int | None,
                    credentials: object = None) -> NodeHealth:
        assert status.name == node.name
        together.wait()
        return NodeHealth(behind=None if top is None or status.height is None
                          else top - status.height)

    monkeypatch.setattr(health, "node_health", node_health)
    rows = health.network_health(network)
    assert [(s.name, h.behind) for s, h in rows] == [
        (n.name, 3 - i) for i, n in enumerate(network.nodes)]


def test_the_first_failing_node_in_order_is_the_error(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    base = random.randrange(37000, 37800, 100)
    network = init_network(tmp_path / "net", validators=3, base_port=base, api_port=base + 90)

    def status(net: Network, node: NodeEntry, timeout: float = 2.0) -> supervisor.NodeStatus:
        if node.name != "node0":
            raise NetworkError(f"{node.name} failed")
        return supervisor.NodeStatus(node.name, node.member, True)

    monkeypatch.setattr(supervisor, "node_status", status)
    with pytest.raises(NetworkError, match="node1 failed"):
        supervisor.network_status(network)
