"""Records declared once (`consortium.evm.records`): the slots they read and write are the
ones a hand-written layout uses (one read or write per field, nothing else), and their ABI
tuple and JSON follow the declaration."""

from __future__ import annotations

from typing import Any

import pytest
from eth_abi import decode, encode

from consortium.evm.field_types import Bytes32, IdList, IdSet, Uint
from consortium.evm.host import SlotHost, Storage
from consortium.evm.records import (
    ADDRESS,
    BOOL,
    BYTES32,
    CURRENCY,
    STRING,
    UINT,
    Choice,
    FieldType,
    Mapped,
    Record,
    SetOf,
    StateView,
    field,
    key,
)

STATES = ("applied", "registered", "retired")
A, B = b"\x11" * 20, b"\x22" * 20


class Slots:
    """A world's storage for one account, counting reads and writes."""

    def __init__(self) -> None:
        self.words: dict[int, int] = {}
        self.reads: list[int] = []
        self.writes: list[int] = []

    def storage(self) -> Storage:
        def get(_a: bytes, slot: int) -> int:
            self.reads.append(slot)
            return self.words.get(slot, 0)

        def put(_a: bytes, slot: int, value: int) -> None:
            self.writes.append(slot)
            self.words[slot] = value

        return Storage(SlotHost(b"\x00" * 20, get, put))  # type: ignore[arg-type]


class Asset(Record):
    id: int = key(UINT)
    owner: bytes = field(ADDRESS)
    state: str = field(Choice(STATES))
    registrars: tuple[bytes, ...] = field(SetOf(ADDRESS))
    name: str = field(STRING)
    hash: bytes = field(BYTES32, json="docHash")
    pending: bytes = field(ADDRESS, null_if_zero=True)
    flagged: bool = field(BOOL, at=20)
    approvals: int = field(UINT, stored=False)


def test_fields_sit_in_declaration_order_and_sets_take_two_slots() -> None:
    offsets = {f.name: f.offset for f in Asset.stored_fields()}
    assert offsets == {"owner": 0, "state": 1, "registrars": 2, "name": 4, "hash": 5,
                       "pending": 6, "flagged": 20}
    assert Asset.SLOTS == 21
    assert Asset.abi_type() == ("(uint256,address,string,address[],string,bytes32,address,bool,"
                                "uint256)")


def test_load_and_store_touch_exactly_their_slots() -> None:
    slots = Slots()
    s = slots.storage()
    base = Storage.at(4, 7)
    asset = Asset(id=7, owner=A, state="registered", registrars=(A, B), name="Parcel 42",
                  hash=b"\x05" * 32, pending=b"\x00" * 20, flagged=True, approvals=2)
    asset.store(s, base)
    # the same words a hand-written layout writes
    assert slots.words[base] == int.from_bytes(A, "big")
    assert slots.words[base + 1] == 2  # "registered": index + 1
    assert slots.words[base + 2] == 2  # the set's count
    assert s.get_string(base + 4) == "Parcel 42"
    assert s.get_bytes32(base + 5) == b"\x05" * 32
    assert slots.words[base + 20] == 1
    slots.reads.clear()
    loaded = Asset.load(s, base, id=7, approvals=2)
    assert loaded == asset
    slots.reads.clear()
    assert Asset.get(s, base, "state") == "registered" and slots.reads == [base + 1]
    slots.writes.clear()
    Asset.put(s, base, "state", "retired")
    assert slots.writes == [base + 1] and slots.words[base + 1] == 3
    slots.writes.clear()
    Asset.put_fields(s, base, flagged=False, owner=B)  # one write each, in the order given
    assert slots.writes == [base + 20, base] and slots.words[base] == int.from_bytes(B, "big")


def test_abi_tuple_round_trips_and_json_follows_the_declaration() -> None:
    asset = Asset(id=7, owner=A, state="applied", registrars=(B,), name="x",
                  hash=b"\x05" * 32, pending=b"\x00" * 20, flagged=False, approvals=1)
    data = encode([Asset.abi_type()], [asset.abi_tuple()])
    (decoded,) = decode([Asset.abi_type()], data)
    assert Asset.from_abi(decoded) == asset
    assert asset.to_json() == {
        "id": 7, "owner": "0x" + A.hex(), "state": "applied", "registrars": ["0x" + B.hex()],
        "name": "x", "docHash": "0x" + "05" * 32, "pending": None, "flagged": False,
        "approvals": 1,
    }


def test_a_field_without_a_declaration_is_refused() -> None:
    with pytest.raises(TypeError, match="needs field"):
        class Bad(Record):  # noqa: F841
            amount: int = 5  # type: ignore[assignment]

    def make() -> Any:
        class Missing(Record):
            amount: int  # type: ignore[misc]
        return Missing

    with pytest.raises(TypeError, match="needs field"):
        make()


def test_a_currency_is_one_word_of_ascii_and_a_string_outside() -> None:
    class Price(Record):
        amount: int = field(UINT)
        currency: str = field(CURRENCY)

    slots = Slots()
    s = slots.storage()
    Price(amount=5, currency="CNY").store(s, 100)
    assert slots.words[101] == int.from_bytes(b"CNY", "big") and slots.writes == [100, 101]
    price = Price.load(s, 100)
    assert price.currency == "CNY" and Price.abi_type() == "(uint256,string)"
    assert price.to_json() == {"amount": 5, "currency": "CNY"}


class Pair(Record):
    first: Bytes32
    count: Uint
    ids: IdSet  # two slots
    later: IdList


class PairState(StateView):
    pairs = Mapped(Pair, 7)
    flags = Mapped(BOOL, 8)


def test_a_mapping_reads_and_writes_the_slots_a_hand_written_layout_uses() -> None:
    slots = Slots()
    st = PairState(slots.storage())
    base = Storage.at(7, b"\x01" * 32, 3)
    st.pairs[b"\x01" * 32, 3] = Pair(first=b"\x02" * 32, count=5, ids=(4, 9), later=(1,))
    assert slots.words[base] == int.from_bytes(b"\x02" * 32, "big")
    assert slots.words[base + 1] == 5
    assert slots.words[base + 2] == 2 and slots.words[Storage.at(base + 3, 9)] == 2
    assert slots.words[base + 4] == 1 and slots.words[Storage.at(base + 4, 0)] == 1
    got = st.pairs[b"\x01" * 32, 3]
    assert (got.count, got.ids, got.later) == (5, (4, 9), (1,))  # ids as ints
    assert st.pairs.at(b"\x01" * 32, 3) == base
    slots.writes.clear()
    st.flags[A] = True
    assert slots.writes == [Storage.at(8, A)] and st.flags[A] is True
    assert st.flags[B] is False


def test_a_one_word_field_type_stores_exactly_its_word() -> None:
    """Records batch the writes of one-word fields (`FieldType.word`, on an engine with
    `Storage.sstores`): for every such type of the framework and the services, `store` writes
    just `word(value)` at the field's slot, and a value `store` refuses `word` refuses too."""
    from consortium.apps.invoices.state import DATE
    from consortium.apps.securities.state import ISIN, JURISDICTION, SIDE, UINT8
    from consortium.evm.records import INT
    from consortium.system.state import NODE_ID

    samples: list[tuple[Any, list[Any]]] = [
        (UINT, [0, 7, 2**256 - 1, -1, 2**256]), (INT, [0, -5, 2**255 - 1, -(2**255), 2**255]),
        (BOOL, [True, False, 0, 3]), (ADDRESS, [A, b"\x01" * 19]), (BYTES32, [b"\x02" * 32, A]),
        (CURRENCY, ["CNY", "USD"]), (Choice(STATES), ["applied", "retired", "", "lost"]),
        (DATE, [20250630]), (ISIN, ["US0378331005"]), (JURISDICTION, ["CN"]), (SIDE, [1, 2]),
        (UINT8, [3]), (NODE_ID, [b"\x03" * 20, b"\x03" * 21]),
    ]
    for ftype, values in samples:
        assert ftype.one_word, ftype
        for value in values:
            slots = Slots()
            try:
                ftype.store(slots.storage(), 5, value)
            except Exception as exc:
                with pytest.raises(type(exc)):
                    ftype.word(value)
                continue
            assert slots.writes == [5] and slots.words == {5: ftype.word(value)}, (ftype, value)
    # a type stored in more than one slot, or by a codec of its own, is written as before
    assert not STRING.one_word and not SetOf(ADDRESS).one_word
    # and the samples cover every kind of one-word type the packages declare
    assert {type(t) for t in _declared_one_word_types()} <= {type(t) for t, _ in samples}


def _declared_one_word_types() -> list[FieldType]:
    """Every one-word field type of the framework's, the system's and the services' modules
    and of the records they declare (a choice is made inside its record's declaration)."""
    import importlib
    import pkgutil

    import consortium.apps
    import consortium.evm.records
    import consortium.system

    modules: list[Any] = [consortium.evm.records]
    for package in (consortium.apps, consortium.system):
        modules += [importlib.import_module(m.name) for m in
                    pkgutil.walk_packages(package.__path__, package.__name__ + ".")]
    found = [v for m in modules for v in vars(m).values() if isinstance(v, FieldType)]
    records: list[type[Record]] = [Record]
    while records:
        cls = records.pop()
        records += cls.__subclasses__()
        found += [spec.type for spec in cls.FIELDS]
    return [t for t in found if t.one_word]


class BatchSlots(Slots):
    """`Slots` whose storage also reads in batches (`Storage.sloads`, as the engine does),
    each batch noted."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[int]] = []

    def storage(self) -> Storage:
        plain = super().storage()
        slots = self

        class Host(SlotHost):
            def sloads(self, wanted: list[int]) -> list[int]:
                slots.batches.append(list(wanted))
                return [self.sload(slot) for slot in wanted]

        return Storage(Host(b"\x00" * 20, plain.host._get, plain.host._set))  # type: ignore[arg-type]


def test_a_record_reads_runs_of_one_word_fields_in_one_batch() -> None:
    """With `Storage.sloads` a record's one-word fields are read in runs: a run ends at a
    field of more slots and at a field whose decoder may refuse the word (a choice), so the
    reads, their order and where a refusal comes are those of one read at a time."""
    asset = Asset(id=3, owner=A, state="retired", registrars=(B,), name="bond",
                  hash=b"\x05" * 32, pending=B, flagged=True, approvals=0)
    one, batched = Slots(), BatchSlots()
    for slots in (one, batched):
        asset.store(slots.storage(), 100)
        slots.reads.clear()
    loaded = Asset.load(batched.storage(), 100, id=3, approvals=0)
    assert loaded == Asset.load(one.storage(), 100, id=3, approvals=0) == asset
    assert batched.reads == one.reads
    assert batched.batches == [[100, 101], [105, 106, 120]]  # owner state | hash pending flag
    # a state no name has: refused after owner's and state's reads, before any other
    batched.words[101] = 9
    batched.reads.clear()
    with pytest.raises(IndexError):
        Asset.load(batched.storage(), 100, id=3, approvals=0)
    assert batched.reads == [100, 101]


def test_a_one_word_field_type_reads_back_its_word() -> None:
    """A one-word type's `value` is the inverse of its `word`, and says whether some word
    makes it raise (`ends_reads`): the types whose decoding can fail end a batch of reads."""
    from consortium.apps.invoices.state import DATE
    from consortium.apps.securities.state import ISIN, JURISDICTION, SIDE, UINT8
    from consortium.evm.records import INT
    from consortium.system.state import NODE_ID

    total = [(UINT, [0, 2**256 - 1]), (INT, [-5, 2**255 - 1, -(2**255)]), (BOOL, [True, False]),
             (ADDRESS, [A]), (BYTES32, [b"\x02" * 32]), (DATE, [20250630]), (SIDE, [2]),
             (UINT8, [3]), (NODE_ID, [b"\x03" * 20])]
    partial = [(CURRENCY, ["CNY", ""]), (Choice(STATES), ["applied", ""]),
               (ISIN, ["US0378331005"]), (JURISDICTION, ["CN"])]
    for ftype, values in total + partial:
        assert ftype.read_word and ftype.ends_reads == any(ftype is p for p, _ in partial)
        for value in values:
            slots = Slots()
            ftype.store(slots.storage(), 5, value)
            assert ftype.value(ftype.word(value)) == value
            assert ftype.load(slots.storage(), 5) == value and slots.reads == [5]
    for ftype, _ in partial:
        with pytest.raises((IndexError, OverflowError)):
            ftype.value(2**256 - 1)
    assert not STRING.read_word and not SetOf(ADDRESS).read_word


# --- packed records ----------------------------------------------------------------------------


class Packed(Record, packed=True):
    """Fields placed first-fit: owner 0:0, buyer 1:0, amount 2:0, currency 0:160, state 0:184,
    height 0:192 (word 0 full), paid 2:128, flag 1:160."""

    id: int = key(UINT)
    owner: bytes = field(ADDRESS)
    buyer: bytes = field(ADDRESS)
    amount: int = field(UINT, bits=128)
    currency: str = field(CURRENCY)
    state: str = field(Choice(STATES))
    height: int = field(UINT, bits=64)
    paid: int = field(UINT, bits=128)
    flag: bool = field(BOOL)
    note: int = field(UINT, stored=False)


def test_a_packed_record_fills_the_first_word_with_room() -> None:
    place = {f.name: (f.offset, f.shift) for f in Packed.stored_fields()}
    assert place == {"owner": (0, 0), "buyer": (1, 0), "amount": (2, 0), "currency": (0, 160),
                     "state": (0, 184), "height": (0, 192), "paid": (2, 128), "flag": (1, 160)}
    assert Packed.SLOTS == 3
    # the ABI and JSON follow the declaration, not the packing
    assert Packed.abi_type() == ("(uint256,address,address,uint256,string,string,uint256,"
                                 "uint256,bool,uint256)")


def test_a_packed_record_round_trips_in_its_words() -> None:
    slots = Slots()
    s = slots.storage()
    base = Storage.at(9, 1)
    record = Packed(id=1, owner=A, buyer=B, amount=2**128 - 1, currency="CNY",
                    state="retired", height=2**64 - 1, paid=5, flag=True, note=0)
    record.store(s, base)
    assert slots.reads == [] and slots.writes == [base, base + 1, base + 2]
    assert slots.words[base] == (int.from_bytes(A, "big") | int.from_bytes(b"CNY", "big") << 160
                                 | 3 << 184 | (2**64 - 1) << 192)
    assert slots.words[base + 1] == int.from_bytes(B, "big") | 1 << 160
    assert slots.words[base + 2] == 2**128 - 1 | 5 << 128
    assert Packed.load(s, base, id=1, note=0) == record
    assert slots.reads == [base, base + 1, base + 2]


def test_a_packed_field_alone_reads_its_word_then_writes_it() -> None:
    slots = Slots()
    s = slots.storage()
    Packed(id=1, owner=A, buyer=B, amount=7, currency="EUR", state="applied", height=3,
           paid=0, flag=False, note=0).store(s, 0)
    slots.reads.clear(), slots.writes.clear()
    Packed.put(s, 0, "state", "registered")
    assert slots.reads == [0] and slots.writes == [0]
    assert Packed.get(s, 0, "state") == "registered" and Packed.get(s, 0, "owner") == A
    assert Packed.get(s, 0, "currency") == "EUR"
    slots.reads.clear(), slots.writes.clear()
    # both fields of word 2 given: no read of it; word 0 partly given: read
    Packed.put_fields(s, 0, paid=9, height=4, amount=8)
    assert slots.reads == [0] and slots.writes == [0, 2]
    loaded = Packed.load(s, 0, id=1, note=0)
    assert (loaded.buyer, loaded.height, loaded.amount, loaded.paid) == (B, 4, 8, 9)


def test_a_value_wider_than_its_bits_is_refused_before_any_write() -> None:
    slots = Slots()
    s = slots.storage()
    with pytest.raises(ValueError, match="Packed.height does not fit its 64 bits"):
        Packed.put_fields(s, 0, amount=1, height=2**64)
    with pytest.raises(ValueError, match="amount does not fit its 128 bits"):
        Packed.put(s, 0, "amount", -1)
    assert slots.writes == [] and slots.reads == []


def test_a_packed_record_refuses_fields_of_more_than_a_word() -> None:
    with pytest.raises(TypeError, match="one word each"):
        class _Bad(Record, packed=True):
            name: str = field(STRING)
    with pytest.raises(TypeError, match="packed record only"):
        class _Loose(Record):
            height: int = field(UINT, bits=64)
