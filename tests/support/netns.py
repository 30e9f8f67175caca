"""Separate network hosts for tests: Linux network namespaces joined by a bridge.

`Hosts(count)` makes `count` namespaces, each with its own loopback and one interface
(`eth0`, address 10.77.S.N/24) on a bridge in the root namespace (10.77.S.254), so that a
process in the root namespace is a client outside the hosts. `cut(i)` / `heal(i)` take a
host's link down and up (a partition). `get(i, url)` makes an HTTP request from inside host
i (for its services on 127.0.0.1) on a thread that entered the namespace. Needs root and
`ip`; `netns_unavailable()` says why not, for a skip."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import subprocess
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

CLONE_NEWNET = 0x40000000
NETNS_DIR = Path("/var/run/netns")


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and proc.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc


def netns_unavailable() -> str | None:
    """Why network namespaces cannot be made here (None: they can)."""
    probe = f"probe{os.getpid()}"
    try:
        proc = _ip("netns", "add", probe, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        return f"`ip netns add` cannot run: {exc}"
    if proc.returncode != 0:
        return f"`ip netns add` failed (root and CAP_SYS_ADMIN needed): {proc.stderr.strip()}"
    _ip("netns", "del", probe, check=False)
    return None


def _enter_netns(name: str) -> None:
    """Move the calling thread into namespace `name` (sockets it opens live there)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    fd = os.open(NETNS_DIR / name, os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
    finally:
        os.close(fd)


def _free_subnet() -> int:
    """A third octet S such that no interface here has an address in 10.77.S.0/24."""
    used = _ip("-4", "-o", "addr").stdout
    for octet in range(77, 250):
        if f"10.77.{octet}." not in used:
            return octet
    raise RuntimeError("no free 10.77.S.0/24 subnet")


class Hosts:
    """`count` hosts (namespaces) on one bridge; `close()` removes all of it."""

    def __init__(self, count: int) -> None:
        tag = f"{os.getpid() % 100000}"
        self.bridge = f"cb{tag}"
        self.subnet = _free_subnet()
        self.names: list[str] = []
        self.veths: list[str] = []
        self._pools: list[ThreadPoolExecutor] = []
        self._procs: list[subprocess.Popen[bytes]] = []
        try:
            _ip("link", "add", self.bridge, "type", "bridge")
            _ip("addr", "add", f"10.77.{self.subnet}.254/24", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for _ in range(count):
                self.add_host()
        except BaseException:
            self.close()
            raise

    def add_host(self) -> int:
        """One more host on the bridge; returns its index."""
        index = len(self.names)
        ns, veth = f"c{os.getpid() % 100000}h{index}", f"cv{os.getpid() % 100000}h{index}"
        _ip("netns", "add", ns)
        self.names.append(ns)
        _ip("link", "add", veth, "type", "veth", "peer", "name", f"{veth}p")
        self.veths.append(veth)
        _ip("link", "set", f"{veth}p", "netns", ns)
        _ip("link", "set", veth, "master", self.bridge)
        _ip("link", "set", veth, "up")
        inside = ("netns", "exec", ns, "ip")
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "link", "set", f"{veth}p", "name", "eth0")
        _ip(*inside, "addr", "add", f"{self.address(index)}/24", "dev", "eth0")
        _ip(*inside, "link", "set", "eth0", "up")
        self._pools.append(ThreadPoolExecutor(1, initializer=_enter_netns, initargs=(ns,)))
        return index

    def address(self, index: int) -> str:
        return f"10.77.{self.subnet}.{index + 1}"

    # --- running things on a host ---------------------------------------------------------

    def run(self, index: int, args: Sequence[str], timeout: float = 180) -> str:
        """Run a command on host `index`; its stdout, or fail with its stderr."""
        proc = subprocess.run(["ip", "netns", "exec", self.names[index], *args],
                              capture_output=True, text=True, timeout=timeout)
        assert proc.returncode == 0, f"{args[:5]} on host {index} failed: {proc.stderr}"
        return proc.stdout

    def start(self, index: int, args: Sequence[str], log: Path) -> subprocess.Popen[bytes]:
        """Start a long-running process on host `index`, output to `log`; `close()` ends it."""
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                ["ip", "netns", "exec", self.names[index], *args],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                process_group=0, env=dict(os.environ, PYTHONUNBUFFERED="1"),
            )
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
        """SIGTERM a started process's group, SIGKILL it if it does not end in time."""
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, 9)
                proc.wait(10)

    def get(self, index: int, url: str, **params: object) -> Any:
        """GET `url` from inside host `index` (e.g. its engine's RPC on 127.0.0.1); JSON."""
        def call() -> Any:
            return httpx.get(url, params=params, timeout=5, trust_env=False).json()
        return self._pools[index].submit(call).result()

    # --- partitions -----------------------------------------------------------------------

    def cut(self, index: int) -> None:
        _ip("link", "set", self.veths[index], "down")

    def heal(self, index: int) -> None:
        _ip("link", "set", self.veths[index], "up")

    def close(self) -> None:
        """Stop every process started here, then remove namespaces, veths and the bridge."""
        for proc in self._procs:
            with contextlib.suppress(Exception):
                self.stop(proc)
        for pool in self._pools:
            pool.shutdown(wait=False, cancel_futures=True)
        for veth in self.veths:
            _ip("link", "del", veth, check=False)  # removes its peer in the namespace too
        for ns in self.names:
            _ip("netns", "del", ns, check=False)
        _ip("link", "del", self.bridge, check=False)
