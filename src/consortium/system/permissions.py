"""The Permissions native contract (0x…1001): account roles, frozen accounts and contracts,
and the contract-deployment allowlist. Governance changes them when a proposal passes; an
account holding the regulator role freezes and unfreezes directly, without a vote.

Roles: `committee` (proposes and votes for its member), `member`, `operator`, `regulator`,
`auditor`, then the services' own. The ledger refuses transactions from a frozen account,
and any call to a frozen address reverts with "contract frozen" (system contracts cannot be
frozen). An empty deploy allowlist lets every member account deploy; otherwise only the
listed accounts may send contract-creating transactions.
"""

from __future__ import annotations

import inspect
from typing import Any

from consortium.evm.fork import SlotReader, install_call_guard
from consortium.evm.host import Storage
from consortium.evm.native import NativeContract, StateOf, event, method, register, view
from consortium.evm.records import address_word, hex0x, word_address
from consortium.evm.records import as_address as as_address  # services import it from here
from consortium.system.model import (
    GOVERNANCE_ADDRESS,
    MAX_LIST,
    PERMISSIONS_ADDRESS,
    ROLES,
    role_bit,
    roles_of,
)
from consortium.system.state import PermissionsState

hex_address = hex0x  # an address in a message: the one formatter of 0x hex


def frozen_reason(read: SlotReader, address: bytes) -> str | None:
    """The call guard: calls to a frozen address revert with "contract frozen"."""
    frozen_count = read(PERMISSIONS_ADDRESS, PermissionsState.FROZEN)
    if frozen_count == 0:
        return None
    position = read(
        PERMISSIONS_ADDRESS, Storage.at(PermissionsState.FROZEN + 1, address_word(address))
    )
    return f"contract frozen: {hex_address(address)}" if position else None


def check_freeze(contract: NativeContract, state: PermissionsState, target: bytes,
                 frozen: bool) -> None:
    """Refuse to freeze the zero address, a system contract or a frozen address (or to
    unfreeze one not frozen): Permissions when it acts, Governance when it is proposed."""
    contract.require(target != b"\x00" * 20, "cannot freeze the zero address")
    contract.require(not contract.is_native(target),
                     f"{hex_address(target)} is a system contract and cannot be frozen")
    current = state.is_frozen(target)
    contract.require(current != frozen, f"{hex_address(target)} is "
                     f"{'already frozen' if current else 'not frozen'}")


def switch(on: str, off: str, args: tuple[str, ...], act: str) -> tuple[Any, Any]:
    """Two writes that turn one thing on and off (`pin(uint256)` and `unpin(uint256)`, say):
    each calls the contract's method `act` with its arguments, then True (on) or False.
    `args` names their ABI inputs."""

    def write(signature: str, flag: bool) -> Any:
        def call(self: NativeContract, *values: Any) -> None:
            getattr(self, act)(*values, flag)

        call.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD)
             for n in ("self", *args)])
        return method(signature)(call)

    return write(on, True), write(off, False)


class GovernedNative(NativeContract):
    """A system contract whose state Governance changes (Permissions, Nodes)."""

    def _only_governance(self) -> None:
        self.require(self.host.caller == GOVERNANCE_ADDRESS,
                     "only the Governance contract may change this (propose it)")


@register
class Permissions(GovernedNative):
    address = PERMISSIONS_ADDRESS

    RoleGranted = event("address indexed account", "string role", "address by")
    RoleRevoked = event("address indexed account", "string role", "address by")
    Frozen = event("address indexed target", "address by")
    Unfrozen = event("address indexed target", "address by")
    DeployAllowlistSet = event("address[] accounts")

    state = StateOf(PermissionsState)

    # --- reads ---------------------------------------------------------------------------

    roles = view("roles(address)", "string[]", ("account",),
                 lambda c, account: roles_of(c.state.role_bits(as_address(account))))

    @method("hasRole(address,string)", returns="bool", view=True)
    def has_role(self, account: str, role: str) -> bool:
        self._check_role(role)
        return bool(self.state.role_bits(as_address(account)) & role_bit(role))

    @method("accountsWithRole(string)", returns="address[]", view=True)
    def accounts_with_role(self, role: str) -> list[bytes]:
        self._check_role(role)
        bit = role_bit(role)
        holders = (word_address(word) for word in self.state.role_holders())
        return [account for account in holders if self.state.role_bits(account) & bit]

    is_frozen = view("isFrozen(address)", "bool", ("target",),
                     lambda c, target: c.state.is_frozen(as_address(target)))
    frozen = view("frozen()", "address[]", (),
                  lambda c: [word_address(w) for w in c.state.frozen()])
    deploy_allowlist = view("deployAllowlist()", "address[]", (),
                            lambda c: [word_address(w) for w in c.state.allowlist()])

    @method("canDeploy(address)", returns="bool", view=True)
    def can_deploy(self, account: str) -> bool:
        """Whether the allowlist lets `account` deploy (it must also be an active member's
        account to send any transaction at all)."""
        allowlist = self.state.allowlist()
        return len(allowlist) == 0 or address_word(as_address(account)) in allowlist

    # --- Governance's decisions ----------------------------------------------------------

    grant_role, revoke_role = switch("grantRole(address,string)", "revokeRole(address,string)",
                                     ("account", "role"), "_set_role")

    def _set_role(self, account: str, role: str, grant: bool) -> None:
        self._only_governance()
        self._check_role(role)
        raw = as_address(account)
        bits = self.state.role_bits(raw)
        holds = bool(bits & role_bit(role))
        self.require(holds != grant, f"{account} {'already holds' if holds else 'does not hold'} "
                     f"the {role} role")
        self.state.set_role_bits(raw, bits | role_bit(role) if grant else bits & ~role_bit(role))
        self.emit(self.RoleGranted if grant else self.RoleRevoked, raw, role, self.host.caller)

    @method("setFrozen(address,bool)")
    def set_frozen(self, target: str, frozen: bool) -> None:
        self._only_governance()
        self._set_frozen(as_address(target), frozen)

    @method("setDeployAllowlist(address[])")
    def set_deploy_allowlist(self, accounts: list[str]) -> None:
        self._only_governance()
        self.require(len(accounts) <= MAX_LIST, f"at most {MAX_LIST} accounts")
        allowlist = self.state.allowlist()
        allowlist.clear()
        raws = [as_address(a) for a in accounts]
        for raw in raws:
            allowlist.add(address_word(raw))
        self.emit(self.DeployAllowlistSet, raws)

    # --- the regulator, directly -----------------------------------------------------------

    freeze, unfreeze = switch("freeze(address)", "unfreeze(address)", ("target",),
                              "_by_regulator")

    # --- helpers ---------------------------------------------------------------------------

    def _set_frozen(self, target: bytes, frozen: bool) -> None:
        check_freeze(self, self.state, target, frozen)
        if frozen:
            self.state.frozen().add(address_word(target))
        else:
            self.state.frozen().remove(address_word(target))
        self.emit(self.Frozen if frozen else self.Unfrozen, target, self.host.caller)

    def _by_regulator(self, target: str, frozen: bool) -> None:
        caller = self.host.caller
        self.require(bool(self.state.role_bits(caller) & role_bit("regulator")),
                     f"{hex_address(caller)} does not hold the regulator role")
        self._set_frozen(as_address(target), frozen)

    def _check_role(self, role: str) -> None:
        self.require(role in ROLES, f"unknown role {role!r} (roles: {', '.join(ROLES)})")


install_call_guard(frozen_reason, gate=(PERMISSIONS_ADDRESS, PermissionsState.FROZEN))
