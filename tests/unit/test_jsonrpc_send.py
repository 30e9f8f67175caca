"""eth_sendRawTransaction: forwarded to the engine's broadcast_tx_sync, one HTTP POST per
JSON-RPC batch, answered with the Ethereum hash or the CheckTx reason."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from starlette.testclient import TestClient

from consortium.api.app import create_app
from tests.support.jsonrpc_testkit import Node, node
from tests.support.ledger_testkit import ALICE, BOB, CAROL, KEYS, sign

MALLORY = KEYS[3]


def h(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()


@pytest.fixture
def n(tmp_path: Path) -> Iterator[Node]:
    with node(tmp_path) as api:
        yield api


def test_send_returns_ethereum_hash_and_lands(n: Node) -> None:
    raw = sign(ALICE, nonce=0, to=BOB.address, value=9, gas=21_000)
    assert n.rpc("eth_sendRawTransaction", "0x" + raw.hex()) == h(raw)
    (post,) = n.engine.posts
    (req,) = post
    assert req["method"] == "broadcast_tx_sync"
    assert base64.b64decode(req["params"]["tx"]) == raw
    assert n.rpc("eth_getTransactionCount", ALICE.address, "pending") == "0x1"
    n.engine.commit_block()
    receipt = n.rpc("eth_getTransactionReceipt", h(raw))
    assert receipt["status"] == "0x1" and receipt["blockNumber"] == "0x1"


def test_batch_is_one_engine_post(n: Node) -> None:
    raws = [sign(ALICE, nonce=i, to=BOB.address, value=1, gas=21_000) for i in range(50)]
    calls = [("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws]
    calls.insert(10, ("eth_chainId", []))
    calls.insert(20, ("eth_sendRawTransaction", ["0xzz"]))
    out = n.batch(calls)
    assert len(n.engine.posts) == 1
    assert len(n.engine.posts[0]) == 50
    results = [a.get("result") for a in out]
    assert results[10] == hex(20251)
    assert out[20]["error"]["code"] == -32602 and "params[0]" in out[20]["error"]["message"]
    sent = [r for i, r in enumerate(results) if i not in (10, 20)]
    assert sent == [h(r) for r in raws]
    n.engine.commit_block()
    assert n.rpc("eth_getTransactionCount", ALICE.address) == hex(50)


def test_engine_batch_limits(n: Node) -> None:
    raws = ["0x" + sign(ALICE, nonce=i, to=BOB.address, gas=21_000).hex() for i in range(5)]
    n.engine.max_batch = 3
    out = n.batch([("eth_sendRawTransaction", [r]) for r in raws])
    assert all("batch request exceeds maximum (3)" in a["error"]["message"] for a in out)
    n.app.state.engine.max_batch = 3  # the API splits to the engine's limit
    out = n.batch([("eth_sendRawTransaction", [r]) for r in raws])
    assert [a.get("result") for a in out] == [h(bytes.fromhex(r[2:])) for r in raws]
    assert [len(p) for p in n.engine.posts] == [5, 3, 2]


def test_check_tx_refusals_become_errors(n: Node) -> None:
    stranger = sign(MALLORY, nonce=0, to=BOB.address, gas=21_000)
    err = n.rpc_error("eth_sendRawTransaction", "0x" + stranger.hex())
    assert err["code"] == -32003 and "not a consortium member" in err["message"]
    gap = sign(CAROL, nonce=5, to=BOB.address, gas=21_000)  # held, not refused
    assert n.rpc("eth_sendRawTransaction", "0x" + gap.hex()) == h(gap)
    assert n.rpc("consortium_getTransactionStatus", h(gap))["status"] == "queued"
    err = n.rpc_error("eth_sendRawTransaction", "0x" + b"\x02garbage".hex())
    assert err["code"] == -32602
    assert n.rpc_error("eth_sendRawTransaction", "0x")["code"] == -32602
    assert n.rpc_error("eth_sendRawTransaction", "0x123")["code"] == -32602
    assert n.rpc_error("eth_sendRawTransaction")["code"] == -32602
    assert len(n.engine.posts) == 2  # what does not decode never reached the engine


def test_resubmission_answers_already_known(n: Node) -> None:
    raw = sign(ALICE, nonce=0, to=BOB.address, gas=21_000)
    assert n.rpc("eth_sendRawTransaction", "0x" + raw.hex()) == h(raw)
    err = n.rpc_error("eth_sendRawTransaction", "0x" + raw.hex())
    assert err["code"] == -32000 and err["message"].startswith("already known")
    assert len(n.engine.mempool) == 1


def test_engine_down_is_a_clear_error(tmp_path: Path) -> None:
    from tests.support.ledger_testkit import new_ledger

    ledger = new_ledger(tmp_path)
    try:
        with TestClient(create_app(ledger, "http://127.0.0.1:9")) as client:
            raw = sign(ALICE, nonce=0, to=BOB.address, gas=21_000)
            out = client.post("/", json={"jsonrpc": "2.0", "id": 1,
                                         "method": "eth_sendRawTransaction",
                                         "params": ["0x" + raw.hex()]}).json()
            assert out["error"]["code"] == -32000
            assert "unreachable" in out["error"]["message"]
            assert client.post("/", json={"jsonrpc": "2.0", "id": 2,
                                          "method": "eth_chainId"}).json()["result"]
    finally:
        ledger.close()


def test_engine_client_maps_refusals() -> None:
    from consortium.api.engine_client import _outcome
    from consortium.errors import MempoolFull, NonceTooLow, TxTooLarge

    ok = _outcome({"id": 1, "result": {"code": 0, "log": "", "hash": "AB"}})
    assert ok.error is None
    low = _outcome({"id": 1, "result": {"code": 6, "log": "nonce 0 already used"}})
    assert isinstance(low.error, NonceTooLow) and low.error.message == "nonce 0 already used"
    full = _outcome({"id": 1, "error": {"code": -32603, "message": "Internal error",
                                        "data": "mempool is full: number of txs 5000"}})
    assert isinstance(full.error, MempoolFull) and full.error.rpc_code == -32005
    big = _outcome({"id": 1, "error": {"data": "Tx too large. Max size is 1, but got 2"}})
    assert isinstance(big.error, TxTooLarge)
    known = _outcome({"id": 1, "error": {"data": "tx already exists in cache"}})
    assert known.already_known and known.error is not None
    assert _outcome(None).error is not None


def test_concurrent_sends_share_posts_and_keep_order(n: Node) -> None:
    import asyncio

    from consortium.api.engine_client import EngineClient

    raws = [sign(ALICE, nonce=i, to=BOB.address, gas=21_000) for i in range(120)]

    async def scenario() -> list:
        client = EngineClient(n.engine.url, max_batch=50)
        try:
            # one at a time as separate callers, each a turn later than the previous one
            tasks = []
            for raw in raws:
                tasks.append(asyncio.create_task(client.broadcast([raw])))
                await asyncio.sleep(0)
            return [r for (r,) in await asyncio.gather(*tasks)]
        finally:
            await client.aclose()

    outcomes = asyncio.run(scenario())
    assert [o.error for o in outcomes] == [None] * 120  # nonces arrived in order
    assert len(n.engine.posts) < 20
    assert max(len(p) if isinstance(p, list) else 1 for p in n.engine.posts) <= 50
