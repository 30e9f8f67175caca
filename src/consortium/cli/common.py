"""What every command shares: consoles, JSON output, the network folder option, and the
options of a command that signs."""

from __future__ import annotations

import functools
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
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
    from consortium.network.supervisor import api_url_of, first_live_node

    network = Network.load(resolve_dir(dir))
    return api_url_of(network, first_live_node(network))


def read_password(password_file: Path | None) -> str | None:
    if password_file is None:
        return None
    try:
        return password_file.read_text().rstrip("\n")
    except OSError as exc:
        from consortium.errors import ConfigError

        raise ConfigError(f"cannot read --password-file {password_file}: {exc}") from None


def password_or_prompt(password_file: Path | None, prompt: str, confirm: bool) -> str:
    """The --password-file's password, else asked for (hidden)."""
    password = read_password(password_file)
    if password is None:
        password = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return password


def report(data: dict[str, object], json_out: bool, title: str, rows: list[list[Any]]) -> bool:
    """A command's result as JSON (then True: nothing more to print) or as a table."""
    if json_out:
        print_json(data)
        return True
    table(title, ["", ""], rows)
    return False


ReasonOption = typer.Option(..., "--reason", help="Why (kept in the event).")


@dataclass(frozen=True)
class Signing:
    """The options of a command that signs a transaction: who signs (--from, with the key's
    password in --password-file), which node (--rpc, else the first live node of --dir) and
    how the outcome is printed (--json)."""

    from_: str | None  # None: a read by nobody in particular (`with_reading`)
    dir: Path
    rpc: str | None
    password_file: Path | None
    json_out: bool

    def show(self, found: Any, render: Callable[[], None]) -> None:
        """Print `found` as JSON (--json), else render it (a table, a line)."""
        if self.json_out:
            print_json(found)
        else:
            render()

    def signer(self) -> Any:
        """The --from account, its key unlocked (a member name may come from the chain's
        member registry; see `signer`); None for a read without --from."""
        if self.from_ is None:
            return None
        return signer(self.from_, self.dir, self.password_file, self.rpc)


def _options(from_option: Any, from_type: Any) -> list[inspect.Parameter]:
    return [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                              annotation=annotation)
            for name, default, annotation in (
                ("from_", from_option, from_type),
                ("dir", DirOption, Path),
                ("rpc", RpcOption, str | None),
                ("password_file", PasswordFileOption, Path | None),
                ("json_out", JsonOption, bool))]


_SIGNING_PARAMETERS = _options(FromOption, str)
_READING_PARAMETERS = _options(typer.Option(
    None, "--from", help="Read as this member (its key opens what it may read)."), str | None)


_READ_PARAMETERS = [p for p in _SIGNING_PARAMETERS if p.name in ("dir", "rpc", "json_out")]


def with_signing(command: Callable[..., Any],
                 _parameters: list[inspect.Parameter] = _SIGNING_PARAMETERS,
                 _keyword: str = "signing") -> Callable[..., Any]:
    """Give a command the signing options after its own (--from, --dir, --rpc,
    --password-file, --json) as its keyword `signing`: `def accept(query_id: int = IdArg, *,
    signing: Signing)`."""
    own = inspect.signature(command, eval_str=True)
    parameters = [p for p in own.parameters.values() if p.name != _keyword]

    @functools.wraps(command)
    def run(**options: Any) -> Any:
        given = {"from_": None, "password_file": None} | {
            p.name: options.pop(p.name) for p in _parameters}
        return command(**options, **{_keyword: Signing(**given)})

    signature = own.replace(parameters=[*parameters, *_parameters])
    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    run.__annotations__["return"] = own.return_annotation
    return run


def with_read_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a read command --dir, --rpc and --json after its own, as its keyword `opts` (a
    `Signing` without a signer): `def show(ref: str = RefArg, *, opts: Signing)`."""
    return with_signing(command, _READ_PARAMETERS, "opts")


def with_reading(command: Callable[..., Any]) -> Callable[..., Any]:
    """`with_signing` for a read that may be made as someone (--from optional): the key of
    `signing.signer()`, or None, opens what it may."""
    return with_signing(command, _READING_PARAMETERS)


def signer(from_: str, dir: Path, password_file: Path | None,
           rpc: str | None = None) -> Any:
    """The --from account, its key unlocked: a keystore file, or a member name or address
    whose keystore is in --dir. A name the local network does not know is looked up in the
    chain's member registry and its account's keystore searched in --dir; without one, the
    error says which options give it."""
    from consortium.errors import ConfigError
    from consortium.sdk import resolve_signer

    root = resolve_dir(dir)
    password = read_password(password_file)
    try:
        return resolve_signer(from_, root, password)
    except ConfigError:
        text = from_.strip()
        if text.lower().startswith("0x") or text.endswith(".json") or text.isdigit():
            raise
        address = chain_member_account(text, dir, rpc)
        if address is None:
            raise
    try:
        return resolve_signer(address, root, password)
    except ConfigError:
        raise ConfigError(
            f"--from {from_!r} is the member with account {address} on chain, but no keystore "
            f"for it is in {root}: give --from with its keystore file (--from KEY.json), or "
            "--dir with the network folder that holds its keystore"
        ) from None


def chain_member_account(name: str, dir: Path, rpc: str | None) -> str | None:
    """The first account of the member called `name` in the chain's member registry (the
    node of --rpc, else of --dir), or None when no member has that name or no node is
    reachable."""
    from consortium.errors import ConsortiumError
    from consortium.system.client import GovernanceClient

    try:
        member = GovernanceClient(endpoint(rpc, dir)).member(name)
    except (ConsortiumError, OSError, ValueError):
        return None
    if member is None or not member["accounts"] or member["name"].lower() != name.lower():
        return None
    return str(member["accounts"][0]).lower()
