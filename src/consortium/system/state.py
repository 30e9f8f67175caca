"""Where the system contracts keep their state: typed views over their EVM storage slots.

`GovernanceState`, `PermissionsState` and `NodesState` each wrap a `Storage` (see
`consortium.evm.host`). Inside a contract call that storage charges gas and writes through the
EVM; in the ledger (permission checks, the peer filter) and at genesis it reads or writes a
world state directly (`SlotHost`). One layout, read the same way everywhere, and covered by the
state root because it is ordinary contract storage.

Layout (slot numbers per contract; `at(s, k…)` is Solidity's mapping slot; a struct's fields
sit at consecutive slots from its base; a set keeps its count at s, item i at at(s, i) and
item k's position + 1 at at(s + 1, k), and removes by moving the last item into the hole):

Governance (0x…1000)
  0  member count (ids 1..n)          1  member id -> struct: name, tier, status, weight,
  2  account -> member id                 accounts (set, +4/+5), nodes (set, +6/+7), since
  3  lower-case name -> member id     4  proposal count (ids 1..n)
  5  proposal id -> struct: kind, proposer, proposer member, status, created, expires,
     participation, win rate, yes weight, no weight, payload (bytes), target member, note,
     closed at
  6  (proposal, member) -> vote: 1 yes, 2 no
  7  kind -> rule: participation, win rate, period
  8  offices (string set, 8/9)        10 office -> holder, term end, elected at, proposal
  11 task forces (string set, 11/12)  13 name -> charter, lead, formed at, members (set, +3/+4)
Permissions (0x…1001)
  0  account -> role bits             1  accounts that ever held a role (set, 1/2)
  3  frozen addresses (set, 3/4)      5  deploy allowlist (set, 5/6)
Nodes (0x…1002)
  0  validator public keys (set, 0/1) 2  public key -> power
  3  admitted node ids (set, 3/4)     5  node id -> member id
  7  public key -> the member owning the validator (0: none recorded; version 2 on)
"""

from __future__ import annotations

from dataclasses import dataclass

from consortium.evm.host import Storage
from consortium.evm.records import StringSet, WordSet, address_word, word_address
from consortium.system.model import (
    KIND_BY_NUMBER,
    MEMBER_STATUSES,
    PROPOSAL_STATUSES,
    TIERS,
    ProposalKind,
    Rule,
    default_rule,
)

# --- Governance -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberRecord:
    id: int
    name: str
    tier: str
    status: str
    weight: int
    accounts: tuple[bytes, ...]
    nodes: tuple[bytes, ...]  # 20-byte node ids
    since: int  # height admitted (0 = genesis)


@dataclass(frozen=True)
class ProposalRecord:
    id: int
    kind: ProposalKind
    proposer: bytes
    proposer_member: int
    status: str  # a PROPOSAL_STATUSES entry (never "expired": that one is derived)
    created: int
    expires: int
    rule: Rule  # the rule when it was proposed (period = expires - created)
    yes: int
    no: int
    payload: bytes
    target: int  # the member an expulsion targets, else 0
    note: str  # why it failed, when it did
    closed: int  # height it was executed, failed, rejected or revoked


@dataclass(frozen=True)
class OfficeRecord:
    office: str
    holder: bytes
    term_end: int  # the office is vacant from this height on
    elected: int
    proposal: int


@dataclass(frozen=True)
class TaskForceRecord:
    name: str
    charter: str
    lead: bytes
    members: tuple[bytes, ...]
    formed: int


class GovernanceState:
    MEMBER_COUNT, MEMBERS, ACCOUNT_MEMBER, NAME_MEMBER = 0, 1, 2, 3
    PROPOSAL_COUNT, PROPOSALS, VOTES, RULES = 4, 5, 6, 7
    OFFICE_SET, OFFICES, TASKFORCE_SET, TASKFORCES = 8, 10, 11, 13

    def __init__(self, storage: Storage) -> None:
        self.s = storage

    # --- members -----------------------------------------------------------------------

    def member_count(self) -> int:
        return self.s.get_uint(self.MEMBER_COUNT)

    def _member_base(self, member_id: int) -> int:
        return Storage.at(self.MEMBERS, member_id)

    def member_of(self, account: bytes) -> int:
        """The id of the member holding `account`, or 0."""
        return self.s.get_uint(Storage.at(self.ACCOUNT_MEMBER, account))

    def member_named(self, name: str) -> int:
        return self.s.get_uint(Storage.at(self.NAME_MEMBER, name.strip().lower()))

    def status(self, member_id: int) -> str:
        raw = self.s.get_uint(self._member_base(member_id) + 2)
        return MEMBER_STATUSES[raw - 1] if raw else ""

    def weight(self, member_id: int) -> int:
        return self.s.get_uint(self._member_base(member_id) + 3)

    def name(self, member_id: int) -> str:
        return self.s.get_string(self._member_base(member_id))

    def accounts(self, member_id: int) -> WordSet:
        return WordSet(self.s, self._member_base(member_id) + 4)

    def nodes(self, member_id: int) -> WordSet:
        return WordSet(self.s, self._member_base(member_id) + 6)

    def member(self, member_id: int) -> MemberRecord:
        base = self._member_base(member_id)
        tier = self.s.get_uint(base + 1)
        return MemberRecord(
            id=member_id,
            name=self.s.get_string(base),
            tier=TIERS[tier - 1] if tier else "",
            status=self.status(member_id),
            weight=self.s.get_uint(base + 3),
            accounts=tuple(word_address(w) for w in self.accounts(member_id)),
            nodes=tuple(word_address(w) for w in self.nodes(member_id)),
            since=self.s.get_uint(base + 8),
        )

    def add_member(self, name: str, tier: str, weight: int, since: int) -> int:
        member_id = self.member_count() + 1
        base = self._member_base(member_id)
        self.s.set_string(base, name)
        self.s.set_uint(base + 1, TIERS.index(tier) + 1)
        self.s.set_uint(base + 2, MEMBER_STATUSES.index("active") + 1)
        self.s.set_uint(base + 3, weight)
        self.s.set_uint(base + 8, since)
        self.s.set_uint(Storage.at(self.NAME_MEMBER, name.strip().lower()), member_id)
        self.s.set_uint(self.MEMBER_COUNT, member_id)
        return member_id

    def add_account(self, member_id: int, account: bytes) -> None:
        self.accounts(member_id).add(address_word(account))
        self.s.set_uint(Storage.at(self.ACCOUNT_MEMBER, account), member_id)

    def set_status(self, member_id: int, status: str) -> None:
        self.s.set_uint(self._member_base(member_id) + 2, MEMBER_STATUSES.index(status) + 1)

    def voting_members(self) -> list[tuple[int, int]]:
        """(member id, weight) of every active member with a vote (weight > 0), by id."""
        out = []
        for member_id in range(1, self.member_count() + 1):
            base = self._member_base(member_id)
            if self.s.get_uint(base + 2) != 1:  # not active
                continue
            weight = self.s.get_uint(base + 3)
            if weight:
                out.append((member_id, weight))
        return out

    # --- proposals ---------------------------------------------------------------------

    def proposal_count(self) -> int:
        return self.s.get_uint(self.PROPOSAL_COUNT)

    def _proposal_base(self, proposal_id: int) -> int:
        return Storage.at(self.PROPOSALS, proposal_id)

    def proposal(self, proposal_id: int) -> ProposalRecord:
        b = self._proposal_base(proposal_id)
        g = self.s.get_uint
        created, expires = g(b + 4), g(b + 5)
        status = g(b + 3)
        return ProposalRecord(
            id=proposal_id,
            kind=KIND_BY_NUMBER[g(b)],
            proposer=self.s.get_address(b + 1),
            proposer_member=g(b + 2),
            status=PROPOSAL_STATUSES[status - 1],
            created=created,
            expires=expires,
            rule=Rule(g(b + 6), g(b + 7), expires - created),
            yes=g(b + 8),
            no=g(b + 9),
            payload=self.s.get_bytes(b + 10),
            target=g(b + 11),
            note=self.s.get_string(b + 12),
            closed=g(b + 13),
        )

    def proposal_status(self, proposal_id: int) -> str:
        raw = self.s.get_uint(self._proposal_base(proposal_id) + 3)
        return PROPOSAL_STATUSES[raw - 1] if raw else ""

    def add_proposal(
        self,
        kind: ProposalKind,
        proposer: bytes,
        proposer_member: int,
        created: int,
        rule: Rule,
        payload: bytes,
        target: int,
    ) -> int:
        proposal_id = self.proposal_count() + 1
        b = self._proposal_base(proposal_id)
        s = self.s
        s.set_uint(b, kind.number)
        s.set_address(b + 1, proposer)
        s.set_uint(b + 2, proposer_member)
        s.set_uint(b + 3, PROPOSAL_STATUSES.index("open") + 1)
        s.set_uint(b + 4, created)
        s.set_uint(b + 5, created + rule.period)
        s.set_uint(b + 6, rule.participation)
        s.set_uint(b + 7, rule.win_rate)
        s.set_bytes(b + 10, payload)
        if target:
            s.set_uint(b + 11, target)
        s.set_uint(self.PROPOSAL_COUNT, proposal_id)
        return proposal_id

    def add_vote(self, proposal_id: int, member_id: int, support: bool, weight: int) -> None:
        self.s.set_uint(Storage.at(self.VOTES, proposal_id, member_id), 1 if support else 2)
        b = self._proposal_base(proposal_id) + (8 if support else 9)
        self.s.set_uint(b, self.s.get_uint(b) + weight)

    def vote_of(self, proposal_id: int, member_id: int) -> int:
        """0 no vote, 1 yes, 2 no."""
        return self.s.get_uint(Storage.at(self.VOTES, proposal_id, member_id))

    def close(self, proposal_id: int, status: str, height: int, note: str = "") -> None:
        b = self._proposal_base(proposal_id)
        self.s.set_uint(b + 3, PROPOSAL_STATUSES.index(status) + 1)
        self.s.set_uint(b + 13, height)
        if note:
            self.s.set_string(b + 12, note)

    # --- rules ---------------------------------------------------------------------------

    def rule(self, kind: ProposalKind) -> Rule:
        b = Storage.at(self.RULES, kind.number)
        rule = Rule(self.s.get_uint(b), self.s.get_uint(b + 1), self.s.get_uint(b + 2))
        if kind.added_later and rule.period == 0:  # never written: genesis skips these
            return default_rule(kind)
        return rule

    def set_rule(self, kind: ProposalKind, rule: Rule) -> None:
        b = Storage.at(self.RULES, kind.number)
        self.s.set_uint(b, rule.participation)
        self.s.set_uint(b + 1, rule.win_rate)
        self.s.set_uint(b + 2, rule.period)

    # --- officers ------------------------------------------------------------------------

    def offices(self) -> StringSet:
        return StringSet(self.s, self.OFFICE_SET)

    def office(self, office: str) -> OfficeRecord:
        b = Storage.at(self.OFFICES, office)
        return OfficeRecord(
            office,
            self.s.get_address(b),
            self.s.get_uint(b + 1),
            self.s.get_uint(b + 2),
            self.s.get_uint(b + 3),
        )

    def set_office(self, record: OfficeRecord) -> None:
        self.offices().add(record.office)
        b = Storage.at(self.OFFICES, record.office)
        self.s.set_address(b, record.holder)
        self.s.set_uint(b + 1, record.term_end)
        self.s.set_uint(b + 2, record.elected)
        self.s.set_uint(b + 3, record.proposal)

    # --- task forces ---------------------------------------------------------------------

    def task_forces(self) -> StringSet:
        return StringSet(self.s, self.TASKFORCE_SET)

    def _task_force_members(self, name: str) -> WordSet:
        return WordSet(self.s, Storage.at(self.TASKFORCES, name) + 3)

    def task_force(self, name: str) -> TaskForceRecord:
        b = Storage.at(self.TASKFORCES, name)
        return TaskForceRecord(
            name=name,
            charter=self.s.get_string(b),
            lead=self.s.get_address(b + 1),
            members=tuple(word_address(w) for w in self._task_force_members(name)),
            formed=self.s.get_uint(b + 2),
        )

    def form_task_force(self, name: str, charter: str, formed: int) -> None:
        self.task_forces().add(name)
        b = Storage.at(self.TASKFORCES, name)
        self.s.set_string(b, charter)
        self.s.set_uint(b + 2, formed)

    def set_task_force_members(self, name: str, lead: bytes, members: list[bytes]) -> None:
        b = Storage.at(self.TASKFORCES, name)
        self.s.set_address(b + 1, lead)
        group = self._task_force_members(name)
        group.clear()
        for account in members:
            group.add(address_word(account))

    def dissolve_task_force(self, name: str) -> None:
        b = Storage.at(self.TASKFORCES, name)
        self._task_force_members(name).clear()
        self.s.set_string(b, "")
        self.s.set_uint(b + 1, 0)
        self.s.set_uint(b + 2, 0)
        self.task_forces().remove(name)


# --- Permissions ------------------------------------------------------------------------------


class PermissionsState:
    ROLES, ROLE_HOLDERS, FROZEN, ALLOWLIST = 0, 1, 3, 5

    def __init__(self, storage: Storage) -> None:
        self.s = storage

    def role_bits(self, account: bytes) -> int:
        return self.s.get_uint(Storage.at(self.ROLES, account))

    def set_role_bits(self, account: bytes, bits: int) -> None:
        self.s.set_uint(Storage.at(self.ROLES, account), bits)
        if bits:
            self.role_holders().add(address_word(account))

    def role_holders(self) -> WordSet:
        return WordSet(self.s, self.ROLE_HOLDERS)

    def frozen(self) -> WordSet:
        return WordSet(self.s, self.FROZEN)

    def is_frozen(self, address: bytes) -> bool:
        return address_word(address) in self.frozen()

    def allowlist(self) -> WordSet:
        return WordSet(self.s, self.ALLOWLIST)


# --- Nodes ------------------------------------------------------------------------------------


class NodesState:
    VALIDATORS, POWER, NODES, NODE_MEMBER, OWNER = 0, 2, 3, 5, 7

    def __init__(self, storage: Storage) -> None:
        self.s = storage

    def validators(self) -> WordSet:
        return WordSet(self.s, self.VALIDATORS)

    def power(self, pub_key: bytes) -> int:
        return self.s.get_uint(Storage.at(self.POWER, pub_key))

    def set_power(self, pub_key: bytes, power: int) -> None:
        self.s.set_uint(Storage.at(self.POWER, pub_key), power)
        word = int.from_bytes(pub_key, "big")
        if power:
            self.validators().add(word)
        else:
            self.validators().remove(word)

    def owner(self, pub_key: bytes) -> int:
        """The member whose validator this is (0: none recorded)."""
        return self.s.get_uint(Storage.at(self.OWNER, pub_key))

    def set_owner(self, pub_key: bytes, member_id: int) -> None:
        self.s.set_uint(Storage.at(self.OWNER, pub_key), member_id)

    def member_validators(self, member_id: int) -> list[tuple[bytes, int]]:
        """(public key, power) of the validators recorded as `member_id`'s, in set order."""
        out = []
        for word in self.validators():
            key = word.to_bytes(32, "big")
            if self.owner(key) == member_id:
                out.append((key, self.power(key)))
        return out

    def total_power(self) -> int:
        return sum(self.power(w.to_bytes(32, "big")) for w in self.validators())

    def nodes(self) -> WordSet:
        return WordSet(self.s, self.NODES)

    def node_member(self, node_id: bytes) -> int:
        return self.s.get_uint(Storage.at(self.NODE_MEMBER, node_id))

    def admit(self, node_id: bytes, member_id: int) -> None:
        self.nodes().add(address_word(node_id))
        self.s.set_uint(Storage.at(self.NODE_MEMBER, node_id), member_id)

    def remove(self, node_id: bytes) -> None:
        self.nodes().remove(address_word(node_id))
        self.s.set_uint(Storage.at(self.NODE_MEMBER, node_id), 0)

    def is_admitted(self, node_id: bytes) -> bool:
        return address_word(node_id) in self.nodes()
