"""The `consortium_*` JSON-RPC namespace: governance reads, straight from the system
contracts (eth_call on the ledger), in the shapes of `consortium.system.reader`.

    consortium_members()                      every member
    consortium_member(ref)                    one member by id, name or account, or null
    consortium_proposals(["open"])            every proposal (only the open ones with "open")
    consortium_proposal(id)                   one proposal with its votes, or null
    consortium_rules()                        each proposal kind's rule
    consortium_officers()                     offices, holders and terms (vacant when over)
    consortium_taskForces()                   task forces
    consortium_taskForce(name)                one task force, or null
    consortium_roles([account])               accounts by role, or one account's roles
    consortium_frozen()                       frozen accounts and contracts
    consortium_deployAllowlist()              accounts that may deploy (empty: every member)
    consortium_validators()                   validator keys, powers, CometBFT addresses
    consortium_nodes()                        admitted peer node ids and their members

`JsonRpc` inherits these handlers; `CONSORTIUM_METHODS` names them for its method table. They
all read the ledger, so they run in the ledger worker thread with the other reads.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consortium.api.encoding import Params
from consortium.api.rpc_error import InvalidParams
from consortium.api.service_reads import ledger_call
from consortium.ledger.types import LedgerReader
from consortium.system.reader import SystemReader

CONSORTIUM_METHODS: dict[str, str] = {}  # JSON-RPC method name -> handler attribute


def consortium_rpc(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        CONSORTIUM_METHODS[name] = fn.__name__
        return fn

    return register


def system_reader(ledger: LedgerReader) -> SystemReader:
    """Reads of the system contracts through the ledger's eth_call at the latest block."""

    return SystemReader(ledger_call(ledger))


def _member_ref(value: Any, where: str) -> str | int:
    """A member id (number), a name, or one of its 0x accounts."""
    if isinstance(value, bool) or not isinstance(value, str | int) or value == "":
        raise InvalidParams(f"{where}: a member id, name or 0x account")
    return value


def _proposal_id(value: Any, where: str) -> int:
    if isinstance(value, bool):
        raise InvalidParams(f"{where}: a proposal id")
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value, 16) if value.lower().startswith("0x") else int(value)
        except ValueError:
            pass
    raise InvalidParams(f"{where}: a proposal id")


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidParams(f"{where}: expected a non-empty string")
    return value


def _account(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 42:
        raise InvalidParams(f"{where}: expected a 0x account address")
    try:
        int(value, 16)
    except ValueError:
        raise InvalidParams(f"{where}: expected a 0x account address") from None
    return value.lower()


def _filter(value: Any, where: str) -> bool:
    if value in ("open", {"open": True}):
        return True
    if value in ("all", {"open": False}):
        return False
    raise InvalidParams(f'{where}: "open" or "all"')


class ConsortiumMethods:
    """The consortium_* handlers (mixed into `JsonRpc`, which sets `ledger`)."""

    ledger: LedgerReader

    @property
    def system(self) -> SystemReader:
        return system_reader(self.ledger)

    @consortium_rpc("consortium_members")
    def consortium_members(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return self.system.members()

    @consortium_rpc("consortium_member")
    def consortium_member(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return self.system.member(p.required(0, _member_ref))

    @consortium_rpc("consortium_proposals")
    def consortium_proposals(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return self.system.proposals(open_only=p.optional(0, _filter, False))

    @consortium_rpc("consortium_proposal")
    def consortium_proposal(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        reader = self.system
        proposal_id = p.required(0, _proposal_id)
        proposal = reader.proposal(proposal_id)
        if proposal is not None:
            proposal["votes"] = reader.votes(proposal_id)
        return proposal

    @consortium_rpc("consortium_rules")
    def consortium_rules(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return self.system.rules()

    @consortium_rpc("consortium_officers")
    def consortium_officers(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return self.system.officers()

    @consortium_rpc("consortium_taskForces")
    def consortium_task_forces(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return self.system.task_forces()

    @consortium_rpc("consortium_taskForce")
    def consortium_task_force(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return self.system.task_force(p.required(0, _text))

    @consortium_rpc("consortium_roles")
    def consortium_roles(self, p: Params) -> dict[str, Any]:
        p.at_most(1)
        return self.system.roles(p.optional(0, _account, None))

    @consortium_rpc("consortium_frozen")
    def consortium_frozen(self, p: Params) -> list[str]:
        p.at_most(0)
        return self.system.frozen()

    @consortium_rpc("consortium_deployAllowlist")
    def consortium_deploy_allowlist(self, p: Params) -> list[str]:
        p.at_most(0)
        return self.system.deploy_allowlist()

    @consortium_rpc("consortium_validators")
    def consortium_validators(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return self.system.validators()

    @consortium_rpc("consortium_nodes")
    def consortium_nodes(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return self.system.nodes()
