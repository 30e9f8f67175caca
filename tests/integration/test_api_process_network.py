"""`[api] process` on a real 3-validator network: node0 serves its API from a process of its
own (the default: reading the ledger through LMDB, hearing CheckTx answers over the node's
check socket), node1 from its node's process (`"node"`). Transfers sent to node0 are
answered with their hashes, counted in its pending nonce, refused with CheckTx's reason when
stale, committed and read back from both; a transfer sent to node1 is counted in node0's
pending nonce once node0's mempool has it; the API's process dies with its node, even a
killed one."""

from __future__ import annotations

import os
import re
import signal
from typing import Any

import httpx
import psutil
import tomlkit
from prometheus_client.parser import text_string_to_metric_families

from consortium.network import supervisor
from consortium.network.init import port_free
from tests.support.evmutil import dev_accounts, transfer_hex
from tests.support.localnet import wait_for


def _rpc(url: str, payload: Any) -> Any:
    return httpx.post(url, json=payload, timeout=30).json()


def _call(url: str, method: str, *params: Any) -> Any:
    answer = _rpc(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": list(params)})
    assert "error" not in answer, answer
    return answer["result"]


def test_api_in_its_own_process_admits_answers_and_dies_with_its_node(localnet):
    net = localnet(validators=3, start=False)
    home = net.network.node_home(net.node("node0"))
    config = home / "consortium.toml"
    doc = tomlkit.parse(config.read_text())
    doc["api"]["process"] = "own"  # type: ignore[index]
    node0 = net.node("node0")
    metrics_port = next(p for p in range(node0.api_port + 1000, node0.api_port + 1100)
                        if port_free(p))
    doc["metrics"] = {"listen": f"127.0.0.1:{metrics_port}"}  # the node's own metrics
    config.write_text(tomlkit.dumps(doc))
    config1 = net.network.node_home(net.node("node1")) / "consortium.toml"
    doc1 = tomlkit.parse(config1.read_text())
    doc1["api"]["process"] = "node"  # type: ignore[index]
    config1.write_text(tomlkit.dumps(doc1))
    net.up()
    net.wait_height(2)
    own, other = net.node("node0").api_url, net.node("node1").api_url
    assert "in its own process" not in net.log("node1")

    # the node names its API's process, a child of its own
    node_pid = supervisor.node_pid(home)
    assert node_pid is not None
    found = wait_for(lambda: re.search(r"in its own process, pid (\d+)", net.log("node0")), 30,
                     "node0's log to name its API's process")
    api_pid = int(found.group(1))
    assert psutil.Process(api_pid).ppid() == node_pid
    assert "consortium.network.api_process" in " ".join(psutil.Process(api_pid).cmdline())

    # a batch of transfers: hashes answered, the pending nonce counts them, all commit
    accounts = list(dev_accounts(net).values())
    sender, receiver = accounts[0], accounts[1]
    before = int(_call(other, "eth_getBalance", receiver.address, "latest"), 16)
    batch = [{"jsonrpc": "2.0", "id": n, "method": "eth_sendRawTransaction",
              "params": [transfer_hex(sender, receiver.address, n, value=7)]} for n in range(5)]
    answers = sorted(_rpc(own, batch), key=lambda a: a["id"])
    hashes = [a.get("result") for a in answers]
    assert all(isinstance(h, str) and len(h) == 66 for h in hashes), answers
    assert int(_call(own, "eth_getTransactionCount", sender.address, "pending"), 16) == 5
    receipts = [wait_for(lambda h=h: _call(own, "eth_getTransactionReceipt", h), 60,
                         f"the receipt of {h} on node0") for h in hashes]
    assert [r["status"] for r in receipts] == ["0x1"] * 5
    wait_for(lambda: int(_call(other, "eth_getBalance", receiver.address, "latest"), 16)
             == before + 35, 60, "node1 to show the five transfers")
    assert int(_call(own, "eth_getBalance", receiver.address, "latest"), 16) == before + 35
    # the node's CheckTx took the senders its API's process recovered (one that arrived
    # after its CheckTx would have been recovered: the race is the API's to win, not sure)
    scraped = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=10).text
    given = re.search(r"^consortium_checktx_senders_given_total (\S+)$", scraped, re.M)
    assert given is not None and 1 <= float(given.group(1)) <= 5, scraped[-2000:]
    # the API's port serves the node's families too, its own calls counted by itself
    api_scrape = httpx.get(f"{own}/metrics", timeout=10).text
    found = {f.name: f for f in text_string_to_metric_families(api_scrape)}
    assert found["consortium_checktx_senders_given"].samples[0].value == float(given.group(1))
    assert found["consortium_height"].samples[0].value >= 2
    sends = [s.value for s in found["consortium_rpc_calls"].samples
             if s.labels == {"method": "eth_sendRawTransaction", "status": "ok"}]
    assert sends == [5.0], found["consortium_rpc_calls"].samples

    # a stale nonce: refused with CheckTx's reason, heard over the check socket
    refused = _rpc(own, {"jsonrpc": "2.0", "id": 9, "method": "eth_sendRawTransaction",
                         "params": [transfer_hex(sender, receiver.address, 0, value=7)]})
    assert "error" in refused and "nonce too low" in refused["error"]["message"], refused

    # the pending nonce counts the node's mempool, peers' transactions too: with node2 down
    # no block commits (2 of 3 votes are not more than two thirds); a transfer sent to node1
    # reaches node0's mempool, and node0's API asks its node
    net.down(["node2"])
    committed = int(_call(own, "eth_getTransactionCount", sender.address, "latest"), 16)
    assert committed == 5
    _call(other, "eth_sendRawTransaction", transfer_hex(sender, receiver.address, 5, value=7))
    wait_for(lambda: int(_call(own, "eth_getTransactionCount", sender.address, "pending"),
                         16) == 6, 30, "node0's API to count a transfer its node heard from node1")
    assert int(_call(own, "eth_getTransactionCount", sender.address, "latest"), 16) == 5
    net.up(["node2"])
    wait_for(lambda: int(_call(own, "eth_getTransactionCount", sender.address, "latest"), 16)
             == 6, 60, "the transfer sent to node1 to commit")

    # the node killed outright: its API's process gets SIGTERM and goes
    api = psutil.Process(api_pid)
    os.kill(node_pid, signal.SIGKILL)
    gone, _ = psutil.wait_procs([api], timeout=20)
    assert gone, "the API's process outlived its killed node"
