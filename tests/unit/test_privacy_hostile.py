"""Privacy groups under hostile input (issue 22, docs/reliability.md): every priv_ method with
malformed, missing, extra and oversized arguments; JSON-RPC batches mixing good and bad
calls; and markers that a malicious member's node crafts (a payload that opens to garbage,
thousands of tiny or looping transactions, transactions signed for another chain, the same
transaction twice, root attestations for impossible heights, a group founded with garbage
keys). Each must get an error naming the problem; the node keeps answering, every member's
group processor keeps following, and the members' private roots agree. Over the in-process
nodes of test_private_api (real ledgers, a stub CometBFT)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rlp
from eth_account import Account

from consortium.errors import TxError
from consortium.system.privacy_payload import marker_aad, seal_batch
from consortium.system.sealing import seal
from tests.support.faults.privacy import PRIVACY_RPC_CASES, privacy_rpc_cases
from tests.support.ledger_testkit import ALICE, BOB, CHAIN_ID, GAS_LIMIT, calldata, sign
from tests.unit.test_private_api import (
    NODE_KEYS,
    PRIVACY_HEX,
    Net,
    in_marker,
    make_group,
    private,
    register_all,
)

LOOP_INITCODE = bytes.fromhex("5b600056")  # JUMPDEST PUSH1 0 JUMP: runs until its gas is gone


@pytest.fixture
def group_net(tmp_path: Path) -> Iterator[tuple[Net, str, int]]:
    network = Net(tmp_path)
    network.start()
    try:
        # node A's own root attestations off: the stub engine's block takes its mempool
        # while the flusher may add to it (a race of the stub, not of a node)
        network.privacy["a"].listeners.clear()
        register_all(network)
        group, chain_id = make_group(network)
        yield network, group, chain_id
    finally:
        network.close()


def gid(group: str) -> bytes:
    return bytes.fromhex(group[2:])


def marker_from_b(net: Net, group: str, payload: bytes, *, epoch: int = 0) -> bytes:
    """A `Privacy.submit` signed by Bank B's node account: what a malicious member's node
    can put on chain (the contract only stores and counts the payload)."""
    node = Account.from_key(NODE_KEYS["b"])
    return sign(node, nonce=net.ledgers["a"].get_nonce(node.address), to=PRIVACY_HEX,
                data=calldata("submit(bytes32,uint32,bytes)", ["bytes32", "uint32", "bytes"],
                              [gid(group), epoch, payload]), gas=8_000_000)


def b_key(net: Net, group: str) -> bytes:
    key = net.groups["b"].epoch_key(gid(group), 0)
    assert key is not None
    return key


def sealed_plain(net: Net, group: str, plaintext: bytes) -> bytes:
    """A payload sealed correctly for the group's epoch 0 around any plaintext."""
    return seal(b_key(net, group), plaintext, marker_aad(gid(group), 0))


def agree(net: Net, group: str) -> bytes:
    """Both members' processors followed to the tip and hold the same private root."""
    tip = net.ledgers["a"].info()[0]
    roots = set()
    for name in "ab":
        groups = net.groups[name]
        assert groups.processed_height(gid(group)) == tip, name
        reader = groups.reader(gid(group))
        assert reader is not None
        roots.add(reader.root_at(tip))
    assert len(roots) == 1, roots
    return roots.pop()


def still_serves(net: Net, group: str, chain_id: int) -> None:
    """The node answers, and an honest private transaction still commits."""
    a = net.apis["a"]
    assert int(a.rpc("eth_blockNumber"), 16) == net.ledgers["a"].info()[0]
    nonce = int(a.rpc("priv_getTransactionCount", ALICE.address, group), 16)
    tx = a.rpc("priv_distributeRawTransaction", private("a", chain_id, nonce, to=BOB.address),
               group)
    in_marker(a, tx)
    net.block()
    receipt = a.rpc("priv_getTransactionReceipt", tx)
    assert receipt is not None, a.rpc("priv_getTransactionStatus", tx)
    assert receipt["status"] == "0x1"
    agree(net, group)


def rejection(net: Net, group: str, raw: bytes) -> str:
    from eth_hash.auto import keccak

    reader = net.groups["a"].reader(gid(group))
    assert reader is not None
    found = reader.transaction_rejection("0x" + keccak(raw).hex())
    assert found is not None, "no rejection record"
    return str(found["reason"])


# --- the priv_ methods ---------------------------------------------------------------------


def test_every_priv_method_refuses_malformed_arguments(group_net: tuple[Net, str, int]) -> None:
    net, group, chain_id = group_net
    a = net.apis["a"]
    cases = privacy_rpc_cases(group, chain_id)
    assert len(cases) == PRIVACY_RPC_CASES
    wrong = []
    for method, params, expected in cases:
        error = a.raw(method, *params).get("error")
        if (error is None or error["code"] == -32603  # taken, or an internal error
                or expected.lower() not in error["message"].lower()):
            wrong.append((method, str(params)[:80], expected, error))
    assert not wrong, "\n".join(map(str, wrong))
    still_serves(net, group, chain_id)


def test_a_batch_mixing_good_and_bad_calls(group_net: tuple[Net, str, int]) -> None:
    net, group, chain_id = group_net
    a = net.apis["a"]
    good = private("a", chain_id, 0, to=BOB.address)
    calls: list[dict[str, Any]] = [
        {"jsonrpc": "2.0", "id": 1, "method": "priv_distributeRawTransaction",
         "params": ["0x00", group]},
        {"jsonrpc": "2.0", "id": 2, "method": "priv_distributeRawTransaction",
         "params": [good, group]},
        {"jsonrpc": "2.0", "id": 3, "method": "priv_getPrivacyGroup", "params": [7]},
        {"jsonrpc": "2.0", "id": 4, "method": "priv_getChainId", "params": [group]},
        {"jsonrpc": "2.0", "id": 5, "method": "priv_nope", "params": []},
        {"jsonrpc": "2.0", "id": 6, "method": "priv_distributeRawTransaction",
         "params": [good, group]},  # the same again, checked at the same time
        {"jsonrpc": "2.0", "id": 7, "method": "priv_distributeRawTransaction",
         "params": [private("a", chain_id, 0, to=ALICE.address), group]},  # its nonce
        "not a call",
    ]
    answer = a.client.post("/", json=calls)
    assert answer.status_code == 200
    by_id = {item.get("id"): item for item in answer.json()}
    assert "error" in by_id[1] and "error" in by_id[3] and "error" in by_id[5]
    assert by_id[4]["result"] == hex(chain_id)
    assert "error" in by_id[None]
    # of three calls with nonce 0 (two of them the same transaction) exactly one is taken
    taken = [by_id[i]["result"] for i in (2, 6, 7) if "result" in by_id[i]]
    refused = " ".join(by_id[i]["error"]["message"] for i in (2, 6, 7) if "error" in by_id[i])
    assert len(taken) == 1, answer.json()
    assert "already known" in refused or "is taken by" in refused
    net.block()
    assert a.rpc("priv_getTransactionReceipt", taken[0])["status"] == "0x1"
    reader = net.groups["a"].reader(gid(group))
    assert reader is not None  # the refused ones were never sealed: nothing to reject
    assert all(reader.transaction_rejection("0x" + _hash(bytes.fromhex(c["params"][0][2:]))
                                            .hex()) is None
               for c in calls[5:7] if isinstance(c, dict))
    agree(net, group)


def test_distribute_flood_is_bounded(group_net: tuple[Net, str, int]) -> None:
    """Many private transactions at once: each is answered, markers stay under the payload
    limit, and all commit."""
    net, group, chain_id = group_net
    a = net.apis["a"]
    calls = [{"jsonrpc": "2.0", "id": n, "method": "priv_distributeRawTransaction",
              "params": [private("a", chain_id, n, to=BOB.address, data=b"\x01" * 2_000),
                         group]} for n in range(120)]
    answer = a.client.post("/", json=calls)
    assert answer.status_code == 200
    results = answer.json()
    assert all("result" in r for r in results), [r for r in results if "error" in r][:2]
    markers = list(a.engine.mempool)
    assert len(markers) >= 3  # 240 KB of transactions: several markers of <= 100 KiB
    assert all(len(m) < 120 * 1024 + 1_000 for m in markers)
    net.block()
    for r in results:
        assert a.rpc("priv_getTransactionReceipt", r["result"])["status"] == "0x1"
    agree(net, group)


# --- markers from a malicious member's node ------------------------------------------------


def test_markers_that_open_to_garbage_are_skipped_alike(group_net: tuple[Net, str, int]) -> None:
    net, group, chain_id = group_net
    before = agree(net, group)
    payloads = [
        sealed_plain(net, group, b"\xff\x00 not rlp at all"),
        sealed_plain(net, group, rlp.encode([[b"nested"], b"x"])),  # not a list of bytes
        sealed_plain(net, group, rlp.encode(b"a single string")),
        sealed_plain(net, group, b""),
        sealed_plain(net, group, rlp.encode([])),  # no transactions
        sealed_plain(net, group, rlp.encode([b"", b"", b"\x02"])),  # empty ones, twice
        b"\x00" * 40,  # does not open
        bytes(range(256)) * 4,
    ]
    net.block([marker_from_b(net, group, payload) for payload in payloads[:1]])
    for payload in payloads[1:]:
        net.block([marker_from_b(net, group, payload)])
    assert agree(net, group) == before
    assert rejection(net, group, b"")  # an empty item: refused with a reason
    still_serves(net, group, chain_id)


def test_a_marker_of_thousands_of_tiny_or_foreign_transactions(
        group_net: tuple[Net, str, int]) -> None:
    """Every item is refused with a reason (garbage, wrong chain id, another group's, the
    public chain's), on both members alike, and the processor goes on."""
    net, group, chain_id = group_net
    other_group = group_chain_id_of(b"\x07" * 32)
    public_tx = sign(ALICE, nonce=0, to=BOB.address)  # the public chain's id
    foreign = sign(ALICE, nonce=0, to=BOB.address, chain_id=other_group)
    tiny = [bytes([n % 256]) for n in range(3_000)]
    started = time.monotonic()
    net.block([marker_from_b(net, group, seal_batch(b_key(net, group), gid(group), 0,
                                                    [*tiny, public_tx, foreign]))])
    assert time.monotonic() - started < 60
    assert "chain" in rejection(net, group, public_tx).lower()
    assert "chain" in rejection(net, group, foreign).lower()
    assert rejection(net, group, tiny[5])
    agree(net, group)
    still_serves(net, group, chain_id)


def group_chain_id_of(group: bytes) -> int:
    from consortium.system.privacy_payload import group_chain_id

    return group_chain_id(CHAIN_ID, group)


def test_the_same_transaction_in_two_markers(group_net: tuple[Net, str, int]) -> None:
    net, group, chain_id = group_net
    raw = bytes.fromhex(private("b", chain_id, 0, to=ALICE.address)[2:])
    key = b_key(net, group)
    net.block([marker_from_b(net, group, seal_batch(key, gid(group), 0, [raw, raw]))])
    net.block([marker_from_b(net, group, seal_batch(key, gid(group), 0, [raw]))])
    reader = net.groups["a"].reader(gid(group))
    assert reader is not None and int(reader.get_nonce(BOB.address)) == 1  # once
    agree(net, group)
    still_serves(net, group, chain_id)


def test_looping_transactions_are_bounded_per_block(group_net: tuple[Net, str, int]) -> None:
    """Private transactions of a marker each asking for the block gas limit and looping until
    it is spent: a private block executes at most the block gas limit in all, as a public
    block does (the rest are refused naming it), so the processor does not stall."""
    net, group, chain_id = group_net
    loops = [sign(BOB, nonce=n, data=LOOP_INITCODE, gas=GAS_LIMIT, chain_id=chain_id)
             for n in range(40)]
    started = time.monotonic()
    net.block([marker_from_b(net, group, seal_batch(b_key(net, group), gid(group), 0, loops))])
    spent = time.monotonic() - started
    reader = net.groups["a"].reader(gid(group))
    assert reader is not None
    assert reader.receipt_record("0x" + _hash(loops[0]).hex()) is not None  # ran out of gas
    assert "does not fit in the block" in rejection(net, group, loops[1])
    assert spent < 30, spent  # 40 whole runs took ~60 s on 2 nodes (~0.75 s each)
    agree(net, group)
    still_serves(net, group, chain_id)


def _hash(raw: bytes) -> bytes:
    from eth_hash.auto import keccak

    return keccak(raw)


def test_attestations_for_impossible_heights_are_refused(
        group_net: tuple[Net, str, int]) -> None:
    net, group, chain_id = group_net
    node = Account.from_key(NODE_KEYS["b"])
    tip = net.ledgers["a"].info()[0]
    txs = []
    for n, height in enumerate((tip + 100, 0, 2**64 - 1)):
        txs.append(sign(node, nonce=net.ledgers["a"].get_nonce(node.address) + n,
                        to=PRIVACY_HEX, gas=3_000_000, data=calldata(
                            "attestRoot(bytes32,uint64,bytes32)",
                            ["bytes32", "uint64", "bytes32"], [gid(group), height, b"\x01" * 32])))
    net.block(txs)
    for tx in txs:
        found = net.ledgers["a"].receipt_record("0x" + _hash(tx).hex())
        assert found is not None and int(found[0].status) == 0
    a = net.apis["a"]
    for ref in ("0x0", hex(tip)):
        assert a.rpc("priv_getStateRoot", group, ref)["attested"]["mismatch"] is False
    assert "not processed" in a.error("priv_getStateRoot", group, hex(tip + 100))
    still_serves(net, group, chain_id)


def test_a_group_founded_with_garbage_keys(group_net: tuple[Net, str, int]) -> None:
    """Bank B founds a group with Bank A whose wrapped key for A's node is garbage: node A
    logs, cannot open the group's key, keeps following its other group, and its API says
    why it cannot serve the new one."""
    net, group, chain_id = group_net
    bad = b"\x02" * 32
    api = net.apis["a"]
    made = api.rpc("priv_createPrivacyGroup", {"name": "Trap", "members": ["Bank B", "Bank A"],
                                               "privacyGroupId": "0x" + bad.hex()})
    from eth_abi import decode as abi_decode

    data = bytes.fromhex(made["data"][2:])
    types = ["bytes32", "string", "address[]", "bytes[]", "bytes32"]
    group_id, name, members, wrapped, commitment = abi_decode(types, data[4:])
    for garbage in (b"\x04" + b"\x00" * 200, b"\x01"):
        evil = calldata("createGroup(bytes32,string,address[],bytes[],bytes32)", types,
                        [group_id, name, members, [wrapped[0], garbage], commitment])
        net.block([sign(BOB, nonce=net.ledgers["a"].get_nonce(BOB.address), to=PRIVACY_HEX,
                        data=evil, gas=3_000_000)])
        if api.rpc("priv_getPrivacyGroup", "0x" + bad.hex())["status"] == "pending":
            break
    net.block([sign(ALICE, nonce=net.ledgers["a"].get_nonce(ALICE.address), to=PRIVACY_HEX,
                    data=calldata("joinGroup(bytes32)", ["bytes32"], [bad]), gas=3_000_000)])
    assert api.rpc("priv_getPrivacyGroup", "0x" + bad.hex())["status"] == "active"
    key = b_key_of(net, bad)
    raw = sign(BOB, nonce=0, to=ALICE.address, chain_id=group_chain_id_of(bad))
    net.block([marker_from_b(net, "0x" + bad.hex(), seal_batch(key, bad, 0, [raw]))])
    net.block()
    assert net.groups["a"].epoch_key(bad, 0) is None
    message = api.error("priv_distributeRawTransaction",
                        private("a", group_chain_id_of(bad), 0, to=BOB.address),
                        "0x" + bad.hex())
    assert "epoch 0" in message or "key" in message
    still_serves(net, group, chain_id)


def b_key_of(net: Net, group: bytes) -> bytes:
    key = net.groups["b"].epoch_key(group, 0)
    assert key is not None
    return key


def calling_initcode(target: bytes, payload: bytes) -> bytes:
    """Initcode that CALLs `target` with `payload` (all its gas) and stops."""
    size = len(payload).to_bytes(2, "big")
    head = (b"\x61" + size + b"\x61" + (44).to_bytes(2, "big") + b"\x60\x00\x39"  # CODECOPY
            + b"\x60\x00\x60\x00\x61" + size + b"\x60\x00\x60\x00\x73" + target
            + b"\x5a\xf1\x00")  # GAS CALL STOP
    assert len(head) == 44
    return head + payload


def test_a_private_contract_cannot_write_the_public_system_contracts(
        group_net: tuple[Net, str, int]) -> None:
    """Private code calling Privacy, Governance or Permissions to change them: the call
    fails inside the private world, public state is untouched, the processor goes on."""
    from consortium.system.model import GOVERNANCE_ADDRESS, PERMISSIONS_ADDRESS
    from consortium.system.privacy import PRIVACY_ADDRESS
    from consortium.system.sealing import public_key_of

    net, group, chain_id = group_net
    public_before = net.ledgers["a"].info()
    writes = [
        (PRIVACY_ADDRESS, calldata("registerNode(bytes,bytes)", ["bytes", "bytes"],
                                   [public_key_of(b"\x55" * 32), b"\x01" * 65])),
        (PRIVACY_ADDRESS, calldata("submit(bytes32,uint32,bytes)",
                                   ["bytes32", "uint32", "bytes"], [gid(group), 0, b"x"])),
        (GOVERNANCE_ADDRESS, calldata("vote(uint256,bool)", ["uint256", "bool"], [1, True])),
        (PERMISSIONS_ADDRESS, b"\xff" * 68),
    ]
    txs = [sign(BOB, nonce=n, data=calling_initcode(bytes(to), data), gas=3_000_000,
                chain_id=chain_id) for n, (to, data) in enumerate(writes)]
    net.block([marker_from_b(net, group, seal_batch(b_key(net, group), gid(group), 0, txs))])
    reader = net.groups["a"].reader(gid(group))
    assert reader is not None and int(reader.get_nonce(BOB.address)) == len(txs)
    view = net.privacy["a"].groups._view(net.ledgers["a"].info()[0])
    found = view.node_of_member(view.member_of_account(bytes.fromhex(BOB.address[2:])))
    assert found is not None and bytes(found[1]) == public_key_of(NODE_KEYS["b"])
    assert net.ledgers["a"].info()[0] == public_before[0] + 1
    still_serves(net, group, chain_id)


def test_private_deploys_at_the_size_limits(group_net: tuple[Net, str, int]) -> None:
    """Initcode of 49,152 bytes returning 24,576 bytes of code deploys; one byte more of
    initcode is refused naming the limit; code over 24,576 bytes fails (status 0)."""
    net, group, chain_id = group_net
    a = net.apis["a"]

    def returning(code_size: int, total: int) -> bytes:
        # RETURN(0, code_size) of zeroed memory, padded with STOPs to `total` bytes
        head = b"\x61" + code_size.to_bytes(2, "big") + b"\x60\x00\xf3"
        return head + b"\x00" * (total - len(head))

    def deploy(nonce: int, initcode: bytes) -> str:
        return "0x" + sign(ALICE, nonce=nonce, data=initcode, gas=30_000_000,
                           chain_id=chain_id).hex()

    ok = deploy(0, returning(24_576, 49_152))
    too_big = deploy(1, returning(24_576, 49_153))
    code_over = deploy(1, returning(24_577, 100))
    assert "initcode" in a.error("priv_distributeRawTransaction", too_big, group)
    first = a.rpc("priv_distributeRawTransaction", ok, group)
    second = a.rpc("priv_distributeRawTransaction", code_over, group)
    in_marker(a, second)
    net.block()
    receipt = a.rpc("priv_getTransactionReceipt", first)
    assert receipt["status"] == "0x1"
    assert len(a.rpc("priv_getCode", group, receipt["contractAddress"], "latest")) == \
        2 + 2 * 24_576
    assert a.rpc("priv_getTransactionReceipt", second)["status"] == "0x0"
    agree(net, group)
    still_serves(net, group, chain_id)


def test_a_removed_members_markers_are_refused(group_net: tuple[Net, str, int]) -> None:
    """Bank A removes Bank B (it needs no other approval); B's node keeps sending markers
    for the old and the new epoch: the Privacy contract refuses them, A's processor follows
    on, B's stops where its keys end, and A's private state is what A's transactions made."""
    net, group, chain_id = group_net
    a = net.apis["a"]
    change = a.rpc("priv_proposeMembersChange", {"privacyGroupId": group, "add": ["Bank C"],
                                                 "remove": ["Bank B"]})
    net.block([net.send("a", change["to"], change["data"])])
    assert [m["name"] for m in a.rpc("priv_getPrivacyGroup", group)["members"]] == \
        ["Bank A", "Bank C"]
    key = b_key(net, group)
    raw = sign(BOB, nonce=0, to=ALICE.address, chain_id=chain_id)
    markers = [marker_from_b(net, group, seal_batch(key, gid(group), epoch, [raw]),
                             epoch=epoch) for epoch in (0, 1)]
    markers[1] = sign(Account.from_key(NODE_KEYS["b"]),
                      nonce=net.ledgers["a"].get_nonce(
                          Account.from_key(NODE_KEYS["b"]).address) + 1,
                      to=PRIVACY_HEX, gas=8_000_000, data=calldata(
                          "submit(bytes32,uint32,bytes)", ["bytes32", "uint32", "bytes"],
                          [gid(group), 1, seal_batch(key, gid(group), 1, [raw])]))
    net.block(markers)
    for marker in markers:
        found = net.ledgers["a"].receipt_record("0x" + _hash(marker).hex())
        assert found is not None and int(found[0].status) == 0
    reader = net.groups["a"].reader(gid(group))
    assert reader is not None and int(reader.get_nonce(BOB.address)) == 0
    tip = net.ledgers["a"].info()[0]
    assert net.groups["a"].processed_height(gid(group)) == tip
    nonce = int(a.rpc("priv_getTransactionCount", ALICE.address, group), 16)
    tx = a.rpc("priv_distributeRawTransaction", private("a", chain_id, nonce, to=BOB.address),
               group)
    in_marker(a, tx)
    net.block()
    assert a.rpc("priv_getTransactionReceipt", tx)["status"] == "0x1"
    # node C (added with the history) follows and agrees with A
    c_reader = net.groups["c"].reader(gid(group))
    assert c_reader is not None
    tip = net.ledgers["a"].info()[0]
    assert net.groups["c"].processed_height(gid(group)) == tip
    assert c_reader.root_at(tip) == reader.root_at(tip)


def test_a_change_with_garbage_history_and_keys(group_net: tuple[Net, str, int]) -> None:
    """Bank B proposes adding Bank C with a garbage history key and a garbage new-epoch
    key for C, and A approves: C's node cannot open the group's keys, logs it and stays
    where it is (no crash, its API says why), while A and B go on and agree."""
    from eth_abi import decode as abi_decode

    net, group, chain_id = group_net
    made = net.apis["a"].rpc("priv_proposeMembersChange",
                             {"privacyGroupId": group, "add": ["Bank C"]})
    data = bytes.fromhex(made["data"][2:])
    types = ["bytes32", "address[]", "address[]", "address[]", "bytes[]", "bytes[]", "bytes32"]
    group_id, add, remove, holders, wrapped, histories, commitment = abi_decode(types,
                                                                                data[4:])
    c_at = [i for i, h in enumerate(holders) if h.lower() == add[0].lower()][0]
    wrapped = list(wrapped)
    wrapped[c_at] = b"\x04" + b"\x01" * 128
    evil = calldata("proposeChange(bytes32,address[],address[],address[],bytes[],bytes[],"
                    "bytes32)", types,
                    [group_id, add, remove, holders, wrapped, [b"\x04" * 129], commitment])
    net.block([sign(BOB, nonce=net.ledgers["a"].get_nonce(BOB.address), to=PRIVACY_HEX,
                    data=evil, gas=3_000_000)])
    net.block([net.public("a", "approveChange(bytes32)", ["bytes32"], [gid(group)])])
    info = net.apis["a"].rpc("priv_getPrivacyGroup", group)
    assert info["epoch"] == 1 and len(info["members"]) == 3
    assert net.groups["c"].epoch_key(gid(group), 1) is None
    assert net.groups["c"].epoch_key(gid(group), 0) is None
    still_serves(net, group, chain_id)  # A's marker at epoch 1: A and B agree
    c_done = net.groups["c"].processed_height(gid(group))
    assert c_done < net.ledgers["a"].info()[0]  # stopped before the first marker it can't open
    assert "key" in net.apis["c"].error(
        "priv_distributeRawTransaction", private("c", chain_id, 0, to=BOB.address), group)


def test_groups_a_member_never_joined_cost_its_node_nothing(
        group_net: tuple[Net, str, int], monkeypatch: pytest.MonkeyPatch) -> None:
    """Any member can found groups naming another one, as many as it likes (each a public
    transaction); the named member's node keeps no store for a group until the group is
    active (every founder joined): else each would take an LMDB environment (64 GiB of
    address space, file descriptors) and a share of the processor at every height."""
    import os

    net, group, chain_id = group_net
    api = net.apis["a"]
    fds = len(os.listdir("/proc/self/fd"))
    txs = []
    nonce = net.ledgers["a"].get_nonce(BOB.address)
    for n in range(40):
        made = api.rpc("priv_createPrivacyGroup", {"name": f"spam {n}",
                                                   "members": ["Bank B", "Bank A"]})
        txs.append(sign(BOB, nonce=nonce + n, to=made["to"],
                        data=bytes.fromhex(made["data"][2:]), gas=3_000_000))
    net.block(txs)
    net.block()
    assert len(net.ledgers["a"].chain.txs_of_block(net.ledgers["a"].info()[0] - 1)) == 40
    assert net.groups["a"].group_ids() == [gid(group)]
    assert len(os.listdir("/proc/self/fd")) < fds + 40
    # and the processor does not read them all again at every block
    from consortium.system.privacy import PrivacyView

    looked: list[bytes] = []
    real = PrivacyView.group

    def counted(self: PrivacyView, group_id: bytes) -> Any:
        looked.append(bytes(group_id))
        return real(self, group_id)

    monkeypatch.setattr(PrivacyView, "group", counted)
    net.block()
    assert len(looked) <= 3 * 2, len(looked)  # per node: its groups' execution views at most
    still_serves(net, group, chain_id)


def test_reads_of_a_pending_group_say_why_there_is_nothing(
        group_net: tuple[Net, str, int]) -> None:
    net, group, chain_id = group_net
    api = net.apis["a"]
    made = api.rpc("priv_createPrivacyGroup", {"name": "later", "members": ["Bank B",
                                                                          "Bank A"]})
    net.block([net.send("b", made["to"], made["data"])])
    pending = made["privacyGroupId"]
    assert api.rpc("priv_getPrivacyGroup", pending)["status"] == "pending"
    for method, params in (("priv_getStateRoot", [pending, "latest"]),
                           ("priv_getCode", [pending, BOB.address, "latest"]),
                           ("priv_call", [pending, {"to": BOB.address}, "latest"])):
        assert "once every founding member has joined" in api.error(method, *params)
    assert "not active yet" in api.error(
        "priv_distributeRawTransaction",
        private("a", int(made["chainId"], 16), 0, to=BOB.address), pending)
    still_serves(net, group, chain_id)


def test_a_founder_wrapping_different_keys_is_refused_by_the_key_commitment(
        group_net: tuple[Net, str, int]) -> None:
    """Bank B founds a group committing to its own key but giving node A another one. Node A
    opens a key that does not match the commitment: it never uses it (no private state is
    executed under it), its API says so (keyOpens false, keyProblem), and the SDK (and so
    the CLI) refuses to send A's join. Joined anyway by hand, B's marker is never executed
    on node A (A stops the group), while B's own node executes it."""
    from consortium.sdk.privacy import PrivacyClient
    from consortium.system.privacy_payload import key_commitment
    from consortium.system.sealing import new_key, public_key_of, wrap_key

    net, group, chain_id = group_net
    bad = b"\x03" * 32
    b_key_, other = new_key(), new_key()
    wrapped = [wrap_key(b_key_, public_key_of(NODE_KEYS["b"])),
               wrap_key(other, public_key_of(NODE_KEYS["a"]))]
    net.block([sign(BOB, nonce=net.ledgers["a"].get_nonce(BOB.address), to=PRIVACY_HEX,
                    gas=3_000_000, data=calldata(
                        "createGroup(bytes32,string,address[],bytes[],bytes32)",
                        ["bytes32", "string", "address[]", "bytes[]", "bytes32"],
                        [bad, "split", [BOB.address, ALICE.address], wrapped,
                         key_commitment(bad, 0, b_key_)]))])
    info = net.apis["a"].rpc("priv_getPrivacyGroup", "0x" + bad.hex())
    assert info["thisNodeIsMember"] and info["keyOpens"] is False
    assert "does not match the group's key commitment" in info["keyProblem"]
    assert net.groups["a"].epoch_key(bad, 0) is None  # opened, not used
    assert net.groups["b"].epoch_key(bad, 0) == b_key_
    assert net.groups["b"].key_opens(bad) and not net.groups["b"].key_mismatch(bad)
    # the SDK (what `consortium privacy join` runs) refuses to send A's join
    client = PrivacyClient("http://127.0.0.1:1")  # never reached: answers from node A
    client.rpc = net.apis["a"].rpc  # type: ignore[method-assign]
    with pytest.raises(TxError, match="keyOpens false.*does not match"):
        client.join(ALICE, "0x" + bad.hex())
    assert net.apis["a"].rpc("priv_getPrivacyGroup", "0x" + bad.hex())["status"] == "pending"
    # joined by hand: B's marker is executed on B's node only
    net.block([net.public("a", "joinGroup(bytes32)", ["bytes32"], [bad])])
    raw = sign(BOB, nonce=0, to=ALICE.address, chain_id=group_chain_id_of(bad))
    height = net.block([marker_from_b(net, "0x" + bad.hex(), seal_batch(b_key_, bad, 0,
                                                                         [raw]))])
    net.block()
    b_reader = net.groups["b"].reader(bad)
    assert b_reader is not None and int(b_reader.get_nonce(BOB.address)) == 1
    assert net.groups["a"].processed_height(bad) < height  # stopped before the marker
    a_reader = net.groups["a"].reader(bad)
    assert a_reader is None or int(a_reader.get_nonce(BOB.address)) == 0
    assert net.groups["a"].epoch_key(bad, 0) is None
    assert not net.apis["a"].rpc("priv_getPrivacyGroup", "0x" + bad.hex())["keyOpens"]
    still_serves(net, group, chain_id)


def test_a_change_wrapping_another_key_for_a_member_is_not_approved_through_the_sdk(
        group_net: tuple[Net, str, int]) -> None:
    """Bank B proposes adding Bank C, committing to the new epoch's key but wrapping another
    for node A: node A says the open change's key does not match (keyProblem) and the SDK
    (the CLI's approve) refuses to send A's approval; the group stays at epoch 0."""
    from eth_abi import decode as abi_decode

    from consortium.sdk.privacy import PrivacyClient
    from consortium.system.sealing import new_key, public_key_of, wrap_key

    net, group, chain_id = group_net
    made = net.apis["a"].rpc("priv_proposeMembersChange",
                             {"privacyGroupId": group, "add": ["Bank C"]})
    types = ["bytes32", "address[]", "address[]", "address[]", "bytes[]", "bytes[]", "bytes32"]
    group_id, add, remove, holders, wrapped, histories, commitment = abi_decode(
        types, bytes.fromhex(made["data"][2:])[4:])
    a_at = [i for i, h in enumerate(holders) if h.lower() == ALICE.address.lower()][0]
    wrapped = list(wrapped)
    wrapped[a_at] = wrap_key(new_key(), public_key_of(NODE_KEYS["a"]))
    evil = calldata("proposeChange(bytes32,address[],address[],address[],bytes[],bytes[],"
                    "bytes32)", types,
                    [group_id, add, remove, holders, wrapped, histories, commitment])
    net.block([sign(BOB, nonce=net.ledgers["a"].get_nonce(BOB.address), to=PRIVACY_HEX,
                    data=evil, gas=3_000_000)])
    info = net.apis["a"].rpc("priv_getPrivacyGroup", group)
    assert info["keyOpens"] is True  # epoch 0's key is still good …
    assert "the open change wrapped for this node does not match" in info["keyProblem"]
    client = PrivacyClient("http://127.0.0.1:1")  # never reached: answers from node A
    client.rpc = net.apis["a"].rpc  # type: ignore[method-assign]
    with pytest.raises(TxError, match="approving the change of .* does not match"):
        client.approve(ALICE, group)
    assert net.apis["a"].rpc("priv_getPrivacyGroup", group)["epoch"] == 0
    still_serves(net, group, chain_id)


def test_a_restarted_processor_after_hostile_markers_agrees(
        group_net: tuple[Net, str, int], tmp_path: Path) -> None:
    """Node A's processor, its thread running, sees garbage and looping markers, is stopped
    and made again over the same stores: it resumes where it was, follows the blocks that
    came meanwhile, and agrees with B."""
    from consortium.ledger.private_groups import PrivateGroups

    net, group, chain_id = group_net
    key = b_key(net, group)
    groups = net.groups["a"]
    groups.start()
    loops = [sign(BOB, nonce=n, data=LOOP_INITCODE, gas=GAS_LIMIT // 4, chain_id=chain_id)
             for n in range(6)]
    net.block([marker_from_b(net, group, seal_batch(key, gid(group), 0, [b"\x01", *loops]))])
    net.block([marker_from_b(net, group, sealed_plain(net, group, b"\xc1"))])
    assert groups._thread is not None and groups._thread.is_alive()
    before = agree(net, group)
    groups.stop()
    net.block([marker_from_b(net, group, seal_batch(key, gid(group), 0, [loops[0]]))])
    again = PrivateGroups(net.ledgers["a"], tmp_path / "a" / "app", NODE_KEYS["a"],
                          on_block=net.privacy["a"].on_block)
    net.groups["a"] = net.privacy["a"].groups = again
    assert again.processed_height(gid(group)) == net.ledgers["a"].info()[0] - 1
    reader = again.reader(gid(group))
    assert reader is not None and reader.root_at(net.ledgers["a"].info()[0] - 1) == before
    again.follow()
    agree(net, group)
