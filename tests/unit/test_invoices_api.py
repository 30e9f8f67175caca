"""Invoices through a node's API: the typed InvoiceClient over HTTP, the consortium_invoice*
JSON-RPC methods, the REST routes, the `consortium invoice` commands and CSV import — on a
real Ledger behind a real API server, with a stub engine that commits what CheckTx admits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from consortium.apps.invoices import InvoiceClient, import_csv
from consortium.apps.invoices.fingerprint import write_key
from consortium.cli.main import main
from consortium.errors import ExecutionReverted
from tests.support.invoices_testkit import (
    BANK_A,
    BANK_B,
    BUYER,
    BUYER_2,
    KEY,
    NOBODY,
    SELLER,
    TAX,
    invoice_ledger,
)
from tests.support.services_api_testkit import LiveNode

PARTIES = {"seller": SELLER, "buyer": BUYER, "bank-a": BANK_A, "bank-b": BANK_B, "tax": TAX,
           "nobody": NOBODY, "buyer-2": BUYER_2}


class InvoiceNode(LiveNode):
    """An invoice ledger behind the API, the consortium key in a file, and an InvoiceClient."""

    def __init__(self, path: Path) -> None:
        super().__init__(path, ledger=invoice_ledger, parties=PARTIES, node_name="invoice-node")
        self.key_file = path / "consortium.key"
        write_key(self.key_file, KEY)
        self.client = InvoiceClient(self.url, key=KEY)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InvoiceNode]:
    node = InvoiceNode(tmp_path_factory.mktemp("invoice-api"))
    yield node
    node.close()


def test_client_flow_and_refusal_reasons(live: InvoiceNode) -> None:
    inv = live.client
    fp = inv.fingerprint(" 91310000ma1fl4xx7j ", "API-1", "2023-10-01", 500)
    out = inv.issue(SELLER, fp, buyer=BUYER.address, amount=500, currency="cny",
                    due_date="2023-11-14")
    assert out["state"] == "issued" and out["fingerprint"] == fp
    # A refusal is raised with the contract's reason before anything is sent.
    with pytest.raises(ExecutionReverted, match="only the invoice's buyer .* may confirm it"):
        inv.confirm(BUYER_2, fp)
    with pytest.raises(ExecutionReverted, match="already registered"):
        inv.issue(BANK_B, fp, seller=SELLER.address, buyer=BUYER.address, amount=500,
                  currency="CNY", due_date="2023-11-14")
    assert inv.confirm(BUYER, fp)["state"] == "confirmed"
    assert inv.request_financing(SELLER, fp)["state"] == "financing_requested"
    first = inv.finance(BANK_A, fp, 300)
    assert (first["state"], first["tranche"], first["financed"]) == ("financed", 0, 300)
    with pytest.raises(ExecutionReverted, match="over its face amount 500"):
        inv.finance(BANK_B, fp, 201)
    assert inv.finance(BANK_B, fp, 200)["tranche"] == 1
    assert inv.set_tax_verified(TAX, fp, True, "ok")["state"] == "financed"
    assert inv.repay(BUYER, fp)["state"] == "repaid"
    shown = inv.invoice(fp)
    assert shown is not None and shown["taxVerified"] is True
    assert [(p["payee"], p["amount"]) for p in shown["payments"]] == [
        (BANK_A.address.lower(), 300), (BANK_B.address.lower(), 200)]
    steps = [(h["from"], h["to"]) for h in inv.history(fp)]
    assert steps == [("", "issued"), ("issued", "confirmed"),
                     ("confirmed", "financing_requested"), ("financing_requested", "financed"),
                     ("financed", "financed"), ("financed", "financed"), ("financed", "repaid")]
    assert inv.invoices(bank=BANK_B.address)[0]["fingerprint"] == fp


def test_json_rpc_and_rest(live: InvoiceNode) -> None:
    inv = live.client
    fp = inv.fingerprint("91310000MA1FL4XX7J", "API-2", "2023-10-02", 700)
    inv.issue(SELLER, fp, buyer=BUYER_2.address, amount=700, currency="USD",
              due_date="2024-01-31")
    found = live.rpc("consortium_invoice", fp)["result"]
    assert found["buyer"] == BUYER_2.address.lower() and found["dueDate"] == "2024-01-31"
    assert found["tranches"] == [] and found["payments"] == []
    assert live.rpc("consortium_invoice", "0x" + "00" * 32)["result"] is None
    listed = live.rpc("consortium_invoices", {"buyer": BUYER_2.address, "state": "issued"})
    assert fp in [i["fingerprint"] for i in listed["result"]]
    assert live.rpc("consortium_invoice", "0x12")["error"]["code"] == -32602
    bad = live.rpc("consortium_invoices", {"state": "paid"})["error"]
    assert bad["code"] == -32602 and "state" in bad["message"]
    assert live.rpc("consortium_invoices", {"colour": "red"})["error"]["code"] == -32602

    http = TestClient(live.app)
    assert http.get(f"/api/v1/invoices/{fp}").json()["currency"] == "USD"
    assert http.get(f"/api/v1/invoices/0x{'11' * 32}").status_code == 404
    assert http.get("/api/v1/invoices/nope").status_code == 400
    rows = http.get("/api/v1/invoices", params={"seller": SELLER.address.lower()}).json()
    assert fp in [i["fingerprint"] for i in rows]
    assert http.get("/api/v1/invoices", params={"bank": "0x1"}).status_code == 400
    assert "/api/v1/invoices/{fingerprint}" in http.get("/openapi.json").json()["paths"]


def test_cli_commands(live: InvoiceNode, capsys: pytest.CaptureFixture[str]) -> None:
    fields = ["--tax-id", "91310000MA1FL4XX7J", "--number", "CLI-1", "--issue-date",
              "2023-10-03", "--amount", "900"]
    code = main(["invoice", "fingerprint", *fields, "--key-file", str(live.key_file), "--json"])
    out = capsys.readouterr().out
    assert code == 0
    fp = json.loads(out)["fingerprint"]
    assert fp == live.client.fingerprint("91310000MA1FL4XX7J", "CLI-1", "2023-10-03", 900)

    code, out, err = live.cli(capsys, "invoice", "issue", *fields, "--currency", "CNY",
                              "--due", "2023-11-14", "--buyer", BUYER.address, "--key-file",
                              str(live.key_file), *live.signed("seller"), "--json")
    assert code == 0, err
    assert json.loads(out)["state"] == "issued"
    # The buyer's role is checked; the refusal is one line with the contract's reason.
    code, _, err = live.cli(capsys, "invoice", "confirm", fp, *live.signed("bank-a"))
    assert code == 1 and "does not hold the buyer role" in err and err.count("\n") == 1
    code, out, err = live.cli(capsys, "invoice", "confirm", fp, *live.signed("buyer"))
    assert code == 0 and "confirmed" in out, err
    code, _, err = live.cli(capsys, "invoice", "cancel", fp, "--reason", "wrong buyer",
                            *live.signed("seller"))
    assert code == 0, err
    code, out, _ = live.cli(capsys, "invoice", "show", fp, "--json")
    shown = json.loads(out)
    assert shown["state"] == "cancelled" and shown["history"][-1]["reason"] == "wrong buyer"
    code, out, _ = live.cli(capsys, "invoice", "show", fp)
    assert code == 0 and "cancelled" in out and "History" in out
    code, out, _ = live.cli(capsys, "invoice", "list", "--state", "cancelled", "--json")
    assert fp in [i["fingerprint"] for i in json.loads(out)]
    code, out, _ = live.cli(capsys, "invoice", "list", "--seller", SELLER.address)
    assert code == 0 and "Invoices" in out
    code, _, err = live.cli(capsys, "invoice", "list", "--state", "paid")
    assert code == 1 and "unknown state" in err


CSV = """seller_tax_id,invoice_number,issue_date,amount,currency,due_date,buyer
91310000MA1FL4XX7J,CSV-1,2023-10-01,1000,CNY,2023-12-31,{buyer}
91310000MA1FL4XX7J,CSV-2,2023-10-02,12.50,CNY,2023-12-31,{buyer}

91310000MA1FL4XX7J,CSV-3,2023-10-03,3000,CNY,2023-12-31,{buyer}
91310000MA1FL4XX7J,csv-1 ,2023-10-01,1000,CNY,2023-12-31,{buyer}
91310000MA1FL4XX7J,CSV-4,2023-10-04,4000,yuan,2023-12-31,{buyer}
91310000MA1FL4XX7J,CSV-5,2023-10-05,5000,CNY,2023-02-30,{buyer}
91310000MA1FL4XX7J,CSV-6,2023-10-06,6000,CNY,2023-12-31,{nobody}
91310000MA1FL4XX7J,API-PRE,2023-10-07,7000,CNY,2023-12-31,{buyer}
91310000MA1FL4XX7J,CSV-8,2023-10-08,8000,CNY,2023-12-31
,CSV-9,2023-10-09,9000,CNY,2023-12-31,{buyer}
91310000MA1FL4XX7J,CSV-10,2023-10-10,10000,CNY,2023-12-31,{buyer}
"""


def test_csv_import_reports_bad_rows_by_line(live: InvoiceNode, tmp_path: Path) -> None:
    inv = live.client
    pre = inv.fingerprint("91310000MA1FL4XX7J", "API-PRE", "2023-10-07", 7000)
    inv.issue(SELLER, pre, buyer=BUYER.address, amount=7000, currency="CNY",
              due_date="2023-12-31")
    path = tmp_path / "invoices.csv"
    path.write_text(CSV.format(buyer=BUYER.address, nobody=NOBODY.address))
    stages: list[str] = []

    # Strict: everything is checked, nothing is sent.
    strict = import_csv(inv, SELLER, path, key=KEY, strict=True,
                        progress=lambda stage, _d, _t: stages.append(stage))
    assert strict.imported == [] and not strict.sent and len(strict.refused) == 8
    assert not inv.is_registered(inv.fingerprint("91310000MA1FL4XX7J", "CSV-1", "2023-10-01",
                                                 1000))
    assert set(stages) == {"checking"}

    report = import_csv(inv, SELLER, path, key=KEY)
    assert [r["line"] for r in report.imported] == [2, 5, 13], report.refused
    assert report.rows == 11 and report.sent
    refused = {r.line: r.reason for r in report.refused}
    assert sorted(refused) == [3, 6, 7, 8, 9, 10, 11, 12]
    assert "no fractions" in refused[3]
    assert "the same invoice as line 2" in refused[6]
    assert "ISO 4217" in refused[7]
    assert "not a date" in refused[8]
    assert "buyer role" in refused[9]  # the contract's reason, from the dry run
    assert "already registered on chain" in refused[10]
    assert "expected 7 fields, found 6" in refused[11]
    assert "seller_tax_id is empty" in refused[12]
    for row in report.imported:
        assert inv.invoice(row["fingerprint"])["state"] == "issued"  # type: ignore[index]

    # Importing the same file again: every good row is now a duplicate.
    again = import_csv(inv, SELLER, path, key=KEY)
    assert again.imported == [] and {r.line for r in again.refused} >= {2, 5, 13}


def test_cli_import(live: InvoiceNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "two.csv"
    path.write_text(
        "invoice_number,seller_tax_id,issue_date,amount,currency,due_date,buyer,note\n"
        f"CLI-CSV-1,91310000MA1FL4XX7J,2023-10-11,100,EUR,2024-03-31,{BUYER.address},a\n"
        f"CLI-CSV-2,91310000MA1FL4XX7J,2023-10-12,-5,EUR,2024-03-31,{BUYER.address},b\n"
    )
    code, out, err = live.cli(capsys, "invoice", "import", str(path), "--key-file",
                              str(live.key_file), *live.signed("seller"), "--json")
    assert code == 1, err
    report = json.loads(out)
    assert [r["line"] for r in report["imported"]] == [2]
    assert report["refused"] == [{"line": 3, "reason": "amount -5 is negative: an amount is "
                                  "above 0 (an integer in the currency's smallest unit)"}]
