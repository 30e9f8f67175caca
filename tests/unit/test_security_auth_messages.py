"""The API's refusals say what is wrong (finding 11): a broken token file is named, a
cross-site console cookie is called that, a client certificate's scope is the certificate's,
and a 401 answers the request's id as a 403 does. Against a real uvicorn server
(test_api_auth's `serving`)."""

from __future__ import annotations

import ssl
from pathlib import Path

import httpx
import pytest

from consortium.api.auth import CONSOLE_COOKIE, FORBIDDEN, UNAUTHORIZED, TokenFile
from consortium.network.tls import make_ca, make_cert
from tests.unit.test_api_auth import call, node_home, raw_tx, serving

pytestmark = pytest.mark.timeout(120)


def test_a_broken_token_file_is_named_in_the_refusal(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    tokens = TokenFile(home)
    secret = tokens.create("app", "read")
    with serving(tmp_path, home=home) as s:
        assert call(s.url, "eth_chainId", token=secret).status_code == 200
        tokens.path.write_text("{broken")
        refused = call(s.url, "eth_chainId", token=secret)
        assert refused.status_code == 401
        message = refused.json()["error"]["message"]
        assert "api-tokens.json is not valid" in message and "every token is refused" in message
        assert str(home) not in message  # the file's name, not where it lives
        tokens.path.unlink()
        secret = tokens.create("again", "read")  # mended: tokens work, unknown ones are that
        assert call(s.url, "eth_chainId", token=secret).status_code == 200
        assert call(s.url, "eth_chainId", token="cst_nope").json()["error"]["message"] == \
            "unauthorized: unknown token"


def test_a_cross_site_cookie_and_a_401_with_an_id(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    secret = TokenFile(home).create("app", "read")
    with serving(tmp_path, home=home) as s:
        body = {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []}
        cross = httpx.post(s.url, json=body, headers={
            "Cookie": f"{CONSOLE_COOKIE}={secret}", "Origin": "http://evil.example"})
        assert cross.status_code == 401
        message = cross.json()["error"]["message"]
        assert "cookie is accepted only from this node's own origin" in message
        assert "'http://evil.example'" in message
        # the 401 answers the call's id (as the 403 does), not null
        assert cross.json()["id"] == 1
        named = httpx.post(s.url, json={**body, "id": "req-7"})
        assert named.status_code == 401 and named.json()["id"] == "req-7"
        assert named.json()["error"]["code"] == UNAUTHORIZED
        assert "a bearer token is required" in named.json()["error"]["message"]
        # not a single call, or nested deeply: never parsed, the id stays null
        assert httpx.post(s.url, json=[body]).json()["id"] is None
        assert httpx.post(s.url, content=b'{"id": 3, "p": ' + b"[" * 5000 + b"]" * 5000 + b"}"
                          ).json()["id"] is None


def test_a_client_certificate_refusal_names_the_certificate(tmp_path: Path) -> None:
    ca, certs = tmp_path / "ca", tmp_path / "certs"
    make_ca(ca)
    server = make_cert(ca, "node0", ["127.0.0.1"], certs)
    reader = make_cert(ca, "reader", [], certs, client_scope="read")
    context = ssl.create_default_context(cafile=str(ca / "ca.pem"))
    context.load_cert_chain(reader[1], reader[0])
    with serving(tmp_path, tls=(server[1], server[0]), client_ca=ca / "ca.pem") as s:
        refused = call(s.url, "eth_sendRawTransaction", raw_tx(), verify=context)
        assert refused.status_code == 403 and refused.json()["error"]["code"] == FORBIDDEN
        message = refused.json()["error"]["message"]
        assert "the client certificate has 'read'" in message and "token" not in message
