"""Where a node's time goes: py-spy samples of a running node, summarised and drawn.

`NodeProfiler` attaches py-spy to a node process for the measured window (no change to the
node, every thread sampled), and keeps the collapsed stacks. `summarize` answers three
questions: which ABCI call or API path the samples were in (phase), what kind of code they
were executing (component, by the leaf frame's module), and which functions hold the most
self time. `flamegraph_svg` draws the stacks as a self-contained SVG.
"""

from __future__ import annotations

import html
import os
import shlex
import shutil
import signal
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Stacks = dict[tuple[str, ...], int]  # root-first frames -> samples

# Phases: the first frame (from the root) that names one of these, in the node's modules.
PHASES: tuple[tuple[str, str, str], ...] = (
    ("FinalizeBlock (execution)", "consortium/ledger/application.py", "finalize_block"),
    ("FinalizeBlock (execution)", "consortium/ledger/application.py", "finalize_block_wire"),
    ("Commit (LMDB write)", "consortium/ledger/application.py", "commit"),
    ("CheckTx", "consortium/ledger/application.py", "check_tx"),
    ("CheckTx", "consortium/ledger/application.py", "check_tx_wire"),
    ("ABCI (other calls, framing)", "consortium/abci/", ""),
    ("JSON-RPC reads", "consortium/ledger/reads.py", ""),
    ("JSON-RPC / HTTP", "consortium/api/", ""),
    ("HTTP server", "uvicorn/", ""),
    ("HTTP server", "starlette/", ""),
)

# Components: by the module of the leaf frame (first match wins).
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("eth/vm/logic/", "EVM opcodes"),
    ("eth/vm/computation", "EVM interpreter"),
    ("eth/vm/message", "EVM interpreter"),
    ("eth/vm/code_stream", "EVM interpreter"),
    ("eth/vm/stack", "EVM interpreter"),
    ("eth/vm/memory", "EVM interpreter"),
    ("eth/vm/gas_meter", "EVM interpreter"),
    ("eth/db/", "py-evm state (account/storage db, journal)"),
    ("eth/vm/state", "py-evm state (account/storage db, journal)"),
    ("eth/vm/forks/", "py-evm transaction processing"),
    ("eth/", "py-evm other"),
    ("trie/", "trie"),
    ("rlp/", "RLP"),
    ("eth_utils/", "eth-utils (validation, conversions)"),
    ("eth_abi/", "eth-abi"),
    ("eth_keys/", "signatures"),
    ("coincurve/", "signatures"),
    ("eth_hash/", "keccak"),
    ("sha3", "keccak"),
    ("lmdb", "LMDB"),
    ("google/protobuf", "protobuf"),
    ("consortium/abci/", "ABCI framing"),
    ("consortium/ledger/", "ledger code"),
    ("consortium/evm/", "consortium EVM glue and natives"),
    ("consortium/system/", "consortium EVM glue and natives"),
    ("consortium/api/", "JSON-RPC code"),
    ("json/", "JSON"),
    ("starlette/", "HTTP server"),
    ("uvicorn/", "HTTP server"),
    ("h11/", "HTTP server"),
    ("httpx/", "HTTP client (to the engine)"),
    ("httpcore/", "HTTP client (to the engine)"),
    ("anyio/", "event loop, threads"),
    ("asyncio/", "event loop, threads"),
    ("selectors", "event loop, threads"),
    ("threading", "event loop, threads"),
)


# Leaf frames that are a thread waiting, not working (py-spy counts some blocking calls as
# active): left out of the shares, reported as the idle share.
IDLE_LEAVES: tuple[tuple[str, str], ...] = (
    ("selectors.py", "select"),
    ("asyncio/unix_events.py", "_do_waitpid"),
    ("threading.py", "wait"),
    ("queue.py", "get"),
    ("anyio/_backends/_asyncio.py", "run"),
)


def is_idle(frame: str) -> bool:
    """A leaf frame where a thread waits (in select, waitpid, a lock or a queue)."""
    name, path = _split(frame)
    short = name.rsplit(".", 1)[-1]
    return any(module in path and short == fn for module, fn in IDLE_LEAVES)


def parse_collapsed(text: str) -> Stacks:
    """py-spy's raw output: one `frame;frame;… count` line per distinct stack."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        frames, _, count = line.rpartition(" ")
        try:
            stacks[tuple(frames.split(";"))] += int(count)
        except ValueError:
            continue
    return dict(stacks)


def _split(frame: str) -> tuple[str, str]:
    """'func (path/file.py:12)' -> ('func', 'path/file.py')."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    return name, path


def _phase(stack: tuple[str, ...]) -> str:
    """The first phase (in PHASES order) that any frame of the stack belongs to."""
    frames = [_split(frame) for frame in stack]
    for label, module, fn in PHASES:
        for name, path in frames:
            if module in path and (not fn or name == fn or name.endswith("." + fn)):
                return label
    return "other (event loop, threads)"


def _component(frame: str) -> str:
    _, path = _split(frame)
    for needle, label in COMPONENTS:
        if needle in path:
            return label
    return "other"


def _short(frame: str) -> str:
    name, path = _split(frame)
    parts = Path(path).parts
    for anchor in ("site-packages", "src"):
        if anchor in parts:
            parts = parts[parts.index(anchor) + 1:]
            break
    return f"{name} ({'/'.join(parts[-3:])})"


@dataclass
class ProfileSummary:
    samples: int  # busy samples: the shares below are of these
    idle: float = 0.0  # share of all samples that were a thread waiting
    phases: list[tuple[str, float]] = field(default_factory=list)  # label, share 0-1
    components: list[tuple[str, float]] = field(default_factory=list)
    top_self: list[tuple[str, float]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        def pct(items: list[tuple[str, float]]) -> list[dict[str, Any]]:
            return [{"name": n, "percent": round(100 * s, 1)} for n, s in items]

        return {"samples": self.samples, "idle_percent": round(100 * self.idle, 1),
                "phases": pct(self.phases),
                "components": pct(self.components), "top_self": pct(self.top_self)}


def summarize(stacks: Stacks, top: int = 15) -> ProfileSummary:
    """Shares of the busy samples by phase, component and function (self time)."""
    everything = sum(stacks.values())
    busy = {k: n for k, n in stacks.items() if k and not is_idle(k[-1])}
    total = sum(busy.values())
    if not total:
        return ProfileSummary(0, 1.0 if everything else 0.0)
    phases: Counter[str] = Counter()
    components: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    for stack, n in busy.items():
        phases[_phase(stack)] += n
        if stack:
            components[_component(stack[-1])] += n
            leaves[_short(stack[-1])] += n

    def share(c: Counter[str], k: int | None = None) -> list[tuple[str, float]]:
        return [(name, n / total) for name, n in c.most_common(k)]

    return ProfileSummary(total, 1 - total / everything, share(phases), share(components),
                          share(leaves, top))


# --- flame graph ---------------------------------------------------------------------------

def _tree(stacks: Stacks) -> dict[str, Any]:
    root: dict[str, Any] = {"n": 0, "c": {}}
    for stack, n in stacks.items():
        node = root
        node["n"] += n
        for frame in stack:
            node = node["c"].setdefault(_short(frame), {"n": 0, "c": {}})
            node["n"] += n
    return root


def flamegraph_svg(stacks: Stacks, title: str, width: int = 1600) -> str:
    """An icicle-style flame graph (root on top) with a tooltip per frame."""
    root = _tree(stacks)
    total = root["n"] or 1
    row = 16
    rects: list[str] = []
    depth_max = 0

    def draw(node: dict[str, Any], name: str, x: float, depth: int) -> None:
        nonlocal depth_max
        w = node["n"] / total * width
        if w < 0.5:
            return
        depth_max = max(depth_max, depth)
        y = 30 + depth * row
        hue = zlib.crc32(name.encode()) % 60
        label = html.escape(name)
        tip = f"{label}: {node['n']} samples ({100 * node['n'] / total:.1f}%)"
        text = ""
        if w > 40:
            chars = int(w / 6.5)
            shown = html.escape(name if len(name) <= chars else name[:max(chars - 2, 1)] + "..")
            text = (f'<text x="{x + 3:.1f}" y="{y + 12}" font-size="11" '
                    f'font-family="monospace">{shown}</text>')
        rects.append(
            f'<g><title>{tip}</title><rect x="{x:.1f}" y="{y}" width="{w:.1f}" '
            f'height="{row - 1}" fill="hsl({hue},80%,62%)"/>{text}</g>'
        )
        cx = x
        for child_name, child in sorted(node["c"].items()):
            draw(child, child_name, cx, depth + 1)
            cx += child["n"] / total * width

    draw(root, "all", 0.0, 0)
    height = 30 + (depth_max + 1) * row + 10
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">'
            f'<text x="4" y="18" font-size="14" font-family="sans-serif">'
            f'{html.escape(title)} ({total} samples)</text>')
    return head + "".join(rects) + "</svg>"


# --- py-spy ----------------------------------------------------------------------------------

def py_spy() -> str | None:
    """The py-spy executable (next to this Python first), or None."""
    candidate = Path(sys.executable).parent / "py-spy"
    if candidate.is_file():
        return str(candidate)
    return shutil.which("py-spy")


class NodeProfiler:
    """py-spy recording one process between `start()` and `stop()`."""

    def __init__(self, pid: int, raw_path: Path, rate: int = 100) -> None:
        self.pid = pid
        self.raw_path = raw_path
        # CONSORTIUM_PYSPY_RATE: more samples a second for a short run's finer shares
        self.rate = int(os.environ.get("CONSORTIUM_PYSPY_RATE", rate))
        self._proc: subprocess.Popen[bytes] | None = None
        self.error = ""

    def start(self) -> bool:
        exe = py_spy()
        if exe is None:
            self.error = "py-spy is not installed (pip install 'consortium[bench]')"
            return False
        self.raw_path.parent.mkdir(parents=True, exist_ok=True)
        self._proc = subprocess.Popen(
            [exe, "record", "--pid", str(self.pid), "--rate", str(self.rate), "--format", "raw",
             "--full-filenames", "--output", str(self.raw_path),
             # e.g. "--gil": only the thread holding the GIL (what one interpreter waits on)
             *shlex.split(os.environ.get("CONSORTIUM_PYSPY_ARGS", ""))],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        return True

    def stop(self) -> Stacks:
        proc = self._proc
        if proc is None:
            return {}
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if not self.raw_path.is_file():
            lines = (err or b"").decode(errors="replace").strip().splitlines()
            self.error = f"py-spy failed: {lines[0] if lines else 'no output'}"
            return {}
        return parse_collapsed(self.raw_path.read_text(errors="replace"))


def merge(all_stacks: Iterable[Stacks]) -> Stacks:
    out: Counter[tuple[str, ...]] = Counter()
    for stacks in all_stacks:
        out.update(stacks)
    return dict(out)
