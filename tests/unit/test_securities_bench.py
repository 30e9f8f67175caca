"""The securities bench workload on a real Ledger: its setup commits, and its pre-signed
orders all execute, match pairwise and settle T+0 within their gas."""

from __future__ import annotations

from pathlib import Path

import pytest

from consortium.apps.securities.bench import (
    ISIN,
    ORDER_GAS,
    SecuritiesOrders,
    genesis_roles,
    signed_order_txs,
)
from consortium.bench.workloads import BenchAccount
from consortium.ledger.executor import decode_revert_reason
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from tests.support.ledger_testkit import CHAIN_ID, GAS_LIMIT, run_block
from tests.support.securities_testkit import Chain

ACCOUNTS = [BenchAccount.from_key(bytes([0x70 + i]) * 32) for i in range(4)]
NAMES = [f"Bench {i}" for i in range(len(ACCOUNTS))]


def bench_ledger(path: Path) -> Ledger:
    roles = genesis_roles(NAMES)
    ledger = Ledger(path)
    ledger.init_chain(AppState.from_json({
        "eth_chain_id": CHAIN_ID,
        "block_gas_limit": GAS_LIMIT,
        "members": [{"name": n, "accounts": ["0x" + a.address.hex()]}
                    for n, a in zip(NAMES, ACCOUNTS, strict=True)],
        "alloc": {},
        "governance": {"roles": {"0x" + a.address.hex(): roles[n]
                                 for n, a in zip(NAMES, ACCOUNTS, strict=True)}},
    }), 1)
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
