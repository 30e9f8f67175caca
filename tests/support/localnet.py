"""Real local networks for tests: `LocalNet(validators=4)` turns a description into running
node processes on free loopback ports, and cleans them up."""

from __future__ import annotations

import contextlib
import os
import signal
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psutil

from consortium.bench.networks import free_base_port
from consortium.network import supervisor
from consortium.network.init import init_network
from consortium.network.layout import Network, NodeEntry


def wait_for(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.25
) -> Any:
    """Poll `condition` until it returns something truthy, or fail naming `what`."""
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as exc:  # a node still starting
            last_exc = exc
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {last_exc})")


# The networks running now: a failing test's report shows what their nodes were doing
# (tests/conftest.py)
LIVE: weakref.WeakSet[LocalNet] = weakref.WeakSet()
DUMP_DONE = b"(most recent call first)"  # faulthandler's header of each thread's stack


class LocalNet:
    def __init__(
        self,
        root: Path,
        validators: int = 4,
        members: list[str] | None = None,
        timeout_commit: str = "300ms",
        roles: dict[str, list[str]] | None = None,
    ) -> None:
        base = free_base_port()
        self.network: Network = init_network(
            root,
            validators=validators,
            members=members,
            base_port=base,
            api_port=base + 90,
            timeout_commit=timeout_commit,
            roles=roles,
        )
        self.root = root
        LIVE.add(self)

    # --- processes -----------------------------------------------------------------------

    def up(self, names: list[str] | None = None) -> None:
        supervisor.up(self.network, names)

    def down(self, names: list[str] | None = None) -> None:
        supervisor.down(self.network, names)

    def kill(self, name: str) -> None:
        """SIGKILL a node's whole process group (the Python node and its engine) at once."""
        home = self.network.node_home(self.network.node(name))
        pid = supervisor.node_pid(home)
        assert pid is not None, f"{name} is not running"
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        os.killpg(os.getpgid(pid), signal.SIGKILL)
        psutil.wait_procs(procs, timeout=10)

    def cleanup(self) -> None:
        LIVE.discard(self)
        try:
            supervisor.down(self.network)
        finally:
            for node in self.network.nodes:
                pid = supervisor.node_pid(self.network.node_home(node))
                if pid is not None:
                    os.killpg(os.getpgid(pid), signal.SIGKILL)

    # --- reads ---------------------------------------------------------------------------

    def node(self, name: str) -> NodeEntry:
        return self.network.node(name)

    def engine_status(self, name: str) -> dict[str, Any]:
        r = httpx.get(f"{self.node(name).rpc_url}/status", timeout=2)
        return r.json()["result"]

    def height(self, name: str) -> int:
        try:
            return int(self.engine_status(name)["sync_info"]["latest_block_height"])
        except (httpx.HTTPError, KeyError, ValueError):
            return -1

    def app_hash_at(self, name: str, height: int) -> str:
        """The app hash *after* executing `height` (carried in the header of height + 1)."""
        r = httpx.get(f"{self.node(name).rpc_url}/block", params={"height": height + 1}, timeout=5)
        return r.json()["result"]["block"]["header"]["app_hash"]

    def wait_height(self, height: int, names: list[str] | None = None, timeout: float = 60) -> None:
        """Wait until every node named reaches `height`; failing, the error carries each
        node's height, consensus round and thread stacks (a network that never comes up
        fails in a fixture, where no test report would collect them)."""
        names = names or [n.name for n in self.network.nodes]
        try:
            wait_for(
                lambda: all(self.height(n) >= height for n in names),
                timeout,
                f"{', '.join(names)} to reach height {height}",
            )
        except AssertionError as exc:
            heights = ", ".join(f"{n} {self.height(n)}" for n in names)
            raise AssertionError(f"{exc}; heights: {heights}\n{self.diagnose()}") from None

    def round_state(self, name: str) -> str:
        """CometBFT's consensus round of a node (height/round/step), or why it has none."""
        try:
            r = httpx.get(f"{self.node(name).rpc_url}/consensus_state", timeout=2)
            return str(r.json()["result"]["round_state"]["height/round/step"])
        except (httpx.HTTPError, KeyError, ValueError, TypeError) as exc:
            return f"unknown ({type(exc).__name__})"

    def diagnose(self, lines: int = 40) -> str:
        """Each running node's last log lines and its thread stacks (SIGUSR1: the node's
        faulthandler writes them to node.log): what a failed test leaves to read."""
        out = []
        for node in self.network.nodes:
            home = self.network.node_home(node)
            pid, log = supervisor.node_pid(home), home / "node.log"
            start = log.stat().st_size if log.exists() else 0
            if pid is not None:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGUSR1)
                with contextlib.suppress(AssertionError):
                    # one signal handler writes all the threads at once
                    wait_for(lambda p=log, at=start: DUMP_DONE in p.read_bytes()[at:], 5,
                             "a stack dump")
            raw = log.read_bytes() if log.exists() else b""
            tail = raw[:start].decode(errors="replace").splitlines()[-lines:]
            dump = raw[start:].decode(errors="replace")
            state = (f"pid {pid}, consensus at {self.round_state(node.name)}" if pid is not None
                     else "not running")
            out.append(f"--- {node.name} ({state}): the end of {log}\n" + "\n".join(tail)
                       + f"\n--- {node.name}: its threads\n{dump}")
        return "\n".join(out)

    def log(self, name: str) -> str:
        return (self.network.node_home(self.node(name)) / "node.log").read_text(errors="replace")


@contextlib.contextmanager
def running_net(root: Path, **options: Any) -> Iterator[LocalNet]:
    """A network (`LocalNet(root, **options)`) up at height 2 for a module's tests, and
    stopped after them, even when it fails to come up (no node outlives its fixture)."""
    network = LocalNet(root, **options)
    try:
        network.up()
        network.wait_height(2)
        yield network
    finally:
        network.cleanup()
