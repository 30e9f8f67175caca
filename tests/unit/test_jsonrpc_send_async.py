"""eth_sendRawTransaction as a node forwards it: `broadcast_tx_async`, with each CheckTx
answer coming back through the CheckTxWatch the node's ABCI app tells."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_hash.auto import keccak

from tests.support.jsonrpc_testkit import Node, node
from tests.support.ledger_testkit import ALICE, BOB, CAROL, KEYS, sign

MALLORY = KEYS[3]


def h(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()


@pytest.fixture
def n(tmp_path: Path) -> Iterator[Node]:
    with node(tmp_path, async_checks=True) as api:
        yield api


def waiting(n: Node) -> int:
    return len(n.app.state.engine.checks)


def test_async_send_lands_with_its_check_answer(n: Node) -> None:
    raw = sign(ALICE, nonce=0, to=BOB.address, value=9, gas=21_000)
    assert n.rpc("eth_sendRawTransaction", "0x" + raw.hex()) == h(raw)
    ((req,),) = n.engine.posts
    assert req["method"] == "broadcast_tx_async"
    assert base64.b64decode(req["params"]["tx"]) == raw
    assert n.rpc("eth_getTransactionCount", ALICE.address, "pending") == "0x1"
    n.engine.commit_block()
    assert n.rpc("eth_getTransactionReceipt", h(raw))["status"] == "0x1"
    assert waiting(n) == 0


def test_async_batch_answers_each_check_in_order(n: Node) -> None:
    good = [sign(ALICE, nonce=i, to=BOB.address, gas=21_000) for i in range(30)]
    gap = sign(CAROL, nonce=5, to=BOB.address, gas=21_000)
    stranger = sign(MALLORY, nonce=0, to=BOB.address, gas=21_000)
    raws = good[:10] + [gap] + good[10:20] + [stranger] + good[20:]
    out = n.batch([("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws])
    assert len(n.engine.posts) == 1
    assert out[10]["result"] == h(gap)  # held until CAROL's nonces 0-4 arrive
    assert out[21]["error"]["code"] == -32003
    assert "not a consortium member" in out[21]["error"]["message"]
    sent = [a.get("result") for i, a in enumerate(out) if i not in (10, 21)]
    assert sent == [h(r) for r in good]  # the nonce rule held: arrived in order
    assert waiting(n) == 0
    n.engine.commit_block()
    assert n.rpc("eth_getTransactionCount", ALICE.address) == hex(30)


def test_async_resubmission_answers_already_known(n: Node) -> None:
    raw = sign(ALICE, nonce=0, to=BOB.address, gas=21_000)
    assert n.rpc("eth_sendRawTransaction", "0x" + raw.hex()) == h(raw)
    assert n.rpc_error("eth_sendRawTransaction", "0x" + raw.hex())["message"].startswith(
        "already known")
    assert len(n.engine.mempool) == 1
    assert waiting(n) == 0


def test_missing_check_answer_times_out_with_a_clear_error(n: Node) -> None:
    n.engine.silent = True
    n.app.state.engine.timeout = 0.3
    raw = sign(ALICE, nonce=0, to=BOB.address, gas=21_000)
    err = n.rpc_error("eth_sendRawTransaction", "0x" + raw.hex())
    assert "no CheckTx answer" in err["message"]
    assert waiting(n) == 0  # the expired wait is forgotten, not leaked


def test_engine_refusal_before_check_is_reported(n: Node) -> None:
    n.engine.max_batch = 2
    raws = [sign(ALICE, nonce=i, to=BOB.address, gas=21_000) for i in range(3)]
    out = n.batch([("eth_sendRawTransaction", ["0x" + r.hex()]) for r in raws])
    assert all("batch request exceeds maximum (2)" in a["error"]["message"] for a in out)
    assert waiting(n) == 0
