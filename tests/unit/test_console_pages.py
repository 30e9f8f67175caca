"""The console's governance and service pages over a real ledger (stub engine): they render
what the node's reads answer, carry a form per proposal kind and per declared write, a
section per declared read; a read's partial parses its parameters by their declared kinds
(a bad value is told in a line); unknown services and reads get the 404 page; the app-call
builder and its method's form carry the generated forms' look (console-form)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import pytest

from consortium.apps.services import SERVICES
from consortium.system.model import PROPOSAL_KINDS
from tests.support.jsonrpc_testkit import Node, node

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Node]:
    with node(tmp_path) as n:
        yield n


def form_keys(html: str) -> list[str]:
    return re.findall(r'data-key="([^"]+)"', html)


def test_governance_page(api: Node) -> None:
    page = api.client.get("/console/governance")
    assert page.status_code == 200, page.text
    html = page.text
    members = api.client.post("/", json={"jsonrpc": "2.0", "id": 1,
                                         "method": "consortium_members"}).json()["result"]
    assert members and all(m["name"] in html for m in members)
    for section in ("Open proposals", "Members", "Roles", "Officers", "Task forces",
                    "Validators", "Nodes", "Rules", "Propose"):
        assert section in html, section
    keys = form_keys(html)
    assert [k for k in keys if k.startswith("governance.")] == [
        f"governance.{k.name}" for k in PROPOSAL_KINDS]
    assert {"regulator.freeze", "regulator.unfreeze"} <= set(keys)
    events = re.search(r'<script type="application/json" id="consortium-events">(.*?)</script>',
                       html, re.S)
    assert events is not None
    assert any(e["name"] == "ProposalCreated" for abi in json.loads(events.group(1)).values()
               for e in abi)
    spec = json.loads(unescape(re.search(r'data-form="([^"]+)"', html).group(1)))
    assert spec["fragment"]["type"] == "function" and spec["roles"] == ["committee"]
    for script in ("wallet", "signin", "sign_forms", "governance"):
        assert api.client.get(f"/console/static/js/{script}.js").status_code == 200

    live = api.client.get("/console/governance/live")
    assert live.status_code == 200 and "<html" not in live.text
    assert "No open proposals." in live.text and 'id="roles"' in live.text


def test_service_pages_come_from_the_declarations(api: Node) -> None:
    index = api.client.get("/console/services")
    assert index.status_code == 200
    for service in SERVICES:
        assert service.title in index.text
        assert f'href="/console/services/{service.name}"' in index.text
        page = api.client.get(f"/console/services/{service.name}")
        assert page.status_code == 200, (service.name, page.text[-500:])
        assert form_keys(page.text) == [f"{service.name}.{w.cli or w.client}"
                                        for w in service.writes]
        for read in service.reads:
            assert f'id="read-{read.name}"' in page.text, (service.name, read.name)
            assert read.rpc in page.text
        assert "Traceback" not in page.text


def test_a_read_partial_parses_its_parameters(api: Node) -> None:
    bad = api.client.get("/console/services/securities/read/instrument",
                         params={"isin": "US0378331004"})
    assert bad.status_code == 200 and "<html" not in bad.text
    assert "isin: expected an ISIN" in bad.text
    missing = api.client.get("/console/services/securities/read/instrument")
    assert "isin: required" in missing.text
    unknown = api.client.get("/console/services/securities/read/instrument",
                             params={"isin": "US0378331005"})
    assert "not found" in unknown.text
    state = api.client.get("/console/services/registry/read/assets", params={"state": "melted"})
    assert "filter.state: one of" in state.text
    nobody = api.client.get("/console/services/cash/read/cash_balances",
                            params={"account": "Nobody Ltd"})
    assert "account: no member named 'Nobody Ltd'" in unescape(nobody.text)
    tokens = api.client.get("/console/services/cash/read/cash_tokens")
    assert tokens.status_code == 200 and "None." in tokens.text


def test_unknown_services_and_reads_get_the_404_page(api: Node) -> None:
    for path in ("/console/services/nope", "/console/services/nope/read/x",
                 "/console/services/registry/read/nope"):
        page = api.client.get(path)
        assert page.status_code == 404, path
        assert "Not found" in page.text and "Traceback" not in page.text


def test_forum_pages(api: Node) -> None:
    index = api.client.get("/console/forum")
    assert index.status_code == 200 and 'href="/console/forum/channel/consortium"' in index.text
    channel = api.client.get("/console/forum/channel/consortium")
    assert channel.status_code == 200 and "No posts yet." in channel.text
    assert 'data-live-url="/console/forum/channel/consortium/posts"' in channel.text
    part = api.client.get("/console/forum/channel/consortium/posts")
    assert part.status_code == 200 and "<html" not in part.text
    for path in ("/console/forum/channel/nope", "/console/forum/channel/nope/posts"):
        assert api.client.get(path).status_code == 404, path


def test_a_contract_method_no_declaration_covers_is_a_form(api: Node) -> None:
    page = api.client.get("/console/services/invoices")
    assert 'id="contract-method"' in page.text and '<option value="issue">' in page.text
    form = api.client.get("/console/services/invoices/call/issue")
    assert form.status_code == 200 and 'data-key="call.invoices.issue"' in form.text
    assert "yyyy-mm-dd" in form.text  # the due date, taken as a date
    declared = api.client.get("/console/services/invoices")
    assert '<option value="confirm">' not in declared.text  # a declared write: its own form
    assert api.client.get("/console/services/invoices/call/nope").status_code == 404


def test_the_app_call_builder_has_the_forms_look(api: Node) -> None:
    """The app-call builder and the method form it fetches carry the class every generated
    form is styled by (console-form), not a look of their own (they had none)."""
    page = api.client.get("/console/governance").text
    builder = re.search(r'<div class="([^"]+)" data-roles="committee" hidden>\s*<h3>Build the call',
                        page)
    assert builder and builder.group(1).split() == ["app-call-builder", "console-form"]
    assert re.search(r'<div class="field">\s*<label for="app-call-method">', page)
    part = api.client.get("/console/governance/app-call/registry/createClass").text
    assert re.search(r'<form class="console-form app-call-args"', part), part
    assert 'class="field field-text"' in part
    proposal = re.search(r'<form class="([^"]+)"[^>]*data-key="governance.app-call"', page, re.S)
    assert proposal and proposal.group(1).split() == ["console-form", "sign-form"]
    css = api.client.get("/console/static/css/sign.css").text
    assert ".console-form .field {" in css and "form.sign-form .field" not in css
