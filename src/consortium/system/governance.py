"""The Governance native contract (0x…1000): members, proposals and votes, rules, officers
and task forces. Every state-changing consortium decision is a proposal.

A `propose…` method per kind (`model.PROPOSAL_KINDS`) checks the proposal now (one that could
not execute is refused with the reason), snapshots its kind's rule and expires `period` blocks
later. `vote(id, support)`: one vote per active member with weight, through an account holding
the committee role (an expulsion's target cannot vote on it; its weight is left out). After
each vote the proposal is decided, in integers:

    passes   when voted * 10000 >= total * participation and yes * 10000 >= voted * winRate
    rejected when even all the remaining weight voting yes could no longer pass it

A passing proposal executes in the vote's transaction, in a child call (`executeProposal`), so
that an effect impossible by now is undone and the proposal marked failed while the vote
stands. While one member holds all the voting weight (admin mode) its proposals pass when
proposed. App and contract calls are dry-run when proposed (made and undone) so a call that
would fail is refused with its reason. Statuses are strings; an open proposal reads as
"expired" from its expiry height on.
"""

from __future__ import annotations

import inspect
from typing import Any

from consortium.evm.abi_codec import decode as abi_decode
from consortium.evm.abi_codec import encode as abi_encode
from consortium.evm.host import Storage
from consortium.evm.native import (
    NativeCalls,
    NativeContract,
    StateOf,
    event,
    method,
    register,
    registered_natives,
    revert_reason,
    view,
)
from consortium.evm.records import StringSet, address_word
from consortium.system.model import (
    BASIS_POINTS,
    EXPIRED,
    GOVERNANCE_ADDRESS,
    KIND_BY_NAME,
    MAX_LIST,
    MAX_NAME,
    MAX_PERIOD,
    MAX_POWER,
    MAX_TEXT,
    NODES_ADDRESS,
    PERMISSIONS_ADDRESS,
    PROPOSAL_KINDS,
    ROLES,
    SUPERMAJORITY,
    TIERS,
    ProposalKind,
    Rule,
    is_app_address,
    role_bit,
)
from consortium.system.nodes import Nodes, check_new_node
from consortium.system.permissions import Permissions, as_address, check_freeze, hex_address
from consortium.system.state import (
    GovernanceState,
    Member,
    NodesState,
    Office,
    PermissionsState,
    Proposal,
    TaskForce,
)
from consortium.system.upgrade_plan import (
    NO_PLAN,
    UpgradePlan,
    UpgradeState,
    native_version,
    upgrade_name_problem,
    version_problem,
)

RULE = "(string,uint256,uint256,uint256)"
DRY_RUN_OK = "app call dry run: ok"
MAX_WEIGHT = 10**6
ZERO_ADDRESS = b"\x00" * 20
STATUS_AFTER = {"suspend-member": "suspended", "reinstate-member": "active",
                "expel-member": "expelled"}
SYSTEM_CALLS = {PERMISSIONS_ADDRESS: NativeCalls(Permissions), NODES_ADDRESS: NativeCalls(Nodes)}


def _proposer(kind: ProposalKind) -> Any:
    """The `propose…` method of one proposal kind (its ABI names its parameters)."""

    def propose(self: Governance, *args: Any) -> int:
        return self._propose(kind, args)

    propose.__name__ = kind.method
    propose.__qualname__ = f"Governance.{kind.method}"
    positional = inspect.Parameter.POSITIONAL_OR_KEYWORD
    propose.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [inspect.Parameter(n, positional) for n in ("self", *kind.params)])
    return method(kind.signature, returns="uint256")(propose)


@register
class Governance(NativeContract):
    address = GOVERNANCE_ADDRESS

    MemberAdmitted = event("uint256 indexed member", "string name", "string tier", "uint256 weight",
                           "address[] accounts", "bytes20[] nodeIds")
    MemberStatusChanged = event("uint256 indexed member", "string status")
    MemberNodeAdded = event("uint256 indexed member", "bytes20 nodeId")
    MemberNodeRemoved = event("uint256 indexed member", "bytes20 nodeId")
    ProposalCreated = event("uint256 indexed id", "string kind", "address indexed proposer",
                            "uint256 expiresAt")
    VoteCast = event("uint256 indexed id", "uint256 indexed member", "address voter",
                     "bool support", "uint256 weight")
    ProposalExecuted = event("uint256 indexed id")
    ProposalFailed = event("uint256 indexed id", "string reason")
    ProposalRejected = event("uint256 indexed id")
    ProposalRevoked = event("uint256 indexed id")
    RuleChanged = event("string kind", "uint256 participation", "uint256 winRate", "uint256 period")
    OfficerElected = event("string office", "address indexed holder", "uint256 termEnd")
    TaskForceFormed = event("string name", "string charter")
    TaskForceMembersSet = event("string name", "address lead", "address[] members")
    TaskForceDissolved = event("string name")
    SoftwareUpgradeScheduled = event("string name", "uint256 height", "string version")
    SoftwareUpgradeCancelled = event("string name")

    gov, upgrades = StateOf(GovernanceState), StateOf(UpgradeState)
    perms = StateOf(PermissionsState, PERMISSIONS_ADDRESS)
    node_set = StateOf(NodesState, NODES_ADDRESS)

    @property
    def height(self) -> int:
        return self.host.block.number

    # --- reads ---------------------------------------------------------------------------

    member_count = view("memberCount()", "uint256", (), lambda c: c.gov.member_count())
    member = view("member(uint256)", Member.abi_type(), ("member_id",),
                  lambda c, i: c.gov.member(c._require_member(i)).abi_tuple())
    members = view("members()", Member.abi_type() + "[]", (), lambda c: [
        c.gov.member(i).abi_tuple() for i in range(1, c.gov.member_count() + 1)])
    member_of = view("memberOf(address)", "uint256", ("account",),
                     lambda c, account: c.gov.member_of(as_address(account)))
    member_by_name = view("memberByName(string)", "uint256", ("name",),
                          lambda c, name: c.gov.member_named(name))
    total_weight = view("totalWeight()", "uint256", (),
                        lambda c: sum(w for _, w in c.gov.voting_members()))
    admin_mode = view("adminMode()", "bool", (), lambda c: len(c.gov.voting_members()) == 1)
    proposal_count = view("proposalCount()", "uint256", (), lambda c: c.gov.proposal_count())
    proposal = view("proposal(uint256)", Proposal.abi_type(), ("proposal_id",),
                    lambda c, i: c._answer(c.gov.proposal(c._require_proposal(i))))
    proposals = view("proposals()", Proposal.abi_type() + "[]", (), lambda c: [
        c._answer(c.gov.proposal(i)) for i in range(1, c.gov.proposal_count() + 1)])

    def _answer(self, p: Proposal) -> tuple[Any, ...]:
        expired = p.status == "open" and self.height >= p.expires
        return (p.with_(status=EXPIRED) if expired else p).abi_tuple()

    @method("voteOf(uint256,uint256)", returns=("bool", "bool"), view=True)
    def vote_of(self, proposal_id: int, member_id: int) -> tuple[bool, bool]:
        vote = self.gov.vote_of[proposal_id, member_id]
        return vote != 0, vote == 1

    rule = view("rule(string)", RULE, ("kind",), lambda c, kind: c._rule(c._kind(kind)))
    rules = view("rules()", RULE + "[]", (), lambda c: [c._rule(k) for k in PROPOSAL_KINDS])

    def _rule(self, kind: ProposalKind) -> tuple[Any, ...]:
        r = self.gov.rule(kind)
        return kind.name, r.participation, r.win_rate, r.period

    officers = view("officers()", Office.abi_type() + "[]", (), lambda c: [
        c.gov.office(o, c.height).abi_tuple() for o in c.gov.offices()])
    officer = view("officer(string)", Office.abi_type(), ("office",), lambda c, office: (
        c.gov.office(c._named(office, c.gov.offices(), "office"), c.height).abi_tuple()))
    task_forces = view("taskForces()", TaskForce.abi_type() + "[]", (), lambda c: [
        c.gov.task_force(n).abi_tuple() for n in c.gov.task_forces()])
    task_force = view("taskForce(string)", TaskForce.abi_type(), ("name",), lambda c, name: (
        c.gov.task_force(c._named(name, c.gov.task_forces(), "task force")).abi_tuple()))
    # the scheduled upgrade (name, height, version, proposal); proposal 0: none
    upgrade_plan = view("upgradePlan()", ("string", "uint256", "string", "uint256"), (),
                        lambda c: (c.upgrades.plan() or NO_PLAN).abi_tuple())
    applied_upgrades = view("appliedUpgrades()", "(string,uint256)[]", (),
                            lambda c: c.upgrades.applied())

    @method("nativeVersion(address)", returns="uint256", view=True)
    def native_version(self, contract: str) -> int:
        raw = as_address(contract)
        self.require(self.is_native(raw), f"{contract} is not a native contract")
        return native_version(Storage(self.host, raw))

    # --- proposing and voting ------------------------------------------------------------

    def _propose(self, kind: ProposalKind, args: tuple[Any, ...]) -> int:
        gov = self.gov
        proposer = self.host.caller
        member_id = self._voter(proposer)
        target = self._check(kind, args, proposing=member_id)
        rule = gov.rule(kind)
        payload = abi_encode(list(kind.types), list(args))
        proposal_id = gov.add_proposal(kind, proposer, member_id, self.height, rule, payload,
                                       target)
        self.emit(self.ProposalCreated, proposal_id, kind.name, proposer, self.height + rule.period)
        voting = gov.voting_members()
        if len(voting) == 1 and voting[0][0] == member_id:  # admin mode
            self._cast(proposal_id, member_id, proposer, True, voting[0][1])
        return proposal_id

    # one `propose…` method per kind, declared from the kinds' table
    for _proposal_kind in PROPOSAL_KINDS:
        vars()[_proposal_kind.method] = _proposer(_proposal_kind)
    del _proposal_kind

    @method("vote(uint256,bool)", returns="string")
    def vote(self, proposal_id: int, support: bool) -> str:
        """Vote; answers the proposal's status after the vote (open, executed, failed,
        rejected)."""
        gov = self.gov
        self._require_open(proposal_id)
        voter = self.host.caller
        record = gov.proposal(proposal_id)
        member_id = gov.member_of(voter)
        if member_id and member_id == record.target:
            self.revert(f"member {gov.name(member_id)!r} is the target of expulsion proposal "
                        f"{proposal_id} and cannot vote on it")
        member_id = self._voter(voter)
        if gov.vote_of[proposal_id, member_id]:
            self.revert(f"member {gov.name(member_id)!r} already voted on proposal {proposal_id}")
        self._cast(proposal_id, member_id, voter, support, gov.weight(member_id))
        return gov.proposal_status(proposal_id)

    @method("revoke(uint256)")
    def revoke(self, proposal_id: int) -> None:
        self._require_open(proposal_id)
        record = self.gov.proposal(proposal_id)
        self.require(self.host.caller == record.proposer, f"only its proposer "
                     f"{hex_address(record.proposer)} may revoke proposal {proposal_id}")
        self.gov.close(proposal_id, "revoked", self.height)
        self.emit(self.ProposalRevoked, proposal_id)

    @method("executeProposal(uint256)")
    def execute_proposal(self, proposal_id: int) -> None:
        self.require(self.host.caller == self.address,
                     "proposals execute only in the vote that passes them")
        gov = self.gov
        record = gov.proposal(proposal_id)
        self.require(record.status == "open", f"proposal {proposal_id} is {record.status}")
        args = abi_decode(list(record.spec.types), record.payload)
        self._check(record.spec, args, proposing=0, execute=proposal_id)
        gov.close(proposal_id, "executed", self.height)
        self.emit(self.ProposalExecuted, proposal_id)

    @method("dryRunAppCall(address,bytes)")
    def dry_run_app_call(self, target: str, data: bytes) -> None:
        """Governance's own: make a proposal's call now and undo it (always reverts: with
        DRY_RUN_OK when the call would succeed, else with the call's reason)."""
        self.require(self.host.caller == self.address, "only Governance dry-runs its calls")
        ok, output = self.host.call(as_address(target), bytes(data))
        if ok:
            self.revert(DRY_RUN_OK)
        self._pass_on(output)

    def _cast(self, proposal_id: int, member_id: int, voter: bytes, support: bool,
              weight: int) -> None:
        gov = self.gov
        gov.add_vote(proposal_id, member_id, support, weight)
        self.emit(self.VoteCast, proposal_id, member_id, voter, support, weight)
        self._decide(gov.proposal(proposal_id))

    def _decide(self, p: Proposal) -> None:
        total = sum(w for m, w in self.gov.voting_members() if m != p.target)
        voted = p.yes + p.no
        if (total > 0
            and p.yes > 0
            and voted * BASIS_POINTS >= total * p.participation
            and p.yes * BASIS_POINTS >= voted * p.win_rate):
            self._execute(p.id)
            return
        remaining = max(total - voted, 0)
        if (p.yes + remaining) * BASIS_POINTS < (voted + remaining) * p.win_rate:
            self.gov.close(p.id, "rejected", self.height)
            self.emit(self.ProposalRejected, p.id)

    def _execute(self, proposal_id: int) -> None:
        ok, output = self.host.call(self.address, CALLS.encode("executeProposal", proposal_id))
        if ok:
            return
        reason = revert_reason(output)
        if reason is None:
            self.revert(f"proposal {proposal_id} passed but its execution ran out of gas: "
                        "send the vote with a higher gas limit")
        self.gov.close(proposal_id, "failed", self.height, reason)
        self.emit(self.ProposalFailed, proposal_id, reason)

    # --- who may propose and vote ----------------------------------------------------------

    def _voter(self, account: bytes) -> int:
        gov = self.gov
        member_id = gov.member_of(account)
        self.require(member_id != 0, f"{hex_address(account)} is not a consortium account")
        name = gov.name(member_id)
        status = gov.status(member_id)
        self.require(status == "active", f"member {name!r} is {status}")
        self.require(gov.weight(member_id) > 0, f"member {name!r} has no voting weight (observer)")
        self.require(bool(self.perms.role_bits(account) & role_bit("committee")),
                     f"{hex_address(account)} does not hold the committee role of {name!r}")
        return member_id

    def _require_open(self, proposal_id: int) -> None:
        self._require_proposal(proposal_id)
        record = self.gov.proposal(proposal_id)
        if record.status != "open":
            note = f": {record.note}" if record.note else ""
            self.revert(f"proposal {proposal_id} was already {record.status} at height "
                        f"{record.closed}{note}")
        self.require(self.height < record.expires,
                     f"proposal {proposal_id} expired at height {record.expires}")

    def _require_proposal(self, proposal_id: int) -> int:
        return self.require_id(proposal_id, self.gov.proposal_count(), "proposal")

    def _require_member(self, member_id: int) -> int:
        return self.require_id(member_id, self.gov.member_count(), "member")

    def _named(self, name: str, names: StringSet, what: str) -> str:
        self.require(name in names, f"no {what} named {name!r}")
        return name

    def _require_active_member(self, member_id: int) -> None:
        self._require_member(member_id)
        status = self.gov.status(member_id)
        self.require(status == "active", f"member {self.gov.name(member_id)!r} is {status}")

    def _kind(self, name: str) -> ProposalKind:
        kind = KIND_BY_NAME.get(name)
        if kind is None:
            self.revert(f"unknown proposal kind {name!r} (kinds: "
                        f"{', '.join(k.name for k in PROPOSAL_KINDS)})")
        return kind

    # --- what each kind checks (when proposed, and again when it executes) and does ------

    def _check(self, kind: ProposalKind, args: tuple[Any, ...], *, proposing: int,
               execute: int = 0) -> int:
        """Refuse a proposal whose effect is impossible (answers the expulsion target); with
        `execute` (its id), then make the effect."""
        name = kind.name
        gov = self.gov
        height = self.height
        target = 0
        if name == "admit-member":
            member_name, tier, weight, accounts, node_ids = args
            self._check_name(member_name, "member name")
            self.require(gov.member_named(member_name) == 0,
                         f"a member named {member_name.strip()!r} already exists")
            self.require(tier in TIERS, f"tier must be one of {', '.join(TIERS)}")
            self.require(weight <= MAX_WEIGHT, f"weight must be at most {MAX_WEIGHT}")
            self.require(tier != "observer" or weight == 0,
                         "an observer has no vote: its weight must be 0")
            self.require(1 <= len(accounts) <= MAX_LIST, f"a member needs 1 to {MAX_LIST} accounts")
            self._distinct(accounts, "account")
            for account in accounts:
                raw = as_address(account)
                self.require(raw != ZERO_ADDRESS and not self.is_native(raw),
                             f"{account} cannot be a member account")
                owner = gov.member_of(raw)
                self.require(owner == 0, f"{account} already belongs to member {gov.name(owner)!r}")
            self.require(len(node_ids) <= MAX_LIST, f"at most {MAX_LIST} node ids")
            self._distinct(node_ids, "node id")
            for node_id in node_ids:
                check_new_node(self, self.node_set, node_id)
            if execute:
                member_id = gov.add_member(member_name.strip(), tier, weight, height)
                raws = [as_address(a) for a in accounts]
                for raw in raws:
                    gov.add_account(member_id, raw)
                    for role in ("member", "committee") if weight > 0 else ("member",):
                        self._call_system(PERMISSIONS_ADDRESS, "grantRole", raw, role)
                for node_id in node_ids:
                    self._add_node(member_id, node_id)
                self.emit(self.MemberAdmitted, member_id, member_name.strip(), tier, weight, raws,
                          list(node_ids))
        elif name in STATUS_AFTER:
            (member_id,) = args
            self._require_member(member_id)
            status = gov.status(member_id)
            member_name = gov.name(member_id)
            if name == "suspend-member":
                self.require(status == "active", f"member {member_name!r} is {status}")
            elif name == "reinstate-member":
                self.require(status == "suspended",
                             f"member {member_name!r} is {status}, not suspended")
            else:
                self.require(status != "expelled", f"member {member_name!r} is already expelled")
                self.require(member_id != proposing, "a member cannot propose its own expulsion")
                self._check_quorum_without(member_id, member_name)
                target = int(member_id)
            if execute:
                gov.set_status(member_id, STATUS_AFTER[name])
                if name == "expel-member":
                    for word in list(gov.nodes(member_id)):
                        node_id = word.to_bytes(32, "big")[12:]
                        if self.node_set.is_admitted(node_id):
                            self._call_system(NODES_ADDRESS, "removeNode", node_id)
                    # its validators leave the set in the same execution (power 0 updates)
                    for pub_key, _ in self.node_set.member_validators(member_id):
                        self._call_system(NODES_ADDRESS, "setValidatorPower", pub_key, 0)
                self.emit(self.MemberStatusChanged, member_id, STATUS_AFTER[name])
        elif name in ("add-validator", "add-member-validator"):
            owned = name == "add-member-validator"  # recording whose validator it is
            member_id, pub_key, power = args if owned else (0, *args)
            if owned:
                self._require_active_member(member_id)
                nodes = self.node_set
                owner = nodes.owner[pub_key] if nodes.power(pub_key) else 0
                self.require(owner in (0, member_id),
                             f"0x{pub_key.hex()} is a validator of member {gov.name(owner)!r}")
            self.require(pub_key != b"\x00" * 32, "a validator public key cannot be zero")
            self.require(1 <= power <= MAX_POWER, f"power must be 1..{MAX_POWER}")
            if execute:
                self._call_system(NODES_ADDRESS, "setValidatorPower", pub_key, power)
                if owned:
                    self._call_system(NODES_ADDRESS, "setValidatorOwner", pub_key, member_id)
        elif name == "remove-validator":
            (pub_key,) = args
            nodes = self.node_set
            self.require(nodes.power(pub_key) > 0, f"0x{pub_key.hex()} is not a validator")
            self.require(len(nodes.validators()) > 1, "cannot remove the last validator")
            if execute:
                self._call_system(NODES_ADDRESS, "setValidatorPower", pub_key, 0)
        elif name == "admit-node":
            member_id, node_id = args
            self._require_active_member(member_id)
            check_new_node(self, self.node_set, node_id)
            if execute:
                self._add_node(member_id, node_id)
        elif name == "remove-node":
            (node_id,) = args
            self.require(self.node_set.is_admitted(node_id),
                         f"node {node_id.hex()} is not admitted")
            if execute:
                owner = self.node_set.node_member[node_id]
                self._call_system(NODES_ADDRESS, "removeNode", node_id)
                if owner and gov.nodes(owner).remove(address_word(node_id)):
                    self.emit(self.MemberNodeRemoved, owner, node_id)
        elif name in ("grant-role", "revoke-role"):
            account, role = args
            self.require(role in ROLES, f"unknown role {role!r} (roles: {', '.join(ROLES)})")
            raw = as_address(account)
            self.require(gov.member_of(raw) != 0, f"{account} is not a consortium account")
            holds = bool(self.perms.role_bits(raw) & role_bit(role))
            self.require(holds != (name == "grant-role"), f"{account} "
                         f"{'already holds' if holds else 'does not hold'} the {role} role")
            if execute:
                self._call_system(PERMISSIONS_ADDRESS, "grantRole" if name == "grant-role"
                                  else "revokeRole", raw, role)
        elif name == "elect-officer":
            office, holder, term_blocks = args
            self._check_name(office, "office")
            self._require_active_account(holder, "officer")
            self.require(1 <= term_blocks <= MAX_PERIOD, f"the term must be 1..{MAX_PERIOD} blocks")
            if execute:
                record = Office(office=office, holder=as_address(holder),
                                term_end=height + term_blocks, elected=height, vacant=False,
                                proposal=execute)
                gov.set_office(record)
                self.emit(self.OfficerElected, office, record.holder, record.term_end)
        elif name == "form-taskforce":
            tf_name, charter, lead, members = args
            self._check_name(tf_name, "task force name")
            self.require(tf_name not in gov.task_forces(),
                         f"a task force named {tf_name!r} already exists")
            self.require(len(charter.encode()) <= MAX_TEXT,
                         f"the charter is longer than {MAX_TEXT} bytes")
            self._check_task_force_members(lead, members)
            if execute:
                gov.form_task_force(tf_name, charter, height)
                self.emit(self.TaskForceFormed, tf_name, charter)
                self._set_task_force_members(tf_name, lead, members)
        elif name in ("set-taskforce-members", "dissolve-taskforce"):
            tf_name = args[0]
            self._named(tf_name, gov.task_forces(), "task force")
            if name == "set-taskforce-members":
                self._check_task_force_members(*args[1:])
                if execute:
                    self._set_task_force_members(*args)
            elif execute:
                gov.dissolve_task_force(tf_name)
                self.emit(self.TaskForceDissolved, tf_name)
        elif name == "change-rule":
            kind_name, participation, win_rate, period = args
            changed = self._kind(kind_name)
            problem = Rule(participation, win_rate, period).problem()
            self.require(problem is None, str(problem))
            if changed.supermajority:
                self.require(win_rate >= SUPERMAJORITY.win_rate,
                             f"{changed.name} needs a supermajority: its win rate must be at "
                             f"least {SUPERMAJORITY.win_rate} basis points")
            if execute:
                gov.set_rule(changed, Rule(participation, win_rate, period))
                self.emit(self.RuleChanged, kind_name, participation, win_rate, period)
        elif name in ("freeze", "unfreeze"):
            (target_account,) = args
            raw = as_address(target_account)  # its 0x hex as given: lower-case, decoded
            check_freeze(self, self.perms, raw, name == "freeze")
            if execute:
                self._call_system(PERMISSIONS_ADDRESS, "setFrozen", raw, name == "freeze")
        elif name == "set-deploy-allowlist":
            (accounts,) = args
            self.require(len(accounts) <= MAX_LIST, f"at most {MAX_LIST} accounts")
            self._distinct(accounts, "account")
            for account in accounts:
                self.require(gov.member_of(as_address(account)) != 0,
                             f"{account} is not a consortium account")
            if execute:
                self._call_system(PERMISSIONS_ADDRESS, "setDeployAllowlist",
                                  [as_address(a) for a in accounts])
        elif name in ("app-call", "contract-call"):
            contract, data = args
            raw = as_address(contract)
            if name == "app-call":
                self._check_app_call(contract, data, dry_run=proposing != 0)
            else:
                self.require(raw != ZERO_ADDRESS and not self.is_native(raw),
                             f"{contract} is not a user contract (system and service contracts "
                             "have proposal kinds of their own: app-call)")
                if proposing:
                    self._dry_run(raw, bytes(data), "the call")
            if execute:
                ok, output = self.host.call(raw, bytes(data))
                if not ok:
                    self._pass_on(output)
        elif name == "software-upgrade":
            upgrade, upgrade_height, version = args
            self._check_upgrade_plan(upgrade, upgrade_height, version)
            if execute:
                self.upgrades.set_plan(UpgradePlan(name=upgrade, height=upgrade_height,
                                                   version=version, proposal=execute))
                self.emit(self.SoftwareUpgradeScheduled, upgrade, upgrade_height, version)
        elif name == "cancel-software-upgrade":
            (upgrade,) = args
            plan = self.upgrades.plan()
            self.require(plan is not None and plan.name == upgrade,
                         f"no software upgrade named {upgrade!r} is scheduled")
            if execute:
                self.upgrades.clear_plan()
                self.emit(self.SoftwareUpgradeCancelled, upgrade)
        else:
            self.revert(f"unknown proposal kind {name!r}")
        return target

    def _check_quorum_without(self, member_id: int, member_name: str) -> None:
        """An expelled member's validators leave the set, but only two heights later, and
        its nodes are cut off at once: the validators that stay must hold more than two
        thirds of today's power, or no block could commit meanwhile."""
        nodes = self.node_set
        removed = sum(power for _, power in nodes.member_validators(member_id))
        if not removed:
            return
        total = nodes.total_power()
        self.require((total - removed) * 3 > total * 2,
                     f"expelling {member_name!r} would remove validators holding {removed} of "
                     f"the {total} voting power; the validators that stay must hold more than "
                     "two thirds of it to keep committing blocks (add validators first)")

    def _check_upgrade_plan(self, upgrade: str, height: int, version: str) -> None:
        """A plan names a new upgrade, a height still ahead, and the version to install."""
        problem = upgrade_name_problem(upgrade) or version_problem(version)
        self.require(problem is None, str(problem))
        self.require(height > self.height, f"the upgrade height {height} is not in the future "
                     f"(this block is {self.height})")
        self.require(height <= MAX_PERIOD, f"the upgrade height must be at most {MAX_PERIOD}")
        state = self.upgrades
        done = state.applied_at(upgrade)
        self.require(not done, f"upgrade {upgrade!r} was already applied at height {done}")
        plan = state.plan()
        if plan is not None:
            self.revert(f"upgrade {plan.name!r} is already scheduled at height {plan.height}: "
                        "cancel it first (cancel-software-upgrade)")

    def _check_app_call(self, contract: str, data: bytes, *, dry_run: bool) -> None:
        """An app-call names a method of a finance service's contract; when proposed, the
        call is also made and undone, so a call that would fail now is refused now."""
        raw = as_address(contract)
        cls = registered_natives().get(raw)
        self.require(is_app_address(raw) and cls is not None,
                     f"{contract} is not a finance service's contract (0x…2000 to 0x…2fff)")
        assert cls is not None  # the require above reverts when it is None
        spec = cls.methods().get(bytes(data[:4])) if len(data) >= 4 else None
        self.require(spec is not None, f"the call names no method of {cls.__name__}")
        assert spec is not None  # the require above reverts when it is None
        self.require(not spec.view, f"{cls.__name__}.{spec.signature} is a read, not an action")
        if not dry_run:
            return
        self._dry_run(raw, bytes(data), f"{cls.__name__}.{spec.name}")

    def _dry_run(self, target: bytes, data: bytes, what: str) -> None:
        """Make Governance's call now and undo it: refuse, with its reason, if it fails."""
        ok, output = self.host.call(self.address, CALLS.encode("dryRunAppCall", target, data))
        reason = None if ok else revert_reason(output)
        if reason is None:
            self.fail_without_reason()
        self.require(reason == DRY_RUN_OK, f"{what} would fail: {reason}")

    def _check_name(self, name: str, what: str) -> None:
        self.require(bool(name.strip()), f"the {what} is empty")
        self.require(len(name.encode()) <= MAX_NAME, f"the {what} is longer than {MAX_NAME} bytes")

    def _require_active_account(self, account: str, what: str) -> None:
        gov = self.gov
        member_id = gov.member_of(as_address(account))
        self.require(member_id != 0, f"{what} {account} is not a consortium account")
        status = gov.status(member_id)
        self.require(status == "active", f"{what} {account} belongs to member "
                     f"{gov.name(member_id)!r}, which is {status}")

    def _check_task_force_members(self, lead: str, members: tuple[str, ...]) -> None:
        self.require(1 <= len(members) <= MAX_LIST, f"a task force needs 1 to {MAX_LIST} members")
        self._distinct(members, "task force member")
        self.require(lead in members, f"the lead {lead} must be one of the task force's members")
        for account in members:
            self._require_active_account(account, "task force member")

    def _distinct(self, values: tuple[Any, ...], what: str) -> None:
        seen: list[Any] = []
        for value in values:
            key = value.lower() if isinstance(value, str) else value
            shown = "0x" + value.hex() if isinstance(value, bytes) else str(value)
            self.require(key not in seen, f"{what} {shown} is listed twice")
            seen.append(key)

    def _set_task_force_members(self, tf_name: str, lead: str, members: tuple[str, ...]) -> None:
        raws = [as_address(m) for m in members]
        self.gov.set_task_force_members(tf_name, as_address(lead), raws)
        self.emit(self.TaskForceMembersSet, tf_name, as_address(lead), raws)

    def _add_node(self, member_id: int, node_id: bytes) -> None:
        self._call_system(NODES_ADDRESS, "admitNode", node_id, member_id)
        self.gov.nodes(member_id).add(address_word(node_id))
        self.emit(self.MemberNodeAdded, member_id, node_id)

    def _call_system(self, to: bytes, name: str, *args: Any) -> None:
        """Call Permissions or Nodes as Governance; their refusal is ours."""
        ok, output = self.host.call(to, SYSTEM_CALLS[to].encode(name, *args))
        if not ok:
            self._pass_on(output)

    def _pass_on(self, output: bytes) -> None:
        """Revert with a failed call's reason (without one, if it had none)."""
        reason = revert_reason(output)
        if reason is None:
            self.fail_without_reason()
        self.revert(reason)


CALLS = NativeCalls(Governance)
