"""The overview in chromium, on a real 4-validator network: validators named for their
members with their power, peers with their members, new blocks, a transaction and a
contract's event arriving without a reload, and after the page's WebSocket drops it catches up
from the last block it showed: the block numbers stay contiguous and an event committed
meanwhile is shown (eth_getLogs). On a phone's width (390 px) the page does not overflow
sideways: a wide table scrolls in its own box, which says so."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.evmutil import compiled, deploy, dev_accounts, receipt, send, web3_for
from tests.support.localnet import LocalNet

pytestmark = [pytest.mark.timeout(180)]


def shown_blocks(page: Any) -> list[int]:
    return [int(n) for n in page.locator("#latest-blocks tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.number)")]


def test_overview_shows_validators_and_live_blocks(console_net: LocalNet, page: Any,
                                                   shot: Callable[[Any, str], Path]) -> None:
    node = console_net.node("node1")
    page.goto(f"{node.api_url}/console/")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    validators = page.locator("#validators tbody tr")
    expect(validators).to_have_count(4)
    expect(validators.first.locator("td").nth(1)).to_have_text("10")  # voting power
    # each validator named for its member, its address beside it, whole in the title
    names = validators.locator("td.validator .owner").all_inner_texts()
    assert sorted(names) == ["Bank A", "Bank B", "Bank C", "Bank D"], names
    title = validators.first.locator("code").get_attribute("title") or ""
    assert re.fullmatch(r"address [0-9A-F]{40}, key \S{44}", title), title
    peers = page.locator("#peers tbody tr")
    # the network is up once 3 of 4 validators vote: a peer that connects just after the
    # page rendered shows at the consensus part's next refresh (htmx, every 5 s)
    expect(peers).to_have_count(3, timeout=15_000)
    expect(peers.first.locator("td").first).to_have_text(re.compile(r"^node[0-3]$"))
    expect(peers.first.locator("td").nth(1)).to_have_text(re.compile(r"^\d+$"))  # its height
    expect(peers.first.locator("td.member .owner")).to_have_text(re.compile(r"^Bank [A-D]$"))
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.get_by_text("in sync")).to_be_visible()
    shot(page, "loaded")

    first = max(shown_blocks(page))
    # new blocks arrive over the WebSocket, no reload
    expect(page.locator(f'#latest-blocks tr[data-number="{first + 2}"]')).to_be_visible(
        timeout=30_000)
    assert int(page.locator("#height").inner_text()) >= first + 2
    # the consensus part refreshes itself (htmx): the peers' heights move on too
    page.wait_for_function(
        "n => Number(document.querySelector('#peers tbody td:nth-child(2)').textContent) > n",
        arg=first + 3, timeout=30_000)

    # a transaction sent through another node shows up in the latest transactions
    accounts = dev_accounts(console_net)
    sender, receiver = list(accounts.values())[:2]
    w3 = web3_for(console_net, "node2")
    sent = send(w3, sender, {"to": receiver.address, "value": 12345}).hex()
    tx_hash = sent if sent.startswith("0x") else "0x" + sent
    row = page.locator("#latest-txs tbody tr", has=page.locator(f'a[href$="{tx_hash}"]'))
    expect(row).to_be_visible(timeout=30_000)
    expect(row.locator("td").nth(2)).to_contain_text(re.compile(sender.address[:10], re.I))
    shot(page, "live-transaction")

    # a contract's event arrives over the logs subscription, named (ERC-20 Transfer)
    token = deploy(w3, sender, compiled("Token.vy"), "Coin", "C", 10**6)
    coin = w3.eth.contract(address=token, abi=compiled("Token.vy").abi)
    minted = page.locator("#latest-events tbody tr",
                          has=page.locator(f'a[href$="{token.lower()}"]'))
    expect(minted.first.locator(".event")).to_have_text("Transfer", timeout=30_000)

    # the socket drops for ~8 s while blocks keep coming and a token transfer commits; after
    # it reopens the page fetches every block it missed and their logs
    before = page.evaluate("window.consoleLive.last")
    page.evaluate("s => { s.delay = 8000; s.ws.close(); }",
                  page.evaluate_handle("window.consoleLive.socket"))
    expect(page.locator("#live-state")).to_have_text(re.compile("reconnecting"))
    paid = send(w3, sender, {"to": token, "data": coin.encode_abi(
        "transfer", args=[receiver.address, 7])})
    assert receipt(w3, paid)["status"] == 1
    assert "reconnecting" in page.locator("#live-state").inner_text()  # it came meanwhile
    paid_hash = "0x" + bytes(paid).hex()
    expect(page.locator("#live-state")).to_have_text("live", timeout=20_000)
    caught = page.locator("#latest-events tbody tr", has=page.locator(f'a[href$="{paid_hash}"]'))
    expect(caught.locator(".event")).to_have_text("Transfer", timeout=20_000)
    target = before + 6
    expect(page.locator(f'#latest-blocks tr[data-number="{target}"]')).to_be_visible(
        timeout=30_000)
    numbers = shown_blocks(page)
    newest = [n for n in numbers if n > before - 2]
    assert newest == list(range(newest[0], newest[0] - len(newest), -1)), numbers
    shot(page, "after-reconnect")


def test_the_overview_fits_a_phone(console_net: LocalNet, browser: Any,
                                   shot: Callable[[Any, str], Path]) -> None:
    """At 390 px the page never scrolls sideways; the peers' table, wider than that (its cells
    do not wrap), scrolls in its own box, with a "scroll →" hint while more of it is to the
    right, "← scroll" once scrolled to its end."""
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(f"{console_net.node('node0').api_url}/console/")
        expect(page.locator("#live-state")).to_have_text("live", timeout=20_000)
        expect(page.locator("#peers tbody tr")).to_have_count(3, timeout=15_000)
        box = page.locator(".table-scroll", has=page.locator("#peers"))
        expect(box).to_have_attribute("data-more", "right")
        shot(page, "phone")
        sizes = page.evaluate("""() => ({page: document.scrollingElement.scrollWidth,
                                         viewport: window.innerWidth})""")
        assert sizes["page"] <= sizes["viewport"] == 390, sizes
        widths = box.evaluate("b => ({scroll: b.scrollWidth, client: b.clientWidth, "
                              "overflow: getComputedStyle(b).overflowX})")
        assert widths["scroll"] > widths["client"] and widths["overflow"] == "auto", widths
        hint = box.evaluate("b => getComputedStyle(b, '::before').content")
        assert hint == '"scroll →"', hint
        # the box scrolls (the page does not) and its hint turns round; asked again until it
        # holds, as the part is re-rendered every 5 s (a new box, scrolled back to its start)
        page.wait_for_function("""() => {
            const b = document.querySelector('#peers').closest('.table-scroll');
            b.scrollLeft = b.scrollWidth;
            return b.scrollLeft > 0 && b.dataset.more === 'left'; }""", timeout=10_000)
        assert page.evaluate("window.scrollX") == 0
        shot(page, "phone-scrolled")
        assert errors == [], errors
    finally:
        context.close()
