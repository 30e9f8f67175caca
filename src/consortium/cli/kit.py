"""What every command shares, in one import (`from consortium.cli import kit`): consoles,
JSON and tables; the options of a command that reads or signs (`Signing`); accounts named
by 0x address or member name (of the local network in --dir, else of the chain's member
registry); how a write's outcome is printed; and a service's commands built from its
declared surface (`add_writes`, `add_reads`)."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import keyword
import re
import sys
from collections.abc import Callable, Sequence
from importlib import import_module
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

# typer 0.29 carries its own copy of click (cli/main.py catches its UsageError likewise)
from typer._click.core import Context
from typer._click.exceptions import BadParameter
from typer._click.parser import _OptionParser, _ParsingState

from consortium.apps.surface import (
    ACCOUNT,
    ID,
    PAGE_LIMIT,
    UINT256_MAX,
    Param,
    Read,
    Service,
    Write,
    future_height,
    shown_number,
    uint_problem,
)
from consortium.errors import ConfigError, ConsortiumError, known
from consortium.ledger.genesis import DEFAULT_BLOCK_GAS_LIMIT
from consortium.network.layout import DEFAULT_DIR, Network

console = Console()
err_console = Console(stderr=True)

DirOption = typer.Option(DEFAULT_DIR, "--dir",
                         help="The network folder: a local network (`consortium init`), a "
                         "member's node home (`consortium node setup --out`) or the folder "
                         "`consortium join --dir` made.")
JsonOption = typer.Option(False, "--json", help="Print JSON instead of a table.")
BlockGasLimitOption = typer.Option(
    DEFAULT_BLOCK_GAS_LIMIT, "--block-gas-limit",
    help="Gas every block may use in all, fixed at genesis (bounds a block's execution time).")
RpcOption = typer.Option(None, "--rpc", help="A node's API URL (instead of --dir).")
FromOption = typer.Option(..., "--from", help="Signer: a member name, an address whose "
                         "keystore is in DIR, or a file.")
PasswordFileOption = typer.Option(None, "--password-file", help="File with the key's password.")
KeyFileOption = typer.Option(
    None, "--key-file", help="The consortium key file (default: the local network's in --dir)."
)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def table(title: str, columns: list[str], rows: list[list[Any]], *,
          optional: Sequence[str] = ()) -> None:
    """`rows` under `columns` (no header row when every column title is empty: a list of
    name/value pairs). A cell too wide is folded onto more lines, never cut to `…`; the
    `optional` columns are left out, in that order, while the table would be wider than
    the terminal, and its caption names them. Cells are plain text, not Rich markup."""
    cells = [["-" if v is None else escape(str(v)) for v in row] for row in rows]
    kept = list(range(len(columns)))
    dropped: list[str] = []

    def build() -> Table:
        t = Table(title=title, show_header=any(columns))
        for i in kept:
            t.add_column(columns[i], overflow="fold")
        for row in cells:
            t.add_row(*[row[i] for i in kept])
        if dropped:
            t.caption = (f"not shown at {console.width} columns: {', '.join(dropped)} "
                         "(a wider terminal shows them)")
        return t

    shown = build()
    for name in optional:
        natural = console.measure(shown, options=console.options.update_width(1 << 16))
        if natural.maximum <= console.width:
            break
        kept.remove(columns.index(name))
        dropped.append(name)
        shown = build()
    console.print(shown)


def show(found: Any, json_out: bool, render: Callable[[], None]) -> None:
    """Print `found` as JSON (--json), else render it (a table, a line)."""
    if json_out:
        print_json(found)
    else:
        render()


def report(data: dict[str, object], json_out: bool, title: str, rows: list[list[Any]],
           note: str = "") -> bool:
    """A command's result as JSON (then True: nothing more to print) or as a table, then
    `note` (what to do next)."""
    show(data, json_out, lambda: table(title, ["", ""], rows))
    if note and not json_out:
        console.print(note, soft_wrap=True)
    return json_out


def resolve_dir(path: Path) -> Path:
    return path.expanduser().resolve()


def endpoint(rpc: str | None, dir: Path) -> str:
    """The API URL a command talks to: --rpc, else the first live node of --dir."""
    if rpc:
        if not rpc.startswith(("http://", "https://")):
            raise ConfigError(f"--rpc must be an http(s) URL, got {rpc!r}")
        return rpc.rstrip("/")
    from consortium.network.supervisor import api_url_of, first_live_node

    network = Network.load(resolve_dir(dir))
    return api_url_of(network, first_live_node(network))


def client_of(module: str, name: str) -> Callable[..., Any]:
    """A service's client factory, `(--rpc, --dir, **options) -> client`: class `name` of
    `module` (imported when a command runs) at the node `endpoint` names."""
    return lambda rpc, dir, **options: getattr(import_module(module), name)(
        endpoint(rpc, dir), **options)


def key_of(key_file: Path | None, dir: Path) -> bytes:
    """The consortium key: --key-file, else the local network's in --dir."""
    from consortium.apps.invoices.fingerprint import find_key

    return find_key(key_file, resolve_dir(dir))


def read_password(password_file: Path | None) -> str | None:
    if password_file is None:
        return None
    try:
        return password_file.read_text().rstrip("\n")
    except OSError as exc:
        raise ConfigError(f"cannot read --password-file {password_file}: {exc}") from None


def password_or_prompt(password_file: Path | None, prompt: str, confirm: bool) -> str:
    """The --password-file's password, else asked for (hidden)."""
    password = read_password(password_file)
    if password is None:
        password = typer.prompt(prompt, hide_input=True, confirmation_prompt=confirm)
    return password


# --- accounts: 0x addresses or member names -------------------------------------------------
def members(dir: Path) -> dict[str, str]:
    """Member name -> account, from the local network in `dir` (empty without one)."""
    root = resolve_dir(dir)
    if not (root / "network.json").is_file():
        return {}
    return {m.name: m.address.lower() for m in Network.load(root).members}


def namer(dir: Path) -> Any:
    """account -> its member's name (the account itself when unknown)."""
    names = {a: n for n, a in members(dir).items()}
    return lambda address: None if address is None else names.get(address, address)


def chain_member_account(name: str, dir: Path, rpc: str | None) -> str | None:
    """The first account of the member called `name` in the chain's member registry (the
    node of --rpc, else of --dir), or None when no member has that name or no node is
    reachable."""
    from consortium.system.client import GovernanceClient

    try:
        member = GovernanceClient(endpoint(rpc, dir)).member(name)
    except (ConsortiumError, OSError, ValueError):
        return None
    if member is None or not member["accounts"] or member["name"].lower() != name.lower():
        return None
    return str(member["accounts"][0]).lower()


def account(value: str | None, dir: Path, what: str, rpc: str | None = None) -> str | None:
    """A 0x account, or the account of a member name (the local network's in --dir, else
    the chain's member registry); None stays None."""
    if value is None:
        return None
    text = value.strip()
    if text.lower().startswith("0x") and len(text) == 42:
        return text.lower()
    for name, address in members(dir).items():
        if name.lower() == text.lower():
            return address
    if text and not text.isdigit():
        found = chain_member_account(text, dir, rpc)
        if found is not None:
            return found
    raise ConfigError(f"{what} {value!r} is not a 0x account or a member name (of the local "
                      f"network in {dir} or of the chain's member registry)")


def signer(from_: str, dir: Path, password_file: Path | None,
           rpc: str | None = None) -> Any:
    """The --from account, its key unlocked: a keystore file, or a member name or address
    whose keystore is in --dir. A name the local network does not know is looked up in the
    chain's member registry and its account's keystore searched in --dir; without one, the
    error says which options give it. Finding the keystore and opening it are apart: a
    keystore that is found but that the password does not open is named as such (`wrong
    password for keystore PATH`), never as one missing."""
    from consortium.sdk import resolve_signer
    from consortium.sdk.keys import keystore_for

    def keystore(name: str) -> None:
        """Whether `name` has a keystore file in --dir (ConfigError: not)."""
        path = keystore_for(name, root)
        if not path.is_file():
            raise ConfigError(f"the keystore of --from {name!r} ({path}) does not exist: "
                              "put it back, or give --from with its keystore file")

    root = resolve_dir(dir)
    password = read_password(password_file)
    try:
        keystore(from_)
    except ConfigError:
        text = from_.strip()
        if text.lower().startswith("0x") or text.endswith(".json") or text.isdigit():
            raise
        address = chain_member_account(text, dir, rpc)
        if address is None:
            raise
        try:
            keystore(address)
        except ConfigError:
            raise ConfigError(
                f"--from {from_!r} is the member with account {address} on chain, but no "
                f"keystore for it is in {root}: give --from with its keystore file (--from "
                "KEY.json), or --dir with the network folder that holds its keystore"
            ) from None
        from_ = address
    return resolve_signer(from_, root, password)


# --- the options of a command that reads or signs -------------------------------------------
@dataclasses.dataclass(frozen=True)
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
        show(found, self.json_out, render)

    def signer(self) -> Any:
        """The --from account, its key unlocked (a member name may come from the chain's
        member registry; see `signer`); None for a read without --from."""
        if self.from_ is None:
            return None
        return signer(self.from_, self.dir, self.password_file, self.rpc)


def party(value: str, signing: Signing, what: str) -> str:
    """The account of `value` (see `account`) with a command's --dir and --rpc."""
    found = account(value, signing.dir, what, signing.rpc)
    assert found is not None
    return found


def _parameter(name: str, default: Any, annotation: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                             annotation=annotation)


def _options(from_option: Any, from_type: Any) -> list[inspect.Parameter]:
    return [_parameter(*option) for option in (
        ("from_", from_option, from_type), ("dir", DirOption, Path), ("rpc", RpcOption, str | None),
        ("password_file", PasswordFileOption, Path | None), ("json_out", JsonOption, bool))]


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
    return _with_options(command, parameters, _parameters, _keyword, own.return_annotation)


def with_read_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give a read command --dir, --rpc and --json after its own, as its keyword `opts` (a
    `Signing` without a signer): `def show(ref: str = RefArg, *, opts: Signing)`."""
    return with_signing(command, _READ_PARAMETERS, "opts")


def with_reading(command: Callable[..., Any]) -> Callable[..., Any]:
    """`with_signing` for a read that may be made as someone (--from optional): the key of
    `signing.signer()`, or None, opens what it may."""
    return with_signing(command, _READING_PARAMETERS)


def _with_options(command: Callable[..., Any], own: list[inspect.Parameter],
                  options: list[inspect.Parameter], keyword: str,
                  returns: Any = None) -> Callable[..., Any]:
    """`command` as Typer reads it: its `own` parameters, then `options`, which it is given
    as one `Signing`, its keyword `keyword`."""

    @functools.wraps(command)
    def run(**values: Any) -> Any:
        given = {"from_": None, "password_file": None} | {
            p.name: values.pop(p.name) for p in options}
        return command(**values, **{keyword: Signing(**given)})

    params = [*own, *options]
    run.__signature__ = inspect.Signature(params, return_annotation=returns)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params} | {"return": returns}
    return run


# --- what the service commands share: alternative options, heights, outcomes --------------
def one_of(a: Any, b: Any, message: str) -> None:
    """Exactly one of two alternative options is given, else `message`."""
    if (a is None) == (b is None):
        raise ConfigError(message)


def height(client: Any, at: int | None, blocks: int | None, after: int = 0,
           option: str = "") -> int:
    """A height given (`at`, default 0), or the chain's height (+ `after`) plus `blocks`
    (an option's "or: this many blocks from now"). A deadline or expiry `option` ("--blocks")
    that cannot lie beyond the block the transaction lands in (the next, at the earliest) is
    refused before anything is sent, as is one past 2**256-1."""
    if blocks is None:
        return int(at or 0)
    if option and after + blocks < 2:
        raise ConfigError(f"{option} {blocks} is too few blocks: the transaction lands in the "
                          f"next block at the earliest, already at or past that height (give "
                          f"{2 - after} or more)")
    found = client.height() + after + blocks
    if found > UINT256_MAX:
        raise ConfigError(f"{option or 'the height'}: {shown_number(blocks)} blocks from now "
                          "is out of range: a height is at most 2**256-1")
    return int(found)


def past_height(client: Any, at: int | None, option: str) -> None:
    """Refuse a read `--at` a height the chain has not reached ("height N is in the future;
    the chain is at M"), rather than answer today's state under that height."""
    if at is not None:
        future_height(option, at, client.height())


def done(out: dict[str, Any], json_out: bool, what: str) -> None:
    """Print a write's outcome: one line, or its JSON."""
    moved = f"{out.get('from') or '-'} -> {out.get('state', '?')}"
    show(out, json_out, lambda: console.print(f"{what} {out.get('object', '')} "
                                              f"{out.get('id', '')}: {moved} (block "
                                              f"{out['block']}, tx {out['txHash']})"))


def proposed(out: dict[str, Any], json_out: bool) -> None:
    show(out, json_out, lambda: table("Proposal (app-call)", ["proposal", "status", "block", "tx"],
                                      [[out["proposal"], out["status"], out["block"],
                                        out["txHash"]]]))
    if not json_out and out.get("status") == "open":
        console.print(f"members vote with: consortium vote {out['proposal']} yes --from … "
                      "(the proposer too: proposing is not a vote)")


def history_table(title: str, history: list[dict[str, Any]], show: Any) -> None:
    table(title, ["block", "actor", "from", "to", "reason"], [
        [h["block"], show(h["actor"]), h["from"] or None, h["to"], h["reason"]] for h in history])


# --- numbers: whole, in a contract's uint256 range; negative ones are values, not options ---
def whole(least: int = 0) -> Callable[[Any], int]:
    """An integer argument's parser (typer's `parser=`): a whole number from `least` (1:
    "must be above 0") to 2**256-1, each mistake its own one-line message naming the option."""

    def parse(value: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            number = value
        else:
            text = str(value).strip()
            if not re.fullmatch(r"[+-]?\d+", text):
                raise BadParameter(f"{text!r} is not a whole number")
            number = int(text)
        problem = uint_problem(number, least=least)
        if problem:
            raise BadParameter(problem)
        return number

    return parse


NUMBER, POSITIVE = whole(0), whole(1)
_NEGATIVE_NUMBER = re.compile(r"-\d[\d.]*")  # "-5", "-1.5": never an option's name


class _Parser(_OptionParser):
    """Click's parser, but a negative number where an argument is expected is that argument
    ("-5" is refused by its range, not as "No such option: -5")."""

    def _process_opts(self, arg: str, state: _ParsingState) -> None:
        if _NEGATIVE_NUMBER.fullmatch(arg) and arg not in self._short_opt:
            state.largs.append(arg)
            return
        super()._process_opts(arg, state)


class ServiceCommand(typer.core.TyperCommand):
    """A service command: negative numbers parse as arguments, and every integer it is
    given, however declared, is checked against a contract's uint256 range (one line
    naming the option: "Invalid value for '--price': 115792…9936 (78 digits) is out of
    range: 0 to 2**256-1"), never an ABI encoder's traceback."""

    def make_parser(self, ctx: Context) -> _OptionParser:
        parser = _Parser(ctx)
        for param in self.get_params(ctx):
            param.add_to_parser(parser, ctx)
        return parser

    def parse_args(self, ctx: Context, args: list[str]) -> list[str]:
        rest = super().parse_args(ctx, args)
        for param in self.get_params(ctx):
            value = ctx.params.get(param.name or "")
            for number in value if isinstance(value, list | tuple) else [value]:
                if isinstance(number, int) and not isinstance(number, bool):
                    problem = uint_problem(number)
                    if problem:
                        raise BadParameter(problem, ctx=ctx,
                                           param=param)  # type: ignore[arg-type]
        return rest


class ServiceTyper(typer.Typer):
    """A service's command group: its commands are `ServiceCommand`s unless told."""

    def command(self, name: str | None = None, *, cls: Any = None,  # type: ignore[override]
                **options: Any) -> Any:
        return super().command(name, cls=cls or ServiceCommand, **options)


# --- a service's commands, built from its declared surface -----------------------------------
ClientFactory = Callable[[str | None, Path], Any]  # (--rpc, --dir) -> the service's client
# (the answer, account -> member name) -> None: prints a read's answer as tables
TableHook = Callable[[Any, Callable[[Any], Any]], None]
# (a write's outcome, --json, what it did: "approved") -> None: prints the outcome
Outcome = Callable[[dict[str, Any], bool, str], None]


def _positional(param: Param, first: bool) -> bool:
    """A write's first parameter, when required and without a `flag`, is an argument (and
    any declared `positional`)."""
    return (first and param.required and param.flag is None) or param.positional


def _cli(param: Param, positional: bool, name: str, annotation: Any, doc: str,
         default: Any) -> inspect.Parameter:
    """A parameter as a Typer argument (positional) or option; a number is parsed by
    `whole` (an id, and a write's amount, above 0)."""
    kind = param.cli_kind or param.kind
    parser = _number_parser(param) if kind.schema.get("type") == "integer" else None
    return _parameter(name, typer.Argument(..., help=doc or None, parser=parser) if positional
                      else typer.Option(default, param.option, help=doc or None, parser=parser),
                      annotation)


def _number_parser(param: Param) -> Callable[[Any], int]:
    """An integer kind's CLI parser: an id, and an amount ("amount": units, cash, a
    tranche; a contract moves none of 0), above 0, other numbers 0 or more."""
    return POSITIVE if param.kind is ID or param.name == "amount" else NUMBER


def write_command(write: Write, client: ClientFactory,
                  outcome: Outcome = done) -> Callable[..., None]:
    """The command that signs and sends `write`, and prints what it did (`outcome`)."""

    def command(*, signing: Signing, **values: Any) -> None:
        def given(param: Param, value: Any, first: bool) -> Any:
            if param.kind is not ACCOUNT:
                return value
            if param.many:
                return [given(dataclasses.replace(param, many=False), v, first) for v in value]
            return party(value, signing, param.name.upper() if _positional(param, first)
                         else param.option)

        args = [given(p, values[p.name], i == 0) for i, p in enumerate(write.args)]
        out = getattr(client(signing.rpc, signing.dir), write.client)(signing.signer(), *args)
        if write.propose:
            proposed(out, signing.json_out)
        else:
            outcome(out, signing.json_out, write.done)

    params = []
    for i, p in enumerate(write.args):
        annotation: Any = int if p.kind.schema.get("type") == "integer" else str
        params.append(_cli(p, _positional(p, i == 0), p.name,
                           list[annotation] if p.many else annotation, p.doc,
                           ... if p.required else p.default))
    command.__doc__, command.__name__ = write.summary, write.client
    return _with_options(command, params, _SIGNING_PARAMETERS, "signing")


def add_writes(app: typer.Typer, service: Service, client: ClientFactory,
               outcome: Outcome = done) -> None:
    """Register one command per declared write of `service` (its local ones too) that has a
    `cli` name on `app`; `outcome` prints what a write did (default: the services' one line,
    or its JSON)."""
    for write in (*service.writes, *service.local_writes):
        if write.cli:
            app.command(write.cli, cls=ServiceCommand)(write_command(write, client, outcome))


def _python_name(param: Param) -> str:
    """The command function's name for a parameter (its reader keyword: a Python name)."""
    name = param.keyword.replace("-", "_")
    return name if name.isidentifier() and not keyword.iskeyword(name) else f"{name}_"


def plain_table(found: Any, show: Callable[[Any], Any]) -> None:
    """A list of records as rows of their plain fields, one record as field/value rows."""
    if isinstance(found, list):
        columns = [k for k, v in (found[0] if found else {}).items()
                   if not isinstance(v, list | dict)]
        table(f"{len(found)} found", columns, [[row[c] for c in columns] for row in found])
    else:
        table("", ["field", "value"], [[k, v] for k, v in found.items()
                                        if not isinstance(v, list | dict)])


def rows(title: str, columns: str, row: Callable[[Any, Callable[[Any], Any]], list[Any]]
         ) -> TableHook:
    """A table hook for a list: "<title> (n)" over `columns` (comma-separated), one
    `row(record, show)` per record found."""
    return lambda found, show: table(f"{title} ({len(found)})", columns.split(","),
                                     [row(x, show) for x in found])


def read_command(read: Read, client: ClientFactory,
                 show_table: TableHook = plain_table) -> Callable[..., None]:
    """The command that makes `read` through the service's client and prints its answer
    (its required parameters are arguments, the rest options; nothing found exits 1)."""
    positional = [p for p in read.params if p.required]
    options = [p for p in read.params if not p.required] + list(read.filters)

    def command(*, opts: Signing, **values: Any) -> None:
        def given(param: Param) -> Any:
            value = values[_python_name(param)]
            if value is not None and (param.cli_kind or param.kind) is ACCOUNT:
                return account(value, opts.dir, param.option, opts.rpc)
            if value is not None and param.cli_kind is None:
                return param.kind.parse(value, param.option)
            return value

        args = [given(p) for p in read.params]
        filters = {f.keyword: value for f in read.filters if (value := given(f)) is not None}
        service_client = client(opts.rpc, opts.dir)
        # a height above the chain's is refused (the client's height() read only then)
        read.check_heights(args, filters, lambda: service_client.height())
        fn = getattr(service_client, read.name, None) or getattr(service_client.read, read.name)
        shown = " ".join(repr(a) if isinstance(a, str) else str(a) for a in args)
        found = known(fn(*args, **filters), f"no {read.noun or read.name} {shown}".rstrip())
        opts.show(found, lambda: show_table(found, namer(opts.dir)))
        if (read.paged and found
                and len(found) == filters.get("limit", PAGE_LIMIT)):
            err_console.print(f"a full page of {len(found)}: the next with --after "
                              f"{found[-1]['id']}", highlight=False)

    params = []
    for p in [*positional, *options]:
        kind = p.cli_kind or p.kind
        annotation: Any = int if kind.schema.get("type") == "integer" else str
        doc = p.doc + (" (a 0x address or a member name)" if kind is ACCOUNT else "")
        params.append(_cli(p, p in positional, _python_name(p),
                           annotation if p in positional else annotation | None, doc,
                           None if p.required else p.default))
    command.__doc__, command.__name__ = read.summary + ".", read.name
    return _with_options(command, params, _READ_PARAMETERS, "opts")


def add_reads(app: typer.Typer, service: Service, client: ClientFactory,
              tables: dict[str, TableHook] | None = None) -> None:
    """Register one command per declared read of `service` that has a `cli` name; `tables`
    print a read's answer (by read name) where a plain table would not do."""
    for read in service.reads:
        if read.cli is not None:
            app.command(read.cli, cls=ServiceCommand)(read_command(
                read, client, (tables or {}).get(read.name, plain_table)))


_HEX32 = re.compile(r"0x[0-9a-fA-F]{64}")


def hex32(noun: str) -> Callable[[str], str]:
    """An argument's parser: a 32-byte 0x hash (a group id, a transaction hash), refused
    here naming the argument rather than by the node ("params[0]: …")."""

    def parse(value: str) -> str:
        text = str(value).strip()
        if not _HEX32.fullmatch(text):
            raise BadParameter(f"{text!r} is not {noun}: 0x and 64 hex digits")
        return text.lower()

    return parse
