"""Issue 11, must show 2: a chain run on revm, replayed from its own blocks by the same node
switched to py-evm, ends at the same app hash — every block's state root agrees, and a
disagreement would halt the node (CometBFT checks each replayed app hash)."""

from __future__ import annotations

import shutil

import tomlkit
from eth_account import Account
from web3 import Web3

from tests.support.evmutil import compiled, deploy, dev_accounts, receipt, send, web3_for
from tests.support.localnet import wait_for


def _state_roots(w3: Web3, upto: int) -> list[str]:
    return [w3.eth.get_block(h)["stateRoot"].hex() for h in range(1, upto + 1)]


def test_py_evm_replays_a_revm_chain_to_the_same_app_hash(localnet):
    net = localnet(validators=1)
    net.wait_height(1)
    home = net.network.node_home(net.node("node0"))
    assert "execution on revm" in net.log("node0")
    accts = dev_accounts(net)
    a = accts["Bank A"]
    b, c = (Account.create(f"replay {i}") for i in range(2))  # outside accounts receive
    w3 = web3_for(net, "node0")

    token = deploy(w3, a, compiled("Token.vy"), "Replay Coin", "RC", 10**24)
    contract = w3.eth.contract(address=token, abi=compiled("Token.vy").abi)
    sent = []
    for i in range(12):  # transfers, value moves and a revert, over several blocks
        sent.append(send(w3, a, {"to": token, "data": contract.encode_abi(
            "transfer", [b.address, 1_000 + i])}))
        sent.append(send(w3, a, {"to": c.address, "value": 10 + i, "gas": 21_000}))
    sent.append(send(w3, a, {"to": token, "gas": 200_000, "data": contract.encode_abi(
        "transfer", [b.address, 10**30])}))  # more than the whole supply: reverts
    receipts = [receipt(w3, h) for h in sent]
    assert [r["status"] for r in receipts] == [1] * 24 + [0]
    last = w3.eth.block_number
    roots = _state_roots(w3, last)
    balance = contract.functions.balanceOf(b.address).call()
    net.down()

    # the same node, its ledger wiped, on py-evm: CometBFT replays the stored blocks
    shutil.rmtree(home / "app")
    doc = tomlkit.parse((home / "consortium.toml").read_text())
    doc["node"]["engine"] = "py-evm"  # type: ignore[index]
    (home / "consortium.toml").write_text(tomlkit.dumps(doc))
    net.up()
    net.wait_height(last + 2, timeout=120)
    w3 = web3_for(net, "node0")
    wait_for(lambda: w3.eth.block_number >= last, 60, "the ledger to replay the chain")
    assert _state_roots(w3, last) == roots
    assert net.app_hash_at("node0", last).lower() == roots[-1].removeprefix("0x").lower()
    assert w3.eth.contract(address=token, abi=compiled("Token.vy").abi).functions.balanceOf(
        b.address).call() == balance
    assert "execution on py-evm" in net.log("node0")
