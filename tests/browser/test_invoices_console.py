"""Issue 20's browser test 4: an invoice's lifecycle across its seller, its buyer and two
banks, each a browser context signed in with its keystore through a node's console.

Acme (seller, node 0) issues an invoice from the page — its fingerprint computed in the page
with the consortium key file, equal to the CLI's; a fractional amount and a second copy are
refused in words. Globex (buyer, node 1) confirms it, the Tax Bureau marks it tax verified,
Acme offers it for financing, Bank A (node 0) finances 600, Bank B's 500 would over-finance
it and is refused with the contract's reason, its 400 goes through, Globex repays; each page
follows the states live. Then a CSV import: all or nothing refuses the whole file for its two
bad rows (same report as the CLI's, by line), and without it the good row is imported.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from consortium.apps.invoices import InvoiceClient
from consortium.apps.invoices.fingerprint import compute, key_from_node_home
from consortium.apps.invoices.model import show_date
from tests.browser.conftest import running_net
from tests.browser.signing import WAIT_MS, console, expect, same_document, sign_in
from tests.support.localnet import LocalNet

__all__ = ["console"]  # the fixture, imported for pytest
pytestmark = [pytest.mark.timeout(240)]  # issue 20: a network, four contexts, 40-60 s

MEMBERS = ["Bank A", "Bank B", "Acme Trading", "Globex Retail", "Tax Bureau"]
ROLES = {"Bank A": ["financing_bank"], "Bank B": ["financing_bank"],
         "Acme Trading": ["seller"], "Globex Retail": ["buyer"], "Tax Bureau": ["tax_authority"]}
TAX_ID = "91310000MA1FL4XX7J"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[LocalNet]:
    yield from running_net(tmp_path_factory, "console-invoices", validators=2,
                           members=MEMBERS, roles=ROLES)


def key_path(net: LocalNet) -> Path:
    """The consortium key file of node 0's folder (what the user picks in the page)."""
    return net.network.node_home(net.node("node0")) / "consortium.key"


def consortium_key(net: LocalNet) -> bytes:
    """The same key as the CLI reads it (the node's configuration names the file)."""
    return key_from_node_home(net.network.node_home(net.node("node0")))


def choose_key(page: Any, net: LocalNet) -> None:
    page.locator("#key-file").set_input_files(str(key_path(net)))
    expect(page.locator("#key-state")).to_contain_text("Key loaded")


def issue(page: Any, **fields: str) -> Any:
    form = page.locator("#issue-form")
    for name, value in fields.items():
        form.locator(f"input[name={name}]").fill(value)
    form.get_by_role("button", name="Issue").click()
    return form.locator(".outcome")


def act(page: Any, fp: str, button: str, amount: str | None = None) -> Any:
    row = page.locator(f"tr[data-fingerprint='{fp}']")
    form = row.locator("form", has=page.get_by_role("button", name=button, exact=True))
    if amount is not None:
        form.locator("input[name=amount]").fill(amount)
    form.get_by_role("button", name=button, exact=True).click()
    return page.locator("#invoices-outcome")


def state_of(page: Any, fp: str) -> Any:
    return page.locator(f"tr[data-fingerprint='{fp}'] td.state")


def test_invoice_lifecycle(console: Callable[..., Any], net: LocalNet, tmp_path: Path,
                           shot: Callable[[Any, str], Path]) -> None:
    keystores = net.root / "keystores"
    today = show_date(InvoiceClient(net.node("node0").api_url).read.today())
    seller = console("node0", "/invoices")
    buyer = console("node1", "/invoices")
    bank_a = console("node0", "/invoices")
    bank_b = console("node1", "/invoices")
    tax = console("node1", "/invoices")
    for page, file, name in ((seller, "acme-trading", "Acme Trading"),
                             (buyer, "globex-retail", "Globex Retail"),
                             (bank_a, "bank-a", "Bank A"), (bank_b, "bank-b", "Bank B"),
                             (tax, "tax-bureau", "Tax Bureau")):
        sign_in(page, keystores / f"{file}.json", name)
    expect(buyer.locator("#issue-form")).to_be_hidden()  # a buyer does not issue
    choose_key(seller, net)

    invoice = {"seller_tax_id": TAX_ID, "invoice_number": "INV-0001",
               "issue_date": "2025-01-15", "amount": "1000.50", "currency": "CNY",
               "due_date": today, "buyer": "Globex Retail"}
    outcome = issue(seller, **invoice)
    expect(outcome).to_contain_text("not an integer in the currency's smallest unit",
                                    timeout=WAIT_MS)
    outcome = issue(seller, amount="1000")
    expect(outcome).to_contain_text("Issued invoice INV-0001 in block", timeout=WAIT_MS)
    fp = "0x" + compute(consortium_key(net), TAX_ID, "INV-0001", "2025-01-15", 1000).hex()
    assert fp in outcome.inner_text()  # the page's HMAC is the CLI's fingerprint
    outcome = issue(seller, invoice_number=" inv-0001 ")  # the same invoice, typed otherwise
    expect(outcome).to_contain_text("already registered on chain (a duplicate",
                                    timeout=WAIT_MS)

    # the buyer confirms; the seller offers it for financing (each page follows live)
    expect(state_of(buyer, fp)).to_have_text("issued", timeout=WAIT_MS)
    expect(buyer.locator(f"tr[data-fingerprint='{fp}']")).to_contain_text("Globex Retail")
    expect(act(buyer, fp, "Confirm")).to_contain_text("Confirmed in block", timeout=WAIT_MS)
    expect(state_of(seller, fp)).to_have_text("confirmed", timeout=WAIT_MS)
    # the tax authority marks it verified (a seller is offered no such button)
    expect(seller.get_by_role("button", name="Tax verified")).to_have_count(0)
    expect(act(tax, fp, "Tax verified")).to_contain_text("Tax verification set in block",
                                                         timeout=WAIT_MS)
    expect(seller.locator(f"tr[data-fingerprint='{fp}'] td").nth(7)).to_have_text(
        "verified", timeout=WAIT_MS)
    expect(seller.locator(f"tr[data-fingerprint='{fp}']").get_by_role(
        "button", name="Confirm", exact=True)).to_have_count(0)
    expect(act(seller, fp, "Request financing")).to_contain_text("Offered for financing",
                                                                 timeout=WAIT_MS)

    # two banks finance it; Bank B's 500 would go over the face amount: refused, with why
    expect(state_of(bank_a, fp)).to_have_text("financing_requested", timeout=WAIT_MS)
    expect(act(bank_a, fp, "Finance", "600")).to_contain_text("Financed in block",
                                                              timeout=WAIT_MS)
    expect(state_of(bank_b, fp)).to_have_text("financed", timeout=WAIT_MS)
    outcome = act(bank_b, fp, "Finance", "500")
    expect(outcome).to_contain_text("Refused:", timeout=WAIT_MS)
    expect(outcome).to_contain_text("a tranche of 500 would bring the financing")
    expect(outcome).to_contain_text("over its face amount 1000 (400 left)")
    shot(bank_b, "over-financing-refused")
    expect(act(bank_b, fp, "Finance", "400")).to_contain_text("Financed in block",
                                                              timeout=WAIT_MS)
    expect(buyer.locator(f"tr[data-fingerprint='{fp}'] td").nth(4)).to_have_text(
        "1000", timeout=WAIT_MS)

    # the buyer repays at maturity: every page shows it repaid
    expect(act(buyer, fp, "Repay")).to_contain_text("Repaid in block", timeout=WAIT_MS)
    for page in (seller, bank_a, bank_b):
        expect(state_of(page, fp)).to_have_text("repaid", timeout=WAIT_MS)
    shot(seller, "seller-repaid")

    # a CSV import: two bad rows refuse the whole file with "all or nothing"
    csv = tmp_path / "invoices.csv"
    csv.write_text("seller_tax_id,invoice_number,issue_date,amount,currency,due_date,buyer\n"
                   f"{TAX_ID},INV-0002,2025-02-01,2500,CNY,{today},Globex Retail\n"
                   f"{TAX_ID},INV-0003,2025-02-01,12.5,CNY,{today},Globex Retail\n"
                   f"{TAX_ID},INV-0001,2025-01-15,1000,CNY,{today},Globex Retail\n")
    form = seller.locator("#import-form")
    form.locator("input[name=csv]").set_input_files(str(csv))
    form.get_by_role("button", name="Check and import").click()
    expect(form.locator(".outcome")).to_have_text("All or nothing: nothing was sent.",
                                                  timeout=WAIT_MS)
    refused = form.locator("table", has_text="Refused (2 rows)")
    expect(refused.locator("tbody tr").nth(0)).to_contain_text("3")
    expect(refused.locator("tbody tr").nth(0)).to_contain_text("no fractions")
    expect(refused.locator("tbody tr").nth(1)).to_contain_text("already registered on chain")
    shot(seller, "import-refused")
    form.locator("input[name=strict]").uncheck()
    form.get_by_role("button", name="Check and import").click()
    expect(form.locator(".outcome")).to_contain_text("Imported 1 of 3 rows; refused 2",
                                                     timeout=WAIT_MS)
    expect(form.locator("table", has_text="Imported (1 of 3 rows)")).to_contain_text("INV-0002")
    expect(bank_a.locator("#invoice-list")).to_contain_text("2500 CNY", timeout=WAIT_MS)
    shot(seller, "imported")
    assert all(same_document(p) for p in (seller, buyer, bank_a, bank_b, tax))
