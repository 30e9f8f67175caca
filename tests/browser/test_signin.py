"""Signing in to a node whose API asks for a token, in chromium (a 1-validator network, its
node set to `[api] auth = "token"`): a console page redirects to the sign-in form, a wrong
token is refused in words, the right one is kept as an HttpOnly cookie the page's scripts
cannot read, and with it the pages, the live WebSocket and the page's own JSON-RPC calls
work; signing out ends all three. A token revoked while a page is open takes the page to the
sign-in form, which says why; a node that stops answering leaves the overview counting the
last block's age, its sync state and peers unknown."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomlkit
from playwright.sync_api import expect

from consortium.api.auth import CONSOLE_COOKIE, TokenFile
from tests.support.localnet import LocalNet

pytestmark = [pytest.mark.timeout(180)]


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[dict[str, Any]]:
    net = LocalNet(tmp_path_factory.mktemp("signin") / "net", validators=1)
    node = net.network.nodes[0]
    home = net.network.node_home(node)
    config = home / "consortium.toml"
    doc = tomlkit.parse(config.read_text())
    doc["api"]["auth"] = "token"  # type: ignore[index]
    config.write_text(tomlkit.dumps(doc))
    secret = TokenFile(home).create("ops-desk", "submit")
    try:
        net.up()
        net.wait_height(2, timeout=60)
        yield {"url": node.api_url, "secret": secret, "home": home, "net": net}
    finally:
        net.cleanup()


def test_sign_in_to_a_token_node(guarded: dict[str, Any], page: Any,
                                 shot: Callable[[Any, str], Path]) -> None:
    url = guarded["url"]
    assert httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber",
                                 "params": []}).status_code == 401

    page.goto(f"{url}/console/explorer")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/explorer$"))
    expect(page.get_by_role("heading", name=re.compile("Sign in to node"))).to_be_visible()
    page.get_by_label("API token").fill("cst_not-a-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Not signed in: unknown token.")
    shot(page, "refused")

    page.get_by_label("API token").fill(guarded["secret"])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/explorer$"))
    expect(page.get_by_text("token:ops-desk")).to_be_visible()
    cookie = next(c for c in page.context.cookies() if c["name"] == CONSOLE_COOKIE)
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # out of the page's scripts' reach

    # the overview's WebSocket is admitted by the cookie: new blocks arrive live
    page.goto(f"{url}/console/")
    expect(page.locator("#live-state")).to_have_text("live")
    first = int(page.locator("#height").inner_text())
    expect(page.locator(f'#latest-blocks tr[data-number="{first + 2}"]')).to_be_visible(
        timeout=30_000)
    # and so is the page's own JSON-RPC over HTTP (same origin)
    height = page.evaluate("""async () => (await (await fetch('/', {method: 'POST',
        headers: {'Content-Type': 'application/json'},
        body: JSON.stringify({jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: []})
        })).json()).result""")
    assert int(height, 16) >= first + 2
    shot(page, "signed-in")

    page.get_by_role("button", name="Sign out of node").click()
    expect(page).to_have_url(re.compile(r"/console/login$"))
    assert all(c["name"] != CONSOLE_COOKIE for c in page.context.cookies())
    page.goto(f"{url}/console/")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/$"))


def sign_in(page: Any, url: str, secret: str, path: str = "/console/") -> None:
    page.goto(f"{url}{path}")
    page.get_by_label("API token").fill(secret)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(re.escape(path) + "$"))


def test_a_revoked_token_takes_the_page_to_the_sign_in_form_saying_why(
        guarded: dict[str, Any], page: Any, shot: Callable[[Any, str], Path]) -> None:
    """The overview's live parts, once the token is revoked, go to the sign-in form whole
    (never the form inside the page, never "reconnecting…" forever), which says why."""
    url, home = guarded["url"], guarded["home"]
    secret = TokenFile(home).create("torevoke", "read")
    sign_in(page, url, secret)
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.get_by_text("token:torevoke")).to_be_visible()
    TokenFile(home).revoke("torevoke")
    expect(page).to_have_url(re.compile(r"/console/login\?next=%2Fconsole%2F$"),
                             timeout=15_000)
    expect(page.get_by_role("alert")).to_have_text(
        "Signed out: your token 'torevoke' was revoked. Sign in with another token.")
    assert page.locator("#consensus").count() == 0
    expect(page.get_by_role("button", name="Sign out of node")).to_have_count(0)
    shot(page, "revoked")
    # signing in again comes back to the overview
    page.get_by_label("API token").fill(guarded["secret"])
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/console/$"))
    expect(page.locator("#live-state")).to_have_text("live")


def test_a_node_that_stops_answering_shows_unknown_and_keeps_counting(
        guarded: dict[str, Any], page: Any, shot: Callable[[Any, str], Path]) -> None:
    """(Last in this module: it stops the node.) While the node is down the overview keeps
    counting the last block's age in the page and shows sync and peers as unknown."""
    url = guarded["url"]
    sign_in(page, url, guarded["secret"])
    expect(page.locator("#live-state")).to_have_text("live")
    expect(page.locator("#sync-state")).to_have_text("in sync")
    guarded["net"].down()
    expect(page.locator("#live-state")).to_have_text("reconnecting…", timeout=15_000)
    expect(page.locator("#sync-state")).to_have_text("unknown")
    expect(page.locator("#peer-count")).to_have_text("unknown")
    expect(page.locator("#consensus-stale")).to_be_visible()
    age = page.locator("#block-age")
    expect(age).to_have_text(re.compile(r"^([4-9]|\d\d+) s ago$"), timeout=15_000)
    first = int(age.inner_text().split()[0])
    page.wait_for_timeout(2500)
    assert int(age.inner_text().split()[0]) >= first + 2
    shot(page, "node-down")
