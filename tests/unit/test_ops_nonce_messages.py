"""A public transaction held at a nonce gap says which nonce it waits for (as a private one
does: "held until nonce 3 arrives"), and once dropped its receipt's error says "dropped" once
and names that missing nonce, not the transaction's own as if it were the missing one."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_hash.auto import keccak

from consortium.api.local_txs import LocalTransactions
from tests.support.jsonrpc_testkit import Node, node
from tests.support.ledger_testkit import ALICE, BOB, sign


@pytest.fixture
def n(tmp_path: Path) -> Iterator[Node]:
    with node(tmp_path) as api:
        yield api


def h(raw: bytes) -> str:
    return "0x" + keccak(raw).hex()


def send(n: Node, raw: bytes) -> Any:
    return n.rpc("eth_sendRawTransaction", "0x" + raw.hex())


def wait_for(what: Any, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_held_transaction_names_the_nonce_it_waits_for(n: Node) -> None:
    local: LocalTransactions = n.app.state.local_txs
    now = [time.time()]
    local.clock = lambda: now[0]
    alice = ALICE.address.lower()
    gapped = sign(ALICE, nonce=3, to=BOB.address, gas=21_000)
    assert send(n, gapped) == h(gapped)
    status = n.rpc("consortium_getTransactionStatus", h(gapped))
    assert status == {"status": "queued", "blockNumber": None,
                      "reason": f"held until nonce 0 of {alice} arrives (its own nonce is 3)"}
    # nonces 0 and 2 arrive: 0 goes to the mempool, 2 is held too; 1 is now the missing one
    first, third = (sign(ALICE, nonce=i, to=BOB.address, gas=21_000) for i in (0, 2))
    send(n, first)
    send(n, third)
    wait_for(lambda: len(n.engine.mempool) == 1)
    for raw, own in ((gapped, 3), (third, 2)):
        reason = n.rpc("consortium_getTransactionStatus", h(raw))["reason"]
        assert reason == f"held until nonce 1 of {alice} arrives (its own nonce is {own})"

    now[0] += local.queue.hold_seconds + 1
    n.client.portal.call(local.on_block)
    status = n.rpc("consortium_getTransactionStatus", h(gapped))
    expected = (f"held 600 s until nonce 1 of {alice} arrives, and it did not (its own nonce "
                "is 3)")
    assert status == {"status": "rejected", "blockNumber": None, "reason": expected}
    err = n.rpc_error("eth_getTransactionReceipt", h(gapped))
    assert err["code"] == -32000
    assert err["message"] == f"transaction {h(gapped)} was dropped: {expected}"
    assert err["message"].count("dropped") == 1
