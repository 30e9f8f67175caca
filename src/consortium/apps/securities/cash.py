"""The CashTokens native contract (0x…2000): tokenised deposits that settle the cash leg.

A `cash_bank` member creates its currency's token (one issuing bank per currency) and alone
mints and burns it. Part of a balance may be locked by a holder the owner allowed (Securities
locks a buyer's cash for an order and pays it to the seller at settlement). Kept here: a
currency's supply is the sum of its balances; locked cash never exceeds the balance and is the
sum of what each holder locked; only free cash moves by `transfer`; an allowance of 2**256 - 1
is never used up (ERC-20's convention).
"""

from __future__ import annotations

from functools import lru_cache

from consortium.apps.currency import currency_problem, currency_text, currency_word
from consortium.apps.securities.model import (
    CASH_ADDRESS,
    CASH_BANK,
    MAX_AMOUNT,
    MAX_READ,
    UNLIMITED,
)
from consortium.apps.securities.state import ZERO, CashState, Token
from consortium.apps.service import ServiceContract, view
from consortium.evm.native import StateOf, event, method, register
from consortium.system.permissions import as_address, hex_address

C = CashState
# every lock, unlock and payment checks its currency: a venue settles in a few, again and again
_currency_problem = lru_cache(maxsize=256)(currency_problem)
_AMOUNT = ("string currency", "uint256 amount")  # the tail of every moving event


@register
class CashTokens(ServiceContract):
    address = CASH_ADDRESS

    TokenCreated = event("string currency", "address indexed issuer", "string name")
    Transfer = event("address indexed from", "address indexed to", *_AMOUNT)
    Approval = event("address indexed owner", "address indexed spender", *_AMOUNT)
    Locked = event("address indexed owner", "address indexed holder", *_AMOUNT)
    Unlocked = event("address indexed owner", "address indexed holder", *_AMOUNT)

    state = StateOf(CashState)

    # --- reads -------------------------------------------------------------------------------
    currencies = view("currencies()", "string[]", (),
                      lambda c: [currency_text(w) for w in c.state.index(C.CURRENCIES)])
    token = view("token(string)", Token.abi_type(), ("currency",),
                 lambda c, cur: c.state.token(c._require_token(cur)).abi_tuple())
    total_supply = view("totalSupply(string)", "uint256", ("currency",),
                        lambda c, cur: c.state.supply(c._require_token(cur)))
    balance_of = view("balanceOf(string,address)", "uint256", ("currency", "account"),
                      lambda c, cur, a: c.state.balance(c._require_token(cur), as_address(a)))
    locked_of = view("lockedOf(string,address)", "uint256", ("currency", "account"),
                     lambda c, cur, a: c.state.locked(c._require_token(cur), as_address(a)))
    allowance = view("allowance(string,address,address)", "uint256",
                     ("currency", "owner", "spender"), lambda c, cur, o, s: c.state.word(
                         C.ALLOWANCES, c._require_token(cur), as_address(o), as_address(s)))
    locked_by = view("lockedBy(string,address,address)", "uint256",
                     ("currency", "owner", "holder"), lambda c, cur, o, h: c.state.word(
                         C.LOCKS, c._require_token(cur), as_address(o), as_address(h)))

    @method("freeBalanceOf(string,address)", returns="uint256", view=True)
    def free_balance_of(self, currency: str, account: str) -> int:
        return self.state.free(self._require_token(currency), as_address(account))

    holders = view(  # accounts with a balance: (account, balance, locked)
        "holders(string)", "(address,uint256,uint256)[]", ("currency",),
        lambda c, cur: c.state.positions(c._require_token(cur)))
    balances_of = view(  # an account's cash: (currency, balance, locked)
        "balancesOf(address)", "(string,uint256,uint256)[]", ("account",),
        lambda c, a: [(currency_text(w), b, lk)
                      for w, b, lk in c.state.positions_of(as_address(a))][:MAX_READ])

    # --- the issuing bank --------------------------------------------------------------------
    @method("createToken(string,string)")
    def create_token(self, currency: str, name: str) -> None:
        caller = self.caller
        self.require_role(caller, CASH_BANK, "issue a cash token")
        self.require_valid(currency_problem(currency))
        self.require_text(name, "token name", required=False)
        c = currency_word(currency)
        st = self.state
        if st.exists(c):
            self.revert(f"the {currency} cash token already exists, issued by "
                        f"{hex_address(st.issuer(c))}")
        st.create(c, caller, name, self.height)
        self.emit(self.TokenCreated, currency, caller, name)

    @method("mint(string,address,uint256)")
    def mint(self, currency: str, to: str, amount: int) -> None:
        c = self._require_issuer(currency, "mint")
        dest = as_address(to)
        self.require(dest != ZERO, "cannot mint to the zero address")
        self.require(amount > 0, "the amount must be above 0")
        st = self.state
        supply = st.supply(c) + amount
        self.require(supply < MAX_AMOUNT, "the supply would reach 2**128")
        st.set_supply(c, supply)
        st.set_balance(c, dest, st.balance(c, dest) + amount)
        self.emit(self.Transfer, ZERO, dest, currency, amount)

    @method("burn(string,uint256)")
    def burn(self, currency: str, amount: int) -> None:
        c = self._require_issuer(currency, "burn")
        caller = self.caller
        self.require(amount > 0, "the amount must be above 0")
        self._require_free(c, currency, caller, amount)
        st = self.state
        st.set_balance(c, caller, st.balance(c, caller) - amount)
        st.set_supply(c, st.supply(c) - amount)
        self.emit(self.Transfer, caller, ZERO, currency, amount)

    # --- holders -----------------------------------------------------------------------------
    @method("transfer(string,address,uint256)", returns="bool")
    def transfer(self, currency: str, to: str, amount: int) -> bool:
        c = self._require_token(currency)
        caller, dest = self.caller, as_address(to)
        self.require(dest != ZERO, "cannot transfer to the zero address")
        self._require_free(c, currency, caller, amount)
        self._move(c, currency, caller, dest, amount)
        return True

    @method("approve(string,address,uint256)", returns="bool")
    def approve(self, currency: str, spender: str, amount: int) -> bool:
        c = self._require_token(currency)
        who = as_address(spender)
        self.require(who != ZERO, "cannot approve the zero address")
        self.state.set_word(amount, C.ALLOWANCES, c, self.caller, who)
        self.emit(self.Approval, self.caller, who, currency, amount)
        return True

    # --- a lock holder (the settlement contract) ---------------------------------------------
    @method("lock(string,address,uint256)")
    def lock(self, currency: str, owner: str, amount: int) -> None:
        c = self._require_token(currency)
        holder, who = self.caller, as_address(owner)
        self.require(amount > 0, "the amount must be above 0")
        st = self.state
        allowed = st.word(C.ALLOWANCES, c, who, holder)
        if allowed < amount:
            self.revert(f"{hex_address(who)} allows {hex_address(holder)} {allowed} {currency}, "
                        f"{amount} needed: approve the settlement contract first")
        self._require_free(c, currency, who, amount)
        if allowed != UNLIMITED:
            st.set_word(allowed - amount, C.ALLOWANCES, c, who, holder)
        st.add_locked(c, who, amount)
        st.set_word(st.word(C.LOCKS, c, who, holder) + amount, C.LOCKS, c, who, holder)
        self.emit(self.Locked, who, holder, currency, amount)

    @method("unlock(string,address,uint256)")
    def unlock(self, currency: str, owner: str, amount: int) -> None:
        c = self._require_token(currency)
        who = as_address(owner)
        self._release(c, currency, who, amount)
        self.emit(self.Unlocked, who, self.caller, currency, amount)

    @method("transferLocked(string,address,address,uint256)")
    def transfer_locked(self, currency: str, from_: str, to: str, amount: int) -> None:
        c = self._require_token(currency)
        src, dest = as_address(from_), as_address(to)
        self.require(dest != ZERO, "cannot transfer to the zero address")
        self._release(c, currency, src, amount)
        self._move(c, currency, src, dest, amount)

    # --- helpers -----------------------------------------------------------------------------
    def _release(self, c: int, currency: str, owner: bytes, amount: int) -> None:
        holder = self.caller
        st = self.state
        held = st.word(C.LOCKS, c, owner, holder)
        if held < amount:
            self.revert(f"{hex_address(holder)} holds {held} {currency} of "
                        f"{hex_address(owner)} locked, not {amount}")
        st.set_word(held - amount, C.LOCKS, c, owner, holder)
        st.add_locked(c, owner, -amount)

    def _move(self, c: int, currency: str, src: bytes, dest: bytes, amount: int) -> None:
        st = self.state
        if src != dest and amount:
            st.set_balance(c, src, st.balance(c, src) - amount)
            st.set_balance(c, dest, st.balance(c, dest) + amount)
        self.emit(self.Transfer, src, dest, currency, amount)

    def _require_free(self, c: int, currency: str, account: bytes, amount: int) -> None:
        st = self.state
        free = st.free(c, account)
        # the message's reads, made whether or not it refuses: the gas the chain recorded
        balance, locked = st.balance(c, account), st.locked(c, account)
        if free < amount:
            self.revert(f"{hex_address(account)} has {free} {currency} free (balance {balance}, "
                        f"locked {locked}), {amount} needed")

    def _require_token(self, currency: str) -> int:
        self.require_valid(_currency_problem(currency))
        c = currency_word(currency)
        if not self.state.exists(c):
            self.revert(f"no {currency} cash token")
        return c

    def _require_issuer(self, currency: str, action: str) -> int:
        c = self._require_token(currency)
        caller = self.caller
        issuer = self.state.issuer(c)
        self.require(caller == issuer, f"only the {currency} token's issuing bank "
                                       f"{hex_address(issuer)} may {action} it; "
                                       f"{hex_address(caller)} is not")
        self.require_role(caller, CASH_BANK, f"{action} a cash token")
        return c
