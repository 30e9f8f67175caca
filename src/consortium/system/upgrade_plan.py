"""Where a software upgrade's plan, the upgrades already applied, and the native contracts'
versions are kept on chain. A passed `software-upgrade` proposal stores its plan; at its
height every node runs the upgrade's handler or stops (`consortium.ledger.upgrades`), and
applying it clears the plan and records the name, so it never runs twice.

Layout, in Governance's storage (0x…1000), beside `state.GovernanceState`'s slots 0-13:
  20 plan: name (string), 21 height, 22 version (string), 23 proposal id (0: no plan)
  24 applied upgrade name -> height it was applied at
  25 applied upgrade names (string set, 25/26)
A native contract's version sits in its own storage at `NATIVE_VERSION_SLOT` (a hashed slot,
defined beside the engines' gas-free `Host.native_version`); unset (every chain created
before versions existed) reads as version 1. Nothing here is written unless an
upgrade is planned or applied: a chain that never plans one keeps its app hash.
"""

from __future__ import annotations

import re

from consortium.evm.host import Storage
from consortium.evm.records import STRING, UINT, Record, StringSet, field
from consortium.evm.storage import NATIVE_VERSION_SLOT as NATIVE_VERSION_SLOT  # re-exported

# The newest version of each versioned native contract, the one a new chain starts at.
# Nodes 2 records each validator's owner (`NodesState.owner`). Privacy exists only on chains
# whose genesis names it (`consortium.system.privacy`). Securities (the service at 0x…2001)
# 2: `mint` checks the recipient's eligibility (`consortium.apps.securities.contract`; older
# chains move to it by the software upgrade `securities-mint-eligibility`). Invoices (0x…2004)
# 2: its records packed, its append-only indexes lists (`consortium.apps.invoices.state`;
# older chains move to it by the software upgrade `invoices-layout-2`); Registry (0x…2003) 2
# likewise (`registry-layout-2`); Securities 3: its trades and checkpoints packed
# (`securities-layout-3`); Securities 4: an order's lean path, its per-account and per-ISIN
# indexes lists (`securities-layout-4`).
LATEST_NATIVE_VERSIONS = {"Governance": 1, "Permissions": 1, "Nodes": 2, "Privacy": 1,
                          "Securities": 4, "Invoices": 2, "Registry": 2}
MAX_UPGRADE_NAME = 64
UPGRADE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
# 1.2.3, optionally followed by a pre-release or local part: 1.2.3rc1, 1.2.3-beta.2, 1.2.3+abc
VERSION = re.compile(r"^\d+\.\d+\.\d+(?:[-+.]?[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?$")


class UpgradePlan(Record):
    name: str = field(STRING, at=20)
    height: int = field(UINT, at=21)  # the first block executed with the new software
    version: str = field(STRING, at=22)  # the consortium version with the upgrade's handler
    proposal: int = field(UINT, at=23)  # the proposal that scheduled it (0: no plan)


NO_PLAN = UpgradePlan(name="", height=0, version="", proposal=0)


def upgrade_name_problem(name: str) -> str | None:
    """Why `name` cannot name an upgrade, or None."""
    if not name:
        return "the upgrade name is empty"
    if len(name.encode()) > MAX_UPGRADE_NAME:
        return f"the upgrade name is longer than {MAX_UPGRADE_NAME} bytes"
    if not UPGRADE_NAME.match(name):
        return (f"the upgrade name {name!r} may hold only letters, digits, '.', '_' and '-' "
                "(starting with a letter or digit)")
    return None


def version_problem(version: str) -> str | None:
    """Why `version` is not a release version (1.2.3, 1.2.3rc1…), or None."""
    if len(version) > MAX_UPGRADE_NAME or not VERSION.match(version):
        return f"the version {version!r} is not a release version like 0.2.0"
    return None


class UpgradeState:
    """The plan and the applied upgrades, over Governance's storage."""

    APPLIED, APPLIED_SET = 24, 25

    def __init__(self, storage: Storage) -> None:
        self.s = storage

    def plan(self) -> UpgradePlan | None:
        proposal = UpgradePlan.get(self.s, 0, "proposal")
        if not proposal:
            return None
        return UpgradePlan(proposal=proposal, **{
            n: UpgradePlan.get(self.s, 0, n) for n in ("name", "height", "version")})

    def set_plan(self, plan: UpgradePlan) -> None:
        plan.store(self.s, 0)

    def clear_plan(self) -> None:
        NO_PLAN.store(self.s, 0)

    def applied_at(self, name: str) -> int:
        """The height upgrade `name` was applied at, or 0."""
        return self.s.get_uint(Storage.at(self.APPLIED, name))

    def applied(self) -> list[tuple[str, int]]:
        """(name, height) of every applied upgrade, in the order they were applied."""
        return [(n, self.applied_at(n)) for n in StringSet(self.s, self.APPLIED_SET)]

    def mark_applied(self, name: str, height: int) -> None:
        self.s.set_uint(Storage.at(self.APPLIED, name), height)
        StringSet(self.s, self.APPLIED_SET).add(name)


def native_version(storage: Storage) -> int:
    """The version of the native contract whose storage this is (unset: 1)."""
    return storage.get_uint(NATIVE_VERSION_SLOT) or 1


def set_native_version(storage: Storage, version: int) -> None:
    storage.set_uint(NATIVE_VERSION_SLOT, version)
