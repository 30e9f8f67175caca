"""Governance's surface (`consortium.apps.surface`), declared once: its reads, served as the
`consortium_*` JSON-RPC methods, the /api/v1 REST routes and their OpenAPI paths and (where
a plain table does) CLI commands; its plain writes (vote, revoke and the proposal kinds
with simple arguments) served as `consortium vote|revoke|propose …` commands. The contracts
stay in `consortium.system`; importing this package registers the services' contracts too,
so an app-call proposal names its method."""

from __future__ import annotations

from dataclasses import dataclass
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


def _opt(name: str, kind: kinds.Kind, doc: str, flag: str, **default: Any) -> Param:
    """A propose option (--flag), required unless given a default."""
    return Param(name, kind, doc, flag=flag, **default)


MEMBER = _opt("member", kinds.TEXT, "Member id, name or account.", "--member")
PUB_KEY = _opt("pub_key", kinds.TEXT, "ed25519 consensus key, base64.", "--pub-key")
NODE_ID = _opt("node_id", kinds.TEXT, "The node id (40 hex digits).", "--node-id")
NAME = _opt("name", kinds.TEXT, "The task force's name.", "--name")
ROLE = (_opt("account", kinds.ACCOUNT, "The account.", "--account"),
        _opt("role", kinds.TEXT, "committee, member, operator, regulator or auditor.", "--role"))
LEAD = _opt("lead", kinds.ACCOUNT, "Its lead (one of its members): account or name.", "--lead")
MEMBERS = Param("members", kinds.ACCOUNT, "A member account or name in it (repeatable).",
                flag="--member", many=True)
TARGET = _opt("target", kinds.ACCOUNT, "An account or contract address.", "--target")
DATA = _opt("data", kinds.TEXT, "The ABI-encoded call, 0x hex.", "--data")
PROPOSAL = Param("proposal", kinds.ID, "The proposal id.")


def _propose(kind: str, summary: str, *args: Param) -> Write:
    return Write(kind, KIND_BY_NAME[kind].method, summary,
                 "propose_" + kind.replace("-", "_").replace("taskforce", "task_force"), args,
                 "Proposal")


GOVERNANCE = _Governance(
    name="governance",
    title="Consortium governance",
    reader=SystemReader,
    reads=(
        Read("members", "Every member: name, tier, status, weight, accounts, nodes",
             rpc="consortium_members", rest="/members"),
        Read("member", "One member", rpc="consortium_member", rest="/members/{ref}",
             params=(Param("ref", MEMBER_REF, "member id, name or 0x account"),),
             nullable=True, noun="member"),
        Read("proposals", "Every proposal (open=true: only the open ones)",
             rpc="consortium_proposals", rest="/proposals",
             params=(Param("open", OPEN, "only the open ones", default=False),)),
        Read("proposal_with_votes", "One proposal with its votes", rpc="consortium_proposal",
             rest="/proposals/{id}", params=(Param("id", PROPOSAL_ID, "proposal id"),),
             nullable=True, noun="proposal"),
        Read("rules", "Each proposal kind's participation, win rate and period",
             rpc="consortium_rules", rest="/rules"),
        Read("officers", "Offices, holders and terms (vacant once a term ends)",
             rpc="consortium_officers", rest="/officers"),
        Read("task_forces", "Task forces: charter, lead, members", rpc="consortium_taskForces",
             rest="/taskforces"),
        Read("task_force", "One task force", rpc="consortium_taskForce",
             rest="/taskforces/{name}",
             params=(Param("name", NAME_TEXT, "The task force's name."),),
             nullable=True, noun="task force"),
        # one JSON-RPC method, two routes: /roles/{account} and /roles (?account=)
        Read("roles", "One account's roles", rpc="consortium_roles", rest="/roles/{account}",
             params=(Param("account", kinds.ACCOUNT, "0x account"),)),
        Read("roles", "The accounts holding each role", rpc="consortium_roles", rest="/roles",
             params=(Param("account", kinds.ACCOUNT, "one account's roles", default=None),)),
        Read("validators", "Validators: ed25519 key, power, CometBFT address",
             rpc="consortium_validators", rest="/validators"),
        Read("nodes", "Admitted peer node ids and their members", rpc="consortium_nodes",
             rest="/nodes"),
        Read("frozen", "Frozen accounts and contracts", rpc="consortium_frozen",
             rest="/frozen"),
        Read("deploy_allowlist", "Accounts that may deploy (empty: every member)",
             rpc="consortium_deployAllowlist", rest="/deploy-allowlist"),
    ),
    writes=(
        Write("vote", "vote", "Vote on a proposal; the vote that passes it executes it.", "vote",
              (PROPOSAL, Param("choice", kinds.TEXT, "yes or no.", positional=True)), "Vote"),
        Write("revoke", "revoke", "Withdraw your own open proposal.", "revoke", (PROPOSAL,),
              "Revoked"),
        _propose("suspend-member", "Suspend a member: its accounts may not transact.", MEMBER),
        _propose("reinstate-member", "Reinstate a suspended member.", MEMBER),
        _propose("expel-member",
                 "Expel a member (supermajority; it cannot vote on it; its nodes go).", MEMBER),
        _propose("add-validator", "Make a node a validator (or change its power).",
                 _opt("pub_key", kinds.TEXT, "ed25519 consensus key, base64 (as `consortium join` "
                      "prints it).", "--pub-key"),
                 _opt("power", NUMBER, "Voting power.", "--power", default=10),
                 _opt("member", kinds.TEXT, "The member whose validator it is (id, name or "
                      "account): expelling it removes it.", "--member", default=None)),
        _propose("remove-validator", "Remove a validator from the validator set.", PUB_KEY),
        _propose("admit-node", "Admit another node of a member as a peer.", MEMBER, NODE_ID),
        _propose("remove-node", "Stop admitting a node as a peer.", NODE_ID),
        _propose("grant-role", "Grant a role to a member's account.", *ROLE),
        _propose("revoke-role", "Revoke a role from an account.", *ROLE),
        _propose("elect-officer", "Elect an officer for a term; the office is vacant once "
                 "the term's height passes.",
                 _opt("office", kinds.TEXT, 'The office, e.g. "chair".', "--office"),
                 _opt("holder", kinds.ACCOUNT, "The member account that holds it.", "--holder"),
                 _opt("term_blocks", NUMBER, "Term length in blocks, from the election.",
                      "--term-blocks")),
        _propose("form-taskforce", "Form a task force of consortium members' accounts.",
                 NAME, _opt("charter", kinds.TEXT, "What it is for.", "--charter", default=""),
                 LEAD, MEMBERS),
        _propose("set-taskforce-members", "Replace a task force's lead and members.", NAME,
                 LEAD, MEMBERS),
        _propose("dissolve-taskforce", "Dissolve a task force.", NAME),
        _propose("freeze", "Freeze an account (its transactions are refused) or a contract "
                 "(calls to it revert).", TARGET),
        _propose("unfreeze", "Unfreeze an account or contract.", TARGET),
        _propose("set-deploy-allowlist", "Set the accounts that may deploy contracts (empty: "
                 "every member account may).",
                 Param("accounts", kinds.ACCOUNT, "An account that may deploy (repeatable; none: "
                       "every member may).", flag="--account", default=[], many=True)),
        _propose("app-call", "Have Governance call a finance service's contract (e.g. create "
                 "an asset class; the services' own commands, like `consortium registry "
                 "propose-class`, build the call).",
                 _opt("contract", kinds.ACCOUNT, "A finance service's contract.", "--contract"),
                 DATA),
        _propose("contract-call", "Have Governance call a user contract that trusts its "
                 "address, e.g. upgrade an ERC-1967 proxy whose admin it is (the call is "
                 "tried when proposed).",
                 _opt("contract", kinds.ACCOUNT, "A user contract's address.", "--contract"), DATA),
        _propose("software-upgrade", "Schedule a software upgrade (supermajority): at HEIGHT, "
                 "nodes without its handler stop and say which version to install; the "
                 "others migrate and go on.",
                 _opt("name", kinds.TEXT, "The upgrade's name, as its handler knows it.", "--name"),
                 _opt("height", NUMBER, "The first block run by the new version.", "--height"),
                 _opt("version", kinds.TEXT, "The consortium version that carries the upgrade "
                      "(0.2.0).", "--version")),
        _propose("cancel-software-upgrade",
                 "Cancel the scheduled software upgrade before its height.",
                 _opt("name", kinds.TEXT, "The scheduled upgrade's name.", "--name")),
    ),
)
