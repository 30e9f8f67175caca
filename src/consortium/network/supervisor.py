"""Start, stop and inspect the nodes of a local network (`consortium up / down / status`).

Each node runs as its own background process (`consortium node --home …`) writing to its
`node.log`; its pid file says it is running. Status comes from each engine's RPC.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

from consortium.errors import ConfigError, NetworkError
from consortium.network.layout import JsonFields, Network, NodeEntry
from consortium.network.node import engine_ports, preflight, running_pid
from consortium.network.node_config import NodeConfig

START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0

Progress = Callable[[str], None]


def node_pid(home: Path) -> int | None:
    """The pid of the node process running on `home`, if one is alive."""
    return running_pid(home)


def running_nodes(network: Network) -> list[str]:
    return [n.name for n in network.nodes if node_pid(network.node_home(n)) is not None]


def start_node(network: Network, node: NodeEntry) -> subprocess.Popen[bytes]:
    """Start one node in the background, its output appended to its node.log."""
    home = network.node_home(node)
    preflight(home)
    log_file = NodeConfig.load(home).log_file
    with open(log_file, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "consortium.cli.main", "node", "--home", str(home)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            # A process group of its own (stopped as one; a terminal's Ctrl-C does not reach
            # it), but the caller's session: Linux schedules each session as one group
            # (autogroup), so nodes in sessions of their own would share the cores as
            # equals, and one node's API reads, though they run at SCHED_IDLE, would take
            # turns with the other nodes' consensus (a flood of eth_calls on 2 of 4 local
            # validators cut the block rate to x0.72 that way; in one session, x1.0).
            process_group=0,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    return proc


def up(
    network: Network, names: list[str] | None = None, *, progress: Progress = lambda _m: None
) -> list[str]:
    """Start the named nodes (default: all not yet running) and wait until each API answers."""
    nodes = [network.node(n) for n in names] if names else network.nodes
    to_start = []
    for node in nodes:
        if node_pid(network.node_home(node)) is not None:
            progress(f"{node.name} is already running")
        else:
            preflight(network.node_home(node))  # every check before anything starts
            to_start.append(node)
    started: list[tuple[NodeEntry, subprocess.Popen[bytes]]] = []
    log_starts: dict[str, int] = {}  # where each node's log was: a failure quotes what follows
    try:
        for node in to_start:
            log_starts[node.name] = log_size(network.node_home(node))
            started.append((node, start_node(network, node)))
            progress(f"starting {node.name} ({node.member})")
        deadline = time.monotonic() + START_TIMEOUT
        for node, proc in started:
            _wait_up(network, node, proc, deadline, progress, log_starts[node.name])
    except _NodeExited:
        # all or nothing: the nodes this call started stop again (their logs say how far
        # they got), rather than run on unannounced beside the error. A node that is only
        # slow (a long replay) is left running: the timeout's message says so.
        _stop_started(started, progress)
        raise
    return [n.name for n, _ in started]


class _NodeExited(NetworkError):
    """A node `up` started exited before it was up."""


def _wait_up(network: Network, node: NodeEntry, proc: subprocess.Popen[bytes],
             deadline: float, progress: Progress, log_start: int = 0) -> None:
    """Until the node's API and its engine's RPC both answer: an API alone may answer for
    the moment its engine takes to fail (e.g. on a genesis it cannot read). A node that
    exits is quoted from what this start wrote to its log (from byte `log_start`)."""
    while True:
        if proc.poll() is not None:
            raise _NodeExited(
                f"{node.name} exited with code {proc.returncode}: "
                f"{last_log_line(network.node_home(node), since=log_start)}"
            )
        if _api_alive(network, node) and _engine_alive(network, node):
            progress(f"{node.name} is up: API {api_url_of(network, node)}")
            return
        if time.monotonic() > deadline:
            raise NetworkError(
                f"{node.name} did not answer within {START_TIMEOUT:.0f}s; it is still "
                f"starting (its log: {network.node_home(node) / 'node.log'}), or stop it with "
                f"`consortium down --dir {shlex.quote(str(network.root))} {node.name}`")
        time.sleep(0.2)


def _stop_started(started: list[tuple[NodeEntry, subprocess.Popen[bytes]]],
                  progress: Progress) -> None:
    """Stop again, as `down` does, the nodes this `up` started that still run."""
    live = {node.name: proc for node, proc in started if proc.poll() is None}
    if live:
        progress("stopping " + ", ".join(live) + " again")
        _stop({name: proc.pid for name, proc in live.items()}, progress)
    for proc in live.values():
        proc.poll()  # reaped by _stop: lets the Popen know


def down(
    network: Network, names: list[str] | None = None, *, progress: Progress = lambda _m: None
) -> list[str]:
    """Stop nodes with SIGTERM (SIGKILL after a timeout); returns the names stopped."""
    nodes = [network.node(n) for n in names] if names else network.nodes
    pids = {}
    for node in nodes:
        pid = node_pid(network.node_home(node))
        if pid is not None:
            pids[node.name] = pid
            progress(f"stopping {node.name}")
    _stop(pids, progress)
    return list(pids)


def _stop(pids: dict[str, int], progress: Progress) -> None:
    """SIGTERM each node (it stops its engine first), then wait; SIGKILL the tree of one
    still running after STOP_TIMEOUT."""
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    for name, pid in pids.items():
        try:
            proc = psutil.Process(pid)
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except psutil.NoSuchProcess:
            pass
        except psutil.TimeoutExpired:
            progress(f"{name} did not stop in time; killing it")
            _kill_tree(pid)


def _kill_tree(pid: int) -> None:
    try:
        proc = psutil.Process(pid)
        for child in proc.children(recursive=True):
            child.kill()
        proc.kill()
    except psutil.NoSuchProcess:
        pass


def api_url_of(network: Network, node: NodeEntry) -> str:
    """The node's API as its home's settings say (https with TLS, its listen address), or
    the layout's loopback URL when they cannot be read."""
    try:
        return NodeConfig.load(network.node_home(node)).api_url
    except ConfigError:
        return node.api_url


def _api_alive(network: Network, node: NodeEntry) -> bool:
    """Whether the node's API answers /health. Over TLS the certificate is not checked:
    the probe sends no credential and trusts nothing but the status code. An API that takes
    only client certificates (`auth = "mtls"`) refuses every connection without one, /health
    too, and the supervisor holds none (only the CA's certificate is in the node's home): it
    is up when its TLS listener completes a handshake (`_tls_listening`), which uvicorn opens
    only once the app has started."""
    url = api_url_of(network, node)
    if _takes_client_certificates(network, node):
        return _tls_listening(url)
    try:
        return httpx.get(f"{url}/health", timeout=1.0, verify=False).status_code == 200
    except httpx.HTTPError:
        return False


def _takes_client_certificates(network: Network, node: NodeEntry) -> bool:
    """Whether the node's API serves only clients with a certificate (`auth = "mtls"`)."""
    try:
        cfg = NodeConfig.load(network.node_home(node))
    except ConfigError:
        return False
    return cfg.api_access.mode(cfg.api_host) == "mtls"


def _tls_listening(url: str, timeout: float = 1.0) -> bool:
    """Whether a TLS server at `url` completes a handshake (TLS 1.3: the client's side ends
    before the server checks the client's certificate, so a server asking for one is seen
    too). Its certificate is not checked: the probe trusts nothing it is told."""
    parts = urlsplit(url)
    if parts.hostname is None or parts.port is None:
        return False
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with socket.create_connection((parts.hostname, parts.port), timeout=timeout) as raw, \
                context.wrap_socket(raw) as tls:
            return tls.getpeercert(binary_form=True) is not None
    except (OSError, ssl.SSLError):
        return False


def _engine_alive(network: Network, node: NodeEntry) -> bool:
    """Whether the node's engine (CometBFT) answers /status on its RPC, where the node itself
    reaches it (loopback, its config.toml's port)."""
    try:
        port = engine_ports(network.node_home(node))["rpc"]
    except ConfigError:
        port = node.rpc_port
    try:
        return httpx.get(f"http://127.0.0.1:{port}/status", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def log_size(home: Path) -> int:
    """The size of a node's log, 0 before it has one (where a start's lines begin)."""
    try:
        return (home / "node.log").stat().st_size
    except OSError:
        return 0


def last_log_line(home: Path, since: int = 0) -> str:
    """What a node that stopped said last: the first error of its log's last lines (the
    cause; what follows it is the node stopping), else its last line. With `since`, only
    what the log gained from that byte on (one start's lines: an earlier run's error is
    not this one's cause)."""
    try:
        with (home / "node.log").open("rb") as f:
            f.seek(since)
            lines = f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    errors = [line for line in lines[-20:] if "ERROR" in line]
    return errors[0] if errors else lines[-1] if lines else "(empty log)"


@dataclass
class NodeStatus(JsonFields):
    name: str
    member: str
    running: bool
    height: int | None = None
    app_hash: str | None = None
    peers: int | None = None
    voting_power: int | None = None
    catching_up: bool | None = None
    api_url: str = ""
    rpc_url: str = ""
    node_id: str = ""


def node_status(network: Network, node: NodeEntry, timeout: float = 2.0) -> NodeStatus:
    status = NodeStatus(
        name=node.name,
        member=node.member,
        running=node_pid(network.node_home(node)) is not None,
        api_url=api_url_of(network, node),  # https with TLS, the configured host
        rpc_url=node.rpc_url,
        node_id=node.node_id,
    )
    try:
        with httpx.Client(timeout=timeout) as client:
            info = client.get(f"{node.rpc_url}/status").json()["result"]
            net = client.get(f"{node.rpc_url}/net_info").json()["result"]
    except (httpx.HTTPError, ValueError, KeyError):
        return status
    sync = info["sync_info"]
    status.height = int(sync["latest_block_height"])
    status.app_hash = sync["latest_app_hash"].lower()
    status.catching_up = bool(sync["catching_up"])
    status.voting_power = int(info["validator_info"]["voting_power"])
    status.peers = int(net["n_peers"])
    return status


def network_status(network: Network) -> list[NodeStatus]:
    return [node_status(network, n) for n in network.nodes]


def first_live_node(network: Network) -> NodeEntry:
    """The first node whose API answers: what `--dir` commands talk to
    (at `api_url_of(network, node)`)."""
    for node in network.nodes:
        if _api_alive(network, node):
            return node
    raise NetworkError(
        f"no node of {network.root} is running; "
        f"start them with `consortium up --dir {network.root}`"
    )
