"""An instrument's order book in the Securities contract's storage: per side, a linked list of
price levels from the best price down (bids highest first, asks lowest first), each level a
first-in first-out queue of order ids — price-time priority, read and changed in a bounded
number of slots.

Placing an order walks the levels from the best one to find its place (at most `MAX_LEVELS`,
so the cost has a ceiling); taking the head of the best level, removing any order and
shrinking a level's quantity touch a handful of slots.
"""

from __future__ import annotations

from consortium.apps.securities.model import BUY, MAX_LEVELS
from consortium.apps.securities.state import SecuritiesState
from consortium.evm.host import Storage


class BookFull(Exception):
    """A side already has `MAX_LEVELS` price levels."""


class OrderBook:
    # side fields
    BEST, LEVELS = 0, 1
    # level fields
    WORSE, BETTER, HEAD, TAIL, COUNT, QTY = 0, 1, 2, 3, 4, 5

    def __init__(self, state: SecuritiesState, isin: int, side: int) -> None:
        self.st = state
        self.s = state.s
        self.isin = isin
        self.side = side
        self.base = Storage.at(SecuritiesState.BOOK, isin, side)

    def _level(self, price: int) -> int:
        return Storage.at(SecuritiesState.LEVEL, self.isin, self.side, price)

    def better(self, a: int, b: int) -> bool:
        """Whether price `a` comes before price `b` on this side."""
        return a > b if self.side == BUY else a < b

    # --- reads -------------------------------------------------------------------------------

    def best(self) -> int:
        return self.s.get_uint(self.base + self.BEST)

    def level_count(self) -> int:
        return self.s.get_uint(self.base + self.LEVELS)

    def head(self, price: int) -> int:
        return self.s.get_uint(self._level(price) + self.HEAD)

    def level(self, price: int) -> tuple[int, int]:
        """(orders, quantity) resting at `price`."""
        b = self._level(price)
        return self.s.get_uint(b + self.COUNT), self.s.get_uint(b + self.QTY)

    def worse(self, price: int) -> int:
        return self.s.get_uint(self._level(price) + self.WORSE)

    def prices(self, limit: int) -> list[int]:
        out: list[int] = []
        price = self.best()
        while price and len(out) < limit:
            out.append(price)
            price = self.worse(price)
        return out

    def orders_at(self, price: int, limit: int) -> list[int]:
        out: list[int] = []
        order = self.head(price)
        while order and len(out) < limit:
            out.append(order)
            order = self.st.get(self.st.order_base(order), SecuritiesState.O_NEXT)
        return out

    # --- changes -----------------------------------------------------------------------------

    def append(self, order_id: int, price: int, quantity: int) -> None:
        """Queue an order at the tail of its price level (creating the level in place)."""
        lv = self._level(price)
        count = self.s.get_uint(lv + self.COUNT)
        if count == 0:
            self._insert_level(price)
        tail = self.s.get_uint(lv + self.TAIL)
        ob = self.st.order_base(order_id)
        if tail:
            self.st.put(self.st.order_base(tail), SecuritiesState.O_NEXT, order_id)
            self.st.put(ob, SecuritiesState.O_PREV, tail)
        else:
            self.s.set_uint(lv + self.HEAD, order_id)
        self.s.set_uint(lv + self.TAIL, order_id)
        self.s.set_uint(lv + self.COUNT, count + 1)
        self.s.set_uint(lv + self.QTY, self.s.get_uint(lv + self.QTY) + quantity)

    def reduce(self, price: int, quantity: int) -> None:
        lv = self._level(price)
        self.s.set_uint(lv + self.QTY, self.s.get_uint(lv + self.QTY) - quantity)

    def remove(self, order_id: int, price: int, remaining: int) -> None:
        """Unlink an order (its `remaining` leaves the level's quantity)."""
        ob = self.st.order_base(order_id)
        nxt = self.st.get(ob, SecuritiesState.O_NEXT)
        prv = self.st.get(ob, SecuritiesState.O_PREV)
        lv = self._level(price)
        if prv:
            self.st.put(self.st.order_base(prv), SecuritiesState.O_NEXT, nxt)
        else:
            self.s.set_uint(lv + self.HEAD, nxt)
        if nxt:
            self.st.put(self.st.order_base(nxt), SecuritiesState.O_PREV, prv)
        else:
            self.s.set_uint(lv + self.TAIL, prv)
        if nxt:
            self.st.put(ob, SecuritiesState.O_NEXT, 0)
        if prv:
            self.st.put(ob, SecuritiesState.O_PREV, 0)
        count = self.s.get_uint(lv + self.COUNT) - 1
        self.s.set_uint(lv + self.COUNT, count)
        self.s.set_uint(lv + self.QTY, self.s.get_uint(lv + self.QTY) - remaining)
        if count == 0:
            self._remove_level(price)

    def _insert_level(self, price: int) -> None:
        levels = self.level_count()
        if levels >= MAX_LEVELS:
            raise BookFull
        lv = self._level(price)
        better, worse = 0, self.best()
        while worse and not self.better(price, worse):
            better, worse = worse, self.worse(worse)
        self.s.set_uint(lv + self.BETTER, better)
        self.s.set_uint(lv + self.WORSE, worse)
        if better:
            self.s.set_uint(self._level(better) + self.WORSE, price)
        else:
            self.s.set_uint(self.base + self.BEST, price)
        if worse:
            self.s.set_uint(self._level(worse) + self.BETTER, price)
        self.s.set_uint(self.base + self.LEVELS, levels + 1)

    def _remove_level(self, price: int) -> None:
        lv = self._level(price)
        better = self.s.get_uint(lv + self.BETTER)
        worse = self.s.get_uint(lv + self.WORSE)
        if better:
            self.s.set_uint(self._level(better) + self.WORSE, worse)
        else:
            self.s.set_uint(self.base + self.BEST, worse)
        if worse:
            self.s.set_uint(self._level(worse) + self.BETTER, better)
        self.s.set_uint(lv + self.BETTER, 0)
        self.s.set_uint(lv + self.WORSE, 0)
        self.s.set_uint(lv + self.HEAD, 0)
        self.s.set_uint(lv + self.TAIL, 0)
        self.s.set_uint(self.base + self.LEVELS, self.level_count() - 1)
