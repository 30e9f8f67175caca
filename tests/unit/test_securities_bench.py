"""The securities bench workload on a real Ledger: its setup commits, and its pre-signed
orders all execute, match pairwise and settle T+0 within their gas."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consortium.apps.securities.bench import (
    ISIN,
    MIX_CYCLE,
    ORDER_GAS,
    SecuritiesMix,
    SecuritiesOrders,
    genesis_roles,
    mix_plan,
    signed_order_txs,
)
from consortium.bench.execution import engine_execution, execution_ceiling
from consortium.bench.workloads import BenchAccount, make_workload, presign
from consortium.evm.revm_engine import available
from consortium.ledger.executor import decode_revert_reason
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.network.init import NEW_CHAIN_NATIVE_VERSIONS
from tests.support.ledger_testkit import CHAIN_ID, GAS_LIMIT, run_block
from tests.support.securities_testkit import Chain

ACCOUNTS = [BenchAccount.from_key(bytes([0x70 + i]) * 32) for i in range(4)]
NAMES = [f"Bench {i}" for i in range(len(ACCOUNTS))]


def app_state() -> dict[str, Any]:
    """The bench members, funded, with the roles the securities workloads need."""
    roles = genesis_roles(NAMES)
    return {
        "eth_chain_id": CHAIN_ID,
        "block_gas_limit": GAS_LIMIT,
        # as `init_network` writes them: the workloads' gas limits assume them
        "native_gas": 2,
        "native_versions": NEW_CHAIN_NATIVE_VERSIONS,
        "members": [{"name": n, "accounts": ["0x" + a.address.hex()]}
                    for n, a in zip(NAMES, ACCOUNTS, strict=True)],
        "alloc": {"0x" + a.address.hex(): {"balance": hex(10**24)} for a in ACCOUNTS},
        "governance": {"roles": {"0x" + a.address.hex(): roles[n]
                                 for n, a in zip(NAMES, ACCOUNTS, strict=True)}},
    }


def bench_ledger(path: Path) -> Ledger:
    ledger = Ledger(path)
    ledger.init_chain(AppState.from_json(app_state()), 1)
    return ledger


def test_orders_match_pairwise_and_settle(tmp_path: Path) -> None:
    ledger = bench_ledger(tmp_path)
    try:
        setup, orders = signed_order_txs(ACCOUNTS, 40, CHAIN_ID)
        out = run_block(ledger, [t.raw for t in setup])
        assert all(r.code == 0 for r in out.tx_results), [
            decode_revert_reason(r.data) or r.log for r in out.tx_results if r.code]
        gas = []
        for start in range(0, len(orders), 10):
            out = run_block(ledger, [t.raw for t in orders[start:start + 10]])
            for r in out.tx_results:
                assert r.code == 0, decode_revert_reason(r.data) or r.log
                gas.append(r.gas_used)
        read = Chain(ledger).read
        trades = read.trades(isin=ISIN)
        assert len(trades) == 20 and all(t["state"] == "settled" for t in trades)
        assert read.book(ISIN) == {"isin": ISIN, "currency": "CNY", "paused": False,
                                   "bids": [], "asks": []}
        assert max(gas) < ORDER_GAS
    finally:
        ledger.close()


def test_one_account_is_refused() -> None:
    with pytest.raises(ValueError, match="at least two accounts"):
        SecuritiesOrders().prepare(ACCOUNTS[:1], CHAIN_ID)


def test_mix_plan_targets_each_senders_own_setup_orders() -> None:
    plan = mix_plan(senders=3, count=40)
    cancels = [i for i in range(40) if MIX_CYCLE[i % 8][0] == "cancel"]
    assert sorted(plan.targets) == cancels and len(plan.pool) == len(cancels) == 10
    assert sorted(plan.targets.values()) == list(range(1, 11))  # each pool order once
    for i, order_id in plan.targets.items():
        assert plan.pool[order_id - 1][0] == i % 3  # sent by the order's owner
    crosses = [i for i in range(40) if MIX_CYCLE[i % 8][0] == "cross"]
    assert [s for s, _, _ in plan.seeds] == [(i + 1) % 3 for i in crosses]  # not the crosser
    kinds = [MIX_CYCLE[i % 8][0] for i in range(800)]
    assert (kinds.count("rest"), kinds.count("cancel"), kinds.count("cross")) == (400, 200, 200)


def test_mix_rests_cancels_and_matches_in_any_order(tmp_path: Path) -> None:
    """Every transaction succeeds within its kind's gas limit, in signed order and with the
    senders' streams interleaved otherwise (as a network may commit them): cancels only
    target the pool's orders, crossing orders always trade, resting ones never do."""
    for name, reorder in (("signed", False), ("shuffled", True)):
        ledger = bench_ledger(tmp_path / name)
        try:
            workload = make_workload("securities-mix")
            assert isinstance(workload, SecuritiesMix)
            workload.plan(48)
            senders = ACCOUNTS[:3]  # 3, not 4: each sender rests, cancels and crosses
            setup = workload.prepare(senders, CHAIN_ID)
            orders = presign(workload, senders, 48, CHAIN_ID, setup.next_nonces(len(senders)))
            index = {t.raw: i for i, t in enumerate(orders)}
            if reorder:  # sender by sender (each sender's nonces stay in order)
                orders.sort(key=lambda t: (-t.sender, t.nonce))
            out = run_block(ledger, [t.raw for t in setup.txs])
            assert all(r.code == 0 for r in out.tx_results)
            out = run_block(ledger, [t.raw for t in orders])
            assert [decode_revert_reason(r.data) or r.log for r in out.tx_results if r.code] == []
            for t, r in zip(orders, out.tx_results, strict=True):
                assert r.gas_used < workload.gas_for(index[t.raw])
            read = Chain(ledger).read
            trades = read.trades(isin=ISIN)
            assert len(trades) == 12 and all(t["state"] == "settled" for t in trades)
            assert {t["price"] for t in trades} == {90, 110}
            pool = [read.order(n) for n in range(1, 13)]
            assert [o and o["state"] for o in pool] == ["cancelled"] * 12
        finally:
            ledger.close()


def test_mix_without_a_plan_says_so() -> None:
    workload = SecuritiesMix()
    workload.prepare(ACCOUNTS, CHAIN_ID)
    with pytest.raises(RuntimeError, match="plan"):
        workload.call(1)


def test_mix_runs_in_the_execution_references() -> None:
    """`consortium bench --workload securities-mix` with references: the setup and the run
    execute without a failure in the stock py-evm ceiling and in each engine in memory."""
    workload = make_workload("securities-mix")
    workload.plan(24)
    senders = ACCOUNTS[:3]
    setup = workload.prepare(senders, CHAIN_ID)
    txs = presign(workload, senders, 24, CHAIN_ID, setup.next_nonces(len(senders)))
    addresses = [a.address for a in senders]
    state = app_state()
    stock = execution_ceiling(addresses, setup.txs, txs, CHAIN_ID, app_state=state)
    assert (stock.txs, stock.failed) == (24, 0)
    for engine in ("revm", "py-evm") if available() else ("py-evm",):
        own = engine_execution(engine, addresses, setup.txs, txs, CHAIN_ID, app_state=state)
        assert (own.engine, own.txs, own.failed) == (engine, 24, 0)
