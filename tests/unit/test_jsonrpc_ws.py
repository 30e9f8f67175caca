"""JSON-RPC over WebSocket: requests, eth_subscribe (newHeads, logs), garbage, clean-up."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak

from tests.support.jsonrpc_testkit import Node, node
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    CAROL,
    calldata,
    contract_address,
    run_block,
    sign,
)
from tests.support.ledger_testkit import token_deploy_data as deploy_data

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def n(tmp_path: Path) -> Iterator[Node]:
    with node(tmp_path) as api:
        yield api


def call(ws: Any, method: str, *params: Any, rid: int = 1) -> dict[str, Any]:
    ws.send_text(json.dumps({"jsonrpc": "2.0", "id": rid, "method": method,
                             "params": list(params)}))
    answer: dict[str, Any] = ws.receive_json()
    return answer


def test_requests_and_batches_over_websocket(n: Node) -> None:
    with n.client.websocket_connect("/") as ws:
        assert call(ws, "eth_chainId")["result"] == hex(20251)
        ws.send_text(json.dumps([{"jsonrpc": "2.0", "id": i, "method": "eth_blockNumber"}
                                 for i in range(3)]))
        assert [a["id"] for a in ws.receive_json()] == [0, 1, 2]
        ws.send_text("{not json")
        assert ws.receive_json()["error"]["code"] == -32700
        ws.send_text("[" * 200_000)
        deep = ws.receive_json()["error"]
        assert deep["code"] == -32700 and "deeper" in deep["message"]
        ws.send_bytes(b"\xff\xfe")
        assert ws.receive_json()["error"]["code"] == -32700
        ws.send_text("[]")
        assert ws.receive_json()["error"]["code"] == -32600
        assert call(ws, "nope")["error"]["code"] == -32601
        bad = call(ws, "eth_subscribe", "syncing")
        assert bad["error"]["code"] == -32602 and "newHeads" in bad["error"]["message"]
        assert call(ws, "eth_getBalance", BOB.address)["result"] == hex(10**20)


def test_new_heads(n: Node) -> None:
    with n.client.websocket_connect("/") as ws:
        sub = call(ws, "eth_subscribe", "newHeads")["result"]
        run_block(n.ledger, [sign(ALICE, nonce=0, to=BOB.address, gas=21_000)])
        note = ws.receive_json()
        assert note["method"] == "eth_subscription"
        assert note["params"]["subscription"] == sub
        head = note["params"]["result"]
        assert head["number"] == "0x1" and head["baseFeePerGas"] == "0x0"
        assert "transactions" not in head
        assert head["hash"] == n.rpc("eth_getBlockByNumber", "0x1", False)["hash"]
        run_block(n.ledger, [])
        run_block(n.ledger, [])
        numbers = [ws.receive_json()["params"]["result"]["number"] for _ in range(2)]
        assert numbers == ["0x2", "0x3"]
        assert call(ws, "eth_unsubscribe", sub, rid=9) == {"jsonrpc": "2.0", "id": 9,
                                                            "result": True}
        assert call(ws, "eth_unsubscribe", sub, rid=10)["result"] is False


def test_log_subscription_filters(n: Node) -> None:
    run_block(n.ledger, [sign(ALICE, nonce=0, data=deploy_data(1000), gas=2_000_000)])
    token = contract_address(ALICE.address.lower(), 0)
    to_carol = "0x" + "00" * 12 + CAROL.address.lower()[2:]
    transfer = "0x" + keccak(b"Transfer(address,address,uint256)").hex()
    with n.client.websocket_connect("/") as ws:
        everything = call(ws, "eth_subscribe", "logs", rid=1)["result"]
        carol = call(ws, "eth_subscribe", "logs",
                     {"address": token, "topics": [transfer, None, to_carol]}, rid=2)["result"]
        elsewhere = call(ws, "eth_subscribe", "logs", {"address": "0x" + "11" * 20},
                         rid=3)["result"]
        bad = call(ws, "eth_subscribe", "logs", {"fromBlock": "0x1"}, rid=4)
        assert bad["error"]["code"] == -32602
        txs = [
            sign(ALICE, nonce=1, to=token, gas=200_000, data=calldata(
                "transfer(address,uint256)", ["address", "uint256"], [BOB.address, 1])),
            sign(ALICE, nonce=2, to=token, gas=200_000, data=calldata(
                "transfer(address,uint256)", ["address", "uint256"], [CAROL.address, 2])),
        ]
        run_block(n.ledger, txs)
        notes = [ws.receive_json()["params"] for _ in range(3)]
        got = {(p["subscription"], p["result"]["transactionHash"]) for p in notes}
        hashes = ["0x" + keccak(t).hex() for t in txs]
        assert got == {(everything, hashes[0]), (everything, hashes[1]), (carol, hashes[1])}
        assert elsewhere not in {p["subscription"] for p in notes}
        log = next(p["result"] for p in notes if p["subscription"] == carol)
        assert log["address"] == token and log["blockNumber"] == "0x2"
        assert log["removed"] is False


def test_disconnect_cleans_up(n: Node) -> None:
    hub = n.app.state.hub
    with n.client.websocket_connect("/") as ws:
        call(ws, "eth_subscribe", "newHeads")
        assert len(hub.connections) == 1
    with n.client.websocket_connect("/") as ws:
        assert call(ws, "eth_chainId")["result"]
    assert hub.connections == set()


def test_slow_consumer_is_disconnected(n: Node) -> None:
    from starlette.websockets import WebSocketDisconnect

    from consortium.api.subscriptions import Connection

    conn = Connection(max_backlog=2)
    for i in range(5):
        conn.notify(f"n{i}")
    assert conn.overflowed and conn.queue.qsize() == 3  # two notes and the close marker
    with n.client.websocket_connect("/") as ws:
        call(ws, "eth_subscribe", "newHeads")
        (conn,) = n.app.state.hub.connections
        conn.max_backlog = 0
        run_block(n.ledger, [])
        with pytest.raises(WebSocketDisconnect) as info:
            ws.receive_json()
        assert info.value.code == 1008
