"""Where the Invoices contract keeps its state: a typed view over its EVM storage slots
(`consortium.evm.host.Storage`), so the state root covers every invoice.

Layout (slots of 0x…2004; `at(s, k…)` is Solidity's mapping slot; a set keeps its count at s,
item i at at(s, i) and item k's position + 1 at at(s + 1, k)):

  0  every fingerprint, in registration order (set, 0/1)
  2  fingerprint -> invoice: seller, buyer, amount, currency (3 ASCII bytes), due date
     (yyyymmdd), tax verified, state, assignee, registrant, tranche count, financed,
     issued at, updated at, payment count   (consecutive slots from its base)
  3  (fingerprint, i) -> tranche i: bank, amount, state, height
  4  (fingerprint, i) -> payment i: payee, amount, height
  5  seller -> its fingerprints (set)     6  buyer -> its fingerprints (set)
  7  bank -> fingerprints it financed (set)
  8  state number -> fingerprints in that state (set)

Only fingerprints, addresses, amounts, currency codes and dates are stored: never the fields
a fingerprint is computed from.
"""

from __future__ import annotations

from dataclasses import dataclass

from consortium.apps.invoices.model import STATES, TRANCHE_STATES, currency_text
from consortium.evm.host import Storage
from consortium.system.state import WordSet


@dataclass(frozen=True)
class InvoiceRecord:
    fingerprint: bytes
    seller: bytes
    buyer: bytes
    amount: int
    currency: str
    due_date: int
    tax_verified: bool
    state: str
    assignee: bytes
    registrant: bytes
    tranche_count: int
    financed: int
    issued_at: int
    updated_at: int
    payment_count: int


@dataclass(frozen=True)
class TrancheRecord:
    bank: bytes
    amount: int
    state: str
    height: int


@dataclass(frozen=True)
class PaymentRecord:
    payee: bytes
    amount: int
    height: int


class InvoiceState:
    ALL, INVOICES, TRANCHES, PAYMENTS = 0, 2, 3, 4
    BY_SELLER, BY_BUYER, BY_BANK, BY_STATE = 5, 6, 7, 8

    # invoice struct fields
    SELLER, BUYER, AMOUNT, CURRENCY, DUE, TAX, STATE, ASSIGNEE = 0, 1, 2, 3, 4, 5, 6, 7
    REGISTRANT, TRANCHE_COUNT, FINANCED, ISSUED_AT, UPDATED_AT, PAYMENT_COUNT = (
        8, 9, 10, 11, 12, 13,
    )

    def __init__(self, storage: Storage) -> None:
        self.s = storage

    @staticmethod
    def base(fingerprint: bytes) -> int:
        return Storage.at(InvoiceState.INVOICES, fingerprint)

    # --- indexes -------------------------------------------------------------------------

    def all(self) -> WordSet:
        return WordSet(self.s, self.ALL)

    def by_seller(self, seller: bytes) -> WordSet:
        return WordSet(self.s, Storage.at(self.BY_SELLER, seller))

    def by_buyer(self, buyer: bytes) -> WordSet:
        return WordSet(self.s, Storage.at(self.BY_BUYER, buyer))

    def by_bank(self, bank: bytes) -> WordSet:
        return WordSet(self.s, Storage.at(self.BY_BANK, bank))

    def by_state(self, state: str) -> WordSet:
        return WordSet(self.s, Storage.at(self.BY_STATE, STATES.index(state) + 1))

    # --- invoices ------------------------------------------------------------------------

    def exists(self, fingerprint: bytes) -> bool:
        return self.s.get_uint(self.base(fingerprint) + self.STATE) != 0

    def state(self, fingerprint: bytes) -> str:
        raw = self.s.get_uint(self.base(fingerprint) + self.STATE)
        return STATES[raw - 1] if raw else ""

    def get(self, fingerprint: bytes, field: int) -> int:
        return self.s.get_uint(self.base(fingerprint) + field)

    def get_address(self, fingerprint: bytes, field: int) -> bytes:
        return self.s.get_address(self.base(fingerprint) + field)

    def set(self, fingerprint: bytes, field: int, value: int) -> None:
        self.s.set_uint(self.base(fingerprint) + field, value)

    def set_address(self, fingerprint: bytes, field: int, value: bytes) -> None:
        self.s.set_address(self.base(fingerprint) + field, value)

    def invoice(self, fingerprint: bytes) -> InvoiceRecord:
        b = self.base(fingerprint)
        g = self.s.get_uint
        a = self.s.get_address
        state = g(b + self.STATE)
        return InvoiceRecord(
            fingerprint=fingerprint,
            seller=a(b + self.SELLER),
            buyer=a(b + self.BUYER),
            amount=g(b + self.AMOUNT),
            currency=currency_text(g(b + self.CURRENCY)),
            due_date=g(b + self.DUE),
            tax_verified=g(b + self.TAX) != 0,
            state=STATES[state - 1] if state else "",
            assignee=a(b + self.ASSIGNEE),
            registrant=a(b + self.REGISTRANT),
            tranche_count=g(b + self.TRANCHE_COUNT),
            financed=g(b + self.FINANCED),
            issued_at=g(b + self.ISSUED_AT),
            updated_at=g(b + self.UPDATED_AT),
            payment_count=g(b + self.PAYMENT_COUNT),
        )

    def set_state(self, fingerprint: bytes, old: str, new: str, height: int) -> None:
        word = int.from_bytes(fingerprint, "big")
        if old:
            self.by_state(old).remove(word)
        self.by_state(new).add(word)
        self.set(fingerprint, self.STATE, STATES.index(new) + 1)
        self.set(fingerprint, self.UPDATED_AT, height)

    # --- tranches and payments -----------------------------------------------------------

    def tranche(self, fingerprint: bytes, i: int) -> TrancheRecord:
        b = Storage.at(self.TRANCHES, fingerprint, i)
        state = self.s.get_uint(b + 2)
        return TrancheRecord(
            self.s.get_address(b),
            self.s.get_uint(b + 1),
            TRANCHE_STATES[state - 1] if state else "",
            self.s.get_uint(b + 3),
        )

    def add_tranche(self, fingerprint: bytes, bank: bytes, amount: int, height: int) -> int:
        i = self.get(fingerprint, self.TRANCHE_COUNT)
        b = Storage.at(self.TRANCHES, fingerprint, i)
        self.s.set_address(b, bank)
        self.s.set_uint(b + 1, amount)
        self.s.set_uint(b + 2, TRANCHE_STATES.index("active") + 1)
        self.s.set_uint(b + 3, height)
        self.set(fingerprint, self.TRANCHE_COUNT, i + 1)
        return i

    def set_tranche_state(self, fingerprint: bytes, i: int, state: str) -> None:
        b = Storage.at(self.TRANCHES, fingerprint, i)
        self.s.set_uint(b + 2, TRANCHE_STATES.index(state) + 1)

    def payment(self, fingerprint: bytes, i: int) -> PaymentRecord:
        b = Storage.at(self.PAYMENTS, fingerprint, i)
        return PaymentRecord(
            self.s.get_address(b), self.s.get_uint(b + 1), self.s.get_uint(b + 2)
        )

    def add_payment(self, fingerprint: bytes, payee: bytes, amount: int, height: int) -> None:
        i = self.get(fingerprint, self.PAYMENT_COUNT)
        b = Storage.at(self.PAYMENTS, fingerprint, i)
        self.s.set_address(b, payee)
        self.s.set_uint(b + 1, amount)
        self.s.set_uint(b + 2, height)
        self.set(fingerprint, self.PAYMENT_COUNT, i + 1)
