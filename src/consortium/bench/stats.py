"""The numbers a benchmark report is made of: percentiles, rates, and time series.

Pure functions over plain lists, so they are tested without a network.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation between closest ranks (numpy's
    default method). NaN for no values."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0-100")
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


@dataclass(frozen=True)
class LatencySummary:
    """Latencies in milliseconds."""

    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, seconds: Sequence[float]) -> LatencySummary:
        if not seconds:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        ms = [s * 1000 for s in seconds]
        return cls(
            count=len(ms),
            mean=sum(ms) / len(ms),
            p50=percentile(ms, 50),
            p95=percentile(ms, 95),
            p99=percentile(ms, 99),
            max=max(ms),
        )

    def to_json(self) -> dict[str, float]:
        return {k: round(v, 1) if isinstance(v, float) else v for k, v in asdict(self).items()}


def rate(count: int, seconds: float) -> float:
    """Events per second; 0 for an empty or zero-length window."""
    return count / seconds if count and seconds > 0 else 0.0


def steady_rate(commit_times: Sequence[float], trim: float = 0.1) -> float:
    """The commit rate between the `trim` and `1 - trim` quantiles of the commit times: the
    sustained rate, without the ramp-up and the tail of the run.

    Commits come in blocks, all of a block's at one time, and a block holds what arrived
    since the one before: so the window runs from the block holding the first quantile to the
    block holding the last, and counts the commits after its first block (that block's were
    made before the window opened). 0 when both quantiles fall in one block."""
    times = sorted(commit_times)
    if len(times) < 10:
        return 0.0
    start = times[int(len(times) * trim)]
    end = times[int(len(times) * (1 - trim)) - 1]
    inside = bisect.bisect_right(times, end) - bisect.bisect_right(times, start)
    return rate(inside, end - start)


@dataclass(frozen=True)
class Bin:
    """One interval of a run's time series (seconds since the run started)."""

    start: float
    committed: int
    tps: float
    p50_ms: float
    p99_ms: float


def time_series(
    commits: Sequence[tuple[float, float]], width: float = 1.0
) -> list[Bin]:
    """Commits (commit time, latency), both in seconds since the run started, binned by
    commit time: throughput and latency percentiles per `width` seconds."""
    if width <= 0:
        raise ValueError("bin width must be positive")
    if not commits:
        return []
    end = max(t for t, _ in commits)
    count = int(end // width) + 1
    buckets: list[list[float]] = [[] for _ in range(count)]
    for t, latency in commits:
        buckets[max(0, int(t // width))].append(latency * 1000)
    return [
        Bin(
            start=round(i * width, 3),
            committed=len(b),
            tps=len(b) / width,
            p50_ms=percentile(b, 50) if b else math.nan,
            p99_ms=percentile(b, 99) if b else math.nan,
        )
        for i, b in enumerate(buckets)
    ]


def ratio(value: float, reference: float | None) -> float | None:
    """value / reference, or None when there is no (or a zero) reference."""
    if not reference:
        return None
    return value / reference
