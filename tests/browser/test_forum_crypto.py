"""The forum page's cryptography against the Python client's, in chromium, without a network
(the console's static files served to a blank loopback page; the node's JSON-RPC answered
by the route with what a node would answer for this one key).

What Python seals (apps/forum/sealing.py: a channel key wrapped with eciespy, a post sealed
with AES-256-GCM bound to channel, epoch and purpose) opens in the page with the signed-in
keystore's key; what the page seals and wraps opens in Python; a key wrapped for another
account, a post moved to another channel and an altered one are refused in words.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import ecies
import pytest
from eth_account import Account

from consortium.apps.forum import sealing
from consortium.apps.forum.envelope import parse_post, post_content
from consortium.network.init import write_keystore
from tests.browser.test_signing_page import KEY, ORIGIN, STATIC  # its page's origin and key

PAGE = """<!doctype html><html><head>
<script src="/vendor/ethers.umd.min.js"></script>
<script type="module">
  import * as wallet from "/js/wallet.js"; import * as fc from "/js/forum_crypto.js";
  window.wallet = wallet; window.fc = fc;
</script></head><body><div id="signed-in"></div></body></html>"""
OTHER = bytes.fromhex("11" * 32)
CHANNEL_KEY = bytes(range(32))
ME = Account.from_key(KEY).address.lower()


@pytest.fixture(scope="module")
def page(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    wrapped = {1: sealing.wrap_key(CHANNEL_KEY, sealing.public_key_of(KEY)),
               2: sealing.wrap_key(CHANNEL_KEY, sealing.public_key_of(OTHER))}
    answers: dict[str, Any] = {"consortium_member": None, "consortium_roles": {"roles": []},
               "consortium_frozen": []}

    def rpc(body: dict[str, Any]) -> Any:
        if body["method"] == "consortium_forumEpoch":
            return {"wrappedKeys": {ME: "0x" + wrapped[body["params"][1]].hex()}}
        return answers[body["method"]]

    def serve(route: Any) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path == "/" and route.request.method == "POST":
            body = json.loads(route.request.post_data)
            route.fulfill(content_type="application/json", body=json.dumps(
                {"jsonrpc": "2.0", "id": body["id"], "result": rpc(body)}))
        elif path == "/":
            route.fulfill(body=PAGE, content_type="text/html")
        elif (STATIC / path.lstrip("/")).is_file() and ".." not in path:
            route.fulfill(body=(STATIC / path.lstrip("/")).read_bytes(),
                          content_type="text/javascript")
        else:
            route.fulfill(status=404, body="")

    context = browser.new_context()
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.route(f"{ORIGIN}/**", serve)
    pg.goto(f"{ORIGIN}/")
    pg.wait_for_function("window.wallet && window.fc && window.ethers")
    keystore = tmp_path_factory.mktemp("forum-crypto") / "key.json"
    write_keystore(keystore, KEY, "", fast=True)
    signed = pg.evaluate(
        "async (text) => (await window.wallet.signInWithKeystore(text, '')).address",
        keystore.read_text())
    assert signed.lower() == ME
    yield pg
    context.close()
    assert errors == []


def js_open(page: Any, channel: str, epoch: int, purpose: str, sealed: bytes) -> Any:
    return page.evaluate("""async ([channel, epoch, purpose, sealed]) => {
        try {
            const plain = await window.fc.openRecord({channel, epoch}, purpose, sealed);
            return {post: window.fc.parsePost(plain)};
        } catch (e) { return {error: e.message}; } }""", [channel, epoch, purpose,
                                                         "0x" + sealed.hex()])


def test_python_sealed_opens_in_the_page(page: Any) -> None:
    content = post_content("Q3 exposure", "Counterparty X: 12 % of capital — cut limits.")
    sealed = sealing.seal(CHANNEL_KEY, content, sealing.context("Risk", 1, "post"))
    assert js_open(page, "Risk", 1, "post", sealed) == {"post": parse_post(content)}
    # bound to its channel and purpose, and to its bytes
    assert "does not open" in js_open(page, "Other", 1, "post", sealed)["error"]
    assert "does not open" in js_open(page, "Risk", 1, "document", sealed)["error"]
    altered = sealed[:-1] + bytes([sealed[-1] ^ 1])
    assert "does not open" in js_open(page, "Risk", 1, "post", altered)["error"]
    # epoch 2's key was wrapped for another account: this one's key does not unwrap it
    other = sealing.seal(CHANNEL_KEY, content, sealing.context("Risk", 2, "post"))
    assert "does not open" in js_open(page, "Risk", 2, "post", other)["error"]


def test_page_sealed_and_wrapped_open_in_python(page: Any) -> None:
    out = page.evaluate("""async () => {
        const fc = window.fc, e = window.ethers;
        const key = await fc.channelKey("Risk", 1);
        const content = fc.postContent("Minutes", "Agreed: ✓ 3 items");
        const sealed = await fc.seal(key, "Risk", 1, "post", content);
        const raw = fc.newChannelKey();
        const pub = window.wallet.publicKey();
        const wrapped = await fc.eciesEncrypt(pub, raw);
        return {sealed: e.hexlify(sealed), raw: e.hexlify(raw), pub, wrapped: e.hexlify(wrapped),
                sha: await fc.sha256Hex(new TextEncoder().encode("abc"))};
    }""")
    sealed = bytes.fromhex(out["sealed"][2:])
    opened = sealing.open_sealed(CHANNEL_KEY, sealed, sealing.context("Risk", 1, "post"))
    assert parse_post(opened) == {"title": "Minutes", "body": "Agreed: ✓ 3 items"}
    assert out["pub"] == "0x" + sealing.public_key_of(KEY).hex()  # what registerKey stores
    wrapped = bytes.fromhex(out["wrapped"][2:])
    assert sealing.unwrap_key(wrapped, KEY) == bytes.fromhex(out["raw"][2:])
    assert ecies.decrypt(KEY, wrapped) == bytes.fromhex(out["raw"][2:])
    with pytest.raises(sealing.SealError):
        sealing.unwrap_key(wrapped, OTHER)
    assert out["sha"] == "0xba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
