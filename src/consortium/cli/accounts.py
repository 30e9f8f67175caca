"""`consortium account new / list`: keystores of a network folder."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from eth_account import Account

from consortium.cli import kit
from consortium.errors import ConfigError, NetworkError

app = typer.Typer(help="Accounts and their keystores.", no_args_is_help=True)


@app.command()
def new(
    name: str = typer.Option("", "--name", help="A name for the account: its keystore is "
                             "DIR/keystores/NAME.json, and `--from NAME` signs with it."),
    dir: Path = kit.DirOption,
    password_file: Path | None = kit.PasswordFileOption,
    json_out: bool = kit.JsonOption,
) -> None:
    """Create an account and write its V3 keystore into DIR/keystores/."""
    root = kit.resolve_dir(dir)
    if not root.is_dir():
        raise ConfigError(f"{root} does not exist: give --dir a local network (`consortium init`), "
                          "a node home (`consortium node setup --out`) or a `consortium join` "
                          "folder")
    if name:
        _check_name(name, root)
    dev = password_file is None and (root / "dev-accounts.json").is_file()
    password = "" if dev else kit.password_or_prompt(password_file, "Password", confirm=True)
    acct = Account.create()
    folder = root / "keystores"
    folder.mkdir(exist_ok=True)
    path = folder / f"{name or acct.address.lower()}.json"
    if path.exists():
        raise ConfigError(f"{path} already exists")
    path.write_text(json.dumps(Account.encrypt(acct.key, password), indent=2) + "\n")
    path.chmod(0o600)
    kit.show({"address": acct.address, "keystore": str(path)}, json_out,
             lambda: kit.console.print(f"account {acct.address}\nkeystore {path}"))


def _check_name(name: str, root: Path) -> None:
    """Refuse a --name that --from could not find the account by: not a plain file name,
    one read as an address, or a member's name (--from takes the member's account)."""
    from consortium.network.layout import Network
    from consortium.sdk.keys import account_name_problem

    problem = account_name_problem(name)
    if problem:
        raise ConfigError(f"--name: {problem}")
    try:
        member = Network.load(root).member(name)
    except (ConfigError, NetworkError):
        return  # no network description here: no member names to clash with
    if member is not None:
        raise ConfigError(f"--name {name!r} is the name of the member {member.name}: --from "
                          f"{name!r} signs as that member; choose another name")


@app.command("list")
def list_(
    dir: Path = kit.DirOption,
    rpc: str | None = typer.Option(None, "--rpc", help="Node API URL for balances."),
    json_out: bool = kit.JsonOption,
) -> None:
    """The accounts whose keystores are in DIR, with members and balances."""
    from consortium.network.layout import Network

    root = kit.resolve_dir(dir)
    network = Network.load(root)
    by_address = {m.address.lower(): m.name for m in network.members}
    rows = []
    for file in sorted((root / "keystores").glob("*.json")):
        try:
            address = "0x" + json.loads(file.read_text())["address"].lower().removeprefix("0x")
        except (ValueError, KeyError):
            continue
        rows.append({"address": address, "member": by_address.get(address),
                     "keystore": str(file.relative_to(root))})
    _add_balances(rows, rpc, dir)
    kit.show(rows, json_out, lambda: kit.table(
        "Accounts", ["address", "member", "balance (wei)", "nonce", "keystore"],
        [[r["address"], r["member"], r.get("balance"), r.get("nonce"), r["keystore"]]
         for r in rows]))


def _add_balances(rows: list[dict], rpc: str | None, dir: Path) -> None:
    from consortium.sdk import ConsortiumClient

    try:
        client = ConsortiumClient(kit.endpoint(rpc, dir), timeout=5)
        for row in rows:
            address = client.w3.to_checksum_address(row["address"])
            row["balance"] = client.w3.eth.get_balance(address)
            row["nonce"] = client.w3.eth.get_transaction_count(address)
    except (NetworkError, OSError, ValueError):
        pass  # no live node: show keystores only
