"""`consortium join`: a new institution's node home, account and what its admission needs."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import pytest
from eth_account import Account

from consortium.cli.main import main
from consortium.errors import ConfigError, NetworkError
from consortium.network.join import join_network, parse_peer
from consortium.network.layout import Network
from tests.support.governance_testkit import governed_state

PEER = "ab" * 20 + "@127.0.0.1:26656"


@pytest.fixture
def genesis(tmp_path: Path) -> Path:
    path = tmp_path / "genesis.json"
    doc = {
        "chain_id": "consortium-test",
        "initial_height": "1",
        "validators": [],
        "app_state": governed_state().to_json(),
    }
    path.write_text(json.dumps(doc))
    return path


def test_join_writes_a_node_home_and_an_account(tmp_path: Path, genesis: Path) -> None:
    result = join_network(
        tmp_path / "bank-e", genesis_file=genesis, peer=PEER, name="Bank E", password="secret"
    )
    network = Network.load(tmp_path / "bank-e")
    (node,) = network.nodes
    assert network.chain_id == "consortium-test" and network.members[0].name == "Bank E"
    assert node.node_id == result.node_id and len(result.node_id) == 40
    home = network.node_home(node)
    config = tomllib.loads((home / "config" / "config.toml").read_text())
    assert config["filter_peers"] is True
    assert config["p2p"]["persistent_peers"] == PEER
    assert config["p2p"]["laddr"] == f"tcp://127.0.0.1:{node.p2p_port}"
    assert (home / "config" / "genesis.json").read_text() == genesis.read_text()
    key = json.loads((home / "config" / "priv_validator_key.json").read_text())
    assert result.validator_pub_key == key["pub_key"]["value"]
    assert result.validator_address == key["address"]
    keystore = json.loads(Path(result.keystore).read_text())
    assert Account.from_key(Account.decrypt(keystore, "secret")).address.lower() == result.account


def test_join_from_the_cli_across_machines(
    tmp_path: Path, genesis: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pw").write_text("")
    code = main(
        [
            "join",
            "--genesis",
            str(genesis),
            "--peer",
            "cd" * 20 + "@10.1.2.3:26656",
            "--dir",
            str(tmp_path / "e"),
            "--name",
            "Bank E",
            "--password-file",
            str(tmp_path / "pw"),
            "--external-address",
            "198.51.100.7:26656",
            "--json",
        ]
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    result = json.loads(out.out)
    home = Path(result["home"])
    p2p = tomllib.loads((home / "config" / "config.toml").read_text())["p2p"]
    assert p2p["laddr"].startswith("tcp://0.0.0.0:")
    assert p2p["external_address"] == "198.51.100.7:26656"
    code = main(
        [
            "join",
            "--genesis",
            str(genesis),
            "--peer",
            PEER,
            "--dir",
            str(tmp_path / "f"),
            "--name",
            "Bank F",
            "--password-file",
            str(tmp_path / "pw"),
        ]
    )
    out = capsys.readouterr()
    assert code == 0 and "node id" in out.out and "consortium propose admit-member" in out.out


def test_join_refusals(tmp_path: Path, genesis: Path) -> None:
    with pytest.raises(ConfigError, match="NODE_ID@HOST:PORT"):
        parse_peer("abc@host:1")
    with pytest.raises(ConfigError, match="already has a member named 'Bank A'"):
        join_network(tmp_path / "x", genesis_file=genesis, peer=PEER, name="bank a")
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "file").write_text("")
    with pytest.raises(NetworkError, match="already exists"):
        join_network(tmp_path / "taken", genesis_file=genesis, peer=PEER, name="Bank E")
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a consortium genesis"):
        join_network(tmp_path / "y", genesis_file=tmp_path / "bad.json", peer=PEER, name="E")
    assert parse_peer(PEER.upper().replace("@127.0.0.1", "@127.0.0.1")).node_id == "ab" * 20
