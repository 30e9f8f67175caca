"""Issue 3, "must show" 5: bad input gives one clear line, a non-zero exit, and no damage."""

from __future__ import annotations

import errno
import hashlib
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from consortium.network.init import init_network
from tests.support.localnet import free_base_port

CLI = [sys.executable, "-m", "consortium.cli.main"]


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CLI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def tree_digest(root: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name not in ("node.log",):
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def one_error_line(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode != 0
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, f"expected one error line, got: {proc.stderr!r}"
    assert lines[0].startswith("error: ")
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.fixture
def net_dir(tmp_path: Path) -> Path:
    base = free_base_port()
    init_network(tmp_path / "net", validators=2, base_port=base, api_port=base + 90)
    return tmp_path / "net"


def test_unknown_cli_option():
    proc = run("status", "--no-such-flag")
    assert proc.returncode == 2
    one_error_line(proc, "--no-such-flag")


def test_malformed_node_config(net_dir: Path):
    home = net_dir / "nodes" / "node0"
    (home / "consortium.toml").write_text("[node\nname = ")
    before = tree_digest(net_dir)
    proc = run("node", "--home", str(home))
    one_error_line(proc, "consortium.toml", "not valid TOML")
    assert tree_digest(net_dir) == before


def test_malformed_engine_config(net_dir: Path):
    home = net_dir / "nodes" / "node1"
    cfg = home / "config" / "config.toml"
    cfg.write_text(cfg.read_text().replace('laddr = "tcp://127.0.0.1:', 'laddr = "tcp://nowhere'))
    before = tree_digest(net_dir)
    proc = run("up", "--dir", str(net_dir))
    one_error_line(proc, "laddr")
    assert tree_digest(net_dir) == before


def test_occupied_port(net_dir: Path):
    import json

    api_port = json.loads((net_dir / "network.json").read_text())["nodes"][0]["api_port"]
    before = tree_digest(net_dir)
    with socket.socket() as blocker:
        # as the node's own check binds (SO_REUSEADDR): without it, an earlier test's
        # connections to this port in TIME_WAIT refused the blocker, and the port was free
        # again for `up` (CI at 91ead35)
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            blocker.bind(("127.0.0.1", api_port))
            blocker.listen()
        except OSError as exc:  # another process listens there: occupied all the same
            assert exc.errno == errno.EADDRINUSE, exc
        proc = run("up", "--dir", str(net_dir))
    one_error_line(proc, f"port {api_port}", "in use")
    assert tree_digest(net_dir) == before


def test_missing_engine_binary(net_dir: Path, tmp_path: Path):
    before = tree_digest(net_dir)
    proc = run("up", "--dir", str(net_dir), env={"CONSORTIUM_COMETBFT": str(tmp_path / "nope")})
    one_error_line(proc, "CometBFT engine not found", "consortium engine install")
    assert tree_digest(net_dir) == before


def test_existing_dir_needs_force(net_dir: Path):
    before = tree_digest(net_dir)
    proc = run("init", "--dir", str(net_dir), "--validators", "1")
    one_error_line(proc, "already exists", "--force")
    assert tree_digest(net_dir) == before


def test_malformed_genesis_app_state_is_refused(net_dir: Path):
    from consortium.errors import ConfigError
    from consortium.ledger.genesis import AppState

    with pytest.raises(ConfigError, match="members"):
        AppState.from_json({"members": []})
    with pytest.raises(ConfigError, match=r"accounts.*not a 20-byte"):
        AppState.from_json({"members": [{"name": "A", "accounts": ["0x12"]}]})


def test_missing_go_for_engine_install(tmp_path: Path):
    proc = run(
        "engine",
        "install",
        env={"PATH": str(tmp_path), "CONSORTIUM_ENGINE_DIR": str(tmp_path / "engine")},
    )
    one_error_line(proc, "Go is not installed", "1.22")
    assert not (tmp_path / "engine").exists()


def test_up_that_fails_on_one_node_leaves_none_running(net_dir: Path):
    """node1's genesis is broken (a file the preflight finds, which its engine cannot read):
    `consortium up` names node1, and node0, started beside it, is stopped again."""
    import psutil

    from consortium.network.layout import Network
    from consortium.network.supervisor import node_pid

    network = Network.load(net_dir)
    node1 = network.node_home(network.node("node1"))
    (node1 / "config" / "genesis.json").write_text("{")
    proc = run("up", "--dir", str(net_dir))
    assert proc.returncode != 0
    *progress, error = proc.stderr.strip().splitlines()
    assert error.startswith("error: node1 exited") and "error reading GenesisDoc" in error, error
    assert "· stopping node0 again" in progress, progress
    assert all(node_pid(network.node_home(n)) is None for n in network.nodes)
    homes = [str(network.node_home(n)) for n in network.nodes]
    left = [p for p in psutil.process_iter(["cmdline"])
            if any(h in " ".join(p.info["cmdline"] or []) for h in homes)]
    assert not left, left
