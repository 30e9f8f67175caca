"""The py-evm execution engine: a world state you apply transactions to (`WorldState`, one
implementation of `consortium.evm.abc.WorldStateAPI`; revm's is the other).

The ledger talks to `WorldStateAPI` and `ExecResult` only; py-evm objects stay inside this
package (transactions excepted: they are py-evm's signed-transaction objects, decoded once at
admission).
"""

from __future__ import annotations

from typing import Any, cast

from eth.abc import AtomicDatabaseAPI, SignedTransactionAPI
from eth.constants import BLANK_ROOT_HASH, CREATE_CONTRACT_ADDRESS
from eth.exceptions import Revert, VMError
from eth.vm.forks.london.transactions import UnsignedDynamicFeeTransaction
from eth.vm.forks.prague.constants import STANDARD_TOKEN_COST, TOTAL_COST_FLOOR_PER_TOKEN
from eth_typing import Address, Hash32
from eth_utils import ValidationError

from consortium.evm.abc import ExecResult, InvalidTransaction, LogRecord, WorldFactory
from consortium.evm.budget import CallBudget
from consortium.evm.fork import (
    BudgetedComputation,
    ConsortiumAccountDB,
    ConsortiumState,
    ConsortiumTransactionExecutor,
)
from consortium.evm.header import BlockEnv
from consortium.evm.host import serve_natives

# py-evm serves the native contracts as precompiles: those registered so far and any later.
serve_natives()

EMPTY_ROOT = bytes(BLANK_ROOT_HASH)
GAS_TX = 21_000

def data_floor_gas(data: bytes) -> int:
    """EIP-7623: the least gas a transaction with this calldata may use."""
    zeros = data.count(0)
    tokens = zeros + (len(data) - zeros) * STANDARD_TOKEN_COST
    return GAS_TX + TOTAL_COST_FLOOR_PER_TOKEN * tokens


class _CallExecutor(ConsortiumTransactionExecutor):
    """eth_call: no nonce or balance checks for the caller."""

    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        pass


class _CallTx:
    """A transaction-shaped object for eth_call / estimate: unsigned, sender given."""

    type_id = 2
    gas_price = 0
    max_fee_per_gas = 0
    max_priority_fee_per_gas = 0
    authorization_list: tuple[Any, ...] = ()
    blob_versioned_hashes: tuple[bytes, ...] = ()

    def __init__(self, sender: bytes, to: bytes, value: int, data: bytes, gas: int,
                 nonce: int, access_list: tuple[Any, ...] = ()) -> None:
        self.sender = Address(sender)
        self.to = Address(to)
        self.value = value
        self.data = data
        self.gas = gas
        self.nonce = nonce
        self.access_list = access_list
        self.intrinsic_gas = UnsignedDynamicFeeTransaction(
            0, nonce, 0, 0, gas, self.to, value, data, access_list
        ).intrinsic_gas


class WorldState:
    """The EVM world state at `state_root`, executing in block environment `env`.

    Writes stay in memory until `persist()`, which makes the new state root and writes the
    trie nodes and code into `db` (py-evm's atomic database interface), nothing else.
    """

    def __init__(self, db: AtomicDatabaseAPI, state_root: bytes, env: BlockEnv) -> None:
        self.env = env
        self._db = db
        self._state = ConsortiumState(db, env.execution_context(), Hash32(state_root))

    # --- reads -------------------------------------------------------------------------

    def get_balance(self, address: bytes) -> int:
        return self._state.get_balance(Address(address))

    def get_nonce(self, address: bytes) -> int:
        return self._state.get_nonce(Address(address))

    def get_code(self, address: bytes) -> bytes:
        return self._state.get_code(Address(address))

    def get_storage(self, address: bytes, slot: int) -> int:
        return self._state.get_storage(Address(address), slot)

    def storage_root(self, address: bytes) -> bytes:
        """The root of an account's storage trie as of the last `persist()` (or of the state
        root this world was opened at): equal roots, equal storage."""
        account_db = cast(ConsortiumAccountDB, self._state._account_db)  # its account_db_class
        return bytes(account_db._get_storage_root(Address(address)))

    # --- genesis writes ----------------------------------------------------------------

    def set_balance(self, address: bytes, value: int) -> None:
        self._state.set_balance(Address(address), value)

    def set_nonce(self, address: bytes, nonce: int) -> None:
        self._state.set_nonce(Address(address), nonce)

    def set_code(self, address: bytes, code: bytes) -> None:
        self._state.set_code(Address(address), code)

    def set_storage(self, address: bytes, slot: int, value: int) -> None:
        self._state.set_storage(Address(address), slot, value)

    # --- execution ---------------------------------------------------------------------

    def apply_transaction(self, tx: SignedTransactionAPI) -> ExecResult:
        """Execute a signed transaction whose sender is already known (`tx.sender`).
        Raises InvalidTransaction, with no state change, if py-evm refuses it."""
        state = self._state
        state.lock_changes()
        snapshot = state.snapshot()
        try:
            computation = state.apply_transaction(tx)
        except (ValidationError, VMError) as exc:
            state.revert(snapshot)
            raise InvalidTransaction(f"{type(exc).__name__}: {exc}") from None
        state.commit(snapshot)
        return _result(tx, computation)

    def call(self, sender: bytes, to: bytes | None, value: int, data: bytes, gas: int,
             access_list: tuple[Any, ...] = (), *,
             budget: CallBudget | None = None) -> ExecResult:
        """eth_call semantics on this (throwaway) state: gas price 0, no nonce or balance
        check for the sender. The state is changed; don't persist it. With `budget`, raises
        CallTimeout / CallCancelled when it is spent (checked every message and JUMPDEST)."""
        state = self._state
        state.lock_changes()
        tx = _CallTx(sender, to or CREATE_CONTRACT_ADDRESS, value, data, gas,
                     state.get_nonce(Address(sender)), access_list)
        if gas < tx.intrinsic_gas:
            return ExecResult(0, b"", gas, error="intrinsic gas too low")
        executor = _CallExecutor(state)
        if budget is not None:  # on this state only: its class serves blocks unchecked
            state.call_budget = budget
            state.computation_class = BudgetedComputation
        try:
            computation = executor(tx)  # type: ignore[arg-type]
        except VMError as exc:  # the top-level value transfer: caller lacks the value
            return ExecResult(0, b"", tx.intrinsic_gas, error=type(exc).__name__)
        finally:
            if budget is not None:
                del state.computation_class
                del state.call_budget
        if budget is not None:
            budget.check()  # stopped inside a native, which turned it into a revert
        return _result(tx, computation)

    # --- state root --------------------------------------------------------------------

    def state_root(self) -> bytes:
        """The state root with every change so far (trie nodes stay in memory)."""
        return bytes(self._state.make_state_root())

    def persist(self) -> bytes:
        """Write the changed trie nodes and code into the database; returns the root. Into
        the ledger's store (`TrieNodeDB`), they are then sealed: stored by place."""
        self._state.persist()
        root = bytes(self._state.state_root)
        seal = getattr(self._db, "seal", None)
        if seal is not None:
            seal(root)
        return root

    def keep(self) -> None:
        """The last `persist` is in the store (py-evm keeps no caches across blocks)."""


def _result(tx: Any, computation: Any) -> ExecResult:
    gas_used = tx.gas - computation.get_gas_remaining()
    refund = ConsortiumTransactionExecutor.calculate_gas_refund(computation, gas_used)
    gas_used = gas_used - refund + computation.data_floor_gas
    if computation.is_success:
        logs = tuple(
            (bytes(addr), tuple(t.to_bytes(32, "big") for t in topics), bytes(data))
            for addr, topics, data in computation.get_log_entries()
        )
        created = bytes(computation.msg.storage_address) if tx.to == b"" else None
        return ExecResult(1, bytes(computation.output), gas_used, logs, created)
    err = computation.error
    if isinstance(err, Revert):
        return ExecResult(0, bytes(computation.output), gas_used, error="execution reverted")
    return ExecResult(0, b"", gas_used, error=type(err).__name__)


# mypy checks the py-evm engine against the engine interface (`consortium.evm.abc`) here.
PY_EVM_ENGINE: WorldFactory = WorldState

__all__ = [
    "EMPTY_ROOT",
    "GAS_TX",
    "PY_EVM_ENGINE",
    "ExecResult",
    "InvalidTransaction",
    "LogRecord",
    "WorldState",
    "data_floor_gas",
]
