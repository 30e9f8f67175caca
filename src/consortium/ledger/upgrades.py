"""Software upgrades without a fork, the Cosmos SDK x/upgrade way.

A `software-upgrade` proposal that passes stores a plan on chain: a name, a height and the
consortium version that carries the upgrade (`consortium.system.upgrade_plan`). Before a node
executes the block at the plan's height it looks up the name in this module's registry:

- a node that has a handler for it runs the handler's migration on the block's state, exactly
  there and before the block's transactions, records the upgrade as applied and clears the
  plan (the same writes on every node, so they are part of the block's app hash), then goes
  on; a node restarted later finds the plan gone and never runs it again;
- a node that has none stops before executing that block (`UpgradeRequired`): it commits
  nothing under the old rules, says which version to install, and exits with
  `UPGRADE_EXIT_CODE`. Started again without the handler, it stops again at the same block.

Handlers live in code (`register_upgrade`); a release that needs a migration registers its
handler in a module imported here. An operator test-drives an upgrade (or a release ships
one as a plugin) by naming extra modules that register handlers in the environment variable
`CONSORTIUM_UPGRADE_MODULES` (comma-separated module names, importable by the node's Python).

A handler may move native contracts to a new version (`NativeMigration`): each contract's
version is stored in its own storage, and a migration runs only from the version before its
own, so the layout every version reads is known. It may also install a native contract that
the chain's genesis left out (`UpgradeContext.install_native`). This software's own handlers
(docs/operations.md lists them): `privacy` switches the Privacy contract on for a chain made
without it (docs/privacy.md); `securities-mint-eligibility` moves the Securities contract to
version 2, whose `mint` checks the recipient's eligibility (docs/services/securities.md);
each chain rule's upgrade moves the chain to the rule's newest version
(`consortium.evm.chain_rules`: `native-gas-2`, `evm-clock-2`; docs/evm.md).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from consortium import __version__
from consortium.errors import ConfigError, ConsortiumError
from consortium.evm.abc import WorldStateAPI
from consortium.evm.chain_rules import (
    CHAIN_RULES,
    EVM_CLOCK_RULE,
    NATIVE_GAS_RULE,
    RULES_ADDRESS,
    ChainRule,
)
from consortium.evm.host import SlotHost, Storage
from consortium.evm.native import NATIVE_STUB_CODE
from consortium.ledger.system_genesis import NATIVE_ADDRESSES
from consortium.system.model import GOVERNANCE_ADDRESS
from consortium.system.privacy import PRIVACY_ADDRESS
from consortium.system.upgrade_plan import (
    NATIVE_VERSION_SLOT,
    UpgradePlan,
    UpgradeState,
    native_version,
    set_native_version,
    upgrade_name_problem,
    version_problem,
)

log = logging.getLogger("consortium.upgrades")

MODULES_ENV = "CONSORTIUM_UPGRADE_MODULES"
# The node's exit code when it stops for an upgrade: a process manager must not restart it
# (systemd: RestartPreventExitStatus=3) — it would only stop again at the same block.
UPGRADE_EXIT_CODE = 3

GetStorage = Callable[[bytes, int], int]
SetStorage = Callable[[bytes, int, int], None]


class UpgradeRequired(ConsortiumError):
    """The block at an upgrade's height, on a node without the upgrade's handler."""

    def __init__(self, plan: UpgradePlan) -> None:
        self.plan = plan
        super().__init__(
            f"upgrade {plan.name!r} scheduled at height {plan.height} needs consortium >= "
            f"{plan.version}; this node runs {__version__}; install it and restart"
        )


class UpgradeContext:
    """What a migration sees: the block's height and the state as it stands before the
    block's transactions, one contract's storage at a time (no gas, no logs), and the world
    itself to give a native contract its account."""

    def __init__(self, height: int, get: GetStorage, set_: SetStorage,
                 world: WorldStateAPI | None = None) -> None:
        self.height = height
        self._get = get
        self._set = set_
        self._world = world

    def storage(self, address: bytes) -> Storage:
        return Storage(SlotHost(address, self._get, self._set))  # type: ignore[arg-type]

    def install_native(self, address: bytes) -> None:
        """Give the native contract at `address` the account genesis gives every native
        (nonce 1, the one-byte stub code) if it has no code yet; deterministic, the same
        writes on both engines."""
        if self._world is None:
            raise ConsortiumError("this upgrade installs a native contract: the executor "
                                  "must pass its world to apply_due_upgrade")
        if not self._world.get_code(address):
            self._world.set_nonce(address, 1)
            self._world.set_code(address, NATIVE_STUB_CODE)


@dataclass(frozen=True)
class NativeMigration:
    """Moves one native contract from version `to_version - 1` to `to_version`."""

    contract: bytes  # the native contract's address
    to_version: int
    migrate: Callable[[Storage, UpgradeContext], None]


@dataclass(frozen=True)
class UpgradeHandler:
    name: str
    version: str  # the consortium version that introduced the handler
    migrate: Callable[[UpgradeContext], None] | None = None
    natives: tuple[NativeMigration, ...] = field(default=())


_HANDLERS: dict[str, UpgradeHandler] = {}


def register_upgrade(
    name: str,
    version: str,
    migrate: Callable[[UpgradeContext], None] | None = None,
    natives: Iterable[NativeMigration] = (),
) -> UpgradeHandler:
    """Register the handler of upgrade `name` (what this software runs at its height)."""
    problem = upgrade_name_problem(name) or version_problem(version)
    if problem:
        raise ConfigError(f"upgrade handler: {problem}")
    existing = _HANDLERS.get(name)
    handler = UpgradeHandler(name, version, migrate, tuple(natives))
    if existing is not None and existing != handler:
        raise ConfigError(f"two different handlers are registered for upgrade {name!r}")
    _HANDLERS[name] = handler
    return handler


def unregister_upgrade(name: str) -> None:
    """Forget a handler (tests that register their own)."""
    _HANDLERS.pop(name, None)


def handler_for(name: str) -> UpgradeHandler | None:
    return _HANDLERS.get(name)


def handlers() -> list[UpgradeHandler]:
    return [_HANDLERS[n] for n in sorted(_HANDLERS)]


def load_upgrade_modules(spec: str | None = None) -> list[str]:
    """Import the modules that register extra handlers: `spec` (comma-separated module
    names) or else `CONSORTIUM_UPGRADE_MODULES`. Answers the names imported."""
    if spec is None:
        spec = os.environ.get(MODULES_ENV, "")
    names = [n.strip() for n in spec.split(",") if n.strip()]
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as exc:
            raise ConfigError(
                f"{MODULES_ENV} names module {name!r}, which does not import: "
                f"{type(exc).__name__}: {exc}"
            ) from None
    return names


def scheduled_plan(get: GetStorage) -> UpgradePlan | None:
    """The plan stored in a world state (read-only)."""
    return UpgradeState(Storage(SlotHost(GOVERNANCE_ADDRESS, get))).plan()  # type: ignore[arg-type]


def unprepared_plan(get: GetStorage) -> UpgradePlan | None:
    """The scheduled upgrade if this software has no handler for it (it will stop there)."""
    plan = scheduled_plan(get)
    return plan if plan is not None and plan.name not in _HANDLERS else None


def apply_due_upgrade(height: int, get: GetStorage, set_: SetStorage,
                      world: WorldStateAPI | None = None) -> UpgradePlan | None:
    """Before the transactions of block `height`: if an upgrade is planned for it, run its
    handler (or raise `UpgradeRequired`), mark it applied and clear the plan. Answers the
    plan applied, or None. Depends only on `height` and the state (`world`: the block's
    world, for handlers that install a native contract)."""
    plan = scheduled_plan(get)
    if plan is None or plan.height != height:
        return None
    handler = _HANDLERS.get(plan.name)
    if handler is None:
        raise UpgradeRequired(plan)
    ctx = UpgradeContext(height, get, set_, world)
    for step in handler.natives:
        storage = ctx.storage(step.contract)
        current = native_version(storage)
        if current != step.to_version - 1:
            raise ConsortiumError(
                f"upgrade {plan.name!r}: native contract 0x{step.contract.hex()} is at version "
                f"{current}, its migration to {step.to_version} starts from "
                f"{step.to_version - 1}"
            )
        step.migrate(storage, ctx)
        set_native_version(storage, step.to_version)
    if handler.migrate is not None:
        handler.migrate(ctx)
    state = UpgradeState(ctx.storage(GOVERNANCE_ADDRESS))
    state.mark_applied(plan.name, height)
    state.clear_plan()
    log.warning("upgrade %r applied at height %d (plan of proposal %d)", plan.name, height,
                plan.proposal)
    return plan


# --- this software's own handlers ------------------------------------------------------------

PRIVACY_UPGRADE = "privacy"


def enable_privacy(ctx: UpgradeContext) -> None:
    """Switch the Privacy contract on for a chain whose genesis did not name it: its account
    and its version slot, as `native_versions: {"Privacy": 1}` gives them at genesis. On a
    chain that has it already, nothing changes."""
    storage = ctx.storage(PRIVACY_ADDRESS)
    if storage.get_uint(NATIVE_VERSION_SLOT):
        return
    ctx.install_native(PRIVACY_ADDRESS)
    set_native_version(storage, 1)


register_upgrade(PRIVACY_UPGRADE, "0.1.0", migrate=enable_privacy)

SECURITIES_MINT_UPGRADE = "securities-mint-eligibility"


def securities_mint_eligibility(ctx: UpgradeContext) -> None:
    """Securities 1 -> 2: from this height on a `mint` checks its recipient's eligibility
    (as a transfer's recipient; the instrument's issuer account only for a freeze). Nothing
    stored changes but the contract's version. A chain made at version 2 (genesis
    `native_versions: {"Securities": 2}`) stays as it is: voting the upgrade there changes
    nothing, rather than stopping every node at its height as a `NativeMigration` from 1
    would."""
    storage = ctx.storage(NATIVE_ADDRESSES["Securities"])
    if native_version(storage) < 2:  # this upgrade's version, whatever comes after it
        set_native_version(storage, 2)


register_upgrade(SECURITIES_MINT_UPGRADE, "0.1.0", migrate=securities_mint_eligibility)


def chain_rule_upgrade(rule: ChainRule, version: int) -> Callable[[UpgradeContext], None]:
    """The migration that moves the chain to `version` of `rule` at the upgrade's height (a
    chain made at it or past it stays as it is)."""
    def migrate(ctx: UpgradeContext) -> None:
        storage = ctx.storage(RULES_ADDRESS)
        if rule.read(lambda _, slot: storage.get_uint(slot)) < version:
            storage.set_uint(rule.slot, version)
    return migrate


# `native-gas-2`: from this height on a native's storage write is priced by the slot's
# present value, as the EVM prices SSTORE (`consortium.evm.native.write_gas`), instead of
# 20,000 for any write. `evm-clock-2`: from the block after this height on, a block's
# timestamp is its consensus time in whole seconds, never below its parent's
# (`consortium.evm.header.block_timestamp`), instead of at least a second past its parent,
# which ran ahead of wall time under sub-second blocks; a clock that ran ahead stays where
# it is until wall time catches up (it never goes back). Nothing else changes.
for _rule in CHAIN_RULES:
    for _version in _rule.versions[1:]:
        register_upgrade(_rule.upgrade(_version), "0.1.0",
                         migrate=chain_rule_upgrade(_rule, _version))
NATIVE_GAS_UPGRADE, EVM_CLOCK_UPGRADE = NATIVE_GAS_RULE.upgrade(2), EVM_CLOCK_RULE.upgrade(2)
