"""A node whose API serves TLS with token auth (a pilot's setup, as docs/api-access.md and
operations.md describe it), run by the CLI as an operator runs it:

- `consortium status` shows the node's real API URL (https) and, given
  CONSORTIUM_API_TOKEN and CONSORTIUM_API_CA, its refusals, LMDB size and snapshot;
- `--from NAME` with a wrong --password-file names the keystore and the wrong password,
  and a member with no keystore in --dir is named as such;
- a client that does not trust the node's CA, or dials http://, is told what to set;
- `consortium node --home` on the running home says it is running (pid), not that its
  ports are taken."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomlkit

from consortium.api.auth import TokenFile
from consortium.network import supervisor
from consortium.network.tls import make_ca, make_cert
from tests.support.localnet import LocalNet

CLI = [sys.executable, "-m", "consortium.cli.main"]
CREDENTIALS = ("CONSORTIUM_API_TOKEN", "CONSORTIUM_API_CA")


@dataclass
class TlsNode:
    net: LocalNet
    home: Path
    url: str  # https://127.0.0.1:<api port>
    token: str  # a read token
    ca: Path  # the consortium CA's certificate

    def run(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """The CLI with only the credentials in `env` (none inherited), on a wide terminal."""
        base = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
        return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180,
                              env={**base, "COLUMNS": "200", **env})

    def with_credentials(self) -> dict[str, str]:
        return {"CONSORTIUM_API_TOKEN": self.token, "CONSORTIUM_API_CA": str(self.ca)}


def one_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ") and proc.stderr.count("\n") == 1, proc.stderr
    return proc.stderr.strip()


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsNode]:
    root = tmp_path_factory.mktemp("tls") / "net"
    net = LocalNet(root, validators=1, members=["Bank A"])
    try:
        home = net.network.node_home(net.node("node0"))
        make_ca(root.parent / "ca")
        make_cert(root.parent / "ca", "node0", ["127.0.0.1"], home / "tls")
        config = home / "consortium.toml"
        doc = tomlkit.parse(config.read_text())
        api = doc["api"]
        assert isinstance(api, dict)
        api.update({"auth": "token", "tls_cert": "tls/node0.pem", "tls_key": "tls/node0.key"})
        config.write_text(tomlkit.dumps(doc))
        token = TokenFile(home).create("ops", "read")
        net.up()
        net.wait_height(2)
        yield TlsNode(net, home, f"https://127.0.0.1:{net.node('node0').api_port}", token,
                      root.parent / "ca" / "ca.pem")
    finally:
        net.cleanup()


def test_status_reads_the_tls_api_with_the_token_and_ca(node: TlsNode) -> None:
    proc = node.run("status", "--dir", str(node.net.root), "--json", **node.with_credentials())
    assert proc.returncode == 0, proc.stderr
    (shown,) = json.loads(proc.stdout)["nodes"]
    assert shown["api_url"] == node.url
    assert shown["refused"] == 0 and shown["lmdb_bytes"] > 0
    assert shown["snapshot_height"] == 0  # (none yet: the gauge reads 0)
    table = node.run("status", "--dir", str(node.net.root), **node.with_credentials())
    assert table.returncode == 0 and node.url in table.stdout, table.stdout
    # without the consortium's CA the certificate is not trusted: those figures stay empty
    proc = node.run("status", "--dir", str(node.net.root), "--json",
                    CONSORTIUM_API_TOKEN=node.token)
    (shown,) = json.loads(proc.stdout)["nodes"]
    assert shown["height"] >= 2 and shown["api_url"] == node.url
    assert (shown["refused"], shown["lmdb_bytes"], shown["snapshot_height"]) == (None,) * 3
    # a CA file that is not there is named
    missing = node.ca.parent / "nope.pem"
    assert one_error(node.run("status", "--dir", str(node.net.root),
                              CONSORTIUM_API_CA=str(missing))) == (
        f"error: CONSORTIUM_API_CA: the CA certificate {missing} does not exist")


def test_a_wrong_password_for_from_names_the_keystore(node: TlsNode, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong.pw"
    wrong.write_text("not the password\n")
    keystore = node.net.root / "keystores" / "bank-a.json"
    assert keystore.is_file()
    proc = node.run("vote", "1", "yes", "--from", "Bank A", "--dir", str(node.net.root),
                    "--password-file", str(wrong), **node.with_credentials())
    assert one_error(proc) == f"error: wrong password for keystore {keystore}"
    # a member the chain knows, whose keystore is not in --dir: that is what is said
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    proc = node.run("vote", "1", "yes", "--from", "Bank A", "--dir", str(elsewhere),
                    "--rpc", node.url, "--password-file", str(wrong),
                    **node.with_credentials())
    account = json.loads((node.net.root / "network.json").read_text())["members"][0]["address"]
    assert one_error(proc).startswith(
        f"error: --from 'Bank A' is the member with account {account.lower()} on chain, but "
        f"no keystore for it is in {elsewhere}: give --from with its keystore file")


def test_tls_client_errors_say_what_to_set(node: TlsNode) -> None:
    proc = node.run("proposals", "--rpc", node.url, CONSORTIUM_API_TOKEN=node.token)
    assert one_error(proc) == (
        f"error: cannot reach {node.url}: its TLS certificate is refused (unable to get local "
        "issuer certificate); set CONSORTIUM_API_CA to the consortium's CA certificate file "
        "(the ca.pem of `consortium tls ca`)")
    plain = node.url.replace("https://", "http://")
    proc = node.run("proposals", "--rpc", plain, **node.with_credentials())
    assert one_error(proc) == (
        f"error: cannot reach {plain}: the node closed the connection without an answer; if "
        f"its API serves TLS (tls_cert in its consortium.toml), use {node.url}")
    # with both set, the same command answers
    proc = node.run("proposals", "--rpc", node.url, "--json", **node.with_credentials())
    assert proc.returncode == 0 and json.loads(proc.stdout) == [], proc.stderr


def test_node_on_a_running_home_says_it_is_running(node: TlsNode) -> None:
    pid = supervisor.node_pid(node.home)
    assert pid is not None
    proc = node.run("node", "--home", str(node.home))
    assert one_error(proc) == (
        f"error: node0 is already running (pid {pid}); stop it first with "
        f"`consortium down --dir {node.net.root} node0`")
    assert supervisor.node_pid(node.home) == pid  # and it runs on
