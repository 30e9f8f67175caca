"""The Privacy native contract (0x…1004): privacy groups of consortium members (issue 22,
docs/privacy.md).

The contract keeps who may read what, never anything private: each member's privacy node
key (its node account signs the group's markers, its public key is what group keys are
wrapped to), each group's members, epoch and the epoch keys wrapped for each member's node,
membership changes approved by every staying member (a new epoch and key each time; a member
added later may be given every earlier key, re-wrapped, `historyKeys`), a count of the
markers (`submit`: the group's private transactions sealed under its epoch key, kept only
in the transaction's calldata) and the private state roots the members' nodes attest.

The contract exists on a chain whose genesis names it (`native_versions: {"Privacy": 1}`,
which `consortium init` writes): genesis then gives it its account and writes its version
slot; on an older chain there is no account at its address and every call reverts, so older
genesis files keep their state root.

Layout (Privacy's storage; `at(s, k…)` is Solidity's mapping slot):
  0  member id -> node key: node account (+0), public key (bytes, +1)
  1  node account -> member id            2  group ids (list)
  3  group id -> `Group`                  4  (group, member) -> joined
  5  (group, change, member) -> the epoch key a change (0: the creation) wrapped for it
  6  (group, epoch) -> `Epoch`: the change that began it, its first height
  7  (group, member) -> `History`: the change that added it with history, last epoch covered
  8  (group, change, member) -> the earlier epoch keys that change wrapped for it
  9  (group, change) -> `Change`            10 (group, height) -> `Root`
  11 (group, height, member) -> attested
  12 (group, change) -> the commitment to the epoch key that change (0: the creation) began
  NATIVE_VERSION_SLOT: 1 (genesis writes it: the contract is enabled)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from eth_hash.auto import keccak

from consortium.evm.field_types import Address, Bool, Bytes, Bytes32, Id, IdList, IdSet, Text, Uint
from consortium.evm.host import SlotHost, Storage
from consortium.evm.native import NativeContract, StateOf, event, method, native_address, register
from consortium.evm.records import (
    BOOL,
    BYTES,
    BYTES32,
    UINT,
    Mapped,
    Record,
    StateView,
    WordList,
    WordSet,
)
from consortium.system.model import GOVERNANCE_ADDRESS
from consortium.system.permissions import as_address, hex_address
from consortium.system.privacy_payload import NODE_PROOF_BYTES, node_proof_signer
from consortium.system.state import GovernanceState
from consortium.system.upgrade_plan import NATIVE_VERSION_SLOT

PRIVACY_ADDRESS = native_address(0x1004)

GROUP_STATUSES = ("none", "pending", "active")  # stored as the index
PUBLIC_KEY_BYTES = 64  # secp256k1, uncompressed, without the 04 prefix
MAX_GROUP_NAME = 64  # bytes
MIN_MEMBERS, MAX_MEMBERS = 2, 64
MAX_WRAPPED_KEY = 512  # one ECIES-wrapped 32-byte key (129 bytes with eciespy)
MAX_HISTORY_KEY = 64 * 1024  # every earlier epoch key wrapped at once (~2,000 epochs)
MAX_PAYLOAD = 120 * 1024  # one marker's sealed batch
ZERO_GROUP = bytes(32)
NODE_PROOF_GAS = 3_000  # recovering the node key's signature: the ecrecover precompile's price

# secp256k1: y² = x³ + 7 over p
_P = 2**256 - 2**32 - 977


def on_secp256k1(public_key: bytes) -> bool:
    """Whether 64 bytes x ‖ y are a point of secp256k1 (integers only: deterministic)."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        return False
    x, y = int.from_bytes(public_key[:32], "big"), int.from_bytes(public_key[32:], "big")
    return x < _P and y < _P and (y * y - x * x * x - 7) % _P == 0


def node_account_of(public_key: bytes) -> bytes:
    """The account a node's 64-byte public key signs as (Ethereum's derivation)."""
    return keccak(bytes(public_key))[12:]


class NodeKey(Record):
    member: Id
    account: Address
    public_key: Bytes


class Group(Record):
    name: Text
    status: Uint  # index in GROUP_STATUSES
    epoch: Uint
    members: IdSet  # two slots
    created_at: Uint
    active_at: Uint
    joined: Uint  # founding members joined (the creator included)
    changes: Uint  # membership changes proposed so far (numbered from 1)
    open_change: Uint  # 0: none
    batches: Uint  # markers submitted


class Epoch(Record):
    change: Uint
    start: Uint


class History(Record):
    change: Uint  # 0: none
    upto_epoch: Uint


class Change(Record):
    proposer: Uint
    add: IdList
    remove: IdList
    approvals: IdSet


class Root(Record):
    first: Bytes32
    attestations: Uint
    mismatch: Bool


class PrivacyState(StateView):
    """The layout of the module docstring, one `Mapped` a mapping (keys as listed there)."""

    nodes = Mapped(NodeKey, 0)
    node_member = Mapped(UINT, 1)
    GROUP_LIST = 2
    groups = Mapped(Group, 3)
    joined = Mapped(BOOL, 4)
    keys = Mapped(BYTES, 5)
    epochs = Mapped(Epoch, 6)
    history = Mapped(History, 7)
    history_keys = Mapped(BYTES, 8)
    changes = Mapped(Change, 9)
    roots = Mapped(Root, 10)
    attestations = Mapped(BOOL, 11)
    commitments = Mapped(BYTES32, 12)

    def enabled(self) -> bool:
        return self.s.get_uint(NATIVE_VERSION_SLOT) != 0

    def node(self, member_id: int) -> NodeKey:
        return NodeKey.load(self.s, self.nodes.at(member_id), member=member_id)

    def node_account(self, member_id: int) -> bytes:
        return bytes(NodeKey.get(self.s, self.nodes.at(member_id), "account"))

    def member_of_node(self, account: bytes) -> int:
        return int(self.node_member[account])

    def set_node(self, member_id: int, account: bytes, public_key: bytes) -> None:
        old = self.node_account(member_id)
        if any(old):
            self.node_member[old] = 0
        self.nodes[member_id] = NodeKey(member=member_id, account=account,
                                        public_key=public_key)
        self.node_member[account] = member_id

    def group_ids(self) -> WordList:
        return WordList(self.s, self.GROUP_LIST)

    def get(self, group_id: bytes, name: str) -> Any:
        """One field of a group (one sload)."""
        return Group.get(self.s, self.groups.at(group_id), name)

    def put(self, group_id: bytes, **values: Any) -> None:
        Group.put_fields(self.s, self.groups.at(group_id), **values)

    def status(self, group_id: bytes) -> int:
        return int(self.get(group_id, "status"))

    def members(self, group_id: bytes) -> WordSet:
        return self.index(Group.slot(self.groups.at(group_id), "members"))

    def approvals(self, group_id: bytes, change: int) -> WordSet:
        return self.index(Change.slot(self.changes.at(group_id, change), "approvals"))

    def add_change(self, group_id: bytes, change: int, proposer: int, add: list[int],
                   remove: list[int]) -> None:
        Change.put_fields(self.s, self.changes.at(group_id, change), proposer=proposer,
                          add=add, remove=remove)

    def attested(self, group_id: bytes, height: int, member_id: int) -> bool:
        return bool(self.attestations[group_id, height, member_id])


GROUP_ID = "bytes32 indexed groupId"  # every group event's first parameter


def _ids(values: Iterable[int]) -> list[int]:
    return [int(v) for v in values]


@register
class Privacy(NativeContract):
    address = PRIVACY_ADDRESS

    NodeRegistered = event("uint256 indexed member", "address nodeAccount", "bytes publicKey")
    GroupCreated = event(GROUP_ID, "string name", "uint256[] members")
    GroupJoined = event(GROUP_ID, "uint256 member")
    GroupActivated = event(GROUP_ID, "uint64 height")
    ChangeProposed = event(GROUP_ID, "uint32 change", "uint256[] add", "uint256[] remove")
    ChangeApproved = event(GROUP_ID, "uint32 change", "uint256 member")
    ChangeCancelled = event(GROUP_ID, "uint32 change")
    MembersChanged = event(GROUP_ID, "uint32 epoch", "uint256[] members", "uint64 height")
    PrivateBatch = event(GROUP_ID, "uint32 epoch", "uint64 seq")
    RootAttested = event(GROUP_ID, "uint64 height", "uint256 member", "bytes32 root")
    RootMismatch = event(GROUP_ID, "uint64 height", "uint256 member", "bytes32 root",
                         "bytes32 first")

    state = StateOf(PrivacyState)
    gov = StateOf(GovernanceState, GOVERNANCE_ADDRESS)

    def dispatch(self, calldata: bytes) -> bytes:
        if not self.state.enabled():
            self.revert("the Privacy contract is not enabled on this chain (its genesis does "
                        "not name it in native_versions)")
        return super().dispatch(calldata)

    # --- who is who ------------------------------------------------------------------------

    @property
    def height(self) -> int:
        return self.host.block.number

    def _member_name(self, member_id: int) -> str:
        return repr(self.gov.name(member_id))

    def _active_member(self, account: bytes, role: str) -> int:
        """The active member holding `account` (its `role` in the message), or revert."""
        member_id = self.gov.member_of(account)
        self.require(member_id != 0, f"{role} {hex_address(account)} is not a consortium "
                     "member's account")
        return self._require_active(member_id, f"{role} {hex_address(account)}")

    def _sender_member(self) -> int:
        return self._active_member(self.host.caller, "sender")

    def _sender_node_member(self) -> int:
        """The member whose registered node account sent this call, or revert."""
        caller = self.host.caller
        member_id = self.state.member_of_node(caller)
        self.require(member_id != 0, f"sender {hex_address(caller)} is not a registered "
                     "privacy node account (registerNode)")
        return self._require_active(member_id, f"the privacy node {hex_address(caller)}")

    def _require_active(self, member_id: int, who: str) -> int:
        """`member_id` if its member is active (`who` is its account in the message)."""
        status = self.gov.status(member_id)
        self.require(status == "active", f"{who} belongs to {self._member_name(member_id)}, "
                     f"which is {status}")
        return member_id

    def _group_label(self, group_id: bytes) -> str:
        name = self.state.get(group_id, "name")
        return f"group {name!r}" if name else f"group 0x{bytes(group_id).hex()}"

    def _require_group(self, group_id: bytes, status: str | None = "active") -> Group:
        group = self.state.groups[bytes(group_id)]
        self.require(group.status != 0, f"no privacy group 0x{bytes(group_id).hex()}")
        if status is not None:
            self.require(GROUP_STATUSES[group.status] == status,
                         f"{self._group_label(group_id)} is {GROUP_STATUSES[group.status]}, "
                         f"not {status}")
        return group

    def _require_in(self, group: Group, member_id: int, doing: str) -> None:
        self.require(member_id in group.members, f"{self._member_name(member_id)} is not a "
                     f"member of group {group.name!r}: it may not {doing}")

    def _members_of(self, accounts: list[str], what: str) -> list[int]:
        """The member ids of `accounts` (one account each), active, none twice."""
        ids: list[int] = []
        for account in accounts:
            member_id = self._active_member(as_address(account), what)
            self.require(member_id not in ids,
                         f"{self._member_name(member_id)} is listed twice in {what}s")
            ids.append(member_id)
        return ids

    def _require_node(self, member_id: int) -> None:
        self.require(any(self.state.node_account(member_id)),
                     f"{self._member_name(member_id)} has registered no privacy node key "
                     "(registerNode): no group key can be wrapped for it")

    def _require_wrapped(self, keys: list[bytes], limit: int, what: str,
                         empty_ok: bool = False) -> None:
        for wrapped in keys:
            self.require((empty_ok and not wrapped) or 0 < len(wrapped) <= limit,
                         f"a wrapped {what} is 1 to {limit} bytes, not {len(wrapped)}")

    def _require_commitment(self, commitment: bytes) -> None:
        self.require(any(bytes(commitment)), "the key commitment is zero (give "
                     "keccak('consortium-privacy-key' ‖ group ‖ epoch ‖ key))")

    # --- node keys -------------------------------------------------------------------------

    @method("registerNode(bytes,bytes)")
    def register_node(self, public_key: bytes, signature: bytes) -> None:
        """`signature`: the node key's over privacy_payload.node_proof_digest(chain id, the
        sender): without it any member could register another member's node key as its
        own, taking that node account's mapping."""
        member_id = self._sender_member()
        key_ = bytes(public_key)
        self.require(len(key_) == PUBLIC_KEY_BYTES,
                     f"a privacy node key is {PUBLIC_KEY_BYTES} bytes (secp256k1, "
                     f"uncompressed, without the 04 prefix), not {len(key_)}")
        self.require(on_secp256k1(key_), "the privacy node key is not a point of secp256k1")
        self.require(len(signature) == NODE_PROOF_BYTES, "the node key's signature is "
                     f"{NODE_PROOF_BYTES} bytes (r ‖ s ‖ v), not {len(signature)}")
        self.host.charge(NODE_PROOF_GAS)
        signer = node_proof_signer(bytes(signature), self.host.block.chain_id,
                                   bytes(self.host.caller))
        self.require(signer == key_, "the signature does not prove possession of this node "
                     f"key (the node signs for sender {hex_address(self.host.caller)} with "
                     "priv_proveNodeKey)")
        account = node_account_of(key_)
        holder = self.state.member_of_node(account)
        self.require(holder in (0, member_id), f"the node account {hex_address(account)} is "
                     f"already {self._member_name(holder)}'s privacy node")
        owner = self.gov.member_of(account)
        self.require(owner in (0, member_id), f"the node account {hex_address(account)} is "
                     f"an account of {self._member_name(owner)}")
        self.state.set_node(member_id, account, key_)
        self.emit(self.NodeRegistered, member_id, account, key_)

    @method("nodeOf(address)", returns=("address", "bytes"), view=True)
    def node_of(self, account: str) -> tuple[bytes, bytes]:
        raw = as_address(account)
        member_id = self.gov.member_of(raw) or self.state.member_of_node(raw)
        if member_id == 0:
            return bytes(20), b""
        node = self.state.node(member_id)
        return node.account, node.public_key

    @method("memberOfNode(address)", returns="uint256", view=True)
    def member_of_node(self, node_account: str) -> int:
        return self.state.member_of_node(as_address(node_account))

    # --- groups ----------------------------------------------------------------------------

    @method("createGroup(bytes32,string,address[],bytes[],bytes32)")
    def create_group(self, group_id: bytes, name: str, members: list[str],
                     wrapped_keys: list[bytes], key_commitment: bytes) -> None:
        """`key_commitment`: privacy_payload.key_commitment(group, 0, key): each node uses
        the key it opens only if it matches, so a founder cannot give members different
        keys."""
        creator = self._sender_member()
        gid = bytes(group_id)
        self.require(gid != ZERO_GROUP, "a privacy group id cannot be zero")
        self.require(self.state.status(gid) == 0,
                     f"privacy group 0x{gid.hex()} already exists ({self._group_label(gid)})")
        self.require(0 < len(name.encode()) <= MAX_GROUP_NAME,
                     f"a privacy group name is 1 to {MAX_GROUP_NAME} bytes")
        self.require(MIN_MEMBERS <= len(members) <= MAX_MEMBERS,
                     f"a privacy group has {MIN_MEMBERS} to {MAX_MEMBERS} members, "
                     f"not {len(members)}")
        self.require(len(wrapped_keys) == len(members),
                     f"{len(members)} members but {len(wrapped_keys)} wrapped keys")
        ids = self._members_of(members, "member")
        self.require(creator in ids, f"the creator {self._member_name(creator)} must be one "
                     "of the group's members")
        for member_id in ids:
            self._require_node(member_id)
        self._require_wrapped([bytes(k) for k in wrapped_keys], MAX_WRAPPED_KEY, "group key")
        self._require_commitment(key_commitment)
        st = self.state
        st.commitments[gid, 0] = bytes(key_commitment)
        st.put(gid, name=name, status=1, epoch=0, members=ids, created_at=self.height,
               joined=1)
        st.joined[gid, creator] = True
        for member_id, wrapped in zip(ids, wrapped_keys, strict=True):
            st.keys[gid, 0, member_id] = bytes(wrapped)
        st.epochs[gid, 0] = Epoch(change=0, start=self.height)
        st.group_ids().append(int.from_bytes(gid, "big"))
        self.emit(self.GroupCreated, gid, name, ids)

    @method("joinGroup(bytes32)")
    def join_group(self, group_id: bytes) -> None:
        member_id = self._sender_member()
        gid = bytes(group_id)
        group = self._require_group(gid, "pending")
        self._require_in(group, member_id, "join it")
        st = self.state
        self.require(not st.joined[gid, member_id],
                     f"{self._member_name(member_id)} has already joined group {group.name!r}")
        st.joined[gid, member_id] = True
        joined = group.joined + 1
        st.put(gid, joined=joined)
        self.emit(self.GroupJoined, gid, member_id)
        if joined == len(group.members):
            st.put(gid, status=2, active_at=self.height)
            self.emit(self.GroupActivated, gid, self.height)

    # --- membership changes ----------------------------------------------------------------

    @method("proposeChange(bytes32,address[],address[],address[],bytes[],bytes[],bytes32)",
            returns="uint32")
    def propose_change(self, group_id: bytes, add: list[str], remove: list[str],
                       key_holders: list[str], wrapped_keys: list[bytes],
                       history_keys: list[bytes], key_commitment: bytes) -> int:
        proposer = self._sender_member()
        gid = bytes(group_id)
        group = self._require_group(gid)
        self._require_in(group, proposer, "propose a change of its members")
        self.require(group.open_change == 0, f"group {group.name!r} already has an open "
                     f"change ({group.open_change}): approve or cancel it first")
        added = self._members_of(add, "added member")
        for member_id in added:
            self.require(member_id not in group.members,
                         f"{self._member_name(member_id)} is already in group {group.name!r}")
            self._require_node(member_id)
        removed: list[int] = []
        for account in remove:
            member_id = self.gov.member_of(as_address(account))
            self.require(member_id in group.members, f"{hex_address(as_address(account))} is "
                         f"not an account of a member of group {group.name!r}")
            self.require(member_id not in removed,
                         f"{self._member_name(member_id)} is listed twice in removed members")
            removed.append(member_id)
        self.require(bool(added or removed), "the change adds and removes no member")
        after = [m for m in group.members if m not in removed] + added
        self.require(MIN_MEMBERS <= len(after) <= MAX_MEMBERS,
                     f"a privacy group has {MIN_MEMBERS} to {MAX_MEMBERS} members: the "
                     f"change leaves {len(after)}")
        holders = self._key_holders(key_holders, after)
        self.require(len(wrapped_keys) == len(holders),
                     f"{len(holders)} key holders but {len(wrapped_keys)} wrapped keys")
        self.require(len(history_keys) in (0, len(added)), f"{len(added)} added members but "
                     f"{len(history_keys)} history keys (give one per added member, or none)")
        self._require_wrapped([bytes(k) for k in wrapped_keys], MAX_WRAPPED_KEY, "group key")
        self._require_wrapped([bytes(k) for k in history_keys], MAX_HISTORY_KEY,
                              "history key", empty_ok=True)
        self._require_commitment(key_commitment)
        st = self.state
        number = group.changes + 1
        st.add_change(gid, number, proposer, added, removed)
        st.commitments[gid, number] = bytes(key_commitment)
        for member_id, wrapped in zip(holders, wrapped_keys, strict=True):
            st.keys[gid, number, member_id] = bytes(wrapped)
        for member_id, wrapped in zip(added, history_keys, strict=False):
            if wrapped:
                st.history_keys[gid, number, member_id] = bytes(wrapped)
        st.put(gid, changes=number, open_change=number)
        self.emit(self.ChangeProposed, gid, number, added, removed)
        if proposer not in removed:
            self._approve(gid, number, proposer)
        return number

    def _key_holders(self, accounts: list[str], after: list[int]) -> list[int]:
        holders = self._members_of(accounts, "key holder")
        self.require(sorted(holders) == sorted(after),
                     "the key holders must be exactly the group's members after the change "
                     f"({len(after)}), one account each")
        return holders

    def _open_change(self, group_id: bytes) -> tuple[int, bytes, Group, Change]:
        """The sender's member id, the group's id, the group and its open change, or revert."""
        member_id = self._sender_member()
        gid = bytes(group_id)
        group = self._require_group(gid)
        self.require(group.open_change != 0, f"group {group.name!r} has no open change")
        return member_id, gid, group, self.state.changes[gid, group.open_change]

    @method("approveChange(bytes32)")
    def approve_change(self, group_id: bytes) -> None:
        member_id, gid, group, change = self._open_change(group_id)
        self.require(member_id in group.members and member_id not in change.remove,
                     f"{self._member_name(member_id)} does not stay in group {group.name!r}: "
                     "only staying members approve its change")
        self.require(member_id not in change.approvals, f"{self._member_name(member_id)} "
                     f"has already approved change {group.open_change} of group "
                     f"{group.name!r}")
        self._approve(gid, group.open_change, member_id)

    def _approve(self, gid: bytes, number: int, member_id: int) -> None:
        st = self.state
        approvals = st.approvals(gid, number)
        approvals.add(member_id)
        self.emit(self.ChangeApproved, gid, number, member_id)
        change = st.changes[gid, number]
        staying = [m for m in st.members(gid) if m not in change.remove]
        if all(m in approvals for m in staying):
            self._apply(gid, number, change)

    def _apply(self, gid: bytes, number: int, change: Change) -> None:
        st = self.state
        members = st.members(gid)
        for member_id in change.remove:
            members.remove(member_id)
        for member_id in change.add:
            members.add(member_id)
        epoch = int(st.get(gid, "epoch")) + 1
        st.put(gid, epoch=epoch, open_change=0)
        st.epochs[gid, epoch] = Epoch(change=number, start=self.height)
        for member_id in change.add:
            if st.history_keys[gid, number, member_id]:
                st.history[gid, member_id] = History(change=number, upto_epoch=epoch - 1)
        self.emit(self.MembersChanged, gid, epoch, _ids(members), self.height)

    @method("cancelChange(bytes32)")
    def cancel_change(self, group_id: bytes) -> None:
        member_id, gid, group, change = self._open_change(group_id)
        proposer = change.proposer
        self.require(member_id == proposer, f"only {self._member_name(proposer)}, who "
                     f"proposed change {group.open_change}, may cancel it")
        self.state.put(gid, open_change=0)
        self.emit(self.ChangeCancelled, gid, group.open_change)

    # --- markers and roots (from the members' node accounts) -------------------------------

    def _node_in_active_group(self, gid: bytes, doing: str) -> int:
        """The member whose node sent this call, a member of active group `gid`. Reads the
        few slots it needs, not the whole group (its members: one lookup), so a marker's gas
        does not grow with the group."""
        member_id = self._sender_node_member()
        st = self.state
        status = st.status(gid)
        self.require(status != 0, f"no privacy group 0x{gid.hex()}")
        self.require(status == 2, f"{self._group_label(gid)} is {GROUP_STATUSES[status]}, "
                     "not active")
        self.require(member_id in st.members(gid), f"{self._member_name(member_id)} is not "
                     f"a member of {self._group_label(gid)}: it may not {doing}")
        return member_id

    @method("submit(bytes32,uint32,bytes)")
    def submit(self, group_id: bytes, epoch: int, payload: bytes) -> None:
        gid = bytes(group_id)
        self._node_in_active_group(gid, "submit private transactions")
        st = self.state
        current = int(st.get(gid, "epoch"))
        self.require(epoch == current, f"{self._group_label(gid)} is at epoch {current}, "
                     f"the batch is sealed for epoch {epoch}")
        self.require(0 < len(payload) <= MAX_PAYLOAD,
                     f"a batch is 1 to {MAX_PAYLOAD} bytes, not {len(payload)}")
        seq = int(st.get(gid, "batches")) + 1
        st.put(gid, batches=seq)
        self.emit(self.PrivateBatch, gid, epoch, seq)

    @method("attestRoot(bytes32,uint64,bytes32)")
    def attest_root(self, group_id: bytes, height: int, root: bytes) -> None:
        gid = bytes(group_id)
        member_id = self._node_in_active_group(gid, "attest its private roots")
        st = self.state
        created = int(st.get(gid, "created_at"))
        self.require(created <= height < self.height, f"height {height} is not between "
                     f"{self._group_label(gid)}'s creation ({created}) and this block "
                     f"({self.height})")
        self.require(not st.attested(gid, height, member_id),
                     f"{self._member_name(member_id)} has already attested height {height} "
                     f"of {self._group_label(gid)}")
        st.attestations[gid, height, member_id] = True
        found = st.roots[gid, height]
        root = bytes(root)
        if found.attestations == 0:
            found = Root(first=root, attestations=1, mismatch=False)
        else:
            differs = root != found.first
            found = found.with_(attestations=found.attestations + 1,
                                mismatch=found.mismatch or differs)
            if differs:
                self.emit(self.RootMismatch, gid, height, member_id, root, found.first)
        st.roots[gid, height] = found
        self.emit(self.RootAttested, gid, height, member_id, root)

    # --- views -----------------------------------------------------------------------------

    @method("group(bytes32)", returns=("string", "uint8", "uint32", "uint256[]", "uint64",
                                       "uint64"), view=True)
    def group(self, group_id: bytes) -> tuple[Any, ...]:
        g = self.state.groups[bytes(group_id)]
        return g.name, g.status, g.epoch, list(g.members), g.created_at, g.active_at

    @method("groupCount()", returns="uint256", view=True)
    def group_count(self) -> int:
        return len(self.state.group_ids())

    @method("groupAt(uint256)", returns="bytes32", view=True)
    def group_at(self, index: int) -> bytes:
        ids = self.state.group_ids()
        self.require(index < len(ids), f"no privacy group at index {index} "
                     f"({len(ids)} groups)")
        return self.state.s.get_uint(Storage.at(PrivacyState.GROUP_LIST, index)).to_bytes(
            32, "big")

    @method("epochKey(bytes32,uint32,uint256)", returns="bytes", view=True)
    def epoch_key(self, group_id: bytes, epoch: int, member: int) -> bytes:
        return _epoch_key(self.state, bytes(group_id), epoch, member) or b""

    @method("epochCommitment(bytes32,uint32)", returns="bytes32", view=True)
    def epoch_commitment(self, group_id: bytes, epoch: int) -> bytes:
        return _epoch_commitment(self.state, bytes(group_id), epoch) or bytes(32)

    @method("epochStart(bytes32,uint32)", returns="uint64", view=True)
    def epoch_start(self, group_id: bytes, epoch: int) -> int:
        return _epoch_start(self.state, bytes(group_id), epoch)

    @method("historyKey(bytes32,uint256)", returns=("uint32", "bytes"), view=True)
    def history_key(self, group_id: bytes, member: int) -> tuple[int, bytes]:
        return _history_key(self.state, bytes(group_id), member) or (0, b"")

    @method("pendingChange(bytes32)", returns=("uint32", "uint256", "uint256[]", "uint256[]",
                                               "uint256[]"), view=True)
    def pending_change(self, group_id: bytes) -> tuple[Any, ...]:
        gid = bytes(group_id)
        number = int(self.state.get(gid, "open_change"))
        if number == 0:
            return 0, 0, [], [], []
        change = self.state.changes[gid, number]
        return (number, change.proposer, list(change.add), list(change.remove),
                list(change.approvals))

    @method("rootAt(bytes32,uint64)", returns=("bytes32", "uint32", "bool"), view=True)
    def root_at(self, group_id: bytes, height: int) -> tuple[bytes, int, bool]:
        found = self.state.roots[bytes(group_id), height]
        return found.first, found.attestations, found.mismatch


def _epoch_key(st: PrivacyState, gid: bytes, epoch: int, member_id: int) -> bytes | None:
    """The epoch's key wrapped for `member_id`'s node, or None (no such epoch, or none for
    it)."""
    if st.status(gid) == 0 or epoch > int(st.get(gid, "epoch")):
        return None
    return st.keys[gid, st.epochs[gid, epoch].change, member_id] or None


def _epoch_commitment(st: PrivacyState, gid: bytes, epoch: int) -> bytes | None:
    """The commitment to the epoch's key, or None (no such epoch)."""
    if st.status(gid) == 0 or epoch > int(st.get(gid, "epoch")):
        return None
    return bytes(st.commitments[gid, st.epochs[gid, epoch].change])


def _epoch_start(st: PrivacyState, gid: bytes, epoch: int) -> int:
    if st.status(gid) == 0 or epoch > int(st.get(gid, "epoch")):
        return 0
    return int(st.epochs[gid, epoch].start)


def _history_key(st: PrivacyState, gid: bytes, member_id: int) -> tuple[int, bytes] | None:
    found = st.history[gid, member_id]
    if found.change == 0:
        return None
    return int(found.upto_epoch), st.history_keys[gid, found.change, member_id]


# --- the node's view (no EVM) -----------------------------------------------------------------

GetStorage = Callable[[bytes, int], int]


@dataclass(frozen=True)
class GroupInfo:
    group_id: bytes
    name: str
    status: int  # 0 none, 1 pending, 2 active (GROUP_STATUSES)
    epoch: int
    members: tuple[int, ...]
    created_at: int
    active_at: int

    @property
    def status_name(self) -> str:
        return GROUP_STATUSES[self.status]


class PrivacyView:
    """What a node reads of the Privacy contract and its members outside the EVM (the
    private processor, the API), over a world state's `get_storage` at some height."""

    def __init__(self, get_storage: GetStorage) -> None:
        def storage(address: bytes) -> Storage:
            return Storage(SlotHost(address, get_storage))  # type: ignore[arg-type]

        self.state = PrivacyState(storage(PRIVACY_ADDRESS))
        self.gov = GovernanceState(storage(GOVERNANCE_ADDRESS))

    def enabled(self) -> bool:
        """Whether this chain's genesis named the Privacy contract."""
        return self.state.enabled()

    def node_of_member(self, member_id: int) -> tuple[bytes, bytes] | None:
        """(node account, 64-byte public key) the member registered, or None."""
        node = self.state.node(member_id)
        return (bytes(node.account), bytes(node.public_key)) if any(node.account) else None

    def member_of_node(self, node_account: bytes) -> int:
        return self.state.member_of_node(bytes(node_account))

    def group(self, group_id: bytes) -> GroupInfo | None:
        g = self.state.groups[bytes(group_id)]
        if g.status == 0:
            return None
        return GroupInfo(bytes(group_id), g.name, g.status, g.epoch, tuple(g.members),
                         g.created_at, g.active_at)

    def groups(self) -> list[bytes]:
        """Every group's id, in creation order."""
        return [w.to_bytes(32, "big") for w in self.state.group_ids()]

    def epoch_key(self, group_id: bytes, epoch: int, member_id: int) -> bytes | None:
        return _epoch_key(self.state, bytes(group_id), epoch, member_id)

    def epoch_start(self, group_id: bytes, epoch: int) -> int:
        return _epoch_start(self.state, bytes(group_id), epoch)

    def epoch_commitment(self, group_id: bytes, epoch: int) -> bytes | None:
        return _epoch_commitment(self.state, bytes(group_id), epoch)

    def history_key(self, group_id: bytes, member_id: int) -> tuple[int, bytes] | None:
        """(last epoch covered, the earlier epoch keys wrapped for the member's node) if a
        change added the member with history, else None."""
        return _history_key(self.state, bytes(group_id), member_id)

    def pending_change(self, group_id: bytes) -> tuple[int, Change] | None:
        number = int(self.state.get(bytes(group_id), "open_change"))
        return None if number == 0 else (number, self.state.changes[bytes(group_id), number])

    def root_at(self, group_id: bytes, height: int) -> Root:
        return self.state.roots[bytes(group_id), height]

    def batches(self, group_id: bytes) -> int:
        return int(self.state.get(bytes(group_id), "batches"))

    def member_accounts(self, member_id: int) -> list[bytes]:
        return [w.to_bytes(32, "big")[12:] for w in self.gov.accounts(member_id)]

    def member_of_account(self, account: bytes) -> int:
        return self.gov.member_of(bytes(account))

    def member_name(self, member_id: int) -> str:
        return self.gov.name(member_id)

    def member_status(self, member_id: int) -> str:
        return self.gov.status(member_id)
