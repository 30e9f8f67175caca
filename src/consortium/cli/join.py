"""`consortium join`: set up a new institution's node and account to join a running consortium."""

from __future__ import annotations

from pathlib import Path

import typer

from consortium.cli import kit


def join(
    genesis: Path = typer.Option(..., "--genesis", help="The consortium's genesis.json."),
    peer: str = typer.Option(
        ..., "--peer", help="An existing node: NODE_ID@HOST:PORT (its P2P address)."),
    dir: Path = typer.Option(..., "--dir", help="The new institution's folder (created)."),
    name: str = typer.Option(..., "--name", help='The institution, e.g. "Bank E".'),
    p2p_port: int | None = typer.Option(None, "--p2p-port", help="P2P port (default: free)."),
    rpc_port: int | None = typer.Option(
        None, "--rpc-port", help="CometBFT RPC port (default: free)."),
    api_port: int | None = typer.Option(
        None, "--api-port", help="JSON-RPC/REST API port (default: free)."),
    listen: str | None = typer.Option(None, "--listen", help="P2P listen host (default: "
                                      "127.0.0.1 for a loopback peer, else 0.0.0.0)."),
    external_address: str = typer.Option(
        "", "--external-address", help="HOST:PORT other machines reach this node's P2P at."),
    timeout_commit: str = typer.Option(
        "500ms", "--timeout-commit", help="Block interval; use the consortium's."),
    password_file: Path | None = kit.PasswordFileOption,
    force: bool = typer.Option(False, "--force", help="Replace an existing folder."),
    state_sync: bool = typer.Option(
        False, "--state-sync",
        help="Start from the trusted node's latest snapshot instead of replaying every block "
             "from genesis (docs/state-sync.md)."),
    trust_rpc: list[str] = typer.Option(
        [], "--trust-rpc",
        help="With --state-sync: the CometBFT RPC (http://HOST:PORT) of a node you trust, "
             "which gives the block the light client starts from; once or twice."),
    json_out: bool = kit.JsonOption,
) -> None:
    """Create a node home (keys, the genesis, the peer) and an account for a new institution,
    and print what its admission proposals need: node id, validator key, account."""
    from consortium.errors import ConfigError
    from consortium.network.join import join_network

    if state_sync and not trust_rpc:
        raise ConfigError("--state-sync needs --trust-rpc http://HOST:PORT (the CometBFT RPC "
                          "of a node you trust)")
    if trust_rpc and not state_sync:
        raise ConfigError("--trust-rpc is only used with --state-sync")
    password = kit.password_or_prompt(password_file, "Password for the new account's keystore",
                                      confirm=True)
    result = join_network(
        kit.resolve_dir(dir), genesis_file=genesis, peer=peer, name=name, p2p_port=p2p_port,
        rpc_port=rpc_port, api_port=api_port, listen=listen, external_address=external_address,
        password=password, timeout_commit=timeout_commit, force=force, state_sync_rpc=trust_rpc)
    rows = [
        ["node id", result.node_id],
        ["validator public key (ed25519, base64)", result.validator_pub_key],
        ["validator address", result.validator_address],
        ["account", result.account],
        ["keystore", result.keystore],
        ["node home", result.home],
        ["ports (p2p / rpc / api)", f"{result.p2p_port} / {result.rpc_port} / {result.api_port}"],
        ["peer", result.peer],
        ["member card", result.card_file],
    ]
    if result.state_sync_trust_height:
        rows.append(["state sync", f"trusting block {result.state_sync_trust_height}; "
                     f"snapshots at {', '.join(map(str, result.state_sync_snapshots))}"])
    title = f"{result.name} is ready to join {result.chain_id}"
    if kit.report(result.to_json(), json_out, title, rows):
        return
    kit.print_json(result.card)
    kit.console.print(
        f"\nSend {result.card_file} to the consortium (the other files stay here). "
        "Next: a member proposes the admission, the members vote, then start the node:\n"
        f'  consortium propose admit-member --name "{result.name}" --account {result.account} '
        f"--node-id {result.node_id} --from <member>\n"
        f"  consortium up --dir {result.root}\n"
        "and, to make it a validator:\n"
        f"  consortium propose add-validator --pub-key {result.validator_pub_key} --power 10 "
        "--from <member>",
        soft_wrap=True,
    )
