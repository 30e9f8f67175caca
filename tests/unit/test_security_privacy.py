"""Privacy groups' key making and private reads (security findings 2 and 3), over the
in-process three-node network of test_private_api (nodes A and C serve the API):

- only a founding member's own node makes a group's epoch key (a node whose member is not
  among the founders would see it), as only a member's node proposes a change;
- a node whose member was removed from a group answers its private reads with an error
  naming the group and the height its member left, not from its frozen copy as `latest`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from consortium.system.sealing import public_key_of
from tests.support.ledger_testkit import ALICE, BOB, CAROL, calldata, token_deploy_data
from tests.unit.test_private_api import NAMES, NODE_KEYS, Net, in_marker, private, proof

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    network = Net(tmp_path)
    network.start()
    try:
        yield network
    finally:
        network.close()


def register(net: Net, *who: str) -> None:
    net.block([net.public(n, "registerNode(bytes,bytes)", ["bytes", "bytes"],
                          [public_key_of(NODE_KEYS[n]), proof(NODE_KEYS[n], n)]) for n in who])


def test_only_a_founding_members_node_makes_the_group_key(net: Net) -> None:
    a, c = net.apis["a"], net.apis["c"]
    register(net, "a", "b")
    # node C's member has no registered node: it makes no key at all
    assert "not any member's registered privacy node" in c.error(
        "priv_createPrivacyGroup", {"name": "AB", "members": ["Bank A", "Bank B"]})
    register(net, "c")
    # Bank C's node asked to make the key of a group of Banks A and B: refused, naming why
    refused = c.raw("priv_createPrivacyGroup", {"name": "AB", "members": ["Bank A", "Bank B"]})
    assert refused["error"]["code"] == -32000
    message = refused["error"]["message"]
    assert "'Bank C'" in message and "not among the group's members" in message
    assert "founding member's own node" in message
    # as proposing a change from a node outside the group is refused
    assert a.rpc("priv_getNodeKey")["memberName"] == "Bank A"
    # a founder's own node makes it, for a group its member founds with others
    made = c.rpc("priv_createPrivacyGroup", {"name": "BC", "members": ["Bank B", "Bank C"]})
    assert made["data"].startswith("0x")
    made = a.rpc("priv_createPrivacyGroup", {"name": "AB", "members": ["Bank A", BOB.address]})
    net.block([net.send("a", made["to"], made["data"])])
    assert a.rpc("priv_getPrivacyGroup", made["privacyGroupId"])["status"] == "pending"


def test_a_removed_members_node_answers_private_reads_with_an_error(net: Net) -> None:
    a, c = net.apis["a"], net.apis["c"]
    register(net, *NAMES)
    made = a.rpc("priv_createPrivacyGroup", {"name": "Deals",
                                             "members": ["Bank A", "Bank B", "Bank C"]})
    group, chain_id = made["privacyGroupId"], int(made["chainId"], 16)
    gid = bytes.fromhex(group[2:])
    net.block([net.send("a", made["to"], made["data"])])
    net.block([net.public(n, "joinGroup(bytes32)", ["bytes32"], [gid]) for n in ("b", "c")])
    assert a.rpc("priv_getPrivacyGroup", group)["status"] == "active"

    deployed = a.rpc("priv_distributeRawTransaction",
                     private("a", chain_id, 0, data=token_deploy_data(1_000)), group)
    in_marker(a, deployed)
    net.block()
    token = a.rpc("priv_getTransactionReceipt", deployed)["contractAddress"]
    pay = calldata("transfer(address,uint256)", ["address", "uint256"], [CAROL.address, 10])
    sent = a.rpc("priv_distributeRawTransaction", private("a", chain_id, 1, to=token, data=pay),
                 group)
    in_marker(a, sent)
    net.block()
    balance = {"to": token, "data": "0x" + calldata("balanceOf(address)", ["address"],
                                                    [CAROL.address]).hex()}
    assert int(c.rpc("priv_call", group, balance, "latest"), 16) == 10  # a member: reads

    # Bank A proposes removing Bank C, Bank B approves: epoch 1 starts without C
    change = a.rpc("priv_proposeMembersChange", {"privacyGroupId": group, "remove": ["Bank C"]})
    net.block([net.send("a", change["to"], change["data"])])
    removed_at = net.block([net.public("b", "approveChange(bytes32)", ["bytes32"], [gid])])
    info = c.rpc("priv_getPrivacyGroup", group)
    assert info["epoch"] == 1 and not info["thisNodeIsMember"]
    net.block()
    sent = a.rpc("priv_distributeRawTransaction", private("a", chain_id, 2, to=token, data=pay),
                 group)
    in_marker(a, sent)
    net.block()
    assert int(a.rpc("priv_call", group, balance, "latest"), 16) == 20
    assert a.rpc("priv_getTransactionCount", ALICE.address, group) == "0x3"

    # node C still has its (frozen) store of the group, but serves none of it
    assert net.groups["c"].reader(gid) is not None
    reads = [("priv_call", group, balance, "latest"),
             ("priv_getStateRoot", group, "latest"),
             ("priv_getTransactionCount", "0x" + "11" * 20, group),
             ("priv_getLogs", group, {"fromBlock": "0x0", "address": token}),
             ("priv_getCode", group, token, "latest")]
    for method, *params in reads:
        answer = c.raw(method, *params)
        assert "result" not in answer, (method, answer)
        message = answer["error"]["message"]
        assert answer["error"]["code"] == -32000
        assert f"not a member's node of privacy group {group}" in message, message
        assert f"'Bank C' left it at height {removed_at} (epoch 1)" in message, message
