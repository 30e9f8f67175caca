"""The pinned CometBFT engine: how it is built, and its protobuf classes (where they live:
`consortium.engine_paths`).

The binary is built from source with `go install` at the pinned version into a project-local
folder; the ABCI protobuf classes are generated from the same module's `.proto` files with
grpcio-tools. Neither is committed: both are build outputs, remade by `consortium engine
install` and skipped when already present at the right version.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from consortium.engine_paths import cometbft_path, proto_dir
from consortium.errors import EngineError

COMETBFT_MODULE = "github.com/cometbft/cometbft"
COMETBFT_VERSION = "v0.38.25"
GOGOPROTO_MODULE = "github.com/cosmos/gogoproto"
GOGOPROTO_VERSION = "v1.7.0"
MIN_GO = (1, 22)

Progress = Callable[[str], None]


def installed_version(binary: Path | None = None) -> str | None:
    """The version the binary reports, or None when there is no working binary."""
    binary = binary or cometbft_path()
    if not binary.is_file():
        return None
    try:
        out = subprocess.run(
            [str(binary), "version"], capture_output=True, text=True, timeout=30, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def require_cometbft() -> Path:
    """The engine binary, or an EngineError saying how to get it."""
    binary = cometbft_path()
    version = installed_version(binary)
    if version is None:
        raise EngineError(
            f"CometBFT engine not found at {binary}; run `consortium engine install` "
            "(needs Go 1.22+)"
        )
    if "v" + version.lstrip("v") != COMETBFT_VERSION:
        raise EngineError(
            f"CometBFT at {binary} is version {version}, expected {COMETBFT_VERSION}; "
            "run `consortium engine install --force`"
        )
    return binary


def go_version() -> tuple[int, int] | None:
    go = shutil.which("go")
    if go is None:
        return None
    try:
        out = subprocess.run([go, "version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"go(\d+)\.(\d+)", out.stdout)
    return (int(match.group(1)), int(match.group(2))) if match else None


def _require_go() -> str:
    version = go_version()
    if version is None:
        raise EngineError(
            "Go is not installed: install Go 1.22 or newer (https://go.dev/dl, or your "
            "package manager's golang package) to build the CometBFT engine"
        )
    if version < MIN_GO:
        raise EngineError(
            f"Go {version[0]}.{version[1]} is too old: install Go 1.22 or newer to build "
            "the CometBFT engine"
        )
    return shutil.which("go") or "go"


def install(force: bool = False, progress: Progress = lambda _msg: None) -> Path:
    """Build the pinned CometBFT (unless present) and generate the protobuf classes."""
    binary = cometbft_path()
    current = installed_version(binary)
    if current and "v" + current.lstrip("v") == COMETBFT_VERSION and not force:
        progress(f"CometBFT {COMETBFT_VERSION} already at {binary}")
    else:
        go = _require_go()
        binary.parent.mkdir(parents=True, exist_ok=True)
        progress(f"building CometBFT {COMETBFT_VERSION} with go install (about a minute)")
        env = dict(os.environ, GOBIN=str(binary.parent), CGO_ENABLED="0")
        result = subprocess.run(
            [go, "install", f"{COMETBFT_MODULE}/cmd/cometbft@{COMETBFT_VERSION}"],
            env=env,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
            raise EngineError(f"go install of CometBFT failed: {' '.join(tail)}")
        progress(f"installed CometBFT {installed_version(binary)} at {binary}")
    generate_protos(force=force, progress=progress)
    return binary


def _module_dirs(go: str) -> tuple[Path, Path]:
    result = subprocess.run(
        [
            go,
            "mod",
            "download",
            "-json",
            f"{COMETBFT_MODULE}@{COMETBFT_VERSION}",
            f"{GOGOPROTO_MODULE}@{GOGOPROTO_VERSION}",
        ],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise EngineError(f"go mod download failed: {result.stderr.strip()[-300:]}")
    decoder = json.JSONDecoder()
    text, pos, dirs = result.stdout, 0, {}
    while pos < len(text):
        while pos < len(text) and text[pos].isspace():
            pos += 1
        if pos >= len(text):
            break
        obj, pos = decoder.raw_decode(text, pos)
        dirs[obj["Path"]] = Path(obj["Dir"])
    return dirs[COMETBFT_MODULE], dirs[GOGOPROTO_MODULE]


def generate_protos(force: bool = False, progress: Progress = lambda _msg: None) -> Path:
    """Generate `tendermint.*_pb2` modules from the pinned module's .proto files."""
    out = proto_dir()
    stamp = out / "VERSION"
    if not force and stamp.is_file() and stamp.read_text().strip() == COMETBFT_VERSION:
        progress(f"protobuf classes for {COMETBFT_VERSION} already generated")
        return out
    go = _require_go()
    cometbft_src, gogoproto_src = _module_dirs(go)
    proto_root = cometbft_src / "proto"
    protos = sorted(
        str(p.relative_to(proto_root)) for p in (proto_root / "tendermint").rglob("*.proto")
    )
    tmp = out.with_name("python.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    progress(f"generating protobuf classes from {len(protos)} .proto files")
    args = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{proto_root}",
        f"-I{gogoproto_src}",
        f"-I{gogoproto_src / 'protobuf'}",
        f"--python_out={tmp}",
        *protos,
        "gogoproto/gogo.proto",
    ]
    result = subprocess.run(args, capture_output=True, text=True)
    if result.returncode != 0:
        raise EngineError(f"protobuf generation failed: {result.stderr.strip()[-400:]}")
    for folder in [tmp, *[p for p in tmp.rglob("*") if p.is_dir()]]:
        (folder / "__init__.py").touch()
    (tmp / "VERSION").write_text(COMETBFT_VERSION + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    progress(f"protobuf classes written to {out}")
    return out


# --- the running engine's output ---------------------------------------------------------------

# What CometBFT logs when its consensus routine panics (a block it cannot save: a full disk;
# an application that fails a block): the process goes on running and answering its RPC,
# but it never commits again (cometbft consensus/state.go, receiveRoutine).
CONSENSUS_FAILURE = b"CONSENSUS FAILURE!!!"
MAX_LINE = 1 << 20  # a line longer than this is passed on (and checked) in pieces
MAX_REASON = 300


def consensus_failure(line: bytes) -> str | None:
    """What a consensus failure logged in `line` says (its `err=`, shortened), else None."""
    at = line.find(CONSENSUS_FAILURE)
    if at < 0:
        return None
    text = line[at + len(CONSENSUS_FAILURE):].decode(errors="replace")
    text = text.split(" stack=", 1)[0]  # the goroutine's stack follows the error
    err = re.search(r'\berr"?[=:]"((?:[^"\\]|\\.)*)"|\berr=(\S+)', text)  # logfmt, JSON
    reason = (err.group(1) or err.group(2)) if err else text.strip()
    reason = reason.replace("\\n", " ").replace('\\"', '"').strip()
    if len(reason) > MAX_REASON:
        reason = reason[:MAX_REASON] + "…"
    return reason or "no reason given"


class EngineOutput:
    """Passes what the engine writes to a pipe on to `sink` (a file descriptor: the node's
    own stdout or stderr, i.e. node.log) line by line, on a thread of its own, and calls
    `on_failure(reason)` once when the engine logs a consensus failure.

    A thread, not the event loop: the engine blocks when its pipe is full, and it must never
    wait on a busy API. A sink that cannot be written (a full disk, a closed terminal) loses
    those lines, never the engine's progress or the failure's detection."""

    def __init__(self, source: int, sink: int, on_failure: Callable[[str], None],
                 name: str = "engine-output") -> None:
        self.source = source
        self.sink = sink
        self.on_failure = on_failure
        self.failure: str | None = None
        self.lost = 0  # bytes the sink did not take
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        pending = b""
        try:
            while True:
                try:
                    chunk = os.read(self.source, 1 << 16)
                except OSError:
                    break
                if not chunk:
                    break
                pending += chunk
                cut = pending.rfind(b"\n") + 1
                if cut == 0 and len(pending) >= MAX_LINE:
                    cut = len(pending)
                if cut:
                    lines, pending = pending[:cut], pending[cut:]
                    self._write(lines)
                    self._check(lines)
            if pending:
                self._write(pending)
                self._check(pending)
        finally:
            os.close(self.source)

    def _check(self, lines: bytes) -> None:
        if self.failure is not None or CONSENSUS_FAILURE not in lines:
            return
        for line in lines.split(b"\n"):
            reason = consensus_failure(line)
            if reason is not None:
                self.failure = reason
                self.on_failure(reason)
                return

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.sink, view)
            except OSError:
                self.lost += len(view)
                return
            view = view[written:]
