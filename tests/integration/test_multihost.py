"""Issue 18, tested on separate hosts: four members, each on a host of its own (a Linux
network namespace with its own address on a bridge), run the key ceremony's commands on
their hosts (the coordinator in a fifth folder), start their nodes bound to their hosts'
addresses, and the tests check consensus, the API's TLS and tokens from outside the hosts,
partitions and healing, and that a node outside the genesis cannot connect."""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import tomlkit
from eth_account import Account
from test_ceremony_network import CLI, NAMES, SECRET_FILES, cli, send

from tests.support.localnet import wait_for
from tests.support.netns import Hosts, netns_unavailable

P2P, RPC, API = 26656, 26657, 8545  # the same on every host: each has its own ports
TIMEOUT_COMMIT = "500ms"


@dataclass
class Consortium:
    hosts: Hosts
    root: Path
    folders: list[Path]  # each member's host folder: keys, pw, inbox, home, tls-ca
    node_ids: list[str] = field(default_factory=list)

    def home(self, i: int) -> Path:
        return self.folders[i] / "home"

    def rpc(self, i: int, path: str, **params: object) -> dict[str, Any]:
        """A call to host i's engine RPC (on its 127.0.0.1, from inside the host)."""
        return dict(self.hosts.get(i, f"http://127.0.0.1:{RPC}/{path}", **params)["result"])

    def height(self, i: int) -> int:
        try:
            return int(self.rpc(i, "status")["sync_info"]["latest_block_height"])
        except (httpx.HTTPError, KeyError, ValueError):
            return -1

    def heights(self, hosts: range | list[int] = range(4)) -> list[int]:
        return [self.height(i) for i in hosts]

    def block_hashes(self, i: int, top: int) -> list[str]:
        """Block hashes of heights 1..top on host i."""
        hashes: dict[int, str] = {}
        for low in range(1, top + 1, 20):
            result = self.rpc(i, "blockchain", minHeight=low, maxHeight=min(low + 19, top))
            for meta in result["block_metas"]:
                hashes[int(meta["header"]["height"])] = meta["block_id"]["hash"]
        return [hashes[h] for h in range(1, top + 1)]

    def api_url(self, i: int) -> str:
        return f"https://{self.hosts.address(i)}:{API}/"


def _ceremony(hosts: Hosts, root: Path) -> Consortium:
    """The ceremony's commands, each member's on its own host, the coordinator's apart."""
    folders = [root / f"host-{i}" for i in range(4)]
    coordinator = root / "coordinator"
    net = Consortium(hosts, root, folders)
    for i, (name, host) in enumerate(zip(NAMES, folders, strict=True)):
        host.mkdir()
        (host / "pw").write_text(f"password of {name}")
        card = json.loads(hosts.run(i, [
            *CLI, "keygen", "--name", name, "--out", str(host / "keys"),
            "--external", f"{hosts.address(i)}:{P2P}", "--password-file", str(host / "pw"),
            "--json",
        ]))
        net.node_ids.append(card["node_id"])
        send(host / "keys" / "card.json", coordinator / "inbox" / f"m{i}")
    cards = [coordinator / "inbox" / f"m{i}" / "card.json" for i in range(4)]
    result = json.loads(cli(
        "genesis", *(x for c in cards for x in ("--card", str(c))), "--chain-id", "hosts-1",
        "--timeout-commit", TIMEOUT_COMMIT, "--out", str(coordinator / "out"), "--json",
    ))
    announced = result["genesis_sha256"]
    for i, (name, host) in enumerate(zip(NAMES, folders, strict=True)):
        inbox = host / "inbox"
        genesis = send(coordinator / "out" / "genesis.json", inbox)
        peers = send(coordinator / "out" / "peers.txt", inbox)
        envelope = send(Path(result["envelopes"][name]), inbox)
        address = hosts.address(i)
        # The member's own CA for its staff's clients, and its node's API certificate.
        hosts.run(i, [*CLI, "tls", "ca", "--out", str(host / "tls-ca"), "--name", f"{name} CA"])
        hosts.run(i, [*CLI, "tls", "cert", "--ca", str(host / "tls-ca"), "--name", "node",
                      "--host", address, "--out", str(host / "api-tls")])
        hosts.run(i, [
            *CLI, "node", "setup", "--genesis", str(genesis), "--genesis-hash", announced,
            "--keys", str(host / "keys"), "--consortium-key-envelope", str(envelope),
            "--listen", f"{address}:{P2P}", "--peers", ",".join(peers.read_text().split()),
            "--rpc-port", str(RPC), "--api-host", address, "--api-port", str(API),
            "--timeout-commit", TIMEOUT_COMMIT, "--password-file", str(host / "pw"),
            "--tls-cert", str(host / "api-tls" / "node.pem"),
            "--tls-key", str(host / "api-tls" / "node.key"), "--out", str(host / "home"),
        ])
    return net


@pytest.fixture(scope="module")
def consortium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    reason = netns_unavailable()
    if reason:
        pytest.skip(f"separate hosts need network namespaces: {reason}")
    hosts = Hosts(4)
    try:
        net = _ceremony(hosts, tmp_path_factory.mktemp("hosts"))
        for i in range(4):
            home = net.home(i)
            hosts.start(i, [*CLI, "node", "--home", str(home)], home / "node.log")
        wait_for(lambda: min(net.heights()) >= 3, 180, "the four nodes to reach height 3")
        yield net
    finally:
        hosts.close()


def _app_warnings(net: Consortium, i: int) -> list[str]:
    """The messages of the warnings the ledger app logged on host i."""
    marker = "WARNING consortium.app: "
    log = (net.home(i) / "node.log").read_text(errors="replace")
    return [line.split(marker, 1)[1] for line in log.splitlines() if marker in line]


def test_four_hosts_commit_agree_and_keep_their_keys(consortium: Consortium) -> None:
    net = consortium
    start = net.heights()
    wait_for(lambda: all(h > s for h, s in zip(net.heights(), start, strict=True)), 120,
             f"every node to commit past {start}")
    common = min(net.heights()) - 1
    app_hashes = {net.rpc(i, "block", height=common + 1)["block"]["header"]["app_hash"]
                  for i in range(4)}
    assert len(app_hashes) == 1 and "" not in app_hashes, f"app hashes at {common}: {app_hashes}"
    for i in range(4):
        config = tomlkit.parse((net.home(i) / "config" / "config.toml").read_text())
        p2p = config["p2p"]
        assert isinstance(p2p, dict)
        assert p2p["laddr"] == f"tcp://{net.hosts.address(i)}:{P2P}"
        assert p2p["addr_book_strict"] is False and config["filter_peers"] is True
        # +2/3 commit before the last pair of hosts connects: the count is waited for
        def connected(i: int = i) -> dict | None:
            info = net.rpc(i, "net_info")
            return info if int(info["n_peers"]) == 3 else None

        peers = wait_for(connected, 60, f"host {i} to have its three peers")
        assert int(peers["n_peers"]) == 3
        remote = {p["remote_ip"] for p in peers["peers"]}
        assert remote == {net.hosts.address(j) for j in range(4) if j != i}
    coordinator = net.root / "coordinator"
    for i, host in enumerate(net.folders):
        secrets = {(host / "keys" / f).read_bytes() for f in SECRET_FILES}
        for other in [*(h for j, h in enumerate(net.folders) if j != i), coordinator]:
            for path in (p for p in other.rglob("*") if p.is_file()):
                data = path.read_bytes()
                assert not any(s in data for s in secrets), f"{NAMES[i]}'s key file is in {path}"


def _call(url: str, method: str, params: list[Any], token: str | None,
          verify: ssl.SSLContext | bool) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(url, json={"jsonrpc": "2.0", "id": 1, "method": method, "params": params},
                      headers=headers, verify=verify, timeout=30, trust_env=False)


def test_api_from_outside_only_over_tls_with_a_token(consortium: Consortium) -> None:
    net = consortium
    i, home = 0, consortium.home(0)
    tokens = {scope: net.hosts.run(i, [*CLI, "api-token", "create", "--home", str(home),
                                       "--scope", scope, "--name", f"staff-{scope}"]).strip()
              for scope in ("read", "submit")}
    url = net.api_url(i)
    ca = ssl.create_default_context(cafile=str(net.folders[i] / "tls-ca" / "ca.pem"))

    # Not over plain HTTP, and not to a client that does not trust the member's CA.
    plain = f"http://{net.hosts.address(i)}:{API}/"
    with pytest.raises(httpx.HTTPError):
        _call(plain, "eth_blockNumber", [], tokens["read"], False)
    with pytest.raises(httpx.ConnectError):
        _call(url, "eth_blockNumber", [], tokens["read"], True)
    with pytest.raises(httpx.ConnectError):  # the engine's RPC stays on the host's loopback
        httpx.get(f"http://{net.hosts.address(i)}:{RPC}/status", timeout=10, trust_env=False)

    nobody = _call(url, "eth_blockNumber", [], None, ca)
    assert nobody.status_code == 401 and nobody.json()["error"]["code"] == -40100
    bad = _call(url, "eth_blockNumber", [], "cst_" + "A" * 43, ca)
    assert bad.status_code == 401
    read = _call(url, "eth_blockNumber", [], tokens["read"], ca)
    assert read.status_code == 200 and int(read.json()["result"], 16) >= 1

    keystore = json.loads((net.folders[i] / "keys" / "account.json").read_text())
    account = Account.from_key(Account.decrypt(keystore, f"password of {NAMES[i]}"))
    chain = int(_call(url, "eth_chainId", [], tokens["read"], ca).json()["result"], 16)
    nonce = int(_call(url, "eth_getTransactionCount", [account.address, "pending"],
                      tokens["read"], ca).json()["result"], 16)
    raw = account.sign_transaction({
        "to": account.address, "value": 0, "gas": 21000, "maxFeePerGas": 0,
        "maxPriorityFeePerGas": 0, "nonce": nonce, "chainId": chain,
    }).raw_transaction.to_0x_hex()
    refused = _call(url, "eth_sendRawTransaction", [raw], tokens["read"], ca)
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["code"] == -40300
    assert "submit" in refused.json()["error"]["message"]
    accepted = _call(url, "eth_sendRawTransaction", [raw], tokens["submit"], ca)
    assert accepted.status_code == 200, accepted.text
    tx_hash = accepted.json()["result"]

    def mined() -> Any:
        return _call(url, "eth_getTransactionReceipt", [tx_hash], tokens["read"],
                     ca).json()["result"]

    assert int(wait_for(mined, 60, f"the receipt of {tx_hash}")["status"], 16) == 1


def test_a_node_outside_the_genesis_cannot_connect(consortium: Consortium) -> None:
    net = consortium
    x = net.hosts.add_host()
    folder = net.root / "outsider"
    folder.mkdir()
    (folder / "pw").write_text("password of Bank X")
    genesis = send(net.home(0) / "config" / "genesis.json", folder / "inbox")
    address = net.hosts.address(x)
    joined = json.loads(net.hosts.run(x, [
        *CLI, "join", "--genesis", str(genesis), "--peer", f"{net.node_ids[0]}@"
        f"{net.hosts.address(0)}:{P2P}", "--dir", str(folder / "net"), "--name", "Bank X",
        "--listen", address, "--external-address", f"{address}:{P2P}", "--p2p-port", str(P2P),
        "--rpc-port", str(RPC), "--api-port", str(API), "--timeout-commit", TIMEOUT_COMMIT,
        "--password-file", str(folder / "pw"), "--json",
    ]))
    outsider = str(joined["node_id"])
    home = Path(joined["home"])
    config_file = home / "config" / "config.toml"
    config = tomlkit.parse(config_file.read_text())
    p2p = config["p2p"]
    assert isinstance(p2p, dict)
    p2p["persistent_peers"] = ",".join(f"{n}@{net.hosts.address(i)}:{P2P}"
                                       for i, n in enumerate(net.node_ids))
    config_file.write_text(tomlkit.dumps(config))
    proc = net.hosts.start(x, [*CLI, "node", "--home", str(home)], home / "node.log")
    refusal = f"peer {outsider} refused: not an admitted consortium node"
    try:
        def refused_often() -> bool:
            for i in range(4):
                listed = {p["node_info"]["id"] for p in net.rpc(i, "net_info")["peers"]}
                assert outsider not in listed, f"{NAMES[i]} lists the outsider as a peer"
            assert int(net.hosts.get(x, f"http://127.0.0.1:{RPC}/net_info")["result"]
                       ["n_peers"]) == 0, "the outsider has a peer"
            return sum(line.startswith(refusal) for i in range(4)
                       for line in _app_warnings(net, i)) >= 4

        wait_for(refused_often, 180, "the members' peer filters to refuse the outsider 4 times",
                 interval=1)
        assert min(net.heights()) >= 1
    finally:
        net.hosts.stop(proc)


def _wait_steady(net: Consortium, seconds: float, timeout: float) -> list[int]:
    """Wait until no node's height has moved for `seconds`; those heights."""
    last, since = net.heights(), time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = net.heights()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= seconds:
            return now
    raise AssertionError(f"heights still moving after {timeout:.0f}s: {last}")


def test_partitions_heal_onto_one_chain(consortium: Consortium) -> None:
    net = consortium
    hosts = net.hosts

    # One host cut off: the other three keep committing; it catches up when healed.
    hosts.cut(3)
    try:
        at_cut = net.heights()
        wait_for(lambda: min(net.heights(range(3))) >= max(at_cut) + 5, 120,
                 "the three connected nodes to commit 5 blocks")
        behind = net.height(3)
        assert behind <= max(at_cut) + 1, f"the cut node went on to {behind} from {at_cut}"
    finally:
        hosts.heal(3)
    healed, target = time.monotonic(), min(net.heights(range(3)))
    wait_for(lambda: net.height(3) >= target + 1, 300, f"the healed node to pass {target}")
    print(f"\none host cut off: caught up {time.monotonic() - healed:.1f}s after the heal")

    # Two hosts cut off: no side has two thirds of the power; no one commits.
    hosts.cut(2)
    hosts.cut(3)
    try:
        stalled = _wait_steady(net, 10, 120)
        observed = time.monotonic()
        wait_for(lambda: time.monotonic() - observed >= 5 and net.heights() == stalled, 30,
                 f"the heights to stay at {stalled}")
    finally:
        hosts.heal(2)
        hosts.heal(3)
    healed = time.monotonic()
    wait_for(lambda: min(net.heights()) >= max(stalled) + 3, 300,
             f"all four to commit past {max(stalled)} + 3")
    print(f"two hosts cut off: all four committing {time.monotonic() - healed:.1f}s after "
          f"the heal (stalled at {stalled})")

    top = min(net.heights())
    chains = [net.block_hashes(i, top) for i in range(4)]
    for h in range(top):
        hashes = {chain[h] for chain in chains}
        assert len(hashes) == 1, f"the nodes disagree at height {h + 1}: {hashes}"
