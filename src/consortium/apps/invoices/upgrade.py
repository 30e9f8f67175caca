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
from consortium.apps.layout import forget_position, register_layout_upgrade, repack
from consortium.evm.host import Storage
from consortium.evm.records import WordList

INVOICES_LAYOUT_UPGRADE = "invoices-layout-2"


def migrate_to_layout_2(storage: Storage) -> int:
    """Rewrite the Invoices contract's storage (layout 1) in layout 2; answers how many
    invoices were moved."""
    S = InvoiceState
    every = WordList(storage, S.ALL)
    words = list(every)
    for word in words:
        fp = word.to_bytes(32, "big")
        invoice = repack(storage, S.base(fp), InvoiceRecord, PackedInvoice, fingerprint=fp)
        assert isinstance(invoice, InvoiceRecord)
        for i in range(invoice.tranche_count):
            repack(storage, Storage.at(S.TRANCHES, fp, i), TrancheRecord, PackedTranche,
                    index=i)
        for i in range(invoice.payment_count):
            repack(storage, Storage.at(S.PAYMENTS, fp, i), PaymentRecord, PackedPayment)
        forget_position(storage, S.ALL, word)
        forget_position(storage, Storage.at(S.BY_SELLER, invoice.seller), word)
        forget_position(storage, Storage.at(S.BY_BUYER, invoice.buyer), word)
    return len(words)


register_layout_upgrade(INVOICES_LAYOUT_UPGRADE, INVOICES_ADDRESS, PACKED_LAYOUT,
                        migrate_to_layout_2)
