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


RpcOption = typer.Option(None, "--rpc", help="A node's API URL (instead of --dir).")
FromOption = typer.Option(
    ..., "--from", help="Signer: a member name, an address whose keystore is in DIR, or a file."
)
PasswordFileOption = typer.Option(None, "--password-file", help="File with the key's password.")


def endpoint(rpc: str | None, dir: Path) -> str:
    """The API URL a command talks to: --rpc, else the first live node of --dir."""
    if rpc:
        if not rpc.startswith(("http://", "https://")):
            from consortium.errors import ConfigError

            raise ConfigError(f"--rpc must be an http(s) URL, got {rpc!r}")
        return rpc.rstrip("/")
    from consortium.network.layout import Network
    from consortium.network.supervisor import first_live_node

    return first_live_node(Network.load(resolve_dir(dir))).api_url


def read_password(password_file: Path | None) -> str | None:
    if password_file is None:
        return None
    try:
        return password_file.read_text().rstrip("\n")
    except OSError as exc:
        from consortium.errors import ConfigError

        raise ConfigError(f"cannot read --password-file {password_file}: {exc}") from None
