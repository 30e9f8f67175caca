"""What the ledger asks the system contracts' state outside the EVM: may this sender send a
transaction (or deploy)? may this node peer? which validator updates did a block make?
`AccessView` reads through a world state and remembers its answers until `forget()` (the
ledger forgets after any block or transaction that changed the system contracts' storage or
registered a privacy node key). A privacy node account is no member's account: it may call
the Privacy contract and nothing else."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from consortium.evm.abi_codec import decode as abi_decode
from consortium.evm.host import SlotHost, Storage
from consortium.evm.records import address_word, word_address
from consortium.system.model import (
    GOVERNANCE_ADDRESS,
    NODES_ADDRESS,
    PERMISSIONS_ADDRESS,
    SYSTEM_ADDRESSES,
)
from consortium.system.nodes import Nodes
from consortium.system.privacy import PRIVACY_ADDRESS, Privacy, PrivacyState
from consortium.system.state import GovernanceState, NodesState, PermissionsState

GetStorage = Callable[[bytes, int], int]
LogTuple = tuple[bytes, Sequence[bytes], bytes]  # address, topics, data

_VALIDATOR_UPDATED = Nodes.ValidatorUpdated.topic0
_NODE_REGISTERED = Privacy.NodeRegistered.topic0
MAX_REMEMBERED = 100_000  # answers kept per view (refused strangers must not grow it forever)


class AccessView:
    def __init__(self, get_storage: GetStorage) -> None:
        def storage(address: bytes) -> Storage:
            return Storage(SlotHost(address, get_storage))  # type: ignore[arg-type]

        self.gov = GovernanceState(storage(GOVERNANCE_ADDRESS))
        self.perms = PermissionsState(storage(PERMISSIONS_ADDRESS))
        self.nodes = NodesState(storage(NODES_ADDRESS))
        self.privacy = PrivacyState(storage(PRIVACY_ADDRESS))
        self._refusals: dict[tuple[bytes, bool, bool], str | None] = {}
        self._node_ids: frozenset[str] | None = None

    def forget(self) -> None:
        self._refusals = {}
        self._node_ids = None

    def refusal(self, sender: bytes, creates: bool = False, to: bytes | None = None) -> str | None:
        """Why `sender` may not send this transaction (to `to`), or None if it may."""
        key = (sender, creates, to == PRIVACY_ADDRESS)
        if key in self._refusals:
            return self._refusals[key]
        reason = self._refusal(sender, creates, key[2])
        if len(self._refusals) >= MAX_REMEMBERED:
            self._refusals = {}
        self._refusals[key] = reason
        return reason

    def _refusal(self, sender: bytes, creates: bool, to_privacy: bool) -> str | None:
        """A member's account may send while its member is active and it is not frozen (and
        deploy if the allowlist lets it); a registered privacy node account of an active
        member may call the Privacy contract, and nothing else."""
        who = "0x" + sender.hex()
        member_id = self.gov.member_of(sender)
        node = member_id == 0  # then a privacy node account, if one is registered
        if node and (member_id := self.privacy.member_of_node(sender)) == 0:
            return f"sender {who} is not a consortium account (not a consortium member's account)"
        name, status = self.gov.name(member_id), self.gov.status(member_id)
        if status != "active":
            whose = f"the privacy node of {name!r}, {status}" if node else f"{name!r} is {status}"
            return f"sender {who} refused: member {status} ({whose})"
        if self.perms.is_frozen(sender):
            return f"sender {who} refused: account frozen"
        if node and (creates or not to_privacy):
            return (f"{who} is the privacy node account of {name!r}: it may only call the "
                    "Privacy contract")
        if creates:
            allowlist = self.perms.allowlist()
            if len(allowlist) and address_word(sender) not in allowlist:
                return f"sender {who} may not deploy contracts: it is not on the deploy allowlist"
        return None

    def is_member_account(self, account: bytes) -> bool:
        """An account of an active member (frozen or not)."""
        member_id = self.gov.member_of(account)
        return member_id != 0 and self.gov.status(member_id) == "active"

    def is_admitted_node(self, node_id: str) -> bool:
        if self._node_ids is None:
            self._node_ids = frozenset(word_address(w).hex() for w in self.nodes.nodes())
        return node_id.lower() in self._node_ids


def touches_system(logs: Iterable[LogTuple]) -> bool:
    """Whether these logs record a change to a system contract's state that admission reads
    (Privacy's node keys included; its markers and groups are not)."""
    return any(bytes(log[0]) in SYSTEM_ADDRESSES or _registers_node(log[0], log[1])
               for log in logs)


def registers_node(logs: Iterable[Any]) -> bool:
    """Whether a block's log records (`.address`, `.topics`) register a privacy node key: the
    ledger then forgets its admission answers, as it does when the system contracts'
    storage changed."""
    return any(_registers_node(log.address, log.topics) for log in logs)


def _registers_node(address: bytes, topics: Sequence[bytes]) -> bool:
    return bytes(address) == PRIVACY_ADDRESS and bool(topics) and topics[0] == _NODE_REGISTERED


def validator_updates(logs: Iterable[LogTuple]) -> list[tuple[bytes, int]]:
    """The (ed25519 public key, power) changes a block's logs record, each key once with its
    last power, in the order keys first changed (power 0 removes the validator)."""
    final: dict[bytes, int] = {}
    order: list[bytes] = []
    for address, topics, data in logs:
        if bytes(address) != NODES_ADDRESS or not topics or bytes(topics[0]) != _VALIDATOR_UPDATED:
            continue
        key = bytes(topics[1])
        (power,) = abi_decode(["uint256"], bytes(data))
        if key not in final:
            order.append(key)
        final[key] = int(power)
    return [(key, final[key]) for key in order]
