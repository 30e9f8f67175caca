"""A service's write commands built from its declared surface (`consortium.apps.surface`):
one command per `Write`, with its arguments (the first, when required and without a `flag`,
is positional: the object the command acts on; the others are options), the signing
options (--from, --dir, --rpc, --password-file, --json), accounts given as 0x addresses or
member names, and the outcome printed as one line or its JSON — the same for every service.

    add_writes(app, REGISTRY, lambda rpc, dir: RegistryClient(endpoint(rpc, dir)))
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer

from consortium.apps.surface import ACCOUNT, ID, Param, Service, Write
from consortium.cli.common import Signing, with_signing
from consortium.cli.services import done, party

ClientFactory = Callable[[str | None, Path], Any]  # (--rpc, --dir) -> the service's client


def _parameter(param: Param, first: bool) -> inspect.Parameter:
    annotation: Any = int if param.kind is ID else str
    if first and param.required and param.flag is None:
        default = typer.Argument(..., help=param.doc or None)
    elif param.required:
        default = typer.Option(..., param.option, help=param.doc or None)
    else:
        default = typer.Option(param.default, param.option, help=param.doc or None)
    return inspect.Parameter(param.name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                             default=default, annotation=annotation)


def write_command(write: Write, client: ClientFactory) -> Callable[..., None]:
    """The command that signs and sends `write`, and prints what it did."""

    def command(*, signing: Signing, **values: Any) -> None:
        args = [party(values[p.name], signing, p.option) if p.kind is ACCOUNT
                else values[p.name] for p in write.args]
        out = getattr(client(signing.rpc, signing.dir), write.client)(signing.signer(), *args)
        done(out, signing.json_out, write.done)

    params = [_parameter(p, i == 0) for i, p in enumerate(write.args)]
    signing = inspect.Parameter("signing", inspect.Parameter.KEYWORD_ONLY, annotation=Signing)
    command.__signature__ = inspect.Signature([*params, signing], return_annotation=None)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in params} | {
        "signing": Signing, "return": None}
    command.__doc__ = write.summary
    command.__name__ = write.client
    return with_signing(command)


def add_writes(app: typer.Typer, service: Service, client: ClientFactory) -> None:
    """Register one command per declared write of `service` on `app`."""
    for write in service.writes:
        app.command(write.cli)(write_command(write, client))
