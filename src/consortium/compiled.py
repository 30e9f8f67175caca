"""Compiled copies of the native contracts' framework modules: the same Python source, run as
C (Cython), for less CPU an order (issue 23).

`scripts/compile_hot_paths.py` builds `HOT_MODULES` into `<engine dir>/compiled/` with a
manifest naming each module's source by its SHA-256. `install()` (run by the package's
`__init__`) puts a finder before Python's own that loads a compiled copy only when the source
in this tree is the one it was built from: an edited module runs as Python until rebuilt,
never as a stale copy. `CONSORTIUM_PURE_PYTHON=1` turns the copies off.

The modules are the framework's leaves — record codecs, storage slots, ABI codecs, field
types, the state views over them: nothing in them calls back into a contract, so the frames
between two nested contract calls are the same either way. Their semantics are Python's
(Cython without static typing), and a native contract's unexpected error reaches the chain as
its type name only (`revert_output`): a node with the copies and one without commit the same
results (`tests/unit/test_compiled_modules.py` runs a workload both ways).
"""

from __future__ import annotations

import hashlib
import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

HOT_MODULES = (
    "consortium.evm.abi_codec",
    "consortium.evm.field_types",
    "consortium.evm.records",
    "consortium.evm.storage",
    # the services' and the system's state views: records and storage over their slots
    "consortium.apps.credit.state",
    "consortium.apps.invoices.state",
    "consortium.apps.registry.state",
    "consortium.apps.securities.state",
    "consortium.system.state",
)
MANIFEST = "manifest.json"
PURE_ENV = "CONSORTIUM_PURE_PYTHON"


def compiled_dir() -> Path:
    from consortium.engine_paths import engine_dir

    return engine_dir() / "compiled"


def module_file(module: str, suffix: str) -> Path:
    """A module's file relative to the package root (`consortium/evm/records` + suffix)."""
    return Path(*module.split(".")).with_suffix(suffix)


def source_path(module: str) -> Path:
    """The module's source file in this tree (not imported: the finder runs before it)."""
    return Path(__file__).resolve().parent.parent / module_file(module, ".py")  # src/…


def source_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def abi_tag() -> str:
    """The extension suffix this interpreter loads (`.cpython-311-x86_64-linux-gnu.so`)."""
    return importlib.machinery.EXTENSION_SUFFIXES[0]


class CompiledFinder(importlib.abc.MetaPathFinder):
    """Finds the compiled copy of a hot module whose source is unchanged since its build."""

    def __init__(self, folder: Path, manifest: dict[str, Any]) -> None:
        self.folder = folder
        self.entries: dict[str, dict[str, str]] = (
            manifest.get("modules", {}) if manifest.get("abi") == abi_tag() else {})
        self.loaded: list[str] = []
        self.stale: list[str] = []

    def fresh(self, name: str) -> Path | None:
        """The compiled copy of `name` when it is built from the source in this tree."""
        entry = self.entries.get(name)
        if entry is None:
            return None
        binary = self.folder / entry["file"]
        try:
            same = binary.is_file() and source_digest(source_path(name)) == entry["sha256"]
        except OSError:
            same = False
        return binary if same else None

    def find_spec(self, fullname: str, path: Any = None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in self.entries:
            return None
        binary = self.fresh(fullname)
        if binary is None:
            self.stale.append(fullname)
            return None
        loader = importlib.machinery.ExtensionFileLoader(fullname, str(binary))
        spec = importlib.util.spec_from_file_location(fullname, binary, loader=loader)
        if spec is not None:
            self.loaded.append(fullname)
        return spec


_finder: CompiledFinder | None = None


def _pure() -> bool:
    return os.environ.get(PURE_ENV, "") not in ("", "0")


def install() -> CompiledFinder | None:
    """Put the finder first on `sys.meta_path` when copies are built and not turned off."""
    global _finder
    if _finder is not None or _pure():
        return _finder
    folder = compiled_dir()
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(manifest, dict):
        return None
    _finder = CompiledFinder(folder, manifest)
    sys.meta_path.insert(0, _finder)
    return _finder


def status() -> dict[str, list[str]]:
    """Which hot modules run compiled, and which were built from another source."""
    finder = _finder
    loaded = [m for m in HOT_MODULES if m in sys.modules
              and str(getattr(sys.modules[m], "__file__", "")).endswith(abi_tag())]
    return {"compiled": loaded, "stale": sorted(set(finder.stale)) if finder else []}


def describe() -> str:
    """One line for a node's log: whether the framework runs compiled, and why not."""
    if _pure():
        return f"framework modules run as Python ({PURE_ENV} is set)"
    finder = _finder
    if finder is None or not finder.entries:
        return ("framework modules run as Python (not compiled for this interpreter: "
                "scripts/compile_hot_paths.py)")
    stale = [name for name in HOT_MODULES if finder.fresh(name) is None]
    if not stale:
        return f"framework modules run compiled ({len(HOT_MODULES)} modules)"
    return (f"framework modules run compiled but for {', '.join(stale)} (edited since built: "
            "scripts/compile_hot_paths.py)")
