"""The software upgrade `invoices-layout-2`: the Invoices contract from version 1 to 2, its
storage rewritten to layout 2 (`consortium.apps.invoices.state`) at the upgrade's height.

Every invoice (in the order of the list of all invoices), its tranches and its payments are
read in layout 1 and written packed at the same slots, the words layout 1 used beyond them
cleared, and the positions the three sets that became lists kept (every invoice, by seller,
by buyer) cleared: afterwards the storage holds what layout 2 would have written. No gas, no
logs; the answers of every view stay the same. Deterministic: the same writes on every node,
part of the block's app hash. A chain made at version 2 stays as it is."""

from __future__ import annotations

from consortium.apps.invoices.model import INVOICES_ADDRESS
from consortium.apps.invoices.state import (
    PACKED_LAYOUT,
    InvoiceRecord,
    InvoiceState,
    PackedInvoice,
    PackedPayment,
    PackedTranche,
    PaymentRecord,
    TrancheRecord,
)
from consortium.evm.host import Storage
from consortium.evm.records import Record, WordList
from consortium.ledger.upgrades import UpgradeContext, register_upgrade
from consortium.system.upgrade_plan import native_version, set_native_version

INVOICES_LAYOUT_UPGRADE = "invoices-layout-2"


def _repack(storage: Storage, base: int, old: type[Record], new: type[Record],
            **keys: object) -> Record:
    """The record at `base` read in `old`'s layout, written in `new`'s; `old`'s words past
    `new`'s cleared."""
    record = old.load(storage, base, **keys)
    for offset in range(new.SLOTS, old.SLOTS):
        if storage.get_uint(base + offset):
            storage.set_uint(base + offset, 0)
    new(**{f.name: getattr(record, f.name) for f in old.FIELDS}).store(storage, base)
    return record


def _forget_position(storage: Storage, set_slot: int, word: int) -> None:
    position = Storage.at(set_slot + 1, word)
    if storage.get_uint(position):
        storage.set_uint(position, 0)


def migrate_to_layout_2(storage: Storage) -> int:
    """Rewrite the Invoices contract's storage (layout 1) in layout 2; answers how many
    invoices were moved."""
    S = InvoiceState
    every = WordList(storage, S.ALL)
    words = list(every)
    for word in words:
        fp = word.to_bytes(32, "big")
        invoice = _repack(storage, S.base(fp), InvoiceRecord, PackedInvoice, fingerprint=fp)
        assert isinstance(invoice, InvoiceRecord)
        for i in range(invoice.tranche_count):
            _repack(storage, Storage.at(S.TRANCHES, fp, i), TrancheRecord, PackedTranche,
                    index=i)
        for i in range(invoice.payment_count):
            _repack(storage, Storage.at(S.PAYMENTS, fp, i), PaymentRecord, PackedPayment)
        _forget_position(storage, S.ALL, word)
        _forget_position(storage, Storage.at(S.BY_SELLER, invoice.seller), word)
        _forget_position(storage, Storage.at(S.BY_BUYER, invoice.buyer), word)
    return len(words)


def invoices_layout_2(ctx: UpgradeContext) -> None:
    """Invoices 1 -> 2 at the upgrade's height (a chain at 2 already: nothing)."""
    storage = ctx.storage(INVOICES_ADDRESS)
    if native_version(storage) >= PACKED_LAYOUT:
        return
    migrate_to_layout_2(storage)
    set_native_version(storage, PACKED_LAYOUT)


register_upgrade(INVOICES_LAYOUT_UPGRADE, "0.1.0", migrate=invoices_layout_2)
