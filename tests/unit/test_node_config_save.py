"""`NodeConfig.save` changes only what changed: a command that saves a node's
consortium.toml (`consortium key open` naming the key file, `node setup` adding TLS) must not
erase the operator's other settings or comments (a key or section this software does not
know is refused when the file is loaded: tests/unit/test_operator_faults.py)."""

from __future__ import annotations

import dataclasses
import difflib
from pathlib import Path

import pytest

from consortium.api.auth import ApiAccess
from consortium.api.http_server import ApiLimits
from consortium.api.rate_limits import ClientLimits
from consortium.api.read_gate import ReadLimits
from consortium.errors import ConfigError
from consortium.network.node_config import CONFIG_FILE, NodeConfig

OPERATORS_FILE = """\
# Bank A's node, edited by hand: keep this comment
[node]
name = "bank-a"
member = "Bank A"

[api]
host = "0.0.0.0"   # every address, behind the bank's firewall
port = 8545
auth = "mtls"
tls_cert = "tls/node.pem"
tls_key = "tls/node.key"
tls_client_ca = "tls/clients-ca.pem"
cors_origins = ["https://console.bank-a.example"]
max_connections = 50
call_timeout = 3
requests_per_second_per_client = 20

[metrics]
listen = "0.0.0.0:9464"  # Prometheus
# [ops] owner = "infra team"
"""


def _changes(before: str, after: str) -> list[str]:
    return [line for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                                  lineterm="", n=0)
            if line[:1] in "+-" and not line.startswith(("+++", "---"))]


@pytest.fixture
def home(tmp_path: Path) -> Path:
    (tmp_path / CONFIG_FILE).write_text(OPERATORS_FILE)
    return tmp_path


def test_saving_keeps_every_setting_and_comment_it_does_not_change(home: Path) -> None:
    path = home / CONFIG_FILE
    cfg = NodeConfig.load(home)
    dataclasses.replace(cfg, consortium_key_file="consortium.key").save()  # as `key open`
    assert path.read_text() == OPERATORS_FILE + '\n[consortium]\nkey_file = "consortium.key"\n'

    before = path.read_text()
    dataclasses.replace(NodeConfig.load(home), api_port=9545).save()
    assert _changes(before, path.read_text()) == ["-port = 8545", "+port = 9545"]

    before = path.read_text()
    dataclasses.replace(NodeConfig.load(home), metrics_listen=None,
                        console_enabled=False).save()
    assert _changes(before, path.read_text()) == [
        '-listen = "0.0.0.0:9464"  # Prometheus', "+", "+[console]", "+enabled = false"]
    cfg = NodeConfig.load(home)
    assert (cfg.api_access.tls_client_ca, cfg.api_limits.max_connections,
            cfg.read_limits.call_timeout, cfg.client_limits.requests_per_second_per_client
            ) == ("tls/clients-ca.pem", 50, 3.0, 20)


def test_a_new_file_holds_every_setting_that_is_not_the_default(tmp_path: Path) -> None:
    cfg = NodeConfig(
        home=tmp_path, name="bank-b", member="Bank B", api_host="10.0.0.2", api_port=8600,
        engine="py-evm", log_level="debug", consortium_key_file="consortium.key",
        api_limits=ApiLimits(max_connections=9, keep_alive_timeout=2.5),
        read_limits=ReadLimits(call_timeout=4.0), client_limits=ClientLimits(
            requests_per_second_per_client=7),
        api_access=ApiAccess(auth="mtls", tls_cert="tls/n.pem", tls_key="tls/n.key",
                             cors_origins=("https://a.example",),
                             tls_client_ca="tls/ca.pem"),
        metrics_listen=("::1", 9464), console_enabled=False)
    cfg.save()
    assert NodeConfig.load(tmp_path) == cfg


def test_a_file_that_does_not_load_is_named_not_overwritten(home: Path) -> None:
    cfg = NodeConfig.load(home)
    broken = OPERATORS_FILE.replace('member = "Bank A"', 'member = ""')
    (home / CONFIG_FILE).write_text(broken)
    with pytest.raises(ConfigError, match=f"{CONFIG_FILE}: member must be a non-empty string"):
        dataclasses.replace(cfg, consortium_key_file="consortium.key").save()
    assert (home / CONFIG_FILE).read_text() == broken
