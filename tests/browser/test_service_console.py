"""A service page generated from its declaration, used from two nodes: cash tokens.

Bank A (a cash bank) signs in on node 0's cash page: it creates the CNY token and mints to
Bank B by name; a malformed currency is refused in the page before anything is signed.
Bank B, on node 1, is not offered the cash bank's forms; it transfers part back, and an
over-transfer is refused by the contract's dry run, in words; it sets an allowance through a
method no declaration covers yet (its form from the contract's ABI); frozen by the regulator
meanwhile, its next transfer is refused by the node, in words. The declared reads' tables
(tokens, balances) follow the contract's events live on both pages, without a reload.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from consortium.system.client import GovernanceClient
from tests.browser.signing import WAIT_MS, console, expect, same_document, sign_in, two_members
from tests.support.evmutil import dev_accounts
from tests.support.localnet import LocalNet

__all__ = ["console"]  # the fixture, imported for pytest


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[LocalNet]:
    yield from two_members(tmp_path_factory, "console-cash",
                           roles={"Bank A": ["cash_bank", "regulator"]})


def write(page: Any, key: str) -> Any:
    """The declared write's form (its <details> opened)."""
    form = page.locator(f"form[data-key='{key}']")
    details = page.locator("details.write", has=form)
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    return form


def test_cash_from_two_nodes(console: Callable[[str, str], Any], net: LocalNet,
                             shot: Callable[[Any, str], Path]) -> None:
    a = console("node0", "/services/cash")
    b = console("node1", "/services/cash")
    keystores = net.root / "keystores"
    sign_in(a, keystores / "bank-a.json", "Bank A")
    sign_in(b, keystores / "bank-b.json", "Bank B")
    expect(a.locator("#result-cash_tokens")).to_contain_text("None.")
    # B holds no cash_bank role: the bank's forms are not offered, transfer is
    expect(b.locator("form[data-key='cash.create']")).to_be_hidden()
    expect(b.locator("form[data-key='cash.mint']")).to_be_hidden()
    transfer = b.locator("details.write", has=b.locator("form[data-key='cash.transfer']"))
    expect(transfer).to_be_visible()

    create = write(a, "cash.create")
    create.get_by_label("currency").fill("cny1")
    create.get_by_label("name").fill("Yuan deposit")
    create.get_by_role("button").click()
    expect(create.locator(".outcome")).to_contain_text(
        'Not sent, check: currency: "cny1" is not a currency code', timeout=WAIT_MS)
    create.get_by_label("currency").fill("cny")
    create.get_by_role("button").click()
    expect(create.locator(".outcome")).to_contain_text("in block", timeout=WAIT_MS)
    # the tokens table of both pages follows the contract's log
    for page in (a, b):
        expect(page.locator("#result-cash_tokens")).to_contain_text("CNY", timeout=WAIT_MS)
        expect(page.locator("#result-cash_tokens")).to_contain_text("Yuan deposit")

    mint = write(a, "cash.mint")
    mint.get_by_label("currency").fill("CNY")
    mint.get_by_label("to").fill("Bank B")
    mint.get_by_label("amount").fill("1.5")
    mint.get_by_role("button").click()
    expect(mint.locator(".outcome")).to_contain_text("(no decimal point)", timeout=WAIT_MS)
    mint.get_by_label("amount").fill("1000")
    mint.get_by_role("button").click()
    expect(mint.locator(".outcome")).to_contain_text("in block", timeout=WAIT_MS)

    # B's balance, asked by member name, then kept live
    balances = b.locator("#read-cash_balances")
    balances.get_by_label("account").fill("Bank B")
    balances.get_by_role("button", name="Show").click()
    expect(b.locator("#result-cash_balances")).to_contain_text("1000", timeout=WAIT_MS)

    transfer = write(b, "cash.transfer")  # the form in it
    transfer.get_by_label("currency").fill("CNY")
    transfer.get_by_label("to").fill("Bank A")
    transfer.get_by_label("amount").fill("10000")
    transfer.get_by_role("button").click()
    expect(transfer.locator(".outcome")).to_contain_text("Refused: execution reverted",
                                                         timeout=WAIT_MS)
    refusal = transfer.locator(".outcome").inner_text()
    transfer.get_by_label("amount").fill("250")
    transfer.get_by_role("button").click()
    expect(transfer.locator(".outcome")).to_contain_text("in block", timeout=WAIT_MS)
    expect(b.locator("#result-cash_balances")).to_contain_text("750", timeout=WAIT_MS)
    # a method no declaration covers yet, its form from the contract's ABI: an allowance
    b.locator("#contract-method").select_option("approve")
    approve = b.locator("form[data-key='call.cash.approve']")
    approve.get_by_label("currency").fill("CNY")
    approve.get_by_label("spender").fill("Bank A")
    approve.get_by_label("amount").fill("100")
    approve.get_by_role("button").click()
    expect(approve.locator(".outcome")).to_contain_text("Done in block", timeout=WAIT_MS)
    expect(approve.locator(".outcome")).to_contain_text("Approval(")
    shot(b, "b-transferred")

    # the regulator freezes B meanwhile: the node refuses B's next transfer, said in words
    keys = dev_accounts(net)
    GovernanceClient(net.node("node0").api_url).regulator_freeze(
        keys["Bank A"], keys["Bank B"].address)
    transfer.get_by_label("amount").fill("1")
    transfer.get_by_role("button").click()
    expect(transfer.locator(".outcome")).to_contain_text("Refused:", timeout=WAIT_MS)
    expect(transfer.locator(".outcome")).to_contain_text("account frozen")
    expect(b.locator("#result-cash_balances")).to_contain_text("750")
    expect(b.locator("#signed-in .barred")).to_contain_text("this account is frozen")
    expect(transfer).to_be_hidden()  # nothing more is offered to a frozen account
    shot(a, "a-bank")
    assert "10000" in refusal or "balance" in refusal.lower(), refusal
    assert same_document(a) and same_document(b)
