"""The adapter that serves a native contract as a py-evm precompile: `PyEvmHost` (the
`Host` over a py-evm computation) and `make_precompile`.

Only this module knows both py-evm and the natives; `Host`, `Storage` and `SlotHost` live
engine-free in `consortium.evm.storage` (re-exported here for their many importers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from eth.abc import ComputationAPI
from eth.exceptions import Revert, VMError, WriteProtection
from eth_typing import Address

from consortium.evm.chain_rules import NATIVE_GAS_RULE
from consortium.evm.fork import install_precompile
from consortium.evm.native import (
    NATIVE_GAS,
    NativeContract,
    child_gas,
    delegatecall_refusal,
    log_gas,
    on_register,
    revert_output,
    write_gas,
)
from consortium.evm.public_reads import ACTIVE as PUBLIC_READS
from consortium.evm.public_reads import host_for
from consortium.evm.storage import (
    NATIVE_VERSION_SLOT,
    UINT256,
    BlockInfo,
    Host,
    ReadOnlyStorage,
    SlotHost,
    Storage,
)

__all__ = [
    "UINT256",
    "BlockInfo",
    "Host",
    "PyEvmHost",
    "ReadOnlyStorage",
    "SlotHost",
    "Storage",
    "make_precompile",
    "serve_natives",
]


class PyEvmHost:
    """`Host` over a py-evm computation; a call's identity is fixed, so it is read once."""

    def __init__(self, computation: ComputationAPI) -> None:
        self._c = computation
        self._msg = msg = computation.msg
        self._state = computation.state
        self.address = bytes(msg.storage_address)
        self._gas_schedule: int | None = None  # read at the first write
        self.caller = bytes(msg.sender)
        self.origin = bytes(computation.transaction_context.origin)
        self.value = int(msg.value)
        self.is_static = bool(msg.is_static)

    @property
    def block(self) -> BlockInfo:
        ctx = self._state.execution_context
        return BlockInfo(
            number=ctx.block_number, timestamp=ctx.timestamp, coinbase=bytes(ctx.coinbase),
            chain_id=ctx.chain_id, prevrandao=bytes(ctx.mix_hash), gas_limit=ctx.gas_limit,
        )

    def charge(self, gas: int) -> None:
        self._c.consume_gas(gas, reason="native contract")

    def sload(self, slot: int) -> int:
        self.charge(NATIVE_GAS["sload"])
        return int(self._state.get_storage(self._msg.storage_address, slot))

    def sload_at(self, address: bytes, slot: int) -> int:
        self.charge(NATIVE_GAS["sload"])
        public = PUBLIC_READS.get()  # a privacy group's world: system contracts read publicly
        if public is not None and address in public.addresses:
            return public.read(bytes(address), slot)
        return int(self._state.get_storage(Address(bytes(address)), slot))

    def native_version(self) -> int:
        """Without gas (`Host.native_version`)."""
        public = PUBLIC_READS.get()  # a privacy group's world: the public chain's version
        if public is not None:
            return public.read(self.address, NATIVE_VERSION_SLOT) or 1
        return int(self._state.get_storage(self._msg.storage_address, NATIVE_VERSION_SLOT)) or 1

    def sstore(self, slot: int, value: int) -> None:
        if self.is_static:
            raise WriteProtection("native contract write inside a static call")
        address = self._msg.storage_address
        schedule = self._gas_schedule
        if schedule is None:
            schedule = self._gas_schedule = self._read_gas_schedule()
        if schedule < 2:
            self.charge(NATIVE_GAS["sstore"])
        else:  # priced by what the slot holds now (`write_gas`)
            self.charge(write_gas(schedule, int(self._state.get_storage(address, slot)),
                                  value))
        self._state.set_storage(address, slot, value)

    def _read_gas_schedule(self) -> int:
        """The chain's native gas schedule, without gas (a privacy group's world: the public
        chain's)."""
        public = PUBLIC_READS.get()
        if public is not None:
            return NATIVE_GAS_RULE.read(public.read)
        return NATIVE_GAS_RULE.read(
            lambda address, slot: self._state.get_storage(Address(address), slot))

    def emit(self, topics: Sequence[bytes], data: bytes) -> None:
        if self.is_static:
            raise WriteProtection("native contract log inside a static call")
        self.charge(log_gas(topics, data))
        self._c.add_log_entry(
            self._msg.storage_address,
            tuple(int.from_bytes(t, "big") for t in topics),
            bytes(data),
        )

    def call(self, to: bytes, data: bytes, value: int = 0,
             gas: int | None = None) -> tuple[bool, bytes]:
        """Call another contract (EVM or native) as this native. Returns (success, output);
        a failed call does not revert the caller."""
        c = self._c
        if value and self.is_static:
            raise WriteProtection("a native contract's call with value inside a static call")
        self.charge(NATIVE_GAS["subcall"])
        gas = child_gas(c.get_gas_remaining(), gas)
        c.consume_gas(gas, reason="native contract subcall")
        target = Address(bytes(to))
        child_msg = c.prepare_child_message(
            gas=gas, to=target, value=value, data=bytes(data),
            code=self._state.get_code(target), code_address=target,
            is_static=self.is_static,
        )
        child = c.apply_child_computation(child_msg)
        c.return_gas(child.get_gas_remaining())
        return child.is_success, bytes(child.output)


def make_precompile(cls: type[NativeContract]) -> Callable[[ComputationAPI], Any]:
    """The py-evm precompile function that serves native contract `cls`."""

    def precompile(computation: ComputationAPI) -> ComputationAPI:
        msg = computation.msg
        if bytes(msg.storage_address) != bytes(cls.address):
            output = computation.output = delegatecall_refusal(cls)
            raise Revert(output)
        contract = cls(host_for(PyEvmHost(computation)))  # a system contract in a private world
        try:
            computation.output = contract.dispatch(bytes(msg.data))
        except VMError:
            raise  # out of gas, write protection, depth: the EVM's own errors
        except Exception as exc:  # a revert, or any bug in a native: the same on every node
            output = computation.output = revert_output(exc)
            raise Revert(output) from None
        return computation

    precompile.__name__ = f"native_{cls.__name__}"
    return precompile



def _serve(cls: type[NativeContract]) -> None:
    install_precompile(bytes(cls.address), make_precompile(cls))


def serve_natives() -> None:
    """Serve every registered native, and each one registered later, as a py-evm precompile
    (the py-evm engine calls this once; idempotent)."""
    on_register(_serve)
