"""What a native contract sees of the engine: the `Host` interface, its typed storage
(`Storage`) and `SlotHost`, the storage part of a host outside any EVM call.

Engine-free: `consortium.evm.native` builds on it, and each engine's adapter (`PyEvmHost` in
`consortium.evm.host`, the revm frame host in `consortium.evm.revm_engine`) implements `Host`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from eth_hash.auto import keccak

try:  # safe-pysha3 (a dependency) straight: eth_hash's wrappers cost 3x the hash itself
    from sha3 import keccak_256 as _keccak_256  # type: ignore[import-untyped]
except ImportError:  # pragma: no cover
    _keccak_256 = None

UINT256 = 2**256
_SLOT_CACHE_MAX = 1 << 16  # mapping slots remembered (a pure function of slot and key)
_slot_cache: dict[tuple[int, tuple[Any, ...]], int] = {}
_HASHABLE = frozenset({int, bool, bytes, str})
# Where a native contract's version sits in its own storage (a hashed slot, like ERC-1967's,
# so it never meets a contract's numbered slots); unset reads as version 1
# (`consortium.system.upgrade_plan`, `Host.native_version`).
NATIVE_VERSION_SLOT = int.from_bytes(keccak(b"consortium.native.version"), "big") - 1


@dataclass(frozen=True)
class BlockInfo:
    number: int
    timestamp: int
    coinbase: bytes
    chain_id: int
    prevrandao: bytes
    gas_limit: int


class Host(Protocol):
    """What a native contract may know and do during one call."""

    @property
    def address(self) -> bytes: ...  # the native's own address

    @property
    def caller(self) -> bytes: ...  # msg.sender

    @property
    def origin(self) -> bytes: ...  # tx.origin

    @property
    def value(self) -> int: ...  # wei sent with the call

    @property
    def is_static(self) -> bool: ...  # inside STATICCALL: writes fail

    @property
    def block(self) -> BlockInfo: ...

    def charge(self, gas: int) -> None: ...

    def sload(self, slot: int) -> int: ...

    def sstore(self, slot: int, value: int) -> None: ...

    def sload_at(self, address: bytes, slot: int) -> int: ...  # another account's storage

    # The native's version (its NATIVE_VERSION_SLOT; unset: 1), read without gas: a chain
    # rule, as an EVM fork's rules cost a contract nothing, so a rule gated on a version
    # leaves the gas of every call unchanged on a chain still at the version before. In a
    # privacy group's world it is the public chain's (the version is the chain's, not the
    # group's).
    def native_version(self) -> int: ...

    def emit(self, topics: Sequence[bytes], data: bytes) -> None: ...

    def call(self, to: bytes, data: bytes, value: int = 0,
             gas: int | None = None) -> tuple[bool, bytes]: ...


class WordSetOps(Protocol):
    """A host's `WordSet.add`/`remove` in one step each (`Storage.word_sets`): exactly the
    reads, writes and gas of the set's slot-by-slot code (`consortium.evm.records`)."""

    def add(self, slot: int, key: int) -> bool: ...

    def remove(self, slot: int, key: int) -> bool: ...


class Storage:
    """Typed values over the native's EVM storage slots, laid out as Solidity does:
    `at(slot, key, …)` is the slot of mapping entry [key]…; dynamic bytes/strings keep their
    length at the slot and their data from keccak(slot) on.

    `Storage(host, address)` reads another account's storage (another native's state, say)
    through the same typed getters; it is read-only: setters raise `ReadOnlyStorage`."""

    def __init__(self, host: Host, address: bytes | None = None) -> None:
        self.host: Any = host if address is None else _ForeignSlots(host, bytes(address))
        # the hottest read, one call less: the host's own sload (gas and all) is get_uint
        self.get_uint = self.host.sload  # type: ignore[method-assign]
        # the engine's own set operations and batched writes, when the host has them (its
        # own storage only): `sloads([slot, …])` reads each in order and `sstores([(slot,
        # value), …])` writes each in order, charged each as one `sload`/`sstore` is
        own = address is None
        self.sloads: Callable[[list[int]], list[int]] | None = (
            getattr(host, "sloads", None) if own else None)
        self.word_sets: WordSetOps | None = getattr(host, "word_sets", None) if own else None
        self.sstores: Callable[[list[tuple[int, int]]], None] | None = (
            getattr(host, "sstores", None) if own else None)

    @staticmethod
    def at(slot: int, *keys: int | bytes | str | bool) -> int:
        # memoized by (slot, keys), one look-up for a nested key too: the same entries recur
        # within a call and across calls. A key equal to a remembered one of another kind
        # (True and 1, a memoryview and its bytes) has the same slot.
        entry = (slot, keys)
        try:
            found = _slot_cache.get(entry)
        except TypeError:  # a bytearray …: not remembered
            return _fold(slot, keys)
        if found is None:
            # a nested key's outer entries are remembered on the way
            found = _fold(slot, keys) if len(keys) < 2 else \
                Storage.at(Storage.at(slot, *keys[:-1]), keys[-1])
            if all(key.__class__ in _HASHABLE for key in keys):
                if len(_slot_cache) >= _SLOT_CACHE_MAX:
                    _slot_cache.clear()
                _slot_cache[entry] = found
        return found

    def get_uint(self, slot: int) -> int:
        return self.host.sload(slot)

    def set_uint(self, slot: int, value: int) -> None:
        if not 0 <= value < UINT256:
            raise ValueError("uint256 out of range")
        self.host.sstore(slot, value)

    def get_int(self, slot: int) -> int:
        raw = self.host.sload(slot)
        return raw - UINT256 if raw >= UINT256 // 2 else raw

    def set_int(self, slot: int, value: int) -> None:
        if not -(UINT256 // 2) <= value < UINT256 // 2:
            raise ValueError("int256 out of range")
        self.host.sstore(slot, value % UINT256)

    def get_bool(self, slot: int) -> bool:
        return self.host.sload(slot) != 0

    def set_bool(self, slot: int, value: bool) -> None:
        self.host.sstore(slot, 1 if value else 0)

    def get_address(self, slot: int) -> bytes:
        return (self.host.sload(slot) % 2**160).to_bytes(20, "big")

    def set_address(self, slot: int, value: bytes) -> None:
        if len(value) != 20:
            raise ValueError("address must be 20 bytes")
        self.host.sstore(slot, int.from_bytes(value, "big"))

    def get_bytes32(self, slot: int) -> bytes:
        return self.host.sload(slot).to_bytes(32, "big")

    def set_bytes32(self, slot: int, value: bytes) -> None:
        if len(value) != 32:
            raise ValueError("bytes32 must be 32 bytes")
        self.host.sstore(slot, int.from_bytes(value, "big"))

    def get_bytes(self, slot: int) -> bytes:
        length = self.host.sload(slot)
        base = int.from_bytes(_hash(slot.to_bytes(32, "big")), "big")
        data = b"".join(self.host.sload(base + i).to_bytes(32, "big")
                        for i in range((length + 31) // 32))
        return data[:length]

    def set_bytes(self, slot: int, value: bytes) -> None:
        old_length = self.host.sload(slot)
        base = int.from_bytes(_hash(slot.to_bytes(32, "big")), "big")
        words = (len(value) + 31) // 32
        padded = value.ljust(words * 32, b"\x00")
        for i in range(words):
            self.host.sstore(base + i, int.from_bytes(padded[32 * i:32 * i + 32], "big"))
        for i in range(words, (old_length + 31) // 32):
            self.host.sstore(base + i, 0)
        self.host.sstore(slot, len(value))

    def get_string(self, slot: int) -> str:
        return self.get_bytes(slot).decode("utf-8", errors="replace")

    def set_string(self, slot: int, value: str) -> None:
        self.set_bytes(slot, value.encode("utf-8"))


class ReadOnlyStorage(Exception):
    """A write through a `Storage` over another account's slots."""


class _ForeignSlots:
    """Another account's slots, as `Storage` wants them: reads only."""

    def __init__(self, host: Host, address: bytes) -> None:
        self._host = host
        self._address = address

    def sload(self, slot: int) -> int:
        return self._host.sload_at(self._address, slot)

    def sstore(self, slot: int, value: int) -> None:
        raise ReadOnlyStorage(f"0x{self._address.hex()}'s storage is read-only here")


class SlotHost:
    """The storage part of a `Host` outside any EVM call: one account's slots over a
    world state's `get_storage` (and, when building genesis, `set_storage`). No gas, no
    logs. The ledger reads the system natives' state through it; genesis writes it."""

    def __init__(self, address: bytes, get_storage: Callable[[bytes, int], int],
                 set_storage: Callable[[bytes, int, int], None] | None = None) -> None:
        self.address = bytes(address)
        self._get = get_storage
        self._set = set_storage

    def sload(self, slot: int) -> int:
        return self._get(self.address, slot)

    def sload_at(self, address: bytes, slot: int) -> int:
        return self._get(bytes(address), slot)

    def native_version(self) -> int:
        return self._get(self.address, NATIVE_VERSION_SLOT) or 1

    def sstore(self, slot: int, value: int) -> None:
        if self._set is None:
            raise ReadOnlyStorage(f"0x{self.address.hex()}'s storage is read-only here")
        self._set(self.address, slot, value)


def _fold(slot: int, keys: tuple[int | bytes | str | bool, ...]) -> int:
    """Solidity's mapping slot of `keys` under `slot`, hashed key by key."""
    for key in keys:
        slot = int.from_bytes(_hash(_word(key) + slot.to_bytes(32, "big")), "big")
    return slot


def _hash(data: bytes) -> bytes:
    """keccak256 of `data` (safe-pysha3 directly when present)."""
    if _keccak_256 is not None:
        return _keccak_256(data).digest()  # type: ignore[no-any-return]
    return keccak(data)


def _word(key: int | bytes | str | bool) -> bytes:
    """A mapping key as Solidity hashes it: value types as 32-byte words (20-byte keys are
    addresses, left-padded), strings and other bytes as their raw bytes."""
    if isinstance(key, bool):
        return (1 if key else 0).to_bytes(32, "big")
    if isinstance(key, int):
        return (key % UINT256).to_bytes(32, "big")
    if isinstance(key, str):
        return key.encode("utf-8")
    key = bytes(key)
    return key.rjust(32, b"\x00") if len(key) == 20 else key
