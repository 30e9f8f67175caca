"""The console's credit and registry pages over a real ledger (stub engine), without a
browser: they render with the generic service page's tables and forms plus their own (the
report check, the consent and apply forms with their inputs), one object by id shown in one
section only (the page's own, not also the generic read's table), the credit page alone may
fetch a report from an http(s) location, and the asset part (what a page keeps live) is a
partial refusing bad ids in a line."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

from tests.support.jsonrpc_testkit import Node, node

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Node]:
    with node(tmp_path) as n:
        yield n


def form_spec(html: str, key: str) -> dict:
    found = re.search(r'data-form="([^"]+)"\s+data-key="' + re.escape(key) + '"', html)
    assert found, key
    return json.loads(unescape(found.group(1)))


def test_credit_page(api: Node) -> None:
    page = api.client.get("/console/credit")
    assert page.status_code == 200, page.text
    for text in ("Check a delivered report", "report-download", "credit.js", "Give a consent",
                 'data-key="credit.deliver"', 'data-key="credit.revoke-consent"', "Blacklisted"):
        assert text in page.text, text
    consent = form_spec(page.text, "credit.give-consent")
    assert consent["fragment"]["name"] == "grantConsent"
    assert [f["label"] for f in consent["fields"]] == ["lender", "purpose",
                                                      "valid for (blocks from now)", "uses"]
    assert "connect-src 'self' ws: wss: http: https:" in page.headers["content-security-policy"]
    # every other console page keeps to its own origin
    other = api.client.get("/console/registry")
    assert "http: https:" not in other.headers["content-security-policy"]


def test_registry_page_and_asset_part(api: Node) -> None:
    page = api.client.get("/console/registry")
    assert page.status_code == 200, page.text
    for text in ("Apply for an asset", "registry-key-file", "asset-detail", "registry.js",
                 'data-key="registry.approve"', 'data-key="registry.freeze"'):
        assert text in page.text, text
    apply = form_spec(page.text, "registry.apply")
    kinds = {f["name"]: f["kind"] for f in apply["fields"]}
    assert kinds == {"class_id": "integer", "external_id_hash": "hash",
                     "metadata_hash": "digest", "owner": "account"}
    for bad, words in (("0", "asset id: expected a positive"), ("x1", "expected a positive"),
                       ("7", "no asset 7")):
        answer = api.client.get(f"/console/registry/asset/{bad}/part")
        assert answer.status_code == 404 and words in answer.text and "<html" not in answer.text
    assert "/console/credit" in api.client.get("/console/services").text
    for path, words in (("/console/credit/query/3", "no query 3"),
                        ("/console/credit/record/x", "record id: expected a positive")):
        answer = api.client.get(path + "/part")
        assert answer.status_code == 404 and words in answer.text and "<html" not in answer.text
    assert api.client.get("/console/credit/secrets/1").status_code == 404


def test_one_object_is_one_section(api: Node) -> None:
    """The registry page showed one asset twice, under near-identical titles: the generic
    table of the `asset` read and the page's own asset section. The page's own stays (and
    says how it differs from the assets table); the generic service page keeps its table.
    Credit's query, record and consent likewise."""
    def titles(html: str) -> list[str]:
        return [unescape(re.sub(r"<[^>]+>", "", t)).strip()
                for t in re.findall(r"<h2>(.*?)</h2>", html, re.S)]

    registry = api.client.get("/console/registry").text
    assert 'id="read-asset"' not in registry and 'id="asset-view"' in registry
    assert 'id="read-assets"' in registry  # the list by filter stays
    assert [t for t in titles(registry) if "asset" in t.lower() and "class" not in t.lower()] == [
        "Assets matching every filter given",
        "One asset whole: its fields, approvals, pledges and full history", "Apply for an asset"]
    assert 'id="read-asset"' in api.client.get("/console/services/registry").text
    credit = api.client.get("/console/credit").text
    for read in ("query_detail", "record_detail", "consent_detail"):
        assert f'id="read-{read}"' not in credit, read
    assert 'id="credit-whole"' in credit and 'id="read-consents"' in credit


def test_whole_tables() -> None:
    from consortium.console.registry import whole

    out = whole({"id": 1, "state": "registered", "approvedBy": ["0xa", "0xB"], "pledges": [],
                 "history": [{"block": 3, "to": "applied"}, {"block": 4, "to": "registered"}]},
                {"0xb": "Registrar 1"})
    assert ["approved by", "0xa, Registrar 1 (0xB)"] in out["fields"]
    assert out["lists"]["pledges"] == ([], [])
    assert out["lists"]["history"] == (["block", "to"], [["3", "applied"], ["4", "registered"]])
