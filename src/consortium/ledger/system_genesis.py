"""The system contracts' state at genesis, from the genesis `app_state` (written by the
ledger's genesis, `genesis_state`; here rather than in `consortium.system` so that the system
contracts never import the ledger's `AppState`).

Members (ids in genesis order), their accounts, node ids and weights go to Governance; every
member account gets the `member` role, and `committee` when its member has a vote, plus the
roles `app_state.governance.roles` lists; validators and admitted nodes go to Nodes; every
proposal kind's rule is written out (the defaults, or the genesis' own), so a later change of
the defaults in code never changes a running chain. No events: this is state, not history.
"""

from __future__ import annotations

from collections.abc import Callable

from consortium.evm.chain_rules import CHAIN_RULES, RULES_ADDRESS
from consortium.evm.host import SlotHost, Storage
from consortium.evm.native import native_address
from consortium.evm.records import address_word
from consortium.ledger.genesis import AppState
from consortium.system.model import (
    GOVERNANCE_ADDRESS,
    NODES_ADDRESS,
    PERMISSIONS_ADDRESS,
    PROPOSAL_KINDS,
    Rule,
    default_rule,
    role_bit,
)
from consortium.system.privacy import PRIVACY_ADDRESS
from consortium.system.state import (
    GovernanceState,
    NodesState,
    PermissionsState,
)
from consortium.system.upgrade_plan import set_native_version

GetStorage = Callable[[bytes, int], int]
SetStorage = Callable[[bytes, int, int], None]


NATIVE_ADDRESSES = {
    "Governance": GOVERNANCE_ADDRESS,
    "Permissions": PERMISSIONS_ADDRESS,
    "Nodes": NODES_ADDRESS,
    "Privacy": PRIVACY_ADDRESS,
    # a service's versioned contract, by its fixed address (the ledger never imports the
    # services: `consortium.apps.securities.model.SECURITIES_ADDRESS`, a test checks both)
    "Securities": native_address(0x2001),
    "Invoices": native_address(0x2004),
    "Registry": native_address(0x2003),
}


def write_system_genesis(app_state: AppState, get: GetStorage, set_: SetStorage) -> None:
    def storage(address: bytes) -> Storage:
        return Storage(SlotHost(address, get, set_))  # type: ignore[arg-type]

    gov = GovernanceState(storage(GOVERNANCE_ADDRESS))
    perms = PermissionsState(storage(PERMISSIONS_ADDRESS))
    nodes = NodesState(storage(NODES_ADDRESS))

    for member in app_state.members:
        weight = member.voting_weight
        member_id = gov.add_member(member.name, member.tier, weight, 0)
        for account in member.accounts:
            raw = bytes.fromhex(account[2:])
            gov.add_account(member_id, raw)
            bits = role_bit("member") | (role_bit("committee") if weight else 0)
            perms.set_role_bits(raw, perms.role_bits(raw) | bits)
        for node in member.nodes:
            raw_node = bytes.fromhex(node)
            gov.nodes(member_id).add(address_word(raw_node))
            nodes.admit(raw_node, member_id)
        for validator in member.validators:
            nodes.set_power(validator.pub_key_bytes, validator.power)
            if app_state.native_versions.get("Nodes", 1) >= 2:
                nodes.owner[validator.pub_key_bytes] = member_id

    # only the versions the genesis lists: older genesis files keep their state root
    for contract, version in sorted(app_state.native_versions.items()):
        set_native_version(storage(NATIVE_ADDRESSES[contract]), version)
    rules = {rule.key: rule for rule in CHAIN_RULES}
    for key, rule_version in app_state.chain_rules().items():  # likewise: those at 1 unlisted
        storage(RULES_ADDRESS).set_uint(rules[key].slot, rule_version)

    governance = app_state.governance
    for account, roles in sorted(governance.roles.items()):
        raw = bytes.fromhex(account[2:])
        bits = perms.role_bits(raw)
        for role in roles:
            bits |= role_bit(role)
        perms.set_role_bits(raw, bits)
    for account in governance.deploy_allowlist:
        perms.allowlist().add(address_word(bytes.fromhex(account[2:])))
    for kind in PROPOSAL_KINDS:
        override = governance.rules.get(kind.name)
        if override is None and kind.added_later:
            continue  # read as its default rule (GovernanceState.rule)
        rule = (
            default_rule(kind)
            if override is None
            else Rule(override.participation, override.win_rate, override.period)
        )
        gov.set_rule(kind, rule)
