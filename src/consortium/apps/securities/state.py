"""Where the CashTokens and Securities contracts keep their state: records declared once
(`consortium.evm.records`) over their EVM storage slots, so the state root covers every
balance, order and trade; the order book (`OrderBook`) over slots 20 and 21. The same views
read a contract's slots from the other contract (read-only).

Conventions as in `consortium.system.state`: `at(s, k…)` is Solidity's mapping slot; a
record's fields sit at consecutive slots from its base; a set keeps its count at s, item i at
at(s, i) and item k's position + 1 at at(s + 1, k). Keys: currencies, ISINs and
jurisdictions as the integer of their ASCII bytes, accounts as 20 bytes.

CashTokens (0x…2000)
  0  currencies (set)                      2  currency -> token: issuer, supply, created
  3  (currency, account) -> balance, locked                           at, name (string)
  4  (currency, owner, spender) -> allowance
  5  (currency, owner, holder) -> cash of owner locked by holder
  6  currency -> accounts that ever held it (set, at(6, c) / +1)
  8  account -> currencies it ever held (set, at(8, a) / +1)

Securities (0x…2001)
  0  instruments (set of ISINs)           2  ISIN -> instrument (fields below)
  3  (ISIN, account) -> holding: balance, locked
  4  (ISIN, account) -> balance checkpoint count; at(5, ISIN, account, i) -> height, balance
  6  ISIN -> supply checkpoint count;      at(7, ISIN, i) -> height, supply
  8  ISIN -> accounts that ever held it (set)   10 account -> ISINs it ever held (set)
  12 account -> investor record            13 investors (set)
  15 (ISIN, jurisdiction) -> allowed; at(16, ISIN) allowed jurisdictions (set)
  18 order count (ids 1..n)                19 order id -> order
  20 (ISIN, side) -> book side: best price, level count
  21 (ISIN, side, price) -> level: worse price, better price, head order, tail order,
     order count, quantity
  22 account -> its orders (set)           24 trade count   25 trade id -> trade
  26 ISIN -> its trades (set)              28 account -> its trades (set)
  30 ISIN -> pending trades (set)          32 proposal count 33 proposal id -> proposal
  34 account -> its proposals (set)        36 dividend count 37 dividend id -> dividend
  38 (dividend, account) -> paid amount + 1 (0: unpaid)
  39 ISIN -> its dividends (set)           41 forced transfer count
  42 forced transfer id -> record
"""

from __future__ import annotations

from typing import Any

from consortium.apps.currency import currency_text
from consortium.apps.layout import layout_version
from consortium.apps.securities.model import (
    BUY,
    DIVIDEND_STATES,
    MAX_LEVELS,
    ORDER_STATES,
    PROPOSAL_STATES,
    SELL,
    TRADE_STATES,
    code_text,
    code_word,
    side_text,
)
from consortium.evm.field_types import Address, Bool, Currency, Id, Text, Uint
from consortium.evm.host import Storage
from consortium.evm.records import (
    ADDRESS,
    BOOL,
    BYTES32,
    CURRENCY,
    STRING,
    UINT,
    Choice,
    FieldType,
    Record,
    StateView,
    WordList,
    WordSet,
    address_word,
    field,
    key,
    packed_copy,
    word_address,
)

ZERO = b"\x00" * 20


class Code(FieldType):
    """An ISIN or a jurisdiction, stored as its ASCII in one word; a string in the ABI."""

    abi = "string"

    def __init__(self, width: int) -> None:
        self.width = width
        self.bits = 8 * width  # its ASCII, in a packed record

    def value(self, word: int) -> Any:
        return code_text(word, self.width)

    def word(self, value: Any) -> int:
        return super().word(code_word(value))


class Small(FieldType):
    abi = "uint8"
    bits = 8


class Side(Small):
    """1 buy, 2 sell: a number in the ABI, a word in JSON."""

    def to_json(self, value: Any) -> Any:
        return side_text(value)


ISIN, JURISDICTION, SIDE, UINT8 = Code(12), Code(2), Side(), Small()


# --- records -----------------------------------------------------------------------------------
class Token(Record):
    currency: str = key(CURRENCY)
    name: str = field(STRING, at=3)
    issuer: bytes = field(ADDRESS, at=0)
    supply: int = field(UINT, at=1)
    created_at: int = field(UINT, at=2)


class Position(Record):
    """What an account holds of a currency or an instrument, and how much of it is locked."""

    balance: Uint
    locked: Uint


class Checkpoint(Record):
    height: Uint
    value: Uint


class Instrument(Record):
    isin: str = key(ISIN)
    name: str = field(STRING, at=9)
    agent: bytes = field(ADDRESS, at=0)
    issuer: bytes = field(ADDRESS, at=1)
    supply: int = field(UINT, at=2)
    paused: bool = field(BOOL, at=3)
    document_hash: bytes = field(BYTES32, at=4)
    currency: str = field(CURRENCY, at=5)
    cycle: int = field(UINT, at=6, json="settlementCycle")
    window: int = field(UINT, at=7, json="settlementWindow")
    created_at: int = field(UINT, at=8)


class Investor(Record):
    """`restriction` is the contract's to fill in: the account's sender code now."""

    account: bytes = key(ADDRESS)
    custodian: Address
    kyc_expiry: Uint
    jurisdiction: str = field(JURISDICTION)
    frozen: Bool  # by its custodian
    regulator_frozen: Bool
    updated_at: Uint
    restriction: int = field(UINT8, stored=False)

    @property
    def registered(self) -> bool:
        return self.custodian != ZERO


class Order(Record):
    id: Id
    isin: str = field(ISIN)
    owner: Address
    side: int = field(SIDE)
    price: Uint
    quantity: Uint
    remaining: Uint
    filled: int = field(UINT, stored=False, in_abi=False)
    cash_locked: Uint
    expiry: Uint
    state: str = field(Choice(ORDER_STATES))
    placed_at: Uint
    closed_at: Uint
    next: int = field(UINT, in_abi=False, in_json=False)  # the order queued after it
    prev: int = field(UINT, in_abi=False, in_json=False)

    def expired_at(self, height: int) -> bool:
        return self.expiry != 0 and height >= self.expiry


class Trade(Record):
    id: Id
    isin: str = field(ISIN)
    buyer: Address
    seller: Address
    price: Uint
    quantity: Uint
    amount: int = field(UINT, stored=False, in_abi=False)
    buy_order: Uint
    sell_order: Uint
    state: str = field(Choice(TRADE_STATES))
    traded_at: Uint
    settle_height: Uint
    deadline: Uint
    closed_at: Uint
    proposal: Uint


class Proposal(Record):
    """A bilateral trade proposal; `side` is the proposer's."""

    id: Id
    isin: str = field(ISIN)
    proposer: Address
    counterparty: Address
    side: int = field(SIDE)
    seller: bytes = field(ADDRESS, stored=False, in_abi=False)
    buyer: bytes = field(ADDRESS, stored=False, in_abi=False)
    quantity: Uint
    price: Uint
    amount: int = field(UINT, stored=False, in_abi=False)
    deadline: Uint
    state: str = field(Choice(PROPOSAL_STATES))
    created_at: Uint
    closed_at: Uint
    trade: Uint


class Dividend(Record):
    id: Id
    isin: str = field(ISIN)
    record_height: Uint
    currency: Currency
    per_share: Uint
    total: Uint
    paid: Uint
    state: str = field(Choice(DIVIDEND_STATES))
    declared_at: Uint
    cursor: int = field(UINT, json="distributed")  # holders distributed to so far
    payer: Address


class ForcedTransfer(Record):
    id: Id
    isin: str = field(ISIN)
    from_: bytes = field(ADDRESS, json="from")
    to: Address
    amount: Uint
    regulator: Address
    height: Uint
    reason: Text


class BookSide(Record):
    best: Uint  # the best price (0: empty)
    levels: Uint


class Level(Record):
    """A price level: neighbours on the side's list, and a FIFO queue of order ids."""

    worse: Uint
    better: Uint
    head: Uint
    tail: Uint
    count: Uint
    quantity: Uint


def answered(record: Any) -> Any:
    """A record with the fields computed from its others (an order's filled, a trade's or a
    proposal's amount, a proposal's buyer and seller)."""
    more: dict[str, Any] = {}
    if isinstance(record, Order):
        more["filled"] = record.quantity - record.remaining
    if isinstance(record, Trade | Proposal):
        more["amount"] = record.price * record.quantity
    if isinstance(record, Proposal):
        sells = record.side == SELL
        more["seller"] = record.proposer if sells else record.counterparty
        more["buyer"] = record.counterparty if sells else record.proposer
    return record.with_(**more)


def word_fields(record: type[Record]) -> dict[str, int]:
    """The offsets of a record's fields stored as a plain word (no codec) of their own (a
    packed record's narrower fields share words): the hot paths read and write them with one
    storage call, the same slot and value `Record.get/put` would."""
    return {s.name: s.offset for s in record.STORED if s.type.plain and s.width == 256}


ORDER_WORDS, LEVEL_WORDS, SIDE_WORDS = word_fields(Order), word_fields(Level), \
    word_fields(BookSide)
BALANCE, LOCKED = word_fields(Position)["balance"], word_fields(Position)["locked"]
_WORSE, _BETTER, _HEAD, _TAIL, _COUNT, _QUANTITY = (LEVEL_WORDS[n] for n in (
    "worse", "better", "head", "tail", "count", "quantity"))
_BEST, _LEVELS = SIDE_WORDS["best"], SIDE_WORDS["levels"]


# the computed fields' blanks, for a record as stored
BLANK: dict[type[Record], dict[str, Any]] = {
    Order: {"filled": 0, "next": 0, "prev": 0}, Trade: {"amount": 0},
    Proposal: {"seller": ZERO, "buyer": ZERO, "amount": 0}}

# Layout 3 (the contract's version 3, issue 23): an order packed into 7 words instead of 13
# (its links to the orders queued beside it keep a word each, as the book reads and writes
# them directly), a trade into 5 instead of 13 and a balance or supply checkpoint into one
# instead of two — a matching order writes ~16 fresh slots fewer. Prices, quantities,
# balances and supplies are below 2**128 (the contract's own limit), ids and heights below
# 2**64. New chains start at it; older ones move to it by the software upgrade
# `securities-layout-3` (`consortium.apps.securities.upgrade`). Version 2's rule (a mint
# checks its recipient) holds at 3 too.
PACKED_LAYOUT = 3
PackedOrder = packed_copy(Order, "PackedOrder", price=128, quantity=128, remaining=128,
                          cash_locked=128, expiry=64, placed_at=64, closed_at=64)
PACKED_ORDER_WORDS = word_fields(PackedOrder)  # its links, each a word of its own
PackedTrade = packed_copy(Trade, "PackedTrade", price=128, quantity=128, buy_order=64,
                          sell_order=64, traded_at=64, settle_height=64, deadline=64,
                          closed_at=64, proposal=64)
PackedCheckpoint = packed_copy(Checkpoint, "PackedCheckpoint", height=64, value=128)
BLANK[PackedTrade], BLANK[PackedOrder] = BLANK[Trade], BLANK[Order]

# Layout 4 (the contract's version 4, issue 23): an order's path does less, in the same
# slots. A new order is written once, when its matching is done; a resting order it fills
# once, with its closing; a trade once, settled or pending, and not read back; an order reads
# only the instrument's terms (`InstrumentTerms`) and each account's investor words once;
# the per-account orders and trades and the per-ISIN trades are append-only lists (their
# ids only ever join them), so an id adds one fresh slot, not two. New chains start at it;
# older ones move to it by the software upgrade `securities-layout-4`, which clears the
# positions the three sets kept (`consortium.apps.securities.upgrade`).
LEAN_LAYOUT = 4


def _instrument_at(name: str) -> int:
    return Instrument.BY_NAME[name].offset


class InstrumentTerms(Record):
    """What an order reads of an instrument (layout 4): the fields its path uses, at the
    instrument's own slots."""

    isin: str = key(ISIN)
    paused: bool = field(BOOL, at=_instrument_at("paused"))
    currency: str = field(CURRENCY, at=_instrument_at("currency"))
    cycle: int = field(UINT, at=_instrument_at("cycle"))
    window: int = field(UINT, at=_instrument_at("window"))


# --- views -------------------------------------------------------------------------------------
class Holdings(StateView):
    """Positions per (currency or ISIN word, account), with who ever held what."""

    POSITIONS, HOLDERS, HELD = 0, 0, 0

    def _position(self, w: int, account: bytes) -> int:
        return Storage.at(self.POSITIONS, w, account)

    def balance(self, w: int, account: bytes) -> int:
        return self.s.get_uint(self._position(w, account) + BALANCE)

    def locked(self, w: int, account: bytes) -> int:
        return self.s.get_uint(self._position(w, account) + LOCKED)

    def free(self, w: int, account: bytes) -> int:
        """Balance less locked (read in that order)."""
        at = self._position(w, account)
        return self.s.get_uint(at + BALANCE) - self.s.get_uint(at + LOCKED)

    def add_locked(self, w: int, account: bytes, amount: int) -> None:
        """Lock `amount` more (less, when negative): one read, one write."""
        at = self._position(w, account) + LOCKED
        self.s.set_uint(at, self.s.get_uint(at) + amount)

    def _set_balance(self, w: int, account: bytes, value: int) -> None:
        self.s.set_uint(self._position(w, account) + BALANCE, value)
        self.holders(w).add(address_word(account))
        self.held(account).add(w)

    def word(self, slot: int, *keys: int | bytes) -> int:
        return self.s.get_uint(Storage.at(slot, *keys))

    def set_word(self, value: int, slot: int, *keys: int | bytes) -> None:
        self.s.set_uint(Storage.at(slot, *keys), value)

    def holders(self, w: int) -> WordSet:
        return self.index(self.HOLDERS, w)

    def held(self, account: bytes) -> WordSet:
        return self.index(self.HELD, account)

    def positions(self, w: int) -> list[tuple[bytes, int, int]]:
        """Accounts holding `w` now: (account, balance, locked)."""
        return [(a, *held) for a in map(word_address, self.holders(w))
                if (held := self._held(w, a))]

    def positions_of(self, account: bytes) -> list[tuple[int, int, int]]:
        """What `account` holds now: (word, balance, locked)."""
        return [(w, *held) for w in self.held(account) if (held := self._held(w, account))]

    def _held(self, w: int, account: bytes) -> tuple[int, int] | None:
        """(balance, locked) when the balance is not 0 (locked is then not read), else None."""
        balance = self.balance(w, account)
        return (balance, self.locked(w, account)) if balance else None


class CashState(Holdings):
    CURRENCIES, TOKENS, POSITIONS, ALLOWANCES, LOCKS, HOLDERS, HELD = 0, 2, 3, 4, 5, 6, 8

    def exists(self, currency: int) -> bool:
        return currency in self.index(self.CURRENCIES)

    def token(self, currency: int) -> Token:
        return Token.load(self.s, Storage.at(self.TOKENS, currency),
                          currency=currency_text(currency))

    def issuer(self, currency: int) -> bytes:
        return bytes(Token.get(self.s, Storage.at(self.TOKENS, currency), "issuer"))

    def supply(self, currency: int) -> int:
        return int(Token.get(self.s, Storage.at(self.TOKENS, currency), "supply"))

    def set_supply(self, currency: int, value: int) -> None:
        Token.put(self.s, Storage.at(self.TOKENS, currency), "supply", value)

    def create(self, currency: int, issuer: bytes, name: str, height: int) -> None:
        Token.put_fields(self.s, Storage.at(self.TOKENS, currency), issuer=issuer,
                         created_at=height, name=name)
        self.index(self.CURRENCIES).add(currency)

    def set_balance(self, currency: int, account: bytes, value: int) -> None:
        self._set_balance(currency, account, value)


class SecuritiesState(Holdings):
    INSTRUMENTS, INSTRUMENT, POSITIONS, CHECKPOINTS, CHECKPOINT = 0, 2, 3, 4, 5
    SUPPLY_CHECKPOINTS, SUPPLY_CHECKPOINT, HOLDERS, HELD = 6, 7, 8, 10
    INVESTOR, INVESTORS, JURISDICTIONS = 12, 13, 16
    ORDER_COUNT, ORDER, BOOK, LEVEL, ORDERS_OF = 18, 19, 20, 21, 22
    TRADE_COUNT, TRADE, TRADES_OF_ISIN, TRADES_OF, PENDING = 24, 25, 26, 28, 30
    PROPOSAL_COUNT, PROPOSAL, PROPOSALS_OF = 32, 33, 34
    DIVIDEND_COUNT, DIVIDEND, DIVIDEND_PAID, DIVIDENDS_OF = 36, 37, 38, 39
    FORCED_COUNT, FORCED = 41, 42

    # numbered records: name -> (count slot, mapping slot, record) in layouts 1-2, and 3
    NUMBERED: dict[str, tuple[int, int, type[Record]]] = {
        "order": (ORDER_COUNT, ORDER, Order), "trade": (TRADE_COUNT, TRADE, Trade),
        "proposal": (PROPOSAL_COUNT, PROPOSAL, Proposal),
        "dividend": (DIVIDEND_COUNT, DIVIDEND, Dividend),
        "forced transfer": (FORCED_COUNT, FORCED, ForcedTransfer)}
    PACKED_NUMBERED = NUMBERED | {"order": (ORDER_COUNT, ORDER, PackedOrder),
                                  "trade": (TRADE_COUNT, TRADE, PackedTrade)}

    def __init__(self, storage: Storage, layout: int | None = None) -> None:
        super().__init__(storage)
        if layout is None:
            layout = layout_version(storage, LEAN_LAYOUT)
        self.packed = layout >= PACKED_LAYOUT
        self.lean = layout >= LEAN_LAYOUT
        self.numbered = self.PACKED_NUMBERED if self.packed else self.NUMBERED
        self.checkpoint_record: type[Checkpoint] = (PackedCheckpoint if self.packed
                                                    else Checkpoint)
        self.order_record: type[Order] = PackedOrder if self.packed else Order
        self.order_words = PACKED_ORDER_WORDS if self.packed else ORDER_WORDS
        # where an order's links to its neighbours in a level's queue are
        self.order_links = (self.order_words["next"], self.order_words["prev"])

    # --- numbered records: orders, trades, proposals, dividends, forced transfers -------------
    def count(self, what: str) -> int:
        return self.s.get_uint(self.numbered[what][0])

    def base(self, what: str, n: int) -> int:
        return Storage.at(self.numbered[what][1], n)

    def load(self, what: str, n: int) -> Any:
        cls = self.numbered[what][2]
        return cls.load(self.s, self.base(what, n), id=n, **BLANK.get(cls, {}))

    def new_id(self, what: str) -> int:
        """A new numbered record's id (its fields written by `put`)."""
        return self.next_id(self.numbered[what][0])

    def enroll(self, mapping: int, key: int | bytes, n: int) -> None:
        """Id `n` into the index of `key` that only ever grows (orders or trades of an
        account, trades of an ISIN): a set, or in layout 4 an append-only list."""
        slot = Storage.at(mapping, key)
        if self.lean:
            WordList(self.s, slot).append(n)
        else:
            WordSet(self.s, slot).add(n)

    def add(self, what: str, **values: Any) -> int:
        """A new numbered record: its id, then the fields given, one write each."""
        count_slot, _, cls = self.numbered[what]
        n = self.next_id(count_slot)
        cls.put_fields(self.s, self.base(what, n), **values)
        return n

    def put(self, what: str, n: int, **values: Any) -> None:
        """Some fields of a numbered record, one write each, in the order given (layout 3:
        one write a word touched, an order's packed fields in one go)."""
        if what != "order" or self.packed:
            self.numbered[what][2].put_fields(self.s, self.base(what, n), **values)
            return
        base = order_base(n)  # the matching loop's writes: word fields direct
        words, record = self.order_words, self.order_record
        for name, value in values.items():
            offset = words.get(name)
            if offset is None:
                record.put(self.s, base, name, value)
            else:
                self.s.set_uint(base + offset, value)

    def close(self, what: str, n: int, state: str, height: int) -> None:
        self.put(what, n, state=state, closed_at=height)

    # --- instruments -------------------------------------------------------------------------
    def instrument_base(self, isin: int) -> int:
        return Storage.at(self.INSTRUMENT, isin)

    def instrument_exists(self, isin: int) -> bool:
        return isin in self.index(self.INSTRUMENTS)

    def instrument(self, isin: int) -> Instrument:
        return Instrument.load(self.s, self.instrument_base(isin), isin=code_text(isin, 12))

    def terms(self, isin: int) -> Instrument | InstrumentTerms:
        """What an order's path reads of an instrument: the whole record, or in layout 4
        its terms only."""
        if self.lean:
            return InstrumentTerms.load(self.s, self.instrument_base(isin),
                                        isin=code_text(isin, 12))
        return self.instrument(isin)

    def set_instrument(self, isin: int, **values: Any) -> None:
        Instrument.put_fields(self.s, self.instrument_base(isin), **values)

    # --- holdings and checkpoints ------------------------------------------------------------
    def set_balance(self, isin: int, account: bytes, value: int, height: int) -> None:
        """Set a balance and record it as the account's balance at `height`."""
        self._set_balance(isin, account, value)
        self._checkpoint(Storage.at(self.CHECKPOINTS, isin, account),
                         Storage.at(self.CHECKPOINT, isin, account), height, value)

    def set_supply(self, isin: int, value: int, height: int) -> None:
        self.set_instrument(isin, supply=value)
        self._checkpoint(Storage.at(self.SUPPLY_CHECKPOINTS, isin),
                         Storage.at(self.SUPPLY_CHECKPOINT, isin), height, value)

    def _checkpoint(self, count_slot: int, entries: int, height: int, value: int) -> None:
        """Record `value` at `height` (checkpoint i at at(entries, i): height, value)."""
        n = self.s.get_uint(count_slot)
        if n and self.checkpoint_record.get(self.s, Storage.at(entries, n - 1), "height") == height:
            self.checkpoint_record.put(self.s, Storage.at(entries, n - 1), "value", value)
            return
        self.checkpoint_record.put_fields(self.s, Storage.at(entries, n), height=height,
                                          value=value)
        self.s.set_uint(count_slot, n + 1)

    def _value_at(self, count_slot: int, entries: int, height: int) -> int:
        """The value of the last checkpoint at or before `height` (binary search)."""
        lo, hi = 0, self.s.get_uint(count_slot)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.checkpoint_record.get(self.s, Storage.at(entries, mid), "height") <= height:
                lo = mid + 1
            else:
                hi = mid
        if not lo:
            return 0
        return int(self.checkpoint_record.get(self.s, Storage.at(entries, lo - 1), "value"))

    def balance_at(self, isin: int, account: bytes, height: int) -> int:
        return self._value_at(Storage.at(self.CHECKPOINTS, isin, account),
                              Storage.at(self.CHECKPOINT, isin, account), height)

    def supply_at(self, isin: int, height: int) -> int:
        return self._value_at(Storage.at(self.SUPPLY_CHECKPOINTS, isin),
                              Storage.at(self.SUPPLY_CHECKPOINT, isin), height)

    # --- investors ---------------------------------------------------------------------------
    def investor(self, account: bytes) -> Investor:
        return Investor.load(self.s, Storage.at(self.INVESTOR, account), account=account,
                             restriction=0)

    def investor_words(self, account: bytes) -> list[int]:
        """The investor record's stored words as `investor` reads them (the same slots, in
        the same order), without making the record: the eligibility checks' read."""
        base, sloads = Storage.at(self.INVESTOR, account), self.s.sloads
        if sloads is not None:  # in one engine call
            return sloads([base + offset for offset in INVESTOR_OFFSETS])
        get = self.s.get_uint
        return [get(base + offset) for offset in INVESTOR_OFFSETS]

    def set_investor(self, account: bytes, **values: Any) -> None:
        Investor.put_fields(self.s, Storage.at(self.INVESTOR, account), **values)
        self.index(self.INVESTORS).add(address_word(account))

    def dividend_paid(self, dividend_id: int, account: bytes) -> int | None:
        """What `account` was paid of a dividend, or None when not yet paid."""
        raw = self.word(self.DIVIDEND_PAID, dividend_id, account)
        return raw - 1 if raw else None

    def set_dividend_paid(self, dividend_id: int, account: bytes, amount: int) -> None:
        self.set_word(amount + 1, self.DIVIDEND_PAID, dividend_id, account)


def order_base(n: int) -> int:
    """The base slot of order `n`."""
    return Storage.at(SecuritiesState.ORDER, n)


# the investor record's stored words, in order, and where `SecuritiesState.investor_words`
# answers each field
INVESTOR_OFFSETS = tuple(s.offset for s in Investor.STORED)
CUSTODIAN_WORD, KYC_WORD, JURISDICTION_WORD, FROZEN_WORD, REGULATOR_FROZEN_WORD = (
    [s.name for s in Investor.STORED].index(n)
    for n in ("custodian", "kyc_expiry", "jurisdiction", "frozen", "regulator_frozen"))


# --- the order book ----------------------------------------------------------------------------
class BookFull(Exception):
    """A side already has `MAX_LEVELS` price levels."""


class OrderBook:
    """An instrument's order book (slots 20, 21): per side, a linked list of price levels
    from the best price down (bids highest first, asks lowest first), each level a first-in
    first-out queue of order ids — price-time priority, read and changed in a bounded number
    of slots. Placing walks at most `MAX_LEVELS` levels to find its place.

    Level, BookSide and an order's links are plain words (`word_fields`): each is read or
    written by one storage call at the slot and to the value Record.get/put would use, and a
    change finds its level's slot once."""

    def __init__(self, state: SecuritiesState, isin: int, side: int) -> None:
        self.s, self.isin, self.side = state.s, isin, side
        self.base = Storage.at(SecuritiesState.BOOK, isin, side)
        self._next, self._prev = state.order_links  # an order's links (by its layout)

    def level(self, price: int) -> int:
        """The base slot of the level at `price`."""
        return Storage.at(SecuritiesState.LEVEL, self.isin, self.side, price)

    def better(self, a: int, b: int) -> bool:
        """Whether price `a` comes before price `b` on this side."""
        return a > b if self.side == BUY else a < b

    # --- reads -------------------------------------------------------------------------------
    def best(self) -> int:
        return self.s.get_uint(self.base + _BEST)

    def head(self, price: int) -> int:
        return self.s.get_uint(self.level(price) + _HEAD)

    def prices(self, limit: int) -> list[int]:
        out: list[int] = []
        price = self.best()
        while price and len(out) < limit:
            out.append(price)
            price = self.s.get_uint(self.level(price) + _WORSE)
        return out

    def orders_at(self, price: int, limit: int) -> list[int]:
        out: list[int] = []
        order = self.head(price)
        while order and len(out) < limit:
            out.append(order)
            order = self.s.get_uint(order_base(order) + self._next)
        return out

    # --- changes -----------------------------------------------------------------------------
    def append(self, order_id: int, price: int, quantity: int) -> None:
        """Queue an order at the tail of its price level (creating the level in place)."""
        get, put, lv = self.s.get_uint, self.s.set_uint, self.level(price)
        count = get(lv + _COUNT)
        if count == 0:
            self._insert_level(price, lv)
        tail = get(lv + _TAIL)
        if tail:
            put(order_base(tail) + self._next, order_id)
            put(order_base(order_id) + self._prev, tail)
        else:
            put(lv + _HEAD, order_id)
        put(lv + _TAIL, order_id)
        put(lv + _COUNT, count + 1)
        put(lv + _QUANTITY, get(lv + _QUANTITY) + quantity)

    def reduce(self, price: int, quantity: int) -> None:
        lv = self.level(price)
        self.s.set_uint(lv + _QUANTITY, self.s.get_uint(lv + _QUANTITY) - quantity)

    def remove(self, order_id: int, price: int, remaining: int) -> None:
        """Unlink an order (its `remaining` leaves the level's quantity)."""
        get, put, lv = self.s.get_uint, self.s.set_uint, self.level(price)
        base = order_base(order_id)
        nxt, prv = get(base + self._next), get(base + self._prev)
        put(order_base(prv) + self._next if prv else lv + _HEAD, nxt)
        put(order_base(nxt) + self._prev if nxt else lv + _TAIL, prv)
        if nxt:
            put(base + self._next, 0)
        if prv:
            put(base + self._prev, 0)
        count = get(lv + _COUNT) - 1
        put(lv + _COUNT, count)
        put(lv + _QUANTITY, get(lv + _QUANTITY) - remaining)
        if count == 0:
            self._remove_level(lv)

    def _neighbours(self, better: int, worse: int, price: int) -> None:
        """Point `better`'s worse link (or the side's best) and `worse`'s better link at
        `price` (0: at each other, unlinking the level between them)."""
        put = self.s.set_uint
        put(self.level(better) + _WORSE if better else self.base + _BEST, price or worse)
        if worse:
            put(self.level(worse) + _BETTER, price or better)

    def _insert_level(self, price: int, lv: int) -> None:
        get, put = self.s.get_uint, self.s.set_uint
        levels = get(self.base + _LEVELS)
        if levels >= MAX_LEVELS:
            raise BookFull
        better, worse = 0, self.best()
        while worse and not self.better(price, worse):
            better, worse = worse, get(self.level(worse) + _WORSE)
        put(lv + _BETTER, better)
        put(lv + _WORSE, worse)
        self._neighbours(better, worse, price)
        put(self.base + _LEVELS, levels + 1)

    def _remove_level(self, lv: int) -> None:
        get, put = self.s.get_uint, self.s.set_uint
        better, worse = get(lv + _BETTER), get(lv + _WORSE)
        self._neighbours(better, worse, 0)
        for offset in (_BETTER, _WORSE, _HEAD, _TAIL):
            put(lv + offset, 0)
        put(self.base + _LEVELS, get(self.base + _LEVELS) - 1)
