"""Where the system contracts keep their state: records and sets over their EVM storage.

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
  20-26 the software upgrade plan and the applied upgrades (`upgrade_plan`)
Permissions (0x…1001)
  0  account -> role bits             1  accounts that ever held a role (set, 1/2)
  3  frozen addresses (set, 3/4)      5  deploy allowlist (set, 5/6)
Nodes (0x…1002)
  0  validator public keys (set, 0/1) 2  public key -> power
  3  admitted node ids (set, 3/4)     5  node id -> member id
  7  public key -> the member owning the validator (0: none recorded; version 2 on)
"""

from __future__ import annotations

from typing import Any

from consortium.evm.field_types import Address, Id, Text, Uint
from consortium.evm.host import Storage
from consortium.evm.records import (
    ADDRESS,
    BOOL,
    BYTES,
    STRING,
    UINT,
    Choice,
    FieldType,
    Mapped,
    Record,
    SetOf,
    StateView,
    StringSet,
    WordSet,
    address_word,
    field,
    key,
    word_address,
)
from consortium.system.model import (
    KIND_BY_NAME,
    MEMBER_STATUSES,
    PROPOSAL_KINDS,
    PROPOSAL_STATUSES,
    TIERS,
    ProposalKind,
    Rule,
    default_rule,
)


class _NodeId(type(ADDRESS)):  # type: ignore[misc]
    """A CometBFT node id: an address's 20 bytes in one word, 40 hex digits in JSON (as in
    ID@HOST:PORT)."""

    abi = "bytes20"
    noun = "node id"

    def from_abi(self, value: Any) -> Any:
        return bytes(value)

    def to_json(self, value: Any) -> Any:
        return bytes(value).hex()


class _NodeIds(SetOf):
    def load(self, storage: Storage, slot: int) -> Any:
        return tuple(word_address(w) for w in self.words(storage, slot))


NODE_ID: FieldType = _NodeId()
KIND = Choice(tuple(k.name for k in PROPOSAL_KINDS))  # stored as the kind's number
assert all(KIND.number(k.name) == k.number for k in PROPOSAL_KINDS)


class Member(Record):
    id: Id
    name: Text
    tier: str = field(Choice(TIERS))
    status: str = field(Choice(MEMBER_STATUSES))
    weight: Uint
    accounts: tuple[bytes, ...] = field(SetOf(ADDRESS))
    nodes: tuple[bytes, ...] = field(_NodeIds(NODE_ID))
    since: Uint  # height admitted (0 = genesis)


class Proposal(Record):
    id: Id
    kind: str = field(KIND)
    proposer: Address
    proposer_member: Uint
    status: str = field(Choice(PROPOSAL_STATUSES))  # stored never "expired": derived
    created: Uint
    expires: Uint
    participation: Uint  # the rule when it was proposed
    win_rate: Uint
    yes: Uint
    no: Uint
    payload: bytes = field(BYTES)  # the ABI encoding of its kind's parameters
    target: Uint  # the member an expulsion targets, else 0
    note: Text  # why it failed, when it did
    closed: Uint  # height it was executed, failed, rejected or revoked

    @property
    def spec(self) -> ProposalKind:
        return KIND_BY_NAME[self.kind]

    @property
    def rule(self) -> Rule:
        return Rule(self.participation, self.win_rate, self.expires - self.created)


class Office(Record):
    office: str = key(STRING)
    holder: Address
    term_end: Uint  # the office is vacant from this height on
    elected: Uint
    vacant: bool = field(BOOL, stored=False)
    proposal: int = field(UINT, in_abi=False, in_json=False)


class TaskForce(Record):
    name: str = key(STRING)
    charter: str = field(STRING, at=0)
    lead: bytes = field(ADDRESS, at=1)
    members: tuple[bytes, ...] = field(SetOf(ADDRESS), at=3)
    formed: int = field(UINT, at=2, json="formedAt")


class GovernanceState(StateView):
    MEMBER_COUNT, MEMBERS, ACCOUNT_MEMBER, NAME_MEMBER = 0, 1, 2, 3
    PROPOSAL_COUNT, PROPOSALS, VOTES, RULES = 4, 5, 6, 7
    OFFICE_SET, OFFICES, TASKFORCE_SET, TASKFORCES = 8, 10, 11, 13
    vote_of = Mapped(UINT, VOTES)  # [proposal, member]: 0 no vote, 1 yes, 2 no

    # --- members -----------------------------------------------------------------------

    def member_count(self) -> int:
        return self.s.get_uint(self.MEMBER_COUNT)

    def _member(self, member_id: int) -> int:
        return Storage.at(self.MEMBERS, member_id)

    def member_of(self, account: bytes) -> int:
        """The id of the member holding `account`, or 0."""
        return self.s.get_uint(Storage.at(self.ACCOUNT_MEMBER, account))

    def member_named(self, name: str) -> int:
        return self.s.get_uint(Storage.at(self.NAME_MEMBER, name.strip().lower()))

    def status(self, member_id: int) -> str:
        return str(Member.get(self.s, self._member(member_id), "status"))

    def weight(self, member_id: int) -> int:
        return int(Member.get(self.s, self._member(member_id), "weight"))

    def name(self, member_id: int) -> str:
        return str(Member.get(self.s, self._member(member_id), "name"))

    def accounts(self, member_id: int) -> WordSet:
        return WordSet(self.s, Member.slot(self._member(member_id), "accounts"))

    def nodes(self, member_id: int) -> WordSet:
        return WordSet(self.s, Member.slot(self._member(member_id), "nodes"))

    def member(self, member_id: int) -> Member:
        return Member.load(self.s, self._member(member_id), id=member_id)

    def add_member(self, name: str, tier: str, weight: int, since: int) -> int:
        member_id = self.member_count() + 1
        Member.put_fields(self.s, self._member(member_id), name=name, tier=tier,
                          status="active", weight=weight, since=since)
        self.s.set_uint(Storage.at(self.NAME_MEMBER, name.strip().lower()), member_id)
        self.s.set_uint(self.MEMBER_COUNT, member_id)
        return member_id

    def add_account(self, member_id: int, account: bytes) -> None:
        self.accounts(member_id).add(address_word(account))
        self.s.set_uint(Storage.at(self.ACCOUNT_MEMBER, account), member_id)

    def set_status(self, member_id: int, status: str) -> None:
        Member.put(self.s, self._member(member_id), "status", status)

    def voting_members(self) -> list[tuple[int, int]]:
        """(member id, weight) of every active member with a vote (weight > 0), by id."""
        return [(member_id, weight) for member_id in range(1, self.member_count() + 1)
                if self.status(member_id) == "active" and (weight := self.weight(member_id))]

    # --- proposals ---------------------------------------------------------------------

    def proposal_count(self) -> int:
        return self.s.get_uint(self.PROPOSAL_COUNT)

    def _proposal(self, proposal_id: int) -> int:
        return Storage.at(self.PROPOSALS, proposal_id)

    def proposal(self, proposal_id: int) -> Proposal:
        return Proposal.load(self.s, self._proposal(proposal_id), id=proposal_id)

    def proposal_status(self, proposal_id: int) -> str:
        return str(Proposal.get(self.s, self._proposal(proposal_id), "status"))

    def add_proposal(self, kind: ProposalKind, proposer: bytes, proposer_member: int,
                     created: int, rule: Rule, payload: bytes, target: int) -> int:
        proposal_id = self.proposal_count() + 1
        base = self._proposal(proposal_id)
        Proposal.put_fields(
            self.s, base, kind=kind.name, proposer=proposer, proposer_member=proposer_member,
            status="open", created=created, expires=created + rule.period,
            participation=rule.participation, win_rate=rule.win_rate, payload=payload)
        if target:
            Proposal.put(self.s, base, "target", target)
        self.s.set_uint(self.PROPOSAL_COUNT, proposal_id)
        return proposal_id

    def add_vote(self, proposal_id: int, member_id: int, support: bool, weight: int) -> None:
        self.vote_of[proposal_id, member_id] = 1 if support else 2
        base, tally = self._proposal(proposal_id), "yes" if support else "no"
        Proposal.put(self.s, base, tally, Proposal.get(self.s, base, tally) + weight)

    def close(self, proposal_id: int, status: str, height: int, note: str = "") -> None:
        base = self._proposal(proposal_id)
        Proposal.put_fields(self.s, base, status=status, closed=height)
        if note:
            Proposal.put(self.s, base, "note", note)

    # --- rules ---------------------------------------------------------------------------

    def rule(self, kind: ProposalKind) -> Rule:
        b = Storage.at(self.RULES, kind.number)
        rule = Rule(self.s.get_uint(b), self.s.get_uint(b + 1), self.s.get_uint(b + 2))
        if kind.added_later and rule.period == 0:  # never written: genesis skips these
            return default_rule(kind)
        return rule

    def set_rule(self, kind: ProposalKind, rule: Rule) -> None:
        b = Storage.at(self.RULES, kind.number)
        for i, value in enumerate((rule.participation, rule.win_rate, rule.period)):
            self.s.set_uint(b + i, value)

    # --- officers and task forces --------------------------------------------------------

    def offices(self) -> StringSet:
        return StringSet(self.s, self.OFFICE_SET)

    def office(self, office: str, height: int | None = None) -> Office:
        """The office's record; vacant from its term's end on (given the `height`)."""
        found = Office.load(self.s, Storage.at(self.OFFICES, office), office=office,
                            vacant=False)
        return found if height is None else found.with_(vacant=height >= found.term_end)

    def set_office(self, record: Office) -> None:
        self.offices().add(record.office)
        record.store(self.s, Storage.at(self.OFFICES, record.office))

    def task_forces(self) -> StringSet:
        return StringSet(self.s, self.TASKFORCE_SET)

    def task_force(self, name: str) -> TaskForce:
        return TaskForce.load(self.s, Storage.at(self.TASKFORCES, name), name=name)

    def form_task_force(self, name: str, charter: str, formed: int) -> None:
        self.task_forces().add(name)
        TaskForce.put_fields(self.s, Storage.at(self.TASKFORCES, name), charter=charter,
                             formed=formed)

    def set_task_force_members(self, name: str, lead: bytes, members: list[bytes]) -> None:
        TaskForce.put_fields(self.s, Storage.at(self.TASKFORCES, name), lead=lead,
                             members=members)

    def dissolve_task_force(self, name: str) -> None:
        base = Storage.at(self.TASKFORCES, name)
        WordSet(self.s, TaskForce.slot(base, "members")).clear()
        TaskForce.put_fields(self.s, base, charter="", lead=bytes(20), formed=0)
        self.task_forces().remove(name)


class PermissionsState(StateView):
    ROLES, ROLE_HOLDERS, FROZEN, ALLOWLIST = 0, 1, 3, 5

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


class NodesState(StateView):
    VALIDATORS, POWER, NODES, NODE_MEMBER, OWNER = 0, 2, 3, 5, 7
    node_member = Mapped(UINT, NODE_MEMBER)  # [node id]: the member it was admitted for
    owner = Mapped(UINT, OWNER)  # [validator key]: the member whose validator it is (0: none)

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

    def validator_powers(self) -> list[tuple[bytes, int]]:
        """(public key, power) of every validator, in set order."""
        return [(k, self.power(k)) for k in (w.to_bytes(32, "big") for w in self.validators())]

    def member_validators(self, member_id: int) -> list[tuple[bytes, int]]:
        """(public key, power) of the validators recorded as `member_id`'s, in set order."""
        keys = (word.to_bytes(32, "big") for word in self.validators())
        return [(key, self.power(key)) for key in keys if self.owner[key] == member_id]

    def total_power(self) -> int:
        return sum(power for _, power in self.validator_powers())

    def nodes(self) -> WordSet:
        return WordSet(self.s, self.NODES)

    def admit(self, node_id: bytes, member_id: int) -> None:
        self.nodes().add(address_word(node_id))
        self.node_member[node_id] = member_id

    def remove(self, node_id: bytes) -> None:
        self.nodes().remove(address_word(node_id))
        self.node_member[node_id] = 0

    def is_admitted(self, node_id: bytes) -> bool:
        return address_word(node_id) in self.nodes()
