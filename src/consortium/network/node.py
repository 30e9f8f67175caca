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
import json
import logging
import os
import re
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import psutil

from consortium import compiled
from consortium.errors import ConfigError, ConsortiumError, NetworkError
from consortium.network.engine import EngineOutput, require_cometbft
from consortium.network.node_config import NodeConfig, read_toml
from consortium.network.ports import LOOPBACK, port_free

if TYPE_CHECKING:
    from consortium.api.metrics import NodeMetrics
    from consortium.ledger.ledger import Ledger

log = logging.getLogger("consortium.node")

# a node process's command line has one of these (`consortium node`, the supervisor's entry)
NODE_COMMAND_WORDS = frozenset({"node", "consortium.network.node_process"})
ENGINE_STOP_TIMEOUT = 15.0
ENGINE_FAILURE_EXIT_CODE = 1  # the engine logged a consensus failure: it commits no more
PR_SET_PDEATHSIG = 1
SIG_IGN = 1  # <signal.h>'s SIG_IGN, for libc's signal()
VALIDATOR_KEY = "config/priv_validator_key.json"  # CometBFT's defaults (config.toml may
VALIDATOR_STATE = "data/priv_validator_state.json"  # name others)
# CometBFT's temporary files (its address book is written through one, then renamed); a
# stop or kill in between leaves one behind in config/
ENGINE_TEMP_FILE = re.compile(r"write-file-atomic-\d+")


def describe_exit(code: int | None) -> str:
    """`code N`, and for a negative N (a process killed by a signal) the signal's name:
    `code -7 (SIGBUS)`."""
    if code is None or code >= 0:
        return f"code {code}"
    try:
        return f"code {code} ({signal.Signals(-code).name})"
    except ValueError:
        return f"code {code} (signal {-code})"


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


def _child_setup() -> None:
    """In the engine child (and the API's own process), before it execs: get SIGTERM if the
    node process dies, even by SIGKILL; and ignore SIGHUP, as the node does (an ignored
    signal stays ignored across exec, and Go keeps it so while the program does not ask for
    it: CometBFT asks only for SIGINT and SIGTERM)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    libc.signal.argtypes = [ctypes.c_int, ctypes.c_void_p]
    libc.signal.restype = ctypes.c_void_p
    libc.signal(signal.SIGHUP, SIG_IGN)


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
    that is a node: `consortium node …` or `python -m consortium.network.node_process …`,
    not a zombie), if one is."""
    try:
        pid = int((home / "node.pid").read_text().strip())
    except (OSError, ValueError):
        return None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        if not any(part in NODE_COMMAND_WORDS for part in proc.cmdline()):
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
    check_ledger_files(cfg)
    check_validator_key(home, cfg.name)
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


def check_ledger_files(cfg: NodeConfig) -> None:
    """Refuse LMDB files cut short (the ledger's, the transaction journal's): opened, they
    would kill the node with SIGBUS at the first read past their end."""
    from consortium.ledger.lmdb_file import lmdb_damage

    ledger = cfg.app_dir / "data.mdb"
    damage = lmdb_damage(ledger)
    if damage is not None:
        raise ConfigError(
            f"the ledger {ledger} is damaged: it {damage}; restore the node from a backup "
            f"(`consortium restore ARCHIVE --home NEW`), or remove {cfg.app_dir} to replay "
            "the chain from genesis")
    journal = cfg.app_dir / "tx-journal" / "data.mdb"
    damage = lmdb_damage(journal)
    if damage is not None:
        raise ConfigError(
            f"the transaction journal {journal} is damaged: it {damage}; move "
            f"{journal.parent} aside to start without the transactions it kept")


def _engine_file(home: Path, key: str, default: str) -> Path:
    """A file CometBFT's config.toml names (relative to the home), else its default."""
    try:
        value = read_toml(home / "config" / "config.toml", "").get(key)
    except ConfigError:
        value = None
    return home / (value if isinstance(value, str) and value else default)


def _network_entry(home: Path) -> tuple[Path, bool] | None:
    """(network.json, the node's `validator` flag) of the network folder that holds `home`:
    the home itself (`node setup`, restore of one) or a local network's `nodes/NAME`."""
    from consortium.network.layout import Network

    folders = [home]
    if home.parent.name == "nodes":
        folders.append(home.parent.parent)
    for root in folders:
        if not (root / "network.json").is_file():
            continue
        try:
            network = Network.load(root)
        except ConsortiumError:
            continue
        for node in network.nodes:
            if (root / node.home).resolve() == home.resolve():
                return root / "network.json", node.validator
    return None


def check_validator_key(home: Path, name: str) -> None:
    """Refuse a validator's home whose validator key is missing: CometBFT would make a new
    key silently and the node would run on, signing nothing. A validator is a node that has
    signed (its signing state is past height 0) or that its network.json says is one.

    A home with neither the key nor its signing state is a fresh-key home, as `consortium
    restore` makes by default (it leaves both out): CometBFT makes both, and it starts."""
    key = _engine_file(home, "priv_validator_key_file", VALIDATOR_KEY)
    state = _engine_file(home, "priv_validator_state_file", VALIDATOR_STATE)
    if key.is_file() or not state.is_file():
        return
    why: str | None = None
    try:
        signed = int(json.loads(state.read_text()).get("height", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        signed = 0
    if signed > 0:
        why = f"its signing state ({state.name}) says it signed at height {signed}"
    else:
        entry = _network_entry(home)
        if entry is not None and entry[1]:
            why = f"{entry[0]} lists it as a validator"
    if why is None:
        return
    raise ConfigError(
        f"validator key {key} is missing, and {name} is a validator ({why}): started "
        "without it, CometBFT would make a new key and the node would sign nothing. Restore "
        f"the key from a backup (copy the old {key.name} there, or `consortium restore "
        "ARCHIVE --as-validator`); to run this home as a full node with a new key instead, "
        f"also move {state} aside")


def remove_engine_temp_files(home: Path) -> list[str]:
    """Remove CometBFT's leftover temporary files (`config/write-file-atomic-*`), only
    while no engine runs on `home`; answers the names removed."""
    config = home / "config"
    try:
        stale = [p for p in config.iterdir()
                 if ENGINE_TEMP_FILE.fullmatch(p.name) and p.is_file() and not p.is_symlink()]
    except OSError:
        return []
    if not stale or _engine_running(home):
        return []
    removed = []
    for path in stale:
        with contextlib.suppress(OSError):
            path.unlink()
            removed.append(path.name)
    return removed


def _engine_running(home: Path) -> bool:
    """Whether a CometBFT process runs with `--home` this home (a previous node's engine
    still stopping, say)."""
    target = str(home.resolve())
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        if "--home" not in cmdline or "start" not in cmdline:
            continue
        at = cmdline.index("--home")
        if at + 1 < len(cmdline) and cmdline[at + 1] in (target, str(home)) and \
                "node" not in cmdline:
            return True
    return False


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


def open_ledger(cfg: NodeConfig, opener: Callable[[], Ledger]) -> Ledger:
    """The node's ledger from `opener`; what LMDB or the OS refuses (a file it may not
    write, a directory in a file's place, a full disk) stops the node in one line naming
    the folder, with the free space of its disk after a storage error."""
    import lmdb

    from consortium.network.disk_space import data_dirs, disk_note

    try:
        return opener()
    except (lmdb.Error, OSError) as exc:
        raise NetworkError(disk_note(
            f"the ledger at {cfg.app_dir} cannot be opened: {exception_line(exc)}",
            data_dirs(cfg.home))) from None


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


def _fileno(stream: IO[str]) -> int:
    """The file descriptor under a standard stream (1 or 2 when it has none, e.g. a test's
    capture): where the engine's output goes on."""
    try:
        return stream.fileno()
    except (AttributeError, ValueError, OSError):
        return 1 if stream is sys.stdout else 2


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
    """Run a node until it is told to stop or its engine dies; returns the exit code
    (`consortium node` records how the run ended, an unexpected exception's line too)."""
    home = home.resolve()
    if running_pid(home) is None:  # a second start on a running home is refused, not a run
        # the first line of every run: where `status` finds this run in node.log
        log.info("starting node in %s (pid %d)", home, os.getpid())
        log.info("%s", compiled.describe())
    return _run_locked(home, preflight(home))


def exception_line(exc: BaseException) -> str:
    """An exception as Python's traceback ends with it: `lmdb.Error: /x/app: Is a
    directory`."""
    kind = type(exc)
    name = kind.__qualname__ if kind.__module__ == "builtins" else \
        f"{kind.__module__}.{kind.__qualname__}"
    return f"{name}: {exc}" if str(exc) else name


def _run_locked(home: Path, cfg: NodeConfig) -> int:
    from consortium.ledger.upgrades import load_upgrade_modules

    load_upgrade_modules()  # CONSORTIUM_UPGRADE_MODULES: extra upgrade handlers
    lock = _lock_home(cfg)
    # SIGHUP (logrotate's postrotate, a closed terminal) must not stop a node: ignored here
    # already, logged once the loop runs (`_run`); node.log is appended to, so copytruncate
    # rotates it
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    if not cfg.consortium_key_path.is_file():  # it runs; its users' invoice and asset ids do not
        log.warning("no consortium key at %s: this node cannot make invoice fingerprints or "
                    "asset ids for its users; `consortium key open` installs it "
                    "(docs/ceremony.md)", cfg.consortium_key_path)
    removed = remove_engine_temp_files(home)
    if removed:
        log.info("removed %d leftover engine temp file(s) from %s: %s", len(removed),
                 home / "config", ", ".join(sorted(removed)))
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
    from consortium.api.check_relay import CheckTxRelay
    from consortium.api.engine_client import CheckTxWatch
    from consortium.api.metrics_probe import node_metrics
    from consortium.api.metrics_relay import serve_node_metrics
    from consortium.api.private_submit import load_privacy_key, privacy_node
    from consortium.ledger.application import ConsortiumApp
    from consortium.ledger.ledger import Ledger
    from consortium.ledger.snapshots import NodeSnapshots
    from consortium.natives import chain_natives
    from consortium.network.api_process import node_api, start_api_process

    binary = require_cometbft()
    engine_rpc = f"http://127.0.0.1:{engine_ports(cfg.home)['rpc']}"
    ledger = open_ledger(cfg, lambda: Ledger(cfg.app_dir, engine=cfg.engine,
                                             natives=chain_natives()))
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

    own_process = cfg.api_process == "own"
    relay: CheckTxRelay | None = None
    metrics_server: asyncio.base_events.Server | None = None
    if own_process:  # the API's own process hears CheckTx answers and reads metrics here
        relay = CheckTxRelay(asyncio.get_running_loop(), cfg.checks_socket,
                             on_senders=ledger.senders.know, on_abi=ledger.store_abi,
                             pending_nonces=ledger.pending_nonces)
        await relay.start()
        metrics_server = await serve_node_metrics(cfg.metrics_socket, metrics.exposition)
    consensus = ConsensusThread(
        AbciServer(ConsortiumApp(ledger, on_check=relay.resolve if relay else checks.resolve,
                                 on_halt=on_halt),
                   cfg.abci_socket))
    # state sync: snapshots every [state_sync] snapshot_interval blocks, served to peers
    snapshots = NodeSnapshots.for_home(cfg.home, cfg.app_dir)
    consensus.server.app.snapshots = snapshots
    groups = privacy.groups  # None: this software has no privacy groups
    consensus.server.app.observer = _Observer(
        metrics, groups.notify if groups is not None else lambda: None)
    api = None if own_process else node_api(
        cfg, ledger, engine_rpc, checks, metrics=metrics,
        privacy=privacy if groups is not None else None)
    if relay is not None:  # the API's own process attests the groups' roots
        privacy.listeners.append(relay.private_block)
    settle_gc()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: log.warning(
        "SIGHUP ignored: node %s keeps running (stop it with SIGTERM; rotate node.log with "
        "copytruncate)", cfg.name))
    failed = asyncio.Event()  # the engine logged a consensus failure: it commits no more

    def on_failure(reason: str) -> None:
        loop.call_soon_threadsafe(failed.set)

    stop_metrics = metrics.serve(*cfg.metrics_listen) if cfg.metrics_listen else None
    cfg.pid_file.write_text(f"{os.getpid()}\n")
    if groups is not None:
        groups.start()
    await asyncio.to_thread(consensus.start)
    api_child: asyncio.subprocess.Process | None = None
    if api is None:
        api_child = await start_api_process(cfg, engine_rpc, _child_setup)
        api_task: asyncio.Task[Any] = asyncio.create_task(api_child.wait())
    else:
        api_task = asyncio.create_task(api.serve())
    # The engine's output passes through the node (into its own stdout and stderr: node.log)
    # so the node sees a consensus failure, after which the engine runs on but never commits
    outputs: list[EngineOutput] = []
    ends: list[int] = []
    for sink in (sys.stdout, sys.stderr):
        read_end, write_end = os.pipe()
        ends.append(write_end)
        outputs.append(EngineOutput(read_end, _fileno(sink), on_failure,
                                    name=f"engine-{'stdout' if sink is sys.stdout else 'stderr'}"))
    try:
        engine = await asyncio.create_subprocess_exec(
            str(binary),
            "start",
            "--home",
            str(cfg.home),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=ends[0],
            stderr=ends[1],
            preexec_fn=_child_setup,
        )
    finally:
        for end in ends:
            os.close(end)
    for output in outputs:
        output.start()
    access = cfg.api_access
    log.info(
        "node %s (%s) started: engine pid %d, execution on %s, API %s://%s:%d (auth %s%s)",
        cfg.name,
        cfg.member,
        engine.pid,
        ledger.engine,
        "https" if access.tls_cert else "http",
        cfg.api_host,
        cfg.api_port,
        access.mode(cfg.api_host),
        "" if api_child is None else f"; in its own process, pid {api_child.pid}",
    )
    engine_done = asyncio.create_task(engine.wait())
    stop_wait = asyncio.create_task(stop.wait())
    halt_wait = asyncio.create_task(halted.wait())
    failed_wait = asyncio.create_task(failed.wait())
    done, _ = await asyncio.wait(
        {engine_done, stop_wait, api_task, halt_wait, failed_wait},
        return_when=asyncio.FIRST_COMPLETED
    )
    code = 0
    if halted.is_set():  # the engine may have died of the unanswered block meanwhile
        from consortium.ledger.upgrades import UPGRADE_EXIT_CODE

        code = UPGRADE_EXIT_CODE
        log.error("node %s stops for a software upgrade (exit code %d)", cfg.name, code)
    elif failed.is_set():
        code = ENGINE_FAILURE_EXIT_CODE
        reason = next((o.failure for o in outputs if o.failure is not None), "")
        log.error("engine halted: CONSENSUS FAILURE (%s); it commits no more blocks; stopping "
                  "node %s", reason, cfg.name)
    elif engine_done in done:
        # the engine's own failure code; 1 when it ended by a signal (as a stop after the
        # ledger failed can end it): a node's exit code is never 256 less a signal number
        returned = engine.returncode or 0
        code = returned if returned > 0 else 1
        log.error("engine exited with %s; stopping node %s", describe_exit(engine.returncode),
                  cfg.name)
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
    failed_wait.cancel()
    for output in outputs:  # the engine is gone: its pipes end
        await asyncio.to_thread(output.join, 5)
    if api is not None:
        api.should_exit = True
    elif api_child is not None and api_child.returncode is None:
        api_child.terminate()
    with contextlib.suppress(Exception):
        await asyncio.wait_for(api_task, 5)
    if api_child is not None and api_child.returncode is None:
        api_child.kill()
        await api_child.wait()
    if metrics_server is not None:
        metrics_server.close()
    if relay is not None:
        await relay.stop()
        log.info("senders its API's process recovered, taken by CheckTx: %d",
                 ledger.senders.given)
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
