"""The software upgrades `securities-layout-3` and `securities-layout-4`.

`securities-layout-3`: the Securities contract to version 3, its orders, trades and balance
and supply checkpoints rewritten to layout 3 (`consortium.apps.securities.state`) at the
upgrade's height.

Every order and trade (ids 1 to their counts; an order's links to its neighbours in the book
move with it) and every checkpoint — of each instrument's supply,
and of each account that ever held it (its holders) — is read in the old layout and written
packed at the same slots, the words the old layout used beyond them cleared. No gas, no logs;
every view answers the same. Version 3 keeps version 2's rule (a mint checks its recipient),
so a chain still at 1 gets that rule at this height too. Deterministic: the same writes on
every node, part of the block's app hash. A chain made at version 3 stays as it is.

`securities-layout-4`: the contract to version 4 (an order's lean path, the same slots): the
positions the per-account orders and trades and the per-ISIN trades kept as sets are cleared
(each an append-only list from then on); a chain still before 3 is rewritten to layout 3
first. A chain made at version 4 stays as it is."""

from __future__ import annotations

from consortium.apps.layout import forget_position, register_layout_upgrade, repack
from consortium.apps.securities.model import SECURITIES_ADDRESS, isin_word
from consortium.apps.securities.state import (
    BLANK,
    LEAN_LAYOUT,
    PACKED_LAYOUT,
    Checkpoint,
    Order,
    PackedCheckpoint,
    PackedOrder,
    PackedTrade,
    SecuritiesState,
    Trade,
)
from consortium.evm.host import Storage
from consortium.evm.records import WordSet, word_address
from consortium.system.upgrade_plan import native_version

SECURITIES_LAYOUT_UPGRADE = "securities-layout-3"
SECURITIES_LEAN_UPGRADE = "securities-layout-4"


def _checkpoints(storage: Storage, count_slot: int, entries: int) -> None:
    for i in range(storage.get_uint(count_slot)):
        repack(storage, Storage.at(entries, i), Checkpoint, PackedCheckpoint)


def migrate_to_layout_3(storage: Storage) -> int:
    """Rewrite the Securities contract's orders, trades and checkpoints in layout 3;
    answers how many trades were moved."""
    S = SecuritiesState
    for n in range(1, storage.get_uint(S.ORDER_COUNT) + 1):
        repack(storage, Storage.at(S.ORDER, n), Order, PackedOrder, id=n, **BLANK[Order])
    trades = storage.get_uint(S.TRADE_COUNT)
    for n in range(1, trades + 1):
        repack(storage, Storage.at(S.TRADE, n), Trade, PackedTrade, id=n, amount=0)
    for isin in WordSet(storage, S.INSTRUMENTS):
        _checkpoints(storage, Storage.at(S.SUPPLY_CHECKPOINTS, isin),
                     Storage.at(S.SUPPLY_CHECKPOINT, isin))
        for holder in WordSet(storage, Storage.at(S.HOLDERS, isin)):
            account = word_address(holder)
            _checkpoints(storage, Storage.at(S.CHECKPOINTS, isin, account),
                         Storage.at(S.CHECKPOINT, isin, account))
    return trades


register_layout_upgrade(SECURITIES_LAYOUT_UPGRADE, SECURITIES_ADDRESS, PACKED_LAYOUT,
                        migrate_to_layout_3)


def migrate_to_layout_4(storage: Storage) -> int:
    """Clear the positions of the sets that became lists in layout 4 (from layout 3; from
    an older one, rewritten to 3 first); answers how many orders and trades were seen."""
    S = SecuritiesState
    if native_version(storage) < PACKED_LAYOUT:
        migrate_to_layout_3(storage)
    orders, trades = storage.get_uint(S.ORDER_COUNT), storage.get_uint(S.TRADE_COUNT)
    for n in range(1, orders + 1):
        owner = PackedOrder.get(storage, Storage.at(S.ORDER, n), "owner")
        forget_position(storage, Storage.at(S.ORDERS_OF, owner), n)
    for n in range(1, trades + 1):
        t = PackedTrade.load(storage, Storage.at(S.TRADE, n), id=n, amount=0)
        forget_position(storage, Storage.at(S.TRADES_OF_ISIN, isin_word(t.isin)), n)
        for party in (t.buyer, t.seller):
            forget_position(storage, Storage.at(S.TRADES_OF, party), n)
    return orders + trades


register_layout_upgrade(SECURITIES_LEAN_UPGRADE, SECURITIES_ADDRESS, LEAN_LAYOUT,
                        migrate_to_layout_4)
