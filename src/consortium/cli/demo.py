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
    if not network.production:
        _evm_scenario(network)
    console.print(
        f"\nThe network keeps running. Try `consortium status --dir {dir}`, "
        f"`consortium logs node0 --dir {dir}`; stop it with `consortium down --dir {dir}`."
    )


def _evm_scenario(network: Network) -> None:
    """Members transact through different nodes, as their own institutions would."""
    import json

    from eth_account import Account

    from consortium.contracts.compiler import compile_file
    from consortium.sdk import ConsortiumClient

    console.rule("[bold]Ethereum transactions")
    keys = json.loads((network.root / "dev-accounts.json").read_text())["accounts"]
    members = [m.name for m in network.members]
    accounts = {name: Account.from_key(keys[name]["private_key"]) for name in members}
    nodes = network.nodes
    a, b = members[0], members[1 % len(members)]
    via = [ConsortiumClient(nodes[i % len(nodes)].api_url) for i in range(4)]

    receipt = via[1 % len(via)].send(
        accounts[a], {"to": accounts[b].address, "value": 10**18, "gas": 21000}
    )
    console.print(
        f"{a} paid {b} 1 unit through {nodes[1 % len(nodes)].name}: block {receipt['blockNumber']}"
    )
    token = compile_file(Path(__file__).resolve().parents[1] / "contracts/examples/Token.vy")
    address, receipt = via[0].deploy(
        accounts[a], token.abi, token.bytecode, "Consortium Deposit Token", "CDT", 10**9
    )
    console.print(f"{a} deployed a Vyper ERC-20 at {address} through {nodes[0].name}")
    rows = []
    for i, name in enumerate(members[1:4], start=1):
        client = via[(i + 1) % len(via)]
        client.transact(
            accounts[a], address, token.abi, "transfer", accounts[name].address, 1000 * i
        )
        rows.append(name)
    reader = via[3 % len(via)]
    from consortium.cli.common import table

    table(
        f"Token balances read through {nodes[3 % len(nodes)].name}",
        ["member", "address", "CDT"],
        [
            [
                n,
                accounts[n].address,
                reader.call(address, token.abi, "balanceOf", accounts[n].address),
            ]
            for n in [a, *rows]
        ],
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
