"""Public reads inside a private world: while a privacy group's transactions execute (or a
call runs on a group's private state), native contracts that read another account's storage
(`Host.sload_at`: Permissions' roles and freezes, Governance's members, say) for one of a
given set of addresses read it from the *public* state of that block instead of the group's
own state, which has no such accounts. Nothing else changes: the other natives' own
storage, EVM code and every write stay in the private world.

A native *at* one of those addresses called inside the private world (a private contract
asking Permissions' `hasRole`, say) runs on `PublicHost`: its own storage read from the
public state too, and read-only (a write or an event is refused as in a static call), so it
answers what it answers on the public chain and changes nothing.

The hook is a `ContextVar` (one per thread: the processor thread and API reads each set
their own), consulted by both engines' hosts with one `get` per `sload_at` and per native
call; `sload` is not touched. The ledger passes the set of addresses (the system
contracts): this package knows none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING

from eth.exceptions import WriteProtection

from consortium.evm.native import NATIVE_GAS

if TYPE_CHECKING:
    from consortium.evm.storage import BlockInfo, Host

# (address, slot) -> value, over the public state at one height
PublicReader = Callable[[bytes, int], int]


@dataclass(frozen=True, slots=True)
class PublicReads:
    """Which addresses are read publicly, and the reader of the public state."""

    addresses: frozenset[bytes]
    read: PublicReader


ACTIVE: ContextVar[PublicReads | None] = ContextVar("consortium_public_reads", default=None)


@contextmanager
def public_reads(addresses: Iterable[bytes], read: PublicReader) -> Iterator[PublicReads]:
    """Within this block, natives' `sload_at` of any of `addresses` answers `read`."""
    reads = PublicReads(frozenset(bytes(a) for a in addresses), read)
    token = ACTIVE.set(reads)
    try:
        yield reads
    finally:
        ACTIVE.reset(token)


def cached(read: PublicReader) -> PublicReader:
    """`read` remembering its answers (one height's public state never changes)."""
    seen: dict[tuple[bytes, int], int] = {}

    def read_cached(address: bytes, slot: int) -> int:
        key = (address, slot)
        value = seen.get(key)
        if value is None:
            value = seen[key] = read(address, slot)
        return value

    return read_cached


class PublicHost:
    """The host of a native whose own state is public (a system contract) called inside a
    private world: reads from the public state, no writes, no events."""

    def __init__(self, host: Host, read: PublicReader) -> None:
        self._host = host
        self._read = read
        self.address = host.address
        self.caller = host.caller
        self.origin = host.origin
        self.value = host.value
        self.is_static = True

    @property
    def block(self) -> BlockInfo:
        return self._host.block

    def charge(self, gas: int) -> None:
        self._host.charge(gas)

    def sload(self, slot: int) -> int:
        self._host.charge(NATIVE_GAS["sload"])
        return self._read(self.address, slot)

    def sload_at(self, address: bytes, slot: int) -> int:
        return self._host.sload_at(address, slot)

    def native_version(self) -> int:
        return self._host.native_version()  # the public chain's, without gas

    def sstore(self, slot: int, value: int) -> None:
        raise WriteProtection("a public system contract is read-only inside a privacy group")

    def emit(self, topics: Sequence[bytes], data: bytes) -> None:
        raise WriteProtection("a public system contract is read-only inside a privacy group")

    def call(self, to: bytes, data: bytes, value: int = 0,
             gas: int | None = None) -> tuple[bool, bytes]:
        return self._host.call(to, data, value, gas)


def host_for(host: Host) -> Host:
    """`host`, or a `PublicHost` over it when its native's state is read publicly here."""
    public = ACTIVE.get()
    if public is not None and host.address in public.addresses:
        return PublicHost(host, public.read)
    return host
