"""The Nodes native contract (0x…1002): the validator set with its voting power (and, from
version 2, the member owning each validator), and the node ids admitted as peers.

A validator is named by its ed25519 consensus public key; every change emits
`ValidatorUpdated`, which the ledger turns into the block's `validator_updates` (CometBFT
applies them two heights later). The node's peer filter admits exactly the node ids here.
"""

from __future__ import annotations

from consortium.evm.native import NativeContract, StateOf, event, method, register, view
from consortium.evm.records import word_address
from consortium.system.model import MAX_POWER, NODES_ADDRESS
from consortium.system.permissions import GovernedNative
from consortium.system.state import NodesState


def check_new_node(contract: NativeContract, nodes: NodesState, node_id: bytes) -> None:
    """Refuse a node id that is zero or admitted already: Nodes admitting it, and Governance
    when an admission is proposed."""
    contract.require(node_id != b"\x00" * 20, "a node id cannot be zero")
    contract.require(not nodes.is_admitted(node_id), f"node {node_id.hex()} is already admitted")


@register
class Nodes(GovernedNative):
    address = NODES_ADDRESS

    ValidatorUpdated = event("bytes32 indexed pubKey", "uint256 power")
    NodeAdmitted = event("bytes20 indexed nodeId", "uint256 member")
    NodeRemoved = event("bytes20 indexed nodeId", "uint256 member")

    state = StateOf(NodesState)

    # --- reads ---------------------------------------------------------------------------

    validators = view("validators()", "(bytes32,uint256)[]", (),
                      lambda c: c.state.validator_powers())
    validator_power = view("validatorPower(bytes32)", "uint256", ("pub_key",),
                           lambda c, pub_key: c.state.power(pub_key))

    # the member whose validator this is (0: none recorded; see NodesState.owner)
    validator_owner = view("validatorOwner(bytes32)", "uint256", ("pub_key",),
                           lambda c, pub_key: c.state.owner[pub_key])
    nodes = view("nodes()", "(bytes20,uint256)[]", (), lambda c: [
        (word_address(w), c.state.node_member[word_address(w)]) for w in c.state.nodes()])
    is_admitted = view("isAdmitted(bytes20)", "bool", ("node_id",),
                       lambda c, node_id: c.state.is_admitted(node_id))

    # --- Governance's decisions ----------------------------------------------------------

    @method("setValidatorPower(bytes32,uint256)")
    def set_validator_power(self, pub_key: bytes, power: int) -> None:
        self._only_governance()
        self.require(pub_key != b"\x00" * 32, "a validator public key cannot be zero")
        self.require(power <= MAX_POWER, f"power must be at most {MAX_POWER}")
        state = self.state
        current = state.power(pub_key)
        if power == 0:
            self.require(current > 0, f"0x{pub_key.hex()} is not a validator")
            self.require(len(state.validators()) > 1, "cannot remove the last validator")
        state.set_power(pub_key, power)
        self.emit(self.ValidatorUpdated, pub_key, power)

    @method("setValidatorOwner(bytes32,uint256)")
    def set_validator_owner(self, pub_key: bytes, member: int) -> None:
        """Record whose validator this is (an expulsion of that member removes it)."""
        self._only_governance()
        self.require(self.state.power(pub_key) > 0, f"0x{pub_key.hex()} is not a validator")
        self.state.owner[pub_key] = member

    @method("admitNode(bytes20,uint256)")
    def admit_node(self, node_id: bytes, member: int) -> None:
        self._only_governance()
        check_new_node(self, self.state, node_id)
        self.state.admit(node_id, member)
        self.emit(self.NodeAdmitted, node_id, member)

    @method("removeNode(bytes20)")
    def remove_node(self, node_id: bytes) -> None:
        self._only_governance()
        self.require(self.state.is_admitted(node_id), f"node {node_id.hex()} is not admitted")
        member = self.state.node_member[node_id]
        self.state.remove(node_id)
        self.emit(self.NodeRemoved, node_id, member)

