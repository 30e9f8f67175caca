"""Where the CashTokens and Securities contracts keep their state: typed views over their EVM
storage slots (`consortium.evm.host.Storage`), so the state root covers every balance, order
and trade. The same views read a contract's slots from the other contract (read-only).

Conventions as in `consortium.system.state`: `at(s, k…)` is Solidity's mapping slot; a
struct's fields sit at consecutive slots from its base; a set keeps its count at s, item i at
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

from collections.abc import Callable
from dataclasses import dataclass

from consortium.apps.securities.model import (
    DIVIDEND_STATES,
    ORDER_STATES,
    PROPOSAL_STATES,
    TRADE_STATES,
    currency_text,
    isin_text,
    jurisdiction_text,
)
from consortium.evm.host import Storage
from consortium.evm.records import WordSet, address_word

# --- cash tokens -----------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRecord:
    currency: str
    issuer: bytes
    supply: int
    created_at: int
    name: str


class CashState:
    CURRENCIES, TOKENS, BALANCES, ALLOWANCES, LOCKS, HOLDERS, HELD = 0, 2, 3, 4, 5, 6, 8
    ISSUER, SUPPLY, CREATED_AT, NAME = 0, 1, 2, 3

    def __init__(self, storage: Storage) -> None:
        self.s = storage

    def currencies(self) -> WordSet:
        return WordSet(self.s, self.CURRENCIES)

    def holders(self, currency: int) -> WordSet:
        return WordSet(self.s, Storage.at(self.HOLDERS, currency))

    def held(self, account: bytes) -> WordSet:
        return WordSet(self.s, Storage.at(self.HELD, account))

    def exists(self, currency: int) -> bool:
        return currency in self.currencies()

    def _token(self, currency: int) -> int:
        return Storage.at(self.TOKENS, currency)

    def token(self, currency: int) -> TokenRecord:
        b = self._token(currency)
        return TokenRecord(
            currency_text(currency), self.s.get_address(b + self.ISSUER),
            self.s.get_uint(b + self.SUPPLY), self.s.get_uint(b + self.CREATED_AT),
            self.s.get_string(b + self.NAME),
        )

    def issuer(self, currency: int) -> bytes:
        return self.s.get_address(self._token(currency) + self.ISSUER)

    def supply(self, currency: int) -> int:
        return self.s.get_uint(self._token(currency) + self.SUPPLY)

    def set_supply(self, currency: int, value: int) -> None:
        self.s.set_uint(self._token(currency) + self.SUPPLY, value)

    def create(self, currency: int, issuer: bytes, name: str, height: int) -> None:
        b = self._token(currency)
        self.s.set_address(b + self.ISSUER, issuer)
        self.s.set_uint(b + self.CREATED_AT, height)
        self.s.set_string(b + self.NAME, name)
        self.currencies().add(currency)

    def balance(self, currency: int, account: bytes) -> int:
        return self.s.get_uint(Storage.at(self.BALANCES, currency, account))

    def locked(self, currency: int, account: bytes) -> int:
        return self.s.get_uint(Storage.at(self.BALANCES, currency, account) + 1)

    def set_balance(self, currency: int, account: bytes, value: int) -> None:
        self.s.set_uint(Storage.at(self.BALANCES, currency, account), value)
        word = address_word(account)
        self.holders(currency).add(word)
        self.held(account).add(currency)

    def set_locked(self, currency: int, account: bytes, value: int) -> None:
        self.s.set_uint(Storage.at(self.BALANCES, currency, account) + 1, value)

    def allowance(self, currency: int, owner: bytes, spender: bytes) -> int:
        return self.s.get_uint(Storage.at(self.ALLOWANCES, currency, owner, spender))

    def set_allowance(self, currency: int, owner: bytes, spender: bytes, value: int) -> None:
        self.s.set_uint(Storage.at(self.ALLOWANCES, currency, owner, spender), value)

    def locked_by(self, currency: int, owner: bytes, holder: bytes) -> int:
        return self.s.get_uint(Storage.at(self.LOCKS, currency, owner, holder))

    def set_locked_by(self, currency: int, owner: bytes, holder: bytes, value: int) -> None:
        self.s.set_uint(Storage.at(self.LOCKS, currency, owner, holder), value)


# --- securities ------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstrumentRecord:
    isin: str
    agent: bytes
    issuer: bytes
    supply: int
    paused: bool
    document_hash: bytes
    currency: str
    cycle: int
    window: int
    created_at: int
    name: str


@dataclass(frozen=True)
class InvestorRecord:
    account: bytes
    custodian: bytes
    kyc_expiry: int
    jurisdiction: str
    frozen: bool  # by its custodian
    regulator_frozen: bool
    updated_at: int

    @property
    def registered(self) -> bool:
        return self.custodian != b"\x00" * 20


@dataclass(frozen=True)
class OrderRecord:
    id: int
    isin: str
    owner: bytes
    side: int
    price: int
    quantity: int
    remaining: int
    cash_locked: int
    expiry: int
    state: str
    placed_at: int
    closed_at: int
    next: int
    prev: int

    def expired_at(self, height: int) -> bool:
        return self.expiry != 0 and height >= self.expiry


@dataclass(frozen=True)
class TradeRecord:
    id: int
    isin: str
    buyer: bytes
    seller: bytes
    price: int
    quantity: int
    buy_order: int
    sell_order: int
    state: str
    traded_at: int
    settle_height: int
    deadline: int
    closed_at: int
    proposal: int

    @property
    def cash(self) -> int:
        return self.price * self.quantity


@dataclass(frozen=True)
class ProposalRecord:
    id: int
    isin: str
    proposer: bytes
    counterparty: bytes
    side: int  # the proposer's side
    quantity: int
    price: int
    deadline: int
    state: str
    created_at: int
    closed_at: int
    trade: int

    @property
    def seller(self) -> bytes:
        return self.proposer if self.side == 2 else self.counterparty

    @property
    def buyer(self) -> bytes:
        return self.counterparty if self.side == 2 else self.proposer


@dataclass(frozen=True)
class DividendRecord:
    id: int
    isin: str
    record_height: int
    currency: str
    per_share: int
    total: int
    paid: int
    state: str
    declared_at: int
    cursor: int
    payer: bytes


@dataclass(frozen=True)
class ForcedTransferRecord:
    id: int
    isin: str
    from_: bytes
    to: bytes
    amount: int
    regulator: bytes
    height: int
    reason: str


def _state(names: tuple[str, ...], raw: int) -> str:
    return names[raw - 1] if 1 <= raw <= len(names) else ""


class SecuritiesState:
    INSTRUMENTS, INSTRUMENT, HOLDINGS, CHECKPOINTS, CHECKPOINT = 0, 2, 3, 4, 5
    SUPPLY_CHECKPOINTS, SUPPLY_CHECKPOINT, HOLDERS, HELD = 6, 7, 8, 10
    INVESTOR, INVESTORS, JURISDICTION, JURISDICTIONS = 12, 13, 15, 16
    ORDER_COUNT, ORDER, BOOK, LEVEL, ORDERS_OF = 18, 19, 20, 21, 22
    TRADE_COUNT, TRADE, TRADES_OF_ISIN, TRADES_OF, PENDING = 24, 25, 26, 28, 30
    PROPOSAL_COUNT, PROPOSAL, PROPOSALS_OF = 32, 33, 34
    DIVIDEND_COUNT, DIVIDEND, DIVIDEND_PAID, DIVIDENDS_OF = 36, 37, 38, 39
    FORCED_COUNT, FORCED = 41, 42

    # instrument fields
    I_AGENT, I_ISSUER, I_SUPPLY, I_PAUSED, I_DOC, I_CURRENCY, I_CYCLE, I_WINDOW = range(8)
    I_CREATED, I_NAME = 8, 9
    # investor fields
    V_CUSTODIAN, V_EXPIRY, V_JURISDICTION, V_FROZEN, V_REG_FROZEN, V_UPDATED = range(6)
    # order fields
    (O_ISIN, O_OWNER, O_SIDE, O_PRICE, O_QTY, O_REMAINING, O_CASH, O_EXPIRY, O_STATE,
     O_PLACED, O_CLOSED, O_NEXT, O_PREV) = range(13)
    # trade fields
    (T_ISIN, T_BUYER, T_SELLER, T_PRICE, T_QTY, T_BUY, T_SELL, T_STATE, T_TRADED, T_SETTLE,
     T_DEADLINE, T_CLOSED, T_PROPOSAL) = range(13)
    # proposal fields
    (P_ISIN, P_PROPOSER, P_COUNTERPARTY, P_SIDE, P_QTY, P_PRICE, P_DEADLINE, P_STATE,
     P_CREATED, P_CLOSED, P_TRADE) = range(11)
    # dividend fields
    (D_ISIN, D_RECORD, D_CURRENCY, D_PER_SHARE, D_TOTAL, D_PAID, D_STATE, D_DECLARED,
     D_CURSOR, D_PAYER) = range(10)
    # forced transfer fields
    F_ISIN, F_FROM, F_TO, F_AMOUNT, F_REGULATOR, F_HEIGHT, F_REASON = range(7)

    def __init__(self, storage: Storage) -> None:
        self.s = storage

    # --- generic struct access ---------------------------------------------------------------

    def get(self, base: int, field: int) -> int:
        return self.s.get_uint(base + field)

    def put(self, base: int, field: int, value: int) -> None:
        self.s.set_uint(base + field, value)

    def addr(self, base: int, field: int) -> bytes:
        return self.s.get_address(base + field)

    def put_addr(self, base: int, field: int, value: bytes) -> None:
        self.s.set_address(base + field, value)

    # --- instruments -------------------------------------------------------------------------

    def instruments(self) -> WordSet:
        return WordSet(self.s, self.INSTRUMENTS)

    def instrument_base(self, isin: int) -> int:
        return Storage.at(self.INSTRUMENT, isin)

    def instrument_exists(self, isin: int) -> bool:
        return isin in self.instruments()

    def instrument(self, isin: int) -> InstrumentRecord:
        b = self.instrument_base(isin)
        g = self.s.get_uint
        return InstrumentRecord(
            isin=isin_text(isin), agent=self.addr(b, self.I_AGENT),
            issuer=self.addr(b, self.I_ISSUER), supply=g(b + self.I_SUPPLY),
            paused=g(b + self.I_PAUSED) != 0, document_hash=self.s.get_bytes32(b + self.I_DOC),
            currency=currency_text(g(b + self.I_CURRENCY)), cycle=g(b + self.I_CYCLE),
            window=g(b + self.I_WINDOW), created_at=g(b + self.I_CREATED),
            name=self.s.get_string(b + self.I_NAME),
        )

    def holders(self, isin: int) -> WordSet:
        return WordSet(self.s, Storage.at(self.HOLDERS, isin))

    def held(self, account: bytes) -> WordSet:
        return WordSet(self.s, Storage.at(self.HELD, account))

    def jurisdictions(self, isin: int) -> WordSet:
        return WordSet(self.s, Storage.at(self.JURISDICTIONS, isin))

    # --- holdings and checkpoints ------------------------------------------------------------

    def balance(self, isin: int, account: bytes) -> int:
        return self.s.get_uint(Storage.at(self.HOLDINGS, isin, account))

    def locked(self, isin: int, account: bytes) -> int:
        return self.s.get_uint(Storage.at(self.HOLDINGS, isin, account) + 1)

    def set_locked(self, isin: int, account: bytes, value: int) -> None:
        self.s.set_uint(Storage.at(self.HOLDINGS, isin, account) + 1, value)

    def set_balance(self, isin: int, account: bytes, value: int, height: int) -> None:
        """Set a balance and record it as the account's balance at `height`."""
        self.s.set_uint(Storage.at(self.HOLDINGS, isin, account), value)
        self.holders(isin).add(address_word(account))
        self.held(account).add(isin)
        self._checkpoint(Storage.at(self.CHECKPOINTS, isin, account),
                         lambda i: Storage.at(self.CHECKPOINT, isin, account, i), height, value)

    def set_supply(self, isin: int, value: int, height: int) -> None:
        self.put(self.instrument_base(isin), self.I_SUPPLY, value)
        self._checkpoint(Storage.at(self.SUPPLY_CHECKPOINTS, isin),
                         lambda i: Storage.at(self.SUPPLY_CHECKPOINT, isin, i), height, value)

    def _checkpoint(self, count_slot: int, entry: Callable[[int], int], height: int,
                    value: int) -> None:
        at = entry  # i -> the base slot of checkpoint i: (height, value)
        n = self.s.get_uint(count_slot)
        if n and self.s.get_uint(at(n - 1)) == height:
            self.s.set_uint(at(n - 1) + 1, value)
            return
        base = at(n)
        self.s.set_uint(base, height)
        self.s.set_uint(base + 1, value)
        self.s.set_uint(count_slot, n + 1)

    def _value_at(self, count_slot: int, entry: Callable[[int], int], height: int) -> int:
        """The value of the last checkpoint at or before `height` (binary search)."""
        at = entry
        lo, hi = 0, self.s.get_uint(count_slot)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.s.get_uint(at(mid)) <= height:
                lo = mid + 1
            else:
                hi = mid
        return self.s.get_uint(at(lo - 1) + 1) if lo else 0

    def balance_at(self, isin: int, account: bytes, height: int) -> int:
        return self._value_at(Storage.at(self.CHECKPOINTS, isin, account),
                              lambda i: Storage.at(self.CHECKPOINT, isin, account, i), height)

    def supply_at(self, isin: int, height: int) -> int:
        return self._value_at(Storage.at(self.SUPPLY_CHECKPOINTS, isin),
                              lambda i: Storage.at(self.SUPPLY_CHECKPOINT, isin, i), height)

    # --- investors ---------------------------------------------------------------------------

    def investors(self) -> WordSet:
        return WordSet(self.s, self.INVESTORS)

    def investor_base(self, account: bytes) -> int:
        return Storage.at(self.INVESTOR, account)

    def investor(self, account: bytes) -> InvestorRecord:
        b = self.investor_base(account)
        g = self.s.get_uint
        return InvestorRecord(
            account=account, custodian=self.addr(b, self.V_CUSTODIAN),
            kyc_expiry=g(b + self.V_EXPIRY),
            jurisdiction=jurisdiction_text(g(b + self.V_JURISDICTION)),
            frozen=g(b + self.V_FROZEN) != 0, regulator_frozen=g(b + self.V_REG_FROZEN) != 0,
            updated_at=g(b + self.V_UPDATED),
        )

    # --- orders ------------------------------------------------------------------------------

    def order_base(self, order_id: int) -> int:
        return Storage.at(self.ORDER, order_id)

    def order(self, order_id: int) -> OrderRecord:
        b = self.order_base(order_id)
        g = self.s.get_uint
        return OrderRecord(
            id=order_id, isin=isin_text(g(b + self.O_ISIN)), owner=self.addr(b, self.O_OWNER),
            side=g(b + self.O_SIDE), price=g(b + self.O_PRICE), quantity=g(b + self.O_QTY),
            remaining=g(b + self.O_REMAINING), cash_locked=g(b + self.O_CASH),
            expiry=g(b + self.O_EXPIRY), state=_state(ORDER_STATES, g(b + self.O_STATE)),
            placed_at=g(b + self.O_PLACED), closed_at=g(b + self.O_CLOSED),
            next=g(b + self.O_NEXT), prev=g(b + self.O_PREV),
        )

    def orders_of(self, account: bytes) -> WordSet:
        return WordSet(self.s, Storage.at(self.ORDERS_OF, account))

    # --- trades ------------------------------------------------------------------------------

    def trade_base(self, trade_id: int) -> int:
        return Storage.at(self.TRADE, trade_id)

    def trade(self, trade_id: int) -> TradeRecord:
        b = self.trade_base(trade_id)
        g = self.s.get_uint
        return TradeRecord(
            id=trade_id, isin=isin_text(g(b + self.T_ISIN)), buyer=self.addr(b, self.T_BUYER),
            seller=self.addr(b, self.T_SELLER), price=g(b + self.T_PRICE),
            quantity=g(b + self.T_QTY), buy_order=g(b + self.T_BUY),
            sell_order=g(b + self.T_SELL), state=_state(TRADE_STATES, g(b + self.T_STATE)),
            traded_at=g(b + self.T_TRADED), settle_height=g(b + self.T_SETTLE),
            deadline=g(b + self.T_DEADLINE), closed_at=g(b + self.T_CLOSED),
            proposal=g(b + self.T_PROPOSAL),
        )

    def trades_of_isin(self, isin: int) -> WordSet:
        return WordSet(self.s, Storage.at(self.TRADES_OF_ISIN, isin))

    def trades_of(self, account: bytes) -> WordSet:
        return WordSet(self.s, Storage.at(self.TRADES_OF, account))

    def pending(self, isin: int) -> WordSet:
        return WordSet(self.s, Storage.at(self.PENDING, isin))

    # --- bilateral proposals -----------------------------------------------------------------

    def proposal_base(self, proposal_id: int) -> int:
        return Storage.at(self.PROPOSAL, proposal_id)

    def proposal(self, proposal_id: int) -> ProposalRecord:
        b = self.proposal_base(proposal_id)
        g = self.s.get_uint
        return ProposalRecord(
            id=proposal_id, isin=isin_text(g(b + self.P_ISIN)),
            proposer=self.addr(b, self.P_PROPOSER),
            counterparty=self.addr(b, self.P_COUNTERPARTY), side=g(b + self.P_SIDE),
            quantity=g(b + self.P_QTY), price=g(b + self.P_PRICE),
            deadline=g(b + self.P_DEADLINE),
            state=_state(PROPOSAL_STATES, g(b + self.P_STATE)),
            created_at=g(b + self.P_CREATED), closed_at=g(b + self.P_CLOSED),
            trade=g(b + self.P_TRADE),
        )

    def proposals_of(self, account: bytes) -> WordSet:
        return WordSet(self.s, Storage.at(self.PROPOSALS_OF, account))

    # --- dividends ---------------------------------------------------------------------------

    def dividend_base(self, dividend_id: int) -> int:
        return Storage.at(self.DIVIDEND, dividend_id)

    def dividend(self, dividend_id: int) -> DividendRecord:
        b = self.dividend_base(dividend_id)
        g = self.s.get_uint
        return DividendRecord(
            id=dividend_id, isin=isin_text(g(b + self.D_ISIN)), record_height=g(b + self.D_RECORD),
            currency=currency_text(g(b + self.D_CURRENCY)), per_share=g(b + self.D_PER_SHARE),
            total=g(b + self.D_TOTAL), paid=g(b + self.D_PAID),
            state=_state(DIVIDEND_STATES, g(b + self.D_STATE)),
            declared_at=g(b + self.D_DECLARED), cursor=g(b + self.D_CURSOR),
            payer=self.addr(b, self.D_PAYER),
        )

    def dividends_of(self, isin: int) -> WordSet:
        return WordSet(self.s, Storage.at(self.DIVIDENDS_OF, isin))

    def dividend_paid(self, dividend_id: int, account: bytes) -> int | None:
        """What `account` was paid of a dividend, or None when not yet paid."""
        raw = self.s.get_uint(Storage.at(self.DIVIDEND_PAID, dividend_id, account))
        return raw - 1 if raw else None

    def set_dividend_paid(self, dividend_id: int, account: bytes, amount: int) -> None:
        self.s.set_uint(Storage.at(self.DIVIDEND_PAID, dividend_id, account), amount + 1)

    # --- forced transfers --------------------------------------------------------------------

    def forced(self, forced_id: int) -> ForcedTransferRecord:
        b = Storage.at(self.FORCED, forced_id)
        g = self.s.get_uint
        return ForcedTransferRecord(
            id=forced_id, isin=isin_text(g(b + self.F_ISIN)), from_=self.addr(b, self.F_FROM),
            to=self.addr(b, self.F_TO), amount=g(b + self.F_AMOUNT),
            regulator=self.addr(b, self.F_REGULATOR), height=g(b + self.F_HEIGHT),
            reason=self.s.get_string(b + self.F_REASON),
        )

    # --- counters ----------------------------------------------------------------------------

    def next_id(self, count_slot: int) -> int:
        n = self.s.get_uint(count_slot) + 1
        self.s.set_uint(count_slot, n)
        return n

    def count(self, count_slot: int) -> int:
        return self.s.get_uint(count_slot)
