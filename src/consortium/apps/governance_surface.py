"""Governance's surface (`consortium.apps.surface`), declared once: its reads, served as the
`consortium_*` JSON-RPC methods, the /api/v1 REST routes and their OpenAPI paths and (where
a plain table does) CLI commands; its writes (vote, revoke and one per proposal kind)
served as `consortium vote|revoke|propose …` commands. The contracts
stay in `consortium.system`; importing this package registers the services' contracts too,
so an app-call proposal names its method."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from consortium.apps import surface as kinds
from consortium.apps.surface import Param, Read, Service, Write
from consortium.system.model import KIND_BY_NAME
from consortium.system.reader import SystemReader


@dataclass(frozen=True)
class _Governance(Service):
    @property
    def rest_base(self) -> str:
        return "/api/v1"  # the consortium's own routes: /api/v1/members, /api/v1/proposals …


def _proposal_id(value: Any) -> int:
    if isinstance(value, str) and value.strip().lower().startswith("0x"):
        value = int(value, 16)
    return int(kinds.ID.parse_value(value))


def _open(value: Any) -> bool:
    """JSON-RPC's "open"/"all" (or {"open": bool}), REST's ?open=true."""
    text = value.strip().lower() if isinstance(value, str) else None
    if value in ({"open": True}, {"open": False}):
        return bool(value["open"])
    if text in ("open", "all", "1", "true", "yes", "0", "false", "no"):
        return text in ("open", "1", "true", "yes")
    raise ValueError(value)


MEMBER_REF = kinds.Kind("member", kinds.id_or_name("member").parse_value,
                        "a member id, name or 0x account", {"type": "string"})
PROPOSAL_ID = kinds.Kind("id", _proposal_id, "a proposal id", kinds.ID.schema)
OPEN = kinds.Kind("open", _open, '"open" or "all"', {"type": "boolean", "default": False})


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(value)
    return value


NAME_TEXT = kinds.Kind("name", _name, "expected a non-empty string", {"type": "string"})
NUMBER = kinds.Kind("number", int, "expected a whole number", {"type": "integer", "minimum": 0})


def _opt(name: str, kind: kinds.Kind, doc: str, flag: str = "", **more: Any) -> Param:
    """A propose option (--flag, default: --<name in kebab case>), required unless given a
    default."""
    return Param(name, kind, doc, flag=flag or Param(name, kind).option, **more)


# A proposal command's option per parameter of its kind (model.PROPOSAL_KINDS), in the kind's
# order; `_propose` names the help where a kind says more.
OPTIONS = {o.name: o for o in (
    _opt("name", kinds.TEXT, "The task force's name."),
    _opt("tier", kinds.TEXT, "founding, ordinary or observer.", default="ordinary"),
    _opt("weight", NUMBER, "Committee weight (default 1; observers 0).", default=None),
    _opt("accounts", kinds.TEXT, "Its account (repeatable).", "--account", many=True),
    _opt("nodeIds", kinds.TEXT, "Its node id (repeatable).", "--node-id", default=[], many=True),
    _opt("member", kinds.TEXT, "Member id, name or account."),
    _opt("pubKey", kinds.TEXT, "ed25519 consensus key, base64."),
    _opt("power", NUMBER, "Voting power.", default=10),
    _opt("nodeId", kinds.TEXT, "The node id (40 hex digits)."),
    _opt("account", kinds.ACCOUNT, "The account."),
    _opt("role", kinds.TEXT, "committee, member, operator, regulator or auditor."),
    _opt("office", kinds.TEXT, 'The office, e.g. "chair".'),
    _opt("holder", kinds.ACCOUNT, "The member account that holds it."),
    _opt("termBlocks", NUMBER, "Term length in blocks, from the election."),
    _opt("charter", kinds.TEXT, "What it is for.", default=""),
    _opt("lead", kinds.ACCOUNT, "Its lead (one of its members): account or name."),
    _opt("members", kinds.ACCOUNT, "A member account or name in it (repeatable).", "--member",
         many=True),
    _opt("kind", kinds.TEXT, "The proposal kind, e.g. grant-role.", "--type"),
    _opt("participation", kinds.TEXT, "Share of the weight that must vote: basis points (5001) "
         "or percent (50.01%)."),
    _opt("winRate", kinds.TEXT, "Share of the votes that must say yes."),
    _opt("period", NUMBER, "Voting period in blocks."),
    _opt("target", kinds.ACCOUNT, "An account or contract address."),
    _opt("contract", kinds.ACCOUNT, "A finance service's contract."),
    _opt("call", kinds.TEXT, "The ABI-encoded call, 0x hex.", "--data"),
    _opt("height", NUMBER, "The first block run by the new version."),
    _opt("version", kinds.TEXT, "The consortium version that carries the upgrade (0.2.0)."),
)}
PROPOSAL = Param("proposal", kinds.ID, "The proposal id.")


def _propose(kind: str, summary: str, *more: Param, order: tuple[str, ...] = (),
             **help: str | Param) -> Write:
    """`propose <kind>`: an option per parameter of the kind, in the client's `order` (default:
    the kind's), each as `OPTIONS` has it or as `help` says (its help text, or another
    option), then `more` (the client's own)."""
    def option(name: str) -> Param:
        given = help.get(name, OPTIONS[name].doc)
        return given if isinstance(given, Param) else replace(OPTIONS[name], doc=given)

    spec = KIND_BY_NAME[kind]
    args = [option(n) for n in order or spec.params]
    return Write(kind, spec.method, summary, spec.client, (*args, *more), "Proposal")


def _read(name: str, summary: str, rest: str, rpc: str = "", **more: Any) -> Read:
    """A read served as JSON-RPC consortium_<name in camel case> (unless `rpc` says)."""
    first, *rest_words = name.split("_")
    camel = first + "".join(w.capitalize() for w in rest_words)
    return Read(name, summary, rpc or "consortium_" + camel, rest, **more)


GOVERNANCE = _Governance(
    name="governance",
    title="Consortium governance",
    reader=SystemReader,
    reads=(
        _read("members", "Every member: name, tier, status, weight, accounts, nodes", "/members"),
        _read("member", "One member", "/members/{ref}", nullable=True, noun="member",
              params=(Param("ref", MEMBER_REF, "member id, name or 0x account"),)),
        _read("proposals", "Every proposal (open=true: only the open ones)", "/proposals",
              params=(Param("open", OPEN, "only the open ones", default=False),)),
        _read("proposal_with_votes", "One proposal with its votes", "/proposals/{id}",
              rpc="consortium_proposal", nullable=True, noun="proposal",
              params=(Param("id", PROPOSAL_ID, "proposal id"),)),
        _read("rules", "Each proposal kind's participation, win rate and period", "/rules"),
        _read("officers", "Offices, holders and terms (vacant once a term ends)", "/officers"),
        _read("task_forces", "Task forces: charter, lead, members", "/taskforces"),
        _read("task_force", "One task force", "/taskforces/{name}", nullable=True,
              noun="task force", params=(Param("name", NAME_TEXT, "The task force's name."),)),
        # one JSON-RPC method, two routes: /roles/{account} and /roles (?account=)
        _read("roles", "One account's roles", "/roles/{account}",
              params=(Param("account", kinds.ACCOUNT, "0x account"),)),
        _read("roles", "The accounts holding each role", "/roles",
              params=(Param("account", kinds.ACCOUNT, "one account's roles", default=None),)),
        _read("validators", "Validators: ed25519 key, power, CometBFT address", "/validators"),
        _read("nodes", "Admitted peer node ids and their members", "/nodes"),
        _read("frozen", "Frozen accounts and contracts", "/frozen"),
        _read("deploy_allowlist", "Accounts that may deploy (empty: every member)",
              "/deploy-allowlist"),
    ),
    writes=(
        Write("vote", "vote", "Vote on a proposal; the vote that passes it executes it.", "vote",
              (PROPOSAL, Param("choice", kinds.TEXT, "yes or no.", positional=True)), "Vote"),
        Write("revoke", "revoke", "Withdraw your own open proposal.", "revoke", (PROPOSAL,),
              "Revoked"),
        _propose("admit-member", "Admit an institution with its accounts and node ids (the node "
                 "may then peer).", order=("name", "tier", "accounts", "nodeIds", "weight"),
                 name="The institution's name."),
        _propose("suspend-member", "Suspend a member: its accounts may not transact."),
        _propose("reinstate-member", "Reinstate a suspended member."),
        _propose("expel-member",
                 "Expel a member (supermajority; it cannot vote on it; its nodes go)."),
        _propose("add-validator", "Make a node a validator (or change its power).",
                 _opt("member", kinds.TEXT, "The member whose validator it is (id, name or "
                      "account): expelling it removes it.", default=None),
                 pubKey="ed25519 consensus key, base64 (as `consortium join` prints it)."),
        _propose("remove-validator", "Remove a validator from the validator set."),
        _propose("admit-node", "Admit another node of a member as a peer."),
        _propose("remove-node", "Stop admitting a node as a peer."),
        _propose("grant-role", "Grant a role to a member's account."),
        _propose("revoke-role", "Revoke a role from an account."),
        _propose("elect-officer", "Elect an officer for a term; the office is vacant once "
                 "the term's height passes."),
        _propose("form-taskforce", "Form a task force of consortium members' accounts."),
        _propose("set-taskforce-members", "Replace a task force's lead and members."),
        _propose("dissolve-taskforce", "Dissolve a task force."),
        _propose("change-rule", "Change how a kind of proposal is decided (needs a "
                 "supermajority). Open proposals keep the rule they were proposed under."),
        _propose("freeze", "Freeze an account (its transactions are refused) or a contract "
                 "(calls to it revert)."),
        _propose("unfreeze", "Unfreeze an account or contract."),
        _propose("set-deploy-allowlist", "Set the accounts that may deploy contracts (empty: "
                 "every member account may).",
                 accounts=_opt("accounts", kinds.ACCOUNT, "An account that may deploy (repeatable; "
                               "none: every member may).", "--account", default=[], many=True)),
        _propose("app-call", "Have Governance call a finance service's contract (e.g. create "
                 "an asset class; the services' own commands, like `consortium registry "
                 "propose-class`, build the call)."),
        _propose("contract-call", "Have Governance call a user contract that trusts its "
                 "address, e.g. upgrade an ERC-1967 proxy whose admin it is (the call is "
                 "tried when proposed).", contract="A user contract's address."),
        _propose("software-upgrade", "Schedule a software upgrade (supermajority): at HEIGHT, "
                 "nodes without its handler stop and say which version to install; the "
                 "others migrate and go on.", name="The upgrade's name, as its handler knows it."),
        _propose("cancel-software-upgrade",
                 "Cancel the scheduled software upgrade before its height.",
                 name="The scheduled upgrade's name."),
    ),
)
