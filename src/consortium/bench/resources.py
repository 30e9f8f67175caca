"""CPU and peak memory of the processes under test, sampled with psutil.

CPU is the process's user + system time over the measured window divided by the window
(100 % = one core busy); peak memory is the highest resident set size seen, sampled every
quarter second.
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass
from typing import Any

import psutil


@dataclass
class ProcessUsage:
    name: str
    cpu_percent: float
    peak_rss_mb: float

    def to_json(self) -> dict[str, Any]:
        return {"cpu_percent": round(self.cpu_percent, 1),
                "peak_rss_mb": round(self.peak_rss_mb, 1)}


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

    def __init__(self, processes: dict[str, psutil.Process], interval: float = 0.25) -> None:
        self.processes = processes
        self.interval = interval
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
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="bench-resources", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, ProcessUsage]:
        wall = time.perf_counter() - self._t0
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        self._sample()
        out = {}
        for name in self.processes:
            if name not in self._cpu0:
                continue
            used = self._cpu_last.get(name, self._cpu0[name]) - self._cpu0[name]
            out[name] = ProcessUsage(name, 100 * used / wall if wall > 0 else 0.0,
                                     self._peak.get(name, 0) / 2**20)
        self.machine = self._machine(wall, sum(p.cpu_percent for p in out.values()))
        self.usage = out
        return out

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
