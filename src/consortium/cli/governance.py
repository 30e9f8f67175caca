"""Governance commands: members, proposals and votes, officers, task forces, roles.

The plain reads and writes are built from governance's declared surface
(`consortium.apps.governance_surface`, by `cli/kit.py`), every `propose <kind>`
among them; written here are the tables, `member show` (with each account's roles),
`proposals`, `roles`, `upgrades` and the regulator's direct freezes. Signing commands take
--from and print the proposal's id and status (or its JSON).
"""

from __future__ import annotations

from typing import Any

import typer

from consortium.apps.governance_surface import GOVERNANCE
from consortium.cli import kit
from consortium.errors import BadValue, ConfigError, known
from consortium.evm.records import account_hex

member_app = typer.Typer(help="Consortium members.", no_args_is_help=True)
propose_app = typer.Typer(help="Propose a consortium decision (one subcommand per kind); "
                          "members then vote.", no_args_is_help=True)
taskforce_app = typer.Typer(help="Task forces.", no_args_is_help=True)
regulator_app = typer.Typer(help="What a regulator does directly, without a vote.",
                            no_args_is_help=True)


_client = kit.client_of("consortium.system.client", "GovernanceClient")


def _outcome(outcome: dict[str, Any], json_out: bool, title: str) -> None:
    """What a write did: a proposal (title "Proposal": "Proposal (<kind>)"), else its tx."""
    title = f"Proposal ({outcome.get('kind')})" if title == "Proposal" else title
    columns = [*(["proposal", "kind", "status"] if "proposal" in outcome else []), "block", "tx"]
    kit.show(outcome, json_out, lambda: kit.table(
        title, columns, [[outcome["txHash" if c == "tx" else c] for c in columns]]))


_WRITES = {w.cli: w for w in GOVERNANCE.writes}
_READS = {r.rest: r for r in GOVERNANCE.reads}
vote = kit.write_command(_WRITES.pop("vote"), _client, _outcome)
revoke = kit.write_command(_WRITES.pop("revoke"), _client, _outcome)


# --- tables ----------------------------------------------------------------------------------


def _lines(values: list[str]) -> str | None:
    return "\n".join(values) or None


def _members_table(members: list[dict[str, Any]], show: Any) -> None:
    kit.table("Members", ["id", "name", "tier", "status", "weight", "accounts", "nodes"], [
        [m["id"], m["name"], m["tier"], m["status"], m["weight"], "\n".join(m["accounts"]),
         _lines(m["nodes"])] for m in members])


def _officers_table(items: list[dict[str, Any]], show: Any) -> None:
    kit.table("Officers", ["office", "holder", "term ends at", "elected at"], [
        [o["office"], o["holder"] or f"vacant (was {o['lastHolder']})", o["termEnd"],
         o["electedAt"]] for o in items])


def _task_forces_table(items: list[dict[str, Any]], show: Any) -> None:
    kit.table("Task forces", ["name", "lead", "members", "charter"],
              [[t["name"], show(t["lead"]), len(t["members"]), t["charter"]] for t in items])


def _task_force_table(found: dict[str, Any], show: Any) -> None:
    kit.table(f"Task force {found['name']}", ["field", "value"], [
        ["charter", found["charter"]], ["lead", show(found["lead"])],
        ["members", "\n".join(str(show(m)) for m in found["members"])],
        ["formed at", found["formedAt"]]])


def _read(rest: str, hook: Any, doc: str) -> Any:
    command = kit.read_command(_READS[rest], _client, hook)
    command.__doc__ = doc
    return command


member_app.command("list")(_read("/members", _members_table,
                                 "Every member: tier, status, weight, accounts and nodes."))
taskforce_app.command("list")(_read("/taskforces", _task_forces_table, "Every task force."))
taskforce_app.command("show")(_read("/taskforces/{name}", _task_force_table,
                                    "One task force with its members."))
officers = _read("/officers", _officers_table, "Offices with their holders and terms (vacant "
                 "once the term's height has passed).")


@member_app.command("show")
@kit.with_read_options
def member_show(ref: str = typer.Argument(..., help="Member id, name or one of its accounts."),
                *, opts: kit.Signing) -> None:
    """One member, with each account's roles."""
    client = _client(opts.rpc, opts.dir)
    member = known(client.member(ref), f"no member {ref!r}")
    member["roles"] = {a: client.roles(a)["roles"] for a in member["accounts"]}
    accounts = [f"{a} ({', '.join(r) or 'no roles'})" for a, r in member["roles"].items()]
    opts.show(member, lambda: kit.table(f"Member {member['id']}: {member['name']}",
                                        ["field", "value"], [
        ["tier", member["tier"]], ["status", member["status"]], ["weight", member["weight"]],
        ["admitted at height", member["since"]], ["accounts", "\n".join(accounts)],
        ["nodes", _lines(member["nodes"])]]))


for _write in _WRITES.values():  # one `propose <kind>` per declared proposal kind
    propose_app.command(_write.cli)(kit.write_command(_write, _client, _outcome))


# --- reads with their own shapes ------------------------------------------------------------------


@kit.with_read_options
def upgrades(*, opts: kit.Signing) -> None:
    """The scheduled software upgrade, the applied ones, the layout version of every native
    contract genesis `native_versions` sets (the system contracts, Privacy, the services
    Securities, Invoices and Registry) and the chain rules' versions (the natives' gas
    schedule, the EVM clock)."""
    client = _client(opts.rpc, opts.dir)
    info = client.read.upgrades() | {"chainRules": client.chain_rules()}
    if opts.json_out:
        kit.print_json(info)
        return
    plan = info["plan"]
    rows = [["scheduled", plan["name"], plan["height"], plan["version"], plan["proposal"]]] if (
        plan) else []
    rows += [["applied", a["name"], a["height"], "", ""] for a in info["applied"]]
    kit.table("Software upgrades", ["state", "name", "height", "version", "proposal"], rows)
    kit.table("Native contract versions", ["contract", "version"],
              [[c, v or "not enabled on this chain"] for c, v in info["nativeVersions"].items()])
    kit.table("Chain rules", ["rule", "version", "what"], [
        [key, version, _RULE_WORDS.get((key, version), "")]
        for key, version in info["chainRules"].items()])


# what each chain rule's versions do (`consortium.evm.chain_rules`)
_RULE_WORDS = {
    ("native_gas", 1): "every native storage write 20,000 gas (the upgrade native-gas-2 "
                       "prices writes as the EVM's SSTORE)",
    ("native_gas", 2): "native writes priced as the EVM's SSTORE",
    ("evm_clock", 1): "each block's EVM time at least a second past its parent's, ahead of "
                      "wall time under sub-second blocks (the upgrade evm-clock-2)",
    ("evm_clock", 2): "the EVM clock follows block time in whole seconds",
}


SHORT_HEX = 18  # characters of a long hex value a list shows ("0x" and 8 bytes)


def _params(params: dict[str, Any], *, short: bool = False) -> str:
    """A proposal's parameters as k=v. `short` (the list): an app-call's decoded `method`
    first and its raw calldata left out, other long hex values cut to their first bytes."""
    if short and "method" in params:
        params = {"method": params["method"]} | {
            k: v for k, v in params.items() if k not in ("method", "call")}
    return ", ".join(f"{k}={_short(v) if short else v}" for k, v in params.items())


def _short(value: Any) -> Any:
    if isinstance(value, str) and value.startswith("0x") and len(value) > SHORT_HEX + 24:
        return f"{value[:SHORT_HEX]}… ({(len(value) - 2) // 2} bytes)"
    return value


@kit.with_read_options
def proposals(
    proposal: int | None = typer.Argument(None, help="Show this proposal (its id, from 1) "
                                          "with its votes.", parser=kit.POSITIVE),
    open_only: bool = typer.Option(False, "--open", help="Only the open ones."),
    *, opts: kit.Signing,
) -> None:
    """Proposals with their status, tallies and expiry heights."""
    client = _client(opts.rpc, opts.dir)
    if proposal is not None:
        found = known(client.read.proposal_with_votes(proposal), f"no proposal {proposal}")
        rule, note = found["rule"], f" ({found['note']})" if found["note"] else ""
        opts.show(found, lambda: kit.table(f"Proposal {proposal}: {found['kind']}",
                                           ["field", "value"], [
            ["status", found["status"] + note], ["params", _params(found["params"])],
            ["proposer", found["proposer"]],
            ["proposed / expires", f"{found['createdAt']} / {found['expiresAt']}"],
            ["rule", f"participation {rule['participation']} bp, win rate {rule['winRate']} bp"],
            ["yes / no weight", f"{found['yesWeight']} / {found['noWeight']}"],
            ["votes", _lines([f"{v['name']}: {v['vote']}" for v in found["votes"]])]]))
        return
    items = client.proposals(open_only)
    opts.show(items, lambda: kit.table(
        "Proposals" + (" (open)" if open_only else ""),
        ["id", "kind", "status", "params", "yes", "no", "expires"],
        [[p["id"], p["kind"], p["status"], _params(p["params"], short=True), p["yesWeight"],
          p["noWeight"], p["expiresAt"]] for p in items]))


@kit.with_read_options
def roles(account: str | None = typer.Argument(
              None, help="One account's roles: a 0x address or a member name."), *,
          opts: kit.Signing) -> None:
    """The accounts holding each role (or one account's roles)."""
    if account is not None:  # said here, naming the argument, not by the ABI encoder
        if account.strip().lower().startswith("0x"):
            try:
                account = account_hex(account)
            except BadValue as exc:
                raise ConfigError(f"ACCOUNT: {exc.message}") from None
        else:  # a member name, as every account option takes (cli.md)
            account = kit.account(account, opts.dir, "ACCOUNT", opts.rpc)
    found = _client(opts.rpc, opts.dir).roles(account)
    opts.show(found, lambda: kit.console.print(
        f"{found['account']}: {', '.join(found['roles']) or 'no roles'}") if account is not None
        else kit.table("Roles", ["role", "accounts"], [[r, _lines(a)] for r, a in found.items()]))


def _regulator_command(name: str, frozen: bool, doc: str) -> None:
    def command(target: str = typer.Argument(..., help="An account or contract address."), *,
                signing: kit.Signing) -> None:
        signer = signing.signer()
        outcome = _client(signing.rpc, signing.dir).regulator_freeze(signer, target, frozen)
        _outcome(outcome, signing.json_out, f"{name.capitalize()} {target}")

    command.__doc__ = doc
    regulator_app.command(name)(kit.with_signing(command))


_regulator_command("freeze", True, "Freeze an account or contract now (regulator role, no vote).")
_regulator_command("unfreeze", False, "Unfreeze an account or contract now (regulator role).")
