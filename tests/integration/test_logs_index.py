"""Issue 4, must show 5: eth_getLogs over 10,000 blocks answers from the log index."""

from __future__ import annotations

import time

from web3 import Web3

from tests.support.evmutil import compiled, deploy, dev_accounts, receipt, send, web3_for

SPAN = 10_000


def test_get_logs_over_ten_thousand_blocks(localnet):
    net = localnet(validators=1, timeout_commit="1ms")
    net.wait_height(2)
    accts = dev_accounts(net)
    a, b = accts["Bank A"], accts["Bank A"].address
    w = web3_for(net, "node0")
    token_abi = compiled("Token.vy").abi
    token_addr = deploy(w, a, compiled("Token.vy"), "Log Coin", "LC", 10**6)
    token = w.eth.contract(address=token_addr, abi=token_abi)
    first = receipt(
        w, send(w, a, {"to": token_addr, "data": token.encode_abi("transfer", args=[b, 5])})
    )
    net.wait_height(first["blockNumber"] + SPAN, timeout=300)
    last = receipt(
        w, send(w, a, {"to": token_addr, "data": token.encode_abi("transfer", args=[b, 7])})
    )
    assert last["blockNumber"] - first["blockNumber"] >= SPAN

    transfer_topic = Web3.keccak(text="Transfer(address,address,uint256)")
    started = time.perf_counter()
    logs = w.eth.get_logs(
        {"fromBlock": 0, "toBlock": "latest", "address": token_addr, "topics": [transfer_topic]}
    )
    elapsed = time.perf_counter() - started
    print(f"eth_getLogs over {last['blockNumber']} blocks: {len(logs)} logs in {elapsed:.3f}s")
    assert [int(log["data"].hex(), 16) for log in logs] == [10**6, 5, 7]
    assert [log["blockNumber"] for log in logs][1:] == [first["blockNumber"], last["blockNumber"]]
    # A topic-only query (no address) over the whole chain, and an empty middle range.
    by_topic = w.eth.get_logs({"fromBlock": 0, "toBlock": "latest", "topics": [transfer_topic]})
    assert len(by_topic) == 3
    middle = w.eth.get_logs(
        {
            "fromBlock": first["blockNumber"] + 1,
            "toBlock": last["blockNumber"] - 1,
            "address": token_addr,
        }
    )
    assert middle == []
