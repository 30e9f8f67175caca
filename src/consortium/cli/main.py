"""The `consortium` command."""

from __future__ import annotations

import sys

import typer

# typer 0.29 carries its own copy of click; its usage errors are not exported publicly.
from typer._click.exceptions import UsageError

from consortium.cli import (
    accounts,
    api_access,
    backup,
    bench,
    ceremony,
    contracts,
    credit,
    demo,
    forum,
    governance,
    invoices,
    kit,
    network,
    privacy,
    registry,
    securities,
    transactions,
)
from consortium.errors import ConsortiumError

app = typer.Typer(name="consortium", no_args_is_help=True, pretty_exceptions_enable=False,
                  add_completion=False,
                  help="Consortium: a permissioned blockchain for financial institutions.")
GROUPS = {
    "key": ceremony.key_app, "engine": network.engine_app, "account": accounts.app,
    "contract": contracts.app, "member": governance.member_app,
    "propose": governance.propose_app, "taskforce": governance.taskforce_app,
    "regulator": governance.regulator_app, "invoice": invoices.app, "securities": securities.app,
    "credit": credit.app, "registry": registry.app, "forum": forum.app, "privacy": privacy.app,
    "bench": bench.app, "node": ceremony.node_app, "api-token": api_access.token_app,
    "tls": api_access.tls_app,
}
for name, group in GROUPS.items():
    app.add_typer(group, name=name)
for command in (demo.demo, network.init, ceremony.keygen, ceremony.genesis, network.up,
                network.down, network.status, network.logs, ceremony.join, backup.backup,
                backup.restore, governance.officers, governance.roles, governance.upgrades,
                transactions.tx):
    app.command()(command)
# a proposal id is a whole number from 1: "-1" is that argument, refused by its range (not
# "No such option: -1")
for command in (governance.vote, governance.revoke, governance.proposals):
    app.command(cls=kit.ServiceCommand)(command)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; every error is one line on stderr and a non-zero exit code."""
    command = typer.main.get_command(app)
    try:
        result = command.main(args=argv, prog_name="consortium", standalone_mode=False)
    except UsageError as exc:
        where = exc.ctx.command_path if exc.ctx else "consortium"
        if not exc.format_message():  # bare group: help was already printed
            return 2
        sys.stderr.write(f"error: {exc.format_message()} (see `{where} --help`)\n")
        return 2
    except typer.Exit as exc:
        return exc.exit_code
    except typer.Abort:
        sys.stderr.write("aborted\n")
        return 130
    except ConsortiumError as exc:
        sys.stderr.write(f"error: {exc.message}\n")
        return 1
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()
