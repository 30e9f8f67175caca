"""Issue 4, must show 4: a validator SIGKILLed during a load of 1,000 transactions restarts;
every node then has the same state root, and every receipt seen before the kill is kept."""

from __future__ import annotations

import threading

import httpx

from tests.support.evmutil import dev_accounts
from tests.support.localnet import wait_for

TOTAL = 1000
BATCH = 50


def _batch(url: str, raws: list[bytes]) -> list[dict]:
    body = [
        {
            "jsonrpc": "2.0",
            "id": i,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + raw.hex()],
        }
        for i, raw in enumerate(raws)
    ]
    return httpx.post(url, json=body, timeout=60).json()


def _receipts(url: str, hashes: list[str]) -> dict[str, dict]:
    found = {}
    for i in range(0, len(hashes), 200):
        body = [
            {"jsonrpc": "2.0", "id": j, "method": "eth_getTransactionReceipt", "params": [h]}
            for j, h in enumerate(hashes[i : i + 200])
        ]
        for item in httpx.post(url, json=body, timeout=60).json():
            if item.get("result"):
                found[item["result"]["transactionHash"]] = item["result"]
    return found


def test_validator_killed_during_load(localnet):
    net = localnet(validators=4)
    net.wait_height(2)
    accts = dev_accounts(net)
    senders = ["Bank A", "Bank B", "Bank C"]
    targets = {name: net.node(f"node{i}").api_url for i, name in enumerate(senders)}
    signed: dict[str, list[bytes]] = {}
    for name in senders:
        acct = accts[name]
        signed[name] = [
            acct.sign_transaction(
                {
                    "to": accts["Bank D"].address,
                    "value": 1,
                    "gas": 21000,
                    "maxFeePerGas": 0,
                    "maxPriorityFeePerGas": 0,
                    "nonce": n,
                    "chainId": 20251,
                }
            ).raw_transaction
            for n in range(TOTAL // len(senders) + (1 if name == "Bank A" else 0))
        ]
    hashes: list[str] = []
    errors: list[object] = []

    def submit(name: str) -> None:
        raws = signed[name]
        for i in range(0, len(raws), BATCH):
            for item in _batch(targets[name], raws[i : i + BATCH]):
                if "error" in item:
                    errors.append(item["error"])
                else:
                    hashes.append(item["result"])

    threads = [threading.Thread(target=submit, args=(n,)) for n in senders]
    for t in threads:
        t.start()
    url0 = net.node("node0").api_url
    # Kill node3 once a good part of the load has committed.
    seen = wait_for(
        lambda: (r := _receipts(url0, list(hashes))) and len(r) >= 250 and r, 120, "250 receipts"
    )
    net.kill("node3")
    before_kill = _receipts(url0, list(hashes))
    assert len(before_kill) >= len(seen)
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors[:3]
    assert len(hashes) == TOTAL

    wait_for(lambda: len(_receipts(url0, hashes)) == TOTAL, 180, "all 1,000 receipts")
    net.up(["node3"])
    top = max(net.height(n) for n in ("node0", "node1", "node2"))
    net.wait_height(top + 2, timeout=120)
    assert len({net.app_hash_at(n.name, top) for n in net.network.nodes}) == 1
    for node in net.network.nodes:
        got = _receipts(node.api_url, list(before_kill))
        assert len(got) == len(before_kill), f"{node.name} lost receipts"
        for h, r in before_kill.items():
            assert got[h]["blockHash"] == r["blockHash"] and got[h]["status"] == "0x1"
