"""`consortium privacy …`: privacy groups (docs/privacy.md). Members are named like
everywhere else (`--from "Bank A"`, `--with "Bank B"`); the node the command talks to (--rpc,
else the first live node of --dir) must be the signer's member's own node for the commands
that need its privacy key (register-node, create-group, propose-change)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from consortium.cli import kit

app = typer.Typer(help="Privacy groups: contracts and data only a group's members read.",
                  no_args_is_help=True)

GroupArg = typer.Argument(..., help="The privacy group's id (0x + 64 hex).")


def _client(rpc: str | None, dir: Path) -> Any:
    from consortium.sdk.privacy import PrivacyClient

    return PrivacyClient(kit.endpoint(rpc, dir))


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
    account = signing.signer()
    out = _client(signing.rpc, signing.dir).create_group(account, name,
                                                         [account.address, *with_])
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
    if not add and not remove:
        from consortium.errors import ConfigError

        raise ConfigError("give --add or --remove (at least one member)")
    out = _client(signing.rpc, signing.dir).propose_change(signing.signer(), group, add, remove)
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
    found = _client(rpc, dir).find_groups(member)
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
def receipt(tx_hash: str = typer.Argument(..., help="The private transaction's hash."),
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
