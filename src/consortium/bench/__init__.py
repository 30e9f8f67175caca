"""`consortium bench`: throughput and latency of the ledger, beside its own limits.

A run signs a workload's transactions ahead of time, submits them in batches of
`eth_sendRawTransaction` to a real local network, and measures committed transactions per
second and submit-to-visible latency, with two references measured in the same run: the
engine ceiling (CometBFT's kvstore app on homes made like ours) and the execution ceiling
(the same transactions on py-evm in memory). Library code lives here; contracts, results and
flame graphs live in the checkout's `bench/` folder.
"""

from __future__ import annotations

from consortium.bench.runner import BenchConfig, BenchOutcome, QuietUi, Ui, run_bench
from consortium.bench.workloads import WORKLOADS, Workload, register_workload

__all__ = [
    "WORKLOADS",
    "BenchConfig",
    "BenchOutcome",
    "QuietUi",
    "Ui",
    "Workload",
    "register_workload",
    "run_bench",
]
