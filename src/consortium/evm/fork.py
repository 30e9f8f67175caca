"""Prague, as the consortium runs it: thin subclasses of py-evm's Prague classes.

What changes from Ethereum's Prague, and why:
- precompiles: Prague's, plus the consortium's native contracts, merged into one mapping the
  natives' adapter fills (`install_precompile`), the way Prague merges its own over Cancun's;
- the transaction executor trusts the sender recovered (and the signature checked) once at
  admission (`consortium.ledger.transactions`) instead of recovering and verifying again, and
  skips py-evm's per-transaction debug formatting (it builds strings even when debug is off);
- the account database does not keep py-evm's witness bookkeeping on code reads (it copied
  the whole set of keys read so far on every `get_code`: quadratic over a block);
- no system contracts (beacon roots, block-hash history) are written: the consortium has no
  beacon chain, and BLOCKHASH is served from the execution context;
- call guards (`install_call_guard`): before any message call runs — a transaction's, a
  contract's CALL, DELEGATECALL…, eth_call's — each guard may refuse it with a reason, and the
  call reverts with that reason (Error(string)) without moving value or running code. The
  Permissions contract uses this for frozen contracts;
- a budgeted computation for eth_call (`BudgetedComputation`): the state's `call_budget`
  (`consortium.evm.budget.CallBudget`) is checked at every message and every JUMPDEST, so a
  call stops within one loop iteration of its deadline or cancellation.
Nothing in py-evm is edited; everything here is a subclass or a class attribute.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from eth._utils.address import generate_contract_address
from eth.abc import ComputationAPI, MessageAPI, OpcodeAPI, SignedTransactionAPI
from eth.constants import CREATE_CONTRACT_ADDRESS, EMPTY_SHA3
from eth.db.account import AccountDB
from eth.exceptions import Revert
from eth.vm.forks.prague import PragueVM
from eth.vm.forks.prague.computation import PRAGUE_PRECOMPILES, PragueComputation
from eth.vm.forks.prague.state import PragueState, PragueTransactionExecutor
from eth.vm.interrupt import MissingBytecode
from eth.vm.message import Message
from eth.vm.opcode_values import JUMPDEST
from eth_typing import Address

# Every precompile the consortium's EVM serves: Prague's, then the native contracts.
PRECOMPILES: dict[Address, Callable[[ComputationAPI], Any]] = dict(PRAGUE_PRECOMPILES)

# A call guard sees storage (read(address, slot) -> int) and the called address; it answers
# a reason to refuse the call, or None.
SlotReader = Callable[[bytes, int], int]
CallGuard = Callable[[SlotReader, bytes], "str | None"]
CALL_GUARDS: list[CallGuard] = []
# (address, slot) per guard: a slot that holds zero whenever the guard lets every call
# through, so the engines skip asking it (a Python call per message) while it is zero.
CALL_GUARD_GATES: dict[CallGuard, tuple[bytes, int]] = {}


def install_precompile(address: bytes, fn: Callable[[ComputationAPI], Any]) -> None:
    """Serve `fn` at `address` (`consortium.evm.host.serve_natives` does, per native)."""
    if address in PRAGUE_PRECOMPILES:
        raise ValueError(f"0x{address.hex()} is an Ethereum precompile")
    PRECOMPILES[Address(address)] = fn


def install_call_guard(guard: CallGuard, *, gate: tuple[bytes, int] | None = None) -> None:
    """Check every message call with `guard` (idempotent for the same function). `gate`:
    a storage slot (address, slot) that is zero whenever `guard` would answer None."""
    if guard not in CALL_GUARDS:
        CALL_GUARDS.append(guard)
    if gate is not None:
        CALL_GUARD_GATES[guard] = gate


def call_guard_gates() -> list[tuple[bytes, int]] | None:
    """The gates of all guards, or None if some guard has none (then always ask)."""
    if any(guard not in CALL_GUARD_GATES for guard in CALL_GUARDS):
        return None
    return [CALL_GUARD_GATES[guard] for guard in CALL_GUARDS]


class ConsortiumComputation(PragueComputation):
    _precompiles = PRECOMPILES

    @classmethod
    def apply_message(
        cls,
        state: Any,
        message: MessageAPI,
        transaction_context: Any,
        parent_computation: ComputationAPI | None = None,
    ) -> ComputationAPI:
        budget = getattr(state, "call_budget", None)  # eth_call's: before every message
        if budget is not None:
            budget.check()
        if CALL_GUARDS:
            reason = _guard_reason(state, message)
            if reason is not None:
                from eth_abi import encode

                output = ERROR_SELECTOR + encode(["string"], [reason])
                with cls(state, message, transaction_context) as computation:
                    computation.output = output
                    raise Revert(output)
                return computation
        return super().apply_message(state, message, transaction_context, parent_computation)


ERROR_SELECTOR = bytes.fromhex("08c379a0")  # Error(string)


class _BudgetedOpcode:
    """An opcode that first checks the running call's budget (raises when it is spent)."""

    def __init__(self, opcode: Any) -> None:
        self._opcode = opcode
        self.mnemonic = opcode.mnemonic
        self.gas_cost = opcode.gas_cost

    def __call__(self, computation: ComputationAPI) -> None:
        computation.state.call_budget.check()  # type: ignore[attr-defined]
        self._opcode(computation=computation)


class BudgetedComputation(ConsortiumComputation):
    """eth_call's computation on a state with a `call_budget`: checked at every JUMPDEST
    (every loop passes one) as well as before every message. The budget's CallTimeout /
    CallCancelled is not a VMError: it leaves py-evm's computations unhandled and ends the
    call."""

    opcodes = {**ConsortiumComputation.opcodes,  # called as an opcode: duck-typed
               JUMPDEST: cast(OpcodeAPI, _BudgetedOpcode(ConsortiumComputation.opcodes[JUMPDEST]))}


def _guard_reason(state: Any, message: MessageAPI) -> str | None:
    def read(address: bytes, slot: int) -> int:
        return int(state.get_storage(Address(address), slot))

    gates = call_guard_gates()
    if gates is not None and not any(read(address, slot) for address, slot in gates):
        return None
    targets = {bytes(message.storage_address), bytes(message.code_address)}
    for guard in CALL_GUARDS:
        for target in sorted(targets):
            reason = guard(read, target)
            if reason is not None:
                return reason
    return None


class ConsortiumAccountDB(AccountDB):
    def get_code(self, address: Address) -> bytes:
        code_hash = self.get_code_hash(address)
        if code_hash == EMPTY_SHA3:
            return b""
        try:
            return self._journaldb[code_hash]  # type: ignore[no-any-return]
        except KeyError:
            raise MissingBytecode(code_hash) from None


class ConsortiumTransactionExecutor(PragueTransactionExecutor):
    def validate_transaction(self, transaction: SignedTransactionAPI) -> None:
        # Field ranges and the signature were checked when the transaction was decoded;
        # what remains depends on state: nonce and balance (py-evm's own rules).
        self.vm_state.validate_transaction(transaction)

    def build_evm_message(self, transaction: SignedTransactionAPI) -> MessageAPI:
        # Cancun's message building, without blob fees (blob transactions are refused)
        # and without the debug log line.
        state = self.vm_state
        sender = transaction.sender
        state.delta_balance(sender, -1 * transaction.gas * state.get_gas_price(transaction))
        state.increment_nonce(sender)
        msg_refund = self.calc_message_refund(transaction)
        message_gas = transaction.gas - transaction.intrinsic_gas
        if transaction.to == CREATE_CONTRACT_ADDRESS:
            contract_address = generate_contract_address(sender, state.get_nonce(sender) - 1)
            data = b""
            code = transaction.data
            is_delegation = False
        else:
            contract_address = None
            data = transaction.data
            code, delegation_address = self.get_code_at_address(transaction.to)
            is_delegation = delegation_address is not None
        return Message(
            gas=message_gas,
            to=transaction.to,
            sender=sender,
            value=transaction.value,
            data=data,
            code=code,
            # None for a call, as in py-evm, whose annotation says Address but defaults to None
            create_address=cast(Address, contract_address),
            refund=msg_refund,
            is_delegation=is_delegation,
        )


class ConsortiumState(PragueState):
    computation_class = ConsortiumComputation
    transaction_executor_class = ConsortiumTransactionExecutor
    account_db_class = ConsortiumAccountDB
    # eth_call's `consortium.evm.budget.CallBudget`, set on a call's own state (never a
    # block's: the wall clock must not decide state)
    call_budget: Any = None

    def set_system_contracts(self) -> None:
        pass


class ConsortiumVM(PragueVM):
    """The same fork as a py-evm VM, for tools that want chain-level objects."""

    fork = "consortium-prague"
    _state_class = ConsortiumState
