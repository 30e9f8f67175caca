"""The key ceremony across hosts: `consortium keygen` (each member), `consortium genesis`
(the coordinator) and `consortium node setup` (each member), see docs/ceremony.md; a new
institution's `consortium join` to a running consortium and `consortium key open` of the
key a member sealed to it; `consortium node --home HOME` runs one node in the foreground."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import typer

from consortium.cli import kit
from consortium.errors import ConfigError

key_app = typer.Typer(no_args_is_help=True, help="The consortium key for a member admitted "
                      "after the genesis: seal it to the newcomer's card, open it into its "
                      "node home.")
node_app = typer.Typer(invoke_without_command=True, help="Run a node (`consortium node --home "
                       "HOME`) or set one up (`consortium node setup`).")


def keygen(
    name: str = typer.Option(..., "--name", help='The member institution, e.g. "Bank A".'),
    out: Path = typer.Option(..., "--out", help="The keys folder to create (mode 700)."),
    external: str | None = typer.Option(None, "--external", help="HOST:PORT the other nodes "
                                        "dial (default: this host's address, port 26656)."),
    password_file: Path | None = kit.PasswordFileOption,
    json_out: bool = kit.JsonOption,
) -> None:
    """Make this member's keys on its own host (node, validator, account, encryption) and
    its card, card.json: the only file to send to the coordinator."""
    from consortium.network.cards import CARD_FILE
    from consortium.network.cards import keygen as make_keys

    password = kit.password_or_prompt(password_file, "Password for the keys", confirm=True)
    folder = kit.resolve_dir(out)
    card = make_keys(folder, name=name, p2p_address=external, password=password)
    kit.report(card.to_json(), json_out, f"Keys of {card.name} in {folder}", [
        ["node id", card.node_id],
        ["validator public key", card.validator_pub_key],
        ["account", card.account],
        ["encryption public key", card.encryption_pub_key],
        ["p2p address", card.p2p_address],
    ], f"\nSend {folder / CARD_FILE} (and only it) to the coordinator. The other files stay "
       "on this host; the password opens the account and encryption keystores.")


def genesis(
    card: list[Path] = typer.Option(..., "--card", help="A member's card.json (repeat)."),
    chain_id: str = typer.Option(..., "--chain-id", help="The CometBFT chain id."),
    eth_chain_id: int = typer.Option(20251, "--eth-chain-id", help="EIP-155 chain id."),
    role: list[str] = typer.Option(
        [], "--role", help='Genesis roles of a member, e.g. "Bank A=regulator" (repeatable).'),
    timeout_commit: str = typer.Option(
        "500ms", "--timeout-commit", help="The block interval the members set up with."),
    block_gas_limit: int = kit.BlockGasLimitOption,
    out: Path = typer.Option(..., "--out", help="The folder to create."),
    json_out: bool = kit.JsonOption,
) -> None:
    """Assemble genesis.json from the members' cards, make the consortium key and seal it to
    each member; print the genesis hash every member must compare."""
    from consortium.network.ceremony import write_genesis
    from consortium.network.init import check_timeout_commit, parse_roles

    check_timeout_commit(timeout_commit)
    result = write_genesis(kit.resolve_dir(out), card, chain_id=chain_id,
                           eth_chain_id=eth_chain_id, roles=parse_roles(role),
                           block_gas_limit=block_gas_limit)
    if json_out:
        kit.print_json({**result.to_json(), "timeout_commit": timeout_commit})
        return
    kit.table(f"Genesis of {result.chain_id} in {result.out}",
              ["member", "consortium key envelope"],
              [[name, path] for name, path in result.envelopes.items()])
    kit.console.print(
        f"\ngenesis sha256: [bold]{result.genesis_sha256}[/bold]\n"
        "Announce this hash to every member by a channel other than the one that carries the "
        "files. Send each member genesis.json, peers.txt and its own envelope; each runs:\n"
        f"  consortium node setup --genesis genesis.json --genesis-hash {result.genesis_sha256} "
        "--keys KEYS --consortium-key-envelope ENVELOPE --listen 0.0.0.0:26656 "
        f'--peers "$(paste -sd, peers.txt)" --timeout-commit {timeout_commit} --out HOME',
        soft_wrap=True)


@node_app.callback(invoke_without_command=True)
def node(
    ctx: typer.Context,
    home: Path | None = typer.Option(None, "--home", help="The node's home folder."),
) -> None:
    """Run one node in the foreground: ABCI server, API and its CometBFT engine."""
    if ctx.invoked_subcommand is not None:
        return
    if home is None:
        raise ConfigError("consortium node needs --home HOME (or a subcommand: setup)")
    from consortium.network.node_process import serve

    raise typer.Exit(serve(home))


@node_app.command("setup")
def setup(
    genesis_file: Path = typer.Option(..., "--genesis", help="genesis.json from the coordinator."),
    genesis_hash: str = typer.Option(
        ..., "--genesis-hash", help="The SHA-256 the coordinator announced."),
    keys: Path = typer.Option(..., "--keys", help="This member's keys folder (from keygen)."),
    envelope: Path = typer.Option(
        ..., "--consortium-key-envelope", help="This member's consortium-key.<member>.enc."),
    listen: str = typer.Option(
        "0.0.0.0:26656", "--listen", help="P2P listen HOST:PORT (the port must be free)."),
    external: str | None = typer.Option(
        None, "--external", help="HOST:PORT peers dial (default: the card's p2p_address)."),
    peers: str = typer.Option(
        "", "--peers", help="NODE_ID@HOST:PORT,… of the genesis' nodes, from peers.txt (this "
        "node's own entry is skipped); needed unless the genesis has this node alone."),
    rpc_port: int | None = typer.Option(
        None, "--rpc-port", help="CometBFT RPC port on 127.0.0.1 (default: free from 26657)."),
    api_host: str = typer.Option("127.0.0.1", "--api-host", help="API listen host."),
    api_port: int | None = typer.Option(
        None, "--api-port", help="API port, free on --api-host (default: free from 8545)."),
    timeout_commit: str = typer.Option(
        "500ms", "--timeout-commit", help="Block interval; the coordinator's."),
    tls_cert: Path | None = typer.Option(
        None, "--tls-cert", help="The API's TLS certificate (PEM; `consortium tls cert`)."),
    tls_key: Path | None = typer.Option(None, "--tls-key", help="Its private key (PEM)."),
    out: Path = typer.Option(..., "--out", help="The node home to create (mode 700)."),
    force: bool = typer.Option(
        False, "--force", help="Replace an existing home that has no running node and never "
        "committed or signed a block (e.g. set up with wrong options); a home whose validator "
        "signed or that holds a ledger is never replaced."),
    password_file: Path | None = kit.PasswordFileOption,
    json_out: bool = kit.JsonOption,
) -> None:
    """Write this member's node home from the agreed genesis, its keys and its consortium key
    envelope, after checking the genesis hash and that the genesis holds its card."""
    from consortium.network.ceremony import setup_node
    from consortium.network.ports import foreign_host

    if (tls_cert is None) != (tls_key is None):
        raise ConfigError("--tls-cert and --tls-key go together: give both, or neither")
    password = kit.password_or_prompt(password_file, "Password of the keys", confirm=False)
    result = setup_node(
        kit.resolve_dir(out), genesis_file=genesis_file, announced_hash=genesis_hash,
        keys_dir=kit.resolve_dir(keys), envelope_file=envelope, password=password,
        listen=listen, external=external, peers=peers.split(","), rpc_port=rpc_port,
        api_host=api_host, api_port=api_port, timeout_commit=timeout_commit, force=force,
        tls=(tls_cert, tls_key) if tls_cert is not None and tls_key is not None else None)
    for option, host in (("--listen", result.listen.rpartition(":")[0]),
                         ("--api-host", result.api_host)):
        problem = foreign_host(host)
        if problem:  # a floating address may come later: said, not refused
            kit.err_console.print(
                f"! {option}: {problem} now; the node will not start until it is (or set "
                "it up again with another address)", style="bold yellow", highlight=False,
                markup=False)
    kit.report(result.to_json(), json_out,
               f"{result.name}'s node of {result.chain_id} in {result.root}", [
        ["node id", result.node_id],
        ["genesis sha256", result.genesis_sha256],
        ["p2p listen / external", f"{result.listen} / {result.external}"],
        ["peers", ", ".join(result.peers) or "-"],
        ["rpc / api", f"127.0.0.1:{result.rpc_port} / {result.api_host}:{result.api_port}"],
    ], f"\nStart it: consortium up --dir {result.root}   (or, in the foreground: "
       f"consortium node --home {result.root})")


@key_app.command("seal")
def key_seal(
    home: Path = typer.Option(..., "--home", help="Your node's home (it holds the key)."),
    card: Path = typer.Option(..., "--card", help="The admitted newcomer's card.json."),
    out: Path | None = typer.Option(
        None, "--out", help="The envelope (default: consortium-key.<member>.enc by the card)."),
    json_out: bool = kit.JsonOption,
) -> None:
    """Seal your node's consortium key to a newly admitted member's card: refused unless the
    chain your node serves has the card's name, account and node id as an active member (your
    node must answer: CONSORTIUM_API_TOKEN / CONSORTIUM_API_CA as for any client command).
    Only that member's encryption key opens it, for this chain and its node."""
    from consortium.network.key_delivery import seal_for_card

    result = seal_for_card(kit.resolve_dir(home), card, out)
    kit.report(dataclasses.asdict(result), json_out, "consortium key sealed", [
        ["member", result.member], ["node id", result.node_id],
        ["admitted on chain", f"checked at {result.checked_at}, height {result.checked_height}"],
        ["chain / genesis", f"{result.chain_id} / {result.genesis_sha256[:16]}…"],
        ["envelope", result.envelope],
    ], f"Send {result.envelope} to {result.member}; it runs `consortium key open`.")


@key_app.command("open")
def key_open(
    dir: Path = typer.Option(..., "--dir", help="The folder `consortium join` or `consortium "
                             "node setup` made (or a restored node home)."),
    envelope: Path = typer.Option(..., "--envelope", help="The envelope a member sealed, or "
                                  "your consortium-key.<member>.enc from the genesis."),
    keys: Path | None = typer.Option(None, "--keys", help="Your keys folder from `consortium "
                                     "keygen` (its encryption key); needed for a `node setup` "
                                     "home."),
    password_file: Path | None = kit.PasswordFileOption,
    json_out: bool = kit.JsonOption,
) -> None:
    """Open the consortium key sealed to you and install it in your node home (also how a
    restored home gets its key back)."""
    from consortium.network.key_delivery import open_into_home

    password = kit.password_or_prompt(password_file, "Password of your keystores", confirm=False)
    path = open_into_home(kit.resolve_dir(dir), envelope, password,
                          kit.resolve_dir(keys) if keys is not None else None)
    kit.report({"key_file": str(path)}, json_out, "consortium key installed",
               [["key file", str(path)]],
               "Restart the node to use it (invoice fingerprints, asset ids).")


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
    listen: str | None = typer.Option(None, "--listen", help="P2P listen HOST:PORT, as node "
                                      "setup takes it, or HOST alone with --p2p-port "
                                      "(default: 127.0.0.1 for a loopback peer, else 0.0.0.0)."),
    external_address: str = typer.Option(
        "", "--external", "--external-address", help="HOST:PORT other machines dial this "
        "node's P2P at (default: the --listen address, or this host's address towards the "
        "peer)."),
    timeout_commit: str = typer.Option(
        "500ms", "--timeout-commit", help="Block interval: the consortium's, as its members "
        "set up with (`timeout_commit` in a member node's config/config.toml; the genesis "
        "does not hold it)."),
    password_file: Path | None = kit.PasswordFileOption,
    force: bool = typer.Option(
        False, "--force", help="Replace an existing folder whose node never ran (one whose "
        "validator signed or whose ledger holds blocks is never replaced)."),
    state_sync: bool = typer.Option(False, "--state-sync", help="Start from the trusted node's "
                                    "latest snapshot instead of replaying every block from "
                                    "genesis (docs/state-sync.md)."),
    trust_rpc: list[str] = typer.Option([], "--trust-rpc", help="With --state-sync: the CometBFT "
                                        "RPC (http://HOST:PORT) of a node you trust, which "
                                        "gives the block the light client starts from; once or "
                                        "twice."),
    json_out: bool = kit.JsonOption,
) -> None:
    """Create a node home (keys, the genesis, the peer) and an account for a new institution,
    and print what its admission proposals need: node id, validator key, account."""
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
        ["block interval (timeout_commit)", result.timeout_commit],
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
        "Next: a member proposes the admission and the members vote on it, the proposer too "
        "(proposing is not a vote); then start the node:\n"
        f'  consortium propose admit-member --name "{result.name}" --tier ordinary '
        f"--account {result.account} --node-id {result.node_id} --from <member>\n"
        "  consortium vote <proposal> yes --from <member>      # each member, until it passes\n"
        f"  consortium up --dir {result.root}\n"
        "and, to make it a validator once it has caught up (with --member, expelling "
        f"{result.name} removes it too):\n"
        f"  consortium propose add-validator --pub-key {result.validator_pub_key} --power 10 "
        f'--member "{result.name}" --from <member>', soft_wrap=True, markup=False)
