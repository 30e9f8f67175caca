"""The Invoices contract's state over the EVM storage of 0x…2004 (slots: `InvoiceState`; a
set keeps its count at s, item i at at(s, i) and item k's position + 1 at at(s + 1, k);
slot 1 is the ALL set's positions). Only fingerprints, addresses, amounts, currency codes and
dates are stored: never the fields a fingerprint is computed from."""

from __future__ import annotations

from typing import Any

from consortium.apps.invoices.model import STATES, TRANCHE_STATES, show_date
from consortium.apps.service import StateView
from consortium.evm.field_types import Address, Bool, Currency, Uint
from consortium.evm.host import Storage
from consortium.evm.records import (
    BYTES32,
    UINT,
    Choice,
    FieldType,
    Record,
    WordSet,
    field,
    key,
)


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


class InvoiceState(StateView):
    ALL, INVOICES, TRANCHES, PAYMENTS = 0, 2, 3, 4
    BY_SELLER, BY_BUYER, BY_BANK, BY_STATE = 5, 6, 7, 8

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
        return InvoiceRecord.get(self.s, self.base(fingerprint), field)

    def set(self, fingerprint: bytes, field: str, value: object) -> None:
        """One stored field of an invoice (one write)."""
        InvoiceRecord.put(self.s, self.base(fingerprint), field, value)

    def issue(self, fingerprint: bytes, *, seller: bytes, buyer: bytes, issued_at: int,
              **values: object) -> None:
        """A new invoice: its first fields (seller, buyer, `values`, issued_at; one write
        each, in that order), then in the set of all invoices, in its seller's and its
        buyer's indexes, and issued."""
        base = self.base(fingerprint)
        InvoiceRecord.put_fields(self.s, base, seller=seller, buyer=buyer, **values,
                                 issued_at=issued_at)
        word = int.from_bytes(fingerprint, "big")
        self.all().add(word)
        self.index(self.BY_SELLER, seller).add(word)
        self.index(self.BY_BUYER, buyer).add(word)
        self._set_state_at(base, word, "", "issued", issued_at)

    def invoice(self, fingerprint: bytes) -> InvoiceRecord:
        return InvoiceRecord.load(self.s, self.base(fingerprint), fingerprint=fingerprint)

    def set_state(self, fingerprint: bytes, old: str, new: str, height: int) -> None:
        self._set_state_at(self.base(fingerprint), int.from_bytes(fingerprint, "big"), old, new,
                      height)

    def _set_state_at(self, base: int, word: int, old: str, new: str, height: int) -> None:
        """`set_state` of the invoice at `base` (its fingerprint `word`), its slot found
        once."""
        self.restate(self.BY_STATE, STATES, word, old, new)
        InvoiceRecord.put_fields(self.s, base, state=new, updated_at=height)

    def tranche(self, fingerprint: bytes, i: int) -> TrancheRecord:
        return TrancheRecord.load(self.s, Storage.at(self.TRANCHES, fingerprint, i), index=i)

    def add_tranche(self, fingerprint: bytes, bank: bytes, amount: int, height: int) -> int:
        i = self.get(fingerprint, "tranche_count")
        TrancheRecord(index=i, bank=bank, amount=amount, state="active", height=height).store(
            self.s, Storage.at(self.TRANCHES, fingerprint, i))
        self.set(fingerprint, "tranche_count", i + 1)
        return int(i)

    def set_tranche_state(self, fingerprint: bytes, i: int, state: str) -> None:
        TrancheRecord.put(self.s, Storage.at(self.TRANCHES, fingerprint, i), "state", state)

    def payment(self, fingerprint: bytes, i: int) -> PaymentRecord:
        return PaymentRecord.load(self.s, Storage.at(self.PAYMENTS, fingerprint, i))

    def add_payment(self, fingerprint: bytes, payee: bytes, amount: int, height: int) -> None:
        i = self.get(fingerprint, "payment_count")
        PaymentRecord(payee=payee, amount=amount, height=height).store(
            self.s, Storage.at(self.PAYMENTS, fingerprint, i))
        self.set(fingerprint, "payment_count", i + 1)
