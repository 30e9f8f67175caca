"""`consortium demo`: start a local consortium on the embedded defaults and show it working."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from consortium.cli.common import DirOption, console, err_console, resolve_dir
from consortium.cli.network import status as show_status
from consortium.errors import NetworkError
from consortium.network import supervisor
from consortium.network.init import init_network
from consortium.network.layout import Network


def demo(
    dir: Path = DirOption,
    validators: int = typer.Option(4, "--validators", "-n", help="Validator nodes."),
    fresh: bool = typer.Option(False, "--fresh", help="Recreate the network folder."),
) -> None:
    """Create (if needed) and start a local consortium, then run the demo scenario."""
    root = resolve_dir(dir)
    if fresh or not (root / "network.json").is_file():
        if fresh and (root / "network.json").is_file():
            supervisor.down(Network.load(root))
        init_network(
            root, validators=validators, force=True, progress=lambda m: err_console.print(f"· {m}")
        )
    network = Network.load(root)
    supervisor.up(network, progress=lambda m: err_console.print(f"· {m}"))
    console.rule("[bold]Consensus")
    start = _min_height(network)
    _wait(network, start + 3)
    show_status(dir=root, json=False)
    hashes = {s.app_hash for s in supervisor.network_status(network) if s.height}
    console.print(f"{len(network.nodes)} validators committing; app hashes seen: {len(hashes)}")
    console.print(
        f"\nThe network keeps running. Try `consortium status --dir {dir}`, "
        f"`consortium logs node0 --dir {dir}`; stop it with `consortium down --dir {dir}`."
    )


def _min_height(network: Network) -> int:
    heights = [s.height or 0 for s in supervisor.network_status(network)]
    return min(heights) if heights else 0


def _wait(network: Network, height: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while _min_height(network) < height:
        if time.monotonic() > deadline:
            raise NetworkError(f"the network did not reach height {height} in {timeout:.0f}s")
        time.sleep(0.3)
