"""Public reads inside a private world: while a privacy group's transactions execute (or a
call runs on a group's private state), native contracts that read another account's storage
(`Host.sload_at`: Permissions' roles and freezes, Governance's members, say) for one of a
given set of addresses read it from the *public* state of that block instead of the group's
own state, which has no such accounts. Nothing else changes: a native's own storage, EVM
code and every write stay in the private world.

The hook is a `ContextVar` (one per thread: the processor thread and API reads each set
their own), consulted by both engines' hosts with one `get` per `sload_at`; `sload` is not
touched. The ledger passes the set of addresses (the system contracts): this package knows
none of them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

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
