"""The console's fixes from the outside pilot's report, over a real ledger (stub engine),
without a browser: an asset and a credit query, record or consent are whole console pages
(the shell, sign-in, a live part; the 404 page for a bad or unknown id) and the registry's
asset ids link to them; a pledge's Release button is offered to its secured party only and a
member's vote buttons give way to how it voted; the sign-in form says why a kept token no
longer signs in and never offers "Sign out" to a browser that is not signed in; the
overview's age of the last block comes from the engine's time and its empty tables say so;
a consent's expiry is one input in blocks from now; an anchored document's bytes may be
read by another node's console."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from consortium.api.app import create_app
from consortium.api.auth import CONSOLE_COOKIE, TokenCheck, TokenFile
from consortium.apps.registry.external_id import external_id_hash
from consortium.apps.registry.model import REGISTRY_ADDRESS
from consortium.apps.registry.reader import CALLS
from consortium.console.overview import consensus_time, health
from consortium.ledger.ledger import Ledger
from tests.support.jsonrpc_testkit import Node, StubEngine, node
from tests.support.ledger_testkit import new_ledger
from tests.support.services_testkit import (
    BANK_A,
    BANK_B,
    OWNER,
    REGISTRAR_1,
    REGISTRAR_2,
    REGISTRAR_3,
    ServiceChain,
    low,
    services_ledger,
)

pytestmark = pytest.mark.timeout(120)
KEY = bytes(range(32))


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Node]:
    with node(tmp_path) as n:
        yield n


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[tuple[TestClient, ServiceChain, int]]:
    """A services ledger with a land class and asset 1, registered and pledged by its owner
    to Bank A; its API (console included)."""
    ledger: Ledger = services_ledger(tmp_path)
    engine = StubEngine(ledger)
    try:
        chain = ServiceChain(ledger, REGISTRY_ADDRESS, CALLS)
        proposal = chain.by_vote("createClass", "Land title", hashlib.sha256(b"s").digest(),
                                 [r.address for r in (REGISTRAR_1, REGISTRAR_2, REGISTRAR_3)],
                                 2)
        assert proposal["status"] == "executed"
        asset = int(chain.ok(OWNER, "apply", 1, external_id_hash(KEY, "parcel 1"),
                             hashlib.sha256(b"deed").digest(), OWNER.address))
        chain.ok(REGISTRAR_1, "approveRegistration", asset)
        chain.ok(REGISTRAR_2, "approveRegistration", asset)
        chain.ok(OWNER, "pledge", asset, BANK_A.address)
        with TestClient(create_app(ledger, engine.url, node_name="n0")) as client:
            yield client, chain, asset
    finally:
        engine.close()
        ledger.close()


def form_spec(html: str, key: str) -> dict[str, Any]:
    found = re.search(r'data-form="([^"]+)"\s+data-key="' + re.escape(key) + '"', html)
    assert found, key
    spec: dict[str, Any] = json.loads(unescape(found.group(1)))
    return spec


def test_an_asset_is_a_whole_page_with_release_for_its_secured_party_only(
        registry: tuple[TestClient, ServiceChain, int]) -> None:
    client, _, asset = registry
    page = client.get(f"/console/registry/asset/{asset}")
    assert page.status_code == 200, page.text
    for text in ("<title>Asset 1 · n0</title>", 'href="/console/static/css/console.css"',
                 'id="signed-in"', "signin.js", "registry_whole.js", "Your last action",
                 f'data-live-url="/console/registry/asset/{asset}/part"',
                 'data-key="registry.release-0"', 'href="/console/registry"'):
        assert text in page.text, text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    # Release: shown to the secured party's account only; anyone else is told who may
    assert f'<span data-account="{low(BANK_A)}" hidden>' in page.text
    assert f'data-not-account="{low(BANK_A)}"' in page.text
    assert "Pledge 0: only its secured party, Bank A, may release it." in page.text
    part = client.get(f"/console/registry/asset/{asset}/part")
    assert part.status_code == 200 and "<html" not in part.text
    assert 'data-key="registry.release-0"' in part.text
    assert f'href="/console/registry/asset/{asset}"' in part.text  # its page, from the form
    # the registry page's asset table links each id to its page
    assets = client.get("/console/services/registry/read/assets")
    assert f'<a href="/console/registry/asset/{asset}">{asset}</a>' in assets.text
    assert f'<a href="/console/registry/asset/{asset}">' in client.get("/console/registry").text


def test_bad_and_unknown_object_ids_get_the_404_page(api: Node) -> None:
    for path, searched, hint in (
            ("/console/registry/asset/999", "999", "No asset 999."),
            ("/console/registry/asset/abc", "abc",
             "Asset id: expected a positive whole number, got &#39;abc&#39;."),
            ("/console/credit/query/1", "1", "No query 1."),
            ("/console/credit/record/0", "0", "Record id: expected a positive"),
            ("/console/credit/consent/x", "x", "Consent id: expected a positive")):
        page = api.client.get(path)
        assert page.status_code == 404, path
        assert "<title>Not found · test-node</title>" in page.text, path
        assert f'<code class="searched">{searched}</code>' in page.text, path
        assert hint in page.text, path
        assert "Traceback" not in page.text
    # the partials a page keeps live still answer one line
    part = api.client.get("/console/credit/query/1/part")
    assert part.status_code == 404 and "no query 1" in part.text and "<html" not in part.text
    assert api.client.get("/console/credit/secrets/1").status_code == 404
    assert api.client.get("/console/credit/secrets/1/part").status_code == 404


def test_a_member_that_voted_is_shown_its_vote_not_the_buttons(tmp_path: Path) -> None:
    ledger = services_ledger(tmp_path)
    engine = StubEngine(ledger)
    try:
        chain = ServiceChain(ledger, REGISTRY_ADDRESS, CALLS)
        proposed = chain.propose("createClass", "Cars", hashlib.sha256(b"c").digest(),
                                 [REGISTRAR_1.address], 1)
        assert proposed.code == 0
        proposal = int.from_bytes(proposed.data, "big")
        assert chain.vote(BANK_B, proposal, False).code == 0
        with TestClient(create_app(ledger, engine.url)) as client:
            live = client.get("/console/governance/live")
            members = {m["name"]: m["id"] for m in client.post("/", json={
                "jsonrpc": "2.0", "id": 1, "method": "consortium_members",
                "params": []}).json()["result"]}
    finally:
        engine.close()
        ledger.close()
    row = live.text[live.text.index(f'id="proposal-{proposal}"'):]
    assert f'<span class="vote-buttons" data-unless-member="{members["Bank B"]}">' in row
    assert (f'data-if-member="{members["Bank B"]}" hidden>Bank B voted no: a member votes '
            "once.") in row


def test_the_sign_in_form_says_why_a_kept_token_no_longer_signs_in(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    tokens = TokenFile(home)
    revoked = tokens.create("torevoke", "read")
    old = tokens.create("old", "read")
    good = tokens.create("ops", "read")
    ledger = new_ledger(tmp_path / "ledger")
    engine = StubEngine(ledger)
    try:
        app = create_app(ledger, engine.url, node_name="n0", tokens=TokenCheck(home))
        with TestClient(app, base_url="http://node.test") as client:
            form = client.get("/console/login")
            assert form.status_code == 200 and "Sign in to node n0" in form.text
            assert "Sign out of node" not in form.text  # not signed in: nothing to sign out of
            empty = client.post("/console/login", data={"token": "  "})
            assert empty.status_code == 401
            assert "Not signed in: enter a token" in empty.text
            assert "Authorization" not in empty.text
            client.cookies.set(CONSOLE_COOKIE, good)
            assert "Sign out of node" in client.get("/console/").text
            assert client.get("/console/session").status_code == 204
            tokens.revoke("torevoke")
            doc = json.loads(tokens.path.read_text())
            for entry in doc["tokens"]:
                if entry["name"] == "old":
                    entry["expires"] = "2020-01-01T00:00:00Z"
            tokens.path.write_text(json.dumps(doc))
            for secret, words in ((revoked, "your token &#39;torevoke&#39; was revoked"),
                                  (old, "your token &#39;old&#39; has expired"),
                                  ("cst_nope", "the token this browser kept is refused "
                                               "(unknown token)")):
                client.cookies.set(CONSOLE_COOKIE, secret)
                # a page's read (a live part, the session check) goes to the sign-in form
                away = client.get("/console/session", follow_redirects=False)
                assert away.status_code == 303
                assert away.headers["location"].startswith("/console/login?next=")
                again = client.get("/console/login")
                assert words in again.text, secret
                assert "Sign out of node" not in again.text
            client.cookies.set(CONSOLE_COOKIE, good)
            assert "Signed out" not in client.get("/console/login").text
    finally:
        engine.close()
        ledger.close()


def test_overview_ages_by_the_engine_time_and_names_empty_tables(api: Node) -> None:
    page = api.client.get("/console/")
    assert page.status_code == 200
    assert "No transactions in the latest" in page.text
    assert "No events in the latest" in page.text
    assert 'id="sync-state" data-when-down="unknown"' in page.text
    assert 'id="peer-count" data-when-down="unknown"' in page.text
    assert 'id="consensus-stale" hidden' in page.text
    assert re.search(r'id="block-age" data-age="\d*"', page.text)
    # a chain faster than a block a second: its EVM timestamps run ahead of the clock, the
    # engine's block time does not
    now = time.time()
    ahead = {"timestamp": hex(int(now) + 500)}
    when = dt.datetime.fromtimestamp(now - 42, dt.UTC)
    status = {"sync_info": {"latest_block_time": when.strftime("%Y-%m-%dT%H:%M:%S.123456789Z")}}
    assert health({}, ahead)["age"] == 0
    assert health(status, ahead)["age"] in (41, 42)
    assert consensus_time("2025-05-01T12:00:00Z") == dt.datetime(
        2025, 5, 1, 12, tzinfo=dt.UTC).timestamp()
    assert consensus_time("garbage") is None and consensus_time(None) is None


def test_consent_expiry_is_one_input_in_blocks_from_now(api: Node) -> None:
    page = api.client.get("/console/credit")
    assert page.status_code == 200
    consent = form_spec(page.text, "credit.give-consent")
    fields = {f["name"]: f for f in consent["fields"]}
    assert fields["expires_at"]["kind"] == "blocks-from-now"
    assert fields["expires_at"]["label"] == "valid for (blocks from now)"
    assert "below" not in fields["expires_at"]["doc"]
    assert "consent-blocks" not in page.text  # no second box above the form


def test_an_anchored_documents_bytes_may_be_read_across_origins(api: Node) -> None:
    sha = "0x" + "ab" * 32
    answer = api.client.get(f"/api/v1/forum/blobs/{sha}",
                            headers={"Origin": "http://127.0.0.1:36546"})
    assert answer.status_code == 404
    assert answer.headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-credentials" not in answer.headers
    bad = api.client.get("/api/v1/forum/blobs/0x12", headers={"Origin": "http://x.test"})
    assert bad.status_code == 400 and bad.headers["access-control-allow-origin"] == "*"
    # writing is not opened to other origins
    put = api.client.put(f"/api/v1/forum/blobs/{sha}", content=b"x",
                         headers={"Origin": "http://x.test"})
    assert "access-control-allow-origin" not in put.headers
    # a channel's page may fetch from the node that keeps a document
    channel = api.client.get("/console/forum/channel/consortium")
    assert channel.status_code == 200
    assert "connect-src 'self' ws: wss: http: https:" in channel.headers["content-security-policy"]
