"""The Securities native contract (0x…2001): instruments, holdings, the investor eligibility
registry, order books, bilateral trades, delivery-versus-payment settlement, forced transfers
and cash dividends (docs/services/securities.md). Cash moves in CashTokens (0x…2000), called
as the holder of the locks its users allowed this contract.

Every transfer but the regulator's `forceTransfer` passes `detectTransferRestriction`
(ERC-1404: a non-zero code refuses with its message), and from contract version 2 on a
`mint` passes its recipient's half (the instrument's issuer account: a freeze only). An
order locks what it may deliver and matches the other side in price-time priority at the
resting price, in at most `MAX_MATCH_STEPS` steps (its rest is cancelled if it still
crosses: the book never rests crossed, gas stays bounded). Fills settle T+0 in the same
transaction, or pend T+n with both locks until `settle` (from height + n) or `expireTrade`
(from height + n + window). A dividend pays each holder per-share × its balance at the
record height (checkpointed), once.
"""

from __future__ import annotations

from typing import Any, NoReturn

from consortium.apps.currency import currency_problem, currency_word
from consortium.apps.securities.cash import CashTokens
from consortium.apps.securities.model import (
    BUY,
    CASH_ADDRESS,
    CUSTODIAN,
    DEFAULT_SETTLEMENT_WINDOW,
    INSUFFICIENT,
    INVESTOR,
    ISSUER_AGENT,
    JURISDICTION,
    MARKET_OPERATOR,
    MAX_AMOUNT,
    MAX_CYCLE,
    MAX_DISTRIBUTE,
    MAX_LEVELS,
    MAX_MATCH_STEPS,
    MAX_READ,
    PAUSED,
    RECIPIENT_CODES,
    REGULATOR,
    SECURITIES_ADDRESS,
    SELL,
    SENDER_CODES,
    SUCCESS,
    UNKNOWN_INSTRUMENT,
    code_text,
    isin_problem,
    isin_text,
    isin_word,
    jurisdiction_problem,
    jurisdiction_word,
    restriction_message,
    side_text,
)
from consortium.apps.securities.state import (
    CUSTODIAN_WORD,
    FROZEN_WORD,
    JURISDICTION_WORD,
    KYC_WORD,
    REGULATOR_FROZEN_WORD,
    ZERO,
    BookFull,
    CashState,
    Dividend,
    Instrument,
    InstrumentTerms,
    Investor,
    Order,
    OrderBook,
    Proposal,
    SecuritiesState,
    Trade,
    answered,
)
from consortium.apps.securities.state import ForcedTransfer as ForcedRecord
from consortium.apps.service import ServiceContract, count_read, index_read, keyed_reads, view
from consortium.evm.host import Storage
from consortium.evm.native import ERROR_SELECTOR, StateOf, event, method, register, revert_reason
from consortium.evm.records import Record, WordSet, address_word, word_address
from consortium.system.permissions import as_address, hex_address, switch

S = SecuritiesState
# The contract's version (`Host.native_version`) from which `mint` checks its recipient's
# eligibility: new chains start at it (genesis `native_versions`), older ones reach it by the
# software upgrade `securities-mint-eligibility` (`consortium.ledger.upgrades`); before it,
# a mint is unchecked, as the chain recorded it.
MINT_CHECKS_RECIPIENT = 2
_CASH = {spec.name: spec for spec in CashTokens.methods().values()}
Terms = Instrument | InstrumentTerms  # what an order's path reads of its instrument
IDS = "uint256[]"


def _camel(what: str) -> str:
    head, *rest = what.split()
    return head + "".join(w.capitalize() for w in rest)


def _record(what: str, record: type[Record], arg: str = "") -> Any:
    return view(f"{_camel(what)}(uint256)", record.abi_type(), (arg or what + "_id",),
                lambda c, n: c._numbered(what, n).abi_tuple())


def _batched(what: str, record: type[Record]) -> tuple[Any, Any]:
    """`<what>(uint256)` and `<what>s(uint256[] ids)`: one by id, or several (a batch)."""
    return keyed_reads(f"{what}(uint256)", f"{what}s(uint256[])", (what + "_id", "ids"),
                       record.abi_type(), lambda c, n: c._numbered(what, n).abi_tuple(), what + "s")


def _isin_index(name: str, slot: int, sort: bool = False) -> Any:
    """An index of ids keyed by an instrument (which must exist)."""

    def answer(c: Securities, isin: str) -> list[int]:
        found = WordSet(c.storage, Storage.at(slot, c._isin(isin)))
        return sorted(found) if sort else list(found)

    return view(f"{name}(string)", IDS, ("isin",), answer)


@register
class Securities(ServiceContract):
    address = SECURITIES_ADDRESS

    Transition = event("string kind", "uint256 indexed id", "address indexed actor",
                       "string fromState", "string toState", "string reason")
    InstrumentIssued = event("string isin", "address indexed agent", "address indexed issuer",
                             "uint256 supply", "string currency", "bytes32 documentHash",
                             "string name")
    SecurityTransfer = event("string isin", "address indexed from", "address indexed to",
                             "uint256 amount")
    OrderPlaced = event("uint256 indexed orderId", "address indexed owner", "string isin",
                        "string side", "uint256 price", "uint256 quantity", "uint256 expiry")
    TradeExecuted = event("uint256 indexed tradeId", "address indexed buyer",
                          "address indexed seller", "string isin", "uint256 price",
                          "uint256 quantity", "uint256 buyOrder", "uint256 sellOrder",
                          "uint256 settleHeight")
    ForcedTransfer = event("uint256 indexed id", "address indexed from", "address indexed to",
                           "string isin", "uint256 amount", "address regulator", "string reason")
    InvestorUpdated = event("address indexed account", "address indexed by", "uint256 kycExpiry",
                            "string jurisdiction", "bool frozen", "bool regulatorFrozen")
    DividendDeclared = event("uint256 indexed dividendId", "string isin", "uint256 recordHeight",
                             "string currency", "uint256 perShare", "uint256 total")
    DividendPaid = event("uint256 indexed dividendId", "address indexed holder", "uint256 shares",
                         "uint256 amount")

    state = StateOf(SecuritiesState)

    # --- reads ---------------------------------------------------------------------------------
    instruments = view("instruments()", "string[]", (),
                        lambda c: [isin_text(w) for w in c.state.index(S.INSTRUMENTS)])
    instrument = view("instrument(string)", Instrument.abi_type(), ("isin",),
                       lambda c, isin: c._instrument(isin).abi_tuple())
    balance_of = view("balanceOf(string,address)", "uint256", ("isin", "account"),
                       lambda c, isin, a: c.state.balance(c._isin(isin), as_address(a)))
    balance_of_at = view(  # at the end of block `height`
        "balanceOfAt(string,address,uint256)", "uint256", ("isin", "account", "height"),
        lambda c, isin, a, height: c.state.balance_at(c._isin(isin), as_address(a), height))
    total_supply_at = view("totalSupplyAt(string,uint256)", "uint256", ("isin", "height"),
                            lambda c, isin, height: c.state.supply_at(c._isin(isin), height))
    holders = view(  # accounts holding it now: (account, balance, locked)
        "holders(string)", "(address,uint256,uint256)[]", ("isin",),
        lambda c, isin: c.state.positions(c._isin(isin)))
    investors = view("investors()", "address[]", (),
                      lambda c: [word_address(w) for w in c.state.index(S.INVESTORS)])
    message_for_transfer_restriction = view(
        "messageForTransferRestriction(uint8)", "string", ("code",),
        lambda c, code: restriction_message(code))

    @method("jurisdictions(string)", returns="string[]", view=True)
    def jurisdictions(self, isin: str) -> list[str]:
        self._instrument(isin)
        return [code_text(w, 2) for w in self.state.index(S.JURISDICTIONS, isin_word(isin))]

    @method("holding(string,address)", returns=("uint256", "uint256"), view=True)
    def holding(self, isin: str, account: str) -> tuple[int, int]:
        w, a = self._isin(isin), as_address(account)
        return self.state.balance(w, a), self.state.locked(w, a)

    @method("holdersAt(string,uint256)", returns="(address,uint256)[]", view=True)
    def holders_at(self, isin: str, height: int) -> list[tuple[bytes, int]]:
        """The record-date snapshot: accounts holding at the end of block `height`."""
        w = self._isin(isin)
        at = [(a, self.state.balance_at(w, a, height)) for a in map(word_address,
                                                                     self.state.holders(w))]
        return [(a, balance) for a, balance in at if balance]

    @method("holdingsOf(address)", returns="(string,uint256,uint256)[]", view=True)
    def holdings_of(self, account: str) -> list[tuple[str, int, int]]:
        return [(isin_text(w), b, lk) for w, b, lk in self.state.positions_of(as_address(account))]

    @method("investor(address)", returns=Investor.abi_type(), view=True)
    def investor(self, account: str) -> tuple[Any, ...]:
        a = as_address(account)
        return self.state.investor(a).with_(restriction=self._sender_code(a)).abi_tuple()

    @method("detectTransferRestriction(string,address,address,uint256)", returns="uint8", view=True)
    def detect_transfer_restriction(self, isin: str, from_: str, to: str, value: int) -> int:
        if isin_problem(isin) or not self.state.instrument_exists(isin_word(isin)):
            return UNKNOWN_INSTRUMENT
        return self._restriction(isin_word(isin), as_address(from_), as_address(to), value)

    # numbered records: how many, one by id, a batch; ISIN-keyed indexes
    order_count = count_read("orderCount()", S.ORDER_COUNT)
    trade_count = count_read("tradeCount()", S.TRADE_COUNT)
    proposal_count = count_read("proposalCount()", S.PROPOSAL_COUNT)
    dividend_count = count_read("dividendCount()", S.DIVIDEND_COUNT)
    forced_transfer_count = count_read("forcedTransferCount()", S.FORCED_COUNT)
    (order, orders), (trade, trades) = _batched("order", Order), _batched("trade", Trade)
    proposal, dividend = _record("proposal", Proposal), _record("dividend", Dividend)
    forced_transfer = _record("forced transfer", ForcedRecord, "forced_id")
    trades_of_instrument = _isin_index("tradesOfInstrument", S.TRADES_OF_ISIN)
    pending_trades = _isin_index("pendingTrades", S.PENDING, sort=True)
    dividends_of = _isin_index("dividendsOf", S.DIVIDENDS_OF)
    orders_of = index_read("ordersOf(address)", "account", S.ORDERS_OF)
    trades_of = index_read("tradesOf(address)", "account", S.TRADES_OF)
    proposals_of = index_read("proposalsOf(address)", "account", S.PROPOSALS_OF)

    @method("bookOrders(string,uint8,uint256)", returns=IDS, view=True)
    def book_orders(self, isin: str, side: int, limit: int) -> list[int]:
        """The resting orders of a side in priority order (at most `limit`)."""
        book = OrderBook(self.state, self._isin(isin), self._side(side))
        limit = min(limit, MAX_READ)
        out: list[int] = []
        for price in book.prices(MAX_LEVELS):
            out += book.orders_at(price, limit - len(out))
            if len(out) >= limit:
                break
        return out

    @method("depth(string,uint8,uint256)", returns="(uint256,uint256,uint256)[]", view=True)
    def depth(self, isin: str, side: int, levels: int) -> list[tuple[int, int, int]]:
        """The best `levels` price levels of a side: (price, quantity, orders), counting only
        orders that can still trade (not past their expiry)."""
        st = self.state
        book = OrderBook(st, self._isin(isin), self._side(side))
        out = []
        for price in book.prices(min(levels, MAX_LEVELS)):
            live = [o for o in (st.load("order", i) for i in book.orders_at(price, MAX_READ))
                    if not o.expired_at(self.height)]
            if live:
                out.append((price, sum(o.remaining for o in live), len(live)))
        return out

    @method("dividendOf(uint256,address)", returns=("uint256", "uint256", "bool"), view=True)
    def dividend_of(self, dividend_id: int, account: str) -> tuple[int, int, bool]:
        """(shares at the record height, amount due, paid) of one holder."""
        d = self._numbered("dividend", dividend_id)
        a = as_address(account)
        shares = self.state.balance_at(isin_word(d.isin), a, d.record_height)
        return shares, shares * d.per_share, self.state.dividend_paid(d.id, a) is not None

    # --- the issuer agent ----------------------------------------------------------------------
    @method("issue(string,string,address,uint256,bytes32,string,uint256)")
    def issue(self, isin: str, name: str, issuer: str, supply: int, document_hash: bytes,
              currency: str, cycle: int) -> None:
        caller = self.caller
        self.require_role(caller, ISSUER_AGENT, "issue an instrument")
        self.require_valid(isin_problem(isin) or currency_problem(currency))
        w = isin_word(isin)
        st = self.state
        if st.instrument_exists(w):
            self.revert(f"instrument {isin} is already issued (agent "
                        f"{hex_address(st.instrument(w).agent)})")
        self.require_text(name, "name")
        holder = as_address(issuer)
        self.require(holder != ZERO, "the issuer account is required")
        self.require(0 < supply < MAX_AMOUNT, "the supply must be above 0 and below 2**128")
        self.require(bytes(document_hash) != b"\x00" * 32, "the document hash is required")
        self.require(CashState(Storage(self.host, CASH_ADDRESS)).exists(currency_word(currency)),
                     f"no {currency} cash token: a cash bank creates it first")
        self.require(cycle <= MAX_CYCLE, f"the settlement cycle is at most {MAX_CYCLE} blocks")
        st.set_instrument(w, agent=caller, issuer=holder, document_hash=bytes(document_hash),
                          currency=currency, cycle=cycle, window=DEFAULT_SETTLEMENT_WINDOW,
                          created_at=self.height, name=name)
        st.index(S.INSTRUMENTS).add(w)
        st.set_supply(w, supply, self.height)
        st.set_balance(w, holder, supply, self.height)
        self.emit(self.InstrumentIssued, isin, caller, holder, supply, currency,
                  bytes(document_hash), name)
        self.emit(self.SecurityTransfer, isin, ZERO, holder, supply)
        self._transition("instrument", w, "", "active",
                         f"issued: {supply} units to {hex_address(holder)}, T+{cycle}")

    @method("mint(string,address,uint256)")
    def mint(self, isin: str, to: str, amount: int) -> None:
        inst = self._as_agent(isin, "mint")
        w = isin_word(isin)
        dest = as_address(to)
        self.require(dest != ZERO, "cannot mint to the zero address")
        self.require(amount > 0, "the amount must be above 0")
        self.require(inst.supply + amount < MAX_AMOUNT, "the supply would reach 2**128")
        if self.host.native_version() >= MINT_CHECKS_RECIPIENT:  # read without gas
            code = self._mint_code(w, inst, dest)
            if code:
                self._refuse("mint refused", code, f" ({hex_address(dest)})")
        st = self.state
        st.set_supply(w, inst.supply + amount, self.height)
        st.set_balance(w, dest, st.balance(w, dest) + amount, self.height)
        self.emit(self.SecurityTransfer, isin, ZERO, dest, amount)

    @method("redeem(string,address,uint256)")
    def redeem(self, isin: str, holder: str, amount: int) -> None:
        inst = self._as_agent(isin, "redeem")
        w = isin_word(isin)
        who = as_address(holder)
        self.require(amount > 0, "the amount must be above 0")
        self._require_free(w, who, amount, "redemption")
        st = self.state
        st.set_balance(w, who, st.balance(w, who) - amount, self.height)
        st.set_supply(w, inst.supply - amount, self.height)
        self.emit(self.SecurityTransfer, isin, who, ZERO, amount)

    pause, unpause = switch("pause(string,string)", "unpause(string,string)", ("isin", "reason"),
                            "_set_paused")

    @method("setSettlementCycle(string,uint256,uint256)")
    def set_settlement_cycle(self, isin: str, cycle: int, window: int) -> None:
        inst = self._instrument(isin)
        caller = self.caller
        self.require(self._is_agent(caller, inst) or self.has_role(caller, MARKET_OPERATOR),
                     f"only {isin}'s issuer agent or a market operator may set its settlement "
                     "cycle")
        self.require(cycle <= MAX_CYCLE, f"the settlement cycle is at most {MAX_CYCLE} blocks")
        self.require(0 < window <= MAX_CYCLE, f"the window must be 1..{MAX_CYCLE} blocks")
        self.state.set_instrument(isin_word(isin), cycle=cycle, window=window)
        self._unchanged(inst, f"settlement T+{cycle}, window {window} blocks (new trades)")

    @method("setJurisdictions(string,string[])")
    def set_jurisdictions(self, isin: str, allowed: list[str]) -> None:
        inst = self._as_agent(isin, "set the jurisdictions of")
        self.require(len(allowed) <= 64, "at most 64 jurisdictions")
        for code in allowed:
            self.require_valid(jurisdiction_problem(code))
        js = self.state.index(S.JURISDICTIONS, isin_word(isin))
        js.clear()
        for code in allowed:
            js.add(jurisdiction_word(code))
        self._unchanged(inst, "jurisdictions: " + (", ".join(allowed) if allowed else "any"))

    # --- the eligibility registry --------------------------------------------------------------
    @method("setInvestor(address,uint256,string,bool)")
    def set_investor(self, account: str, kyc_expiry: int, jurisdiction: str,
                     frozen: bool) -> None:
        caller = self.caller
        self.require_role(caller, CUSTODIAN, "keep the investor registry")
        a = as_address(account)
        self.require(a != ZERO, "the zero address cannot be an investor")
        self.require_valid(jurisdiction_problem(jurisdiction))
        st = self.state
        v = st.investor(a)
        self.require(not v.registered or v.custodian == caller,
                     f"investor {hex_address(a)} is kept by custodian {hex_address(v.custodian)}")
        st.set_investor(a, custodian=caller, kyc_expiry=kyc_expiry, jurisdiction=jurisdiction,
                        frozen=frozen, updated_at=self.height)
        self.emit(self.InvestorUpdated, a, caller, kyc_expiry, jurisdiction, frozen,
                  v.regulator_frozen)
        old = "" if not v.registered else ("frozen" if v.frozen else "active")
        self._transition("investor", address_word(a), old, "frozen" if frozen else "active",
                         f"KYC until height {kyc_expiry}, jurisdiction {jurisdiction}")

    freeze_investor, unfreeze_investor = switch(
        "freezeInvestor(address,string)", "unfreezeInvestor(address,string)", ("account", "reason"),
        "_regulator_freeze")

    # --- transfers -----------------------------------------------------------------------------
    @method("transfer(string,address,uint256)", returns="bool")
    def transfer(self, isin: str, to: str, amount: int) -> bool:
        w = self._isin(isin)
        src, dest = self.caller, as_address(to)
        self.require(amount > 0, "the amount must be above 0")
        code = self._restriction(w, src, dest, amount)
        if code:
            self._refuse("transfer refused: transfer restricted", code,
                         self._detail(code, w, src, amount))
        self._move(w, isin, src, dest, amount, from_locked=False)
        return True

    @method("forceTransfer(string,address,address,uint256,string)", returns="uint256")
    def force_transfer(self, isin: str, from_: str, to: str, amount: int, reason: str) -> int:
        caller = self.caller
        self.require_role(caller, REGULATOR, "force a transfer")
        w = self._isin(isin)
        src, dest = as_address(from_), as_address(to)
        self.require_text(reason, "reason")
        self.require(dest != ZERO and src != dest, "a forced transfer needs two distinct accounts")
        self.require(amount > 0, "the amount must be above 0")
        self._require_free(w, src, amount, "forced transfer (cancel its orders first)")
        self._move(w, isin, src, dest, amount, from_locked=False)
        n = self.state.add("forced transfer", isin=isin, from_=src, to=dest, amount=amount,
                           regulator=caller, height=self.height, reason=reason)
        self.emit(self.ForcedTransfer, n, src, dest, isin, amount, caller, reason)
        return n

    # --- the order book ------------------------------------------------------------------------
    @method("placeOrder(string,uint8,uint256,uint256,uint256)", returns="uint256")
    def place_order(self, isin: str, side: int, price: int, quantity: int, expiry: int) -> int:
        caller = self.caller
        self.require_role(caller, INVESTOR, "place an order")
        w = self._isin(isin)
        st = self.state
        inst = st.terms(w)
        self._side(side)
        self._require_terms(price, quantity)
        if expiry and expiry <= self.height:
            self.revert(f"expiry height {expiry} has passed (the chain is at {self.height})")
        self._lock_leg("order", inst, w, caller, side, price, quantity)
        placed = dict(isin=isin, owner=caller, side=side, price=price, quantity=quantity,
                      expiry=expiry, placed_at=self.height)
        # layout 4: the order written once, when its matching is done (`_match`)
        order_id = st.new_id("order") if st.lean else st.add("order", **placed)
        st.enroll(S.ORDERS_OF, caller, order_id)
        self.emit(self.OrderPlaced, order_id, caller, isin, side_text(side), price, quantity,
                  expiry)
        self._transition("order", order_id, "", "open",
                         f"{side_text(side)} {quantity} {isin} at {price}")
        self._match(inst, order_id, caller, side, price, quantity, placed)
        return order_id

    @method("cancelOrder(uint256)")
    def cancel_order(self, order_id: int) -> None:
        o = self._numbered("order", order_id)
        caller = self.caller
        if not (caller == o.owner or self.has_role(caller, MARKET_OPERATOR)
                or self.has_role(caller, REGULATOR)):
            self.revert(f"only the order's owner {hex_address(o.owner)}, a market operator or "
                        f"the regulator may cancel order {order_id}; {hex_address(caller)} may "
                        "not")
        if o.state != "open":
            self.revert(f"order {order_id} is {o.state}: nothing to cancel")
        who = "its owner" if caller == o.owner else hex_address(caller)
        self._close_order(o, "cancelled", f"cancelled by {who}", on_book=True)

    @method("expireOrder(uint256)")
    def expire_order(self, order_id: int) -> None:
        o = self._numbered("order", order_id)
        self.require(o.state == "open", f"order {order_id} is {o.state}")
        self.require(o.expired_at(self.height),
                     f"order {order_id} expires at height {o.expiry}" if o.expiry
                     else f"order {order_id} has no expiry")
        self._close_order(o, "expired", f"expired at height {o.expiry}", on_book=True)

    # --- settlement ----------------------------------------------------------------------------
    @method("settle(uint256)")
    def settle(self, trade_id: int) -> None:
        t = self._numbered("trade", trade_id)
        self.require(t.state == "pending",
                     f"trade {trade_id} is {t.state}: a trade settles once")
        self.require(self.height >= t.settle_height,
                     f"trade {trade_id} settles from height {t.settle_height} (now {self.height})")
        self.require(self.height < t.deadline,
                     f"trade {trade_id} passed its deadline {t.deadline}: it can only expire")
        w = isin_word(t.isin)
        code = self._restriction(w, t.seller, t.buyer, t.quantity, locked=True)
        if code:
            self._refuse(f"trade {trade_id} cannot settle: transfer restricted", code)
        self._deliver(self.state.instrument(w), t.isin, t.seller, t.buyer, t.price, t.quantity)
        self.state.index(S.PENDING, w).remove(trade_id)
        self._close("trade", t, "settled", "delivery versus payment")

    @method("expireTrade(uint256)")
    def expire_trade(self, trade_id: int) -> None:
        t = self._numbered("trade", trade_id)
        self.require(t.state == "pending", f"trade {trade_id} is {t.state}")
        self.require(self.height >= t.deadline,
                     f"trade {trade_id} can settle until height {t.deadline}")
        w = isin_word(t.isin)
        st = self.state
        st.add_locked(w, t.seller, -t.quantity)
        self._cash("unlock", st.instrument(w).currency, t.buyer, t.price * t.quantity)
        st.index(S.PENDING, w).remove(trade_id)
        self._close("trade", t, "expired",
                    f"unsettled at its deadline {t.deadline}: both locks released")

    # --- bilateral trades ----------------------------------------------------------------------
    @method("propose(string,address,uint8,uint256,uint256,uint256)", returns="uint256")
    def propose(self, isin: str, counterparty: str, side: int, quantity: int, price: int,
                deadline: int) -> int:
        caller = self.caller
        self.require_role(caller, INVESTOR, "propose a trade")
        w = self._isin(isin)
        inst = self.state.instrument(w)
        other = as_address(counterparty)
        self._side(side)
        self.require(other not in (ZERO, caller), "the counterparty must be another account")
        self._require_terms(price, quantity)
        self.require(deadline > self.height,
                     f"deadline {deadline} has passed (the chain is at {self.height})")
        code = (self._recipient_code(w, other) if side == SELL
                else self._sender_code(other))
        if code:
            self._refuse("proposal refused", code, f" ({hex_address(other)}, the counterparty)")
        self._lock_leg("proposal", inst, w, caller, side, price, quantity)
        st = self.state
        n = st.add("proposal", isin=isin, proposer=caller, counterparty=other, side=side,
                   quantity=quantity, price=price, deadline=deadline, state="proposed",
                   created_at=self.height)
        for party in (caller, other):
            st.index(S.PROPOSALS_OF, party).add(n)
        self._transition("proposal", n, "", "proposed",
                         f"{side_text(side)} {quantity} {isin} at {price} with "
                         f"{hex_address(other)} until height {deadline}")
        return n

    @method("accept(uint256)", returns="uint256")
    def accept(self, proposal_id: int) -> int:
        p = self._numbered("proposal", proposal_id)
        caller = self.caller
        self.require(caller == p.counterparty,
                     f"only the counterparty {hex_address(p.counterparty)} may accept "
                     f"proposal {proposal_id}")
        self.require_role(caller, INVESTOR, "accept a trade")
        self.require(p.state == "proposed", f"proposal {proposal_id} is {p.state}")
        self.require(self.height < p.deadline,
                     f"proposal {proposal_id} passed its deadline {p.deadline}")
        w = isin_word(p.isin)
        inst = self.state.instrument(w)
        code = (self._sender_code(p.proposer) if p.side == SELL
                else self._recipient_code(w, p.proposer))
        if code:
            self._refuse("acceptance refused", code, f" ({hex_address(p.proposer)}, the proposer)")
        self._lock_leg("acceptance", inst, w, caller, 3 - p.side, p.price, p.quantity)
        parties = answered(p)
        trade_id = self._new_trade(inst, w, parties.buyer, parties.seller, p.price, p.quantity,
                                   0, 0, proposal_id)
        self.state.put("proposal", proposal_id, trade=trade_id)
        self._close("proposal", p, "accepted", f"accepted: trade {trade_id}")
        return trade_id

    @method("cancelProposal(uint256)")
    def cancel_proposal(self, proposal_id: int) -> None:
        p = self._numbered("proposal", proposal_id)
        caller = self.caller
        self.require(caller in (p.proposer, p.counterparty),
                     f"only the parties to proposal {proposal_id} may cancel it")
        self.require(p.state == "proposed", f"proposal {proposal_id} is {p.state}")
        who = "the proposer" if caller == p.proposer else "the counterparty (declined)"
        self._end_proposal(p, "cancelled", f"cancelled by {who}")

    @method("expireProposal(uint256)")
    def expire_proposal(self, proposal_id: int) -> None:
        p = self._numbered("proposal", proposal_id)
        self.require(p.state == "proposed", f"proposal {proposal_id} is {p.state}")
        self.require(self.height >= p.deadline,
                     f"proposal {proposal_id} is open until height {p.deadline}")
        self._end_proposal(p, "expired",
                           f"not accepted by its deadline {p.deadline}: nothing moved")

    # --- dividends -----------------------------------------------------------------------------
    @method("declareDividend(string,uint256,string,uint256)", returns="uint256")
    def declare_dividend(self, isin: str, record_height: int, currency: str, per_share: int) -> int:
        inst = self._as_agent(isin, "declare a dividend on")
        w = isin_word(isin)
        self.require(record_height < self.height,
                     f"the record height must be a past block (the chain is at {self.height})")
        self.require(record_height >= inst.created_at,
                     f"{isin} was issued at height {inst.created_at}")
        self.require_valid(currency_problem(currency))
        self.require(0 < per_share < MAX_AMOUNT, "the amount per share must be above 0")
        st = self.state
        total = per_share * st.supply_at(w, record_height)
        self._cash("lock", currency, inst.issuer, total)
        n = st.add("dividend", isin=isin, record_height=record_height, currency=currency,
                   per_share=per_share, total=total, state="declared",
                   declared_at=self.height, payer=inst.issuer)
        st.index(S.DIVIDENDS_OF, w).add(n)
        self.emit(self.DividendDeclared, n, isin, record_height, currency, per_share, total)
        self._transition("dividend", n, "", "declared",
                         f"{per_share} {currency} per share of {isin} held at height "
                         f"{record_height}: {total} locked from {hex_address(inst.issuer)}")
        return n

    @method("claimDividend(uint256)", returns="uint256")
    def claim_dividend(self, dividend_id: int) -> int:
        d = self._numbered("dividend", dividend_id)
        caller = self.caller
        self.require(self.state.dividend_paid(d.id, caller) is None,
                     f"dividend {dividend_id} was already paid to {hex_address(caller)}")
        shares = self.state.balance_at(isin_word(d.isin), caller, d.record_height)
        self.require(shares > 0, f"{hex_address(caller)} held no {d.isin} at height "
                                 f"{d.record_height}")
        return self._pay_dividend(d, caller)

    @method("distributeDividend(uint256,uint256)", returns="uint256")
    def distribute_dividend(self, dividend_id: int, max_holders: int) -> int:
        """Pay the next holders in the instrument's holder list (at most `max_holders`,
        capped); answers how many were paid."""
        d = self._numbered("dividend", dividend_id)
        self.require(d.state == "declared", f"dividend {dividend_id} is fully paid")
        st = self.state
        holders = st.holders(isin_word(d.isin))
        end = min(len(holders), d.cursor + min(max_holders, MAX_DISTRIBUTE))
        paid = 0
        for i in range(d.cursor, end):
            account = word_address(holders.item(i))
            if st.dividend_paid(d.id, account) is None:
                self._pay_dividend(st.load("dividend", d.id), account)
                paid += 1
        st.put("dividend", d.id, cursor=end)
        return paid

    # --- helpers: eligibility ------------------------------------------------------------------
    def _eligibility(self, account: bytes, codes: tuple[int, ...]) -> tuple[int, int]:
        """The first of (not registered, KYC expired, frozen) that holds, else 0; and the
        investor's jurisdiction (its word). The investor's words, not its record: the same
        reads, without making it."""
        st = self.state
        v = st.investor_words(account)
        jurisdiction = v[JURISDICTION_WORD]
        if word_address(v[CUSTODIAN_WORD]) == ZERO:
            return codes[0], jurisdiction
        if self.height >= v[KYC_WORD]:
            return codes[1], jurisdiction
        # layouts 1-3 read them anew: the gas their chains recorded
        again = v if st.lean else st.investor_words(account)
        frozen = again[FROZEN_WORD] or again[REGULATOR_FROZEN_WORD] or \
            self.perms.is_frozen(account)
        return (codes[2] if frozen else SUCCESS), jurisdiction

    def _sender_code(self, account: bytes) -> int:
        return self._eligibility(account, SENDER_CODES)[0]

    def _recipient_code(self, w: int, account: bytes) -> int:
        code, jurisdiction = self._eligibility(account, RECIPIENT_CODES)
        if code:
            return code
        allowed = self.state.index(S.JURISDICTIONS, w)
        if len(allowed) and jurisdiction not in allowed:
            return JURISDICTION
        return SUCCESS

    def _mint_code(self, w: int, inst: Instrument, dest: bytes) -> int:
        """What refuses a mint to `dest` (version 2 on): a transfer's recipient check, but
        the instrument's own issuer account, which `issue` credits without one, needs no
        registration, KYC or jurisdiction: only a freeze (its own, the regulator's or in
        Permissions) refuses new units there. Its units reach investors only through checked
        transfers (the issuer as a sender must be eligible) or a forced transfer."""
        if dest != inst.issuer:
            return self._recipient_code(w, dest)
        v = self.state.investor_words(dest)
        frozen = v[FROZEN_WORD] or v[REGULATOR_FROZEN_WORD] or self.perms.is_frozen(dest)
        return RECIPIENT_CODES[2] if frozen else SUCCESS

    def _restriction(self, w: int, src: bytes, dest: bytes, value: int, *,
                     locked: bool = False) -> int:
        """The ERC-1404 code of moving `value` of instrument `w` from `src` to `dest`
        (`locked`: the units are already locked for this move)."""
        st = self.state
        if Instrument.get(st.s, st.instrument_base(w), "paused"):
            return PAUSED
        code = self._sender_code(src) or self._recipient_code(w, dest)
        if code:
            return code
        if not locked and st.free(w, src) < value:
            return INSUFFICIENT
        return SUCCESS

    def _refuse(self, what: str, code: int, detail: str = "") -> NoReturn:
        self.revert(f"{what} (code {code}): {restriction_message(code)}{detail}")

    def _detail(self, code: int, w: int, account: bytes, value: int) -> str:
        """What a refusal adds to its code's message: the free balance when insufficient."""
        if code != INSUFFICIENT:
            return ""
        st = self.state
        balance, locked = st.balance(w, account), st.locked(w, account)
        return (f" ({hex_address(account)} holds {balance} {isin_text(w)}, {locked} locked, "
                f"{balance - locked} free; {value} needed)")

    def _require_free(self, w: int, account: bytes, amount: int, what: str) -> None:
        st = self.state
        if st.free(w, account) < amount:
            self._refuse(f"{what} refused", INSUFFICIENT,
                         self._detail(INSUFFICIENT, w, account, amount))

    # --- helpers: locks, matching, settlement --------------------------------------------------
    def _lock_leg(self, what: str, inst: Terms, w: int, account: bytes, side: int,
                  price: int, quantity: int) -> None:
        """Check `account` may take this side and lock what it delivers."""
        if inst.paused:
            self._refuse(f"{what} refused", PAUSED, f" ({inst.isin})")
        if side == SELL:
            code = self._sender_code(account)
            if not code and self.state.free(w, account) < quantity:
                code = INSUFFICIENT
        else:
            code = self._recipient_code(w, account)
        if code:
            self._refuse(f"{what} refused", code,
                         self._detail(code, w, account, quantity) or f" ({hex_address(account)})")
        if side == SELL:
            self.state.add_locked(w, account, quantity)
        else:
            self._cash("lock", inst.currency, account, price * quantity)

    def _match(self, inst: Terms, order_id: int, owner: bytes, side: int, limit: int,
               quantity: int, placed: dict[str, Any]) -> None:
        """Match a new order against the other side, then rest, fill or cancel it. Layout 4:
        every record it changes written once, the new order (`placed`: its first fields, not
        yet stored) at the end."""
        st = self.state
        w = isin_word(inst.isin)
        other = OrderBook(st, w, BUY if side == SELL else SELL)
        remaining = quantity
        cash = limit * quantity if side == BUY else 0
        steps = 0
        note = ""
        while remaining:
            best = other.best()
            if not best or (best > limit if side == BUY else best < limit):
                break
            if steps == MAX_MATCH_STEPS:
                note = f"matching stopped after {MAX_MATCH_STEPS} steps"
                break
            steps += 1
            r = st.load("order", other.head(best))
            stale = self._stale(w, r, owner)
            if stale:
                state, reason = stale
                self._close_order(r, state, reason, on_book=True)
                continue
            q = min(remaining, r.remaining)
            filled = r.remaining == q
            changes: dict[str, Any] = {"remaining": r.remaining - q}
            if r.side == BUY:
                changes["cash_locked"] = r.cash_locked - r.price * q
            if st.lean:  # one write, its closing with it
                if filled:
                    changes.update(state="filled", closed_at=self.height)
                st.put("order", r.id, **changes)
            else:
                for name, value in changes.items():
                    st.put("order", r.id, **{name: value})
            if filled:
                other.remove(r.id, r.price, q)
                reason = f"filled by order {order_id}"
                if st.lean:
                    self._transition("order", r.id, r.state, "filled", reason)
                else:
                    self._close("order", r, "filled", reason)
            else:
                other.reduce(r.price, q)
            remaining -= q
            if side == BUY:
                cash -= limit * q
                if limit > r.price:  # filled below the limit: the difference is unlocked
                    self._cash("unlock", inst.currency, owner, (limit - r.price) * q)
                buyer, seller, buy_id, sell_id = owner, r.owner, order_id, r.id
            else:
                buyer, seller, buy_id, sell_id = r.owner, owner, r.id, order_id
            self._new_trade(inst, w, buyer, seller, r.price, q, buy_id, sell_id, 0)
        if st.lean:
            st.put("order", order_id, **placed, remaining=remaining, cash_locked=cash,
                   state="open" if remaining else "filled",
                   closed_at=0 if remaining else self.height)
        else:  # layouts 1-3: the writes their chains recorded
            st.put("order", order_id, remaining=remaining, cash_locked=cash)
            if remaining:
                st.put("order", order_id, state="open")
            else:
                st.close("order", order_id, "filled", self.height)
        if not remaining:
            self._transition("order", order_id, "open", "filled", "filled on placement")
            return
        if not note:
            try:
                OrderBook(st, w, side).append(order_id, limit, remaining)
                return
            except BookFull:
                note = f"the {side_text(side)} side has {MAX_LEVELS} price levels"
        self._close_order(st.load("order", order_id), "cancelled",
                          f"{note}: the rest ({remaining}) is cancelled, place it again",
                          on_book=False)

    def _stale(self, w: int, r: Order, placer: bytes) -> tuple[str, str] | None:
        """Why a resting order cannot trade now (its new state and the reason), or None."""
        if r.expired_at(self.height):
            return "expired", f"expired at height {r.expiry}"
        if r.owner == placer:
            return "cancelled", "self-trade prevention: the owner's new order crossed it"
        code = self._sender_code(r.owner) if r.side == SELL else self._recipient_code(w, r.owner)
        if code:
            return "cancelled", (f"removed while matching: transfer restricted (code {code}): "
                                 f"{restriction_message(code)}")
        return None

    def _close_order(self, o: Order, state: str, reason: str, *, on_book: bool) -> None:
        """Take an open order off the book (when on it) and release what it still locks."""
        st = self.state
        w = isin_word(o.isin)
        if on_book:
            OrderBook(st, w, o.side).remove(o.id, o.price, o.remaining)
        if o.side == SELL:
            st.add_locked(w, o.owner, -o.remaining)
        elif o.cash_locked:
            self._cash("unlock", st.instrument(w).currency, o.owner, o.cash_locked)
            st.put("order", o.id, cash_locked=0)
        self._close("order", o, state, reason)

    def _new_trade(self, inst: Terms, w: int, buyer: bytes, seller: bytes,
                   price: int, quantity: int, buy_order: int, sell_order: int,
                   proposal: int) -> int:
        """Record a fill; settle it now (T+0) or leave it pending with both legs locked.
        Layout 4: the trade written once, in its state, and not read back."""
        st = self.state
        values: dict[str, Any] = dict(
            isin=inst.isin, buyer=buyer, seller=seller, price=price, quantity=quantity,
            buy_order=buy_order, sell_order=sell_order, traded_at=self.height)
        if proposal or st.lean:
            values["proposal"] = proposal
        settle_at = self.height + inst.cycle
        deadline = settle_at + inst.window if inst.cycle else self.height
        now = inst.cycle == 0
        if st.lean:
            n = st.new_id("trade")
            st.put("trade", n, **values, state="settled" if now else "pending",
                   settle_height=settle_at, deadline=deadline,
                   closed_at=self.height if now else 0)
        else:
            n = st.add("trade", **values, settle_height=settle_at, deadline=deadline)
        st.enroll(S.TRADES_OF_ISIN, w, n)
        for party in (buyer, seller):
            st.enroll(S.TRADES_OF, party, n)
        self.emit(self.TradeExecuted, n, buyer, seller, inst.isin, price, quantity, buy_order,
                  sell_order, settle_at)
        if not st.lean:
            st.load("trade", n)  # read back: the gas layouts 1-3 recorded
        if now:
            self._deliver(inst, inst.isin, seller, buyer, price, quantity)
            if not st.lean:
                st.close("trade", n, "settled", self.height)
            self._transition("trade", n, "", "settled",
                             "T+0: delivery versus payment in the matching transaction")
        else:
            if not st.lean:
                st.put("trade", n, state="pending")
            st.index(S.PENDING, w).add(n)
            self._transition("trade", n, "", "pending",
                             f"T+{inst.cycle}: settles from height {settle_at}, expires at "
                             f"{deadline}")
        return n

    def _deliver(self, inst: Terms, isin: str, seller: bytes, buyer: bytes, price: int,
                 quantity: int) -> None:
        """Delivery versus payment: the seller's locked units to the buyer, the buyer's
        locked cash to the seller — both in this transaction, or neither."""
        self._move(isin_word(isin), isin, seller, buyer, quantity, from_locked=True)
        self._cash("transferLocked", inst.currency, buyer, seller, price * quantity)

    def _move(self, w: int, isin: str, src: bytes, dest: bytes, amount: int, *,
              from_locked: bool) -> None:
        st = self.state
        if from_locked:
            st.add_locked(w, src, -amount)
        if src != dest:
            st.set_balance(w, src, st.balance(w, src) - amount, self.height)
            st.set_balance(w, dest, st.balance(w, dest) + amount, self.height)
        self.emit(self.SecurityTransfer, isin, src, dest, amount)

    def _close(self, what: str, record: Any, state: str, reason: str) -> None:
        """Move an order, a trade or a proposal to a final state, with its transition."""
        self.state.close(what, record.id, state, self.height)
        self._transition(what, record.id, record.state, state, reason)

    def _end_proposal(self, p: Proposal, state: str, reason: str) -> None:
        """Release the proposer's locked leg and close the proposal."""
        w = isin_word(p.isin)
        st = self.state
        if p.side == SELL:
            st.add_locked(w, p.proposer, -p.quantity)
        else:
            self._cash("unlock", st.instrument(w).currency, p.proposer, p.price * p.quantity)
        self._close("proposal", p, state, reason)

    def _pay_dividend(self, d: Dividend, account: bytes) -> int:
        st = self.state
        shares = st.balance_at(isin_word(d.isin), account, d.record_height)
        amount = shares * d.per_share
        st.set_dividend_paid(d.id, account, amount)
        if amount:
            if account == d.payer:
                self._cash("unlock", d.currency, account, amount)
            else:
                self._cash("transferLocked", d.currency, d.payer, account, amount)
            self.emit(self.DividendPaid, d.id, account, shares, amount)
        paid = d.paid + amount
        st.put("dividend", d.id, paid=paid)
        if amount and paid == d.total:
            st.put("dividend", d.id, state="paid")
            self._transition("dividend", d.id, "declared", "paid",
                             f"{paid} {d.currency} paid to the holders at height "
                             f"{d.record_height}")
        return amount

    def _cash(self, name: str, *args: Any) -> Any:
        """Call CashTokens as this contract; a refusal there reverts here with its reason."""
        spec = _CASH[name]
        ok, out = self.host.call(CASH_ADDRESS, spec.selector + spec.args.encode(args))
        if not ok:
            if out[:4] == ERROR_SELECTOR:
                reason = revert_reason(out)
                self.revert(f"{spec.name} failed" if reason is None else reason)
            self.fail_without_reason()  # out of gas in the callee: pass it on
        return None

    # --- helpers: lookups and roles ------------------------------------------------------------
    def _transition(self, kind: str, object_id: int, old: str, new: str, reason: str) -> None:
        self.emit(self.Transition, kind, object_id, self.caller, old, new, reason)

    def _unchanged(self, inst: Instrument, reason: str) -> None:
        """A transition of an instrument that keeps its state (a new cycle, jurisdictions)."""
        state = "paused" if inst.paused else "active"
        self._transition("instrument", isin_word(inst.isin), state, state, reason)

    def _isin(self, isin: str) -> int:
        self.require_valid(isin_problem(isin))
        w = isin_word(isin)
        if not self.state.instrument_exists(w):
            self.revert(f"no instrument {isin}")
        return w

    def _instrument(self, isin: str) -> Instrument:
        return self.state.instrument(self._isin(isin))

    def _is_agent(self, caller: bytes, inst: Instrument) -> bool:
        return caller == inst.agent and self.has_role(caller, ISSUER_AGENT)

    def _as_agent(self, isin: str, action: str) -> Instrument:
        inst = self._instrument(isin)
        caller = self.caller
        self.require(self._is_agent(caller, inst),
                     f"only {isin}'s issuer agent {hex_address(inst.agent)} may {action} it; "
                     f"{hex_address(caller)} is not")
        return inst

    def _side(self, side: int) -> int:
        self.require(side in (BUY, SELL), "side must be 1 (buy) or 2 (sell)")
        return side

    def _require_terms(self, price: int, quantity: int) -> None:
        self.require(0 < price < MAX_AMOUNT, "the price must be above 0 and below 2**128")
        self.require(0 < quantity < MAX_AMOUNT, "the quantity must be above 0 and below 2**128")

    def _numbered(self, what: str, n: int) -> Any:
        return self.state.load(what, self.require_id(n, self.state.count(what), what))

    def _set_paused(self, isin: str, reason: str, paused: bool) -> None:
        inst = self._instrument(isin)
        caller = self.caller
        self.require(self._is_agent(caller, inst) or self.has_role(caller, REGULATOR),
                     f"only {isin}'s issuer agent or the regulator may "
                     f"{'pause' if paused else 'unpause'} it")
        self.require(inst.paused != paused, f"{isin} is already "
                                            f"{'paused' if paused else 'trading'}")
        self.require_text(reason, "reason", required=False)
        self.state.set_instrument(isin_word(isin), paused=paused)
        old, new = ("active", "paused") if paused else ("paused", "active")
        self._transition("instrument", isin_word(isin), old, new, reason)

    def _regulator_freeze(self, target: str, reason: str, frozen: bool) -> None:
        account = as_address(target)
        caller = self.caller
        self.require_role(caller, REGULATOR, "freeze an investor" if frozen
                          else "unfreeze an investor")
        self.require(account != ZERO, "the zero address is not an investor")
        self.require_text(reason, "reason")
        st = self.state
        v = st.investor(account)
        self.require(v.regulator_frozen != frozen,
                     f"{hex_address(account)} is already "
                     f"{'frozen' if frozen else 'not frozen'} by the regulator")
        st.set_investor(account, regulator_frozen=frozen, updated_at=self.height)
        self.emit(self.InvestorUpdated, account, caller, v.kyc_expiry, v.jurisdiction or "",
                  v.frozen, frozen)
        old, new = ("active", "frozen") if frozen else ("frozen", "active")
        self._transition("investor", address_word(account), old, new,
                         f"{'frozen' if frozen else 'unfrozen'} by the regulator: {reason}")
