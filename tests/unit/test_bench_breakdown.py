"""bench/services_inprocess.py --breakdown: the timed parts of a service transaction on a real
in-process ledger add up to the run, count what the contract does, and leave the engine's
classes as they were."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture(scope="module")
def bench_modules() -> tuple[Any, Any]:
    sys.path.insert(0, str(BENCH))
    try:
        import host_breakdown
        import services_inprocess
    finally:
        sys.path.remove(str(BENCH))
    return host_breakdown, services_inprocess


def test_breakdown_of_invoice_issues(bench_modules: tuple[Any, Any]) -> None:
    host_breakdown, services_inprocess = bench_modules
    before = {(owner, name): getattr(owner, name) for owner, name, _ in host_breakdown.PARTS}
    accounts = [services_inprocess.BenchAccount.from_key((i + 1).to_bytes(32, "big"))
                for i in range(8)]
    parts = host_breakdown.Breakdown()
    txs = 40
    wall, _cpu = services_inprocess.run("invoice", txs, 20, accounts, breakdown=parts)
    # the engine's classes and the ledger module are back as they were
    assert {(o, n): getattr(o, n) for o, n in before} == before
    table = {part: (us, share, calls) for part, us, share, calls
             in parts.table(round(1e9 * txs / wall), txs)}
    # an invoice issue (layout 2): one dispatch, its record's 5 words in 1 batched write and 3
    # list appends of 2 writes each (all, seller's, buyer's), 1 set addition (issued's), 2
    # events, no call
    assert table["the contract's own code"][2] == 1
    assert table["storage writes"][2] == 4
    assert table["set add/remove (one engine call)"][2] == 1
    assert table["events (encode + log)"][2] == 2
    assert table["calls into other contracts"][2] == 0
    assert parts.calls["state trie (persist)"] == txs // 20  # one a block
    assert parts.calls["Commit (LMDB write)"] == txs // 20
    # exclusive parts and the rest make the whole run
    assert sum(share for _us, share, _calls in table.values()) == pytest.approx(1.0)
    rest = table.pop("the rest (engine, admission, receipts)")
    assert all(us >= 0 for us, _share, _calls in table.values()) and rest[0] > 0
    assert table["the contract's own code"][0] > 0 and table["state trie (persist)"][0] > 0


def test_blocks_are_reaped_by_count_and_by_gas_limits(bench_modules: tuple[Any, Any]) -> None:
    """As CometBFT reaps a proposal: at most `block` transactions, their gas limits within
    the block gas limit (1,000 orders at 2 M each did not fit 1e9 and failed)."""
    _, services_inprocess = bench_modules
    blocks = services_inprocess.blocks
    assert blocks(5, 2, [1] * 5, limit=10) == [range(0, 2), range(2, 4), range(4, 5)]
    assert blocks(5, 10, [4, 4, 4, 1, 10], limit=10) == [range(0, 2), range(2, 4), range(4, 5)]
    assert blocks(0, 10, [], limit=10) == []
    one = blocks(1000, 1000, [2_000_000] * 1000)
    assert [len(r) for r in one] == [500, 500]
