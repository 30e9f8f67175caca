"""The execution engine's interface, in one file (as py-evm's `eth.abc`): what the ledger and
the API may call on an engine, and what both engines implement — py-evm's
(`consortium.evm.engine.WorldState`) and revm's (`consortium.evm.revm_engine.RevmWorldState`).

An engine is a `WorldFactory`: called with a trie database, a state root and a block
environment, it opens a `WorldStateAPI`. The ledger holds the factory and annotates every
world it opens with `WorldStateAPI`; mypy checks both engines against these protocols where
each engine module names its class as a `WorldFactory`. Optional speed-ups one engine has
(revm's trie-cache warming) are a protocol of their own, `CachingWorldStateAPI`, asked for
with `isinstance`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from eth.abc import AtomicDatabaseAPI, SignedTransactionAPI

from consortium.evm.budget import CallBudget
from consortium.evm.header import BlockEnv

LogRecord = tuple[bytes, tuple[bytes, ...], bytes]  # address, 32-byte topics, data


@dataclass(slots=True)  # not frozen: made per transaction, 5x cheaper
class ExecResult:
    """The outcome of one transaction or call that ran (status 1) or failed in the EVM
    (status 0: reverted, out of gas, invalid opcode…)."""

    status: int
    output: bytes  # return data, or the revert bytes when reverted
    gas_used: int  # what the sender pays for: after refunds, with the EIP-7623 floor
    logs: tuple[LogRecord, ...] = ()
    contract_address: bytes | None = None  # set for a successful creation
    error: str = ""  # "" on success; "execution reverted" or the EVM error's name

    @property
    def reverted(self) -> bool:
        return self.status == 0


class InvalidTransaction(Exception):
    """The engine refused the transaction before executing it (nonce, balance, fee rules)."""


@runtime_checkable
class WorldStateAPI(Protocol):
    """The EVM world state at a state root, executing in block environment `env`. Writes
    stay in memory until `persist()`."""

    env: BlockEnv

    # --- reads ---------------------------------------------------------------------------

    def get_balance(self, address: bytes) -> int: ...

    def get_nonce(self, address: bytes) -> int: ...

    def get_code(self, address: bytes) -> bytes: ...

    def get_storage(self, address: bytes, slot: int) -> int: ...

    def storage_root(self, address: bytes) -> bytes:
        """The root of an account's storage trie as of the last `persist()` (or of the state
        root this world was opened at): equal roots, equal storage."""
        ...

    # --- genesis and upgrade writes ------------------------------------------------------

    def set_balance(self, address: bytes, value: int) -> None: ...

    def set_nonce(self, address: bytes, nonce: int) -> None: ...

    def set_code(self, address: bytes, code: bytes) -> None: ...

    def set_storage(self, address: bytes, slot: int, value: int) -> None: ...

    # --- execution -----------------------------------------------------------------------

    def apply_transaction(self, tx: SignedTransactionAPI) -> ExecResult:
        """Execute a signed transaction whose sender is already known (`tx.sender`). Raises
        `InvalidTransaction`, with no state change, if the engine refuses it."""
        ...

    def call(self, sender: bytes, to: bytes | None, value: int, data: bytes, gas: int,
             access_list: tuple[Any, ...] = (), *,
             budget: CallBudget | None = None) -> ExecResult:
        """eth_call semantics on this (throwaway) state: gas price 0, no nonce check. With
        `budget`, raises CallTimeout / CallCancelled when it is spent."""
        ...

    # --- state root ----------------------------------------------------------------------

    def state_root(self) -> bytes:
        """The state root with every change so far (nothing written)."""
        ...

    def persist(self) -> bytes:
        """Write the changed trie nodes and code into the database; returns the root."""
        ...

    def keep(self) -> None:
        """The last `persist` is in the store: the engine's caches may learn it."""
        ...


@runtime_checkable
class CachingWorldStateAPI(WorldStateAPI, Protocol):
    """A world whose engine keeps trie caches across blocks (revm): they can be filled
    ahead of need."""

    def prefetch(self, addresses: Sequence[bytes]) -> int:
        """Load the state-trie paths of `addresses` in a few batched reads; nodes read."""
        ...

    def warm(self, budget: int) -> int:
        """Load the top of the state trie, breadth first, up to `budget` nodes; nodes read."""
        ...


class WorldFactory(Protocol):
    """An engine: opens the world at `state_root` over `db`, in block environment `env`."""

    def __call__(self, db: AtomicDatabaseAPI, state_root: bytes,
                 env: BlockEnv) -> WorldStateAPI: ...


__all__ = [
    "CachingWorldStateAPI",
    "ExecResult",
    "InvalidTransaction",
    "LogRecord",
    "WorldFactory",
    "WorldStateAPI",
]
