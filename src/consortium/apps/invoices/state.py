"""The Invoices contract's state over the EVM storage of 0x…2004 (slots: `InvoiceState`; a
set keeps its count at s, item i at at(s, i) and item k's position + 1 at at(s + 1, k);
slot 1 is the ALL set's positions). Only fingerprints, addresses, amounts, currency codes and
dates are stored: never the fields a fingerprint is computed from.

Layout 2 (the contract's version 2, issue 23): the same records packed into shared words (an
invoice in 5 slots instead of 14, a tranche or a payment in 2), and the indexes an invoice
never leaves — every invoice, by seller, by buyer — as append-only lists (the set's count and
items, no positions): an issue writes 14 slots instead of 22. New chains start at it; older
ones move to it by the software upgrade `invoices-layout-2` (`consortium.apps.invoices.
upgrade`). A privacy group's invoices keep layout 1: public upgrades do not migrate private
state."""

from __future__ import annotations

from typing import Any

from consortium.apps.invoices.model import STATES, TRANCHE_STATES, show_date
from consortium.apps.layout import layout_version
from consortium.apps.service import StateView
from consortium.evm.field_types import Address, Bool, Currency, Uint
from consortium.evm.host import Storage
from consortium.evm.records import (
    BYTES32,
    UINT,
    Choice,
    FieldType,
    Record,
    WordList,
    WordSet,
    field,
    key,
    packed_copy,
)

# the contract's version whose storage is layout 2 (module docstring)
PACKED_LAYOUT = 2


class _Date(FieldType):
    """A date as yyyymmdd in a uint (and the ABI); "2025-06-30" in JSON."""

    def to_json(self, value: Any) -> Any:
        return show_date(value)


DATE: FieldType = _Date()


class InvoiceRecord(Record):
    """An invoice; `tranche_count` and `payment_count` are stored, not answered."""

    fingerprint: bytes = key(BYTES32)
    seller: Address
    buyer: Address
    amount: Uint
    currency: Currency
    due_date: int = field(DATE)
    tax_verified: Bool
    state: str = field(Choice(STATES))
    assignee: Address
    registrant: Address
    tranche_count: int = field(UINT, in_abi=False, in_json=False)
    financed: Uint
    issued_at: Uint
    updated_at: Uint
    payment_count: int = field(UINT, in_abi=False, in_json=False)


class TrancheRecord(Record):
    index: int = key(UINT, json="tranche", in_abi=False)
    bank: Address
    amount: Uint
    state: str = field(Choice(TRANCHE_STATES))
    height: Uint


class PaymentRecord(Record):
    payee: Address
    amount: Uint
    height: Uint


# layout 2's records: the same fields, answers and JSON; amounts below 2**128 (the contract's
# own limit), heights below 2**64, dates (yyyymmdd) and counts below 2**32
_AMOUNT, _HEIGHT, _SMALL = 128, 64, 32
PackedInvoice = packed_copy(
    InvoiceRecord, "PackedInvoice", amount=_AMOUNT, due_date=_SMALL, tranche_count=_SMALL,
    financed=_AMOUNT, issued_at=_HEIGHT, updated_at=_HEIGHT, payment_count=_SMALL)
PackedTranche = packed_copy(TrancheRecord, "PackedTranche", amount=_AMOUNT, height=_HEIGHT)
PackedPayment = packed_copy(PaymentRecord, "PackedPayment", amount=_AMOUNT, height=_HEIGHT)


class InvoiceState(StateView):
    ALL, INVOICES, TRANCHES, PAYMENTS = 0, 2, 3, 4
    BY_SELLER, BY_BUYER, BY_BANK, BY_STATE = 5, 6, 7, 8

    def __init__(self, storage: Storage, layout: int | None = None) -> None:
        super().__init__(storage)
        if layout is None:
            layout = layout_version(storage, PACKED_LAYOUT)
        self.packed = layout >= PACKED_LAYOUT
        self.record: type[InvoiceRecord] = PackedInvoice if self.packed else InvoiceRecord
        self.tranche_record: type[TrancheRecord] = (PackedTranche if self.packed
                                                    else TrancheRecord)
        self.payment_record: type[PaymentRecord] = (PackedPayment if self.packed
                                                    else PaymentRecord)

    @staticmethod
    def base(fingerprint: bytes) -> int:
        return Storage.at(InvoiceState.INVOICES, fingerprint)

    def all(self) -> WordSet:
        return WordSet(self.s, self.ALL)

    def by_state(self, state: str) -> WordSet:
        return self.index(self.BY_STATE, STATES.index(state) + 1)

    def exists(self, fingerprint: bytes) -> bool:
        return self.state(fingerprint) != ""

    def state(self, fingerprint: bytes) -> str:
        return str(self.get(fingerprint, "state"))

    def get(self, fingerprint: bytes, field: str) -> Any:
        """One stored field of an invoice (one read)."""
        return self.record.get(self.s, self.base(fingerprint), field)

    def set(self, fingerprint: bytes, field: str, value: object) -> None:
        """One stored field of an invoice (one write; layout 2: its word read first)."""
        self.record.put(self.s, self.base(fingerprint), field, value)

    def issue(self, fingerprint: bytes, *, seller: bytes, buyer: bytes, issued_at: int,
              **values: object) -> None:
        """A new invoice: its first fields (seller, buyer, `values`, issued_at; one write
        each, in that order), then in the set of all invoices, in its seller's and its
        buyer's indexes, and issued. Layout 2: the whole record in its five words, then the
        indexes."""
        base = self.base(fingerprint)
        word = int.from_bytes(fingerprint, "big")
        if self.packed:
            PackedInvoice.put_fields(  # every field: no word read
                self.s, base, seller=seller, buyer=buyer, **values, tax_verified=False,
                state="issued", tranche_count=0, financed=0, issued_at=issued_at,
                updated_at=issued_at, payment_count=0)
            for index in (self.ALL, Storage.at(self.BY_SELLER, seller),
                          Storage.at(self.BY_BUYER, buyer)):
                WordList(self.s, index).append(word)
            self.restate(self.BY_STATE, STATES, word, "", "issued")
            return
        InvoiceRecord.put_fields(self.s, base, seller=seller, buyer=buyer, **values,
                                 issued_at=issued_at)
        self.all().add(word)
        self.index(self.BY_SELLER, seller).add(word)
        self.index(self.BY_BUYER, buyer).add(word)
        self._set_state_at(base, word, "", "issued", issued_at)

    def invoice(self, fingerprint: bytes) -> InvoiceRecord:
        return self.record.load(self.s, self.base(fingerprint), fingerprint=fingerprint)

    def set_state(self, fingerprint: bytes, old: str, new: str, height: int) -> None:
        self._set_state_at(self.base(fingerprint), int.from_bytes(fingerprint, "big"), old, new,
                      height)

    def _set_state_at(self, base: int, word: int, old: str, new: str, height: int) -> None:
        """`set_state` of the invoice at `base` (its fingerprint `word`), its slot found
        once."""
        self.restate(self.BY_STATE, STATES, word, old, new)
        self.record.put_fields(self.s, base, state=new, updated_at=height)

    def tranche(self, fingerprint: bytes, i: int) -> TrancheRecord:
        return self.tranche_record.load(self.s, Storage.at(self.TRANCHES, fingerprint, i),
                                        index=i)

    def add_tranche(self, fingerprint: bytes, bank: bytes, amount: int, height: int) -> int:
        i = self.get(fingerprint, "tranche_count")
        self.tranche_record(index=i, bank=bank, amount=amount, state="active", height=height).store(
            self.s, Storage.at(self.TRANCHES, fingerprint, i))
        self.set(fingerprint, "tranche_count", i + 1)
        return int(i)

    def set_tranche_state(self, fingerprint: bytes, i: int, state: str) -> None:
        self.tranche_record.put(self.s, Storage.at(self.TRANCHES, fingerprint, i), "state",
                                state)

    def payment(self, fingerprint: bytes, i: int) -> PaymentRecord:
        return self.payment_record.load(self.s, Storage.at(self.PAYMENTS, fingerprint, i))

    def add_payment(self, fingerprint: bytes, payee: bytes, amount: int, height: int) -> None:
        i = self.get(fingerprint, "payment_count")
        self.payment_record(payee=payee, amount=amount, height=height).store(
            self.s, Storage.at(self.PAYMENTS, fingerprint, i))
        self.set(fingerprint, "payment_count", i + 1)
