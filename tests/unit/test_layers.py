"""Layers point down: the import statements of src/consortium, read with `ast` (imports
inside functions count too), against the layer rules of issue 19 — and no import circles."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "consortium"

# package -> the packages above it (or beside it) that it must never import.
FORBIDDEN: dict[str, tuple[str, ...]] = {
    "evm": ("ledger", "system", "apps", "api", "cli", "network", "abci", "bench", "natives",
            "console"),
    "ledger": ("apps", "api", "cli", "network", "bench", "natives", "console"),
    "system": ("ledger", "apps", "api", "cli", "network", "abci", "bench", "natives",
               "console"),
    "abci": ("network", "ledger", "system", "api", "cli", "apps", "bench", "natives",
             "console"),
    "apps": ("console",),  # the web console sits beside the API, above the services
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> set[str]:
    """Every consortium module `path` imports (`from a import b` names a.b when b is a module)."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                found.add(sub if _is_module(sub) else base)
    return {name for name in found if name == "consortium" or name.startswith("consortium.")}


def _is_module(name: str) -> bool:
    path = SRC.joinpath(*name.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


SOURCES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}
IMPORTS = {name: imports_of(path) for name, path in SOURCES.items()}


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_a_layer_imports_nothing_above_it(layer: str) -> None:
    above = tuple(f"consortium.{p}" for p in FORBIDDEN[layer])
    wrong = sorted(
        f"{name} imports {target}"
        for name, targets in IMPORTS.items()
        if name == f"consortium.{layer}" or name.startswith(f"consortium.{layer}.")
        for target in targets
        if any(target == a or target.startswith(a + ".") for a in above)
    )
    assert wrong == []


def test_the_rules_see_imports_inside_functions(tmp_path: Path) -> None:
    """The walk is not fooled by an import moved into a function (as the host/native
    circle once was)."""
    assert "consortium.evm.storage" in IMPORTS["consortium.evm.native"]
    assert "consortium.evm.native" in IMPORTS["consortium.evm.host"]
    lazy = [n for n in ast.walk(ast.parse(SOURCES["consortium.network.node"].read_text()))
            if isinstance(n, ast.ImportFrom) and n.col_offset > 0]
    assert lazy, "node.py's function-level imports are part of the picture"
    assert "consortium.ledger.ledger" in IMPORTS["consortium.network.node"]


def test_no_import_circles() -> None:
    """No module reaches itself through imports (function-level ones included)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    circles: list[list[str]] = []

    def visit(name: str) -> None:  # Tarjan's strongly connected components
        index[name] = low[name] = len(index)
        stack.append(name)
        on_stack.add(name)
        for target in IMPORTS.get(name, ()):
            if target not in IMPORTS:
                continue
            if target not in index:
                visit(target)
                low[name] = min(low[name], low[target])
            elif target in on_stack:
                low[name] = min(low[name], index[target])
        if low[name] == index[name]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == name:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for name in sorted(IMPORTS):
        if name not in index:
            visit(name)
    assert circles == []
