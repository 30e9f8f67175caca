"""`consortium privacy …`: privacy groups (docs/privacy.md). Members are named like
everywhere else (`--from "Bank A"`, `--with "Bank B"`); the node the command talks to (--rpc,
else the first live node of --dir) must be the signer's member's own node for the commands
that need its privacy key (register-node, create-group, propose-change)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

# typer 0.29 carries its own copy of click (as cli/kit.py)
from consortium.cli import kit
from consortium.errors import ConfigError

app = typer.Typer(help="Privacy groups: contracts and data only a group's members read.",
                  no_args_is_help=True)



GroupArg = typer.Argument(..., help="The privacy group's id (0x + 64 hex).",
                          parser=kit.hex32("a privacy group id"))


def _client(rpc: str | None, dir: Path) -> Any:
    from consortium.sdk.privacy import PrivacyClient

    return PrivacyClient(kit.endpoint(rpc, dir))


def _members(values: list[str], option: str, signing: kit.Signing,
             governance: Any) -> list[dict[str, Any]]:
    """The consortium members `values` name (accounts or member names), each as the chain's
    member record; one that names no member, or a member named twice, is refused naming
    `option`."""
    found: list[dict[str, Any]] = []
    for value in values:
        account = kit.party(value, signing, option)
        member = governance.read.member(account)
        if member is None:
            raise ConfigError(f"{option} {value!r} ({account}) is not a consortium member's "
                              "account")
        if any(m["id"] == member["id"] for m in found):
            raise ConfigError(f"{option} {value!r}: member {member['name']!r} is given twice")
        found.append(member | {"given": value, "account": account})
    return found


def _names(members: list[dict[str, Any]]) -> str:
    return ", ".join(repr(m["name"]) for m in members) or "none"


def _sent(out: dict[str, Any], json_out: bool, what: str) -> None:
    if json_out:
        kit.print_json(out)
        return
    extra = "".join(f", {k} {v}" for k, v in out.items() if k not in ("txHash", "block"))
    kit.console.print(f"{what} (block {out.get('block')}, tx {out.get('txHash')}{extra})")


@app.command("register-node")
@kit.with_signing
def register_node(*, signing: kit.Signing) -> None:
    """Register the node's privacy key for your member: group keys are wrapped to it."""
    out = _client(signing.rpc, signing.dir).register_node(signing.signer())
    _sent(out, signing.json_out, "registered the node's privacy key")


@app.command("create-group")
@kit.with_signing
def create_group(name: str = typer.Argument(..., help="The group's name (≤ 64 bytes)."),
                 with_: list[str] = typer.Option(..., "--with",
                                                 help="Another founding member (name or "
                                                      "account); repeat for each."),
                 *, signing: kit.Signing) -> None:
    """Found a group of your member and the --with members; it is active once each of them
    has joined (`consortium privacy join`)."""
    from consortium.system.client import GovernanceClient
    from consortium.system.privacy import MAX_GROUP_NAME

    size = len(name.encode())
    if not name.strip() or size > MAX_GROUP_NAME:
        raise ConfigError(f"NAME {name!r}: a privacy group's name is 1 to {MAX_GROUP_NAME} "
                          "bytes, not blank" + (f" (this one is {size})" if name.strip() else ""))
    governance = GovernanceClient(kit.endpoint(signing.rpc, signing.dir))
    others = _members(with_, "--with", signing, governance)
    account = signing.signer()
    founder = governance.read.member(account.address)
    if founder is not None:
        for m in others:
            if m["id"] == founder["id"]:
                raise ConfigError(
                    f"--with {m['given']!r} is the founder's own member {m['name']!r} (--from "
                    f"{signing.from_!r}): the founder is in the group already; give --with "
                    "for each other member")
    out = _client(signing.rpc, signing.dir).create_group(
        account, name, [account.address, *(m["account"] for m in others)])
    _sent(out, signing.json_out, f"created privacy group {name!r}")


@app.command("join")
@kit.with_signing
def join(group: str = GroupArg, *, signing: kit.Signing) -> None:
    """Join a group you were named a founder of."""
    out = _client(signing.rpc, signing.dir).join(signing.signer(), group)
    _sent(out, signing.json_out, f"joined {group}")


@app.command("propose-change")
@kit.with_signing
def propose_change(group: str = GroupArg,
                   add: list[str] = typer.Option([], "--add", help="A member to add (name or "
                                                                   "account); repeatable."),
                   remove: list[str] = typer.Option([], "--remove",
                                                    help="A member to remove; repeatable."),
                   *, signing: kit.Signing) -> None:
    """Propose adding or removing members: added ones get every earlier key (they read the
    history), removed ones no key from the change on; applies when every staying member
    has approved (you approve by proposing)."""
    from consortium.system.client import GovernanceClient
    from consortium.system.privacy import MIN_MEMBERS

    if not add and not remove:
        raise ConfigError("give --add or --remove (at least one member)")
    client = _client(signing.rpc, signing.dir)
    governance = GovernanceClient(kit.endpoint(signing.rpc, signing.dir))
    added = _members(add, "--add", signing, governance)
    removed = _members(remove, "--remove", signing, governance)
    found = client.group(group)
    label = f"privacy group {found['name']!r} ({group})"
    current = list(found["members"])
    ids = {m["id"] for m in current}
    for m in removed:
        if m["id"] in {a["id"] for a in added}:
            raise ConfigError(f"member {m['name']!r} is given to both --add and --remove")
        if m["id"] not in ids:
            raise ConfigError(f"--remove {m['given']!r}: member {m['name']!r} is not in "
                              f"{label} (its members: {_names(current)})")
    for m in added:
        if m["id"] in ids:
            raise ConfigError(f"--add {m['given']!r}: member {m['name']!r} is in {label} "
                              "already")
    gone = {m["id"] for m in removed}
    after = [m for m in current if m["id"] not in gone] + added
    if len(after) < MIN_MEMBERS:
        raise ConfigError(
            f"refused: removing {_names(removed)} would leave {label} with "
            f"{len(after)} member{'' if len(after) == 1 else 's'} ({_names(after)}); a group "
            f"keeps at least {MIN_MEMBERS} members: --add another member in the same change")
    out = client.propose_change(signing.signer(), group, [m["account"] for m in added],
                                [m["account"] for m in removed])
    _sent(out, signing.json_out, f"proposed a membership change of {group}")


@app.command("approve")
@kit.with_signing
def approve(group: str = GroupArg, *, signing: kit.Signing) -> None:
    """Approve the group's open membership change."""
    out = _client(signing.rpc, signing.dir).approve(signing.signer(), group)
    _sent(out, signing.json_out, f"approved the change of {group}")


@app.command("groups")
def groups(member: list[str] = typer.Option([], "--member", help="Only groups holding this "
                                                                  "member; repeatable."),
           dir: Path = kit.DirOption, rpc: str | None = kit.RpcOption,
           json_out: bool = kit.JsonOption) -> None:
    """The privacy groups on chain (their names and members are public; their state is not)."""
    accounts = [kit.account(m, dir, "--member", rpc) or m for m in member]
    found = _client(rpc, dir).find_groups(accounts)
    if json_out:
        kit.print_json(found)
        return
    kit.table(f"Privacy groups ({len(found)})",
              ["id", "name", "status", "epoch", "members", "this node"],
              [[g["privacyGroupId"], g["name"], g["status"], g["epoch"],
                ", ".join(m["name"] for m in g["members"]),
                "member" if g["thisNodeIsMember"] else "-"] for g in found])


@app.command("show")
def show(group: str = GroupArg, dir: Path = kit.DirOption, rpc: str | None = kit.RpcOption,
         json_out: bool = kit.JsonOption) -> None:
    """One group: status, epoch, members, its private chain id, what this node processed."""
    found = _client(rpc, dir).group(group)
    kit.report(found, json_out, f"Privacy group {found['name']}", [
            ["id", found["privacyGroupId"]], ["status", found["status"]],
            ["epoch", found["epoch"]],
            ["members", ", ".join(f"{m['name']} ({m['account']})" for m in found["members"])],
            ["chain id", int(found["chainId"], 16)], ["created at", found["createdAt"]],
            ["active at", found["activeAt"]], ["this node", "member" if found[
                "thisNodeIsMember"] else "not a member"],
            ["processed up to", found["processedHeight"]]])


@app.command("receipt")
def receipt(tx_hash: str = typer.Argument(..., help="The private transaction's hash.",
                                          parser=kit.hex32("a transaction hash")),
            dir: Path = kit.DirOption, rpc: str | None = kit.RpcOption,
            json_out: bool = kit.JsonOption) -> None:
    """A private transaction's receipt on this node (its status while it has none)."""
    client = _client(rpc, dir)
    found = client.receipt(tx_hash)
    if found is None:
        status = client.status(tx_hash)
        if json_out:
            kit.print_json({"receipt": None, **status})
            return
        kit.console.print(f"no receipt yet: {status['status']}"
                          + (f" ({status['reason']})" if status.get("reason") else ""))
        raise typer.Exit(1)
    kit.report(found, json_out, "Private receipt", [
            ["hash", found["transactionHash"]], ["group", found["privacyGroupId"]],
            ["status", "success" if found["status"] == "0x1" else "reverted"],
            ["block", int(found["blockNumber"], 16)], ["from", found["from"]],
            ["to", found["to"]], ["contract", found["contractAddress"]],
            ["gas used", int(found["gasUsed"], 16)], ["logs", len(found["logs"])],
            ["marker", found["markerHash"]]])


@app.command("root")
def root(group: str = GroupArg,
         block: int | None = typer.Option(None, "--block", help="A public height (default: "
                                          "the last processed).", parser=kit.NUMBER),
         dir: Path = kit.DirOption, rpc: str | None = kit.RpcOption,
         json_out: bool = kit.JsonOption) -> None:
    """The group's private state root on this node, and what the members attested on chain."""
    found = _client(rpc, dir).root(group, "latest" if block is None else block)
    attested = found.get("attested") or {}
    kit.report(found, json_out, "Private state root", [
            ["height", found["height"]], ["root", found["root"]],
            ["attested", attested.get("root")],
            ["attestations", attested.get("attestations", 0)],
            ["mismatch", "YES" if attested.get("mismatch") else "no"]])
