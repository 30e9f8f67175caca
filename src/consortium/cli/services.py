"""What the service commands (credit, registry, securities, forum, task forces) share:
accounts given as 0x addresses or member names (of the local network in --dir,
else of the chain's member registry), names in tables, and how a write's outcome is
printed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from consortium.cli.common import (
    Signing,
    chain_member_account,
    console,
    print_json,
    resolve_dir,
    table,
)
from consortium.cli.common import signer as signer  # re-exported: where commands took it
from consortium.errors import ConfigError


def members(dir: Path) -> dict[str, str]:
    """Member name -> account, from the local network in `dir` (empty without one)."""
    from consortium.network.layout import Network

    root = resolve_dir(dir)
    if not (root / "network.json").is_file():
        return {}
    return {m.name: m.address.lower() for m in Network.load(root).members}


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


def party(value: str, signing: Signing, what: str) -> str:
    """The account of `value` (see `account`) with a command's --dir and --rpc."""
    found = account(value, signing.dir, what, signing.rpc)
    assert found is not None
    return found


def one_of(a: Any, b: Any, message: str) -> None:
    """Exactly one of two alternative options is given, else `message`."""
    if (a is None) == (b is None):
        raise ConfigError(message)


def height(client: Any, at: int | None, blocks: int | None, after: int = 0) -> int:
    """A height given (`at`, default 0), or the chain's height (+ `after`) plus `blocks`
    (an option's "or: this many blocks from now")."""
    return client.height() + after + blocks if blocks is not None else int(at or 0)


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
