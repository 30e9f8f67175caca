"""Issue 21: upgrades on a real 4-validator network.

Three nodes are restarted on "the new version" (the same consortium plus the module
tests/fixtures/upgrade_v2.py, named in CONSORTIUM_UPGRADE_MODULES: the way an operator
test-drives an upgrade); node0 stays on the old one. The consortium votes upgrade "v2" at a
height a little ahead. At that height node0 stops before executing the block, says which
version to install and exits with code 3; the other three run the migration (Governance's
version 1 -> 2 and its new record) and go on. node0 restarted unchanged stops again at the
same block with the same message; restarted on the new version, it catches up and agrees.
Then, on the same network: expelling Bank D takes its validator out of CometBFT's set, and
a proxy in front of a user contract is upgraded by a contract-call vote.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import psutil
import pytest
from eth_abi import encode
from eth_hash.auto import keccak
from test_governance_network import cli

from consortium import __version__
from consortium.contracts.compiler import compile_file
from consortium.errors import NetworkError
from consortium.network import supervisor
from consortium.system.client import GovernanceClient
from consortium.system.model import GOVERNANCE_ADDRESS
from tests.support.evmutil import compiled, deploy, dev_accounts, receipt, send, web3_for
from tests.support.localnet import LocalNet, running_net, wait_for

# in the default run (about 50 s): upgrades, the proxy vote and expel, end to end

FIXTURES = Path(__file__).parent.parent / "fixtures"
NEW = ["node1", "node2", "node3"]
MESSAGE = ("upgrade 'v2' scheduled at height {h} needs consortium >= 0.2.0; "
           f"this node runs {__version__}; install it and restart")


def storage_word(net: LocalNet, node: str, slot: int) -> int:
    body = {"jsonrpc": "2.0", "id": 1, "method": "eth_getStorageAt",
            "params": ["0x" + GOVERNANCE_ADDRESS.hex(), hex(slot), "latest"]}
    return int(httpx.post(net.node(node).api_url, json=body, timeout=10).json()["result"], 16)


def exit_code(pid: int, timeout: float) -> int | None:
    return psutil.Process(pid).wait(timeout)  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalNet]:
    with running_net(tmp_path_factory.mktemp("upgrade") / "net", validators=4) as network:
        yield network


def test_old_node_halts_at_the_height_new_nodes_migrate_and_go_on(
    net: LocalNet, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # the new version on three nodes (a rolling restart, one at a time)
    path = os.environ.get("PYTHONPATH", "")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (str(FIXTURES), path) if p))
    monkeypatch.setenv("CONSORTIUM_UPGRADE_MODULES", "upgrade_v2")
    for name in NEW:
        net.down([name])
        net.up([name])
    monkeypatch.delenv("CONSORTIUM_UPGRADE_MODULES")

    keys = dev_accounts(net)
    gov = GovernanceClient(net.node("node1").api_url)
    at = net.height("node1") + 25
    outcome = cli(capsys, "propose", "software-upgrade", "--name", "v2", "--height", str(at),
                  "--version", "0.2.0", "--from", "Bank A", "--dir", str(net.root), "--json")
    proposal = outcome["proposal"]
    for member in ("Bank A", "Bank B", "Bank C"):
        status = gov.vote(keys[member], proposal, True)["status"]
    assert status == "executed", gov.proposal(proposal)
    assert gov.read.upgrades()["plan"] == {
        "name": "v2", "height": at, "version": "0.2.0", "proposal": proposal}
    assert net.height("node1") < at - 2, "the vote took too long for the test's height"

    # node0 (old version) stops at the height, before executing its block
    home0 = net.network.node_home(net.node("node0"))
    pid = supervisor.node_pid(home0)
    assert pid is not None
    assert exit_code(pid, 180) == 3
    assert MESSAGE.format(h=at) in net.log("node0")
    # the three others migrate there and go on
    net.wait_height(at + 3, NEW, timeout=120)
    info = cli(capsys, "upgrades", "--rpc", net.node("node1").api_url, "--json")
    assert info["plan"] is None
    assert info["applied"] == [{"name": "v2", "height": at}]
    assert info["nativeVersions"]["Governance"] == 2
    assert storage_word(net, "node1", 30) == 4  # upgrade_v2's record: 4 voting members
    assert len({net.app_hash_at(n, at) for n in NEW}) == 1

    # restarted unchanged, node0 stops again at the same block (at start: it is next)
    with pytest.raises(NetworkError) as refused:
        net.up(["node0"])
    assert str(refused.value) == (
        f"node0 exited with code 3: consortium node node0 stopped: {MESSAGE.format(h=at)}")
    # restarted on the new version, it runs the migration, catches up and agrees
    monkeypatch.setenv("CONSORTIUM_UPGRADE_MODULES", "upgrade_v2")
    net.up(["node0"])
    target = net.height("node1") + 2
    net.wait_height(target, ["node0"], timeout=120)
    assert net.app_hash_at("node0", at) == net.app_hash_at("node1", at)
    assert net.app_hash_at("node0", target - 1) == net.app_hash_at("node1", target - 1)
    wait_for(lambda: storage_word(net, "node0", 30) == 4, 30, "node0's migrated record")


def test_expelling_a_member_takes_its_validator_out_of_the_set(net: LocalNet) -> None:
    """Bank D's validator (node3) leaves CometBFT's validator set after the vote; the three
    others go on committing."""
    keys = dev_accounts(net)
    gov = GovernanceClient(net.node("node1").api_url)

    def validators() -> set[str]:
        out = httpx.get(f"{net.node('node1').rpc_url}/validators", timeout=5).json()["result"]
        return {v["address"] for v in out["validators"]}

    before = validators()
    assert len(before) == 4
    outcome = gov.propose_expel_member(keys["Bank A"], "Bank D")
    for member in ("Bank A", "Bank B", "Bank C"):
        status = gov.vote(keys[member], outcome["proposal"], True)["status"]
    assert status == "executed", gov.proposal(outcome["proposal"])
    wait_for(lambda: len(validators()) == 3, 60, "the validator set to lose Bank D's validator")
    node3 = net.engine_status("node3")["validator_info"]["address"]
    assert validators() == before - {node3}
    height = net.height("node1")
    net.wait_height(height + 3, NEW[:2] + ["node0"], timeout=60)


def test_a_proxy_is_upgraded_by_a_vote(
    net: LocalNet, capsys: pytest.CaptureFixture[str]
) -> None:
    """A user contract behind GovernedProxy (admin: Governance) moves from CounterV1 to
    CounterV2 when a contract-call proposal passes; its count stays."""
    keys = dev_accounts(net)
    w3 = web3_for(net, "node1")
    counters = Path(__file__).parent.parent / "contracts" / "UpgradeableCounter.sol"
    v1 = deploy(w3, keys["Bank A"], compile_file(counters, "CounterV1"))
    v2 = deploy(w3, keys["Bank A"], compile_file(counters, "CounterV2"))
    proxy_address = deploy(w3, keys["Bank A"], compiled("GovernedProxy.sol"), v1,
                           "0x" + GOVERNANCE_ADDRESS.hex(), b"")
    counter = w3.eth.contract(address=proxy_address,
                              abi=compile_file(counters, "CounterV2").abi)
    tx = counter.functions.increment().build_transaction(
        {"gas": 200_000, "maxFeePerGas": 0, "maxPriorityFeePerGas": 0,
         "from": keys["Bank B"].address})
    assert receipt(w3, send(w3, keys["Bank B"], tx))["status"] == 1
    assert counter.functions.version().call() == 1
    data = "0x" + (keccak(b"upgradeToAndCall(address,bytes)")[:4]
                   + encode(["address", "bytes"], [v2, b""])).hex()
    outcome = cli(capsys, "propose", "contract-call", "--contract", proxy_address,
                  "--data", data, "--from", "Bank A", "--rpc", net.node("node1").api_url,
                  "--dir", str(net.root), "--json")
    gov = GovernanceClient(net.node("node1").api_url)
    status = outcome["status"]
    for member in ("Bank A", "Bank B", "Bank C"):  # until it passes (Bank D may be expelled)
        if status == "open":
            status = gov.vote(keys[member], outcome["proposal"], True)["status"]
    assert status == "executed", gov.proposal(outcome["proposal"])
    assert counter.functions.version().call() == 2
    assert counter.functions.count().call() == 1
