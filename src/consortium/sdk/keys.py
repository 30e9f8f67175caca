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


def keystore_for(from_: str, network_dir: Path | None) -> Path:
    """The keystore file `--from` names: a member name, an address in DIR, or a file."""
    path = Path(from_).expanduser()
    if path.suffix == ".json" and path.is_file():
        return path
    if network_dir is not None and (network_dir / "network.json").is_file():
        network = Network.load(network_dir)
        member = network.member(from_)
        if member is not None:
            return network.root / member.keystore
        if from_.lower().startswith("0x"):
            for file in sorted((network.root / "keystores").glob("*.json")):
                try:
                    address = json.loads(file.read_text()).get("address", "")
                except ValueError:
                    continue
                if "0x" + address.lower().removeprefix("0x") == from_.lower():
                    return file
    raise ConfigError(f"--from {from_!r} is not a member name, an address with a keystore in "
                      f"{network_dir}, or a keystore file")


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
