"""Faults of a running node, on a real one-validator network (ports 34000-34999): SIGHUP is
ignored by the node and its engine, CometBFT's leftover temp files go at start, an engine
that logs a consensus failure (here: the application fails a block) stops the node with a
clear error, and a home without its validator key or with a truncated ledger is refused
at start with one line naming the file."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from consortium.errors import ConsortiumError
from consortium.network import supervisor
from consortium.network.init import init_network
from consortium.network.layout import Network
from tests.support.localnet import wait_for

# Imported by the node process (CONSORTIUM_UPGRADE_MODULES): the ledger fails every block
# once the flag file the environment names exists, as a full disk fails a block's save
FAULT_MODULE = textwrap.dedent('''
    import os
    from pathlib import Path

    from consortium.ledger.ledger import Ledger

    _real = Ledger.finalize_block

    def finalize_block(self, ctx, txs):
        if Path(os.environ["FAULT_FLAG"]).exists():
            raise OSError(28, "No space left on device (injected by the test)")
        return _real(self, ctx, txs)

    Ledger.finalize_block = finalize_block
''')


@pytest.fixture
def net(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Network]:
    (tmp_path / "mods").mkdir()
    (tmp_path / "mods" / "fail_blocks.py").write_text(FAULT_MODULE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(tmp_path / "mods"), *filter(None, [os.environ.get("PYTHONPATH")])]))
    monkeypatch.setenv("CONSORTIUM_UPGRADE_MODULES", "fail_blocks")
    monkeypatch.setenv("FAULT_FLAG", str(tmp_path / "fail"))
    base = random.randrange(34000, 34800, 100)
    network = init_network(tmp_path / "net", validators=1, base_port=base, api_port=base + 90,
                           timeout_commit="200ms")
    try:
        yield network
    finally:
        supervisor.down(network)
        for node in network.nodes:
            pid = supervisor.node_pid(network.node_home(node))
            if pid is not None:
                os.killpg(os.getpgid(pid), signal.SIGKILL)


def _height(network: Network) -> int:
    node = network.nodes[0]
    answer = httpx.get(f"{node.rpc_url}/status", timeout=2).json()
    return int(answer["result"]["sync_info"]["latest_block_height"])


def _start(network: Network) -> subprocess.Popen[bytes]:
    node = network.nodes[0]
    proc = supervisor.start_node(network, node)
    wait_for(lambda: proc.poll() is not None or _height(network) >= 2, 90,
             "the node to commit block 2")
    assert proc.poll() is None, (network.node_home(node) / "node.log").read_text()[-3000:]
    return proc


def test_leftover_engine_temp_files_are_removed_at_start(net: Network) -> None:
    home = net.node_home(net.nodes[0])
    leftover = home / "config" / "write-file-atomic-326959095532624891"
    leftover.write_text("{}")
    keep = home / "config" / "write-file-atomic-notes.txt"  # not CometBFT's pattern
    keep.write_text("mine")
    _start(net)
    assert not leftover.exists() and keep.exists()
    assert "removed 1 leftover engine temp file(s)" in (home / "node.log").read_text()


def test_sighup_is_logged_and_ignored(net: Network) -> None:
    log = net.node_home(net.nodes[0]) / "node.log"
    proc = _start(net)
    # the node logs it and runs on; its engine does not stop either (started with SIGHUP
    # ignored; CometBFT v0.38 also catches it itself)
    engine = psutil.Process(proc.pid).children()[0]
    os.kill(proc.pid, signal.SIGHUP)
    engine.send_signal(signal.SIGHUP)
    wait_for(lambda: "SIGHUP ignored" in log.read_text(), 10, "the SIGHUP line")
    time.sleep(1)
    assert proc.poll() is None and engine.is_running()
    before = _height(net)
    wait_for(lambda: _height(net) > before + 1, 30, "blocks after SIGHUP")


def test_a_consensus_failure_stops_the_node(net: Network, tmp_path: Path) -> None:
    """CometBFT logs CONSENSUS FAILURE and runs on, committing nothing (a full disk; here
    the application fails the block): the node stops, as when its engine exits."""
    log = net.node_home(net.nodes[0]) / "node.log"
    proc = _start(net)
    engine = psutil.Process(proc.pid).children()[0]
    (tmp_path / "fail").touch()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail("the node kept running after its engine's consensus failure:\n"
                    + log.read_text()[-3000:])
    text = log.read_text()
    assert proc.returncode == 1, text[-3000:]
    assert "CONSENSUS FAILURE!!!" in text  # the engine's own line still reaches node.log
    assert "engine halted: CONSENSUS FAILURE (" in text and "No space left on device" in text
    assert "it commits no more blocks; stopping node node0" in text
    wait_for(lambda: not engine.is_running(), 30, "the engine to stop")


def _stopped_once(net: Network) -> Path:
    """The node's home after one start and stop (its ledger and signing state written)."""
    supervisor.up(net)
    supervisor.down(net)
    return net.node_home(net.nodes[0])


def test_a_validator_without_its_key_is_refused(net: Network) -> None:
    home = _stopped_once(net)
    key = home / "config" / "priv_validator_key.json"
    shutil.move(key, home / "key.bak")
    with pytest.raises(ConsortiumError, match=r"validator key .*priv_validator_key\.json is "
                                              r"missing, and node0 is a validator"):
        supervisor.up(net)
    assert supervisor.node_pid(home) is None
    assert not key.exists()  # CometBFT never ran to make a new one
    shutil.move(home / "key.bak", key)
    supervisor.up(net)  # with the key back it starts


def test_a_truncated_ledger_is_refused(net: Network) -> None:
    home = _stopped_once(net)
    ledger = home / "app" / "data.mdb"
    os.truncate(ledger, ledger.stat().st_size // 2)
    with pytest.raises(ConsortiumError, match=r"the ledger .*data\.mdb is damaged: it is "
                                              r"truncated.*consortium restore.*remove"):
        supervisor.up(net)
    assert supervisor.node_pid(home) is None
