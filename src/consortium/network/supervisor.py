"""Start, stop and inspect the nodes of a local network (`consortium up / down / status`).

Each node runs as its own background process (`consortium node --home …`) writing to its
`node.log`; its pid file says it is running. Status comes from each engine's RPC.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import signal
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TypeVar
from urllib.parse import urlsplit

import httpx
import psutil

from consortium.errors import ConfigError, NetworkError
from consortium.network.disk_space import NOTE, data_dirs, disk_note
from consortium.network.layout import JsonFields, Network, NodeEntry
from consortium.network.node import engine_ports, preflight, running_pid
from consortium.network.node_config import NodeConfig

START_TIMEOUT = 90.0
STOP_TIMEOUT = 30.0
# After a validator's API and engine answer, how long `up` waits for its engine to join
# consensus: CometBFT's double-sign check (`double_sign_check_height`) runs only then, when
# block sync has caught up, and stops the node if its key signed a recent block.
SETTLE_TIMEOUT = 30.0
SETTLE_GRACE = 2.0  # alive this long after joining consensus: past the check
NO_PEERS_GRACE = 8.0  # catching up with no peer this long: it waits for them, not for us
LAST_EXIT_FILE = "last-exit.json"  # {"code", "reason", "at"}: how the node's last run ended
API_GRACE = 10.0  # after a node logged "started", its API answers within this (else: hung)

Progress = Callable[[str], None]


def node_pid(home: Path) -> int | None:
    """The pid of the node process running on `home`, if one is alive."""
    return running_pid(home)


def running_nodes(network: Network) -> list[str]:
    return [n.name for n in network.nodes if node_pid(network.node_home(n)) is not None]


def _open_log(network: Network, node: NodeEntry) -> BinaryIO:
    """The node's node.log, opened to append to; one line naming it and the OS's error
    when it cannot be (a directory in its place, no permission, a read-only disk)."""
    path = NodeConfig.load(network.node_home(node)).log_file
    try:
        return open(path, "ab")  # noqa: SIM115 - the caller closes it
    except OSError as exc:
        raise NetworkError(f"cannot open {path}, the log of {node.name}: "
                           f"{exc.strerror or exc}") from None


def start_node(network: Network, node: NodeEntry) -> subprocess.Popen[bytes]:
    """Start one node in the background, its output appended to its node.log."""
    home = network.node_home(node)
    preflight(home)
    with _open_log(network, node) as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "consortium.network.node_process", str(home)],
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
            _open_log(network, node).close()  # every check before anything starts
            preflight(network.node_home(node))
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
    """Until the node's API and its engine's RPC both answer (an API alone may answer for
    the moment its engine takes to fail, e.g. on a genesis it cannot read), and a
    validator's engine has passed its switch to consensus, where CometBFT's double-sign
    check may still stop it (`_settle`). A node that exits is quoted from what this start
    wrote to its log (from byte `log_start`): its most telling line (`failure_cause`)."""
    while True:
        if proc.poll() is not None:
            raise _exited(network, node, proc, log_start)
        if _api_alive(network, node) and _engine_alive(network, node):
            note = _settle(network, node, proc, deadline, log_start)
            progress(f"{node.name} is up: API {api_url_of(network, node)}{note}")
            return
        if time.monotonic() > deadline:
            raise NetworkError(
                f"{node.name} did not answer within {START_TIMEOUT:.0f}s; it is still "
                f"starting (its log: {network.node_home(node) / 'node.log'}), or stop it with "
                f"`consortium down --dir {shlex.quote(str(network.root))} {node.name}`")
        time.sleep(0.2)


def _exited(network: Network, node: NodeEntry, proc: subprocess.Popen[bytes],
            log_start: int) -> _NodeExited:
    home = network.node_home(node)
    cause = disk_note(last_log_line(home, since=log_start), data_dirs(home))
    return _NodeExited(f"{node.name} exited with code {proc.returncode}: {cause}")


def _settle(network: Network, node: NodeEntry, proc: subprocess.Popen[bytes],
            deadline: float, log_start: int) -> str:
    """After the API and the engine answer: a validator's engine may still stop at its
    switch to consensus (CometBFT's double-sign check runs when block sync has caught up),
    seconds later. Wait until it has joined consensus and lives `SETTLE_GRACE` beyond (or
    it has no peer to catch up from, or `SETTLE_TIMEOUT`); a node that exits meanwhile is
    reported with its log's cause. Returns a note for the "is up" line ("" when settled)."""
    began = time.monotonic()
    end = min(deadline, began + SETTLE_TIMEOUT)
    joined: float | None = None
    engine_gone: float | None = None
    while True:
        if proc.poll() is not None:
            raise _exited(network, node, proc, log_start)
        now = time.monotonic()
        state = _engine_state(network, node)
        if state is None:  # the engine stopped answering: the node is stopping with it
            engine_gone = engine_gone or now
            if now - engine_gone > STOP_TIMEOUT or now > deadline:
                return " (its engine stopped answering; see `consortium logs`)"
        else:
            engine_gone = None
            power, catching_up, peers = state
            if power <= 0:  # a full node: no double-sign check to pass
                return ""
            if not catching_up:
                joined = joined or now
                if now - joined >= SETTLE_GRACE:
                    return ""
            elif peers == 0 and now - began >= NO_PEERS_GRACE:
                return (" (no peer yet to catch up from: it joins consensus, and runs its "
                        "double-sign check, once it has caught up)")
            if now > end:
                return (" (still catching up: it joins consensus, and runs its double-sign "
                        "check, once caught up; `consortium status` shows it)")
        time.sleep(0.2)


def _engine_state(network: Network, node: NodeEntry) -> tuple[int, bool, int] | None:
    """The engine's (voting power, catching up, peers), or None when it does not answer."""
    try:
        port = engine_ports(network.node_home(node))["rpc"]
    except ConfigError:
        port = node.rpc_port
    try:
        with httpx.Client(timeout=1.0) as client:
            status = client.get(f"http://127.0.0.1:{port}/status").json()["result"]
            peers = int(client.get(f"http://127.0.0.1:{port}/net_info").json()["result"]
                        ["n_peers"])
        return (int(status["validator_info"]["voting_power"]),
                bool(status["sync_info"]["catching_up"]), peers)
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


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


def _api_alive(network: Network, node: NodeEntry, timeout: float = 1.0) -> bool:
    """Whether the node's API answers /health. Over TLS the certificate is not checked:
    the probe sends no credential and trusts nothing but the status code. An API that takes
    only client certificates (`auth = "mtls"`) refuses every connection without one, /health
    too, and the supervisor holds none (only the CA's certificate is in the node's home): it
    is up when its TLS listener completes a handshake (`_tls_listening`), which uvicorn opens
    only once the app has started."""
    url = api_url_of(network, node)
    if _takes_client_certificates(network, node):
        return _tls_listening(url, timeout)
    try:
        return httpx.get(f"{url}/health", timeout=timeout, verify=False).status_code == 200
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


LOG_TAIL_BYTES = 4 << 20  # how much of a log's end is read for a cause
_PYTHON_LOG = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ (\w+) ([\w.]+): (.*)$")
_COMET_LOG = re.compile(r"^([DIEW])\[[^\]]*\] (.*)$")
_GO_FILE_ERROR = re.compile(
    r"^(?:\w+ )?(?:open|stat|lstat|read|write|mkdir|remove|rename|create) /\S*: .+|"
    r"(?:no such file or directory|permission denied|no space left on device|"
    r"is a directory|not a directory|input/output error)")
# what the node logs as a consequence of a failure, never its cause
_CONSEQUENCES = ("engine exited with code", "stopping node", "stops for a software upgrade",
                 "API server stopped unexpectedly")
DOUBLE_SIGN = "found signature from the same key"


def _tail_lines(home: Path, since: int = 0) -> list[str] | None:
    """The lines of a node's log from byte `since` (at most its last LOG_TAIL_BYTES), or
    None without a log."""
    try:
        with (home / "node.log").open("rb") as f:
            size = f.seek(0, os.SEEK_END)
            f.seek(max(since, size - LOG_TAIL_BYTES))
            return f.read().decode(errors="replace").strip().splitlines()
    except OSError:
        return None


def _panic(lines: list[str], at: int) -> str:
    """A Go panic's message: its line, the next when the first breaks off mid-sentence, and a
    closing hint among its continuation lines (Go indents them with a tab), e.g. "Did you
    reset CometBFT without resetting your application's data?"."""
    first = lines[at].strip()
    more = []
    for line in lines[at + 1:at + 200]:
        if not line.startswith("\t"):
            break
        more.append(line.strip())
    text = first
    if more and more[0] and first[-1:] not in ".?!)":
        text += " " + more[0]
    hints = [m for m in more[1:] if re.fullmatch(r"[A-Z][^{}=:]{8,200}[.?!]", m)]
    if hints:
        text += " " + hints[-1]
    return text


def _with_detail(lines: list[str], at: int) -> str:
    """CometBFT's `ERROR: …` line, with the detail lines that follow one ending in ":"
    ("ERROR: 1 error(s) decoding:" then "* error decoding 'consensus.timeout_commit': …")."""
    text = lines[at].strip()
    if text.endswith(":"):
        detail = []
        for line in lines[at + 1:at + 8]:
            if _PYTHON_LOG.match(line) or _COMET_LOG.match(line):
                break
            if line.strip():
                detail.append(line.strip())
        text = " ".join([text, *detail[:3]])
    return text


def failure_cause(lines: list[str]) -> str | None:
    """The most telling line(s) of what a node logged before it stopped, None if nothing
    says why. In order: the node's own stop message or error line (`consortium node NODE
    stopped: …`, `error: …`), CometBFT's `panic:` (its message and hint), its `ERROR:` with
    the detail line after it, a Go error naming a file (`open …/priv_validator_state.json:
    no such file or directory`), CometBFT's `E[…] CONSENSUS FAILURE!!!`, a
    Python traceback's last line, the node's own ERROR lines other than the consequences
    (`engine exited with code 1; stopping node`), then those."""
    for line in lines:
        if line.startswith(("consortium node ", "error: ")):
            return line.strip()
    for i, line in enumerate(lines):
        if line.startswith("panic: "):
            return _panic(lines, i)
    for i, line in enumerate(lines):
        if line.startswith("ERROR: "):
            return _with_detail(lines, i)
    for line in lines:
        if not _PYTHON_LOG.match(line) and not _COMET_LOG.match(line) \
                and _GO_FILE_ERROR.search(line):
            return line.strip()
    for line in lines:  # CometBFT's own errors are mostly a peer's noise; not this one
        comet = _COMET_LOG.match(line)
        if comet and comet.group(1) == "E" and "CONSENSUS FAILURE" in line:
            return re.sub(r"\s+stack=.*$", "", re.sub(r"\s{2,}", " ", comet.group(2))).strip()
    for i, line in enumerate(lines):
        if line.startswith("Traceback (most recent call last):"):
            for after in lines[i + 1:]:
                if after and not after[0].isspace():
                    return after.strip()
    ours = [line for line in lines if (m := _PYTHON_LOG.match(line))
            and m.group(1) in ("ERROR", "CRITICAL")]
    causes = [line for line in ours if not any(c in line for c in _CONSEQUENCES)]
    found = causes or ours
    return found[0] if found else None


def explain(cause: str) -> str:
    """A cause with what to do, where it needs it (CometBFT's double-sign check)."""
    if DOUBLE_SIGN in cause:
        return (f"{cause} (CometBFT's double-sign check, consensus.double_sign_check_height in "
                "config/config.toml: this validator key signed one of the last blocks; make "
                "sure no other node runs with it, let the other validators commit that many "
                "blocks without it, then start it again; docs/operations.md)")
    return cause


def last_log_line(home: Path, since: int = 0) -> str:
    """Why a node stopped, quoted from its log: the most telling line(s) (`failure_cause`),
    else its last line. With `since`, only what the log gained from that byte on (one
    start's lines: an earlier run's error is not this one's cause)."""
    lines = _tail_lines(home, since)
    if lines is None:
        return "(no log)"
    cause = failure_cause(lines[-4000:])
    if cause is not None:
        return explain(cause)
    return lines[-1] if lines else "(empty log)"


@dataclass
class LastExit(JsonFields):
    """How a stopped node's last run ended: its exit code (None: not known) and why."""

    code: int | None
    reason: str
    at: str | None = None  # when, as the node recorded it (ISO 8601), if it did

    @property
    def label(self) -> str:
        """A word or two for `status`'s state column ("" for a stop on request)."""
        if self.code == 0:
            return ""
        if DOUBLE_SIGN in self.reason:
            return "double-sign"
        if self.code == 3:
            return "upgrade"
        if self.code is None:
            return "killed?"
        return f"exit {self.code}"


# the first line a node logs (`run_node`): where its run begins in node.log
_STARTING = re.compile(r" INFO consortium\.node: starting node in .* \(pid (\d+)\)$")
_LEDGER_OPENED = re.compile(r" INFO consortium\.ledger: ledger opened at height ")
_STARTED = re.compile(r" INFO consortium\.node: node \S+ \(.*\) started: ")
_CLEAN_STOP = re.compile(r" INFO consortium\.node: stopping node \S+$")
_ENGINE_EXIT = re.compile(r"engine exited with code (-?\d+)(?: \([^)]*\))?; stopping node")
_NODE_STOPPED = re.compile(r" INFO consortium\.node: node \S+ stopped$")


def _last_run(lines: list[str]) -> int:
    """Where the log's last run begins: the line a node logs first (`starting node in …`),
    else (a log from before it) its ledger's opening, else its start."""
    for marker in (_STARTING, _LEDGER_OPENED, _STARTED):
        found = [i for i, line in enumerate(lines) if marker.search(line)]
        if found:
            return found[-1]
    return 0


def _uncaught(run: list[str]) -> str | None:
    """The exception of a Python traceback that ends the run (nothing caught it: the
    process exited with code 1), None when no traceback ends it."""
    at = [i for i, line in enumerate(run) if line.startswith("Traceback (most recent call")]
    if not at or any(_PYTHON_LOG.match(line) for line in run[at[-1]:]):
        return None
    return next((line.strip() for line in run[at[-1] + 1:] if line and not line[0].isspace()),
                None)


def last_exit(home: Path) -> LastExit | None:
    """Why the node on `home` (not running) stopped: the record its `consortium node`
    process leaves (`last-exit.json`: its exit code and reason), made more precise by its
    log's last run when the engine failed; else from the log alone (a node `consortium up`
    started writes its node.log). None when neither says. A failure on a full disk or a
    storage error says how much space the disk holding the node's data had when it stopped
    (or, without a record saying it, has now: `disk_note`)."""
    record = _exit_record(home)
    noted = NOTE.search(record.reason) if record is not None else None
    found = _last_exit(home, record)
    if found is not None and found.code not in (0, 3) and not NOTE.search(found.reason):
        found.reason = (found.reason + noted.group(0) if noted is not None
                        else disk_note(found.reason, data_dirs(home)))
    return found


def _last_exit(home: Path, record: LastExit | None) -> LastExit | None:
    lines = _tail_lines(home) or []
    started = [i for i, line in enumerate(lines) if _STARTED.search(line)]
    begin = _last_run(lines)
    run = lines[begin:]
    cause = failure_cause(run)
    if record is not None:
        if record.code not in (0, 3) and cause is not None and _same_run(home):
            record.reason = explain(cause)
        return record
    if not run:
        return None
    crash = _uncaught(run)
    if crash is not None:
        return LastExit(1, explain(crash))
    for line in reversed(run):
        if _CLEAN_STOP.search(line):
            return LastExit(0, "stopped on request (consortium down, SIGTERM or Ctrl-C)")
        if (m := _ENGINE_EXIT.search(line)) is not None:
            code = int(m.group(1))
            return LastExit(code,
                            explain(cause or line.strip()))
        if line.startswith("consortium node ") and " stopped: " in line:
            return LastExit(3 if "upgrade" in line else 1, line.strip())
        if "stops for a software upgrade" in line:
            return LastExit(3, cause or line.strip())
        if line.startswith("error: "):
            return LastExit(1, line.strip())
        if "engine halted: CONSENSUS FAILURE" in line:
            logged = _PYTHON_LOG.match(line)
            return LastExit(1, logged.group(3) if logged else line.strip())
    if any(_NODE_STOPPED.search(line) for line in run):  # it stopped, saying why elsewhere
        return LastExit(None, explain(cause) if cause else "stopped")
    if started and started[-1] >= begin:
        return LastExit(None, "no stop was logged: the process was killed (e.g. kill -9 or "
                              "SIGHUP) or crashed; last line: " + run[-1].strip()[:200])
    return None


def record_exit(home: Path, code: int, reason: str) -> None:
    """Leave `last-exit.json` in the home: how this run of the node ended (what `status`
    shows of a node that is down). Never fails the exit it records."""
    from datetime import UTC, datetime

    if code not in (0, 3):  # on a full disk or a storage error: the space the disk has left
        reason = disk_note(reason, data_dirs(home))
    data = {"code": code, "reason": reason,
            "at": datetime.now(UTC).isoformat(timespec="seconds")}
    with contextlib.suppress(OSError):
        (home / LAST_EXIT_FILE).write_text(json.dumps(data) + "\n")


class ExitReason(logging.Handler):
    """Catches what a node process logs at ERROR and above, for its exit record: the
    first CRITICAL (an upgrade it has no handler for), else the first error that is not a
    consequence (`engine exited with code 1; stopping node`), else that."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[tuple[int, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.messages.append((record.levelno, record.getMessage()))

    def reason(self, code: int) -> str:
        if code == 0:
            return "stopped on request (consortium down, SIGTERM or Ctrl-C)"
        critical = [m for level, m in self.messages if level >= logging.CRITICAL]
        causes = [m for _, m in self.messages if not any(c in m for c in _CONSEQUENCES)]
        found = critical or causes or [m for _, m in self.messages]
        return found[0] if found else f"exited with code {code}"


def _same_run(home: Path) -> bool:
    """Whether node.log was last written by the run that left the exit record (a node run
    in the foreground logs elsewhere: an older node.log is another run's)."""
    try:
        record = (home / LAST_EXIT_FILE).stat().st_mtime
        return abs(record - (home / "node.log").stat().st_mtime) < 30
    except OSError:
        return False


def _exit_record(home: Path) -> LastExit | None:
    try:
        data = json.loads((home / LAST_EXIT_FILE).read_text())
        code = data["code"]
        return LastExit(code if isinstance(code, int) else None, str(data["reason"]),
                        data.get("at"))
    except (OSError, ValueError, KeyError, TypeError):
        return None


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
    last_exit: LastExit | None = None  # a node that is not running: how its last run ended
    answers: dict[str, bool] | None = None  # a running node: whether its API and RPC answered
    # a running node that had started and does not answer: "SIGSTOP" (it or its engine is
    # stopped) or what does not answer ("API", "RPC", "API, RPC")
    unresponsive: str | None = None

    @property
    def state(self) -> str:
        """up, catching up, starting, not answering (why), or down with a word on why (its
        last exit: an upgrade it has no handler for, the double-sign check, an exit code)."""
        if self.unresponsive:
            return ("not answering" if self.unresponsive == "API, RPC"
                    else f"not answering ({self.unresponsive})")
        if self.height is not None and (self.answers is None or self.answers["api"]):
            return "catching up" if self.catching_up else "up"
        if self.running:
            return "starting"
        label = self.last_exit.label if self.last_exit is not None else ""
        return f"down ({label})" if label else "down"


def node_status(network: Network, node: NodeEntry, timeout: float = 2.0) -> NodeStatus:
    """A node's status from its engine's RPC; a running one is asked at its API too, and
    one that had started and does not answer within `timeout` is `unresponsive`."""
    home = network.node_home(node)
    pid = node_pid(home)
    status = NodeStatus(
        name=node.name,
        member=node.member,
        running=pid is not None,
        api_url=api_url_of(network, node),  # https with TLS, the configured host
        rpc_url=node.rpc_url,
        node_id=node.node_id,
    )
    if pid is None:
        status.last_exit = last_exit(home)
    _engine_status(status, node, timeout)
    if pid is not None:
        api, rpc = _api_alive(network, node, timeout), status.height is not None
        status.answers = {"api": api, "rpc": rpc}
        if not (api and rpc):
            status.unresponsive = _unresponsive(home, pid, api=api, rpc=rpc)
    return status


def _engine_status(status: NodeStatus, node: NodeEntry, timeout: float) -> None:
    """Fill `status` from the engine's /status and /net_info (left empty if it does not
    answer)."""
    try:
        with httpx.Client(timeout=timeout) as client:
            info = client.get(f"{node.rpc_url}/status").json()["result"]
            net = client.get(f"{node.rpc_url}/net_info").json()["result"]
    except (httpx.HTTPError, ValueError, KeyError):
        return
    sync = info["sync_info"]
    status.height = int(sync["latest_block_height"])
    status.app_hash = sync["latest_app_hash"].lower()
    status.catching_up = bool(sync["catching_up"])
    status.voting_power = int(info["validator_info"]["voting_power"])
    status.peers = int(net["n_peers"])


_ENGINE_STARTED = re.compile(r"^I\[[^\]]*\] Started node\b")  # CometBFT's, RPC listening


def _unresponsive(home: Path, pid: int, *, api: bool, rpc: bool) -> str | None:
    """Why a running node that does not answer at its API or RPC counts as not answering,
    None while it is starting. "SIGSTOP": the node or its engine is stopped; else its API once
    this run logged "started" `API_GRACE` ago, its RPC once CometBFT logged "Started node"
    (after its handshake's replay, with the RPC listening). Without this run's lines in its
    log (another log, rotated away): once the process is older than `START_TIMEOUT`."""
    if _stopped(pid):
        return "SIGSTOP"
    missing = [what for what, ok in (("API", api), ("RPC", rpc)) if not ok]
    run = _run_of(home, pid)
    if run is None:
        try:
            age = time.time() - psutil.Process(pid).create_time()
        except psutil.Error:
            return None
        return ", ".join(missing) if age > START_TIMEOUT else None
    late = []
    if not api:
        started = next((line for line in run if _STARTED.search(line)), None)
        at = _logged_at(started) if started is not None else None
        if at is not None and time.time() - at > API_GRACE:
            late.append("API")
    if not rpc and any(_ENGINE_STARTED.match(line) for line in run):
        late.append("RPC")
    return ", ".join(late) or None


def _stopped(pid: int) -> bool:
    """Whether the node process or a child (its engine) is stopped (SIGSTOP, a debugger)."""
    try:
        proc = psutil.Process(pid)
        return any(p.status() in (psutil.STATUS_STOPPED, psutil.STATUS_TRACING_STOP)
                   for p in (proc, *proc.children()))
    except psutil.Error:
        return False


def _run_of(home: Path, pid: int) -> list[str] | None:
    """The lines the node process `pid` wrote to node.log from its first (`starting node
    in … (pid N)`), None when the log's last LOG_TAIL_BYTES hold no such line."""
    lines = _tail_lines(home) or []
    for i in range(len(lines) - 1, -1, -1):
        found = _STARTING.search(lines[i])
        if found is not None:
            return lines[i:] if int(found.group(1)) == pid else None
    return None


def _logged_at(line: str) -> float | None:
    """The time of a line the node logged (its local time, to the second), None if none."""
    from datetime import datetime

    try:
        return datetime.strptime(line[:19], "%Y-%m-%d %H:%M:%S").timestamp()
    except ValueError:
        return None


S = TypeVar("S")
T = TypeVar("T")

# Nodes asked at once by `each_node`: a frozen node takes its timeouts (~4 s) whatever the
# others do, so a status of thirty nodes costs about one timeout, not thirty
STATUS_THREADS = 16


def each_node(nodes: Sequence[S], ask: Callable[[S], T]) -> list[T]:
    """`ask(node)` for every node (or a node's entry and status), concurrently (I/O: HTTP
    with timeouts), in the nodes' order; the first exception in that order is raised once
    all have answered."""
    if len(nodes) < 2:
        return [ask(n) for n in nodes]
    with ThreadPoolExecutor(min(STATUS_THREADS, len(nodes)),
                            thread_name_prefix="status") as pool:
        futures = [pool.submit(ask, n) for n in nodes]
        return [f.result() for f in futures]


def network_status(network: Network) -> list[NodeStatus]:
    """Every node's `node_status`, the nodes asked at once."""
    return each_node(network.nodes, lambda n: node_status(network, n))


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
