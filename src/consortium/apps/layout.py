"""A service contract's storage layouts: which one a call reads, and moving records from one
to the next at a software upgrade (issue 23: packed records and lists write fewer slots).

A contract's layout is its version (`Host.native_version`, read without gas), so a chain made
before a layout keeps reading and writing the one its blocks recorded until its upgrade
rewrites the storage at one height. A privacy group's world always reads layout 1: public
upgrades do not migrate private state."""

from __future__ import annotations

from collections.abc import Callable

from consortium.evm.host import Storage
from consortium.evm.public_reads import ACTIVE as PUBLIC_READS
from consortium.evm.records import Record
from consortium.ledger.upgrades import UpgradeContext, register_upgrade
from consortium.system.upgrade_plan import native_version, set_native_version


def layout_version(storage: Storage, newest: int) -> int:
    """The layout a call on `storage` reads: the contract's version, at most `newest`; 1 in a
    privacy group's world or on a host without versions."""
    if PUBLIC_READS.get() is not None:
        return 1
    version = getattr(storage.host, "native_version", None)
    return 1 if version is None else min(int(version()), newest)


def repack(storage: Storage, base: int, old: type[Record], new: type[Record],
           **keys: object) -> Record:
    """The record at `base` read in `old`'s layout and written in `new`'s (the same fields),
    the words of `old` past `new`'s cleared; answers the record as read."""
    record = old.load(storage, base, **keys)
    for offset in range(new.SLOTS, old.SLOTS):
        if storage.get_uint(base + offset):
            storage.set_uint(base + offset, 0)
    new.put_fields(storage, base, **{f.name: getattr(record, f.name) for f in new.STORED})
    return record


def forget_position(storage: Storage, set_slot: int, word: int) -> None:
    """Clear `word`'s position in the set at `set_slot` (a set that became a list keeps
    its count and items; its positions are left over)."""
    position = Storage.at(set_slot + 1, word)
    if storage.get_uint(position):
        storage.set_uint(position, 0)


def register_layout_upgrade(name: str, address: bytes, layout: int,
                            rewrite: Callable[[Storage], int]) -> None:
    """Register software upgrade `name`: the native at `address` moves to version `layout`,
    its storage rewritten by `rewrite` at the upgrade's height; a chain already at `layout`
    (made at it) changes nothing but records the upgrade."""

    def migrate(ctx: UpgradeContext) -> None:
        storage = ctx.storage(address)
        if native_version(storage) >= layout:
            return
        rewrite(storage)
        set_native_version(storage, layout)

    register_upgrade(name, "0.1.0", migrate=migrate)
