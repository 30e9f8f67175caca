"""The securities and invoices pages' lists link the CSV of the declared read that answers
them (console/csv_export.py), with the list's own query (the signed-in account, a state),
over real ledgers: the link downloads the rows the list shows."""

from __future__ import annotations

import csv
import io
import re
from html import unescape
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from consortium.api.app import create_app
from tests.support import invoices_testkit as inv
from tests.support import securities_testkit as sec

pytestmark = pytest.mark.timeout(120)


def csv_links(html: str) -> list[str]:
    return [unescape(h) for h in re.findall(r'class="csv" href="([^"]+)"', html)]


def download(client: TestClient, link: str) -> list[list[str]]:
    answer = client.get(link)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(answer.text)))


def test_securities_lists_link_their_csv(tmp_path: Path) -> None:
    ledger = sec.securities_ledger(tmp_path / "ledger")
    try:
        chain = sec.Chain(ledger)
        chain.market()
        order = chain.order(sec.ALICE, "sell", 5, 100)
        with TestClient(create_app(ledger, "http://127.0.0.1:9", node_name="t")) as client:
            page = client.get("/console/securities")
            assert csv_links(page.text) == ["/console/csv/services/securities/instruments"]
            header, *rows = download(client, csv_links(page.text)[0])
            assert rows and rows[0][header.index("isin")] == sec.ISIN
            alice = sec.ALICE.address.lower()
            mine = client.get("/console/securities/part/orders", params={"account": alice})
            link = f"/console/csv/services/securities/orders?account={alice}"
            assert csv_links(mine.text) == [link]
            header, *rows = download(client, link)
            assert [r[header.index("id")] for r in rows] == [str(order)]
            cash = client.get("/console/securities/part/cash", params={"account": alice})
            assert csv_links(cash.text) == [
                f"/console/csv/services/cash/cash_balances?account={alice}"]
            # an instrument's open orders link theirs
            book = client.get(f"/console/securities/{sec.ISIN}/part/orders")
            assert csv_links(book.text) == [
                f"/console/csv/services/securities/orders?isin={sec.ISIN}&state=open"]
            assert len(download(client, csv_links(book.text)[0])) == 2
            # no rows, no link (a CSV of nothing has no columns either)
            assert csv_links(client.get("/console/securities/part/dividends").text) == []
    finally:
        ledger.close()


def test_invoices_list_links_its_csv_with_its_filters(tmp_path: Path) -> None:
    ledger = inv.invoice_ledger(tmp_path / "ledger")
    try:
        chain = inv.Chain(ledger)
        chain.issue(bytes.fromhex("aa" * 32))
        with TestClient(create_app(ledger, "http://127.0.0.1:9", node_name="t")) as client:
            assert csv_links(client.get("/console/invoices").text) == [
                "/console/csv/services/invoices/invoices"]
            seller = inv.SELLER.address.lower()
            part = client.get("/console/invoices/part/list",
                              params={"state": "issued", "role": "seller", "account": seller})
            link = f"/console/csv/services/invoices/invoices?state=issued&seller={seller}"
            assert csv_links(part.text) == [link]
            header, *rows = download(client, link)
            assert [r[header.index("fingerprint")] for r in rows] == ["0x" + "aa" * 32]
            none = client.get("/console/invoices/part/list", params={"state": "repaid"})
            assert csv_links(none.text) == [] and "No invoice is repaid." in none.text
    finally:
        ledger.close()
