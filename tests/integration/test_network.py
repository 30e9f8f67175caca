"""Issue 3: a real 4-validator CometBFT network on loopback, driven through the CLI's code."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
import pytest
import tomlkit

from consortium.network.engine import require_cometbft
from consortium.network.init import node_id_from_key, write_cometbft_config
from consortium.network.layout import NodeEntry
from consortium.network.node_config import NodeConfig
from tests.support.localnet import DUMP_DONE, wait_for

CLI = [sys.executable, "-m", "consortium.cli.main"]


def _hashes_agree(net, height: int) -> set[str]:
    return {net.app_hash_at(n.name, height) for n in net.network.nodes}


def test_four_validators_commit_and_agree(localnet):
    net = localnet(validators=4)
    net.wait_height(5)
    for h in (2, 4):
        hashes = _hashes_agree(net, h)
        assert len(hashes) == 1 and "" not in hashes, f"app hashes differ at {h}: {hashes}"
    # +2/3 commit blocks before the last pair of nodes may have connected: the status is
    # read until every node has its three peers, then asserted whole
    def status_all_peered() -> dict | None:
        out = subprocess.run([*CLI, "status", "--dir", str(net.root), "--json"],
                             capture_output=True, text=True, check=True)
        read = json.loads(out.stdout)
        return read if all(n["peers"] == 3 for n in read["nodes"]) else None

    status = wait_for(status_all_peered, 30, "every node with three peers")
    assert [n["name"] for n in status["nodes"]] == ["node0", "node1", "node2", "node3"]
    # each pair is dialed by its later node only (no simultaneous dials), yet all are peers
    ids = [n.node_id for n in net.network.nodes]
    for i, node in enumerate(net.network.nodes):
        config = tomlkit.parse(
            (net.network.node_home(node) / "config" / "config.toml").read_text())
        dialed = str(config["p2p"]["persistent_peers"])
        assert [a.split("@")[0] for a in dialed.split(",") if a] == ids[:i], (node.name, dialed)
    for node in status["nodes"]:
        assert node["running"] and node["height"] >= 5
        assert node["peers"] == 3
        assert node["voting_power"] == 10
        assert node["api_url"].startswith("http://127.0.0.1:")
    health = httpx.get(f"{net.node('node2').api_url}/health", timeout=5).json()
    assert health["ok"] and health["height"] >= 5
    # SIGUSR1: each node writes its threads' stacks to its log and goes on (what a failed
    # test's report carries, tests/conftest.py)
    dump = net.diagnose()
    assert dump.count("--- node0: its threads") == 1
    assert dump.count(DUMP_DONE.decode()) >= 4 * 3  # main, ABCI, private groups at least, per node
    assert "consensus_thread.py" in dump and "private_groups.py" in dump
    net.wait_height(status["nodes"][0]["height"] + 2)


def test_crash_tolerance_and_catch_up(localnet):
    net = localnet(validators=4)
    net.wait_height(3)
    net.kill("node3")
    h = max(net.height(n) for n in ("node0", "node1", "node2"))
    net.wait_height(h + 3, ["node0", "node1", "node2"])  # 3 of 4 keep committing

    net.kill("node2")
    wait_for(lambda: net.height("node0") >= 0, 5, "node0 status")
    stalled = net.height("node0")
    # With 2 of 4 voting power gone no block can gather +2/3: the height stays put.
    with pytest.raises(AssertionError):
        wait_for(lambda: net.height("node0") > stalled + 1, 6, "a block without quorum")

    net.up(["node2", "node3"])
    net.wait_height(stalled + 3, timeout=90)
    top = min(net.height(n.name) for n in net.network.nodes) - 1
    for h in (stalled - 1, stalled, top):
        assert len(_hashes_agree(net, h)) == 1


def test_unregistered_node_is_refused(localnet, tmp_path):
    net = localnet(validators=2)
    net.wait_height(2)
    # An outsider: its own keys, the consortium's genesis, node0 as its peer.
    home = tmp_path / "outsider"
    subprocess.run(
        [str(require_cometbft()), "init", "--home", str(home)], capture_output=True, check=True
    )
    (home / "config" / "genesis.json").write_text(
        (net.network.node_home(net.node("node0")) / "config" / "genesis.json").read_text()
    )
    from consortium.network.init import _PortPicker

    ports = _PortPicker()
    entry = NodeEntry(
        name="outsider",
        member="Nobody",
        home=str(home),
        node_id=node_id_from_key(home / "config" / "node_key.json"),
        validator_pub_key="",
        p2p_port=ports.pick(net.node("node1").p2p_port + 3),
        rpc_port=ports.pick(net.node("node1").rpc_port + 3),
        api_port=ports.pick(net.node("node1").api_port + 3),
    )
    write_cometbft_config(home, entry, [net.node("node0")])
    NodeConfig(home=home, name="outsider", member="Nobody", api_port=entry.api_port).save()
    with open(home / "node.log", "wb") as log:
        proc = subprocess.Popen(
            [*CLI, "node", "--home", str(home)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_for(
            lambda: f"peer {entry.node_id} refused" in net.log("node0"),
            60,
            "node0 to log the refusal",
        )
        peers = httpx.get(f"{net.node('node0').rpc_url}/net_info", timeout=5).json()["result"]
        assert entry.node_id not in [p["node_info"]["id"] for p in peers["peers"]]
        assert "not an admitted consortium node" in net.log("node0")
        # the outsider may list node0 for a moment, until node0's refusal reaches it
        wait_for(
            lambda: httpx.get(f"http://127.0.0.1:{entry.rpc_port}/net_info",
                              timeout=5).json()["result"]["n_peers"] == "0",
            30,
            "the outsider to hold no peer",
        )
        peers = httpx.get(f"{net.node('node0').rpc_url}/net_info", timeout=5).json()["result"]
        assert entry.node_id not in [p["node_info"]["id"] for p in peers["peers"]]
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_whole_network_restarts_from_last_height(localnet):
    net = localnet(validators=4)
    net.wait_height(4)
    net.down()
    last = {n.name: net.height(n.name) for n in net.network.nodes}
    assert all(h == -1 for h in last.values())  # really stopped
    net.up()
    net.wait_height(6)
    # The pre-stop heights are still there with the same app hashes on every node.
    for h in (1, 3):
        assert len(_hashes_agree(net, h)) == 1
    first = httpx.get(f"{net.node('node1').rpc_url}/block", params={"height": 1}, timeout=5)
    assert first.json()["result"]["block"]["header"]["height"] == "1"


def test_demo_command_runs_end_to_end(tmp_path):
    """The README's first command: a local consortium with its demo scenario."""
    net_dir = tmp_path / "demo-net"
    try:
        proc = subprocess.run(
            [*CLI, "demo", "--dir", str(net_dir)], capture_output=True, text=True, timeout=300
        )
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "4 validators committing; app hashes seen: 1" in proc.stdout
        assert "deployed a Vyper ERC-20" in proc.stdout
        assert "Token balances read through node3" in proc.stdout
        # The invoice-financing scenario: the duplicate is refused, the banks are paid.
        words = " ".join(proc.stdout.split())
        assert "already registered (a duplicate" in words
        assert "60000000 to Bank A, 40000000 to Bank B" in words
        # The securities scenario: price-time priority, DvP, a restricted transfer refused.
        assert "trade 1: 40 at 100 settled; trade 2: 30 at 101 settled" in words
        assert "(code 2): recipient is not a registered investor" in words
        # The privacy group: Bank B reads the private token, Bank C's node holds none of it.
        assert "Bank B reads its balance through node1: 250 PDT" in words
        assert "agree on the private state root: yes" in words
        assert "receipt none; balanceOf: this node is not a member's node" in words
    finally:
        subprocess.run([*CLI, "down", "--dir", str(net_dir)], capture_output=True, timeout=120)
