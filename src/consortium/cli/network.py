"""Commands that create and run a local network (init, up, down, status, logs) and install
the CometBFT build its nodes run (`consortium engine install / version`)."""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from consortium.cli import kit
from consortium.errors import ConfigError, NetworkError
from consortium.network import engine as engine_mod
from consortium.network import supervisor
from consortium.network.layout import NETWORK_FILE, Network
from consortium.network.node_config import DEFAULT_ENGINE

if TYPE_CHECKING:
    from consortium.network.health import NodeHealth
    from consortium.network.supervisor import NodeStatus


def progress(message: str) -> None:
    kit.err_console.print(f"[dim]·[/dim] {message}")


def init(
    validators: int = typer.Option(4, "--validators", "-n", help="Number of validator nodes."),
    members: str = typer.Option(
        "", "--members", help='Comma-separated member institutions, e.g. "Bank A,Bank B".'),
    dir: Path = typer.Option(kit.DEFAULT_DIR, "--dir", help="The folder to make the local "
                             "network in (its nodes' homes go in DIR/nodes/)."),
    chain_id: str = typer.Option("consortium-local", "--chain-id", help="CometBFT chain id."),
    eth_chain_id: int = typer.Option(20251, "--eth-chain-id", help="EIP-155 chain id."),
    base_port: int = typer.Option(26650, "--base-port", help="First CometBFT port."),
    api_port: int = typer.Option(8545, "--api-port", help="API port of the first node."),
    timeout_commit: str = typer.Option("500ms", "--timeout-commit", help="Block interval."),
    production: bool = typer.Option(
        False, "--production", help="No dev keys; password-protected keystores only."),
    password_file: Path | None = typer.Option(
        None, "--password-file", help="File holding the keystore password."),
    force: bool = typer.Option(False, "--force", help="Replace an existing folder."),
    role: list[str] = typer.Option(
        [], "--role", help='Genesis roles of a member\'s account, e.g. "Bank A=financing_bank" '
        '(repeatable; several roles comma-separated).'),
    engine: str = typer.Option(
        DEFAULT_ENGINE, "--engine", help="Execution engine of every node: revm or py-evm."),
    block_gas_limit: int = kit.BlockGasLimitOption,
) -> None:
    """Create a local network: node homes, keys, member accounts and one genesis."""
    from consortium.network.init import init_network, parse_roles

    names = [m for m in members.split(",")] if members.strip() else None
    roles = parse_roles(role)
    password = (kit.password_or_prompt(password_file, "Keystore password", confirm=True)
                if production or password_file is not None else "")
    if not 1 <= base_port <= 65000 or not 1 <= api_port <= 65000:
        raise ConfigError("--base-port and --api-port must be between 1 and 65000")
    network = init_network(
        kit.resolve_dir(dir), validators=validators, members=names, chain_id=chain_id,
        eth_chain_id=eth_chain_id, base_port=base_port, api_port=api_port,
        production=production, password=password, force=force, timeout_commit=timeout_commit,
        roles=roles, engine=engine, block_gas_limit=block_gas_limit, progress=progress)
    kit.table(f"Network {network.chain_id} in {network.root}",
              ["node", "member", "node id", "p2p", "rpc", "API"],
              [[n.name, n.member, n.node_id, n.p2p_port, n.rpc_port, n.api_url]
               for n in network.nodes])
    kit.table("Members", ["member", "account", "keystore"],
              [[m.name, m.address, m.keystore] for m in network.members])
    if not production:
        kit.err_console.print(
            "[yellow]dev-accounts.json holds INSECURE private keys for local use only[/yellow]")


NodesArg = typer.Argument(None, help="Node names (default: all).")


def up(dir: Path = kit.DirOption, nodes: list[str] | None = NodesArg) -> None:
    """Start the nodes of a network folder in the background: a local network's, a node
    home's (`node setup`) or a `join` folder's."""
    started = supervisor.up(Network.load(kit.resolve_dir(dir)), nodes or None, progress=progress)
    kit.console.print(f"{len(started)} node(s) started; `consortium status --dir {dir}` shows them")


def down(dir: Path = kit.DirOption, nodes: list[str] | None = NodesArg) -> None:
    """Stop the nodes of a network folder (a local network, a node home or a `join`
    folder)."""
    root = kit.resolve_dir(dir)
    try:
        network = Network.load(root)
    except NetworkError as exc:
        raise NetworkError(_down_refusal(root, nodes or [], exc)) from None
    stopped = supervisor.down(network, nodes or None, progress=progress)
    kit.console.print(f"{len(stopped)} node(s) stopped")


def _down_refusal(root: Path, nodes: list[str], exc: NetworkError) -> str:
    """Why `down` found no network at `root`, and the command that stops what was meant: a
    node's own home (DIR/nodes/NAME) names its network folder and node; a node name with no
    network folder (e.g. none in the current directory) asks for --dir NETWORK_FOLDER."""
    outer = root.parent.parent
    if root.parent.name == "nodes" and (outer / NETWORK_FILE).is_file():
        with contextlib.suppress(ConfigError, NetworkError):
            network = Network.load(outer)
            for node in network.nodes:
                if network.node_home(node).resolve() == root:
                    return (f"{root} is the home of node {node.name} of the network folder "
                            f"{outer}: stop it with `consortium down --dir "
                            f"{shlex.quote(str(outer))} {node.name}`")
    if nodes:
        names = " ".join(nodes)
        return (f"no network folder at {root} (no {NETWORK_FILE}) to stop {names} in: give "
                f"--dir NETWORK_FOLDER, the folder whose nodes/ holds {nodes[0]} (`consortium "
                f"down --dir NETWORK_FOLDER {names}`)")
    return str(exc)


def status(dir: Path = kit.DirOption, json: bool = kit.JsonOption) -> None:
    """Every node's height (and how far behind the highest node), newest block's age,
    peers, mempool, recent tx/s, CheckTx refusals, LMDB size, newest snapshot and API; a
    node that is down, why its last run ended; a chain with no new block for a while, a
    line saying so with the validators that answer."""
    from consortium.network.health import chain_health, health_json, network_health

    network = Network.load(kit.resolve_dir(dir))
    rows = network_health(network)
    chain = chain_health(network, rows)

    def show() -> None:
        status_table(f"{network.chain_id} ({network.root})", rows)
        if chain.warning is not None:
            kit.console.print(chain.warning, style="yellow", highlight=False, markup=False,
                              soft_wrap=True)
        for r, _ in rows:  # why a node is down, in full (the table has a word or two)
            if not r.running and r.last_exit is not None and r.last_exit.code != 0:
                code = "" if r.last_exit.code is None else f" (exit code {r.last_exit.code})"
                at = f" at {r.last_exit.at}" if r.last_exit.at else ""
                kit.console.print(f"{r.name} stopped{at}{code}: {r.last_exit.reason}",
                                  highlight=False, markup=False, soft_wrap=True)

    kit.show({"chain_id": network.chain_id, "chain": chain.to_json(),
              "nodes": [health_json(r, h) for r, h in rows]}, json, show)


def status_table(title: str, rows: list[tuple[NodeStatus, NodeHealth]]) -> None:
    """`status`'s table. A narrow terminal (80 columns) shows node, state, height, behind,
    block age, peers and app hash: the other columns go first, in `optional`'s order, and
    the caption names them (--json has every figure)."""
    kit.table(
        title,
        ["node", "member", "state", "height", "behind", "block age", "peers", "mempool",
         "tx/s", "refused", "LMDB", "snapshot", "app hash", "API"],
        [[r.name, r.member, r.state, r.height, h.behind,
          None if h.last_block_age_s is None else f"{h.last_block_age_s:g} s",
          r.peers, h.mempool, h.tx_per_s, h.refused,
          None if h.lmdb_bytes is None else f"{h.lmdb_bytes / 2**20:,.1f} MiB",
          h.snapshot_height or None, (r.app_hash or "")[:12] or None, r.api_url]
         for r, h in rows],
        optional=["API", "snapshot", "LMDB", "member", "refused", "tx/s", "mempool"])


def logs(
    node_name: str | None = typer.Argument(
        None, metavar="NODE", help="Node name (default: the folder's only node, else node0)."),
    dir: Path = kit.DirOption,
    lines: int = typer.Option(40, "--lines", "-n", help="Lines to show."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines."),
) -> None:
    """Show a node's log (a node home or a `join` folder holds one node: no NODE needed)."""
    network = Network.load(kit.resolve_dir(dir))
    if node_name is None:  # a folder of one node: that one; else node0, `init`'s first
        node_name = network.nodes[0].name if len(network.nodes) == 1 else "node0"
    path = network.node_home(network.node(node_name)) / "node.log"
    if not path.is_file():
        raise ConfigError(f"{node_name} has no log yet ({path})")
    if follow:
        with contextlib.suppress(KeyboardInterrupt):
            subprocess.run(["tail", "-n", str(lines), "-F", str(path)])
        return
    for line in path.read_text(errors="replace").splitlines()[-lines:]:
        sys.stdout.write(line + "\n")


engine_app = typer.Typer(help="The CometBFT consensus engine (pinned build).", no_args_is_help=True)


@engine_app.command("install")
def engine_install(
    force: bool = typer.Option(False, "--force", help="Rebuild even if present."),
) -> None:
    """Build the pinned CometBFT with `go install` and generate the ABCI protobuf classes."""
    path = engine_mod.install(force=force, progress=progress)
    kit.console.print(f"CometBFT {engine_mod.COMETBFT_VERSION} ready at {path}")


@engine_app.command("version")
def engine_version() -> None:
    """Print the installed engine version."""
    binary = engine_mod.require_cometbft()
    kit.console.print(f"cometbft {engine_mod.installed_version(binary)} ({binary})")
