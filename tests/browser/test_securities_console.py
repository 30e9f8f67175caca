"""Issue 20's browser test 2: two traders place crossing orders from two browser contexts
(each signed in with its keystore through a node's console); a third, read-only page sees the
book and the trade update live, without a reload — and, after its WebSocket drops, catches
up with the trade made while it was away (eth_getLogs from the last block it saw).

Set up with the SDK first (as `consortium demo` does): Bank A's CNY, the investors' KYC,
Bob's cash, Issuer Co's instrument with 100 units sent to Alice.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from consortium.apps.securities import SecuritiesClient
from tests.browser.conftest import running_net
from tests.browser.signing import WAIT_MS, console, expect, same_document, sign_in
from tests.support.evmutil import dev_accounts
from tests.support.localnet import LocalNet

__all__ = ["console"]  # the fixture, imported for pytest
pytestmark = [pytest.mark.timeout(240)]  # issue 20: a network, four contexts, 40-60 s

ISIN = "US0378331005"
MEMBERS = ["Bank A", "Bank B", "Issuer Co", "Alice Fund", "Bob Capital"]
ROLES = {"Bank A": ["cash_bank", "custodian"], "Issuer Co": ["issuer_agent", "investor"],
         "Alice Fund": ["investor"], "Bob Capital": ["investor"]}


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[LocalNet]:
    yield from running_net(tmp_path_factory, "console-securities", validators=2,
                           members=MEMBERS, roles=ROLES)


@pytest.fixture(scope="module")
def market(net: LocalNet) -> dict[str, Any]:
    """CNY, KYC'd investors, Bob's cash, the instrument, Alice's 100 units."""
    acct = dev_accounts(net)
    sdk = SecuritiesClient(net.node("node0").api_url)
    sdk.create_token(acct["Bank A"], "CNY", "Bank A digital CNY")
    for name in ("Issuer Co", "Alice Fund", "Bob Capital"):
        sdk.set_investor(acct["Bank A"], acct[name].address, kyc_expiry=10**9,
                         jurisdiction="CN")
    sdk.mint_cash(acct["Bank A"], "CNY", acct["Bob Capital"].address, 100_000)
    sdk.issue(acct["Issuer Co"], ISIN, "Apple Inc. common", 1_000, currency="CNY",
              document=b"Apple Inc. prospectus")
    sdk.transfer(acct["Issuer Co"], ISIN, acct["Alice Fund"].address, 100)
    return {"sdk": sdk, "acct": acct}


def place(page: Any, side: str, price: str, quantity: str) -> Any:
    form = page.locator("form[data-key='securities.place']")
    form.get_by_label("side").select_option(side)
    form.get_by_label("price").fill(price)
    form.get_by_label("quantity").fill(quantity)
    form.get_by_role("button", name="Place order").click()
    return form.locator(".outcome")


def test_crossing_orders_live(console: Callable[..., Any], net: LocalNet,
                              market: dict[str, Any], shot: Callable[[Any, str], Path]) -> None:
    path = f"/securities/{ISIN}"
    watcher = console("node1", path)  # read-only: never signs in
    alice = console("node0", path)
    bob = console("node1", path)
    keystores = net.root / "keystores"
    sign_in(alice, keystores / "alice-fund.json", "Alice Fund")
    sign_in(bob, keystores / "bob-capital.json", "Bob Capital")
    depth = watcher.locator("#book-depth")
    expect(depth).to_contain_text("No asks.")
    expect(watcher.locator("form[data-key='securities.place']")).to_be_hidden()

    # a price with a decimal point is refused before signing; then Alice's ask rests
    outcome = place(alice, "sell", "101.5", "10")
    expect(outcome).to_contain_text("Not sent, check: price: expected a whole number in the "
                                    "smallest unit", timeout=WAIT_MS)
    expect(outcome).to_contain_text("(no decimal point)")
    outcome = place(alice, "sell", "101", "10")
    expect(outcome).to_contain_text("Order placed in block", timeout=WAIT_MS)
    asks = depth.locator(".side-asks")
    expect(asks.locator("tr[data-price='101']")).to_contain_text("10", timeout=WAIT_MS)
    shot(watcher, "watcher-ask")

    # Bob has not let the settlement contract lock his cash: the dry run refuses, in words
    outcome = place(bob, "buy", "101", "10")
    expect(outcome).to_contain_text("Refused:", timeout=WAIT_MS)
    refusal = outcome.inner_text()
    assert "allow" in refusal.lower() or "approve" in refusal.lower(), refusal
    shot(bob, "bob-refused")
    details = bob.locator("#trade details.write")
    details.locator("summary").click()
    approve = bob.locator("form[data-key='cash.approve']")
    expect(approve.get_by_label("currency")).to_have_value("CNY")
    approve.get_by_role("button").click()
    expect(approve.locator(".outcome")).to_contain_text("Approved in block", timeout=WAIT_MS)

    # the crossing buy trades at once; the read-only page sees the trade and the book empty
    outcome = place(bob, "buy", "101", "10")
    expect(outcome).to_contain_text("TradeExecuted", timeout=WAIT_MS)
    tape = watcher.locator("#trade-tape")
    expect(tape.locator("tr[data-trade='1']")).to_contain_text("101", timeout=WAIT_MS)
    expect(tape.locator("tr[data-trade='1'] td").nth(3)).to_have_text("10")
    expect(tape.locator("tr[data-trade='1']")).to_contain_text("Bob Capital")  # the buyer
    expect(tape.locator("tr[data-trade='1']")).to_contain_text("Alice Fund")
    expect(asks).to_contain_text("No asks.", timeout=WAIT_MS)
    shot(watcher, "watcher-trade")

    # Alice rests an ask and cancels it with her order's own button (Bob is offered none)
    outcome = place(alice, "sell", "110", "5")
    expect(outcome).to_contain_text("Order placed in block", timeout=WAIT_MS)
    expect(asks.locator("tr[data-price='110']")).to_be_visible(timeout=WAIT_MS)
    row = alice.locator("#open-orders tr", has_text="110")
    expect(row.get_by_role("button", name="Cancel")).to_be_visible(timeout=WAIT_MS)
    expect(bob.locator("#open-orders tr", has_text="110")).to_be_visible(timeout=WAIT_MS)
    expect(bob.locator("#open-orders tr", has_text="110").get_by_role(
        "button", name="Cancel")).to_be_hidden()
    row.get_by_role("button", name="Cancel").click()
    expect(alice.locator("#securities-outcome")).to_contain_text("Cancelled in block",
                                                                 timeout=WAIT_MS)
    expect(asks).to_contain_text("No asks.", timeout=WAIT_MS)

    # the watcher's socket drops and stays down (its reopening held back) while a trade is
    # made through the SDK on node 0; reopened, the page catches up with eth_getLogs from
    # the last block it saw: the trade is on its tape
    socket = watcher.evaluate_handle("window.securitiesLive.socket")
    watcher.evaluate("s => { s.delay = 600000; s.ws.close(); }", socket)
    expect(tape).to_have_attribute("data-live", "reconnecting")
    sdk, acct = market["sdk"], market["acct"]
    sdk.sell(acct["Alice Fund"], ISIN, 3, price=99)
    sdk.buy(acct["Bob Capital"], ISIN, 3, price=99)
    assert tape.get_attribute("data-live") == "reconnecting"
    expect(tape.locator("tr[data-trade='2']")).to_have_count(0)
    watcher.evaluate("s => { s.delay = 500; s.connect(); }", socket)
    expect(tape.locator("tr[data-trade='2']")).to_contain_text("99", timeout=WAIT_MS)
    expect(tape).to_have_attribute("data-live", "connected")
    shot(watcher, "watcher-caught-up")

    # Bob's own holdings on the index page: the 13 units bought
    bob.goto(f"{net.node('node1').api_url}/console/securities")
    sign_in(bob, keystores / "bob-capital.json", "Bob Capital")
    expect(bob.locator("#mine-holdings")).to_contain_text(re.compile(rf"{ISIN}\s*13"),
                                                          timeout=WAIT_MS)
    expect(bob.locator("#instruments")).to_contain_text("Apple Inc. common")
    shot(bob, "bob-holdings")
    assert same_document(watcher) and same_document(alice)
