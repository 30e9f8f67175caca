"""Throughput sanity: 1,000 value transfers and 1,000 token transfers in one block each.
Prints the rate; asserts only correctness (timing depends on the machine)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from eth_account import Account

from consortium.ledger.ledger import Ledger
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    app_state,
    calldata,
    contract_address,
    ctx,
    run_block,
    sign,
    token_deploy_data,
)

N = 1_000


def _members(n: int) -> list:
    return [Account.from_key((1000 + i).to_bytes(32, "big")) for i in range(n)]


@pytest.mark.slow
def test_thousand_transfers_in_one_block(tmp_path: Path) -> None:
    senders = _members(50)
    doc = app_state().to_json()
    doc["members"][0]["accounts"] += [a.address.lower() for a in senders]
    for a in senders:
        doc["alloc"][a.address.lower()] = {"balance": hex(10**21)}
    from consortium.ledger.genesis import AppState

    ledger = Ledger(tmp_path)
    ledger.init_chain(AppState.from_json(doc), 1)
    txs = [sign(senders[i % 50], nonce=i // 50, to=BOB.address, value=1, gas=21_000)
           for i in range(N)]

    t0 = time.perf_counter()
    for raw in txs:
        assert ledger.check_tx(raw).code == 0
    t1 = time.perf_counter()
    out = ledger.finalize_block(ctx(1), txs)
    t2 = time.perf_counter()
    ledger.commit()
    t3 = time.perf_counter()
    assert all(r.code == 0 for r in out.tx_results)
    print(f"\n{N} value transfers: check_tx {N / (t1 - t0):,.0f}/s, "
          f"finalize {N / (t2 - t1):,.0f}/s, commit {1000 * (t3 - t2):.0f} ms, "
          f"finalize+commit {N / (t3 - t1):,.0f} tx/s")

    # the same work without CheckTx first (cold sender cache: recovery at execution)
    txs2 = [sign(senders[i % 50], nonce=N // 50 + i // 50, to=BOB.address, value=1,
                 gas=21_000) for i in range(N)]
    t4 = time.perf_counter()
    out = ledger.finalize_block(ctx(2), txs2)
    ledger.commit()
    t5 = time.perf_counter()
    assert all(r.code == 0 for r in out.tx_results)
    print(f"{N} value transfers, cold cache: {N / (t5 - t4):,.0f} tx/s")

    run_block(ledger, [sign(ALICE, nonce=0, data=token_deploy_data(10**9), gas=2_000_000)])
    token = contract_address(ALICE.address.lower(), 0)
    data = calldata("transfer(address,uint256)", ["address", "uint256"], [BOB.address, 1])
    txs3 = [sign(ALICE, nonce=1 + i, to=token, data=data, gas=100_000) for i in range(N)]
    for raw in txs3:
        ledger.check_tx(raw)
    t6 = time.perf_counter()
    out = ledger.finalize_block(ctx(4), txs3)
    ledger.commit()
    t7 = time.perf_counter()
    assert all(r.code == 0 for r in out.tx_results)
    print(f"{N} token transfers: {N / (t7 - t6):,.0f} tx/s (finalize+commit)")
    ledger.close()
