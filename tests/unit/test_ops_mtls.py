"""A node whose API takes only client certificates (`auth = "mtls"`), against a real uvicorn
server (`api_server` with a client CA): `consortium up` sees it start (its /health probe has
no certificate to present), `down` says which folder to give, and the SDK (so every `--rpc`
command) presents `CONSORTIUM_API_CERT` / `CONSORTIUM_API_KEY`, or says to set them."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from web3.providers.rpc import rpc as web3_rpc

from consortium.api.http_server import api_server
from consortium.cli.main import main
from consortium.errors import ConfigError, NetworkError
from consortium.network import supervisor
from consortium.network.layout import Network, NodeEntry
from consortium.network.tls import make_ca, make_cert
from consortium.sdk.client import ConsortiumClient
from consortium.sdk.credentials import ApiCredentials
from tests.support.rpc_stub import rpc_app

pytestmark = pytest.mark.timeout(120)


class Files(SimpleNamespace):
    ca: Path
    cert: Path
    key: Path
    client_cert: Path
    client_key: Path


@pytest.fixture
def files(tmp_path: Path) -> Files:
    """A CA, the node's certificate (for 127.0.0.1) and a read client certificate."""
    _, ca = make_ca(tmp_path / "ca")
    key, cert = make_cert(tmp_path / "ca", "node0", ["127.0.0.1"], tmp_path / "tls")
    client_key, client_cert = make_cert(tmp_path / "ca", "reader", [], tmp_path / "client",
                                        client_scope="read")
    return Files(ca=ca, cert=cert, key=key, client_cert=client_cert, client_key=client_key)


@pytest.fixture
def mtls_server(files: Files) -> Iterator[int]:
    """`api_server` over `rpc_app` requiring a client certificate of the CA: its port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = int(sock.getsockname()[1])
    server = api_server(rpc_app, "127.0.0.1", port, tls_cert=str(files.cert),
                        tls_key=str(files.key), tls_client_ca=str(files.ca))
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])),
                              daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    yield port
    server.should_exit = True
    thread.join(30)
    sock.close()


def network_with(root: Path, api_port: int, api: str) -> tuple[Network, NodeEntry]:
    """A network folder of one node whose consortium.toml has `api` as its [api] table."""
    node = NodeEntry(name="node1", member="Bank B", home="nodes/node1", node_id="0" * 40,
                     validator_pub_key="", p2p_port=1, rpc_port=2, api_port=api_port)
    network = Network(root=root, chain_id="test", eth_chain_id=1, production=False,
                      nodes=[node])
    home = network.node_home(node)
    home.mkdir(parents=True)
    (home / "consortium.toml").write_text(
        f'[node]\nname = "node1"\nmember = "Bank B"\n\n[api]\nhost = "127.0.0.1"\n'
        f"port = {api_port}\n{api}\n")
    network.save()
    return network, node


def test_up_sees_an_mtls_node_start(tmp_path: Path, files: Files, mtls_server: int) -> None:
    """The probe has no client certificate: the node is up once its TLS listener completes
    a handshake (uvicorn listens only after the app started)."""
    api = (f'auth = "mtls"\ntls_cert = "{files.cert}"\ntls_key = "{files.key}"\n'
           f'tls_client_ca = "{files.ca}"')
    network, node = network_with(tmp_path / "net", mtls_server, api)
    assert supervisor.api_url_of(network, node) == f"https://127.0.0.1:{mtls_server}"
    assert supervisor._api_alive(network, node)
    # a port nothing listens on, and a listener that speaks no TLS, are not up
    with socket.socket() as plain:
        plain.bind(("127.0.0.1", 0))
        assert not supervisor._tls_listening(f"https://127.0.0.1:{plain.getsockname()[1]}")
        plain.listen()
        assert not supervisor._tls_listening(f"https://127.0.0.1:{plain.getsockname()[1]}",
                                             timeout=0.3)


def test_a_start_timeout_names_the_folder_down_needs(tmp_path: Path) -> None:
    network, node = network_with(tmp_path / "net", 1, "")
    proc = SimpleNamespace(poll=lambda: None)
    with pytest.raises(NetworkError, match=r"or stop it with `consortium down --dir "
                       rf"{tmp_path / 'net'} node1`$"):
        supervisor._wait_up(network, node, proc, 0.0, lambda _m: None)  # type: ignore[arg-type]


def test_down_says_which_folder_to_give(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    network_with(tmp_path / "net", 1, "")
    monkeypatch.chdir(tmp_path)  # no consortium-net here
    assert main(["down", "node1"]) == 1
    err = capsys.readouterr().err
    assert f"no network folder at {tmp_path / 'consortium-net'}" in err
    assert "give --dir NETWORK_FOLDER" in err
    assert "consortium down --dir NETWORK_FOLDER node1" in err
    # a node's own home: the network folder and the node to name
    assert main(["down", "--dir", "net/nodes/node1"]) == 1
    err = capsys.readouterr().err
    assert (f"is the home of node node1 of the network folder {tmp_path / 'net'}: stop it "
            f"with `consortium down --dir {tmp_path / 'net'} node1`") in err
    # which does stop nothing more than that node (it is not running here)
    assert main(["down", "--dir", "net", "node1"]) == 0


def test_the_sdk_presents_a_client_certificate(files: Files, mtls_server: int,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"https://127.0.0.1:{mtls_server}"
    monkeypatch.setenv("CONSORTIUM_API_CA", str(files.ca))
    monkeypatch.setenv("CONSORTIUM_API_CERT", str(files.client_cert))
    monkeypatch.setenv("CONSORTIUM_API_KEY", str(files.client_key))
    client = ConsortiumClient(url)  # from the environment, as every --rpc command
    assert client.credentials.client_cert == str(files.client_cert)
    assert client.chain_id == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # httpx deprecates `cert=`: the context carries it
        answer = httpx.post(url, json={"jsonrpc": "2.0", "id": 3, "method": "x"},
                            **client.http_options(url))
    assert answer.json()["result"] == "0x1"


def test_without_a_client_certificate_the_error_says_what_to_set(
        files: Files, mtls_server: int, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"https://127.0.0.1:{mtls_server}"
    monkeypatch.setattr(web3_rpc, "time", SimpleNamespace(sleep=lambda _s: None))
    for env in ("CONSORTIUM_API_CERT", "CONSORTIUM_API_KEY", "CONSORTIUM_API_TOKEN"):
        monkeypatch.delenv(env, raising=False)
    with pytest.raises(NetworkError) as refused:
        _ = ConsortiumClient(url, credentials=ApiCredentials(ca_cert=str(files.ca))).chain_id
    message = refused.value.message
    assert message.startswith(f"cannot reach {url}: the node closed the TLS connection")
    assert "asks for a client certificate" in message
    assert "set CONSORTIUM_API_CERT and CONSORTIUM_API_KEY" in message
    assert "EOF" not in message and "Max retries" not in message
    # a certificate of another CA: refused, and said so
    _, other_ca = make_ca(files.ca.parent.parent / "other")
    key, cert = make_cert(other_ca.parent, "stranger", [], files.ca.parent.parent / "o",
                          client_scope="read")
    stranger = ApiCredentials(ca_cert=str(files.ca), client_cert=str(cert), client_key=str(key))
    with pytest.raises(NetworkError, match=rf"refused the one in CONSORTIUM_API_CERT \({cert}\)"):
        _ = ConsortiumClient(url, credentials=stranger).chain_id


def test_client_certificate_settings_are_checked(files: Files,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONSORTIUM_API_CERT", raising=False)
    monkeypatch.setenv("CONSORTIUM_API_KEY", str(files.client_key))
    with pytest.raises(ConfigError, match="CONSORTIUM_API_KEY is set but CONSORTIUM_API_CERT"):
        ApiCredentials.from_env()
    monkeypatch.setenv("CONSORTIUM_API_CERT", str(files.client_cert) + ".missing")
    with pytest.raises(ConfigError, match=r"CONSORTIUM_API_CERT: .*\.missing does not exist"):
        ApiCredentials.from_env()
    monkeypatch.setenv("CONSORTIUM_API_CERT", str(files.cert))  # the node's, not this key's
    with pytest.raises(ConfigError, match="the key does not match the certificate"):
        ApiCredentials.from_env()
    # the key in the certificate's own file
    both = files.client_cert.parent / "both.pem"
    both.write_bytes(files.client_cert.read_bytes() + files.client_key.read_bytes())
    monkeypatch.setenv("CONSORTIUM_API_CERT", str(both))
    monkeypatch.delenv("CONSORTIUM_API_KEY")
    assert ApiCredentials.from_env().cert() == str(both)
    assert json.dumps(ApiCredentials().cert()) == "null"


def test_status_credentials_carry_the_client_certificate(
    files: Files, mtls_server: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`consortium status` asks an mTLS node's /metrics with CONSORTIUM_API_CERT/KEY (without
    them the node closes the handshake and the figures stay empty); a certificate that does
    not load is named."""
    import contextlib
    import ssl

    from consortium.network.health import Credentials

    monkeypatch.setenv("CONSORTIUM_API_CA", str(files.ca))
    bare = Credentials.from_env()
    monkeypatch.setenv("CONSORTIUM_API_CERT", str(files.client_cert))
    monkeypatch.setenv("CONSORTIUM_API_KEY", str(files.client_key))
    with_cert = Credentials.from_env()

    def handshake(context: ssl.SSLContext) -> bytes:
        with socket.create_connection(("127.0.0.1", mtls_server), timeout=10) as raw, \
                context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            return tls.recv(64)

    assert isinstance(with_cert.verify, ssl.SSLContext)
    assert handshake(with_cert.verify).startswith(b"HTTP/1.1 ")
    assert isinstance(bare.verify, ssl.SSLContext)
    # without a certificate the node closes the connection: no answer
    with contextlib.suppress(ssl.SSLError, ConnectionError):
        assert handshake(bare.verify) == b""
    monkeypatch.setenv("CONSORTIUM_API_CERT", str(files.ca.parent / "missing.pem"))
    with pytest.raises(ConfigError, match="CONSORTIUM_API_CERT .*missing.pem"):
        Credentials.from_env()
