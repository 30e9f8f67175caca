"""The console's shell over a real ledger and a stub engine: pages render, unknown routes
and bad identifiers answer the 404 page (never a stack trace), `[console] enabled = false`
removes it, and with token auth the sign-in form's HttpOnly cookie admits same-origin
pages, JSON-RPC and WebSocket requests and nothing cross-origin."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from starlette.testclient import TestClient, WebSocketDenialResponse

from consortium.api.app import create_app
from consortium.api.auth import CONSOLE_COOKIE, TokenCheck, TokenFile
from consortium.console import explorer as console_explorer
from consortium.console.app import NAV, Console, ConsoleRpcError
from consortium.errors import ConfigError
from consortium.network.node_config import NodeConfig
from tests.support.invoices_testkit import SELLER, Chain, invoice_ledger
from tests.support.jsonrpc_testkit import Node, StubEngine, node
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    TOKEN_SOURCE,
    calldata,
    compile_vyper,
    contract_address,
    new_ledger,
    run_block,
    sign,
)
from tests.support.ledger_testkit import token_deploy_data as deploy_data

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def api(tmp_path: Path) -> Iterator[Node]:
    with node(tmp_path) as n:
        yield n


def test_overview_renders_with_the_shell(api: Node) -> None:
    page = api.client.get("/console/")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    for text in ("Overview", "Explorer", "Governance", "Forum", "Services", "Validators",
                 "Latest blocks", 'id="signed-in"', "test-node"):
        assert text in page.text
    assert "script-src 'self'" in page.headers["content-security-policy"]
    for _, label, path in NAV:  # every page the nav links to is there
        assert api.client.get(f"/console{path}").status_code == 200, label
    assert 'hx-get="/console/overview/consensus"' in page.text
    part = api.client.get("/console/overview/consensus")  # what htmx fetches again
    assert part.status_code == 200
    assert 'id="consensus"' in part.text and "Validators" in part.text
    assert "<html" not in part.text
    css = api.client.get("/console/static/css/console.css")
    assert css.status_code == 200 and "--accent" in css.text


def test_unknown_routes_get_the_404_page(api: Node) -> None:
    for path in ("/console/no-such-page", "/console/static/js/nothing.js"):
        page = api.client.get(path)
        assert page.status_code == 404, path
    page = api.client.get("/console/no-such-page")
    assert "Not found" in page.text and "/no-such-page" in page.text
    assert "Traceback" not in page.text


def test_console_off_answers_404(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    engine = StubEngine(ledger)
    try:
        app = create_app(ledger, engine.url, console=False)
        with TestClient(app) as client:
            assert client.get("/console/").status_code == 404
            assert client.get("/health").status_code == 200
    finally:
        engine.close()
        ledger.close()


def test_console_setting_is_read_and_checked(tmp_path: Path) -> None:
    cfg = NodeConfig(home=tmp_path, name="n0", member="m0")
    cfg.save()
    assert NodeConfig.load(tmp_path).console_enabled is True
    cfg.console_enabled = False
    cfg.save()
    assert NodeConfig.load(tmp_path).console_enabled is False
    text = (tmp_path / "consortium.toml").read_text().replace("enabled = false",
                                                              'enabled = "no"')
    (tmp_path / "consortium.toml").write_text(text)
    with pytest.raises(ConfigError, match="console.enabled must be true or false"):
        NodeConfig.load(tmp_path)


def test_token_auth_signs_in_with_a_same_origin_cookie(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    secret = TokenFile(home).create("ops", "read")
    ledger = new_ledger(tmp_path / "ledger")
    engine = StubEngine(ledger)
    try:
        app = create_app(ledger, engine.url, node_name="n0", tokens=TokenCheck(home))
        with TestClient(app, base_url="http://node.test") as client:
            away = client.get("/console/explorer?x=1", follow_redirects=False)
            assert away.status_code == 303
            assert away.headers["location"] == "/console/login?next=/console/explorer"
            assert client.get("/console/login").status_code == 200
            assert client.get("/console/static/css/console.css").status_code == 200
            wrong = client.post("/console/login", data={"token": "cst_nope"},
                                follow_redirects=False)
            assert wrong.status_code == 401 and "unknown token" in wrong.text
            assert CONSOLE_COOKIE not in wrong.cookies
            away = client.post("/console/login", data={"token": secret},
                               headers={"Origin": "https://evil.example"})
            assert away.status_code == 403 and CONSOLE_COOKIE not in away.cookies
            # an open redirect is refused: back to the console only
            good = client.post("/console/login",
                               data={"token": secret, "next": "https://evil.example/"},
                               follow_redirects=False)
            assert good.status_code == 303 and good.headers["location"] == "/console/"
            cookie = good.headers["set-cookie"]
            assert "HttpOnly" in cookie and "SameSite=strict" in cookie
            assert client.cookies.get(CONSOLE_COOKIE) == secret
            page = client.get("/console/")
            assert page.status_code == 200 and "token:ops" in page.text
            call = {"jsonrpc": "2.0", "id": 1, "method": "eth_blockNumber", "params": []}
            same = client.post("/", json=call, headers={"Origin": "http://node.test"})
            assert same.status_code == 200 and "result" in same.json()
            cross = client.post("/", json=call, headers={"Origin": "https://evil.example"})
            assert cross.status_code == 401
            # the browser sends the cookie on its WebSocket handshake (TestClient's does not;
            # its handshakes go to host "testserver")
            cookie = f"{CONSOLE_COOKIE}={secret}"
            with client.websocket_connect("/", headers={
                    "cookie": cookie, "origin": "http://testserver"}) as ws:
                ws.send_json(call)
                assert "result" in ws.receive_json()
            with pytest.raises(WebSocketDenialResponse), client.websocket_connect(
                    "/", headers={"cookie": cookie, "origin": "https://evil.example"}):
                pass
            out = client.post("/console/logout", follow_redirects=False)
            assert out.status_code == 303
            client.cookies.clear()
            assert client.post("/", json=call).status_code == 401
    finally:
        engine.close()
        ledger.close()


def test_explorer_search_and_pages(api: Node) -> None:
    raw = sign(ALICE, nonce=0, data=deploy_data(5), gas=2_000_000)
    run_block(api.ledger, [raw])
    run_block(api.ledger, [sign(ALICE, nonce=1, to=BOB.address, value=3 * 10**18)])
    tx_hash = "0x" + keccak(raw).hex()
    block = api.rpc("eth_getBlockByNumber", "0x1", False)

    def search(q: str) -> str:
        answer = api.client.get("/console/search", params={"q": q}, follow_redirects=False)
        assert answer.status_code == 303, (q, answer.status_code)
        return str(answer.headers["location"])

    overview = api.client.get("/console/").text  # the latest transactions, whole
    assert f"/console/tx/{tx_hash}" in overview and f"/console/address/{ALICE.address.lower()}" \
        in overview
    assert search(tx_hash) == f"/console/tx/{tx_hash}"
    assert search(tx_hash[2:].upper()) == f"/console/tx/{tx_hash}"
    assert search(block["hash"]) == f"/console/block/{block['hash']}"
    assert search("2") == "/console/block/2"
    assert search(BOB.address.lower()) == f"/console/address/{BOB.address}"

    page = api.client.get(f"/console/tx/{tx_hash}")
    assert page.status_code == 200 and "success" in page.text and tx_hash in page.text
    page = api.client.get("/console/block/2")
    assert page.status_code == 200 and "Block 2" in page.text and "<td>3</td>" in page.text
    assert "kind=transactions" in page.text  # its CSV export link
    page = api.client.get(f"/console/address/{BOB.address}")
    assert page.status_code == 200 and BOB.address in page.text and "103 ether" in page.text

    # a transaction its block refused: found by search, its refusal in words
    late = sign(ALICE, nonce=9, to=BOB.address, value=1)
    run_block(api.ledger, [late])
    late_hash = "0x" + keccak(late).hex()
    assert search(late_hash) == f"/console/tx/{late_hash}"
    page = api.client.get(f"/console/tx/{late_hash}")
    assert page.status_code == 200 and "rejected" in page.text and "<dt>Refused</dt>" in page.text
    assert "nonce" in page.text

    for q in ("999999", "0x" + "ab" * 32, "no such member", "US0378331005"):
        answer = api.client.get("/console/search", params={"q": q})
        assert answer.status_code == 404 and "Not found" in answer.text, q
        assert q in answer.text  # names what was searched
    for path in ("/console/block/zzz", "/console/block/99", "/console/tx/0x12",
                 "/console/tx/0x" + "00" * 32, "/console/address/0x12",
                 f"/console/address/{BOB.address}?before=junk", "/console/member/nobody",
                 "/console/isin/US0378331005", "/console/invoice/0x12", "/console/block/²"):
        answer = api.client.get(path)
        assert answer.status_code == 404 and "Not found" in answer.text, path
        assert "Traceback" not in answer.text


def test_a_failing_read_is_an_error_page(api: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    async def busy(*_: object, **__: object) -> None:
        raise ConsoleRpcError("too many requests: retry in 1 s", -32005)

    monkeypatch.setattr(Console, "rpc", busy)
    page = api.client.get("/console/explorer")
    assert page.status_code == 503
    assert "could not answer" in page.text and "too many requests" in page.text


def test_address_history_and_a_registered_abi_decode(api: Node,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    run_block(api.ledger, [sign(ALICE, nonce=0, data=deploy_data(5), gas=2_000_000)])
    token = to_checksum_address(contract_address(ALICE.address.lower(), 0))
    pay = sign(ALICE, nonce=1, to=token, gas=200_000,
               data=calldata("transfer(address,uint256)", ["address", "uint256"],
                             [BOB.address, 2]))
    run_block(api.ledger, [pay])
    pay_hash = "0x" + keccak(pay).hex()

    overview = api.client.get("/console/").text  # the latest events, named
    assert '<td class="event">Transfer</td>' in overview and f"/console/tx/{pay_hash}" in overview
    assert '"Securities.InstrumentIssued"' in overview  # the names the page's script uses
    page = api.client.get(f"/console/address/{token}")
    assert page.status_code == 200 and 'id="register-abi"' in page.text
    assert f"/console/tx/{pay_hash}" in page.text  # from the address index
    # ERC-20 balances in the contracts the address's listed transactions went to: Alice
    # sent the transfer, Bob is listed by its Transfer event
    for who, left in ((ALICE, "3"), (BOB, "2")):
        page = api.client.get(f"/console/address/{who.address}")
        assert 'id="erc20"' in page.text, who.address
        assert f'{token}</a></td><td class="mono">{left}</td>' in page.text
    # paged, newest first: one a page, "Older" follows the index's cursor
    monkeypatch.setattr(console_explorer, "PAGE", 1)
    first = api.client.get(f"/console/address/{ALICE.address}").text
    assert f"/console/tx/{pay_hash}" in first
    older = re.search(r'href="(/console/address/[^"]+\?before=[0-9:]+)">Older', first)
    assert older is not None, first
    second = api.client.get(older.group(1)).text
    assert f"/console/tx/{pay_hash}" not in second and ">Newest</a>" in second
    assert 'id="address-txs"' in second and "created" in second  # the deployment
    monkeypatch.undo()

    # known by its ERC-20 selector before, by the contract's own name after
    assert '<span class="contract">contract</span>' in api.client.get(
        f"/console/tx/{pay_hash}").text

    _, abi = compile_vyper(TOKEN_SOURCE)
    assert api.rpc("consortium_registerAbi", token, abi, "Token")["functions"] >= 1
    page = api.client.get(f"/console/tx/{pay_hash}")
    assert '<strong class="method">transfer</strong>' in page.text
    assert '<span class="contract">Token</span>' in page.text
    assert BOB.address.lower() in page.text
    assert '<strong class="event-name">Transfer</strong>' in page.text


def test_search_finds_an_invoice_and_a_member(tmp_path: Path) -> None:
    ledger = invoice_ledger(tmp_path)
    engine = StubEngine(ledger)
    try:
        fp = bytes(range(100, 132))
        Chain(ledger).issue(fp, 250_000)
        with TestClient(create_app(ledger, engine.url)) as client:
            found = client.get("/console/search", params={"q": fp.hex().upper()},
                               follow_redirects=False)
            assert found.headers["location"] == f"/console/invoice/0x{fp.hex()}"
            page = client.get(found.headers["location"])
            assert page.status_code == 200 and "250000" in page.text
            assert SELLER.address.lower() in page.text
            found = client.get("/console/search", params={"q": "Acme Trading"},
                               follow_redirects=False)
            assert found.headers["location"] == "/console/member/Acme%20Trading"
            page = client.get(found.headers["location"])
            assert "Member <span" in page.text and SELLER.address.lower() in page.text
    finally:
        engine.close()
        ledger.close()
