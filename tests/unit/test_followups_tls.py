"""TLS on the API, against a real uvicorn server (`api_server`) on a free port: stopping it
is prompt with an idle keep-alive client, a client refused by the node's certificate says so
at once (web3 retried that about five times), and httpx gets the CA as an SSL context (a
file path there is deprecated)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
from web3.providers.rpc import rpc as web3_rpc

from consortium.api.http_server import api_server
from consortium.errors import NetworkError
from consortium.network.tls import make_ca, make_cert
from consortium.sdk.client import ConsortiumClient
from consortium.sdk.credentials import ApiCredentials
from tests.support.rpc_stub import rpc_app

pytestmark = pytest.mark.timeout(120)


class Served:
    """`api_server` over `rpc_app` in a thread, with TLS when given (certificate, key)."""

    def __init__(self, tls: tuple[Path, Path] | None) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        port = self.sock.getsockname()[1]
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{port}"
        self.server = api_server(rpc_app, "127.0.0.1", port,
                                 tls_cert=str(tls[0]) if tls else None,
                                 tls_key=str(tls[1]) if tls else None)
        self.thread = threading.Thread(
            target=lambda: asyncio.run(self.server.serve(sockets=[self.sock])), daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.02)

    def stop(self, wait: float = 60) -> float:
        """Stop the server: the seconds it took."""
        start = time.monotonic()
        self.server.should_exit = True
        self.thread.join(wait)
        took = time.monotonic() - start
        self.sock.close()
        return took


@contextmanager
def serving(tls: tuple[Path, Path] | None = None) -> Iterator[Served]:
    served = Served(tls)
    try:
        yield served
    finally:
        if served.thread.is_alive():
            served.stop()


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, tuple[Path, Path]]:
    """A consortium CA's certificate, and a node certificate (cert, key) for 127.0.0.1."""
    _, ca_pem = make_ca(tmp_path / "ca")
    key, cert = make_cert(tmp_path / "ca", "node0", ["127.0.0.1"], tmp_path / "tls")
    return ca_pem, (cert, key)


def test_a_tls_server_stops_promptly_with_an_idle_keep_alive_client(
        tls_files: tuple[Path, tuple[Path, Path]]) -> None:
    """The client keeps its connection after an answer and does not read: asyncio would
    wait 30 s for its TLS close_notify before the server could stop."""
    ca_pem, tls = tls_files
    with serving(tls) as served:
        port = int(served.url.rsplit(":", 1)[1])
        context = ssl.create_default_context(cafile=str(ca_pem))
        with context.wrap_socket(socket.create_connection(("127.0.0.1", port)),
                                 server_hostname="127.0.0.1") as idle:
            idle.sendall(b"GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n")
            assert idle.recv(4096).startswith(b"HTTP/1.1 200")
            took = served.stop()
            assert not served.thread.is_alive()
            assert took < 5, f"the TLS server took {took:.1f} s to stop"


def test_a_client_refused_by_the_certificate_says_so_at_once(
        tls_files: tuple[Path, tuple[Path, Path]], monkeypatch: pytest.MonkeyPatch) -> None:
    """Neither retried nor waited for: a certificate of a CA the client does not trust, or
    https to a port without TLS; a port nothing listens on is still retried."""
    monkeypatch.delenv("CONSORTIUM_API_CA", raising=False)
    ca_pem, tls = tls_files
    sleeps: list[float] = []
    # web3's back-off between retries, counted and not waited for
    monkeypatch.setattr(web3_rpc, "time", SimpleNamespace(sleep=sleeps.append))
    with serving(tls) as served:
        start = time.monotonic()
        with pytest.raises(NetworkError, match=r"its TLS certificate is refused \(unable to "
                           r"get local issuer certificate\); set CONSORTIUM_API_CA to the "
                           "consortium's CA certificate file"):
            _ = ConsortiumClient(served.url, credentials=ApiCredentials()).chain_id
        assert time.monotonic() - start < 1 and sleeps == []
        trusted = ApiCredentials(ca_cert=str(ca_pem))
        assert ConsortiumClient(served.url, credentials=trusted).chain_id == 1

    with serving() as plain:
        https = "https" + plain.url.removeprefix("http")
        with pytest.raises(NetworkError, match="does not answer TLS there"):
            _ = ConsortiumClient(https, credentials=ApiCredentials()).chain_id
        assert sleeps == []

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        url = f"https://127.0.0.1:{unused.getsockname()[1]}"  # bound, not listening
        with pytest.raises(NetworkError, match="cannot reach"):
            _ = ConsortiumClient(url, credentials=ApiCredentials()).chain_id
    assert len(sleeps) == 4  # five tries


def test_httpx_gets_the_ca_as_an_ssl_context(
        tls_files: tuple[Path, tuple[Path, Path]]) -> None:
    ca_pem, tls = tls_files
    credentials = ApiCredentials(ca_cert=str(ca_pem))
    assert isinstance(credentials.verify(), ssl.SSLContext)
    assert ApiCredentials().verify() is True  # httpx's own CAs, as before
    with serving(tls) as served:
        client = ConsortiumClient(served.url, credentials=credentials)
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # httpx: "`verify=<str>` is deprecated"
            answer = httpx.post(served.url, json={"jsonrpc": "2.0", "id": 7, "method": "x"},
                                **client.http_options(served.url))
        assert answer.json()["result"] == "0x1"
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.post(served.url, json={}, verify=ApiCredentials(
                ca_cert=str(make_ca(ca_pem.parent.parent / "other-ca")[1])).verify())
