"""What every command shares: consoles, JSON output, the network folder option."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from consortium.network.layout import DEFAULT_DIR

console = Console()
err_console = Console(stderr=True)

DirOption = typer.Option(
    DEFAULT_DIR, "--dir", help="Local network folder (made by `consortium init`)."
)
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    t = Table(title=title)
    for col in columns:
        t.add_column(col)
    for row in rows:
        t.add_row(*["-" if v is None else str(v) for v in row])
    console.print(t)


def resolve_dir(path: Path) -> Path:
    return path.expanduser().resolve()
