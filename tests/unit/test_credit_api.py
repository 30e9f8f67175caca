"""Credit through a node's API: the typed CreditClient over HTTP (with the lender's report
check), the consortium_credit* JSON-RPC methods, the REST routes and the `consortium credit`
commands — on a real Ledger behind a real API server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from consortium.apps.credit import CreditClient, ReportMismatch, sha256_of
from consortium.errors import ExecutionReverted
from consortium.system.client import GovernanceClient
from tests.support.services_api_testkit import LiveNode
from tests.support.services_testkit import (
    AGENCY_X,
    BANK_A,
    BANK_B,
    BORROWER,
    BORROWER_2,
    MEDIATOR,
    low,
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    node = LiveNode(tmp_path_factory.mktemp("credit-api"))
    yield node
    node.close()


@pytest.fixture(scope="module")
def credit(live: LiveNode) -> CreditClient:
    return CreditClient(live.url)


def test_client_flow_and_the_lenders_report_check(credit: CreditClient, tmp_path: Path) -> None:
    granted = credit.grant_consent(BORROWER, BANK_A.address, "mortgage",
                                   expires_at=credit.height() + 500)
    assert (granted["object"], granted["from"], granted["state"]) == ("consent", "", "granted")
    consent = granted["id"]
    with pytest.raises(ExecutionReverted, match="is for the purpose 'mortgage', not 'car'"):
        credit.create_query(BANK_A, AGENCY_X.address, consent, "car")
    ordered = credit.create_query(BANK_A, AGENCY_X.address, consent, "mortgage")
    assert (ordered["object"], ordered["state"]) == ("query", "created")
    assert [(t["object"], t["state"]) for t in ordered["transitions"]] == [
        ("consent", "used"), ("query", "created")]
    query = ordered["id"]
    assert credit.accept(AGENCY_X, query)["state"] == "accepted"
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.7 credit report: no defaults")
    delivered = credit.deliver(AGENCY_X, query, report, location=f"file://{report}")
    assert delivered["state"] == "delivered"
    assert credit.query(query)["reportHash"] == "0x" + sha256_of(report).hex()  # type: ignore[index]

    # The lender checks what it received against the chain.
    assert credit.verify_report(query, report)["match"] is True
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(b"%PDF-1.7 credit report: no defaults, score 999")
    check = credit.verify_report(query, tampered)
    assert check["match"] is False and check["expected"] != check["actual"]
    saved = tmp_path / "saved.pdf"
    assert credit.download_report(query, saved)["match"] is True
    assert saved.read_bytes() == report.read_bytes()
    with pytest.raises(ReportMismatch, match="REPORT MISMATCH for query"):
        credit.download_report(query, tmp_path / "bad.pdf", source=str(tampered))
    assert credit.confirm(BANK_A, query)["state"] == "confirmed"

    # The borrower sees the query: who asked, why.
    mine = credit.queries(subject=BORROWER.address)
    assert [(q["lender"], q["purpose"], q["state"]) for q in mine] == [
        (low(BANK_A), "mortgage", "confirmed")]
    assert [h["to"] for h in credit.history("query", query)] == [
        "created", "accepted", "delivered", "confirmed"]


def test_json_rpc_and_rest(live: LiveNode, credit: CreditClient) -> None:
    consent = credit.grant_consent(BORROWER_2, BANK_B.address, "credit card",
                                   expires_at=credit.height() + 500, max_uses=2)["id"]
    query = credit.create_query(BANK_B, AGENCY_X.address, consent, "credit card")["id"]
    first = credit.report(BANK_B, BORROWER_2.address, "Loan opened", "0x" + "ab" * 32)["id"]
    fixed = credit.correct(BANK_B, first, "loan opened", "0x" + "cd" * 32, "wrong amount")["id"]

    found = live.rpc("consortium_creditConsent", consent)["result"]
    assert (found["uses"], found["maxUses"], found["state"]) == (1, 2, "granted")
    assert [h["to"] for h in found["history"]] == ["granted", "granted"]
    assert live.rpc("consortium_creditConsent", 999)["result"] is None
    assert live.rpc("consortium_creditConsent", "x")["error"]["code"] == -32602
    listed = live.rpc("consortium_creditQueries", {"subject": BORROWER_2.address})["result"]
    assert [(q["id"], q["lender"], q["purpose"]) for q in listed] == [
        (query, low(BANK_B), "credit card")]
    bad = live.rpc("consortium_creditQueries", {"state": "open"})["error"]
    assert bad["code"] == -32602 and "state" in bad["message"]
    assert live.rpc("consortium_creditQueries", {"colour": "red"})["error"]["code"] == -32602
    record = live.rpc("consortium_creditRecord", first)["result"]
    assert record["supersededBy"] == fixed and record["state"] == "superseded"
    assert [r["id"] for r in record["corrections"]] == [first, fixed]
    by_b = live.rpc("consortium_creditRecords", {"reporter": BANK_B.address})["result"]
    assert by_b[1]["supersedes"] == first
    # a page at a time (`matching` reads: ids ascending from `after`, at most `limit`)
    pages = [live.rpc("consortium_creditRecords", {"reporter": BANK_B.address, "limit": 1,
                                                   "after": after})["result"]
             for after in (0, by_b[0]["id"])]
    assert pages == [by_b[:1], by_b[1:2]]
    assert live.rpc("consortium_creditBlacklist")["result"] == []

    http = TestClient(live.app)
    assert http.get(f"/api/v1/credit/queries/{query}").json()["purpose"] == "credit card"
    assert http.get("/api/v1/credit/queries/999").status_code == 404
    assert http.get("/api/v1/credit/queries/abc").status_code == 400
    rows = http.get("/api/v1/credit/queries", params={"subject": BORROWER_2.address}).json()
    assert [q["id"] for q in rows] == [query]
    assert http.get("/api/v1/credit/queries", params={"lender": "0x1"}).status_code == 400
    assert http.get(f"/api/v1/credit/records/{fixed}").json()["supersedes"] == first
    assert http.get("/api/v1/credit/consents", params={"grantee": BANK_B.address}).json()[0][
        "id"] == consent
    assert http.get("/api/v1/credit/blacklist").json() == []
    paths = http.get("/openapi.json").json()["paths"]
    assert {"/api/v1/credit/queries/{id}", "/api/v1/credit/blacklist"} <= set(paths)


def test_cli_commands(live: LiveNode, credit: CreditClient, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = live.cli(capsys, "credit", "consent", "--grantee", BANK_A.address,
                              "--purpose", "overdraft", "--blocks", "100",
                              *live.signed("Borrower"), "--json")
    assert code == 0, err
    consent = json.loads(out)["id"]
    code, out, err = live.cli(capsys, "credit", "order", "--agency", AGENCY_X.address,
                              "--consent", str(consent), "--purpose", "overdraft",
                              *live.signed("Bank A"), "--json")
    assert code == 0, err
    query = json.loads(out)["id"]
    # The consent served its query: another order is refused, one line with the reason.
    code, _, err = live.cli(capsys, "credit", "order", "--agency", AGENCY_X.address,
                            "--consent", str(consent), "--purpose", "overdraft",
                            *live.signed("Bank A"))
    assert code == 1 and "cannot serve another query" in err and err.count("\n") == 1
    code, out, err = live.cli(capsys, "credit", "accept", str(query), *live.signed("Agency X"))
    assert code == 0 and "accepted" in out, err
    report = tmp_path / "r.json"
    report.write_text('{"score": 712}')
    code, _, err = live.cli(capsys, "credit", "deliver", str(query), str(report), "--location",
                            str(report), *live.signed("Agency X"))
    assert code == 0, err
    code, out, _ = live.cli(capsys, "credit", "verify", str(query), str(report))
    assert code == 0 and "OK" in out
    forged = tmp_path / "forged.json"
    forged.write_text('{"score": 812}')
    code, out, err = live.cli(capsys, "credit", "verify", str(query), str(forged))
    assert code == 1 and "MISMATCH" in err and "NOT the delivered report" in err
    code, out, err = live.cli(capsys, "credit", "download", str(query), "--out",
                              str(tmp_path / "got.json"), "--source", str(forged), "--json")
    assert code == 1 and json.loads(out)["match"] is False and "MISMATCH" in err
    code, out, _ = live.cli(capsys, "credit", "download", str(query), "--out",
                            str(tmp_path / "got.json"))
    assert code == 0 and "OK" in out
    code, _, err = live.cli(capsys, "credit", "dispute", str(query), "--reason",
                            "score differs from ours", *live.signed("Bank A"))
    assert code == 0, err
    code, _, err = live.cli(capsys, "credit", "resolve", str(query), "--resolution",
                            "report stands", *live.signed("Mediator"))
    assert code == 0, err
    code, out, _ = live.cli(capsys, "credit", "query", str(query), "--json")
    assert json.loads(out)["history"][-1]["actor"] == low(MEDIATOR)
    code, out, _ = live.cli(capsys, "credit", "queries", "--subject", BORROWER.address)
    assert code == 0 and "Queries (2)" in out
    code, _, err = live.cli(capsys, "credit", "queries", "--state", "open")
    assert code == 1 and "unknown query state" in err

    # Records, a correction, the blacklist, removal by vote.
    code, out, err = live.cli(capsys, "credit", "report", "--subject", BORROWER.address,
                              "--kind", "default", "--record", str(report),
                              *live.signed("Bank A"), "--json")
    assert code == 0, err
    record = json.loads(out)["id"]
    code, _, err = live.cli(capsys, "credit", "blacklist-add", str(record), "--reason",
                            "unpaid 180 days", *live.signed("Bank A"))
    assert code == 0, err
    code, out, _ = live.cli(capsys, "credit", "blacklist", "--json")
    assert code == 0 and json.loads(out)[0]["reason"] == "unpaid 180 days"
    code, out, _ = live.cli(capsys, "credit", "blacklist")
    assert code == 0 and "Blacklist (1)" in out
    code, out, err = live.cli(capsys, "credit", "propose-unlist", BORROWER.address, "--reason",
                              "settled in court", *live.signed("Bank A"), "--json")
    assert code == 0, err
    proposal = json.loads(out)
    assert proposal["status"] == "open"
    gov = GovernanceClient(live.url)
    gov.vote(BANK_A, proposal["proposal"], True)
    assert gov.vote(BANK_B, proposal["proposal"], True)["status"] == "executed"
    assert credit.blacklist() == []
    code, out, _ = live.cli(capsys, "credit", "record", str(record))
    assert code == 0 and "History of record" in out


def test_cli_download_writes_only_a_matching_report(
    live: LiveNode, credit: CreditClient, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)  # no ./consortium-net: member names are read from the chain
    # Accounts by member name, as everywhere: "Bank A" and "Agency X" come from the chain.
    code, out, err = live.cli(capsys, "credit", "consent", "--grantee", "Bank A", "--purpose",
                              "lease", "--blocks", "100", *live.signed("Borrower 2"), "--json")
    assert code == 0, err
    consent = json.loads(out)["id"]
    code, out, err = live.cli(capsys, "credit", "order", "--agency", "agency x", "--consent",
                              str(consent), "--purpose", "lease", *live.signed("Bank A"),
                              "--json")
    assert code == 0, err
    query = json.loads(out)["id"]
    assert credit.query(query)["agency"] == low(AGENCY_X)  # type: ignore[index]
    credit.accept(AGENCY_X, query)
    report = tmp_path / "report.json"
    report.write_text('{"score": 640}')
    credit.deliver(AGENCY_X, query, report, location=str(report))
    tampered = tmp_path / "tampered.json"
    tampered.write_text('{"score": 840}')
    # A mismatch writes nothing at --out: no new file, and a file already there is kept.
    fresh = tmp_path / "fresh.json"
    code, out, err = live.cli(capsys, "credit", "download", str(query), "--out", str(fresh),
                              "--source", str(tampered), "--json")
    assert code == 1 and "MISMATCH" in err
    assert json.loads(out)["match"] is False
    assert not fresh.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    existing = tmp_path / "existing.json"
    existing.write_text("mine")
    code, _, err = live.cli(capsys, "credit", "download", str(query), "--out", str(existing),
                            "--source", str(tampered))
    assert code == 1 and "MISMATCH" in err
    assert existing.read_text() == "mine"
    with pytest.raises(ReportMismatch, match="nothing written"):
        credit.download_report(query, fresh, source=str(tampered))
    assert not fresh.exists()
    # The report itself matches and replaces what was there.
    code, out, err = live.cli(capsys, "credit", "download", str(query), "--out", str(existing),
                              "--json")
    assert code == 0, err
    assert json.loads(out)["file"] == str(existing)
    assert existing.read_text() == '{"score": 640}'
