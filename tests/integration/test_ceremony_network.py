"""Issue 18: a four-member key ceremony run with the CLI in five separate folders (four
members' hosts and the coordinator's), only cards, the genesis, peers.txt and each member's
own envelope passing between them; the four nodes, set up on loopback, commit and agree, and
the consortium key each decrypted is the same."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from consortium.network import supervisor
from consortium.network.init import _PortPicker
from consortium.network.layout import Network
from tests.support.localnet import free_base_port, wait_for

CLI = [sys.executable, "-m", "consortium.cli.main"]
NAMES = ("Bank A", "Bank B", "Bank C", "Bank D")
SECRET_FILES = ("node_key.json", "priv_validator_key.json", "account.json",
                "encryption_key.json")


def cli(*args: str) -> str:
    proc = subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=180)
    assert proc.returncode == 0, f"consortium {args[0]} failed: {proc.stderr}"
    return proc.stdout


def send(path: Path, to: Path) -> Path:
    """Hand a file to another host (here: copy it into that host's inbox)."""
    to.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(path, to / path.name))


@pytest.fixture
def hosts(tmp_path: Path) -> Iterator[dict[str, Path]]:
    folders = {name: tmp_path / f"host-{i}" for i, name in enumerate(NAMES)}
    for folder in folders.values():
        folder.mkdir()
    yield folders
    for folder in folders.values():
        home = folder / "home"
        if not (home / "network.json").is_file():
            continue
        network = Network.load(home)
        try:
            supervisor.down(network)
        finally:
            pid = supervisor.node_pid(home)
            if pid is not None:
                os.killpg(os.getpgid(pid), signal.SIGKILL)


def _rpc(port: int, path: str, **params: object) -> dict[str, object]:
    result = httpx.get(f"http://127.0.0.1:{port}/{path}", params=params, timeout=5).json()
    return dict(result["result"])


def _height(port: int) -> int:
    try:
        return int(_rpc(port, "status")["sync_info"]["latest_block_height"])  # type: ignore[index]
    except (httpx.HTTPError, KeyError, ValueError):
        return -1


@pytest.mark.slow
def test_four_members_ceremony_commits_with_one_consortium_key(
    tmp_path: Path, hosts: dict[str, Path]
) -> None:
    coordinator = tmp_path / "coordinator"
    picker = _PortPicker()
    base = free_base_port()
    ports = {
        name: {what: picker.pick(base + 10 * i + j) for j, what in enumerate(("p2p", "rpc", "api"))}
        for i, name in enumerate(NAMES)
    }

    # 1. Each member on its own host: keys and a card; only the card leaves.
    for name, host in hosts.items():
        (host / "pw").write_text(f"password of {name}")
        card = json.loads(cli(
            "keygen", "--name", name, "--out", str(host / "keys"),
            "--external", f"127.0.0.1:{ports[name]['p2p']}",
            "--password-file", str(host / "pw"), "--json",
        ))
        assert card["name"] == name
        send(host / "keys" / "card.json", coordinator / "inbox" / name.replace(" ", "-"))

    # 2. The coordinator: the genesis from the cards, one envelope per member.
    cards = sorted((coordinator / "inbox").rglob("card.json"))
    result = json.loads(cli(
        "genesis", *(x for c in cards for x in ("--card", str(c))), "--chain-id", "ceremony-1",
        "--timeout-commit", "300ms", "--out", str(coordinator / "out"), "--json",
    ))
    announced = result["genesis_sha256"]
    assert not list(coordinator.rglob("consortium.key"))

    # 3. Each member: its node home from the genesis, the announced hash and its envelope.
    for name, host in hosts.items():
        inbox = host / "inbox"
        genesis = send(coordinator / "out" / "genesis.json", inbox)
        peers = send(coordinator / "out" / "peers.txt", inbox)
        envelope = send(Path(result["envelopes"][name]), inbox)
        cli(
            "node", "setup", "--genesis", str(genesis), "--genesis-hash", announced,
            "--keys", str(host / "keys"), "--consortium-key-envelope", str(envelope),
            "--listen", f"127.0.0.1:{ports[name]['p2p']}",
            "--peers", ",".join(peers.read_text().split()),
            "--rpc-port", str(ports[name]["rpc"]), "--api-port", str(ports[name]["api"]),
            "--timeout-commit", "300ms", "--password-file", str(host / "pw"),
            "--out", str(host / "home"),
        )

    # No key file of one member exists in another's folder (or the coordinator's).
    for name, host in hosts.items():
        secrets = {(host / "keys" / f).read_bytes() for f in SECRET_FILES}
        for other in [*(h for n, h in hosts.items() if n != name), coordinator]:
            for path in (p for p in other.rglob("*") if p.is_file()):
                data = path.read_bytes()
                assert not any(s in data for s in secrets), f"{name}'s key file is in {path}"

    # 4. Start the four nodes; they commit and agree.
    for host in hosts.values():
        cli("up", "--dir", str(host / "home"))
    rpc = [ports[name]["rpc"] for name in NAMES]
    wait_for(lambda: min(_height(p) for p in rpc) >= 4, 120, "the four nodes to reach height 4")
    for height in (2, 3):
        hashes = {
            _rpc(p, "block", height=height + 1)["block"]["header"]["app_hash"]  # type: ignore[index]
            for p in rpc
        }
        assert len(hashes) == 1 and "" not in hashes, f"app hashes differ at {height}: {hashes}"
    validators = _rpc(rpc[0], "validators")
    assert int(str(validators["total"])) == 4
    for name, host in hosts.items():
        # +2/3 commit before the last pair of nodes connects: the count is waited for
        def connected(home: Path = host / "home") -> dict | None:
            (node,) = json.loads(cli("status", "--dir", str(home), "--json"))["nodes"]
            return node if node["peers"] == 3 else None

        node = wait_for(connected, 60, f"{name}'s node to have its three peers")
        assert node["member"] == name and node["peers"] == 3 and node["voting_power"] == 10

    # 5. The consortium key every member decrypted is the same: fingerprints agree.
    invoice = ("--tax-id", "91310000MA1FL4XX7J", "--number", "INV-1", "--issue-date",
               "2025-03-01", "--amount", "125000", "--json")
    prints = {
        json.loads(cli("invoice", "fingerprint", "--dir", str(host / "home"), *invoice))[
            "fingerprint"
        ]
        for host in hosts.values()
    }
    assert len(prints) == 1
