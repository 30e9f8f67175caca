"""The console's securities and invoices pages over a real ledger (stub engine), without a
browser: they render, their live parts are partials (never a whole page), bad identifiers
get the 404 page or a one-line refusal, and the CSV check answers the CLI's refusals by line
with each good row's fingerprint message (the HMAC the page computes equals the CLI's)."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

from consortium.apps.invoices.fingerprint import compute
from tests.support.jsonrpc_testkit import Node, node

pytestmark = pytest.mark.timeout(120)

HEADER = "seller_tax_id,invoice_number,issue_date,amount,currency,due_date,buyer\n"


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Node]:
    with node(tmp_path) as n:
        yield n


def test_securities_pages(api: Node) -> None:
    page = api.client.get("/console/securities")
    assert page.status_code == 200, page.text
    for text in ("Instruments", "Settlement due", "Dividends", "No trade is pending",
                 'data-key="cash.approve"', 'data-key="securities.propose"', "book.js"):
        assert text in page.text, text
    approve = json.loads(unescape(re.search(r'data-form="([^"]+)"\s+data-key="cash.approve"',
                                            page.text).group(1)))
    assert approve["fixed"]["amount"] == str(2**256 - 1)  # text: JS keeps every digit
    for part in ("instruments", "due", "dividends", "holdings"):
        answer = api.client.get(f"/console/securities/part/{part}")
        assert answer.status_code == 200 and "<html" not in answer.text, part
    assert "Sign in to see your own." in api.client.get("/console/securities/part/orders").text
    bad = api.client.get("/console/securities/part/cash", params={"account": "0x12"})
    assert "is not a 0x account address" in bad.text and "<html" not in bad.text
    assert api.client.get("/console/securities/part/secrets").status_code == 404
    # a wrong check digit and an unknown instrument: the 404 page naming it
    for isin in ("US0378331004", "US0378331005"):
        missing = api.client.get(f"/console/securities/{isin}")
        assert missing.status_code == 404 and isin in missing.text
    assert api.client.get("/console/securities/US0378331005/part/depth").status_code == 404


def test_invoices_page_and_list(api: Node) -> None:
    page = api.client.get("/console/invoices")
    assert page.status_code == 200, page.text
    spec = json.loads(re.search(r'id="invoice-issue">([^<]+)<', page.text).group(1))
    assert spec["fragment"]["name"] == "issue" and len(spec["fragment"]["inputs"]) == 6
    assert "No invoice." in page.text
    listed = api.client.get("/console/invoices/part/list", params={"state": "financed"})
    assert "No invoice is financed." in listed.text and "<html" not in listed.text
    bad = api.client.get("/console/invoices/part/list", params={"state": "melted"})
    assert "state: expected one of issued" in bad.text
    mine = api.client.get("/console/invoices/part/list", params={"role": "buyer"})
    assert "Sign in to see your own." in mine.text


def test_csv_check_answers_the_clis_refusals(api: Node) -> None:
    member = api.rpc("consortium_members")[0]
    signer = "0x" + "11" * 20
    text = (HEADER + f"91310000MA1FL4XX7J, inv-7 ,2025-03-01,1000,cny,2025-06-30,{member['name']}\n"
            "91310000MA1FL4XX7J,INV-8,2025-03-01,12.5,CNY,2025-06-30,0x12\n"
            "91310000MA1FL4XX7J,INV-7,2025-03-01,1000,CNY,2025-06-30,Nobody Ltd\n")
    answer = api.client.post("/console/invoices/check", json={"csv": text, "signer": signer})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["rows"] == 3
    refused = {r["line"]: r["reason"] for r in body["refused"]}
    assert "no fractions" in refused[3]
    assert "Nobody Ltd" in refused[4]
    (good,) = body["good"]
    assert good["line"] == 2 and good["number"] == "INV-7" and good["currency"] == "CNY"
    assert good["buyer"] == member["accounts"][0].lower() and good["seller"] == signer
    assert good["dueDate"] == 20250630
    key = bytes(range(32))
    page_mac = hmac.new(key, good["message"].encode(), hashlib.sha256).digest()
    assert page_mac == compute(key, "91310000MA1FL4XX7J", "inv-7", "2025-03-01", 1000)

    header = api.client.post("/console/invoices/check",
                             json={"csv": "invoice_number\nX\n", "signer": signer})
    assert header.status_code == 400 and "the CSV header lacks" in header.json()["error"]
    bad = api.client.post("/console/invoices/check", content=b"not json")
    assert bad.status_code == 400 and "expected {csv, signer}" in bad.json()["error"]


def test_csv_check_refuses_what_the_cli_refuses_in_its_words(api: Node) -> None:
    """A due date before the issue date and a negative amount are refused as the CLI's
    `invoice import` refuses them (the same read_rows), and a repeated row quotes no
    fingerprint of the node's own: a slot the page fills with the real one, and the row's
    fingerprint message to compute it from (so it is the CLI's fingerprint)."""
    from consortium.apps.invoices.csv_import import read_rows

    signer = "0x" + "11" * 20
    buyer = "0x" + "22" * 20
    text = (HEADER + f"91310000MA1FL4XX7J,INV-1,2026-01-02,100,CNY,2026-03-01,{buyer}\n"
            f"91310000MA1FL4XX7J,INV-2,2026-01-02,-5,CNY,2026-03-01,{buyer}\n"
            f"91310000MA1FL4XX7J,INV-3,2026-12-01,100,CNY,2026-11-01,{buyer}\n"
            f"91310000MA1FL4XX7J,inv-1,2026-01-02,100,cny,2026-03-01,{buyer}\n")
    answer = api.client.post("/console/invoices/check", json={"csv": text, "signer": signer})
    assert answer.status_code == 200, answer.text
    refused = {r["line"]: r for r in answer.json()["refused"]}
    assert [g["line"] for g in answer.json()["good"]] == [2]
    key = bytes(range(1, 33))
    _, cli, _ = read_rows(text, key, signer)  # what `consortium invoice import` says
    cli_reasons = {r.line: r.reason for r in cli}
    assert refused[3]["reason"] == cli_reasons[3]
    assert refused[3]["reason"].startswith("amount -5 is negative")
    assert refused[4]["reason"] == cli_reasons[4] == (
        "due_date 2026-11-01 is before issue_date 2026-12-01")
    repeat = refused[5]
    assert "fingerprintOf" not in refused[3] and "fingerprintOf" not in refused[4]
    assert repeat["reason"] == "the same invoice as line 2 (fingerprint {fingerprint}…)"
    real = compute(key, "91310000MA1FL4XX7J", "INV-1", "2026-01-02", 100)
    page_mac = hmac.new(key, repeat["fingerprintOf"].encode(), hashlib.sha256).hexdigest()
    filled = repeat["reason"].replace("{fingerprint}", "0x" + page_mac[:16])
    assert filled == cli_reasons[5] and ("0x" + real.hex()[:16]) in filled


def test_lapsed_orders_and_trades_get_an_expire_button() -> None:
    """Past its height an order or trade reads "expired" but holds its lock until someone
    expires it on chain (closedAt 0): the pages offer Expire for it, Cancel/Settle while it
    can still be cancelled or settled, nothing once it is closed."""
    from consortium.console.securities import due_forms, order_form

    def order(state: str, closed: int = 0) -> dict[str, object]:
        return {"id": 1, "state": state, "closedAt": closed}

    assert order_form(order("open")).fixed == {"order_id": 1}  # type: ignore[union-attr]
    assert order_form(order("open")).title == "Cancel"  # type: ignore[union-attr]
    assert order_form(order("expired")).title == "Expire"  # type: ignore[union-attr]
    assert order_form(order("expired", closed=9)) is None
    assert order_form(order("filled", closed=9)) is None

    def trade(n: int, state: str, settle: int, deadline: int, closed: int = 0) -> dict:
        return {"id": n, "state": state, "settleHeight": settle, "deadline": deadline,
                "closedAt": closed}

    forms = due_forms([trade(1, "pending", 10, 20), trade(2, "pending", 12, 20),
                       trade(3, "expired", 5, 9), trade(4, "expired", 5, 9, closed=9)],
                      height=10)
    assert {n: f.title for n, f in forms.items()} == {1: "Settle", 3: "Expire"}
    late = due_forms([trade(1, "pending", 10, 11)], height=10)  # next block: its deadline
    assert late[1].title == "Expire"
