"""A service's commands built from its declared surface, the same for every service: one
per `Write` (the first required argument without a `flag` positional, the rest options;
the signing options; accounts as 0x addresses or member names; the outcome as one line or
its JSON, or the proposal) and one per `Read` with a `cli` name (required parameters
positional; --dir, --rpc, --json; the service's table hook or a plain one; nothing found
exits 1).

    add_writes(app, REGISTRY, client)
    add_reads(app, REGISTRY, client, tables={"asset": show_asset})
"""

from __future__ import annotations

import dataclasses
import inspect
import keyword
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from consortium.apps.surface import ACCOUNT, ID, Param, Read, Service, Write
from consortium.cli.common import Signing, table, with_read_options, with_signing
from consortium.cli.services import account, done, namer, party, proposed
from consortium.errors import ConfigError

ClientFactory = Callable[[str | None, Path], Any]  # (--rpc, --dir) -> the service's client
# (the answer, account -> member name) -> None: prints a read's answer as tables
TableHook = Callable[[Any, Callable[[Any], Any]], None]
# (a write's outcome, --json, what it did: "approved") -> None: prints the outcome
Outcome = Callable[[dict[str, Any], bool, str], None]


def _positional(param: Param, first: bool) -> bool:
    """A write's first parameter, when required and without a `flag`, is an argument (and
    any declared `positional`)."""
    return (first and param.required and param.flag is None) or param.positional


def _parameter(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=default,
                             annotation=annotation)


def _cli(param: Param, positional: bool, name: str, annotation: Any, doc: str,
         default: Any) -> inspect.Parameter:
    """A parameter as a Typer argument (positional) or option."""
    return _parameter(name, annotation, typer.Argument(..., help=doc or None) if positional
                      else typer.Option(default, param.option, help=doc or None))


def _command(run: Callable[..., None], params: list[inspect.Parameter], doc: str,
             name: str) -> Callable[..., None]:
    """`run` with the signature Typer reads its options from."""
    run.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    run.__doc__, run.__name__ = doc, name
    return run


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
    signing = inspect.Parameter("signing", inspect.Parameter.KEYWORD_ONLY, annotation=Signing)
    return with_signing(_command(command, [*params, signing], write.summary, write.client))


def add_writes(app: typer.Typer, service: Service, client: ClientFactory,
               outcome: Outcome = done) -> None:
    """Register one command per declared write of `service` that has a `cli` name on `app`;
    `outcome` prints what a write did (default: the services' one line, or its JSON)."""
    for write in service.writes:
        if write.cli:
            app.command(write.cli)(write_command(write, client, outcome))


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
    """The command that makes `read` through the service's client and prints its answer."""
    positional = [p for p in read.params if p.required]
    options = [p for p in read.params if not p.required] + list(read.filters)

    def command(*, opts: Signing, **values: Any) -> None:
        dir, rpc = opts.dir, opts.rpc

        def given(param: Param) -> Any:
            value = values[_python_name(param)]
            if value is not None and (param.cli_kind or param.kind) is ACCOUNT:
                return account(value, dir, param.option, rpc)
            if value is not None and param.cli_kind is None:
                return param.kind.parse(value, param.option)
            return value

        args = [given(p) for p in read.params]
        filters = {f.keyword: value for f in read.filters if (value := given(f)) is not None}
        service_client = client(rpc, dir)
        fn = getattr(service_client, read.name, None) or getattr(service_client.read, read.name)
        found = fn(*args, **filters)
        if found is None:
            shown = " ".join(repr(a) if isinstance(a, str) else str(a) for a in args)
            raise ConfigError(f"no {read.noun or read.name} {shown}".rstrip())
        opts.show(found, lambda: show_table(found, namer(dir)))

    params = []
    for p in [*positional, *options]:
        kind = p.cli_kind or p.kind
        annotation: Any = int if kind is ID else str
        doc = p.doc + (" (a 0x address or a member name)" if kind is ACCOUNT else "")
        params.append(_cli(p, p in positional, _python_name(p),
                           annotation if p in positional else annotation | None, doc,
                           None if p.required else p.default))
    opts = inspect.Parameter("opts", inspect.Parameter.KEYWORD_ONLY, annotation=Signing)
    return with_read_options(_command(command, [*params, opts], read.summary + ".", read.name))


def add_reads(app: typer.Typer, service: Service, client: ClientFactory,
              tables: dict[str, TableHook] | None = None) -> None:
    """Register one command per declared read of `service` that has a `cli` name; `tables`
    print a read's answer (by read name) where a plain table would not do."""
    for read in service.reads:
        if read.cli is not None:
            app.command(read.cli)(read_command(read, client,
                                               (tables or {}).get(read.name, plain_table)))
