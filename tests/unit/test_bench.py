"""The benchmark's own logic: percentiles, rates, time series, lanes, reports, profiles."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from consortium.bench import profiling
from consortium.bench.load import (
    BlockSeen,
    CometTarget,
    EthTarget,
    LoadResult,
    LoadTx,
    kv_txs,
    plan_lanes,
    schedule,
)
from consortium.bench.report import run_summary, series, summary_rows, write_json
from consortium.bench.stats import (
    LatencySummary,
    percentile,
    rate,
    ratio,
    steady_rate,
    time_series,
)
from consortium.bench.workloads import (
    BenchAccount,
    NativeCall,
    Setup,
    ValueTransfer,
    make_workload,
    presign,
    recipient,
)
from consortium.errors import ConfigError

# --- stats ------------------------------------------------------------------------------------


def test_percentile_interpolates_like_numpy() -> None:
    values = [15, 20, 35, 40, 50]
    assert percentile(values, 0) == 15
    assert percentile(values, 100) == 50
    assert percentile(values, 50) == 35
    assert percentile(values, 40) == pytest.approx(29.0)  # numpy.percentile(values, 40)
    assert percentile(values, 99) == pytest.approx(49.6)
    assert percentile([7], 95) == 7
    assert math.isnan(percentile([], 50))
    assert percentile(list(range(1, 101)), 99) == pytest.approx(99.01)
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_percentile_ignores_input_order() -> None:
    assert percentile([5, 1, 4, 2, 3], 50) == 3


def test_latency_summary_in_milliseconds() -> None:
    s = LatencySummary.of([0.1, 0.2, 0.3, 0.4])
    assert s.count == 4
    assert s.p50 == pytest.approx(250.0)
    assert s.max == pytest.approx(400.0)
    assert s.mean == pytest.approx(250.0)
    assert LatencySummary.of([]).count == 0
    assert json.dumps(LatencySummary.of([0.001]).to_json())


def test_rates() -> None:
    assert rate(100, 2.0) == 50
    assert rate(0, 2.0) == 0
    assert rate(5, 0.0) == 0
    assert ratio(600, 750) == pytest.approx(0.8)
    assert ratio(600, None) is None
    assert ratio(600, 0) is None
    # 100 commits, one every 10 ms: the sustained rate is 100/s whatever the ramp-up
    times = [5.0] * 5 + [5.0 + 0.01 * i for i in range(100)]
    assert steady_rate(times) == pytest.approx(100, rel=0.05)
    assert steady_rate([1.0, 2.0]) == 0
    # blocks of 1,000 every 0.5 s: 2,000/s; the first block of the window is not counted
    # (its commits were made before the window opened)
    blocks = [0.5 * (b + 1) for b in range(10) for _ in range(1000)]
    assert steady_rate(blocks) == pytest.approx(2000)
    assert steady_rate([3.0] * 50) == 0  # one block: no rate to tell


def test_time_series_bins_by_commit_time() -> None:
    commits = [(0.2, 0.1), (0.7, 0.3), (1.5, 1.0), (3.1, 2.0)]
    bins = time_series(commits, 1.0)
    assert [b.committed for b in bins] == [2, 1, 0, 1]
    assert bins[0].tps == 2
    assert bins[0].p50_ms == pytest.approx(200.0)
    assert math.isnan(bins[2].p50_ms)
    assert time_series([], 1.0) == []
    with pytest.raises(ValueError):
        time_series(commits, 0)


# --- lanes and targets ------------------------------------------------------------------------


def _txs(n: int, senders: int) -> list[LoadTx]:
    return [LoadTx(f"k{j}", f"p{j}", j % senders) for j in range(n)]


def test_lanes_keep_each_senders_order_and_spread_over_nodes() -> None:
    lanes = plan_lanes(CometTarget(), _txs(100, 10), ["n0", "n1"], 4, 7)
    assert [lane.url for lane in lanes] == ["n0", "n1", "n0", "n1"]
    assert sum(len(b.keys) for lane in lanes for b in lane.batches) == 100
    owner: dict[int, int] = {}
    for i, lane in enumerate(lanes):
        keys = [k for b in lane.batches for k in b.keys]
        order = [int(k[1:]) for k in keys]
        assert order == sorted(order)  # a lane sends in submission order
        assert all(len(b.keys) <= 7 for b in lane.batches)
        for j in order:
            assert owner.setdefault(j % 10, i) == i  # a sender belongs to one lane


def test_lanes_without_transactions_are_dropped() -> None:
    lanes = plan_lanes(CometTarget(), _txs(3, 3), ["n0"], 8, 10)
    assert len(lanes) == 3
    with pytest.raises(ValueError):
        plan_lanes(CometTarget(), _txs(3, 3), ["n0"], 0, 10)


def test_rate_schedule_spaces_batches_over_all_lanes() -> None:
    lanes = plan_lanes(CometTarget(), _txs(40, 4), ["n0"], 2, 10)
    schedule(lanes, rate=20.0)
    times = sorted(b.scheduled for lane in lanes for b in lane.batches)
    assert times == [0.0, 0.5, 1.0, 1.5]


def test_submit_bodies_and_answers() -> None:
    txs = kv_txs(3, 2, "t")
    assert len({t.key for t in txs}) == 3
    comet = CometTarget()
    body = json.loads(comet.submit_body(txs))
    assert [b["method"] for b in body] == ["broadcast_tx_sync"] * 3
    answers = [
        {"jsonrpc": "2.0", "id": 0, "result": {"code": 0}},
        {"jsonrpc": "2.0", "id": 1, "result": {"code": 5, "log": "bad"}},
        {"jsonrpc": "2.0", "id": 2, "error": {"message": "mempool is full"}},
    ]
    assert comet.parse_submit(answers, 3) == [None, "bad", "mempool is full"]
    # CometBFT answers a batch of one with a bare object
    assert comet.parse_submit({"jsonrpc": "2.0", "id": 0, "result": {"code": 0}}, 1) == [None]
    # one error for a whole batch
    assert comet.parse_submit({"error": {"message": "too big"}}, 2) == ["too big", "too big"]
    eth = EthTarget("http://engine")
    body = json.loads(eth.submit_body([LoadTx("0xaa", "0x01", 0)]))
    assert body == [{"jsonrpc": "2.0", "id": 0, "method": "eth_sendRawTransaction",
                     "params": ["0x01"]}]
    assert eth.parse_submit([{"id": 0, "error": {"code": -32000, "message": "nonce too low"}}],
                            1) == ["nonce too low"]


# --- workloads ---------------------------------------------------------------------------------


def _accounts(n: int) -> list[BenchAccount]:
    return [BenchAccount.from_key((9000 + i).to_bytes(32, "big")) for i in range(n)]


def test_presign_spreads_senders_with_consecutive_nonces() -> None:
    accounts = _accounts(3)
    txs = presign(ValueTransfer(), accounts, 7, 20251, [0, 5, 0])
    assert [(t.sender, t.nonce) for t in txs] == [
        (0, 0), (1, 5), (2, 0), (0, 1), (1, 6), (2, 1), (0, 2)]
    assert len({t.hash for t in txs}) == 7
    from consortium.ledger.transactions import decode_transaction

    decoded = decode_transaction(txs[1].raw, 20251)
    assert decoded.sender == accounts[1].address
    assert decoded.nonce == 5
    assert decoded.tx.to == recipient(1)


def test_workload_registry() -> None:
    assert isinstance(make_workload("native"), NativeCall)
    # the size-controlled native call has an ERC-20 transfer's calldata length
    small, token = make_workload("native-small"), make_workload("erc20")
    token.token = b"\x01" * 20  # type: ignore[attr-defined]
    assert len(small.call(0)[2]) == len(token.call(0)[2]) == 68
    assert len(make_workload("native").call(0)[2]) == 100
    with pytest.raises(ConfigError, match="unknown workload"):
        make_workload("invoice-someday")
    assert Setup().next_nonces(2) == [0, 0]


# --- report ------------------------------------------------------------------------------------


def _result() -> LoadResult:
    r = LoadResult("consortium", 0.0)
    for j in range(10):
        r.submitted[f"k{j}"] = 0.1 * j
        r.committed[f"k{j}"] = 0.1 * j + 0.5
    r.refused["bad"] = "nonce too low"
    r.blocks = [BlockSeen(2, 5, 0.9), BlockSeen(3, 5, 1.4)]
    r.ended = 1.4
    return r


def test_run_summary_and_report_file(tmp_path: Path) -> None:
    summary = run_summary(_result(), 11)
    assert summary["committed"] == 10
    assert summary["refused"] == 1
    assert summary["refused_examples"] == ["nonce too low"]
    assert summary["seconds"] == pytest.approx(1.4)
    assert summary["tps"] == pytest.approx(7.1)
    assert summary["latency_ms"]["p50"] == pytest.approx(500.0)
    assert summary["txs_per_block"] == {"mean": 5.0, "max": 5}
    report = {
        "workload": {"name": "transfer", "description": "value transfer"},
        "config": {"validators": 1, "txs": 11, "batch": 5, "concurrency": 2, "rate": None},
        "ledger": summary,
        "execution_ceiling": {"tps": 14.2, "txs": 11, "failed": 0},
        "ratios": {"vs_execution_ceiling": 0.5, "vs_engine_ceiling": None},
        "series": {"ledger": series(_result())},
    }
    rows = summary_rows(report)
    assert rows[0][1] == "7" and rows[0][7] == "0.50" and rows[0][8] == "-"
    assert rows[1][0].startswith("py-evm")
    path = write_json(report, tmp_path / "results" / "x.json")
    assert json.loads(path.read_text())["ledger"]["committed"] == 10


def test_plot_is_written_when_matplotlib_is_there(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    from consortium.bench.report import plot

    report = {
        "workload": {"name": "transfer"},
        "config": {"validators": 1, "txs": 11, "batch": 5, "concurrency": 2, "rate": None},
        "ledger": run_summary(_result(), 11),
        "execution_ceiling": {"tps": 14.2},
        "series": {"ledger": series(_result())},
    }
    path = plot(report, tmp_path / "x.png")
    assert path is not None and path.read_bytes()[:4] == b"\x89PNG"


# --- profiles ----------------------------------------------------------------------------------

RAW = """\
<module> (/x/cli/main.py:1);_serve (/src/consortium/abci/server.py:75);ConsortiumApp.finalize_block (/src/consortium/ledger/application.py:150);interp (/site-packages/eth/vm/logic/arithmetic.py:10) 60
<module> (/x/cli/main.py:1);_serve (/src/consortium/abci/server.py:75);ConsortiumApp.check_tx (/src/consortium/ledger/application.py:100);recover (/site-packages/coincurve/ecdsa.py:5) 30
<module> (/x/cli/main.py:1);EpollSelector.select (/lib/selectors.py:468) 10
"""  # noqa: E501


def test_profile_summary_by_phase_component_and_function() -> None:
    stacks = profiling.parse_collapsed(RAW + "garbage line\n\n")
    summary = profiling.summarize(stacks)
    assert summary.samples == 90  # the thread waiting in select is idle, not busy
    assert summary.idle == pytest.approx(0.1)
    phases = dict(summary.phases)
    assert phases["FinalizeBlock (execution)"] == pytest.approx(60 / 90)
    assert phases["CheckTx"] == pytest.approx(30 / 90)
    components = dict(summary.components)
    assert components["EVM opcodes"] == pytest.approx(60 / 90)
    assert components["signatures"] == pytest.approx(30 / 90)
    assert summary.top_self[0] == ("interp (vm/logic/arithmetic.py)", pytest.approx(60 / 90))
    assert json.dumps(summary.to_json())


def test_flamegraph_is_an_svg_with_every_frame() -> None:
    svg = profiling.flamegraph_svg(profiling.parse_collapsed(RAW), "node0")
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    assert "ConsortiumApp.finalize_block" in svg and "100 samples" in svg
    merged = profiling.merge([profiling.parse_collapsed(RAW)] * 2)
    assert sum(merged.values()) == 200


def test_a_nodes_cpu_is_split_by_thread_from_its_metrics() -> None:
    """The monitor reads a node's thread CPU from its /metrics at both ends of the window;
    the report gives it per transaction. Here the "node" is this process."""
    import socket
    import threading

    import psutil

    from consortium.api.metrics import NodeMetrics
    from consortium.bench.resources import ResourceMonitor

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    stop_server = NodeMetrics("node0").serve("127.0.0.1", port)
    try:
        monitor = ResourceMonitor({"node0": psutil.Process()}, metrics={
            "node0": f"http://127.0.0.1:{port}/metrics", "gone": "http://127.0.0.1:9/x"})
        monitor.start()
        burnt, done = threading.Event(), threading.Event()

        def burn() -> None:
            sum(range(10**7))
            burnt.set()
            done.wait(10)  # alive at the second reading (an ended thread counts as of the
            # reading before it ended: none here)

        burner = threading.Thread(target=burn, name="burner_0")
        burner.start()
        assert burnt.wait(30)
        usage = monitor.stop()
        done.set()
        burner.join()
    finally:
        stop_server()
    split = usage["node0"].threads
    assert split is not None and split["burner"] > 1.0, split  # percent of the window
    assert "gone" not in usage  # a node that does not answer: no figures, no error
    summary = run_summary(_result(), 11, usage)
    per_tx = summary["processes"]["node0"]["threads_cpu_ms_per_tx"]
    assert per_tx["burner"] > 0 and list(per_tx)[0] == "burner"  # busiest first
