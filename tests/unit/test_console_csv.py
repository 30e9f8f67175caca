"""CSV downloads of the console's tables over a real governed ledger: a declared read's table
and governance's proposals and members come as text/csv attachments with the page's columns
and rows (accounts as 0x addresses beside their member's name); a block range narrows the
proposals; an unknown read or list is the 404 page, a bad parameter one line with 400; the
explorer's export refuses a range given backwards (400 naming both ends)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.testclient import TestClient

from consortium.api.app import create_app
from tests.support.governance_testkit import BANKS, Gov, governed_ledger

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[tuple[TestClient, Gov, list[int]]]:
    ledger = governed_ledger(tmp_path / "ledger")
    gov = Gov(ledger)
    first = gov.propose(BANKS[0], "grant-role", BANKS[1].address, "auditor")  # block 1
    second = gov.propose(BANKS[2], "grant-role", BANKS[3].address, "auditor")  # block 2
    try:
        with TestClient(create_app(ledger, "http://127.0.0.1:9", node_name="t")) as client:
            yield client, gov, [first, second]
    finally:
        ledger.close()


def rows_of(answer: object) -> list[list[str]]:
    text = answer.text  # type: ignore[attr-defined]
    return list(csv.reader(io.StringIO(text)))


def test_a_service_table_downloads_as_csv(chain: tuple[TestClient, Gov, list[int]]) -> None:
    client = chain[0]
    answer = client.get("/console/csv/services/forum/channels")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert answer.headers["content-disposition"] == 'attachment; filename="forum-channels.csv"'
    header, *rows = rows_of(answer)
    assert header == ["name", "private", "epoch", "posts", "threads", "documents", "members"]
    assert rows == [["consortium", "no", "0", "0", "0", "0", ""]]
    # the page links it beside the table; a partial read for parameters links its own query
    page = client.get("/console/services/forum")
    assert 'href="/console/csv/services/forum/channels"' in page.text
    part = client.get("/console/services/registry/read/assets", params={"state": "registered"})
    assert 'href="/console/csv/services/registry/assets?state=registered"' in part.text
    empty = client.get("/console/csv/services/registry/assets", params={"state": "registered"})
    assert empty.status_code == 200 and empty.text.strip() == ""  # no rows: no columns known


def test_proposals_and_members_download_with_names(
        chain: tuple[TestClient, Gov, list[int]]) -> None:
    client, _, (first, second) = chain
    answer = client.get("/console/csv/governance/proposals")
    assert answer.status_code == 200, answer.text
    assert 'filename="governance-proposals.csv"' in answer.headers["content-disposition"]
    header, *rows = rows_of(answer)
    assert header[:6] == ["id", "kind", "parameters", "proposer", "proposer name", "status"]
    assert [r[0] for r in rows] == [str(first), str(second)]
    by_id = {r[0]: dict(zip(header, r, strict=True)) for r in rows}
    one = by_id[str(first)]
    assert one["proposer"] == BANKS[0].address.lower() and one["proposer name"] == "Bank A"
    assert one["kind"] == "grant-role" and one["status"] == "open"
    assert f"account {BANKS[1].address.lower()} (Bank B)" in one["parameters"]
    assert one["created at block"] == "1" and one["closed at block"] == ""
    ranged = rows_of(client.get("/console/csv/governance/proposals",
                                params={"fromBlock": "2", "toBlock": "0x2"}))
    assert [r[0] for r in ranged[1:]] == [str(second)]

    members = rows_of(client.get("/console/csv/governance/members"))
    assert members[0] == ["id", "name", "tier", "status", "weight", "accounts", "since block"]
    assert [m[1] for m in members[1:]] == ["Bank A", "Bank B", "Bank C", "Bank D"]
    assert members[1][5] == BANKS[0].address.lower()
    page = client.get("/console/governance")
    for name in ("proposals", "members"):
        assert f'href="/console/csv/governance/{name}"' in page.text, name


def test_bad_reads_and_parameters(chain: tuple[TestClient, Gov, list[int]]) -> None:
    client = chain[0]
    for path in ("/console/csv/services/forum/nope", "/console/csv/services/nope/x",
                 "/console/csv/governance/secrets"):
        page = client.get(path)
        assert page.status_code == 404 and "Not found" in page.text, path
    for path, params, message in (
            ("/console/csv/services/registry/assets", {"state": "melted"}, "filter.state: one of"),
            ("/console/csv/services/registry/assets", {"colour": "red"},
             "colour: unknown parameter (this table takes class, owner, state, securedParty, "
             "after, limit)"),
            ("/console/csv/services/securities/instrument", {}, "isin: required"),
            ("/console/csv/governance/proposals", {"fromBlock": "two"},
             "fromBlock: expected a block number, not 'two'"),
            ("/console/csv/governance/proposals", {"fromBlock": "5", "toBlock": "3"},
             "toBlock: 3 is before fromBlock 5"),
            ("/console/csv/governance/members", {"fromBlock": "1"},
             "fromBlock: unknown parameter (this table takes no parameters)")):
        answer = client.get(path, params=params)
        assert answer.status_code == 400, (path, params, answer.text)
        assert answer.text.count("\n") == 1 and message in answer.text, answer.text
    missing = client.get("/console/csv/services/securities/instrument",
                         params={"isin": "US0378331005"})
    assert missing.status_code == 404 and missing.text == "not found\n"


def test_the_explorer_export_refuses_a_range_given_backwards(
        chain: tuple[TestClient, Gov, list[int]]) -> None:
    """The explorer's CSV (linked from the console's export form) answered a backwards range
    with a header alone, as if nothing had happened: 400 naming both ends instead."""
    client = chain[0]
    for params, message in (({"fromBlock": "2", "toBlock": "1"},
                             "toBlock: 1 is before fromBlock 2"),
                            ({"fromBlock": "0x9", "toBlock": "3"},
                             "toBlock: 3 is before fromBlock 9"),
                            ({"fromDate": "2023-11-15", "toDate": "2023-11-14"},
                             "toDate: 2023-11-14 is before fromDate 2023-11-15")):
        answer = client.get("/api/v1/explorer/export.csv", params=params)
        assert answer.status_code == 400, (params, answer.text)
        assert answer.json() == {"error": message}
    same = client.get("/api/v1/explorer/export.csv", params={"fromBlock": "2", "toBlock": "2"})
    assert same.status_code == 200 and rows_of(same)[0][0] == "blockNumber"


def test_rows_past_the_bound_are_cut_with_a_last_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from consortium.console import csv_export

    monkeypatch.setattr(csv_export, "MAX_ROWS", 2)
    answer = csv_export.csv_response("t", ["a"], [[1], [2], [3]], more=4)
    assert answer.body.decode().splitlines() == [
        "a", "1", "2", "cut: 5 more rows not listed (at most 2); narrow the filters or the "
        "block range"]
