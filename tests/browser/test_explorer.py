"""Issue 20's test 5, the explorer in chromium on a real 4-validator network: search by
transaction hash, address and ISIN lands on their pages; the transaction page shows the
decoded call and events of a securities issue, and the revert reason of a failed one; an
address's CSV export holds its transactions."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from consortium.apps.securities import SecuritiesClient
from tests.support.evmutil import compiled, deploy, dev_accounts, receipt, send, web3_for
from tests.support.localnet import LocalNet

pytestmark = [pytest.mark.timeout(240)]

MEMBERS = ["Bank A", "Issuer Co", "Alice Fund"]
ROLES = {"Bank A": ["cash_bank", "custodian"], "Issuer Co": ["issuer_agent", "investor"],
         "Alice Fund": ["investor"]}
ISIN = "US0378331005"


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[dict[str, Any]]:
    """A network where Issuer Co issued ISIN (through node2) and then sent the same issue
    again with a fixed gas limit, so that it fails in its block."""
    net = LocalNet(tmp_path_factory.mktemp("explorer") / "net", validators=4,
                   members=MEMBERS, roles=ROLES)
    try:
        net.up()
        net.wait_height(2, timeout=90)
        accounts = dev_accounts(net)
        bank = SecuritiesClient(net.node("node0").api_url)
        bank.create_token(accounts["Bank A"], "CNY", "Bank A digital CNY")
        issuer = SecuritiesClient(net.node("node2").api_url)
        issued = issuer.issue(accounts["Issuer Co"], ISIN, "Apple Inc. common", 10_000,
                              currency="CNY", document=b"Apple Inc. prospectus")
        w3 = web3_for(net, "node2")
        again = w3.eth.get_transaction(issued["txHash"])
        failed = send(w3, accounts["Issuer Co"], {"to": again["to"], "data": again["input"],
                                                  "gas": 500_000})
        assert receipt(w3, failed)["status"] == 0
        # a user's contract: an ERC-20 whose ABI the node learns from the console's form
        token = deploy(w3, accounts["Alice Fund"], compiled("Token.vy"), "Coin", "C", 10**6)
        contract = w3.eth.contract(address=token, abi=compiled("Token.vy").abi)
        paid = send(w3, accounts["Alice Fund"], {"to": token, "data": contract.encode_abi(
            "transfer", args=[accounts["Bank A"].address, 5])})
        assert receipt(w3, paid)["status"] == 1
        yield {"net": net, "issued": issued, "failed": "0x" + bytes(failed).hex(),
               "issuer": accounts["Issuer Co"].address, "token": token,
               "paid": "0x" + bytes(paid).hex(), "abi": compiled("Token.vy").abi}
    finally:
        net.cleanup()


def search(page: Any, text: str) -> None:
    box = page.get_by_role("searchbox", name="Search", exact=True)  # the nav's
    box.fill(text)
    box.press("Enter")


def test_explorer_search_decode_and_export(chain: dict[str, Any], page: Any,
                                           shot: Callable[[Any, str], Path]) -> None:
    net: LocalNet = chain["net"]
    base = net.node("node1").api_url
    tx_hash = str(chain["issued"]["txHash"])
    page.goto(f"{base}/console/explorer")

    # search by transaction hash: the decoded call and its events
    search(page, tx_hash)
    expect(page).to_have_url(re.compile(f"/console/tx/{tx_hash}$"))
    expect(page.locator("#tx-status")).to_have_text("success")
    call = page.locator("#decoded-call")
    expect(call.locator(".method")).to_have_text("issue")
    expect(call.get_by_role("cell", name=ISIN, exact=True)).to_be_visible()
    expect(call.get_by_role("cell", name="Apple Inc. common", exact=True)).to_be_visible()
    expect(page.locator("#events .event-name").first).to_have_text("InstrumentIssued")
    expect(page.locator("#events .event-name").nth(1)).to_have_text("SecurityTransfer")
    shot(page, "transaction")

    # the failed copy: its revert reason in words
    page.goto(f"{base}/console/tx/{chain['failed']}")
    expect(page.locator("#tx-status")).to_have_text("failed")
    expect(page.locator("#revert-reason")).to_contain_text(f"instrument {ISIN} is already issued")
    shot(page, "failed-transaction")

    # search by member name: the member, its account linked to its address page
    search(page, "Issuer Co")
    expect(page).to_have_url(re.compile(r"/console/member/Issuer%20Co$"))
    expect(page.get_by_role("heading", name="Member Issuer Co")).to_be_visible()
    expect(page.locator(f'#record a[href$="{chain["issuer"].lower()}"]').first).to_be_visible()
    shot(page, "member")

    # search by address: the issuer's page lists both transactions
    search(page, chain["issuer"].lower())
    expect(page).to_have_url(re.compile(f"/console/address/{chain['issuer']}$"))
    expect(page.locator("#address")).to_have_text(chain["issuer"])
    rows = page.locator("#address-txs tbody tr")
    expect(rows.filter(has=page.locator(f'a[href$="{tx_hash}"]'))).to_be_visible()
    expect(rows.filter(has=page.locator(f'a[href$="{chain["failed"]}"]'))).to_be_visible()
    shot(page, "address")

    # CSV export of the address's transactions, downloaded by the page
    with page.expect_download() as download:
        page.locator("a.csv", has_text=re.compile("^CSV$")).click()
    text = Path(download.value.path()).read_text()
    table = {row["hash"]: row for row in csv.DictReader(io.StringIO(text))}
    assert {tx_hash, chain["failed"]} <= set(table), text[:500]
    assert table[tx_hash]["from"].lower() == chain["issuer"].lower()
    assert (table[tx_hash]["status"], table[chain["failed"]]["status"]) == ("success", "failed")
    assert "issue" in table[tx_hash]["method"]

    # the explorer's export form: the events of the issue's block, as CSV
    page.goto(f"{base}/console/explorer")
    block = str(chain["issued"]["block"])
    form = page.locator("form.export")
    form.get_by_label("List").select_option("events")
    form.get_by_label("From block").fill(block)
    form.get_by_label("to block").fill(block)
    with page.expect_download() as download:
        form.get_by_role("button", name="Download CSV").click()
    events = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert {"InstrumentIssued", "SecurityTransfer"} <= {e["event"] for e in events}, events
    assert {e["transactionHash"] for e in events} == {tx_hash}

    # search by ISIN: the instrument
    search(page, ISIN.lower())
    expect(page).to_have_url(re.compile(f"/console/isin/{ISIN}$"))
    expect(page.locator("#record")).to_contain_text("Apple Inc. common")
    shot(page, "instrument")

    # a user's contract: its ABI registered through the address page's form, checked by the
    # node against the code; then its transactions decode under its name
    page.goto(f"{base}/console/address/{chain['token']}")
    form = page.locator("#register-abi form")
    form.get_by_label("ABI (JSON)").fill('[{"type": "function", "name": "nope", "inputs": []}]')
    form.get_by_role("button", name="Register").click()
    expect(form.locator(".outcome")).to_contain_text("Refused: the code at")
    form.get_by_label("Contract name").fill("Coin")
    form.get_by_label("ABI (JSON)").fill(json.dumps(chain["abi"]))
    form.get_by_role("button", name="Register").click()
    expect(form.locator(".outcome")).to_contain_text("Registered:")
    page.goto(f"{base}/console/tx/{chain['paid']}")
    expect(page.locator("#decoded-call .contract")).to_have_text("Coin")
    expect(page.locator("#decoded-call .method")).to_have_text("transfer")
    shot(page, "registered-abi")

    # an unknown identifier: the 404 page naming it
    search(page, "XS0000000000")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.locator(".searched")).to_have_text("XS0000000000")
    shot(page, "not-found")

