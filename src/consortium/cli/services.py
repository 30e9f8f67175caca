"""What the service commands (credit, registry, securities, forum, task forces) share:
signers, accounts given as 0x addresses or member names (of the local network in --dir,
else of the chain's member registry), names in tables, and how a write's outcome is
printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from consortium.cli.common import (
    Signing,
    console,
    print_json,
    read_password,
    resolve_dir,
    table,
)
from consortium.errors import ConfigError


def signer(from_: str, dir: Path, password_file: Path | None,
           rpc: str | None = None) -> Any:
    """The --from account, its key unlocked: a keystore file, or a member name or address
    whose keystore is in --dir. A name the local network does not know is looked up in the
    chain's member registry and its account's keystore searched in --dir; without one, the
    error says which options give it."""
    from consortium.sdk import resolve_signer

    root = resolve_dir(dir)
    password = read_password(password_file)
    try:
        return resolve_signer(from_, root, password)
    except ConfigError:
        text = from_.strip()
        if text.lower().startswith("0x") or text.endswith(".json") or text.isdigit():
            raise
        address = chain_member_account(text, dir, rpc)
        if address is None:
            raise
    try:
        return resolve_signer(address, root, password)
    except ConfigError:
        raise ConfigError(
            f"--from {from_!r} is the member with account {address} on chain, but no keystore "
            f"for it is in {root}: give --from with its keystore file (--from KEY.json), or "
            "--dir with the network folder that holds its keystore"
        ) from None


def members(dir: Path) -> dict[str, str]:
    """Member name -> account, from the local network in `dir` (empty without one)."""
    from consortium.network.layout import Network

    root = resolve_dir(dir)
    if not (root / "network.json").is_file():
        return {}
    return {m.name: m.address.lower() for m in Network.load(root).members}


def chain_member_account(name: str, dir: Path, rpc: str | None) -> str | None:
    """The first account of the member called `name` in the chain's member registry (the
    node of --rpc, else of --dir), or None when no member has that name or no node is
    reachable."""
    from consortium.cli.common import endpoint
    from consortium.errors import ConsortiumError
    from consortium.system.client import GovernanceClient

    try:
        member = GovernanceClient(endpoint(rpc, dir)).member(name)
    except (ConsortiumError, OSError, ValueError):
        return None
    if member is None or not member["accounts"] or member["name"].lower() != name.lower():
        return None
    return str(member["accounts"][0]).lower()


def account(value: str | None, dir: Path, what: str, rpc: str | None = None) -> str | None:
    """A 0x account, or the account of a member name (the local network's in --dir, else
    the chain's member registry); None stays None."""
    if value is None:
        return None
    text = value.strip()
    if text.lower().startswith("0x") and len(text) == 42:
        return text.lower()
    for name, address in members(dir).items():
        if name.lower() == text.lower():
            return address
    if text and not text.isdigit():
        found = chain_member_account(text, dir, rpc)
        if found is not None:
            return found
    raise ConfigError(f"{what} {value!r} is not a 0x account or a member name (of the local "
                      f"network in {dir} or of the chain's member registry)")


def required_account(value: str, dir: Path, what: str, rpc: str | None = None) -> str:
    found = account(value, dir, what, rpc)
    assert found is not None
    return found


def party(value: str, signing: Signing, what: str) -> str:
    """`required_account` with a signing command's --dir and --rpc."""
    return required_account(value, signing.dir, what, signing.rpc)


def namer(dir: Path) -> Any:
    """account -> its member's name (the account itself when unknown)."""
    names = {a: n for n, a in members(dir).items()}
    return lambda address: None if address is None else names.get(address, address)


def done(out: dict[str, Any], json_out: bool, what: str) -> None:
    """Print a write's outcome: one line, or its JSON."""
    if json_out:
        print_json(out)
        return
    moved = f"{out.get('from') or '-'} -> {out.get('state', '?')}"
    console.print(f"{what} {out.get('object', '')} {out.get('id', '')}: {moved} "
                  f"(block {out['block']}, tx {out['txHash']})")


def proposed(out: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print_json(out)
        return
    table("Proposal (app-call)", ["proposal", "status", "block", "tx"],
          [[out["proposal"], out["status"], out["block"], out["txHash"]]])
    if out.get("status") == "open":
        console.print(f"members vote with: consortium vote {out['proposal']} yes --from …")


def history_table(title: str, history: list[dict[str, Any]], show: Any) -> None:
    table(title, ["block", "actor", "from", "to", "reason"], [
        [h["block"], show(h["actor"]), h["from"] or None, h["to"], h["reason"]]
        for h in history
    ])
