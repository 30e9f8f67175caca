"""Issue 20's explorer backend on a real 3-validator network: every node keeps the address
index in its own commits (the same entries everywhere), decodes the same transaction, keeps
its ABI registry to itself (node0's API runs in a process of its own, the default, which
hands the ABIs registered there to its node to store; node2's in its node's process), and
exports CSV."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import tomlkit

from tests.support.evmutil import compiled, deploy, dev_accounts, receipt, send, web3_for


def _rpc(url: str, method: str, *params: Any) -> Any:
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                   "params": list(params)}, timeout=30)
    body = answer.json()
    assert "error" not in body, body
    return body["result"]


def test_explorer_reads_on_every_node(localnet: Any) -> None:
    net = localnet(validators=3, start=False)
    config = net.network.node_home(net.node("node2")) / "consortium.toml"
    doc = tomlkit.parse(config.read_text())
    doc["api"]["process"] = "node"  # type: ignore[index]
    config.write_text(tomlkit.dumps(doc))
    net.up()
    net.wait_height(2)
    accounts = dev_accounts(net)
    alice = accounts["Bank A"]
    bob = next(a for name, a in accounts.items() if name != "Bank A")
    w = web3_for(net, "node0")
    token = compiled("Token.vy")
    token_address = deploy(w, alice, token, "Explorer Coin", "EXC", 10**6)
    contract = w.eth.contract(address=token_address, abi=token.abi)
    sent = receipt(w, send(w, alice, {
        "to": token_address, "data": contract.encode_abi("transfer", args=[bob.address, 5])}))
    tx_hash = "0x" + bytes(sent["transactionHash"]).hex()
    net.wait_height(sent["blockNumber"] + 1)

    urls = [net.node(f"node{i}").api_url for i in range(3)]
    pages = [_rpc(u, "consortium_getAddressTransactions", bob.address) for u in urls]
    assert pages[0] == pages[1] == pages[2]  # each node indexed its own commits alike
    (listed,) = pages[0]["transactions"]  # bob only appears in the Transfer event
    assert listed["hash"] == tx_hash and listed["roles"] == ["event"]
    mine = _rpc(urls[1], "consortium_getAddressTransactions", alice.address, {"limit": 1})
    assert mine["transactions"][0]["hash"] == tx_hash and mine["next"]

    decoded = _rpc(urls[2], "consortium_decodeTransaction", tx_hash)
    assert decoded["status"] == "success"
    assert decoded["call"]["method"] == "transfer"
    assert decoded["call"]["args"][1]["value"] == "5"
    assert decoded["events"][0]["name"] == "Transfer"
    assert decoded["events"][0]["standard"] == "ERC-20"

    # the registry is node-local: registered on node0, unknown to node1
    done = _rpc(urls[0], "consortium_registerAbi", token_address, token.abi, "Explorer Coin")
    assert done["functions"] >= 1
    assert _rpc(urls[1], "consortium_getAbi", token_address) is None
    named = _rpc(urls[0], "consortium_decodeTransaction", tx_hash)
    assert named["call"]["contract"] == "Explorer Coin"
    refused = httpx.post(urls[0], json={"jsonrpc": "2.0", "id": 1,
                                        "method": "consortium_registerAbi",
                                        "params": [bob.address, token.abi]}).json()
    assert "no contract is deployed" in refused["error"]["message"]
    # node2's API, in its node's process, stores it itself
    assert _rpc(urls[2], "consortium_getAbi", token_address) is None
    done = _rpc(urls[2], "consortium_registerAbi", token_address, token.abi, "Coin on 2")
    assert done["functions"] >= 1
    kept = _rpc(urls[2], "consortium_getAbi", token_address)
    assert kept["source"] == "registered" and kept["name"] == "Coin on 2"
    assert _rpc(urls[2], "consortium_decodeTransaction", tx_hash)["call"]["contract"] == \
        "Coin on 2"
    assert _rpc(urls[1], "consortium_getAbi", token_address) is None

    exported = httpx.get(f"{urls[1]}/api/v1/explorer/export.csv", params={
        "kind": "events", "address": token_address, "fromBlock": 1,
        "toBlock": sent["blockNumber"]}, timeout=30)
    assert exported.status_code == 200
    rows = list(csv.reader(io.StringIO(exported.text)))
    assert rows[0][:3] == ["blockNumber", "timestamp", "transactionHash"]
    assert rows[-1][2] == tx_hash and rows[-1][5] == "Transfer"
    assert f"to={bob.address.lower()}" in rows[-1][6]
