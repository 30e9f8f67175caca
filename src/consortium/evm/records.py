"""A record declared once: its storage slots, its ABI tuple and its JSON.

A service's records (an invoice, an asset, a pledge, a member …) were each described in five
places: a dataclass, slot offsets with hand-written reads and writes, an ABI type string with
its tuple packing, positional unpacking in the reader and a JSON shape. A `Record` subclass
says it once:

    class Pledge(Record):
        index: int = key(UINT)                      # the mapping key: not stored
        secured_party: Address                      # slot base + 0 (its type says it all)
        state: str = field(Choice(PLEDGE_STATES))   # base + 1, stored as index + 1
        pledged_at: Uint                            # base + 2
        released_at: int = field(UINT, null_if_zero=True)

    Pledge.load(storage, base, index=3)    # reads base+0 … base+3 (one sload each)
    Pledge.put(storage, base, "state", "released")     # one field, one sstore
    Pledge.put_fields(storage, base, state="released", released_at=9)  # one sstore each
    Pledge.abi_type()     # "(uint256,address,string,uint256,uint256)"
    pledge.abi_tuple()    # packed as the ABI type says
    Pledge.from_abi(t)    # and back
    pledge.to_json()      # {"index": 3, "securedParty": "0x…", "state": "active", …}

Fields sit at consecutive slots from the record's base in declaration order (a `Choice` one
slot; a `SetOf` two: its count and its index mapping), unless `at=` pins an offset. The
layout is consensus-critical: declaration order is storage order, so a field is only ever
appended (or given an explicit `at=`). A field with `stored=False` is computed by the
contract for its answer (ABI and JSON) and has no slot.

A packed record (`class Tranche(Record, packed=True)`) shares words between its fields, as
Solidity packs a struct but filling the first word with room: each field, in declaration
order, takes its type's `bits` (an address 160, a `Choice` or a bool 8, a currency 24; a
uint 256 unless `field(UINT, bits=64)`) at the lowest free bits of the first word that has
them, else a new word. Every field of a packed record is one word's worth (no strings or
sets), a value wider than its bits is refused (`ValueError`) before anything is written, and
a write that sets only some of a word's fields reads that word first. Each slot is a fresh
trie leaf and 20,000 gas: an invoice in five words instead of fourteen (issue 23).

A field type of one slot says how a value becomes its word and back — `word(value)` (raising
for a value it refuses) and `value(word)` — and sets `value_total` when no stored word makes
`value` raise; a type of more slots (`slots`, or a string's data) overrides `load` and
`store` instead.

Every load, get, store and put reads or writes exactly the slots it names and no other, so
gas, and with it every receipt, stays what the hand-written accessors charged. On an engine
that offers batches (`Storage.sloads`, `Storage.sstores`: revm) runs of one-word fields go to
it in one call, the same reads and writes in the same order.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Generic, NoReturn, Self, TypeVar, overload

from consortium.errors import BadValue
from consortium.evm.host import Storage
from consortium.evm.storage import UINT256


def address_word(address: bytes) -> int:
    return int.from_bytes(address, "big")


def word_address(word: int) -> bytes:
    return (word % 2**160).to_bytes(20, "big")


T = TypeVar("T", int, str)


class _StoredSet(Generic[T]):
    """An enumerable set in storage: its count at `slot`, item i at at(slot, i), item k's
    position + 1 at at(slot + 1, k); removing moves the last item into the hole."""

    EMPTY: T

    def __init__(self, storage: Storage, slot: int) -> None:
        self.s = storage
        self.slot = slot

    def _get(self, slot: int) -> T:
        raise NotImplementedError

    def _put(self, slot: int, value: T) -> None:
        raise NotImplementedError

    def __len__(self) -> int:
        return self.s.get_uint(self.slot)

    def item(self, i: int) -> T:
        return self._get(Storage.at(self.slot, i))

    def __iter__(self) -> Iterator[T]:
        return (self.item(i) for i in range(len(self)))

    def __contains__(self, key: T) -> bool:
        return self.s.get_uint(Storage.at(self.slot + 1, key)) != 0

    def add(self, key: T) -> bool:
        # the reads and writes of `key in self`, `len(self)` and the stores, in their order;
        # the key's index slot found once
        s, slot = self.s, self.slot
        index = Storage.at(slot + 1, key)
        if s.get_uint(index):
            return False
        n = s.get_uint(slot)
        self._put(Storage.at(slot, n), key)
        s.set_uint(index, n + 1)
        s.set_uint(slot, n + 1)
        return True

    def remove(self, key: T) -> bool:
        s, slot = self.s, self.slot
        index = Storage.at(slot + 1, key)
        position = s.get_uint(index)
        if position == 0:
            return False
        last = s.get_uint(slot) - 1
        if position - 1 != last:
            moved = self.item(last)
            self._put(Storage.at(slot, position - 1), moved)
            s.set_uint(Storage.at(slot + 1, moved), position)
        self._put(Storage.at(slot, last), self.EMPTY)
        s.set_uint(index, 0)
        s.set_uint(slot, last)
        return True

    def clear(self) -> None:
        for key in list(self):
            self.remove(key)


_TOP = UINT256 - 1  # a set's positions are at slot + 1: the slot-by-slot code needs it a word


class WordSet(_StoredSet[int]):
    """An enumerable set of 32-byte words (addresses, node ids, public keys) in storage.
    On an engine that offers them (`Storage.word_sets`), `add` and `remove` are one call
    into it each, with the same reads, writes and gas as the code above."""

    EMPTY = 0

    def add(self, key: int) -> bool:
        ops = self.s.word_sets
        if ops is not None and key.__class__ is int and 0 <= key < UINT256 and self.slot < _TOP:
            return ops.add(self.slot, key)
        return super().add(key)

    def remove(self, key: int) -> bool:
        ops = self.s.word_sets
        if ops is not None and key.__class__ is int and 0 <= key < UINT256 and self.slot < _TOP:
            return ops.remove(self.slot, key)
        return super().remove(key)

    def _get(self, slot: int) -> int:
        return self.s.get_uint(slot)

    def _put(self, slot: int, value: int) -> None:
        self.s.set_uint(slot, value)


class StringSet(_StoredSet[str]):
    """An enumerable set of strings (office and task force names) in storage."""

    EMPTY = ""

    def _get(self, slot: int) -> str:
        return self.s.get_string(slot)

    def _put(self, slot: int, value: str) -> None:
        self.s.set_string(slot, value)


class WordList:
    """An append-only list of 32-byte words in storage: its length at `slot`, item i at
    at(slot, i)."""

    def __init__(self, storage: Storage, slot: int) -> None:
        self.s = storage
        self.slot = slot

    def __len__(self) -> int:
        return self.s.get_uint(self.slot)

    def __iter__(self) -> Iterator[int]:
        return (self.s.get_uint(Storage.at(self.slot, i)) for i in range(len(self)))

    def append(self, word: int) -> None:
        """The item, then the length (one call where the engine batches writes)."""
        n = len(self)
        writes = [(Storage.at(self.slot, n), word), (self.slot, n + 1)]
        if self.s.sstores is not None and 0 <= word < UINT256:
            self.s.sstores(writes)
            return
        for slot, value in writes:
            self.s.set_uint(slot, value)


class StateView:
    """A contract's typed view over its storage (`StateOf` makes one per call): sets by key,
    counters."""

    def __init__(self, storage: Storage) -> None:
        self.s = storage

    def index(self, mapping: int, *keys: bytes | int) -> WordSet:
        return WordSet(self.s, Storage.at(mapping, *keys))

    def restate(self, mapping: int, names: tuple[str, ...], member: int, old: str,
                new: str) -> None:
        """Move `member` from the set of its state `old` ("": none) to that of `new` (the
        sets of `mapping` keyed by a state's number)."""
        if old:
            self.index(mapping, names.index(old) + 1).remove(member)
        self.index(mapping, names.index(new) + 1).add(member)

    def next_id(self, counter: int) -> int:
        """A new object's id: the counter, one up (ids count from 1)."""
        n = self.s.get_uint(counter) + 1
        self.s.set_uint(counter, n)
        return n


Key = int | bytes | str
Reader = Callable[[Storage, int], Any]  # a field's load: (storage, slot) -> value
Decoder = Callable[[int], Any]  # a one-word field's value: word -> value
# how a record's stored fields are read, step by step: a run of one-word fields read in one
# batch (names, offsets, their decoders: None for the word itself; no reader), or one field
# of more slots (its name, its offset, no decoder, its reader)
ReadStep = tuple[tuple[str, ...], tuple[int, ...], tuple[Decoder | None, ...], Reader | None]
Writer = Callable[[Storage, int, Any], None]  # a field's store: (storage, slot, value)
V = TypeVar("V")
R = TypeVar("R", bound="Record")


class Mapped(Generic[V]):
    """A mapping of a `StateView`, Solidity's `mapping(k => v)` at one slot: a value of a
    field type, or a record, at at(slot, keys…).

        joined = Mapped(BOOL, 4)         # view.joined[group, member] = True
        epochs = Mapped(Epoch, 6)        # view.epochs[group, n] -> Epoch (one sload a field)
    """

    @overload
    def __init__(self: Mapped[R], of: type[R], slot: int) -> None: ...
    @overload
    def __init__(self: Mapped[Any], of: FieldType, slot: int) -> None: ...
    def __init__(self, of: Any, slot: int) -> None:
        self.of, self.slot = of, slot

    def __get__(self, view: StateView, owner: Any = None) -> MappingIn[V]:
        return MappingIn(view.s, self)


class MappingIn(Generic[V]):
    """A `Mapped` over one contract's storage."""

    def __init__(self, storage: Storage, mapped: Mapped[V]) -> None:
        self.s, self.of, self.mapping = storage, mapped.of, mapped.slot

    def at(self, *keys: Key) -> int:
        """The value's slot (a record's base)."""
        return Storage.at(self.mapping, *keys)

    def __getitem__(self, keys: Key | tuple[Key, ...]) -> V:
        base = self.at(*keys) if isinstance(keys, tuple) else self.at(keys)
        return self.of.load(self.s, base)  # type: ignore[no-any-return]

    def __setitem__(self, keys: Key | tuple[Key, ...], value: V) -> None:
        base = self.at(*keys) if isinstance(keys, tuple) else self.at(keys)
        if isinstance(self.of, FieldType):
            self.of.store(self.s, base, value)
        else:
            value.store(self.s, base)  # type: ignore[attr-defined]


class FieldType:
    """How one value is stored (in `slots` consecutive slots), ABI-typed and shown."""

    abi: str = "uint256"
    slots: int = 1
    bits: int = 256  # its width in a packed record's word (`Record`, packed=True)
    # `value` answers every word (no stored word makes it raise): see `ends_reads`
    value_total: bool = False

    def load(self, storage: Storage, slot: int) -> Any:
        """A one-word type says only its `value`; a type in more slots overrides this."""
        return self.value(storage.get_uint(slot))

    def value(self, word: int) -> Any:
        """The value stored as `word` (a type stored in one slot: the inverse of `word`)."""
        return word

    def store(self, storage: Storage, slot: int, value: Any) -> None:
        """A one-word type says only its `word`; a type in more slots overrides this."""
        storage.set_uint(slot, self.word(value))

    def to_abi(self, value: Any) -> Any:
        return value

    def from_abi(self, value: Any) -> Any:
        return value

    def to_json(self, value: Any) -> Any:
        return value

    def is_zero(self, value: Any) -> bool:
        return not value

    @property
    def plain(self) -> bool:
        """Stored as the word itself (no codec): a record reads it with the storage's own
        `get_uint` and writes it with `Storage.set_uint`, one call less each."""
        kind = type(self)
        return (kind.load is FieldType.load and kind.store is FieldType.store
                and kind.word is FieldType.word and kind.value is FieldType.value)

    def word(self, value: Any) -> int:
        """The one word stored for `value` (a type stored in one slot); raises for a value
        the type refuses."""
        if not 0 <= value < UINT256:
            raise ValueError("uint256 out of range")
        return value  # type: ignore[no-any-return]

    @property
    def one_word(self) -> bool:
        """Stored as `word(value)` in one slot (`store` not overridden): a record's fields of
        such types are written in one batch."""
        return type(self).store is FieldType.store

    @property
    def read_word(self) -> bool:
        """Read as `value(word)` of one slot (`load` not overridden): a record's fields of
        such types are read in one batch."""
        return type(self).load is FieldType.load

    @property
    def ends_reads(self) -> bool:
        """Its `value` may raise for a stored word (a corrupt or unknown one: it is
        overridden without `value_total`): a batch of reads ends at such a field, so that
        what it raises comes after exactly the reads before it, as one read at a time."""
        return type(self).value is not FieldType.value and not self.value_total


class _Uint(FieldType):
    pass


class _Int(FieldType):
    abi = "int256"
    value_total = True

    def value(self, word: int) -> Any:
        return word - UINT256 if word >= UINT256 // 2 else word

    def word(self, value: Any) -> int:
        if not -(UINT256 // 2) <= value < UINT256 // 2:
            raise ValueError("int256 out of range")
        return value % UINT256  # type: ignore[no-any-return]


class _Bool(FieldType):
    abi = "bool"
    bits = 8
    value_total = True

    def value(self, word: int) -> Any:
        return word != 0

    def word(self, value: Any) -> int:
        return 1 if value else 0


_HEX = "0123456789abcdef"


def account_hex(value: Any) -> str:
    """A 0x account address, lower-case: the one parser of accounts (BadValue otherwise)."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if not text.startswith("0x") or len(text) != 42 or text[2:].strip(_HEX):
        raise BadValue(f"{value!r} is not a 0x account address")
    return text


def hash_bytes(value: Any, what: str = "hash") -> bytes:
    """A 32-byte hash from 0x hex (64 digits) or bytes: the one parser of hashes."""
    raw = bytes(value) if isinstance(value, bytes) else b""
    text = value.strip().lower().removeprefix("0x") if isinstance(value, str) else ""
    if len(text) == 64 and not text.strip(_HEX):
        raw = bytes.fromhex(text)
    if len(raw) != 32:
        raise BadValue(f"{value!r} is not a {what} (0x and 64 hex digits)")
    return raw


def as_address(value: str | bytes) -> bytes:
    """An ABI-decoded address (eth-abi answers 0x strings) as 20 bytes."""
    return bytes.fromhex(value[2:]) if isinstance(value, str) else bytes(value)


def hex0x(value: bytes | str) -> str:
    """Bytes (or eth-abi's 0x address strings) as lower-case 0x hex."""
    if isinstance(value, str):
        return value.lower()
    return "0x" + bytes(value).hex()


class _Address(FieldType):
    """20 bytes in one word; a subclass names what they are (`noun`) and its ABI and JSON."""

    abi = "address"
    noun = "address"
    bits = 160
    value_total = True

    def value(self, word: int) -> Any:
        return (word % 2**160).to_bytes(20, "big")

    def word(self, value: Any) -> int:
        raw = bytes(value)
        if len(raw) != 20:
            raise ValueError(f"{self.noun} must be 20 bytes")
        return int.from_bytes(raw, "big")

    def from_abi(self, value: Any) -> Any:
        return as_address(value)

    def to_json(self, value: Any) -> Any:
        return hex0x(value)

    def is_zero(self, value: Any) -> bool:
        return not any(self.from_abi(value))


class _Bytes32(_Address):
    abi = "bytes32"
    bits = 256

    def value(self, word: int) -> Any:
        return word.to_bytes(32, "big")

    def word(self, value: Any) -> int:
        raw = bytes(value)
        if len(raw) != 32:
            raise ValueError("bytes32 must be 32 bytes")
        return int.from_bytes(raw, "big")


class _Bytes(_Bytes32):
    abi = "bytes"

    def load(self, storage: Storage, slot: int) -> Any:
        return storage.get_bytes(slot)

    def store(self, storage: Storage, slot: int, value: Any) -> None:
        storage.set_bytes(slot, bytes(value))


class _String(FieldType):
    abi = "string"

    def load(self, storage: Storage, slot: int) -> Any:
        return storage.get_string(slot)

    def store(self, storage: Storage, slot: int, value: Any) -> None:
        storage.set_string(slot, value)


def currency_word(code: str) -> int:
    """An ISO 4217 code as the services store it: its ASCII, big-endian, in one word."""
    return int.from_bytes(code.encode("ascii"), "big")


def currency_text(word: int) -> str:
    return word.to_bytes(3, "big").decode("ascii", errors="replace") if word else ""


class _Currency(FieldType):
    """An ISO 4217 code, stored as its ASCII in one word (0 = none)."""

    abi = "string"
    bits = 24  # three ASCII letters

    def value(self, word: int) -> Any:
        return currency_text(word)

    def word(self, value: Any) -> int:
        return super().word(currency_word(value))


UINT: FieldType = _Uint()
INT: FieldType = _Int()
BOOL: FieldType = _Bool()
ADDRESS: FieldType = _Address()
BYTES32: FieldType = _Bytes32()
BYTES: FieldType = _Bytes()
STRING: FieldType = _String()
CURRENCY: FieldType = _Currency()



class Choice(FieldType):
    """One of `names`, stored as its index + 1 (0: none, answered as ""); a string in the
    ABI and JSON. Names are only ever appended: their numbers are stored."""

    abi = "string"
    bits = 8  # up to 255 names

    def __init__(self, names: tuple[str, ...]) -> None:
        if len(names) > 255:
            raise ValueError("a Choice has at most 255 names")
        self.names = names

    def number(self, name: str) -> int:
        return self.names.index(name) + 1 if name else 0

    def value(self, word: int) -> Any:
        return self.names[word - 1] if word else ""

    def word(self, value: Any) -> int:
        return super().word(self.number(value))


class SetOf(FieldType):
    """An enumerable set of addresses, 32-byte words or ids (`SetOf(UINT)`, answered as
    ints) kept at the field's two slots (a `WordSet`): a tuple of the members in the ABI and
    JSON."""

    slots = 2

    def __init__(self, item: FieldType = ADDRESS) -> None:
        self.item = item
        self.abi = item.abi + "[]"

    def words(self, storage: Storage, slot: int) -> Any:
        return WordSet(storage, slot)

    def load(self, storage: Storage, slot: int) -> Any:
        if self.item is UINT:  # ids, as ints (tuple() reads the count twice: the gas recorded)
            return tuple(self.words(storage, slot))
        width = 20 if self.item is ADDRESS else 32
        return tuple((w % 2 ** (8 * width)).to_bytes(width, "big")
                     for w in self.words(storage, slot))

    def store(self, storage: Storage, slot: int, value: Any) -> None:
        words = self.words(storage, slot)
        words.clear()
        for item in value:
            words.add(int(item) if self.item is UINT else int.from_bytes(bytes(item), "big"))

    def to_abi(self, value: Any) -> Any:
        return [self.item.to_abi(v) for v in value]

    def from_abi(self, value: Any) -> Any:
        return tuple(self.item.from_abi(v) for v in value)

    def to_json(self, value: Any) -> Any:
        return [self.item.to_json(v) for v in value]


class ListOf(FieldType):
    """A `WordList` of ids or addresses at the field's slot: an array in the ABI and JSON."""

    def __init__(self, item: FieldType = UINT) -> None:
        self.item = item
        self.abi = item.abi + "[]"

    def load(self, storage: Storage, slot: int) -> Any:
        words = WordList(storage, slot)
        if self.item is ADDRESS:
            return tuple(word_address(w) for w in words)
        return tuple(words)  # tuple() reads the length twice (hint, loop): the gas recorded

    def store(self, storage: Storage, slot: int, value: Any) -> None:
        words = WordList(storage, slot)
        for item in value:
            words.append(address_word(item) if self.item is ADDRESS else item)

    def to_abi(self, value: Any) -> Any:
        return list(value)

    def from_abi(self, value: Any) -> Any:
        return tuple(self.item.from_abi(v) for v in value)

    def to_json(self, value: Any) -> Any:
        return [self.item.to_json(v) for v in value]


@dataclasses.dataclass(frozen=True)
class FieldSpec:
    """One field of a record: its type, where it is stored, and how it is shown."""

    type: FieldType
    at: int | None = None  # offset from the record's base; None: after the previous field
    stored: bool = True  # False: computed for answers (ABI, JSON), no slot
    is_key: bool = False  # the mapping key the record is found by: not stored
    json: str | None = None  # the JSON key (default: the name in camelCase)
    null_if_zero: bool = False  # JSON null for a zero address, empty string, 0 …
    in_abi: bool = True  # part of the ABI tuple
    in_json: bool = True  # part of the JSON
    name: str = ""  # set when the record class is made
    offset: int = -1  # the resolved offset (stored fields)
    bits: int | None = None  # a packed record's width for it (None: its type's `bits`)
    shift: int = 0  # a packed record's field: its lowest bit in the word at `offset`

    @property
    def width(self) -> int:
        return self.type.bits if self.bits is None else self.bits

    @property
    def json_name(self) -> str:
        if self.json is not None:
            return self.json
        head, *rest = self.name.split("_")
        return head + "".join(w.capitalize() for w in rest)


def field(type_: FieldType, *, at: int | None = None, stored: bool = True,
          json: str | None = None, null_if_zero: bool = False, in_abi: bool = True,
          in_json: bool = True, bits: int | None = None) -> Any:
    """A record field (see the module docstring); `bits`: its width in a packed record."""
    if bits is not None and not 0 < bits <= 256:
        raise ValueError(f"a field's bits are 1 to 256, not {bits}")
    return FieldSpec(type_, at, stored, False, json, null_if_zero, in_abi, in_json, bits=bits)


def key(type_: FieldType = UINT, *, json: str | None = None, in_abi: bool = True) -> Any:
    """The field that names the record (an id, a fingerprint): part of its answers, never
    stored in it (it is the key of the mapping that holds it)."""
    return FieldSpec(type_, None, False, True, json, False, in_abi)


# A field annotated with one of these names (`consortium.evm.field_types`) and no `field(…)`
# is a plain stored field of that type (`price: Uint` is `price: int = field(UINT)`), or the
# uint256 key the record is found by (`id: Id` is `id: int = key(UINT)`).
PLAIN: dict[str, FieldSpec] = {
    name: FieldSpec(t) for name, t in (("Uint", UINT), ("Int", INT), ("Bool", BOOL),
                                       ("Address", ADDRESS), ("Bytes32", BYTES32),
                                       ("Text", STRING), ("Currency", CURRENCY))}
PLAIN["Id"] = key()
PLAIN["Bytes"] = FieldSpec(BYTES)
PLAIN["IdSet"] = FieldSpec(SetOf(UINT))
PLAIN["IdList"] = FieldSpec(ListOf(UINT))


# a packed record's field, for its hot paths: (word offset, shift, mask, the type's `word`
# or None for the word itself, its `value` or None)
Packing = tuple[int, int, int, Callable[[Any], int] | None, Decoder | None]


def _pack(cls_name: str, specs: list[FieldSpec]) -> list[FieldSpec]:
    """A packed record's stored fields placed first-fit (module docstring): each at the
    lowest free bits of the first word with room for its width."""
    used: list[int] = []  # bits taken in each word so far
    placed = []
    for spec in specs:
        if not spec.stored:
            placed.append(spec)
            continue
        kind = spec.type
        if spec.at is not None or not (kind.one_word and kind.read_word):
            raise TypeError(f"{cls_name}.{spec.name}: a packed record's fields are one word "
                            "each and placed by the packing (no at=, strings or sets)")
        width = spec.width
        word = next((i for i, taken in enumerate(used) if taken + width <= 256), len(used))
        if word == len(used):
            used.append(0)
        placed.append(dataclasses.replace(spec, offset=word, shift=used[word]))
        used[word] += width
    return placed


def _packing(spec: FieldSpec) -> Packing:
    kind = spec.type
    plain = type(kind).word is FieldType.word
    decoder = None if type(kind).value is FieldType.value else kind.value
    return spec.offset, spec.shift, (1 << spec.width) - 1, None if plain else kind.word, decoder


def _read_plan(spec: FieldSpec) -> tuple[int, Reader | None, Decoder | None]:
    """A field's (offset, reader, decoder), as `Record._READ` keeps them."""
    kind = spec.type
    if not kind.read_word:
        return spec.offset, kind.load, None
    return spec.offset, None, None if type(kind).value is FieldType.value else kind.value


def _read_steps(stored: Iterable[FieldSpec]) -> tuple[ReadStep, ...]:
    """`Record._STEPS`: runs of one-word fields, each ended by a field of more slots or by
    a field whose decoder may raise (`FieldType.ends_reads`, the run's last)."""
    steps: list[ReadStep] = []
    run: list[FieldSpec] = []

    def close() -> None:
        if run:
            steps.append((tuple(s.name for s in run), tuple(s.offset for s in run),
                          tuple(_read_plan(s)[2] for s in run), None))
            run.clear()

    for spec in stored:
        if not spec.type.read_word:
            close()
            steps.append(((spec.name,), (spec.offset,), (), spec.type.load))
            continue
        run.append(spec)
        if spec.type.ends_reads:
            close()
    close()
    return tuple(steps)


class Record:
    """Base of declared records; subclasses become frozen dataclasses (see the module)."""

    FIELDS: ClassVar[tuple[FieldSpec, ...]] = ()
    BY_NAME: ClassVar[dict[str, FieldSpec]] = {}
    SLOTS: ClassVar[int] = 0  # slots a stored record spans from its base
    STORED: ClassVar[tuple[FieldSpec, ...]] = ()  # the stored fields, in declared order
    # made once per record, for the hot paths: per field its offset, its codec's read (None:
    # one word, read by `storage.get_uint`) with the word's decoder (None: the word itself),
    # and its write function
    _READ: ClassVar[dict[str, tuple[int, Reader | None, Decoder | None]]] = {}
    _WRITE: ClassVar[dict[str, tuple[int, Writer]]] = {}
    _LOAD: ClassVar[tuple[tuple[str, int, Reader | None, Decoder | None], ...]] = ()
    _STEPS: ClassVar[tuple[ReadStep, ...]] = ()  # `load`'s reads with the engine's batches
    _WORD: ClassVar[dict[str, Callable[[Any], int] | None]] = {}  # one-word fields' `word`
    _NAMES: ClassVar[frozenset[str]] = frozenset()  # every field's name
    PACKED: ClassVar[bool] = False  # fields share words (module docstring)
    _PACK: ClassVar[dict[str, Packing]] = {}  # a packed record's stored fields
    _WORD_MASKS: ClassVar[tuple[int, ...]] = ()  # a packed record's bits in use, by word
    _PACK_PLANS: ClassVar[dict[tuple[str, ...], Any]] = {}  # see `_pack_plan`
    _STORED_NAMES: ClassVar[tuple[str, ...]] = ()  # the stored fields' names, in order

    if TYPE_CHECKING:
        def __init__(self, **values: Any) -> None: ...

    def __init_subclass__(cls, packed: bool = False, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        specs: list[FieldSpec] = []
        offset = 0
        for name, annotation in cls.__dict__.get("__annotations__", {}).items():
            spec = cls.__dict__.get(name)
            if spec is None and annotation in PLAIN:  # `price: Uint`: a plain stored field
                spec = PLAIN[annotation]
            if not isinstance(spec, FieldSpec):
                raise TypeError(f"{cls.__name__}.{name} needs field(…) or key(…)")
            resolved = -1
            if spec.stored:
                resolved = offset if spec.at is None else spec.at
                offset = resolved + spec.type.slots
            specs.append(dataclasses.replace(spec, name=name, offset=resolved))
            if name in cls.__dict__:
                delattr(cls, name)  # the dataclass sees a plain, required field
        if packed:
            specs = _pack(cls.__name__, specs)
        elif any(s.bits is not None for s in specs):
            raise TypeError(f"{cls.__name__}: a field's bits count in a packed record only")
        cls.PACKED = packed
        cls.FIELDS = tuple(specs)
        cls.BY_NAME = {s.name: s for s in specs}
        cls.STORED = tuple(s for s in specs if s.stored)
        cls.SLOTS = max((s.offset + s.type.slots for s in specs if s.stored), default=0)
        cls._READ = {s.name: _read_plan(s) for s in specs}
        cls._WRITE = {s.name: (s.offset, Storage.set_uint if s.type.plain else s.type.store)
                      for s in specs}
        cls._WORD = {s.name: s.type.word if s.type.one_word else None for s in specs}
        cls._LOAD = tuple((s.name, *cls._READ[s.name]) for s in cls.STORED)
        cls._STEPS = _read_steps(cls.STORED)
        cls._NAMES = frozenset(s.name for s in specs)
        cls._PACK = {s.name: _packing(s) for s in cls.STORED} if packed else {}
        cls._PACK_PLANS = {}  # names written together -> `_pack_plan`
        cls._STORED_NAMES = tuple(s.name for s in cls.STORED)
        cls._WORD_MASKS = tuple(
            sum(((1 << s.width) - 1) << s.shift for s in cls.STORED if s.offset == i)
            for i in range(cls.SLOTS)) if packed else ()
        dataclasses.dataclass(frozen=True)(cls)

    def with_(self, **changes: Any) -> Self:
        """A copy with some fields changed (the computed ones of an answer, say)."""
        return dataclasses.replace(self, **changes)  # type: ignore[type-var]

    # --- storage -------------------------------------------------------------------------

    @classmethod
    def stored_fields(cls) -> Iterator[FieldSpec]:
        return iter(cls.STORED)

    @classmethod
    def load(cls, storage: Storage, base: int, **values: Any) -> Self:
        """The record at `base`: every stored field read once, in declared order; keys and
        computed fields from `values`. With the engine's batch (`Storage.sloads`), runs of
        one-word fields are read in one call: the same reads, gas and order, and whatever a
        stored word makes a field's decoder raise is raised after the reads before it. A
        packed record reads all its words, then decodes."""
        get, sloads = storage.get_uint, storage.sloads
        if cls.PACKED:
            words = cls._read_words(storage, [base + i for i in range(cls.SLOTS)])
            for name, (offset, shift, mask, _, value) in cls._PACK.items():
                part = (words[offset] >> shift) & mask
                values[name] = part if value is None else value(part)
        elif sloads is None:
            for name, offset, read, value in cls._LOAD:
                if read is not None:
                    values[name] = read(storage, base + offset)
                else:
                    word = get(base + offset)
                    values[name] = word if value is None else value(word)
        else:
            for names, offsets, decoders, read in cls._STEPS:
                if read is not None:
                    values[names[0]] = read(storage, base + offsets[0])
                    continue
                words = (sloads([base + offset for offset in offsets]) if len(offsets) > 1
                         else [get(base + offsets[0])])
                for name, value, word in zip(names, decoders, words, strict=True):
                    values[name] = word if value is None else value(word)
        if values.keys() != cls._NAMES:
            return cls(**values)  # the dataclass's own complaint
        # every field named: the record made without the frozen dataclass's __init__ (an
        # object.__setattr__ per field, ~1.5 µs a record of 15), to the same fields
        record = object.__new__(cls)
        record.__dict__.update(values)
        return record

    def store(self, storage: Storage, base: int) -> None:
        """Write every stored field (a new record)."""
        if self.PACKED:
            names = self._STORED_NAMES
            self._write_packed(storage, base, names, [getattr(self, n) for n in names])
            return
        self._write(storage, base, ((s.name, getattr(self, s.name)) for s in self.STORED))

    @staticmethod
    def _read_words(storage: Storage, slots: list[int]) -> list[int]:
        """Words in order, in one call where the engine batches reads."""
        sloads = storage.sloads
        if sloads is not None and len(slots) > 1:
            return sloads(slots)
        return [storage.get_uint(slot) for slot in slots]

    @classmethod
    def get(cls, storage: Storage, base: int, name: str) -> Any:
        """One stored field (one read)."""
        if cls.PACKED:
            offset, shift, mask, _, decode = cls._PACK[name]
            part = (storage.get_uint(base + offset) >> shift) & mask
            return part if decode is None else decode(part)
        offset, read, value = cls._READ[name]
        if read is not None:
            return read(storage, base + offset)
        word = storage.get_uint(base + offset)
        return word if value is None else value(word)

    @classmethod
    def put(cls, storage: Storage, base: int, name: str, value: Any) -> None:
        """One stored field (one write; in a packed record a read of its word first, unless
        the field fills it)."""
        if cls.PACKED:  # one field: its word read unless the field fills it, then written
            offset, shift, mask, part = cls._packed_part(name, value)
            slot, bits = base + offset, mask << shift
            if bits != cls._WORD_MASKS[offset]:
                part = (storage.get_uint(slot) & ~bits) | (part << shift)
            else:
                part <<= shift
            storage.set_uint(slot, part)
            return
        offset, write = cls._WRITE[name]
        write(storage, base + offset, value)

    @classmethod
    def put_fields(cls, storage: Storage, base: int, **values: Any) -> None:
        """Some stored fields, one write each, in the order given (a record's first writes,
        a transition's)."""
        if cls.PACKED:  # the names are the plan's key
            cls._write_packed(storage, base, tuple(values), values.values())
            return
        cls._write(storage, base, values.items())

    @classmethod
    def _write(cls, storage: Storage, base: int, items: Iterable[tuple[str, Any]]) -> None:
        """Fields in order, one write each. With the engine's batch (`Storage.sstores`), runs
        of one-word fields go in one call: the same writes, gas and order, and whatever a
        field's value makes `store` raise is raised after the writes before it."""
        plan, batch_write = cls._WRITE, storage.sstores
        if batch_write is None:
            for name, value in items:
                offset, write = plan[name]
                write(storage, base + offset, value)
            return
        words, batch = cls._WORD, []
        try:
            for name, value in items:
                word = words[name]
                if word is not None:
                    batch.append((base + plan[name][0], word(value)))
                    continue
                if batch:
                    pending, batch = batch, []
                    batch_write(pending)
                offset, write = plan[name]
                write(storage, base + offset, value)
        finally:
            if batch:
                batch_write(batch)

    @classmethod
    def _packed_part(cls, name: str, value: Any) -> tuple[int, int, int, int]:
        """A packed field's (word offset, shift, mask) and `value`'s bits, refused
        (`ValueError`) when they do not fit its width."""
        offset, shift, mask, word, _ = cls._PACK[name]
        part = value if word is None else word(value)
        if part.__class__ is not int or part < 0 or part > mask:
            cls._too_wide(name)
        return offset, shift, mask, part

    @classmethod
    def _too_wide(cls, name: str) -> NoReturn:
        raise ValueError(f"{cls.__name__}.{name} does not fit its {cls.BY_NAME[name].width} bits")

    @classmethod
    def _write_packed(cls, storage: Storage, base: int, names: tuple[str, ...],
                      values: Iterable[Any]) -> None:
        """A packed record's fields: every value checked first (nothing written if one is
        refused), then the words only partly given read (in order), then every word touched
        written once (in order). The plan for a set of names (which words, which of them
        read first) is made once per record class and names."""
        plan = cls._PACK_PLANS.get(names)
        if plan is None:
            plan = cls._pack_plan(names)
        parts, slots, partial, keep = plan
        words = [0] * len(slots)
        for (index, shift, mask, word, name), value in zip(parts, values, strict=True):
            part = value if word is None else word(value)
            if part.__class__ is not int or part < 0 or part > mask:
                cls._too_wide(name)
            words[index] |= part << shift
        if partial:
            old = cls._read_words(storage, [base + slots[i] for i in partial])
            for i, stored in zip(partial, old, strict=True):
                words[i] |= stored & keep[i]
        if storage.sstores is not None and len(slots) > 1:
            storage.sstores([(base + o, w) for o, w in zip(slots, words, strict=True)])
        else:
            for offset, word_value in zip(slots, words, strict=True):
                storage.set_uint(base + offset, word_value)

    @classmethod
    def _pack_plan(cls, names: tuple[str, ...]) -> tuple[
            tuple[tuple[int, int, int, Any, str], ...], tuple[int, ...], tuple[int, ...],
            tuple[int, ...]]:
        """For `_write_packed`: each name's (index among the words touched, shift, mask,
        encoder, name); the words touched (offsets, ascending); the indexes of those only
        partly given (read first); by index, the bits kept from the stored word."""
        if len(set(names)) != len(names):
            raise ValueError(f"{cls.__name__}: a field named twice in one write")
        given: dict[int, int] = {}
        for name in names:
            offset, shift, mask, _, _ = cls._PACK[name]
            given[offset] = given.get(offset, 0) | (mask << shift)
        slots = tuple(sorted(given))
        index = {offset: i for i, offset in enumerate(slots)}
        parts = tuple((index[offset], shift, mask, word, n)
                      for n in names for offset, shift, mask, word, _ in (cls._PACK[n],))
        full = cls._WORD_MASKS
        partial = tuple(i for i, o in enumerate(slots) if given[o] != full[o])
        keep = tuple(~given[o] for o in slots)
        plan = (parts, slots, partial, keep)
        cls._PACK_PLANS[names] = plan
        return plan

    @classmethod
    def slot(cls, base: int, name: str) -> int:
        """Where a stored field is (for a `SetOf`: its `WordSet`'s slot)."""
        return base + cls.BY_NAME[name].offset

    # --- ABI -----------------------------------------------------------------------------

    @classmethod
    def abi_fields(cls) -> list[FieldSpec]:
        return [s for s in cls.FIELDS if s.in_abi]

    @classmethod
    def abi_type(cls) -> str:
        """The record as one ABI tuple type, e.g. "(uint256,address,string)"."""
        return "(" + ",".join(s.type.abi for s in cls.abi_fields()) + ")"

    def abi_tuple(self) -> tuple[Any, ...]:
        return tuple(s.type.to_abi(getattr(self, s.name)) for s in self.abi_fields())

    @classmethod
    def from_abi(cls, values: Any, **extra: Any) -> Self:
        """The record from its decoded ABI tuple (fields outside the ABI from `extra`)."""
        fields = cls.abi_fields()
        if len(values) != len(fields):
            raise ValueError(f"{cls.__name__} has {len(fields)} ABI fields, got {len(values)}")
        out = {s.name: s.type.from_abi(v) for s, v in zip(fields, values, strict=True)}
        return cls(**out, **extra)

    # --- JSON ----------------------------------------------------------------------------

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in self.FIELDS:
            if not spec.in_json:
                continue
            value = getattr(self, spec.name)
            if spec.null_if_zero and spec.type.is_zero(value):
                out[spec.json_name] = None
            else:
                out[spec.json_name] = spec.type.to_json(value)
        return out


def packed_copy(record: type[R], name: str, **bits: int) -> type[R]:
    """`record`'s fields, ABI and JSON as a packed record (`bits`: widths by field name),
    placed by the packing in declaration order (an `at=` of `record` does not carry over):
    a new layout version of a record whose answers stay the same. A subclass of `record`:
    its methods, properties and isinstance checks hold for either layout."""
    unknown = set(bits) - {s.name for s in record.STORED}
    if unknown:
        raise TypeError(f"{record.__name__} has no stored field {', '.join(sorted(unknown))}")
    namespace: dict[str, Any] = {
        "__annotations__": {s.name: record.__annotations__[s.name] for s in record.FIELDS},
        "__module__": record.__module__, "__doc__": f"{record.__name__}, packed.",
        **{s.name: dataclasses.replace(s, bits=bits.get(s.name), at=None, offset=-1, shift=0)
           for s in record.FIELDS},
    }
    return type(name, (record,), namespace, packed=True)


__all__ = [
    "ADDRESS",
    "PLAIN",
    "BOOL",
    "BYTES",
    "BYTES32",
    "CURRENCY",
    "INT",
    "STRING",
    "UINT",
    "Choice",
    "FieldSpec",
    "FieldType",
    "ListOf",
    "Mapped",
    "Record",
    "SetOf",
    "StateView",
    "WordList",
    "field",
    "hex0x",
    "key",
    "packed_copy",
]
