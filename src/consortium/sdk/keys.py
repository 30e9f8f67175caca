"""Signing keys: V3 keystore files, found by member name, address or path."""

from __future__ import annotations

import json
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from consortium.errors import ConfigError
from consortium.network.layout import Network


def load_keystore(path: Path, password: str) -> LocalAccount:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read keystore {path}: {exc}") from None
    try:
        return Account.from_key(Account.decrypt(data, password))
    except ValueError:
        raise ConfigError(f"wrong password for keystore {path}") from None


def account_name_problem(name: str) -> str | None:
    """Why `name` cannot name an account's keystore (DIR/keystores/NAME.json), or None."""
    if not name.strip() or name != name.strip():
        return "an account name must not be empty or begin or end with spaces"
    if "/" in name or "\\" in name or name.startswith("."):
        return f"an account name is a plain file name (no / and no leading .), not {name!r}"
    if name.lower().startswith("0x"):
        return (f"an account name must not begin with 0x (--from would read it as an "
                f"address): {name!r}")
    return None


def keystore_for(from_: str, network_dir: Path | None) -> Path:
    """The keystore file `--from` names: a member name, an account name that `consortium
    account new --name` gave (DIR/keystores/NAME.json), an address in DIR, or a file."""
    path = Path(from_).expanduser()
    if path.suffix == ".json" and path.is_file():
        return path
    if network_dir is not None and (network_dir / "network.json").is_file():
        network = Network.load(network_dir)
        member = network.member(from_)
        if member is not None:
            return network.root / member.keystore
        named = network.root / "keystores" / f"{from_}.json"
        if account_name_problem(from_) is None and named.is_file():
            return named
        if from_.lower().startswith("0x"):
            for file in sorted((network.root / "keystores").glob("*.json")):
                try:
                    address = json.loads(file.read_text()).get("address", "")
                except ValueError:
                    continue
                if "0x" + address.lower().removeprefix("0x") == from_.lower():
                    return file
    raise ConfigError(f"--from {from_!r} is not a member name, an account name (`consortium "
                      f"account new --name`), an address with a keystore in {network_dir}, "
                      "or a keystore file")


def resolve_signer(from_: str, network_dir: Path | None,
                   password: str | None = None) -> LocalAccount:
    """Load the signer. Development networks use empty keystore passwords."""
    path = keystore_for(from_, network_dir)
    if password is None and network_dir is not None and (
            network_dir / "dev-accounts.json").is_file():
        password = ""
    if password is None:
        import typer

        password = typer.prompt(f"Password for {path.name}", hide_input=True)
    return load_keystore(path, password)
