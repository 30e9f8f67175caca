"""The page's own crypto and checks, in chromium, without a network: the console's static
files served to a blank page on a loopback origin (a secure context, as the console on a
node's loopback or HTTPS address is).

Keystores as `consortium init` writes them decrypt in the page to their address: development
ones (PBKDF2, 2 iterations) and PBKDF2 ones through WebCrypto, production ones (scrypt, what
`init --production` writes) through ethers; a wrong password is told by the MAC, before any
decryption. The generated forms' checks refuse what can be refused before signing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from consortium.network.init import write_keystore

STATIC = Path(__file__).resolve().parents[2] / "src/consortium/console/static"
ORIGIN = "http://127.0.0.1:9"  # never contacted: every request is answered by the route
PAGE = """<!doctype html><html><head>
<script src="/vendor/ethers.umd.min.js"></script>
<script type="module">
  import * as wallet from "/js/wallet.js";
  import * as forms from "/js/sign_forms.js";
  window.wallet = wallet; window.forms = forms;
</script></head><body><div id="signed-in"></div></body></html>"""
KEY = bytes.fromhex("4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318")


@pytest.fixture(scope="module")
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))

    def serve(route: Any) -> None:
        path = route.request.url.removeprefix(ORIGIN)
        if path == "/":
            route.fulfill(body=PAGE, content_type="text/html")
        elif (STATIC / path.lstrip("/")).is_file() and ".." not in path:
            route.fulfill(body=(STATIC / path.lstrip("/")).read_bytes(),
                          content_type="text/javascript")
        else:
            route.fulfill(status=404, body="")

    pg.route(f"{ORIGIN}/**", serve)
    pg.goto(f"{ORIGIN}/")
    pg.wait_for_function("window.wallet && window.forms && window.ethers")
    assert pg.evaluate("isSecureContext && Boolean(crypto.subtle)")
    # count WebCrypto's PBKDF2 derivations, to see which path a keystore took
    pg.evaluate("""() => { window.derived = 0;
        const orig = crypto.subtle.deriveBits.bind(crypto.subtle);
        crypto.subtle.deriveBits = (...a) => { window.derived += 1; return orig(...a); }; }""")
    yield pg
    context.close()
    assert errors == []


def decrypt(page: Any, keystore: Path | str, password: str) -> dict[str, Any]:
    text = keystore.read_text() if isinstance(keystore, Path) else keystore
    return page.evaluate("""async ([text, password]) => {
        const before = window.derived;
        try {
            const w = await window.wallet.decryptKeystore(text, password);
            return {address: w.address, webcrypto: window.derived - before};
        } catch (e) { return {error: e.message}; } }""", [text, password])


def test_keystores_as_init_writes_them(page: Any, tmp_path: Path) -> None:
    address = Account.from_key(KEY).address
    dev, prod = tmp_path / "dev.json", tmp_path / "prod.json"
    write_keystore(dev, KEY, "", fast=True)
    write_keystore(prod, KEY, "correct horse", fast=False)
    assert json.loads(dev.read_text())["crypto"]["kdf"] == "pbkdf2"
    assert json.loads(prod.read_text())["crypto"]["kdf"] == "scrypt"
    pbkdf2 = tmp_path / "pbkdf2.json"
    pbkdf2.write_text(json.dumps(Account.encrypt(KEY, "pw", kdf="pbkdf2", iterations=200_000)))

    assert decrypt(page, dev, "") == {"address": address, "webcrypto": 1}
    assert decrypt(page, pbkdf2, "pw") == {"address": address, "webcrypto": 1}
    assert decrypt(page, prod, "correct horse") == {"address": address, "webcrypto": 0}

    for keystore in (dev, pbkdf2, prod):
        assert "wrong password" in decrypt(page, keystore, "not it")["error"]
    assert "not a keystore" in decrypt(page, "{nope", "")["error"]
    assert "not a V3 keystore" in decrypt(page, '{"version": 1}', "")["error"]
    tampered = json.loads(dev.read_text())
    tampered["address"] = "00" * 20
    assert "not that of its address" in decrypt(page, json.dumps(tampered), "")["error"]


def check(page: Any, fields: list[dict[str, Any]], values: dict[str, Any]) -> Any:
    """The generated form's arguments from `values` (strings typed in, booleans ticked), or
    the refusal the page shows before signing."""
    spec = {"fragment": {"type": "function", "name": "f", "inputs": [
        {"name": f["name"], "type": f["abi"]} for f in fields]}, "fixed": {},
        "fields": [{"required": True, "default": None, "choices": [], "label": f["name"], **f}
                   for f in fields]}
    return page.evaluate("""async ([spec, values]) => {
        const form = document.createElement("form");
        for (const [name, value] of Object.entries(values)) {
            const input = document.createElement("input");
            input.name = name;
            if (typeof value === "boolean") { input.type = "checkbox"; input.checked = value; }
            else input.value = value;
            form.append(input);
        }
        try {
            const args = await window.forms.argumentsOf(spec, form);
            return JSON.parse(JSON.stringify(args, (k, v) => typeof v === "bigint" ? `${v}n` : v));
        } catch (e) { return "refused: " + e.message; } }""", [spec, values])


def test_forms_check_before_signing(page: Any) -> None:
    assert page.evaluate("forms.isinValid('US0378331005') && !forms.isinValid('US0378331004')")
    assert page.evaluate("forms.isinValid('DE000BAY0017') && forms.isinValid('GB0002634946')")
    address = Account.from_key(KEY).address  # EIP-55 mixed case
    flipped = address[:2] + address[2:].replace(
        next(c for c in address[2:] if c.isalpha()),
        next(c for c in address[2:] if c.isalpha()).swapcase(), 1)
    account = [{"name": "to", "kind": "account", "abi": "address"}]
    assert check(page, account, {"to": address}) == [address]
    assert check(page, account, {"to": address.lower()}) == [address]
    assert "fails its checksum" in check(page, account, {"to": flipped})
    assert "not an address" in check(page, account, {"to": "0x1234"})

    amount = [{"name": "amount", "kind": "amount", "abi": "uint256"}]
    assert check(page, amount, {"amount": "1_000"}) == ["1000n"]
    assert "no decimal point" in check(page, amount, {"amount": "1.5"})
    assert "whole number in the smallest unit" in check(page, amount, {"amount": "-3"})
    assert "required" in check(page, amount, {"amount": ""})

    isin = [{"name": "isin", "kind": "isin", "abi": "string"}]
    assert check(page, isin, {"isin": "us0378331005"}) == ["US0378331005"]
    assert "wrong check digit" in check(page, isin, {"isin": "US0378331004"})

    day = [{"name": "due", "kind": "date", "abi": "uint256"}]
    assert check(page, day, {"due": "2028-02-29"}) == ["20280229n"]
    assert "expected a date" in check(page, day, {"due": "2027-02-29"})
    bp = [{"name": "winRate", "kind": "basis-points", "abi": "uint256"}]
    assert check(page, bp, {"winRate": "66.67%"}) == ["6667n"]
    assert check(page, bp, {"winRate": "5001"}) == ["5001n"]
    assert "1 to 10000" in check(page, bp, {"winRate": "0"})
    key = [{"name": "pubKey", "kind": "pubkey", "abi": "bytes32"}]
    assert check(page, key, {"pubKey": "A" * 43 + "="}) == ["0x" + "00" * 32]
    assert "ed25519" in check(page, key, {"pubKey": "AAAA"})
    side = [{"name": "side", "kind": "choice", "abi": "uint8", "choices": ["buy", "sell"]}]
    assert check(page, side, {"side": "sell"}) == ["2n"]
    assert "one of buy, sell" in check(page, side, {"side": "hold"})
    # every problem at once, nothing half-checked
    both = check(page, amount + isin, {"amount": "x", "isin": "XX"})
    assert "amount:" in both and "isin:" in both


def test_a_busy_node_is_asked_again_after_its_retry_after(page: Any) -> None:
    """A 429 (read gate, rate limit) means nothing ran: the console's rpc() sends the call
    again after the node's Retry-After, and shows the refusal only after 5 more 429s."""
    busy = {"left": 2, "posts": 0}

    def node(route: Any) -> None:
        if route.request.method != "POST":
            route.fallback()
            return
        busy["posts"] += 1
        call = json.loads(route.request.post_data or "{}")
        if busy["left"] != 0:
            busy["left"] -= 1
            refusal = {"code": -32005, "message": "too many expensive reads; retry in 1 s"}
            route.fulfill(status=429, headers={"Retry-After": "1"}, content_type="application/json",
                          body=json.dumps({"jsonrpc": "2.0", "id": call.get("id"),
                                           "error": refusal}))
        else:
            route.fulfill(content_type="application/json",
                          body=json.dumps({"jsonrpc": "2.0", "id": call["id"], "result": "0x4e9b"}))

    page.route(f"{ORIGIN}/", node)
    try:
        started = time.monotonic()
        assert page.evaluate("() => window.wallet.rpc('eth_chainId')") == "0x4e9b"
        assert busy["posts"] == 3 and time.monotonic() - started >= 1.9  # waited 1 s twice
        busy.update(left=-1, posts=0)  # busy for good
        got = page.evaluate("""async () => { try { return await window.wallet.rpc('eth_chainId'); }
            catch (e) { return 'refused: ' + e.message; } }""")
        assert got == "refused: too many expensive reads; retry in 1 s" and busy["posts"] == 6
    finally:
        page.unroute(f"{ORIGIN}/", node)
