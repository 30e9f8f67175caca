"""Throwaway local networks for a benchmark run, on free loopback ports.

`LedgerNet` is a consortium network made by `init_network`, with one member per bench
account (so every sender is a consortium member) and run by the supervisor like `consortium
up`. `KvstoreNet` is the engine reference: homes made the same way (same validator count,
keys, genesis, config), whose `cometbft` runs CometBFT's built-in kvstore application
instead of ours.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import tomlkit

from consortium.bench.workloads import BenchAccount
from consortium.errors import NetworkError
from consortium.ledger.genesis import DEFAULT_BLOCK_GAS_LIMIT
from consortium.network import supervisor
from consortium.network.engine import require_cometbft
from consortium.network.init import init_network
from consortium.network.layout import Network
from consortium.network.node_config import DEFAULT_API_PROCESS

START_TIMEOUT = 90.0


def free_base_port() -> int:
    """A random base for a local network's ports; init skips any port found in use. Below
    Linux's range for outgoing connections' ports (32768-60999), which may take a port
    between init's check and the node's bind."""
    return random.randrange(10000, 32000, 100)


def bench_member_names(count: int) -> list[str]:
    return [f"Bench {i:04d}" for i in range(count)]


def wait_height(urls: list[str], height: int, timeout: float = START_TIMEOUT) -> None:
    """Wait until every CometBFT RPC in `urls` has committed `height`."""
    deadline = time.monotonic() + timeout
    pending = list(urls)
    while pending:
        url = pending[0]
        try:
            r = httpx.get(f"{url}/status", timeout=2)
            if int(r.json()["result"]["sync_info"]["latest_block_height"]) >= height:
                pending.pop(0)
                continue
        except (httpx.HTTPError, ValueError, KeyError):
            pass
        if time.monotonic() > deadline:
            raise NetworkError(f"{url} did not reach height {height} in {timeout:.0f} s")
        time.sleep(0.2)


class LedgerNet:
    """A consortium network whose member accounts are the bench accounts."""

    def __init__(self, root: Path, *, validators: int, accounts: int,
                 timeout_commit: str, roles: dict[str, list[str]] | None = None,
                 block_gas_limit: int = DEFAULT_BLOCK_GAS_LIMIT) -> None:
        """`roles`: genesis roles by member name (`bench_member_names`), as `consortium init
        --role` grants them."""
        base = free_base_port()
        self.network: Network = init_network(
            root, validators=validators, members=bench_member_names(accounts),
            base_port=base, api_port=base + 90, timeout_commit=timeout_commit,
            roles=roles or None, block_gas_limit=block_gas_limit,
        )

    def app_state(self) -> dict[str, Any]:
        """The genesis `app_state` the nodes start from (members, roles, alloc)."""
        home = self.network.node_home(self.network.nodes[0])
        doc: dict[str, Any] = json.loads((home / "config" / "genesis.json").read_text())
        return doc["app_state"]  # type: ignore[no-any-return]

    def set_engine(self, engine: str, *, api_process: str = DEFAULT_API_PROCESS) -> None:
        """Run every node with execution engine `engine` and its API where `api_process`
        says (their consortium.toml settings)."""
        for node in self.network.nodes:
            path = self.network.node_home(node) / "consortium.toml"
            doc = tomlkit.parse(path.read_text())
            doc["node"]["engine"] = engine
            doc["api"]["process"] = api_process
            path.write_text(tomlkit.dumps(doc))

    def accounts(self) -> list[BenchAccount]:
        """The members' accounts (from dev-accounts.json), in member order."""
        doc = json.loads((self.network.root / "dev-accounts.json").read_text())
        out = []
        for member in self.network.members:
            key = doc["accounts"][member.name]["private_key"]
            out.append(BenchAccount.from_key(bytes.fromhex(key.removeprefix("0x"))))
        return out

    @property
    def api_urls(self) -> list[str]:
        return [n.api_url for n in self.network.nodes]

    @property
    def rpc_urls(self) -> list[str]:
        return [n.rpc_url for n in self.network.nodes]

    def up(self) -> None:
        supervisor.up(self.network)
        wait_height(self.rpc_urls, 1)

    def pids(self) -> dict[str, int]:
        out = {}
        for node in self.network.nodes:
            pid = supervisor.node_pid(self.network.node_home(node))
            if pid is not None:
                out[node.name] = pid
        return out

    def down(self) -> None:
        try:
            supervisor.down(self.network)
        finally:
            for pid in self.pids().values():
                _kill_group(pid)


class KvstoreNet:
    """CometBFT's kvstore app on homes made like the consortium's."""

    def __init__(self, root: Path, *, validators: int, timeout_commit: str) -> None:
        base = free_base_port()
        self.network: Network = init_network(
            root, validators=validators, base_port=base, api_port=base + 90,
            timeout_commit=timeout_commit,
        )
        for node in self.network.nodes:
            path = self.network.node_home(node) / "config" / "config.toml"
            doc = tomlkit.parse(path.read_text())
            doc["proxy_app"] = "kvstore"
            doc["filter_peers"] = False  # the kvstore app does not answer peer filters
            path.write_text(tomlkit.dumps(doc))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    @property
    def rpc_urls(self) -> list[str]:
        return [n.rpc_url for n in self.network.nodes]

    def up(self) -> None:
        binary = require_cometbft()
        for node in self.network.nodes:
            home = self.network.node_home(node)
            with open(home / "cometbft.log", "ab") as log:
                self.procs[node.name] = subprocess.Popen(
                    [str(binary), "start", "--home", str(home)],
                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                    start_new_session=True,
                )
        wait_height(self.rpc_urls, 1)

    def pids(self) -> dict[str, int]:
        return {name: p.pid for name, p in self.procs.items() if p.poll() is None}

    def down(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _kill_group(pid: int) -> None:
    """SIGKILL a node's process group (its Python process and its engine) if still alive."""
    try:
        procs = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
        os.killpg(os.getpgid(pid), signal.SIGKILL)
        psutil.wait_procs(procs, timeout=10)
    except (psutil.NoSuchProcess, ProcessLookupError):
        pass
