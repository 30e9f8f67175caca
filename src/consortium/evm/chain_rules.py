"""Chain rules: numbered versions of how the chain itself behaves, outside any contract.

A rule that changes what a block computes (what a native's write costs, how the EVM's clock
advances) cannot change with the software alone: every node must switch at the same height,
and a recorded chain must replay under the rule it was made with. So each rule is a version
number kept in a slot of the account at 0x…1000 (Governance's) — state, in the app hash —
read by both engines' hosts and the ledger. Unset reads as 1, what chains made before the
rule existed ran under; genesis sets it for new chains (`app_state.<key>`, written only when
not 1, so older genesis files keep their state root); the software upgrade `<key>-<version>`
(`native-gas-2`) moves an older chain on (`consortium.ledger.upgrades`). A privacy group's
world reads the public chain's rules.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from eth_hash.auto import keccak

RULES_ADDRESS = (0x1000).to_bytes(20, "big")  # Governance's account holds every rule


@dataclass(frozen=True)
class ChainRule:
    """One rule: its genesis key, the word for its versions, its slot's seed (the slot is
    keccak(seed) - 1, as ERC-1967 places its slots, never meeting a contract's numbered
    ones) and the versions this software runs."""

    key: str
    versions_are: str
    seed: bytes
    versions: tuple[int, ...]

    @property
    def slot(self) -> int:
        return _slot(self.seed)

    @property
    def newest(self) -> int:
        return self.versions[-1]

    def upgrade(self, version: int) -> str:
        """The software upgrade that moves a chain to `version` (`native-gas-2`)."""
        return f"{self.key.replace('_', '-')}-{version}"

    def read(self, get: Callable[[bytes, int], int | None]) -> int:
        """The chain's version of this rule, `get(address, slot)` reading its storage."""
        return int(get(RULES_ADDRESS, self.slot) or 0) or 1

    def problem(self, version: int) -> str | None:
        """Why `version` is not one this software runs, or None."""
        if version in self.versions:
            return None
        known = ", ".join(map(str, self.versions))
        return f"{self.versions_are} {known} exist, not {version}"


def _slot(seed: bytes) -> int:
    return int.from_bytes(keccak(seed), "big") - 1


# what a native's storage write costs (`consortium.evm.native.write_gas`)
NATIVE_GAS_RULE = ChainRule("native_gas", "schedules", b"consortium.native.gas", (1, 2))
# how a block's EVM timestamp follows its consensus time (`consortium.evm.header`)
EVM_CLOCK_RULE = ChainRule("evm_clock", "rules", b"consortium.evm.clock", (1, 2))
CHAIN_RULES = (NATIVE_GAS_RULE, EVM_CLOCK_RULE)
