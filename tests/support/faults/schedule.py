"""Perturbations of a running `LocalNet`, each timed until the network has recovered, and
the checks that the network came through whole: no fork, the same app hashes, every node
live."""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field

import httpx

from consortium.network import supervisor
from tests.support.localnet import LocalNet, wait_for

RECOVERY_TIMEOUT = 180.0


@dataclass(frozen=True)
class Perturbation:
    name: str
    recovery_s: float  # until the perturbed node caught up, or the network committed again
    started: float  # time.monotonic() when it began


@dataclass
class Schedule:
    """Runs perturbations on `net` and keeps what each one cost."""

    net: LocalNet
    survived: list[Perturbation] = field(default_factory=list)
    _began: float = 0.0

    # --- perturbations -----------------------------------------------------------------------

    def kill_restart(self, name: str) -> Perturbation:
        """SIGKILL the node's whole process tree, then start it again."""
        self._began = time.monotonic()
        self.net.kill(name)
        self._others_commit(name)
        return self._restart(f"kill -9 + restart {name}", [name])

    def graceful_restart(self, name: str) -> Perturbation:
        """SIGTERM (the node's own orderly stop), then start it again."""
        self._began = time.monotonic()
        self.net.down([name])
        self._others_commit(name)
        return self._restart(f"graceful restart {name}", [name])

    def pause_resume(self, name: str, heights: int = 3) -> Perturbation:
        """SIGSTOP the node's process tree while the others commit `heights` blocks, then
        SIGCONT it; recovered when it has caught up with them."""
        self._began = time.monotonic()
        pgid = os.getpgid(self._pid(name))
        os.killpg(pgid, signal.SIGSTOP)
        try:
            self._others_commit(name, heights)
        finally:
            os.killpg(pgid, signal.SIGCONT)
        t0 = time.monotonic()
        self._caught_up([name])
        return self._done(f"pause {name} for {heights} blocks", time.monotonic() - t0)

    def kill_all(self) -> Perturbation:
        """SIGKILL every node, then start them all; recovered at the first new commit."""
        self._began = time.monotonic()
        names = self._names()
        top = max(self.net.height(n) for n in names)
        for name in names:
            self.net.kill(name)
        t0 = time.monotonic()
        self.net.up(names)
        self.net.wait_height(top + 1, names, timeout=RECOVERY_TIMEOUT)
        return self._done("kill -9 all + restart all", time.monotonic() - t0)

    def two_down(self, down: list[str], quiet_s: float = 4.0) -> Perturbation:
        """Stop two of four validators (a third of the power is gone: no quorum), check that
        nothing commits for `quiet_s`, then start them; recovered at the first new commit."""
        assert len(down) * 3 >= len(self._names()), "not enough validators down to halt"
        self._began = time.monotonic()
        for name in down:
            self.net.kill(name)
        rest = [n for n in self._names() if n not in down]
        # A block may already be past its precommits when the kill lands: let it finish.
        time.sleep(1.0)
        top = max(self.net.height(n) for n in rest)
        deadline = time.monotonic() + quiet_s
        while time.monotonic() < deadline:  # the observation window itself, not a wait
            now = max(self.net.height(n) for n in rest)
            assert now <= top, f"height {now} committed with {down} down (was {top})"
            time.sleep(0.25)
        t0 = time.monotonic()
        self.net.up(down)
        self.net.wait_height(top + 1, timeout=RECOVERY_TIMEOUT)
        return self._done(f"{len(down)} of {len(self._names())} down, then up",
                          time.monotonic() - t0)

    def events(self) -> list[tuple[float, str]]:
        """(start time, name) of every perturbation so far."""
        return [(p.started, p.name) for p in self.survived]

    # --- checks ------------------------------------------------------------------------------

    def assert_no_fork(self) -> int:
        """Every node has the same block hash and app hash at every height they all have;
        returns the number of heights compared."""
        names = self._names()
        upto = min(self.net.height(n) for n in names)
        assert upto > 0, "a node answers no height"
        chains = {n: block_ids(self.net, n, 1, upto) for n in names}
        first = chains[names[0]]
        for name in names[1:]:
            for height in range(1, upto + 1):
                assert chains[name][height] == first[height], (
                    f"fork at height {height}: {names[0]} {first[height]}, "
                    f"{name} {chains[name][height]}")
        return upto

    def assert_live(self, timeout: float = 60) -> None:
        """Every node's process is alive and its height advances."""
        names = self._names()
        for name in names:
            assert supervisor.node_pid(self.net.network.node_home(self.net.node(name))), (
                f"{name} is not running")
        top = max(self.net.height(n) for n in names)
        self.net.wait_height(top + 1, names, timeout=timeout)

    # --- helpers -----------------------------------------------------------------------------

    def _names(self) -> list[str]:
        return [n.name for n in self.net.network.nodes]

    def _pid(self, name: str) -> int:
        pid = supervisor.node_pid(self.net.network.node_home(self.net.node(name)))
        assert pid is not None, f"{name} is not running"
        return pid

    def _others_commit(self, name: str, heights: int = 1) -> None:
        rest = [n for n in self._names() if n != name]
        top = max(self.net.height(n) for n in rest)
        self.net.wait_height(top + heights, rest, timeout=RECOVERY_TIMEOUT)

    def _restart(self, what: str, names: list[str]) -> Perturbation:
        t0 = time.monotonic()
        self.net.up(names)
        self._caught_up(names)
        return self._done(what, time.monotonic() - t0)

    def _caught_up(self, names: list[str]) -> None:
        """The restarted nodes reach the height the others had when they came back, and
        commit one more."""
        rest = [n for n in self._names() if n not in names]
        top = max(self.net.height(n) for n in rest)
        self.net.wait_height(top + 1, names, timeout=RECOVERY_TIMEOUT)

    def _done(self, what: str, seconds: float) -> Perturbation:
        p = Perturbation(what, round(seconds, 2), self._began)
        self.survived.append(p)
        return p


def block_ids(net: LocalNet, name: str, low: int, high: int) -> dict[int, tuple[str, str]]:
    """height -> (block hash, app hash in its header) from the node's CometBFT RPC."""
    out: dict[int, tuple[str, str]] = {}
    url = f"{net.node(name).rpc_url}/blockchain"
    while high >= low:  # CometBFT answers at most 20 metas a request, newest first
        params = {"minHeight": low, "maxHeight": high}
        got = wait_for(lambda p=params: httpx.get(url, params=p, timeout=10).json()["result"],
                       30, f"{name}'s blocks {low}..{high}")
        for meta in got["block_metas"]:
            header = meta["header"]
            out[int(header["height"])] = (meta["block_id"]["hash"], header["app_hash"])
        high = min(out) - 1
    return out
