"""web3.py, unchanged, against one node's API served by uvicorn (HTTP and WebSocket), with a
real Ledger and a stub engine: the points where web3.py trips on a chain that differs from
Ethereum's."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from web3 import AsyncWeb3, Web3
from web3.exceptions import ContractLogicError

from consortium.api.app import create_app
from tests.support.jsonrpc_testkit import StubEngine
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    TOKEN_SOURCE,
    compile_vyper,
    new_ledger,
    run_block,
)

pytestmark = pytest.mark.timeout(120)


class Served:
    def __init__(self, path: Path) -> None:
        self.ledger = new_ledger(path)
        self.engine = StubEngine(self.ledger)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        config = uvicorn.Config(create_app(self.ledger, self.engine.url), host="127.0.0.1",
                                port=port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.02)
        self.http = f"http://127.0.0.1:{port}/"
        self.ws = f"ws://127.0.0.1:{port}/"

    def mine(self) -> None:
        self.engine.commit_block()

    def close(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.engine.close()
        self.ledger.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    s = Served(tmp_path)
    yield s
    s.close()


def sign_and_send(w3: Web3, tx: dict[str, Any]) -> bytes:
    tx = {"chainId": w3.eth.chain_id, "nonce": w3.eth.get_transaction_count(ALICE.address,
                                                                              "pending"),
          "gas": 2_000_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0, **tx}
    return w3.eth.send_raw_transaction(ALICE.sign_transaction(tx).raw_transaction)


def test_web3_http(served: Served) -> None:
    w3 = Web3(Web3.HTTPProvider(served.http))
    assert w3.is_connected()
    assert w3.eth.chain_id == 20251 and w3.net.version == "20251"
    assert w3.eth.get_block("latest")["baseFeePerGas"] == 0
    assert w3.eth.gas_price == 0 and w3.eth.max_priority_fee == 0
    bytecode, abi = compile_vyper(TOKEN_SOURCE)
    factory = w3.eth.contract(abi=abi, bytecode=bytecode)
    deploy = factory.constructor(500).build_transaction({"from": ALICE.address, "nonce": 0})
    deploy_hash = sign_and_send(w3, {"data": deploy["data"]})
    served.mine()
    receipt = w3.eth.wait_for_transaction_receipt(deploy_hash, timeout=10)
    assert receipt["status"] == 1
    token = w3.eth.contract(address=receipt["contractAddress"], abi=abi)
    assert token.functions.totalSupply().call() == 500

    log_filter = w3.eth.filter({"address": token.address})
    block_filter = w3.eth.filter("latest")
    # web3 fills EIP-1559 fees and gas itself (eth_maxPriorityFeePerGas, baseFeePerGas,
    # eth_estimateGas)
    tx = token.functions.transfer(BOB.address, 7).build_transaction(
        {"from": ALICE.address, "nonce": w3.eth.get_transaction_count(ALICE.address)})
    assert tx["maxFeePerGas"] == 0 and tx["gas"] > 21_000
    sent = w3.eth.send_raw_transaction(ALICE.sign_transaction(tx).raw_transaction)
    served.mine()
    assert w3.eth.wait_for_transaction_receipt(sent, timeout=10)["status"] == 1
    assert token.functions.balanceOf(BOB.address).call() == 7
    assert token.functions.balanceOf(BOB.address).call(block_identifier=1) == 0
    (change,) = log_filter.get_new_entries()
    assert change["transactionHash"] == sent
    assert len(block_filter.get_new_entries()) == 1
    (event,) = token.events.Transfer().get_logs(from_block=2)
    assert event["args"]["value"] == 7 and event["args"]["receiver"] == BOB.address

    with pytest.raises(ContractLogicError, match="insufficient balance"):
        token.functions.transfer(ALICE.address, 10**6).call({"from": BOB.address})
    with pytest.raises(ContractLogicError, match="insufficient balance"):
        token.functions.transfer(ALICE.address, 10**6).estimate_gas({"from": BOB.address})

    # a JSON-RPC batch of sends rides one HTTP request and one engine POST
    posts = len(served.engine.posts)
    nonce = w3.eth.get_transaction_count(ALICE.address, "pending")
    raws = [ALICE.sign_transaction({"chainId": 20251, "nonce": nonce + i, "to": BOB.address,
                                    "value": 1, "gas": 21_000, "maxFeePerGas": 0,
                                    "maxPriorityFeePerGas": 0}).raw_transaction
            for i in range(20)]
    answers = w3.provider.make_batch_request(  # web3 refuses sends in batch_requests()
        [("eth_sendRawTransaction", ["0x" + bytes(r).hex()]) for r in raws])
    assert [a["result"] for a in answers] == [Web3.keccak(r).to_0x_hex() for r in raws]
    assert len(served.engine.posts) == posts + 1


def test_web3_websocket_subscriptions(served: Served) -> None:
    async def scenario() -> list[Any]:
        async with AsyncWeb3(AsyncWeb3.WebSocketProvider(served.ws)) as w3:
            assert await w3.eth.chain_id == 20251
            await w3.eth.subscribe("newHeads")
            heads = []

            async def mine_later() -> None:
                for _ in range(2):
                    await asyncio.sleep(0.3)
                    await asyncio.to_thread(run_block, served.ledger, [])

            miner = asyncio.create_task(mine_later())
            async for message in w3.socket.process_subscriptions():
                heads.append(message["result"])
                if len(heads) == 2:
                    break
            await miner
            return heads

    heads = asyncio.run(asyncio.wait_for(scenario(), 30))
    assert [h["number"] for h in heads] == [1, 2]
    assert all(h["baseFeePerGas"] == 0 for h in heads)


def test_the_sdk_takes_its_own_transaction_already_known_as_sent(served: Served) -> None:
    """web3 sends a raw transaction again after a connection error; when the first try had
    reached the node, the node answers "already known" with that very hash. The SDK's send
    answers the hash then (the node holds the transaction), and still refuses another
    transaction the node refuses."""
    from consortium.errors import TxError
    from consortium.sdk.client import ConsortiumClient

    client = ConsortiumClient(served.http)
    tx = {"to": "0x" + "22" * 20, "value": 1, "gas": 21_000, "nonce": 0}
    first = client.send(ALICE, dict(tx), wait=False)["transactionHash"]
    again = client.send(ALICE, dict(tx), wait=False)["transactionHash"]  # the same signature
    assert bytes(again) == bytes(first)
    with pytest.raises(TxError, match="already known|nonce"):
        client.send(ALICE, dict(tx, value=2), wait=False)  # another transaction, nonce 0
    served.mine()
    assert client.wait_receipt(first, 10)["status"] == 1
