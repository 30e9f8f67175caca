"""An instrument's order book in the Securities contract's storage: per side, a linked list of
price levels from the best price down (bids highest first, asks lowest first), each level a
first-in first-out queue of order ids — price-time priority, read and changed in a bounded
number of slots. Placing walks at most `MAX_LEVELS` levels to find its place."""

from __future__ import annotations

from consortium.apps.securities.model import BUY, MAX_LEVELS
from consortium.apps.securities.state import (
    LEVEL_WORDS,
    ORDER_WORDS,
    SIDE_WORDS,
    SecuritiesState,
)
from consortium.evm.host import Storage


class BookFull(Exception):
    """A side already has `MAX_LEVELS` price levels."""


class OrderBook:
    def __init__(self, state: SecuritiesState, isin: int, side: int) -> None:
        self.st = state
        self.s = state.s
        self.isin = isin
        self.side = side
        self.base = Storage.at(SecuritiesState.BOOK, isin, side)

    def _lv(self, price: int) -> int:
        return Storage.at(SecuritiesState.LEVEL, self.isin, self.side, price)

    # Level, BookSide and an order's links are plain words: one storage call each, the
    # slots and values Record.get/put would use (word_fields)
    def _get(self, price: int, name: str) -> int:
        return self.s.get_uint(self._lv(price) + LEVEL_WORDS[name])

    def _put(self, price: int, **values: int) -> None:
        base = self._lv(price)
        for name, value in values.items():
            self.s.set_uint(base + LEVEL_WORDS[name], value)

    def _side(self, name: str) -> int:
        return self.s.get_uint(self.base + SIDE_WORDS[name])

    def _set_side(self, name: str, value: int) -> None:
        self.s.set_uint(self.base + SIDE_WORDS[name], value)

    def _link(self, order_id: int, name: str) -> int:
        return self.s.get_uint(self.st.base("order", order_id) + ORDER_WORDS[name])

    def better(self, a: int, b: int) -> bool:
        """Whether price `a` comes before price `b` on this side."""
        return a > b if self.side == BUY else a < b

    # --- reads -------------------------------------------------------------------------------

    def best(self) -> int:
        return self._side("best")

    def head(self, price: int) -> int:
        return self._get(price, "head")

    def prices(self, limit: int) -> list[int]:
        out: list[int] = []
        price = self.best()
        while price and len(out) < limit:
            out.append(price)
            price = self._get(price, "worse")
        return out

    def orders_at(self, price: int, limit: int) -> list[int]:
        out: list[int] = []
        order = self.head(price)
        while order and len(out) < limit:
            out.append(order)
            order = self._link(order, "next")
        return out

    # --- changes -----------------------------------------------------------------------------

    def append(self, order_id: int, price: int, quantity: int) -> None:
        """Queue an order at the tail of its price level (creating the level in place)."""
        count = self._get(price, "count")
        if count == 0:
            self._insert_level(price)
        tail = self._get(price, "tail")
        if tail:
            self.st.put("order", tail, next=order_id)
            self.st.put("order", order_id, prev=tail)
        else:
            self._put(price, head=order_id)
        self._put(price, tail=order_id, count=count + 1)
        self.reduce(price, -quantity)

    def reduce(self, price: int, quantity: int) -> None:
        self._put(price, quantity=self._get(price, "quantity") - quantity)

    def remove(self, order_id: int, price: int, remaining: int) -> None:
        """Unlink an order (its `remaining` leaves the level's quantity)."""
        nxt, prv = self._link(order_id, "next"), self._link(order_id, "prev")
        if prv:
            self.st.put("order", prv, next=nxt)
        else:
            self._put(price, head=nxt)
        if nxt:
            self.st.put("order", nxt, prev=prv)
        else:
            self._put(price, tail=prv)
        if nxt:
            self.st.put("order", order_id, next=0)
        if prv:
            self.st.put("order", order_id, prev=0)
        count = self._get(price, "count") - 1
        self._put(price, count=count)
        self.reduce(price, remaining)
        if count == 0:
            self._remove_level(price)

    def _neighbours(self, better: int, worse: int, price: int) -> None:
        """Point `better`'s worse link (or the side's best) and `worse`'s better link at
        `price` (0: at each other, unlinking the level between them)."""
        if better:
            self._put(better, worse=price or worse)
        else:
            self._set_side("best", price or worse)
        if worse:
            self._put(worse, better=price or better)

    def _insert_level(self, price: int) -> None:
        levels = self._side("levels")
        if levels >= MAX_LEVELS:
            raise BookFull
        better, worse = 0, self.best()
        while worse and not self.better(price, worse):
            better, worse = worse, self._get(worse, "worse")
        self._put(price, better=better, worse=worse)
        self._neighbours(better, worse, price)
        self._set_side("levels", levels + 1)

    def _remove_level(self, price: int) -> None:
        better, worse = self._get(price, "better"), self._get(price, "worse")
        self._neighbours(better, worse, 0)
        self._put(price, better=0, worse=0, head=0, tail=0)
        self._set_side("levels", self._side("levels") - 1)
