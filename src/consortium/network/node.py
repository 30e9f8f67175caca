"""`consortium node --home DIR`: one node as one process tree.

The Python process serves ABCI on a unix socket and the HTTP/WebSocket API, and supervises
its `cometbft` child with the same home. SIGTERM or SIGINT stops the engine first (so it
sends nothing more to the application), then the servers, then closes the ledger.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import faulthandler
import fcntl
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING

import psutil

from consortium.errors import ConfigError, ConsortiumError, NetworkError
from consortium.network.engine import require_cometbft
from consortium.network.node_config import NodeConfig, read_toml
from consortium.network.ports import LOOPBACK, port_free

if TYPE_CHECKING:
    from consortium.api.metrics import NodeMetrics
    from consortium.ledger.ledger import Ledger

log = logging.getLogger("consortium.node")

ENGINE_STOP_TIMEOUT = 15.0
PR_SET_PDEATHSIG = 1


def engine_ports(home: Path) -> dict[str, int]:
    """The TCP ports CometBFT will listen on, from its config.toml."""
    path = home / "config" / "config.toml"
    doc = read_toml(path, f"{home} has no CometBFT config ({path} is missing)")
    ports = {}
    for section in ("rpc", "p2p"):
        laddr = doc.get(section, {}).get("laddr", "")
        if not isinstance(laddr, str) or not laddr.startswith("tcp://") or ":" not in laddr[6:]:
            raise ConfigError(f"{path}: [{section}] laddr must look like tcp://HOST:PORT")
        try:
            ports[section] = int(laddr.rsplit(":", 1)[1])
        except ValueError:
            raise ConfigError(f"{path}: [{section}] laddr has no valid port") from None
    return ports


def _die_with_parent() -> None:
    """In the engine child: get SIGTERM if the node process dies, even by SIGKILL."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _lock_home(cfg: NodeConfig) -> IO[str]:
    """An exclusive lock so two processes never open one node's database."""
    handle = open(cfg.home / "node.lock", "w")  # noqa: SIM115 - held for the process lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise NetworkError(f"another node process is already running on {cfg.home}") from None
    return handle


def running_pid(home: Path) -> int | None:
    """The pid of the node process running on `home` (its node.pid names a live process
    that is a `node`, not a zombie), if one is."""
    try:
        pid = int((home / "node.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if not any(part == "node" for part in proc.cmdline()):
            return None
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return None
    return pid


def _stop_command(home: Path, name: str, pid: int) -> str:
    """How to stop the node on `home`: `consortium down` on the network folder that holds
    it (a node home of its own, or a local network's `nodes/NAME`), else its pid."""
    if (home / "network.json").is_file():
        return f"`consortium down --dir {home}`"
    if (home.parent.parent / "network.json").is_file() and home.parent.name == "nodes":
        return f"`consortium down --dir {home.parent.parent} {name}`"
    return f"`kill {pid}`"


def preflight(home: Path) -> NodeConfig:
    """Every check that can fail before anything starts: not running yet, config, engine,
    ports."""
    cfg = NodeConfig.load(home)
    pid = running_pid(home)
    if pid is not None:  # its own ports would be named as taken: say what takes them
        raise NetworkError(f"{cfg.name} is already running (pid {pid}); stop it first with "
                           f"{_stop_command(home, cfg.name, pid)}")
    check_api_access(cfg)
    if not (home / "config" / "genesis.json").is_file():
        raise ConfigError(f"{home} has no genesis (config/genesis.json is missing)")
    ports = engine_ports(home)
    require_cometbft()
    from consortium.api.private_submit import PRIVACY_KEY_FILE, load_privacy_key

    if (home / PRIVACY_KEY_FILE).exists():  # a malformed one stops the node here; a missing
        load_privacy_key(home, create=False)  # one is made at the start, not by a check
    metrics = ([("metrics", cfg.metrics_listen[1], cfg.metrics_listen[0])]
               if cfg.metrics_listen else [])
    for what, port, host in (("API", cfg.api_port, cfg.api_host),
                             ("RPC", ports["rpc"], LOOPBACK), ("P2P", ports["p2p"], LOOPBACK),
                             *metrics):
        for where in dict.fromkeys((LOOPBACK, host)):  # loopback as before, and its host
            if not port_free(port, where):
                on = "" if where == LOOPBACK else f" on {where}"
                raise NetworkError(f"{what} port {port} of node {cfg.name} is already in use"
                                   f"{on}: choose another port, or stop what listens there")
    from consortium.network.state_sync import prepare_state_sync

    trust = prepare_state_sync(home, cfg.app_dir)  # [state_sync] enable, empty ledger
    if trust is not None:
        log.info("state sync from %s, trusting block %d (%s)", trust.rpc_servers[0],
                 trust.height, trust.hash)
    return cfg


def check_api_access(cfg: NodeConfig) -> None:
    """Refuse an API open beyond loopback without auth (unless `api.allow_open`), and a
    TLS certificate and key that do not load or do not match."""
    from consortium.api.auth import check_exposure

    access = cfg.api_access
    check_exposure(cfg.api_host, access, cfg.home / "consortium.toml")
    if access.tls_cert is not None and access.tls_key is not None:
        from consortium.network.tls import check_server_files

        check_server_files(cfg.home / access.tls_cert, cfg.home / access.tls_key,
                           cfg.home / access.tls_client_ca if access.tls_client_ca else None)


def _upgrade_stop(ledger: Ledger) -> str | None:
    """At start, a scheduled upgrade this node has no handler for: why to stop at once if
    the next block is the upgrade's (it could not execute it), else a warning."""
    from consortium.ledger.upgrades import UpgradeRequired, unprepared_plan

    height, app_hash = ledger.info()
    if not app_hash:  # before genesis: no state yet
        return None
    try:
        plan = unprepared_plan(
            lambda a, s: int.from_bytes(ledger.get_storage_at("0x" + a.hex(), s), "big"))
    except ConsortiumError as exc:  # reading it never stops a node
        log.warning("could not read the scheduled upgrade: %s", exc)
        return None
    if plan is None:
        return None
    if plan.height == height + 1:
        reason = str(UpgradeRequired(plan))
        log.critical("%s", reason)
        return reason
    log.warning("upgrade %r is scheduled at height %d and this node has no handler for it: "
                "it will stop there; install consortium >= %s before", plan.name, plan.height,
                plan.version)
    return None


class _Observer:
    """The ABCI app's observer: the node's metrics count blocks and CheckTx answers, and
    the privacy groups' processor hears of each commit (quick: it only wakes a thread)."""

    def __init__(self, metrics: NodeMetrics, on_commit: Callable[[], None]) -> None:
        self.metrics = metrics
        self.on_commit = on_commit

    def checked(self, code: int) -> None:
        self.metrics.checked(code)

    def finalized(self, height: int, txs: int, time_ns: int, seconds: float) -> None:
        self.metrics.finalized(height, txs, time_ns, seconds)

    def committed(self, seconds: float) -> None:
        self.metrics.committed(seconds)
        self.on_commit()


def settle_gc() -> None:
    """The node's collector settings, once what lives as long as the node exists (bench
    scripts that run the ledger in process use them too)."""
    # Everything made so far (modules, py-evm's classes, the app) lives as long as the node:
    # out of the cyclic collector's way, so its collections during blocks scan only what the
    # blocks allocate.
    gc.collect()
    gc.freeze()
    # Young collections every 50,000 allocations instead of 700: a block's and a batch's
    # short-lived objects no longer trigger ~1,000 collections and ~8 full ones per 30,000
    # transfers (7-8 % of the node's CPU, pauses up to 26 ms; 2 % after), issue 23
    gc.set_threshold(50_000, 20, 10)


def run_node(home: Path) -> int:
    """Run a node until it is told to stop or its engine dies; returns the exit code."""
    home = home.resolve()
    cfg = preflight(home)
    from consortium.ledger.upgrades import load_upgrade_modules

    load_upgrade_modules()  # CONSORTIUM_UPGRADE_MODULES: extra upgrade handlers
    lock = _lock_home(cfg)
    # SIGUSR1 writes every thread's stack to the log (node.log), even while a thread holds the
    # GIL: what a node that stopped answering is doing (docs/operations.md)
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        return asyncio.run(_run(cfg))
    finally:
        lock.close()


async def _run(cfg: NodeConfig) -> int:
    # Imported here: loading the ledger pulls in py-evm and the generated protobuf classes.
    from consortium.abci.consensus_thread import ConsensusThread
    from consortium.abci.server import AbciServer
    from consortium.api.app import create_app
    from consortium.api.auth import TokenCheck
    from consortium.api.engine_client import CheckTxWatch
    from consortium.api.http_server import api_server
    from consortium.api.metrics_probe import node_metrics
    from consortium.api.private_submit import load_privacy_key, privacy_node
    from consortium.ledger.application import ConsortiumApp
    from consortium.ledger.ledger import Ledger
    from consortium.ledger.snapshots import NodeSnapshots
    from consortium.natives import chain_natives

    binary = require_cometbft()
    engine_rpc = f"http://127.0.0.1:{engine_ports(cfg.home)['rpc']}"
    ledger = Ledger(cfg.app_dir, engine=cfg.engine, natives=chain_natives())
    stop_reason = _upgrade_stop(ledger)
    if stop_reason is not None:  # the next block is an upgrade's this node cannot run
        from consortium.ledger.upgrades import UPGRADE_EXIT_CODE

        print(f"consortium node {cfg.name} stopped: {stop_reason}", file=sys.stderr, flush=True)
        ledger.close()
        return UPGRADE_EXIT_CODE
    metrics = node_metrics(cfg.name, ledger, engine_rpc, cfg.home / "snapshots")
    # privacy groups: the processor follows committed blocks on its own thread
    privacy = privacy_node(ledger, cfg.app_dir, load_privacy_key(cfg.home))
    # The API (this loop) learns CheckTx answers from the ABCI app directly; the ABCI app
    # runs on its own thread and loop, so no client of the API can delay consensus.
    checks = CheckTxWatch(asyncio.get_running_loop())
    halted = asyncio.Event()  # set (from the ABCI thread) when an upgrade this node lacks is due
    halt_loop = asyncio.get_running_loop()

    def on_halt(reason: str) -> None:
        print(f"consortium node {cfg.name} stopped: {reason}", file=sys.stderr, flush=True)
        halt_loop.call_soon_threadsafe(halted.set)

    consensus = ConsensusThread(
        AbciServer(ConsortiumApp(ledger, on_check=checks.resolve, on_halt=on_halt),
                   cfg.abci_socket))
    # state sync: snapshots every [state_sync] snapshot_interval blocks, served to peers
    snapshots = NodeSnapshots.for_home(cfg.home, cfg.app_dir)
    consensus.server.app.snapshots = snapshots
    groups = privacy.groups  # None: this software has no privacy groups
    consensus.server.app.observer = _Observer(
        metrics, groups.notify if groups is not None else lambda: None)
    access = cfg.api_access
    mode = access.mode(cfg.api_host)
    tokens = TokenCheck(cfg.home) if mode == "token" else None
    tls = [str(cfg.home / p) if p else None
           for p in (access.tls_cert, access.tls_key, access.tls_client_ca)]
    api = api_server(create_app(ledger, engine_rpc, node_name=cfg.name, checks=checks,
                                journal=cfg.app_dir / "tx-journal",
                                read_limits=cfg.read_limits, tokens=tokens,
                                client_certificates=mode == "mtls",
                                cors_origins=access.cors_origins,
                                client_limits=cfg.client_limits, metrics=metrics,
                                console=cfg.console_enabled,
                                privacy=privacy if groups is not None else None),
                     cfg.api_host, cfg.api_port, cfg.api_limits,  # owns no signal handlers
                     tls_cert=tls[0], tls_key=tls[1], tls_client_ca=tls[2])
    settle_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    stop_metrics = metrics.serve(*cfg.metrics_listen) if cfg.metrics_listen else None
    cfg.pid_file.write_text(f"{os.getpid()}\n")
    if groups is not None:
        groups.start()
    await asyncio.to_thread(consensus.start)
    api_task = asyncio.create_task(api.serve())
    engine = await asyncio.create_subprocess_exec(
        str(binary),
        "start",
        "--home",
        str(cfg.home),
        stdin=asyncio.subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    log.info(
        "node %s (%s) started: engine pid %d, execution on %s, API %s://%s:%d (auth %s)",
        cfg.name,
        cfg.member,
        engine.pid,
        ledger.engine,
        "https" if access.tls_cert else "http",
        cfg.api_host,
        cfg.api_port,
        mode,
    )
    engine_done = asyncio.create_task(engine.wait())
    stop_wait = asyncio.create_task(stop.wait())
    halt_wait = asyncio.create_task(halted.wait())
    done, _ = await asyncio.wait(
        {engine_done, stop_wait, api_task, halt_wait}, return_when=asyncio.FIRST_COMPLETED
    )
    code = 0
    if halted.is_set():  # the engine may have died of the unanswered block meanwhile
        from consortium.ledger.upgrades import UPGRADE_EXIT_CODE

        code = UPGRADE_EXIT_CODE
        log.error("node %s stops for a software upgrade (exit code %d)", cfg.name, code)
    elif engine_done in done:
        code = engine.returncode or 1
        log.error("engine exited with code %s; stopping node %s", engine.returncode, cfg.name)
    elif api_task in done:
        code = 1
        log.error("API server stopped unexpectedly; stopping node %s", cfg.name)
    else:
        log.info("stopping node %s", cfg.name)
    if engine.returncode is None:
        engine.terminate()
        try:
            await asyncio.wait_for(engine.wait(), ENGINE_STOP_TIMEOUT)
        except TimeoutError:
            log.warning("engine did not stop in %.0fs; killing it", ENGINE_STOP_TIMEOUT)
            engine.kill()
            await engine.wait()
    stop_wait.cancel()
    halt_wait.cancel()
    api.should_exit = True
    with contextlib.suppress(Exception):
        await asyncio.wait_for(api_task, 5)
    await asyncio.to_thread(consensus.stop)
    if groups is not None:
        await asyncio.to_thread(groups.stop)
    if stop_metrics is not None:
        stop_metrics()
    snapshots.stop()
    ledger.close()
    with contextlib.suppress(FileNotFoundError):
        cfg.pid_file.unlink()
    log.info("node %s stopped", cfg.name)
    return code
