"""The joining side of state sync without a network: settings, CometBFT's [statesync], and
the errors for a trusted node that cannot give a trust."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
import tomlkit

from consortium.errors import ConfigError, NetworkError
from consortium.ledger.ledger import Ledger
from consortium.network.state_sync import (
    JoinSettings,
    Trust,
    fetch_trust,
    ledger_is_empty,
    prepare_state_sync,
    write_statesync,
)
from tests.support.ledger_testkit import new_ledger


def _home(tmp_path: Path) -> Path:
    (tmp_path / "config").mkdir()
    doc = tomlkit.document()
    doc["moniker"] = "n"
    section = tomlkit.table()
    section["enable"] = False
    section["rpc_servers"] = ""
    section["trust_height"] = 0
    section["trust_hash"] = ""
    section["trust_period"] = "168h0m0s"
    doc["statesync"] = section
    (tmp_path / "config" / "config.toml").write_text(tomlkit.dumps(doc))
    (tmp_path / "consortium.toml").write_text('[node]\nname = "n"\nmember = "Bank A"\n')
    return tmp_path


def test_statesync_is_written_into_cometbft_config(tmp_path: Path) -> None:
    home = _home(tmp_path)
    write_statesync(home, Trust(("http://a:1", "http://a:1"), 1234, "AB" * 32, (1000,)))
    got = tomllib.loads((home / "config" / "config.toml").read_text())
    assert got["moniker"] == "n"
    assert got["statesync"] == {
        "enable": True, "rpc_servers": "http://a:1,http://a:1", "trust_height": 1234,
        "trust_hash": "AB" * 32, "trust_period": "168h0m0s", "discovery_time": "5s"}


def test_join_settings_round_trip_and_refusals(tmp_path: Path) -> None:
    home = _home(tmp_path)
    assert JoinSettings.load(home) == JoinSettings()
    JoinSettings(True, ("http://a:1",)).save(home)
    assert JoinSettings.load(home) == JoinSettings(True, ("http://a:1",))
    assert tomllib.loads((home / "consortium.toml").read_text())["node"]["name"] == "n"
    (home / "consortium.toml").write_text("[state_sync]\nenable = true\n")
    with pytest.raises(ConfigError, match="state_sync.enable needs state_sync.rpc_servers"):
        JoinSettings.load(home)


def test_an_unreachable_trusted_node_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(NetworkError, match="RPC at http://127.0.0.1:9 is unreachable"):
        fetch_trust(["http://127.0.0.1:9"])
    with pytest.raises(ConfigError, match="must be an http:// or https:// URL"):
        fetch_trust(["127.0.0.1:26657"])
    home = _home(tmp_path)
    JoinSettings(True, ("http://127.0.0.1:9",)).save(home)
    with pytest.raises(NetworkError, match="unreachable"):
        prepare_state_sync(home, home / "app")


def test_only_an_empty_ledger_state_syncs(tmp_path: Path) -> None:
    home = _home(tmp_path)
    assert ledger_is_empty(home / "app")
    Ledger(home / "app").close()
    assert ledger_is_empty(home / "app")
    new_ledger(home / "app2").close()
    assert not ledger_is_empty(home / "app2")
    # enabled but with state: nothing fetched (the unreachable server is never asked)
    JoinSettings(True, ("http://127.0.0.1:9",)).save(home)
    assert prepare_state_sync(home, home / "app2") is None
