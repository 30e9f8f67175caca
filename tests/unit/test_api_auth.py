"""Who may use a node's API: bearer tokens and their scopes, CORS, TLS, and when auth is on,
against a real uvicorn server (`api_server`) on a free port serving the node's app over a
real ledger. Tokens are created, revoked and expired through the token file the CLI writes,
while the server runs."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from consortium.api.app import create_app
from consortium.api.auth import (
    FORBIDDEN,
    UNAUTHORIZED,
    TokenCheck,
    TokenFile,
    scope_of_certificate,
)
from consortium.api.http_server import api_server
from consortium.api.rate_limits import ClientLimits
from consortium.cli.main import main as cli
from consortium.errors import ConfigError
from consortium.network.node import check_api_access
from consortium.network.node_config import NodeConfig
from consortium.network.tls import check_server_files, check_signed_by, make_ca, make_cert
from tests.support.jsonrpc_testkit import StubEngine
from tests.support.ledger_testkit import KEYS, new_ledger, sign

pytestmark = pytest.mark.timeout(120)

ALLOWED = "https://app.bank-a.example"


class Server:
    """The node's app with token auth (if `home`), CORS and TLS, served in a thread."""

    def __init__(self, path: Path, *, home: Path | None = None,
                 tls: tuple[Path, Path] | None = None, client_ca: Path | None = None,
                 client_limits: ClientLimits | None = None) -> None:
        self.ledger = new_ledger(path / "ledger")
        self.engine = StubEngine(self.ledger)
        self.app = create_app(self.ledger, self.engine.url, node_name="test-node",
                              tokens=TokenCheck(home) if home else None,
                              client_certificates=client_ca is not None,
                              cors_origins=[ALLOWED], client_limits=client_limits)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}/"
        self.server = api_server(self.app, "127.0.0.1", self.port,
                                 tls_cert=str(tls[0]) if tls else None,
                                 tls_key=str(tls[1]) if tls else None,
                                 tls_client_ca=str(client_ca) if client_ca else None)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        for resource in (self.sock, self.engine, self.ledger):
            resource.close()


@contextmanager
def serving(path: Path, **kwargs: Any) -> Iterator[Server]:
    server = Server(path, **kwargs)
    try:
        server.start()
        yield server
    finally:
        server.stop()


def call(url: str, method: str, *params: Any, token: str | None = None,
         verify: Any = True) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url, json={"jsonrpc": "2.0", "id": 7, "method": method,
                                 "params": list(params)},
                      headers=headers, verify=verify, timeout=10)


def node_home(path: Path, api: str = "") -> Path:
    home = path / "home"
    home.mkdir(exist_ok=True)
    (home / "consortium.toml").write_text(
        '[node]\nname = "node0"\nmember = "Bank A"\n\n[api]\nport = 8545\n' + api)
    return home


def raw_tx() -> str:
    return "0x" + sign(KEYS[0], nonce=0, to=KEYS[1].address, value=1, gas=21_000).hex()


# --- tokens and scopes ------------------------------------------------------------------


def test_a_token_is_needed_and_its_scope_decides(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    tokens = TokenFile(home)
    reader, submitter = tokens.create("app", "read"), tokens.create("wallet", "submit")
    admin = tokens.create("ops", "admin")
    assert oct(os.stat(tokens.path).st_mode & 0o777) == "0o600"
    stored = tokens.path.read_text()
    assert reader not in stored and submitter not in stored  # hashed only
    with serving(tmp_path, home=home) as s:
        for token in (None, "cst_not-a-token"):
            answer = call(s.url, "eth_chainId", token=token)
            assert answer.status_code == 401
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert answer.json()["error"]["code"] == UNAUTHORIZED
        bad = httpx.post(s.url, json={}, headers={"Authorization": f"Basic {reader}"})
        assert bad.status_code == 401 and "malformed" in bad.json()["error"]["message"]
        assert httpx.get(s.url + "api/v1/status").status_code == 401
        assert httpx.get(s.url + "health").json()["ok"] is True  # open to probes

        assert call(s.url, "eth_chainId", token=reader).json()["result"]
        status = httpx.get(s.url + "api/v1/status", headers={"Authorization": f"Bearer {reader}"})
        assert status.status_code == 200
        refused = call(s.url, "eth_sendRawTransaction", raw_tx(), token=reader)
        assert refused.status_code == 403
        error = refused.json()["error"]
        assert error["code"] == FORBIDDEN and "'submit'" in error["message"]
        assert refused.json()["id"] == 7
        batch = httpx.post(s.url, json=[
            {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
            {"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction",
             "params": [raw_tx()]}], headers={"Authorization": f"Bearer {reader}"})
        assert batch.status_code == 403 and not s.engine.posts  # refused whole
        blob = httpx.put(s.url + "api/v1/forum/blobs/" + "00" * 32, content=b"x",
                         headers={"Authorization": f"Bearer {reader}"})
        assert blob.status_code == 403

        blob = httpx.put(s.url + "api/v1/forum/blobs/" + "00" * 32, content=b"x",
                         headers={"Authorization": f"Bearer {submitter}"})
        assert blob.status_code not in (401, 403)  # refused by the forum, not by auth
        sent = call(s.url, "eth_sendRawTransaction", raw_tx(), token=submitter)
        assert sent.status_code == 200 and sent.json()["result"].startswith("0x")
        assert len(s.engine.posts) == 1
        admin_call = call(s.url, "admin_peers", token=submitter)
        assert admin_call.status_code == 403 and "'admin'" in admin_call.text
        assert call(s.url, "admin_peers", token=admin).status_code == 200  # not found, allowed


def test_revoked_and_expired_tokens_are_refused_without_a_restart(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    tokens = TokenFile(home)
    secret = tokens.create("app", "read")
    with serving(tmp_path, home=home) as s:
        assert call(s.url, "eth_chainId", token=secret).status_code == 200
        assert cli(["api-token", "revoke", "app", "--home", str(home)]) == 0
        answer = call(s.url, "eth_chainId", token=secret)
        assert answer.status_code == 401 and "revoked" in answer.json()["error"]["message"]

        late = tokens.create("late", "read", expires_days=1)
        assert call(s.url, "eth_chainId", token=late).status_code == 200
        doc = json.loads(tokens.path.read_text())
        doc["tokens"][-1]["expires"] = "2020-01-01T00:00:00Z"
        tokens.path.write_text(json.dumps(doc))
        answer = call(s.url, "eth_chainId", token=late)
        assert answer.status_code == 401 and "expired" in answer.json()["error"]["message"]


def test_websocket_handshake_needs_a_token_and_messages_their_scope(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    reader = TokenFile(home).create("app", "read")
    with serving(tmp_path, home=home) as s:
        ws_url = s.url.replace("http", "ws")
        with pytest.raises(InvalidStatus) as refused:
            connect(ws_url, open_timeout=10)
        assert refused.value.response.status_code == 401
        with connect(ws_url, additional_headers={"Authorization": f"Bearer {reader}"},
                     open_timeout=10) as ws:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}))
            assert json.loads(ws.recv(timeout=10))["result"]
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 2, "method": "eth_sendRawTransaction",
                                "params": [raw_tx()]}))
            answer = json.loads(ws.recv(timeout=10))
            assert answer["id"] == 2 and answer["error"]["code"] == FORBIDDEN
        with connect(ws_url + f"?token={reader}", open_timeout=10) as ws:  # browsers
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 3, "method": "net_version"}))
            assert json.loads(ws.recv(timeout=10))["id"] == 3


def test_without_auth_everything_is_open_as_before(tmp_path: Path) -> None:
    with serving(tmp_path) as s:
        assert call(s.url, "eth_chainId").json()["result"]
        assert call(s.url, "eth_sendRawTransaction", raw_tx()).json()["result"].startswith("0x")
        with connect(s.url.replace("http", "ws"), open_timeout=10) as ws:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}))
            assert json.loads(ws.recv(timeout=10))["result"]


def test_cors_allows_only_the_listed_origins(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    with serving(tmp_path, home=home) as s:
        for origin, ok in ((ALLOWED, True), ("https://evil.example", False)):
            answer = httpx.options(s.url, headers={
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type"})
            assert (answer.status_code == 200) is ok
            assert (answer.headers.get("access-control-allow-origin") == origin) is ok


# --- the CLI ----------------------------------------------------------------------------


def test_token_cli_creates_lists_and_revokes(tmp_path: Path, capsys: Any) -> None:
    home = node_home(tmp_path)
    assert cli(["api-token", "create", "--home", str(home), "--scope", "submit",
                "--name", "wallet", "--expires", "30"]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("cst_") and len(secret) > 40
    assert cli(["api-token", "list", "--home", str(home), "--json"]) == 0
    listed = capsys.readouterr().out
    assert secret not in listed
    (row,) = json.loads(listed)
    assert row["name"] == "wallet" and row["scope"] == "submit" and row["state"] == "active"
    before = TokenFile(home).path.read_bytes()
    for args, named in ((["--scope", "write", "--name", "x"], "scope"),
                        (["--scope", "read", "--name", "wallet"], "exists already"),
                        (["--scope", "read", "--name", "bad name"], "token name"),
                        (["--scope", "read", "--name", "y", "--expires", "0"], "--expires")):
        assert cli(["api-token", "create", "--home", str(home), *args]) == 1
        err = capsys.readouterr().err
        assert named in err and err.count("\n") == 1
    assert TokenFile(home).path.read_bytes() == before
    assert cli(["api-token", "revoke", "nobody", "--home", str(home)]) == 1
    assert "no token named" in capsys.readouterr().err
    assert cli(["api-token", "list", "--home", str(tmp_path / "nowhere")]) == 1
    assert "not a node home" in capsys.readouterr().err
    assert sorted(p.name for p in home.iterdir()) == ["api-tokens.json", "consortium.toml"]


def test_tokens_created_at_once_are_all_kept(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    tokens = TokenFile(home)
    workers = [threading.Thread(target=tokens.create, args=(f"app{i}", "read"))
               for i in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert sorted(t.name for t in tokens.load()) == [f"app{i}" for i in range(8)]


# --- TLS --------------------------------------------------------------------------------


def test_https_with_the_consortium_ca_and_not_another(tmp_path: Path, capsys: Any) -> None:
    assert cli(["tls", "ca", "--out", str(tmp_path / "ca")]) == 0
    assert cli(["tls", "cert", "--ca", str(tmp_path / "ca"), "--name", "node0",
                "--host", "127.0.0.1", "--host", "node0.example",
                "--out", str(tmp_path / "certs")]) == 0
    make_ca(tmp_path / "other")
    cert, key = tmp_path / "certs" / "node0.pem", tmp_path / "certs" / "node0.key"
    assert oct(os.stat(key).st_mode & 0o777) == "0o600"
    check_signed_by(cert, tmp_path / "ca")
    with pytest.raises(ConfigError, match="not signed by the CA"):
        check_signed_by(cert, tmp_path / "other")
    home = node_home(tmp_path)
    token = TokenFile(home).create("app", "read")
    with serving(tmp_path, home=home, tls=(cert, key)) as s:
        context = ssl.create_default_context(cafile=str(tmp_path / "ca" / "ca.pem"))
        ok = call(s.url, "eth_chainId", token=token, verify=context)
        assert ok.status_code == 200 and ok.json()["result"]
        other = ssl.create_default_context(cafile=str(tmp_path / "other" / "ca.pem"))
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            call(s.url, "eth_chainId", token=token, verify=other)
        with pytest.raises(httpx.RemoteProtocolError):  # no plain HTTP beside HTTPS
            call(s.url.replace("https", "http"), "eth_chainId", token=token)
        with connect(s.url.replace("https", "wss"), ssl=context, open_timeout=10,
                     additional_headers={"Authorization": f"Bearer {token}"}) as ws:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}))
            assert json.loads(ws.recv(timeout=10))["result"]
        # the CLI and SDK take the token and the CA from the environment
        with pytest.MonkeyPatch.context() as env:
            env.setenv("CONSORTIUM_API_CA", str(tmp_path / "ca" / "ca.pem"))
            assert cli(["roles", "--rpc", s.url, "--json"]) != 0  # no token: 401
            assert "HTTP 401: unauthorized" in capsys.readouterr().err
            env.setenv("CONSORTIUM_API_TOKEN", token)
            assert cli(["roles", "--rpc", s.url, "--json"]) == 0
            env.setenv("CONSORTIUM_API_CA", str(tmp_path / "other" / "ca.pem"))
            assert cli(["roles", "--rpc", s.url, "--json"]) != 0  # another CA's trust
            env.setenv("CONSORTIUM_API_CA", str(tmp_path / "missing.pem"))
            assert cli(["roles", "--rpc", s.url, "--json"]) != 0


def test_client_certificates_of_the_ca_are_credentials_with_their_scope(
        tmp_path: Path) -> None:
    ca, other = tmp_path / "ca", tmp_path / "other"
    make_ca(ca)
    make_ca(other)
    certs = tmp_path / "certs"
    server = make_cert(ca, "node0", ["127.0.0.1"], certs)
    assert cli(["tls", "cert", "--ca", str(ca), "--name", "reader", "--client-scope", "read",
                "--out", str(certs)]) == 0
    writer = make_cert(ca, "writer", [], certs, client_scope="submit")
    with pytest.raises(ConfigError, match="^--client-scope must be one of read"):
        make_cert(ca, "root", [], certs, client_scope="superuser")  # the option's own name
    stranger = make_cert(other, "stranger", [], certs, client_scope="admin")
    node1 = make_cert(ca, "node1", ["127.0.0.1"], certs)  # a server's: not for clients

    def client(pair: tuple[Path, Path] | None) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=str(ca / "ca.pem"))
        if pair is not None:
            context.load_cert_chain(pair[1], pair[0])
        return context

    with serving(tmp_path, tls=(server[1], server[0]), client_ca=ca / "ca.pem") as s:
        reader = (certs / "reader.key", certs / "reader.pem")
        assert call(s.url, "eth_chainId", verify=client(reader)).json()["result"]
        refused = call(s.url, "eth_sendRawTransaction", raw_tx(), verify=client(reader))
        assert refused.status_code == 403 and refused.json()["error"]["code"] == FORBIDDEN
        sent = call(s.url, "eth_sendRawTransaction", raw_tx(), verify=client(writer))
        assert sent.status_code == 200 and sent.json()["result"].startswith("0x")
        for pair in (None, stranger, node1):  # the TLS handshake refuses them
            with pytest.raises(httpx.TransportError):
                call(s.url, "eth_chainId", verify=client(pair))
        with connect(s.url.replace("https", "wss"), ssl=client(reader), open_timeout=10) as ws:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_sendRawTransaction",
                                "params": [raw_tx()]}))
            assert json.loads(ws.recv(timeout=10))["error"]["code"] == FORBIDDEN


def test_a_client_certificate_grants_the_one_scope_it_names() -> None:
    def subject(*units: str) -> dict[str, Any]:
        return {"subject": ((("commonName", "app"),),
                            *((("organizationalUnitName", u),) for u in units))}

    assert scope_of_certificate(subject("submit")) == ("submit", "")
    for cert in (subject(), subject("root"), subject("read", "admin"), None):
        scope, why = scope_of_certificate(cert)
        assert scope is None and why


def test_bad_tls_material_is_refused_in_one_line(tmp_path: Path, capsys: Any) -> None:
    ca, other = make_ca(tmp_path / "ca"), make_ca(tmp_path / "other")
    key0, cert0 = make_cert(tmp_path / "ca", "node0", ["127.0.0.1"], tmp_path / "c")
    key1, _ = make_cert(tmp_path / "other", "node1", ["127.0.0.1"], tmp_path / "c")
    with pytest.raises(ConfigError, match="does not match"):
        check_server_files(cert0, key1)
    (tmp_path / "junk.pem").write_text("not a certificate")
    with pytest.raises(ConfigError, match="do not load"):
        check_server_files(tmp_path / "junk.pem", key0)
    with pytest.raises(ConfigError, match="does not exist"):
        check_server_files(tmp_path / "none.pem", key0)
    with pytest.raises(ConfigError, match="tls_client_ca .* is not a PEM CA"):
        check_server_files(cert0, key0, tmp_path / "junk.pem")
    check_server_files(cert0, key0, ca[1])
    # no overwrite, and no partial files
    assert cli(["tls", "ca", "--out", str(tmp_path / "ca")]) == 1
    assert "exists already" in capsys.readouterr().err
    assert ca[0].read_bytes() != other[0].read_bytes()
    assert cli(["tls", "cert", "--ca", str(tmp_path / "none"), "--name", "n",
                "--host", "h", "--out", str(tmp_path / "d")]) == 1
    assert "not a CA folder" in capsys.readouterr().err
    assert not (tmp_path / "d").exists()
    os.replace(other[0], ca[0])  # the CA's key is not its certificate's
    assert cli(["tls", "cert", "--ca", str(tmp_path / "ca"), "--name", "n",
                "--host", "h", "--out", str(tmp_path / "d")]) == 1
    assert "is not the key of" in capsys.readouterr().err
    assert not list((tmp_path / "c").glob(".*"))


# --- when auth is on ----------------------------------------------------------------------


def test_loopback_is_open_and_beyond_loopback_needs_auth_or_allow_open(tmp_path: Path) -> None:
    home = node_home(tmp_path)
    cfg = NodeConfig.load(home)
    assert cfg.api_access.mode(cfg.api_host) == "off"  # a home made by `consortium init`
    check_api_access(cfg)
    beyond = NodeConfig.load(node_home(tmp_path, 'host = "10.0.0.5"\n'))
    assert beyond.api_access.mode(beyond.api_host) == "token"  # the default beyond loopback
    check_api_access(beyond)
    node_home(tmp_path, 'host = "0.0.0.0"\nauth = "off"\n')
    with pytest.raises(ConfigError, match="allow_open"):
        check_api_access(NodeConfig.load(home))
    node_home(tmp_path, 'host = "0.0.0.0"\nauth = "off"\nallow_open = true\n')
    check_api_access(NodeConfig.load(home))
    for bad, named in (('auth = "jwt"', "api.auth"), ("allow_open = 1", "allow_open"),
                       ('tls_cert = "a.pem"', "go together"),
                       ('cors_origins = "*"', "cors_origins"),
                       ('auth = "mtls"', "needs api.tls_cert"),
                       ('tls_client_ca = "ca.pem"', "only with")):
        node_home(tmp_path, bad + "\n")
        with pytest.raises(ConfigError, match=named):
            NodeConfig.load(home)
    make_ca(tmp_path / "ca")
    key, cert = make_cert(tmp_path / "ca", "node0", ["127.0.0.1"], home)
    node_home(tmp_path, f'tls_cert = "{cert.name}"\ntls_key = "{key.name}"\n'
                        'cors_origins = ["https://a.example"]\n')
    cfg = NodeConfig.load(home)
    check_api_access(cfg)
    cfg.save()
    assert NodeConfig.load(home).api_access == cfg.api_access  # kept by save
    cfg = replace(cfg, api_access=replace(cfg.api_access, tls_key="node0.pem"))
    with pytest.raises(ConfigError, match="tls_cert"):
        check_api_access(cfg)
