"""Invoices storage layout 2 (issue 23): new chains start at it; a chain made before keeps
layout 1, with the gas it recorded, until its members adopt the software upgrade
`invoices-layout-2`, which rewrites every invoice, tranche and payment exactly at its height
— every answer the same before and after, on both engines, with one app hash."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from consortium.apps.invoices.model import INVOICES_ADDRESS, STATES
from consortium.apps.invoices.state import (
    InvoiceRecord,
    InvoiceState,
    PackedInvoice,
    PackedPayment,
    PackedTranche,
    PaymentRecord,
    TrancheRecord,
)
from consortium.apps.invoices.upgrade import INVOICES_LAYOUT_UPGRADE
from consortium.evm.host import Storage
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.system_genesis import NATIVE_ADDRESSES
from consortium.ledger.upgrades import handler_for
from consortium.network.init import FoundingMember, genesis_app_state
from consortium.system.upgrade_plan import LATEST_NATIVE_VERSIONS, NATIVE_VERSION_SLOT
from tests.support.governance_testkit import BANKS, Gov
from tests.support.invoices_testkit import (
    BANK_A,
    BANK_B,
    BUYER,
    BUYER_2,
    KEY,
    PARTIES,
    SELLER,
    TAX,
    TODAY,
    Chain,
)
from tests.support.ledger_testkit import parties_state

ENGINES = ("revm", "py-evm")
# four voting banks beside the invoice parties (observers, no vote) pass the upgrade
VOTERS = {f"Bank {i}": (BANKS[i], []) for i in range(4)}
ADDRESS = "0x" + INVOICES_ADDRESS.hex()


def state(layout: int) -> AppState:
    made = parties_state(VOTERS | PARTIES, observers=frozenset(PARTIES))
    return made if layout == 1 else dataclasses.replace(made, native_versions={"Invoices": 2})


def open_chain(path: Path, layout: int, engine: str = "revm") -> Chain:
    ledger = Ledger(path, engine=engine)
    ledger.init_chain(state(layout), 1)
    return Chain(ledger)


def fp(n: int) -> bytes:
    return bytes([n]) + KEY[1:]


def height(chain: Chain) -> int:
    return chain.ledger.info()[0]


def version(chain: Chain) -> int:
    return slot(chain, NATIVE_VERSION_SLOT) or 1


def slot(chain: Chain, number: int) -> int:
    return int.from_bytes(chain.ledger.get_storage_at(ADDRESS, number), "big")


def history(c: Chain) -> None:
    """Invoices in every kind of state: issued (tax verified), financed by two banks,
    repaid (payments to both banks and the seller), cancelled, another buyer's."""
    c.issue(fp(1))
    c.ok(TAX, "setTaxVerified", fp(1), True, "checked")
    c.financed(fp(2), (BANK_A, 300_000), (BANK_B, 200_000))
    c.financed(fp(3), (BANK_A, 400_000), due=TODAY - 1)
    c.ok(BUYER, "repay", fp(3))
    c.issue(fp(4))
    c.ok(SELLER, "cancel", fp(4), "entered twice")
    c.issue(fp(5), buyer=BUYER_2, currency="EUR")


def answers(c: Chain) -> dict[str, Any]:
    """Everything a member can read of the invoices."""
    read = c.read
    return {
        "every": read.invoices(),
        "one": [read.invoice(fp(n)) for n in range(1, 7)],
        "by": [read.fingerprints(seller=SELLER.address), read.fingerprints(buyer=BUYER.address),
               read.fingerprints(buyer=BUYER_2.address), read.fingerprints(bank=BANK_A.address),
               read.fingerprints(bank=BANK_B.address)],
        "state": {s: read.fingerprints(state=s) for s in STATES},
    }


# --- new chains ------------------------------------------------------------------------------


def test_new_chains_start_at_layout_2() -> None:
    member = FoundingMember("Bank A", "0x" + "11" * 20, ("ab" * 20,), ())
    made = genesis_app_state([member], eth_chain_id=1, roles={}, dev_balances=False)
    assert made.native_versions["Invoices"] == LATEST_NATIVE_VERSIONS["Invoices"] == 2
    assert NATIVE_ADDRESSES["Invoices"] == INVOICES_ADDRESS
    assert handler_for(INVOICES_LAYOUT_UPGRADE) is not None


def test_layout_2_packs_the_same_records_in_fewer_words() -> None:
    for old, new, slots, words in ((InvoiceRecord, PackedInvoice, 14, 5),
                                   (TrancheRecord, PackedTranche, 4, 2),
                                   (PaymentRecord, PackedPayment, 3, 2)):
        assert new.abi_type() == old.abi_type()
        assert [f.json_name for f in new.FIELDS] == [f.json_name for f in old.FIELDS]
        assert slots == old.SLOTS and words == new.SLOTS


# The gas of these calls on a layout-1 chain (measured at commit ff5888b, before layout 2, on
# both engines): such a chain must replay them with exactly this gas. Issue, confirm, finance
# (the first tranche), repay.
LAYOUT_1_GAS = (495_726, 228_086, 437_336, 426_502)


@pytest.mark.parametrize("engine", ENGINES)
def test_layout_1_keeps_its_gas_and_layout_2_costs_less(tmp_path: Path, engine: str) -> None:
    used = {}
    for layout in (1, 2):
        c = open_chain(tmp_path / str(layout), layout, engine)
        try:
            assert version(c) == layout
            issue = c.issue(fp(9), due=TODAY - 1)
            confirm = c.ok(BUYER, "confirm", fp(9))
            c.ok(SELLER, "requestFinancing", fp(9))
            finance = c.ok(BANK_A, "finance", fp(9), 500_000)
            repay = c.ok(BUYER, "repay", fp(9))
            used[layout] = tuple(r.gas_used for r in (issue, confirm, finance, repay))
            assert c.read.invoice(fp(9))["state"] == "repaid"
        finally:
            c.ledger.close()
    assert used[1] == LAYOUT_1_GAS
    # eight fresh slots fewer for an issue (22 -> 14), two for a tranche and a payment
    assert used[1][0] - used[2][0] > 8 * 19_000
    assert all(new < old for new, old in zip(used[2], used[1], strict=True)), used


# --- the upgrade -----------------------------------------------------------------------------


def test_the_upgrade_repacks_every_invoice_at_its_height_on_both_engines(tmp_path: Path) -> None:
    chains = [open_chain(tmp_path / engine, 1, engine) for engine in ENGINES]
    try:
        for c in chains:
            history(c)
        before = answers(chains[0])
        assert before["one"][1]["tranches"] and before["one"][2]["payments"]
        at = height(chains[0]) + 8
        for c in chains:
            Gov(c.ledger).pass_("software-upgrade", INVOICES_LAYOUT_UPGRADE, at, "0.1.0")
        assert len({c.ledger.info() for c in chains}) == 1
        for c in chains:
            assert answers(c) == before and version(c) == 1
            while height(c) < at - 1:
                Gov(c.ledger).advance(1)
            # the block at the height: the migration runs before its transactions
            c.ok(BUYER, "confirm", fp(1))
            assert height(c) == at and version(c) == 2
            after = answers(c)
            assert after["one"][0]["state"] == "confirmed"
            after["one"][0] = before["one"][0]
            after["every"] = before["every"]  # the confirmed one differs, as it should
            assert {k: v for k, v in after.items() if k != "state"} == {
                k: v for k, v in before.items() if k != "state"}
            # nothing of layout 1 is left: the words past the packed records, the positions
            # of the sets that became lists
            for n in range(1, 6):
                base = InvoiceState.base(fp(n))
                assert [slot(c, base + i) for i in range(5, 14)] == [0] * 9
                word = int.from_bytes(fp(n), "big")
                assert slot(c, Storage.at(1, word)) == 0
                assert slot(c, Storage.at(Storage.at(InvoiceState.BY_SELLER, SELLER.address)
                                          + 1, word)) == 0
            for i in range(2):
                assert slot(c, Storage.at(InvoiceState.TRANCHES, fp(2), i) + 2) == 0
            # and it goes on in layout 2
            c.ok(SELLER, "requestFinancing", fp(1))
            c.ok(BANK_B, "finance", fp(1), 1_000_000)
            c.issue(fp(6))
            assert c.read.invoice(fp(1))["tranches"][0]["amount"] == 1_000_000
            assert c.read.fingerprints(seller=SELLER.address)[-1] == fp(6)
            applied = Gov(c.ledger).read.upgrades()["applied"]
            assert applied == [{"name": INVOICES_LAYOUT_UPGRADE, "height": at}]
        assert len({c.ledger.info() for c in chains}) == 1  # the same app hash
    finally:
        for c in chains:
            c.ledger.close()


def test_the_upgrade_on_a_chain_made_at_layout_2_changes_nothing(tmp_path: Path) -> None:
    c = open_chain(tmp_path, 2)
    try:
        history(c)
        before = answers(c)
        at = height(c) + 8
        Gov(c.ledger).pass_("software-upgrade", INVOICES_LAYOUT_UPGRADE, at, "0.1.0")
        while height(c) < at:
            Gov(c.ledger).advance(1)
        assert version(c) == 2 and answers(c) == before
    finally:
        c.ledger.close()
