"""The governance page: members, nodes and validators (named for their members), roles,
officers with their terms, task forces and rules; proposals with their tallies against the
rule snapshotted when each was proposed, vote and revoke buttons, and a form for every kind
of proposal.

Everything is read through the node's `consortium_*` JSON-RPC methods (in process), the
same answers a client gets; the forms come from `console.forms` and are signed in the page
(`static/js/sign_forms.js`). `static/js/governance.js` re-renders the live part
(`/governance/live`) on every new block the node's WebSocket announces, so tallies and
statuses move without a reload.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from consortium.console.app import Console, hexint
from consortium.console.forms import (
    app_call_forms,
    governance_abi,
    permissions_abi,
    proposal_forms,
    regulator_forms,
    revoke_form,
    script_json,
    vote_form,
)
from consortium.console.owners import node_owners, validator_owners
from consortium.console.services import method_form_route

BASIS_POINTS = 10_000
CLOSED_SHOWN = 30  # decided proposals listed under the open ones, newest first


def routes(console: Console) -> list[BaseRoute]:
    async def page(request: Request) -> Response:
        state = await governance_state(console, request)
        return console.page(
            request, "governance.html", active="governance", **state,
            proposal_forms=proposal_forms(), regulator_forms=regulator_forms(),
            app_call_targets=app_call_targets(), events_json=events_json())

    async def live(request: Request) -> Response:
        state = await governance_state(console, request)
        return console.page(request, "governance_live.html", **state)

    return [Route("/governance", page, methods=["GET"]),
            Route("/governance/live", live, methods=["GET"]),
            # an app-call's call, built from the method's inputs (encoded, not signed, here)
            method_form_route(console, "/governance/app-call/{service}/{method}",
                              app_call_forms, cls="app-call-args",
                              label="Put this call into the proposal")]


def app_call_targets() -> list[tuple[str, list[str]]]:
    """Each service with the methods an app-call proposal can call, for the page's select."""
    from consortium.console.forms import SERVICE_CONTRACTS

    return [(name, [f.method for f in app_call_forms(name)]) for name in SERVICE_CONTRACTS]


async def governance_state(console: Console, request: Request,
                           all_proposals: bool = False) -> dict[str, Any]:
    """What the page shows, read at the node's latest block (`all_proposals`: every decided
    one, not the latest CLOSED_SHOWN: the CSV export)."""
    async def rpc(method: str, *params: Any) -> Any:
        return await console.rpc(method, *params, request=request)

    height = hexint(await rpc("eth_blockNumber"))
    members = await rpc("consortium_members")
    proposals = await rpc("consortium_proposals")
    open_ids = [p["id"] for p in proposals if p["status"] == "open"]
    votes = {pid: (await rpc("consortium_proposal", pid) or {}).get("votes", [])
             for pid in open_ids}
    roles = await rpc("consortium_roles")
    names = {a: m["name"] for m in members for a in m["accounts"]}
    validators = await rpc("consortium_validators")
    nodes = await rpc("consortium_nodes")
    validator_names = await validator_owners(console, request,
                                             [v["pubKey"] for v in validators], members)
    # a proposal's accounts, validator keys and node ids, each with its member's name
    known = {**names, **validator_names, **node_owners(nodes, members)}
    shown = sorted(proposals, key=lambda p: (p["status"] != "open", -p["id"]))
    open_rows = [proposal_row(p, members, votes.get(p["id"], []), known)
                 for p in shown if p["status"] == "open"]
    closed = [p for p in shown if p["status"] != "open"]
    closed_rows = [proposal_row(p, members, [], known)
                   for p in (closed if all_proposals else closed[:CLOSED_SHOWN])]
    return {
        "height": height,
        "members": members,
        "names": names,
        "open_proposals": open_rows,
        "closed_proposals": closed_rows,
        "roles": [(role, accounts) for role, accounts in roles.items() if accounts],
        "rules": await rpc("consortium_rules"),
        "officers": await rpc("consortium_officers"),
        "task_forces": await rpc("consortium_taskForces"),
        "validators": validators,
        "validator_names": validator_names,
        "nodes": nodes,
        "frozen": await rpc("consortium_frozen"),
        "member_names": {m["id"]: m["name"] for m in members},
    }


def voting_weight(members: list[dict[str, Any]], target: int | None) -> int:
    """The weight a proposal is decided against: every active member with weight, its
    target (an expulsion's member) left out, as the contract counts."""
    return sum(m["weight"] for m in members
               if m["status"] == "active" and m["weight"] > 0 and m["id"] != target)


def percent(bp: int) -> str:
    """Basis points as a percentage: 5001 -> "50.01%"."""
    whole, frac = divmod(bp, 100)
    return f"{whole}.{frac:02d}%" if frac else f"{whole}%"


def tally(p: dict[str, Any], total: int) -> dict[str, Any]:
    """A proposal's tally against its own rule (snapshotted when proposed): the weights, the
    shares, and what it still needs to pass."""
    rule = p["rule"]
    yes, no = p["yesWeight"], p["noWeight"]
    voted = yes + no
    turnout_needed = -(-total * rule["participation"] // BASIS_POINTS)  # ceiling
    needs = []
    if voted < turnout_needed:
        needs.append(f"{turnout_needed - voted} more weight voting")
    if voted and yes * BASIS_POINTS < voted * rule["winRate"]:
        needs.append("more yes votes")
    return {
        "yes": yes, "no": no, "voted": voted, "total": total,
        "turnout": percent(voted * BASIS_POINTS // total) if total else "0%",
        "participation": percent(rule["participation"]), "win_rate": percent(rule["winRate"]),
        "needs": ", ".join(needs),
        "yes_width": (yes * 100 // total) if total else 0,
        "no_width": (no * 100 // total) if total else 0,
    }


def params_text(params: dict[str, Any], names: dict[str, str]) -> list[tuple[str, str]]:
    """A proposal's parameters as (name, text), accounts, validator keys and node ids with
    their member's name."""
    def show(value: Any) -> str:
        if isinstance(value, list):
            return ", ".join(show(v) for v in value) or "(none)"
        text = str(value)
        return f"{text} ({names[text]})" if text in names else text

    return [(k, show(v)) for k, v in params.items()]


def proposal_row(p: dict[str, Any], members: list[dict[str, Any]], votes: list[dict[str, Any]],
                 names: dict[str, str]) -> dict[str, Any]:
    return {
        **p,
        "params_shown": params_text(p["params"], names),
        "proposer_name": names.get(p["proposer"], p["proposer"]),
        "tally": tally(p, voting_weight(members, p.get("target"))),
        "votes": votes,
        "vote_yes": vote_form(p["id"], True),
        "vote_no": vote_form(p["id"], False),
        "revoke": revoke_form(p["id"]),
    }


def events_json() -> str:
    """Governance's and Permissions' events by address, for the page to decode receipts."""
    from consortium.system.model import GOVERNANCE_ADDRESS, PERMISSIONS_ADDRESS

    return script_json({
        "0x" + GOVERNANCE_ADDRESS.hex(): [e for e in governance_abi() if e["type"] == "event"],
        "0x" + PERMISSIONS_ADDRESS.hex(): [e for e in permissions_abi() if e["type"] == "event"],
    })

