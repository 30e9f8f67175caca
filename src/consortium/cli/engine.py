"""`consortium engine install / version`: the pinned CometBFT build."""

from __future__ import annotations

import typer

from consortium.cli.kit import console, err_console
from consortium.network import engine as engine_mod

app = typer.Typer(help="The CometBFT consensus engine (pinned build).", no_args_is_help=True)


@app.command()
def install(force: bool = typer.Option(False, "--force", help="Rebuild even if present.")) -> None:
    """Build the pinned CometBFT with `go install` and generate the ABCI protobuf classes."""
    path = engine_mod.install(force=force, progress=lambda m: err_console.print(f"· {m}"))
    console.print(f"CometBFT {engine_mod.COMETBFT_VERSION} ready at {path}")


@app.command()
def version() -> None:
    """Print the installed engine version."""
    binary = engine_mod.require_cometbft()
    console.print(f"cometbft {engine_mod.installed_version(binary)} ({binary})")
