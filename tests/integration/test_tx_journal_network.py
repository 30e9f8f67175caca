"""Issue 17, "accepted means committed or told" and "future nonces", on a real 4-validator
network: a node SIGKILLed right after it accepted a batch resubmits it from its journal
after the restart, and transactions sent out of nonce order (one by one, or all at once as
viem's nonce manager does) all commit."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.support.evmutil import dev_accounts
from tests.support.localnet import wait_for

CHAIN_ID = 20251


def _rpc(url: str, method: str, *params: Any) -> Any:
    answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method,
                                   "params": list(params)}, timeout=30).json()
    assert "error" not in answer, answer
    return answer["result"]


def _send_batch(url: str, raws: list[bytes]) -> list[dict[str, Any]]:
    body = [{"jsonrpc": "2.0", "id": i, "method": "eth_sendRawTransaction",
             "params": ["0x" + raw.hex()]} for i, raw in enumerate(raws)]
    answers: list[dict[str, Any]] = httpx.post(url, json=body, timeout=60).json()
    return sorted(answers, key=lambda a: a["id"])


def _receipts(url: str, hashes: list[str]) -> dict[str, dict[str, Any]]:
    body = [{"jsonrpc": "2.0", "id": i, "method": "eth_getTransactionReceipt", "params": [h]}
            for i, h in enumerate(hashes)]
    return {item["result"]["transactionHash"]: item["result"]
            for item in httpx.post(url, json=body, timeout=60).json() if item.get("result")}


def _signed(acct: Any, to: str, nonces: list[int]) -> list[bytes]:
    return [bytes(acct.sign_transaction({
        "to": to, "value": 1, "gas": 21_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0,
        "nonce": n, "chainId": CHAIN_ID}).raw_transaction) for n in nonces]


def _next_nonce(url: str, address: str) -> int:
    return int(_rpc(url, "eth_getTransactionCount", address, "pending"), 16)


def test_accepted_batch_survives_kill_and_out_of_order_nonces_commit(localnet):
    net = localnet(validators=4)
    net.wait_height(2)
    accts = dev_accounts(net)
    to = accts["Bank D"].address
    url0 = net.node("node0").api_url

    # node0 alone: what it accepts cannot reach a peer's mempool or a block before the kill
    net.down(["node1", "node2", "node3"])
    a, b = accts["Bank A"], accts["Bank B"]
    a_raws = _signed(a, to, list(range(_next_nonce(url0, a.address),
                                      _next_nonce(url0, a.address) + 20)))
    b_start = _next_nonce(url0, b.address)
    b_raws = _signed(b, to, list(range(b_start + 4, b_start - 1, -1)))  # reverse order
    answers = _send_batch(url0, a_raws + b_raws)
    assert all("result" in x for x in answers), [x for x in answers if "error" in x][:3]
    accepted = [x["result"] for x in answers]
    net.kill("node0")

    net.up()
    wait_for(lambda: len(_receipts(url0, accepted)) == len(accepted), 180,
             f"receipts for all {len(accepted)} transactions node0 accepted before its kill")
    assert all(r["status"] == "0x1" for r in _receipts(url0, accepted).values())
    assert "transaction journal: 25 entries; 25 resubmitted" in net.log("node0")
    for tx_hash in accepted[:3]:
        status = _rpc(url0, "consortium_getTransactionStatus", tx_hash)
        assert status["status"] == "committed" and status["blockNumber"] is not None
    err = httpx.post(url0, json={"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                                 "params": ["0x" + a_raws[0].hex()]}, timeout=30).json()
    assert err["error"]["code"] == -32000 and "nonce too low" in err["error"]["message"]

    # five writes in reverse nonce order, one request each, to one node
    c = accts["Bank C"]
    url1 = net.node("node1").api_url
    start = _next_nonce(url1, c.address)
    reverse = _signed(c, to, [start + i for i in range(4, -1, -1)])
    sent = [_rpc(url1, "eth_sendRawTransaction", "0x" + raw.hex()) for raw in reverse]
    wait_for(lambda: len(_receipts(url1, sent)) == 5, 120, "the five reverse-order writes")

    # viem-like: nonces n+4..n at once, on parallel connections
    start = _next_nonce(url1, to)
    d_raws = _signed(accts["Bank D"], c.address, [start + i for i in range(4, -1, -1)])
    hashes: list[str] = []
    errors: list[Any] = []

    def one(raw: bytes) -> None:
        answer = httpx.post(url1, json={"jsonrpc": "2.0", "id": 1,
                                        "method": "eth_sendRawTransaction",
                                        "params": ["0x" + raw.hex()]}, timeout=30).json()
        (hashes if "result" in answer else errors).append(answer.get("result", answer))

    threads = [threading.Thread(target=one, args=(raw,)) for raw in d_raws]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    wait_for(lambda: len(_receipts(url1, hashes)) == 5, 120, "the five concurrent writes")
