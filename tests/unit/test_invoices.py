"""The Invoices native contract on a real Ledger: the state machine, every invariant with
its refusal reason, events, and reads by invoice, seller, buyer, bank and state."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_abi import decode as abi_decode

from consortium.apps.invoices.abi import ABI_FILE, render_abi
from consortium.apps.invoices.contract import Invoices
from consortium.apps.invoices.fingerprint import compute
from consortium.apps.invoices.model import currency_problem, date_problem, utc_date
from consortium.ledger.types import TxFilter
from tests.support.invoices_testkit import (
    BANK_A,
    BANK_B,
    BUYER,
    BUYER_2,
    KEY,
    NOBODY,
    SELLER,
    TAX,
    TODAY,
    Chain,
    invoice_ledger,
)


def fp_of(number: str, amount: int = 1_000_000) -> bytes:
    return compute(KEY, "91310000MA1FL4XX7J", number, "2023-10-01", amount)


@pytest.fixture(params=(1, 2), ids=("layout1", "layout2"))
def chain(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Chain]:
    """Every rule on both storage layouts (a chain made before `invoices-layout-2`, and one
    made at it)."""
    ledger = invoice_ledger(tmp_path, request.param)
    yield Chain(ledger)
    ledger.close()


def low(acct: object) -> str:
    return acct.address.lower()  # type: ignore[attr-defined]


def test_shipped_abi_matches_the_contract() -> None:
    assert ABI_FILE.read_text() == render_abi(), (
        "Invoices.json is stale: run python -m consortium.apps.invoices.abi"
    )
    names = {e["name"] for e in json.loads(ABI_FILE.read_text())}
    assert {"issue", "confirm", "finance", "repay", "cancel", "reimburse", "InvoiceTransition"} \
        <= names


def test_dates_and_currencies() -> None:
    assert utc_date(1_700_000_000) == TODAY
    assert utc_date(951_782_400) == 20000229  # a leap day
    assert utc_date(0) == 19700101
    assert date_problem(20240229) is None
    assert date_problem(20230229) and date_problem(20231301) and date_problem(18991231)
    assert currency_problem("CNY") is None
    assert currency_problem("cny") and currency_problem("CN") and currency_problem("RMB1")


def test_story_financing_in_tranches_and_repayment_at_maturity(chain: Chain) -> None:
    fp = fp_of("INV-1")
    chain.issue(fp)
    chain.ok(BUYER, "confirm", fp)
    chain.ok(SELLER, "requestFinancing", fp)
    chain.ok(BANK_A, "finance", fp, 600_000)
    # Total active financing never exceeds the face amount, tranche by tranche.
    reason = chain.refused(BANK_B, "finance", fp, 400_001)
    assert "over its face amount 1000000 (400000 left)" in reason
    chain.ok(BANK_B, "finance", fp, 400_000)
    assert "(0 left)" in chain.refused(BANK_A, "finance", fp, 1)

    inv = chain.read.invoice(fp)
    assert inv is not None
    assert inv["state"] == "financed" and inv["financed"] == 1_000_000
    assert inv["assignee"] == low(BANK_A)  # the receivable went to the first bank
    assert [(t["bank"], t["amount"], t["state"]) for t in inv["tranches"]] == [
        (low(BANK_A), 600_000, "active"), (low(BANK_B), 400_000, "active")]

    # The seller cannot cancel a financed invoice.
    assert "financed: a financed invoice cannot be cancelled" in chain.refused(
        SELLER, "cancel", fp, "customer returned the goods")
    # Only the buyer repays, at maturity; each tranche is paid to its bank.
    assert "only the invoice's buyer" in chain.refused(BUYER_2, "repay", fp)
    chain.ok(BUYER, "repay", fp)
    inv = chain.read.invoice(fp)
    assert inv is not None and inv["state"] == "repaid"
    assert [(p["payee"], p["amount"]) for p in inv["payments"]] == [
        (low(BANK_A), 600_000), (low(BANK_B), 400_000)]
    assert [t["state"] for t in inv["tranches"]] == ["repaid", "repaid"]
    assert "is repaid: it cannot be cancelled" in chain.refused(SELLER, "cancel", fp, "late")


def test_partial_financing_pays_the_rest_to_the_seller(chain: Chain) -> None:
    fp = fp_of("INV-2")
    chain.financed(fp, (BANK_A, 700_000))
    chain.ok(BUYER, "repay", fp)
    inv = chain.read.invoice(fp)
    assert inv is not None
    assert [(p["payee"], p["amount"]) for p in inv["payments"]] == [
        (low(BANK_A), 700_000), (low(SELLER), 300_000)]


def test_a_fingerprint_is_registered_once(chain: Chain) -> None:
    fp = fp_of("INV-3")
    chain.issue(fp)
    # Bank B enters the same invoice for the seller: a duplicate.
    reason = chain.refused(BANK_B, "issue", fp, SELLER.address, BUYER.address, 1_000_000, "CNY",
                           TODAY)
    assert f"invoice 0x{fp.hex()} is already registered (a duplicate" in reason
    assert "already registered" in chain.refused(
        SELLER, "issue", fp, SELLER.address, BUYER.address, 5, "USD", TODAY)
    # A bank may enter a new invoice for its client; it is recorded as the registrant.
    other = fp_of("INV-3b")
    chain.issue(other, by=BANK_B)
    inv = chain.read.invoice(other)
    assert inv is not None and inv["registrant"] == low(BANK_B) and inv["seller"] == low(SELLER)


def test_issue_refusals(chain: Chain) -> None:
    fp = fp_of("INV-4")
    args = [fp, SELLER.address, BUYER.address, 100, "CNY", TODAY]

    def refused(by: object, **change: object) -> str:
        values = dict(zip(["fp", "seller", "buyer", "amount", "currency", "due"], args,
                          strict=True))
        values.update(change)
        return chain.refused(by, "issue", *values.values())

    assert "does not hold the seller role" in refused(BUYER, seller=BUYER.address,
                                                      buyer=BUYER_2.address)
    assert "an invoice is issued by its seller, or entered by a financing bank" in refused(NOBODY)
    assert "buyer" in refused(SELLER, buyer=NOBODY.address) and "buyer role" in refused(
        SELLER, buyer=NOBODY.address)
    assert "same account" in refused(SELLER, buyer=SELLER.address)
    assert "ISO 4217" in refused(SELLER, currency="yuan")
    assert "not a date" in refused(SELLER, due=20230231)
    assert "above 0" in refused(SELLER, amount=0)
    assert "zero" in refused(SELLER, fp=b"\x00" * 32)


def test_only_the_buyer_confirms(chain: Chain) -> None:
    fp = fp_of("INV-5")
    chain.issue(fp)
    assert "does not hold the buyer role needed to confirm it" in chain.refused(
        SELLER, "confirm", fp)
    assert "does not hold the buyer role" in chain.refused(BANK_A, "confirm", fp)
    reason = chain.refused(BUYER_2, "confirm", fp)
    assert f"only the invoice's buyer {low(BUYER)} may confirm it" in reason
    chain.ok(BUYER, "confirm", fp)
    assert "is confirmed: it cannot be confirmed" in chain.refused(BUYER, "confirm", fp)
    # Financing needs a request by the seller first.
    assert "is confirmed: it cannot be financed" in chain.refused(BANK_A, "finance", fp, 5)
    assert "does not hold the seller role" in chain.refused(BANK_A, "requestFinancing", fp)
    assert "does not hold the financing_bank role" in chain.refused(SELLER, "finance", fp, 5)


def test_only_the_tax_authority_marks_tax_verified(chain: Chain) -> None:
    fp = fp_of("INV-6")
    chain.issue(fp)
    for who in (SELLER, BUYER, BANK_A, NOBODY):
        assert "does not hold the tax_authority role" in chain.refused(
            who, "setTaxVerified", fp, True, "looks fine")
    chain.ok(TAX, "setTaxVerified", fp, True, "matches the tax bureau's records")
    inv = chain.read.invoice(fp)
    assert inv is not None and inv["taxVerified"] is True
    assert "already tax verified" in chain.refused(TAX, "setTaxVerified", fp, True, "")
    chain.ok(TAX, "setTaxVerified", fp, False, "withdrawn")


def test_reimbursed_once(chain: Chain) -> None:
    fp = fp_of("INV-7")
    chain.issue(fp)
    assert "only the invoice's buyer" in chain.refused(BUYER_2, "reimburse", fp)
    chain.ok(BUYER, "reimburse", fp)
    assert "was already reimbursed: an invoice is reimbursed once" in chain.refused(
        BUYER, "reimburse", fp)
    assert "is reimbursed: it cannot be confirmed" in chain.refused(BUYER, "confirm", fp)
    # A confirmed invoice is on the financing path, not the consumer one.
    other = fp_of("INV-7b")
    chain.issue(other)
    chain.ok(BUYER, "confirm", other)
    assert "is confirmed: it cannot be reimbursed" in chain.refused(BUYER, "reimburse", other)


def test_cancellation(chain: Chain) -> None:
    fp = fp_of("INV-8")
    chain.issue(fp)
    assert "a reason is required" in chain.refused(SELLER, "cancel", fp, " ")
    assert "does not hold the seller role" in chain.refused(BANK_A, "cancel", fp, "x")
    chain.ok(SELLER, "cancel", fp, "issued in error")
    assert chain.read.invoice(fp)["state"] == "cancelled"  # type: ignore[index]
    confirmed = fp_of("INV-8b")
    chain.issue(confirmed)
    chain.ok(BUYER, "confirm", confirmed)
    chain.ok(SELLER, "cancel", confirmed, "reversed with a credit note")


def test_maturity_and_default(chain: Chain) -> None:
    later = fp_of("INV-9")
    chain.financed(later, (BANK_A, 1_000_000), due=20991231)
    reason = chain.refused(BUYER, "repay", later)
    assert "is not due until 2099-12-31 (today is 2023-11-14)" in reason
    assert "not overdue" in chain.refused(BANK_A, "markDefaulted", later, "unpaid")

    overdue = fp_of("INV-9b")
    chain.financed(overdue, (BANK_A, 500_000), due=20231001)
    assert "holds no tranche" in chain.refused(BANK_B, "markDefaulted", overdue, "unpaid")
    assert "a reason is required" in chain.refused(BANK_A, "markDefaulted", overdue, "")
    chain.ok(BANK_A, "markDefaulted", overdue, "unpaid 44 days after the due date")
    inv = chain.read.invoice(overdue)
    assert inv is not None and inv["state"] == "defaulted"
    assert inv["tranches"][0]["state"] == "defaulted"
    assert "is defaulted: it cannot be repaid" in chain.refused(BUYER, "repay", overdue)


def test_reads_by_party_and_state(chain: Chain) -> None:
    a, b, c = fp_of("R-1"), fp_of("R-2"), fp_of("R-3")
    chain.financed(a, (BANK_A, 10), amount=100)
    chain.issue(b, amount=100)
    chain.issue(c, amount=100, buyer=BUYER_2)
    r = chain.read
    assert r.fingerprints() == [a, b, c]
    assert r.fingerprints(seller=low(SELLER)) == [a, b, c]
    assert r.fingerprints(buyer=low(BUYER)) == [a, b]
    assert r.fingerprints(buyer=low(BUYER_2)) == [c]
    assert r.fingerprints(bank=low(BANK_A)) == [a]
    assert r.fingerprints(bank=low(BANK_B)) == []
    assert r.fingerprints(state="issued") == [b, c]
    assert r.fingerprints(state="financed", bank=low(BANK_A)) == [a]
    assert r.fingerprints(state="issued", buyer=low(BUYER_2)) == [c]
    listed = r.invoices(state="issued")
    assert [i["fingerprint"] for i in listed] == ["0x" + b.hex(), "0x" + c.hex()]
    assert listed[0]["dueDate"] == "2023-11-14" and listed[0]["currency"] == "CNY"
    assert r.invoice(fp_of("nothing")) is None
    with pytest.raises(ValueError, match="unknown state"):
        r.invoices(state="paid")


def test_every_transition_emits_an_event(chain: Chain) -> None:
    fp = fp_of("E-1")
    ledger = chain.ledger
    chain.financed(fp, (BANK_A, 1_000_000))
    chain.ok(BUYER, "repay", fp)
    logs = ledger.get_logs(TxFilter(
        0, ledger.info()[0], ["0x" + Invoices.address.hex()],
        ["0x" + Invoices.InvoiceTransition.topic0.hex(), "0x" + fp.hex()],
    ))
    steps = []
    for log in logs:
        old, new, _reason = abi_decode(["string"] * 3, bytes(log.data))
        actor = "0x" + log.topics[2][-40:]
        steps.append((actor, old, new))
    assert steps == [
        (low(SELLER), "", "issued"),
        (low(BUYER), "issued", "confirmed"),
        (low(SELLER), "confirmed", "financing_requested"),
        (low(BANK_A), "financing_requested", "financed"),
        (low(BUYER), "financed", "repaid"),
    ]


def test_fingerprints_stay_the_only_trace_of_the_fields(chain: Chain) -> None:
    fp = compute(KEY, "91310000MA1FL4XX7J", "SECRET-NO-77", "2023-10-01", 1_000_000)
    chain.issue(fp)
    # Only the fingerprint identifies the invoice; another key gives another fingerprint.
    assert compute(b"\x01" * 32, "91310000MA1FL4XX7J", "SECRET-NO-77", "2023-10-01",
                   1_000_000) != fp
    assert hashlib.sha256(b"SECRET-NO-77").digest() != fp
