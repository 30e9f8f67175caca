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
    engine,
    forum,
    governance,
    invoices,
    join,
    network,
    privacy,
    registry,
    securities,
)
from consortium.errors import ConsortiumError

app = typer.Typer(
    name="consortium",
    help="Consortium: a permissioned blockchain for financial institutions.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(ceremony.key_app, name="key")
app.add_typer(engine.app, name="engine")
app.add_typer(accounts.app, name="account")
app.add_typer(contracts.app, name="contract")
app.add_typer(governance.member_app, name="member")
app.add_typer(governance.propose_app, name="propose")
app.add_typer(governance.taskforce_app, name="taskforce")
app.add_typer(governance.regulator_app, name="regulator")
app.add_typer(invoices.app, name="invoice")
app.add_typer(securities.app, name="securities")
app.add_typer(credit.app, name="credit")
app.add_typer(registry.app, name="registry")
app.add_typer(forum.app, name="forum")
app.add_typer(privacy.app, name="privacy")
app.add_typer(bench.app, name="bench")
app.add_typer(ceremony.node_app, name="node")
app.add_typer(api_access.token_app, name="api-token")
app.add_typer(api_access.tls_app, name="tls")
for command in (
    demo.demo,
    network.init,
    ceremony.keygen,
    ceremony.genesis,
    network.up,
    network.down,
    network.status,
    network.logs,
    join.join,
    backup.backup,
    backup.restore,
    governance.vote,
    governance.revoke,
    governance.proposals,
    governance.officers,
    governance.roles,
    governance.upgrades,
):
    app.command()(command)


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
