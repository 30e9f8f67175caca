"""CPU and peak memory of the processes under test, sampled with psutil; a node's CPU split
by thread, from its own metrics.

CPU is the process's user + system time over the measured window divided by the window
(100 % = one core busy); peak memory is the highest resident set size seen, sampled every
quarter second. The split by thread (`consortium_thread_cpu_seconds_total` read at both ends
of the window) says which part of a node is busy: its API, its consensus thread, block
execution.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
import psutil
from prometheus_client.parser import text_string_to_metric_families


@dataclass
class ProcessUsage:
    name: str
    cpu_percent: float
    peak_rss_mb: float
    threads: dict[str, float] | None = None  # CPU % by thread name (a node's own figures)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"cpu_percent": round(self.cpu_percent, 1),
                               "peak_rss_mb": round(self.peak_rss_mb, 1)}
        if self.threads:
            doc["threads_cpu_percent"] = {k: round(v, 1) for k, v in self.threads.items()}
        return doc


THREAD_CPU = "consortium_thread_cpu_seconds"


def thread_cpu(metrics_url: str) -> dict[str, float]:
    """A node's CPU seconds so far by thread name, from its /metrics; empty if it does not
    answer (an older node, auth on)."""
    try:
        response = httpx.get(metrics_url, timeout=10)
        response.raise_for_status()
    except httpx.HTTPError:
        return {}
    return {sample.labels["thread"]: sample.value
            for family in text_string_to_metric_families(response.text)
            if family.name == THREAD_CPU for sample in family.samples
            if sample.name == THREAD_CPU + "_total"}


def process_tree(name: str, pid: int) -> dict[str, psutil.Process]:
    """A process and its children, named `name` and `name/<child's program>`."""
    out: dict[str, psutil.Process] = {}
    try:
        root = psutil.Process(pid)
        out[name] = root
        for child in root.children(recursive=True):
            label = f"{name}/{os.path.basename(child.name())}"
            while label in out:
                label += "'"
            out[label] = child
    except psutil.NoSuchProcess:
        pass
    return out


class ResourceMonitor:
    """Samples a fixed set of processes between `start()` and `stop()`."""

    def __init__(self, processes: dict[str, psutil.Process], interval: float = 0.25, *,
                 metrics: dict[str, str] | None = None) -> None:
        self.processes = processes
        self.interval = interval
        self.metrics = metrics or {}  # process name -> its /metrics URL (nodes)
        self._threads0: dict[str, dict[str, float]] = {}
        self._cpu0: dict[str, float] = {}
        self._peak: dict[str, int] = {}
        self._cpu_last: dict[str, float] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._sys0: Any = None
        self.machine: dict[str, float] = {}
        self.usage: dict[str, ProcessUsage] = {}

    def start(self) -> None:
        self._t0 = time.perf_counter()
        self._sys0 = psutil.cpu_times()
        for name, proc in self.processes.items():
            cpu = self._cpu(proc)
            if cpu is not None:
                self._cpu0[name] = cpu
        if not self._threads0:
            self.read_threads()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="bench-resources", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, ProcessUsage]:
        wall = time.perf_counter() - self._t0
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        threads = {name: self._thread_split(name, url, wall) for name, url in self.metrics.items()}
        out = {}
        for name in self.processes:
            if name not in self._cpu0:
                continue
            used = self._cpu_last.get(name, self._cpu0[name]) - self._cpu0[name]
            out[name] = ProcessUsage(name, 100 * used / wall if wall > 0 else 0.0,
                                     self._peak.get(name, 0) / 2**20, threads.get(name))
        self.machine = self._machine(wall, sum(p.cpu_percent for p in out.values()))
        self.usage = out
        return out

    def read_threads(self) -> None:
        """The nodes' thread CPU at the window's start. A scrape makes a node do work (its
        probe asks the engine too): call this just before the load starts, not inside the
        measured window (4 scrapes at its start took a 4-validator run's p99 from 0.9 to
        1.5 s)."""
        self._threads0 = {name: thread_cpu(url) for name, url in self.metrics.items()}

    def _thread_split(self, name: str, url: str, wall: float) -> dict[str, float] | None:
        """CPU % of the window by thread name, busiest first (None without figures)."""
        before, after = self._threads0.get(name) or {}, thread_cpu(url)
        if not before or not after or wall <= 0:
            return None
        used = {k: 100 * (v - before.get(k, 0.0)) / wall for k, v in after.items()}
        return dict(sorted(((k, v) for k, v in used.items() if v >= 0.05),
                           key=lambda kv: -kv[1]))

    def _machine(self, wall: float, ours: float) -> dict[str, float]:
        """How busy the whole machine was, and how much of it was other processes' work
        (anything well above 0 means the figures are not this system's alone)."""
        if self._sys0 is None or wall <= 0:
            return {}
        t1 = psutil.cpu_times()
        busy = (sum(t1) - t1.idle - getattr(t1, "iowait", 0.0)) - (
            sum(self._sys0) - self._sys0.idle - getattr(self._sys0, "iowait", 0.0))
        busy_pct = 100 * busy / wall
        return {"cores": float(psutil.cpu_count() or 1),
                "busy_cpu_percent": round(busy_pct, 1),
                "others_cpu_percent": round(max(0.0, busy_pct - ours), 1)}

    def _loop(self) -> None:
        while not self._stop.wait(self.interval):
            self._sample()

    def _sample(self) -> None:
        for name, proc in self.processes.items():
            try:
                with proc.oneshot():
                    rss = proc.memory_info().rss
                    cpu = self._cpu(proc)
            except psutil.Error:
                continue
            self._peak[name] = max(self._peak.get(name, 0), rss)
            if cpu is not None:
                self._cpu_last[name] = cpu

    @staticmethod
    def _cpu(proc: psutil.Process) -> float | None:
        try:
            t = proc.cpu_times()
        except psutil.Error:
            return None
        return float(t.user + t.system)
