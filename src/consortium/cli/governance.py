"""Governance commands: members, proposals and votes, officers, task forces, roles.

Reads go through the system contracts (eth_call with their shipped ABIs) and print a table,
or JSON with --json. Signing commands take --from (a member name of the local network, an
address with a keystore in DIR, or a keystore file), wait for the receipt and print the
proposal's id and status; a refusal prints the contract's reason.

    consortium member list / show REF
    consortium propose KIND …           one subcommand per kind of proposal
    consortium vote ID yes|no
    consortium revoke ID
    consortium proposals [--open] [ID]
    consortium officers
    consortium taskforce list / show NAME
    consortium roles [ACCOUNT]
    consortium upgrades                 the scheduled and applied software upgrades
    consortium regulator freeze / unfreeze TARGET
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import typer

from consortium.cli.common import (
    DirOption,
    JsonOption,
    RpcOption,
    Signing,
    console,
    endpoint,
    print_json,
    table,
    with_signing,
)
from consortium.errors import ConfigError

member_app = typer.Typer(help="Consortium members.", no_args_is_help=True)
propose_app = typer.Typer(
    help="Propose a consortium decision (one subcommand per kind); members then vote.",
    no_args_is_help=True,
)
taskforce_app = typer.Typer(help="Task forces.", no_args_is_help=True)
regulator_app = typer.Typer(
    help="What a regulator does directly, without a vote.", no_args_is_help=True
)


def _client(rpc: str | None, dir: Path) -> Any:
    from consortium.system.client import GovernanceClient

    return GovernanceClient(endpoint(rpc, dir))


# --- members ------------------------------------------------------------------------------------


@member_app.command("list")
def member_list(
    dir: Path = DirOption, rpc: str | None = RpcOption, json_out: bool = JsonOption
) -> None:
    """Every member: tier, status, weight, accounts and nodes."""
    members = _client(rpc, dir).members()
    if json_out:
        print_json(members)
        return
    table(
        "Members",
        ["id", "name", "tier", "status", "weight", "accounts", "nodes"],
        [
            [
                m["id"],
                m["name"],
                m["tier"],
                m["status"],
                m["weight"],
                "\n".join(m["accounts"]),
                "\n".join(m["nodes"]) or None,
            ]
            for m in members
        ],
    )


@member_app.command("show")
def member_show(
    ref: str = typer.Argument(..., help="Member id, name or one of its accounts."),
    dir: Path = DirOption,
    rpc: str | None = RpcOption,
    json_out: bool = JsonOption,
) -> None:
    """One member, with each account's roles."""
    client = _client(rpc, dir)
    member = client.member(ref)
    if member is None:
        raise ConfigError(f"no member {ref!r}")
    member["roles"] = {a: client.roles(a)["roles"] for a in member["accounts"]}
    if json_out:
        print_json(member)
        return
    table(
        f"Member {member['id']}: {member['name']}",
        ["field", "value"],
        [
            ["tier", member["tier"]],
            ["status", member["status"]],
            ["weight", member["weight"]],
            ["admitted at height", member["since"]],
            [
                "accounts",
                "\n".join(
                    f"{a} ({', '.join(r) or 'no roles'})" for a, r in member["roles"].items()
                ),
            ],
            ["nodes", "\n".join(member["nodes"]) or None],
        ],
    )


# --- proposing ---------------------------------------------------------------------------------


def _rate(text: str, what: str) -> int:
    """Basis points from "6667" or a percentage like "66.67%"."""
    try:
        if text.endswith("%"):
            value = Decimal(text[:-1]) * 100
            if value != value.to_integral_value():
                raise ConfigError(f"{what} {text} is finer than a basis point (0.01%)")
            return int(value)
        return int(text)
    except (InvalidOperation, ValueError):
        raise ConfigError(
            f"{what} must be basis points (6667) or a percentage (66.67%), got {text!r}"
        ) from None


def _submit(kind: str, signing: Signing, call: Any) -> None:
    """Sign and send a proposal: `call(client, signer)` makes it; print its id and status."""
    signer = signing.signer()
    outcome = call(_client(signing.rpc, signing.dir), signer)
    _print_outcome(f"Proposal ({kind})", outcome, signing.json_out)


def _print_outcome(title: str, outcome: dict[str, Any], json_out: bool) -> None:
    if json_out:
        print_json(outcome)
        return
    if "proposal" in outcome:
        table(
            title,
            ["proposal", "kind", "status", "block", "tx"],
            [
                [
                    outcome["proposal"],
                    outcome["kind"],
                    outcome["status"],
                    outcome["block"],
                    outcome["txHash"],
                ]
            ],
        )
    else:
        table(title, ["block", "tx"], [[outcome["block"], outcome["txHash"]]])


@propose_app.command("admit-member")
@with_signing
def propose_admit_member(
    name: str = typer.Option(..., "--name", help="The institution's name."),
    account: list[str] = typer.Option(..., "--account", help="Its account (repeatable)."),
    node_id: list[str] | None = typer.Option(None, "--node-id", help="Its node id (repeatable)."),
    tier: str = typer.Option("ordinary", "--tier", help="founding, ordinary or observer."),
    weight: int | None = typer.Option(
        None, "--weight", help="Committee weight (default 1; observers 0)."
    ),
    *,
    signing: Signing,
) -> None:
    """Admit an institution with its accounts and node ids (the node may then peer)."""
    _submit(
        "admit-member",
        signing,
        lambda c, s: c.propose_admit_member(s, name, tier, account, node_id or [], weight),
    )


def _member_command(kind: str, doc: str) -> None:
    def command(
        member: str = typer.Option(..., "--member", help="Member id, name or account."),
        *,
        signing: Signing,
    ) -> None:
        method = f"propose_{kind.replace('-', '_')}"
        _submit(kind, signing, lambda c, s: getattr(c, method)(s, member))

    command.__doc__ = doc
    propose_app.command(kind)(with_signing(command))


_member_command("suspend-member", "Suspend a member: its accounts may not transact.")
_member_command("reinstate-member", "Reinstate a suspended member.")
_member_command(
    "expel-member", "Expel a member (supermajority; it cannot vote on it; its nodes go)."
)


@propose_app.command("add-validator")
@with_signing
def propose_add_validator(
    pub_key: str = typer.Option(
        ..., "--pub-key", help="ed25519 consensus key, base64 (as `consortium join` prints it)."
    ),
    power: int = typer.Option(10, "--power", help="Voting power."),
    member: str | None = typer.Option(
        None, "--member",
        help="The member whose validator it is (id, name or account): expelling it removes it.",
    ),
    *,
    signing: Signing,
) -> None:
    """Make a node a validator (or change its power)."""
    kind = "add-validator" if member is None else "add-member-validator"
    _submit(kind, signing, lambda c, s: c.propose_add_validator(s, pub_key, power, member))


@propose_app.command("remove-validator")
@with_signing
def propose_remove_validator(
    pub_key: str = typer.Option(..., "--pub-key", help="ed25519 consensus key, base64."),
    *,
    signing: Signing,
) -> None:
    """Remove a validator from the validator set."""
    _submit("remove-validator", signing, lambda c, s: c.propose_remove_validator(s, pub_key))


@propose_app.command("admit-node")
@with_signing
def propose_admit_node(
    member: str = typer.Option(..., "--member", help="Member id, name or account."),
    node_id: str = typer.Option(..., "--node-id", help="The node id (40 hex digits)."),
    *,
    signing: Signing,
) -> None:
    """Admit another node of a member as a peer."""
    _submit("admit-node", signing, lambda c, s: c.propose_admit_node(s, member, node_id))


@propose_app.command("remove-node")
@with_signing
def propose_remove_node(
    node_id: str = typer.Option(..., "--node-id", help="The node id (40 hex digits)."),
    *,
    signing: Signing,
) -> None:
    """Stop admitting a node as a peer."""
    _submit("remove-node", signing, lambda c, s: c.propose_remove_node(s, node_id))


def _role_command(kind: str, doc: str) -> None:
    def command(
        account: str = typer.Option(..., "--account", help="The account."),
        role: str = typer.Option(
            ..., "--role", help="committee, member, operator, regulator or auditor."
        ),
        *,
        signing: Signing,
    ) -> None:
        method = f"propose_{kind.replace('-', '_')}"
        _submit(kind, signing, lambda c, s: getattr(c, method)(s, account, role))

    command.__doc__ = doc
    propose_app.command(kind)(with_signing(command))


_role_command("grant-role", "Grant a role to a member's account.")
_role_command("revoke-role", "Revoke a role from an account.")


@propose_app.command("elect-officer")
@with_signing
def propose_elect_officer(
    office: str = typer.Option(..., "--office", help='The office, e.g. "chair".'),
    holder: str = typer.Option(..., "--holder", help="The member account that holds it."),
    term_blocks: int = typer.Option(
        ..., "--term-blocks", help="Term length in blocks, from the election."
    ),
    *,
    signing: Signing,
) -> None:
    """Elect an officer for a term; the office is vacant once the term's height passes."""
    _submit(
        "elect-officer",
        signing,
        lambda c, s: c.propose_elect_officer(s, office, holder, term_blocks),
    )


@propose_app.command("form-taskforce")
@with_signing
def propose_form_taskforce(
    name: str = typer.Option(..., "--name", help="The task force's name."),
    charter: str = typer.Option("", "--charter", help="What it is for."),
    lead: str = typer.Option(..., "--lead", help="Its lead (one of its members): account or name."),
    member: list[str] = typer.Option(
        ..., "--member", help="A member account or name in it (repeatable)."
    ),
    *,
    signing: Signing,
) -> None:
    """Form a task force of consortium members' accounts."""
    lead_, members = _task_force_accounts(lead, member, signing)
    _submit(
        "form-taskforce",
        signing,
        lambda c, s: c.propose_form_task_force(s, name, charter, lead_, members),
    )


@propose_app.command("set-taskforce-members")
@with_signing
def propose_set_taskforce_members(
    name: str = typer.Option(..., "--name", help="The task force's name."),
    lead: str = typer.Option(..., "--lead", help="Its lead (one of its members): account or name."),
    member: list[str] = typer.Option(
        ..., "--member", help="A member account or name (repeatable)."
    ),
    *,
    signing: Signing,
) -> None:
    """Replace a task force's lead and members."""
    lead_, members = _task_force_accounts(lead, member, signing)
    _submit(
        "set-taskforce-members",
        signing,
        lambda c, s: c.propose_set_task_force_members(s, name, lead_, members),
    )


def _task_force_accounts(
    lead: str, members: list[str], signing: Signing
) -> tuple[str, list[str]]:
    """--lead and --member as accounts: 0x addresses or member names, as everywhere."""
    from consortium.cli.services import party

    return party(lead, signing, "--lead"), [party(m, signing, "--member") for m in members]


@propose_app.command("dissolve-taskforce")
@with_signing
def propose_dissolve_taskforce(
    name: str = typer.Option(..., "--name", help="The task force's name."),
    *,
    signing: Signing,
) -> None:
    """Dissolve a task force."""
    _submit("dissolve-taskforce", signing, lambda c, s: c.propose_dissolve_task_force(s, name))


@propose_app.command("change-rule")
@with_signing
def propose_change_rule(
    type_: str = typer.Option(..., "--type", help="The proposal kind, e.g. grant-role."),
    participation: str = typer.Option(
        ...,
        "--participation",
        help="Share of the weight that must vote: basis points (5001) or percent (50.01%).",
    ),
    win_rate: str = typer.Option(..., "--win-rate", help="Share of the votes that must say yes."),
    period: int = typer.Option(..., "--period", help="Voting period in blocks."),
    *,
    signing: Signing,
) -> None:
    """Change how a kind of proposal is decided (needs a supermajority). Open proposals
    keep the rule they were proposed under."""
    _submit(
        "change-rule",
        signing,
        lambda c, s: c.propose_change_rule(
            s, type_, _rate(participation, "--participation"), _rate(win_rate, "--win-rate"), period
        ),
    )


def _target_command(kind: str, doc: str) -> None:
    def command(
        target: str = typer.Option(..., "--target", help="An account or contract address."),
        *,
        signing: Signing,
    ) -> None:
        method = f"propose_{kind}"
        _submit(kind, signing, lambda c, s: getattr(c, method)(s, target))

    command.__doc__ = doc
    propose_app.command(kind)(with_signing(command))


_target_command(
    "freeze", "Freeze an account (its transactions are refused) or a contract (calls to it revert)."
)
_target_command("unfreeze", "Unfreeze an account or contract.")


@propose_app.command("set-deploy-allowlist")
@with_signing
def propose_set_deploy_allowlist(
    account: list[str] | None = typer.Option(
        None, "--account", help="An account that may deploy (repeatable; none: every member may)."
    ),
    *,
    signing: Signing,
) -> None:
    """Set the accounts that may deploy contracts (empty: every member account may)."""
    _submit(
        "set-deploy-allowlist",
        signing,
        lambda c, s: c.propose_set_deploy_allowlist(s, account or []),
    )


@propose_app.command("app-call")
@with_signing
def propose_app_call(
    contract: str = typer.Option(..., "--contract", help="A finance service's contract."),
    data: str = typer.Option(..., "--data", help="The ABI-encoded call, 0x hex."),
    *,
    signing: Signing,
) -> None:
    """Have Governance call a finance service's contract (e.g. create an asset class; the
    services' own commands, like `consortium registry propose-class`, build the call)."""
    call = _call_data(data)
    _submit("app-call", signing, lambda c, s: c.propose_app_call(s, contract, call))


def _call_data(data: str) -> bytes:
    try:
        return bytes.fromhex(data.strip().removeprefix("0x"))
    except ValueError:
        raise ConfigError(f"--data {data!r} is not hex") from None


@propose_app.command("contract-call")
@with_signing
def propose_contract_call(
    contract: str = typer.Option(..., "--contract", help="A user contract's address."),
    data: str = typer.Option(..., "--data", help="The ABI-encoded call, 0x hex."),
    *,
    signing: Signing,
) -> None:
    """Have Governance call a user contract that trusts its address, e.g. upgrade an
    ERC-1967 proxy whose admin it is (the call is tried when proposed)."""
    call = _call_data(data)
    _submit("contract-call", signing, lambda c, s: c.propose(s, "contract-call", contract, call))


@propose_app.command("software-upgrade")
@with_signing
def propose_software_upgrade(
    name: str = typer.Option(..., "--name", help="The upgrade's name, as its handler knows it."),
    height: int = typer.Option(..., "--height", help="The first block run by the new version."),
    version: str = typer.Option(
        ..., "--version", help="The consortium version that carries the upgrade (0.2.0)."
    ),
    *,
    signing: Signing,
) -> None:
    """Schedule a software upgrade (supermajority): at HEIGHT, nodes without its handler
    stop and say which version to install; the others migrate and go on."""
    _submit("software-upgrade", signing,
            lambda c, s: c.propose(s, "software-upgrade", name, height, version))


@propose_app.command("cancel-software-upgrade")
@with_signing
def propose_cancel_software_upgrade(
    name: str = typer.Option(..., "--name", help="The scheduled upgrade's name."),
    *,
    signing: Signing,
) -> None:
    """Cancel the scheduled software upgrade before its height."""
    _submit("cancel-software-upgrade", signing,
            lambda c, s: c.propose(s, "cancel-software-upgrade", name))


def upgrades(
    dir: Path = DirOption, rpc: str | None = RpcOption, json_out: bool = JsonOption
) -> None:
    """The scheduled software upgrade, the applied ones and the system contracts' versions."""
    info = _client(rpc, dir).read.upgrades()
    if json_out:
        print_json(info)
        return
    plan = info["plan"]
    rows = [["scheduled", plan["name"], plan["height"], plan["version"], plan["proposal"]]] if (
        plan) else []
    rows += [["applied", a["name"], a["height"], "", ""] for a in info["applied"]]
    table("Software upgrades", ["state", "name", "height", "version", "proposal"], rows)
    table("System contract versions", ["contract", "version"],
          [[c, v] for c, v in info["nativeVersions"].items()])


# --- voting ------------------------------------------------------------------------------------


@with_signing
def vote(
    proposal: int = typer.Argument(..., help="The proposal id."),
    choice: str = typer.Argument(..., help="yes or no."),
    *,
    signing: Signing,
) -> None:
    """Vote on a proposal; the vote that passes it executes it."""
    if choice.lower() not in ("yes", "no"):
        raise ConfigError(f"vote yes or no, not {choice!r}")
    signer = signing.signer()
    outcome = _client(signing.rpc, signing.dir).vote(signer, proposal, choice.lower() == "yes")
    _print_outcome("Vote", outcome, signing.json_out)


@with_signing
def revoke(
    proposal: int = typer.Argument(..., help="The proposal id."),
    *,
    signing: Signing,
) -> None:
    """Withdraw your own open proposal."""
    signer = signing.signer()
    _print_outcome("Revoked", _client(signing.rpc, signing.dir).revoke(signer, proposal),
                   signing.json_out)


def _params(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in params.items())


def proposals(
    proposal: int | None = typer.Argument(None, help="Show this proposal with its votes."),
    open_only: bool = typer.Option(False, "--open", help="Only the open ones."),
    dir: Path = DirOption,
    rpc: str | None = RpcOption,
    json_out: bool = JsonOption,
) -> None:
    """Proposals with their status, tallies and expiry heights."""
    client = _client(rpc, dir)
    if proposal is not None:
        found = client.proposal(proposal)
        if found is None:
            raise ConfigError(f"no proposal {proposal}")
        found["votes"] = client.read.votes(proposal)
        if json_out:
            print_json(found)
            return
        rule = found["rule"]
        table(
            f"Proposal {proposal}: {found['kind']}",
            ["field", "value"],
            [
                ["status", found["status"] + (f" ({found['note']})" if found["note"] else "")],
                ["params", _params(found["params"])],
                ["proposer", found["proposer"]],
                ["proposed / expires", f"{found['createdAt']} / {found['expiresAt']}"],
                [
                    "rule",
                    f"participation {rule['participation']} bp, win rate {rule['winRate']} bp",
                ],
                ["yes / no weight", f"{found['yesWeight']} / {found['noWeight']}"],
                ["votes", "\n".join(f"{v['name']}: {v['vote']}" for v in found["votes"]) or None],
            ],
        )
        return
    items = client.proposals(open_only)
    if json_out:
        print_json(items)
        return
    table(
        "Proposals" + (" (open)" if open_only else ""),
        ["id", "kind", "status", "params", "yes", "no", "expires"],
        [
            [
                p["id"],
                p["kind"],
                p["status"],
                _params(p["params"]),
                p["yesWeight"],
                p["noWeight"],
                p["expiresAt"],
            ]
            for p in items
        ],
    )


# --- officers, task forces, roles ------------------------------------------------------------


def officers(
    dir: Path = DirOption, rpc: str | None = RpcOption, json_out: bool = JsonOption
) -> None:
    """Offices with their holders and terms (vacant once the term's height has passed)."""
    items = _client(rpc, dir).officers()
    if json_out:
        print_json(items)
        return
    table(
        "Officers",
        ["office", "holder", "term ends at", "elected at"],
        [
            [
                o["office"],
                o["holder"] or f"vacant (was {o['lastHolder']})",
                o["termEnd"],
                o["electedAt"],
            ]
            for o in items
        ],
    )


@taskforce_app.command("list")
def taskforce_list(
    dir: Path = DirOption, rpc: str | None = RpcOption, json_out: bool = JsonOption
) -> None:
    """Every task force."""
    items = _client(rpc, dir).task_forces()
    if json_out:
        print_json(items)
        return
    table(
        "Task forces",
        ["name", "lead", "members", "charter"],
        [[t["name"], t["lead"], len(t["members"]), t["charter"]] for t in items],
    )


@taskforce_app.command("show")
def taskforce_show(
    name: str = typer.Argument(..., help="The task force's name."),
    dir: Path = DirOption,
    rpc: str | None = RpcOption,
    json_out: bool = JsonOption,
) -> None:
    """One task force with its members."""
    found = _client(rpc, dir).task_force(name)
    if found is None:
        raise ConfigError(f"no task force named {name!r}")
    if json_out:
        print_json(found)
        return
    table(
        f"Task force {name}",
        ["field", "value"],
        [
            ["charter", found["charter"]],
            ["lead", found["lead"]],
            ["members", "\n".join(found["members"])],
            ["formed at", found["formedAt"]],
        ],
    )


def roles(
    account: str | None = typer.Argument(None, help="One account's roles."),
    dir: Path = DirOption,
    rpc: str | None = RpcOption,
    json_out: bool = JsonOption,
) -> None:
    """The accounts holding each role (or one account's roles)."""
    found = _client(rpc, dir).roles(account)
    if json_out:
        print_json(found)
        return
    if account is not None:
        console.print(f"{found['account']}: {', '.join(found['roles']) or 'no roles'}")
        return
    table("Roles", ["role", "accounts"], [[r, "\n".join(a) or None] for r, a in found.items()])


def _regulator_command(name: str, frozen: bool, doc: str) -> None:
    def command(
        target: str = typer.Argument(..., help="An account or contract address."),
        *,
        signing: Signing,
    ) -> None:
        signer = signing.signer()
        outcome = _client(signing.rpc, signing.dir).regulator_freeze(signer, target, frozen)
        _print_outcome(f"{name.capitalize()} {target}", outcome, signing.json_out)

    command.__doc__ = doc
    regulator_app.command(name)(with_signing(command))


_regulator_command("freeze", True, "Freeze an account or contract now (regulator role, no vote).")
_regulator_command("unfreeze", False, "Unfreeze an account or contract now (regulator role).")
