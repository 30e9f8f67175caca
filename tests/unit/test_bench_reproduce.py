"""bench/reproduce.sh's table: the securities mix's row is judged by its orders/s against
issue 23's 2,000, shown beside the ERC-20 run before it."""

from __future__ import annotations

from typing import Any

from consortium.bench.reproduce import markdown, rows


def run(tps: float) -> dict[str, Any]:
    return {"ledger": {"tps": tps}}


def test_mix_row_is_judged_by_its_orders_per_second() -> None:
    table = rows([("erc20", "ERC-20", run(4000.0)), ("mix", "mix fast", run(2500.0)),
                  ("mix", "mix slow", run(1500.0)), ("service", "invoice", run(1000.0))])
    fast, slow, invoice = table[1:]
    assert (fast["reference"], fast["ratio"], fast["met"]) == ("ERC-20 4,000", 0.625, True)
    assert (slow["ratio"], slow["met"]) == (0.375, False)
    assert (invoice["ratio"], invoice["met"]) == (0.25, False)  # ratio goal 0.5
    text = markdown(table)
    assert "| mix fast | 2,500 | ERC-20 4,000 | ×0.62 | ≥ 2,000/s met |" in text
    assert "| invoice | 1,000 | ERC-20 4,000 | ×0.25 | ≥ 0.5 missed |" in text


def test_latency_row_is_judged_by_its_p99_at_a_quarter_of_kvstore() -> None:
    kv = {"ledger": {"tps": 5000.0}, "engine_ceiling": {"tps": 20000.0}}

    def at_rate(p99: float, committed: int = 100) -> dict[str, Any]:
        return {"config": {"rate": 5000.0},
                "ledger": {"tps": 4990.0, "txs": 100, "committed": committed,
                           "latency_ms": {"p99": p99}}}

    table = rows([("kvstore", "ERC-20", kv), ("latency", "quick", at_rate(640.0)),
                  ("latency", "slow", at_rate(1400.0)), ("latency", "lost", at_rate(300.0, 99))])
    quick, slow, lost = table[1:]
    assert (quick["met"], slow["met"], lost["met"]) == (True, False, False)
    assert quick["reference"] == "sent at 5,000/s = 0.25 × kvstore 20,000"
    assert "| quick | 4,990, p99 640 ms | sent at 5,000/s = 0.25 × kvstore 20,000 |  | " \
           "p99 ≤ 1,000 ms met |" in markdown(table)
