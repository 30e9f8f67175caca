"""Privacy groups through a node's API (issue 22): the priv_ methods and the marker submitter
over real in-process ledgers. Three nodes (Banks A, B, C) execute the same public blocks;
node A and node C serve the API (A is in the group, C is not); a stub CometBFT RPC runs node
A's CheckTx, and each block commits what its mempool holds on every ledger, then runs each
node's group processor."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_hash.auto import keccak
from starlette.testclient import TestClient

from consortium.api.app import create_app
from consortium.api.auth import needed_for_call
from consortium.api.engine_client import CheckTxWatch
from consortium.api.private_rpc import PRIVATE_METHODS, PRIVATE_SUBMIT_METHODS
from consortium.api.private_submit import PrivacyNode, load_privacy_key, node_identity
from consortium.errors import ConfigError
from consortium.evm import revm_engine
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.private_groups import PrivateGroups
from consortium.system.privacy import PRIVACY_ADDRESS
from consortium.system.privacy_payload import group_chain_id, node_proof_signer, prove_node
from consortium.system.sealing import public_key_of
from tests.support.jsonrpc_testkit import StubEngine
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    CAROL,
    CHAIN_ID,
    GAS_LIMIT,
    calldata,
    ctx,
    sign,
    token_deploy_data,
)

NAMES = {"a": "Bank A", "b": "Bank B", "c": "Bank C"}
ACCOUNTS = {"a": ALICE, "b": BOB, "c": CAROL}
NODE_KEYS = {name: bytes([i]) * 32 for i, name in ((0xA1, "a"), (0xB2, "b"), (0xC3, "c"))}
PRIVACY_HEX = "0x" + PRIVACY_ADDRESS.hex()
ENGINE = "revm" if revm_engine.available() else "py-evm"
TRANSFER_TOPIC = "0x" + bytes.fromhex(
    "ddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef").hex()


def privacy_state() -> AppState:
    return AppState.from_json({
        "eth_chain_id": CHAIN_ID, "block_gas_limit": GAS_LIMIT,
        "members": [{"name": NAMES[n], "accounts": [a.address.lower()]}
                    for n, a in ACCOUNTS.items()],
        "alloc": {}, "native_versions": {"Privacy": 1},
    })


def wait(predicate: Callable[[], Any], what: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Api:
    """A node's API (TestClient) over its ledger and privacy processor."""

    def __init__(self, ledger: Ledger, groups: PrivateGroups, privacy: PrivacyNode) -> None:
        self.watch = CheckTxWatch()
        self.engine = StubEngine(ledger, self.watch)
        self.app = create_app(ledger, self.engine.url, node_name="test", checks=self.watch,
                              privacy=privacy, console=False)
        self.client = TestClient(self.app)
        self.ids = 0

    def raw(self, method: str, *params: Any) -> dict[str, Any]:
        self.ids += 1
        answer = self.client.post("/", json={"jsonrpc": "2.0", "id": self.ids,
                                             "method": method, "params": list(params)})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def rpc(self, method: str, *params: Any) -> Any:
        body = self.raw(method, *params)
        assert "error" not in body, body
        return body["result"]

    def error(self, method: str, *params: Any) -> str:
        body = self.raw(method, *params)
        assert "error" in body, body
        return str(body["error"]["message"])


class Net:
    def __init__(self, home: Path) -> None:
        self.ledgers: dict[str, Ledger] = {}
        self.groups: dict[str, PrivateGroups] = {}
        self.privacy: dict[str, PrivacyNode] = {}
        for name in NAMES:
            ledger = Ledger(home / name / "app", engine=ENGINE)
            ledger.init_chain(privacy_state(), 1)
            node = PrivacyNode(NODE_KEYS[name])
            node.groups = PrivateGroups(ledger, home / name / "app", NODE_KEYS[name],
                                        on_block=node.on_block)
            self.ledgers[name], self.groups[name], self.privacy[name] = ledger, node.groups, node
        self.apis = {n: Api(self.ledgers[n], self.groups[n], self.privacy[n]) for n in "ac"}

    def start(self) -> None:
        for api in self.apis.values():
            api.client.__enter__()
            api.engine.loop = api.client.portal.call(asyncio.get_running_loop)

    def block(self, txs: list[bytes] | None = None) -> int:
        """Commit `txs` and everything the APIs' engines hold, on every ledger."""
        pool = list(txs or [])
        engines = [api.engine for api in self.apis.values()]
        for engine in engines:  # no CheckTx (nor a flusher's submission) while the block is made
            engine.lock.acquire()
        try:
            for engine in engines:
                pool += engine.mempool
                engine.mempool = []
            height = self.ledgers["a"].info()[0] + 1
            hashes = set()
            for ledger in self.ledgers.values():
                out = ledger.finalize_block(ctx(height), pool)
                ledger.commit()
                hashes.add(out.app_hash)
        finally:
            for engine in engines:
                engine.lock.release()
        assert len(hashes) == 1
        for groups in self.groups.values():
            groups.follow()
        return height

    def public(self, who: str, signature: str, types: list[str], args: list[Any]) -> bytes:
        account = ACCOUNTS[who]
        return sign(account, nonce=self.ledgers["a"].get_nonce(account.address),
                    to=PRIVACY_HEX, data=calldata(signature, types, args), gas=3_000_000)

    def send(self, who: str, to: str, data: str) -> bytes:
        account = ACCOUNTS[who]
        return sign(account, nonce=self.ledgers["a"].get_nonce(account.address), to=to,
                    data=bytes.fromhex(data[2:]), gas=3_000_000)

    def close(self) -> None:
        for api in self.apis.values():
            api.client.__exit__(None, None, None)
            api.engine.close()
        for name, ledger in self.ledgers.items():
            self.groups[name].stop()
            ledger.close()


@pytest.fixture
def net(tmp_path: Path) -> Iterator[Net]:
    network = Net(tmp_path)
    network.start()
    try:
        yield network
    finally:
        network.close()


def register_all(net: Net) -> None:
    net.block([net.public(n, "registerNode(bytes,bytes)", ["bytes", "bytes"],
                          [public_key_of(NODE_KEYS[n]), proof(NODE_KEYS[n], n)]) for n in NAMES])


def proof(node_key: bytes, who: str) -> bytes:
    """The node key's proof of possession for `who`'s account (priv_proveNodeKey's)."""
    return prove_node(node_key, CHAIN_ID, bytes.fromhex(ACCOUNTS[who].address[2:]))


def make_group(net: Net) -> tuple[str, int]:
    """Banks A and B found a group through node A's API; returns (id, chain id)."""
    a = net.apis["a"]
    made = a.rpc("priv_createPrivacyGroup", {"name": "Deals", "members": ["Bank A", BOB.address]})
    assert made["to"] == PRIVACY_HEX
    net.block([net.send("a", made["to"], made["data"])])
    group = made["privacyGroupId"]
    assert a.rpc("priv_getPrivacyGroup", group)["status"] == "pending"
    net.block([net.public("b", "joinGroup(bytes32)", ["bytes32"], [bytes.fromhex(group[2:])])])
    return group, int(made["chainId"], 16)


def private(who: str, chain_id: int, nonce: int, *, to: str | None = None, data: bytes = b"",
            **extra: Any) -> str:
    return "0x" + sign(ACCOUNTS[who], nonce=nonce, to=to, data=data, gas=3_000_000,
                       chain_id=chain_id, **extra).hex()


def marker_sent(net: Net) -> bool:
    return bool(net.apis["a"].engine.mempool)


def in_marker(api: Api, tx_hash: str) -> None:
    """Wait until the private transaction's marker is in the (stub) engine's mempool."""
    wait(lambda: api.rpc("priv_getTransactionStatus", tx_hash)["status"] == "pending",
         f"the marker of {tx_hash}")


def attested(net: Net, group: str, height: int) -> dict[str, Any]:
    """Blocks until node A's attestation of `height` is committed; what the chain says."""
    api = net.apis["a"]

    def done() -> Any:
        net.block()
        found = api.rpc("priv_getStateRoot", group, hex(height))
        return found if found["attested"]["attestations"] else None

    return dict(wait(done, f"node A's attestation of height {height}"))


def test_distribute_marker_receipt_reads_and_attestation(net: Net) -> None:
    a, c = net.apis["a"], net.apis["c"]
    key = a.rpc("priv_getNodeKey")
    account, public = node_identity(NODE_KEYS["a"])
    assert key == {"publicKey": "0x" + public.hex(), "address": "0x" + account.hex(),
                   "member": None, "memberName": None, "registered": False}
    # the proof of possession the node gives for an account: its key's, for that account
    proved = a.rpc("priv_proveNodeKey", ACCOUNTS["a"].address)
    assert proved["account"] == ACCOUNTS["a"].address.lower()
    assert node_proof_signer(bytes.fromhex(proved["signature"][2:]), CHAIN_ID,
                             bytes.fromhex(ACCOUNTS["a"].address[2:])) == public
    assert proved["signature"] == "0x" + proof(NODE_KEYS["a"], "a").hex()
    register_all(net)
    assert a.rpc("priv_getNodeKey")["memberName"] == "Bank A"
    group, chain_id = make_group(net)
    info = a.rpc("priv_getPrivacyGroup", group)
    assert (info["keyOpens"], info["keyProblem"]) == (True, None)  # opened and committed
    assert chain_id == group_chain_id(CHAIN_ID, bytes.fromhex(group[2:]))
    assert a.rpc("priv_getChainId", group) == hex(chain_id)
    info = a.rpc("priv_getPrivacyGroup", group)
    assert info["status"] == "active" and info["thisNodeIsMember"]
    assert [m["name"] for m in info["members"]] == ["Bank A", "Bank B"]
    assert [g["privacyGroupId"] for g in a.rpc("priv_findPrivacyGroup", [ALICE.address])] == \
        [group]
    assert a.rpc("priv_findPrivacyGroup", ["Bank C"]) == []
    assert not c.rpc("priv_getPrivacyGroup", group)["thisNodeIsMember"]

    # distribute -> marker (signed by node A's account) -> processed -> receipt
    deploy = private("a", chain_id, 0, data=token_deploy_data(1_000))
    tx_hash = a.rpc("priv_distributeRawTransaction", deploy, group)
    assert a.rpc("priv_getTransactionStatus", tx_hash)["status"] in ("queued", "pending")
    in_marker(a, tx_hash)
    [marker] = a.engine.mempool
    assert marker.hex().find(token_deploy_data(1_000)[-40:].hex()) < 0  # sealed
    status = a.rpc("priv_getTransactionStatus", tx_hash)
    assert status["status"] == "pending" and status["markerHash"]
    height = net.block()
    receipt = a.rpc("priv_getTransactionReceipt", tx_hash)
    assert receipt["status"] == "0x1" and receipt["privacyGroupId"] == group
    assert receipt["markerHash"] == status["markerHash"]
    assert int(receipt["blockNumber"], 16) == height
    assert receipt["from"] == ALICE.address.lower()
    token = receipt["contractAddress"]
    marker_tx = net.ledgers["a"].tx_record(status["markerHash"])
    assert marker_tx is not None and marker_tx[0].sender == account  # the node account
    assert a.rpc("priv_getTransactionStatus", tx_hash)["status"] == "committed"

    # private reads
    assert len(a.rpc("priv_getCode", group, token, "latest")) > 100
    assert a.rpc("priv_getCode", group, token, hex(height - 1)) == "0x"
    assert a.rpc("priv_getTransactionCount", ALICE.address, group) == "0x1"
    pay = calldata("transfer(address,uint256)", ["address", "uint256"], [BOB.address, 250])
    sent = a.rpc("priv_distributeRawTransaction", private("a", chain_id, 1, to=token, data=pay),
                 group)
    assert a.rpc("priv_getTransactionCount", ALICE.address, group) == "0x2"  # counts queued
    assert "is taken by" in a.error("priv_distributeRawTransaction",
                                    private("a", chain_id, 1, to=token), group)
    in_marker(a, sent)
    transfer_height = net.block()
    assert a.rpc("priv_getTransactionReceipt", sent)["status"] == "0x1"
    balance = calldata("balanceOf(address)", ["address"], [BOB.address])
    out = a.rpc("priv_call", group, {"to": token, "data": "0x" + balance.hex()}, "latest")
    assert int(out, 16) == 250
    logs = a.rpc("priv_getLogs", group, {"fromBlock": "0x0", "address": token})
    assert [int(entry["blockNumber"], 16) for entry in logs] == [height, transfer_height]
    assert {entry["topics"][0] for entry in logs} == {TRANSFER_TOPIC}

    # node A attests the roots of both marker heights in its next markers
    root = attested(net, group, transfer_height)
    assert root["height"] == transfer_height
    assert root["root"] == "0x" + net.groups["a"].reader(bytes.fromhex(group[2:]))\
        .root_at(transfer_height).hex()  # type: ignore[union-attr]
    assert root["attested"] == {"root": root["root"], "attestations": 1, "mismatch": False}

    # the non-member node: nothing private to serve
    assert c.rpc("priv_getTransactionReceipt", sent) is None
    assert "not a member's node" in c.error("priv_call", group, {"to": token}, "latest")
    assert "not a member's node" in c.error("priv_getStateRoot", group, "latest")
    assert "not a member's node" in c.error(
        "priv_distributeRawTransaction", private("c", chain_id, 0, data=b"\x00"), group)


def restart_api(net: Net, name: str) -> Api:
    """A node's API made again over the same ledger and processor (the node restarted): a
    new submitter, the old one unhooked from the processor."""
    old = net.apis[name]
    old.client.__exit__(None, None, None)
    old.engine.close()
    net.privacy[name].listeners.clear()
    api = net.apis[name] = Api(net.ledgers[name], net.groups[name], net.privacy[name])
    api.client.__enter__()
    api.engine.loop = api.client.portal.call(asyncio.get_running_loop)
    return api


def attestations_sent(net: Net, name: str) -> list[tuple[int, int]]:
    """(height attested, status) of every attestRoot node `name`'s account sent, in order."""
    from eth.vm.forks.prague.transactions import PragueTransactionBuilder
    from eth_abi import decode as abi_decode

    from consortium.api.private_submit import ATTEST

    account = node_identity(NODE_KEYS[name])[0]
    ledger = net.ledgers[name]
    out = []
    for height in range(1, ledger.info()[0] + 1):
        for rec in ledger.chain.txs_of_block(height):
            data = bytes(PragueTransactionBuilder.decode(rec.raw).data)
            if rec.sender == account and data[:4] == ATTEST:
                _, attested_height, _ = abi_decode(["bytes32", "uint64", "bytes32"], data[4:])
                out.append((int(attested_height), rec.status))
    return out


def test_a_restarted_node_attests_the_heights_it_missed(net: Net) -> None:
    """The processor does not announce again a height it wrote just before a crash, so the
    attestation of that height would be lost: at start the submitter attests the recent
    heights with markers its member has not attested, and only those."""
    a = net.apis["a"]
    register_all(net)
    group, chain_id = make_group(net)
    first = a.rpc("priv_distributeRawTransaction", private("a", chain_id, 0, data=b"\x01"), group)
    in_marker(a, first)
    attested_before = net.block()
    attested(net, group, attested_before)
    # the next marker height is written by the processor; the node dies before attesting it
    net.privacy["a"].listeners.clear()
    second = a.rpc("priv_distributeRawTransaction", private("a", chain_id, 1, data=b"\x02"), group)
    in_marker(a, second)
    missed = net.block()
    for _ in range(3):
        net.block()
    assert a.rpc("priv_getStateRoot", group, hex(missed))["attested"]["attestations"] == 0
    assert attestations_sent(net, "a") == [(attested_before, 1)]

    restart_api(net, "a")
    root = attested(net, group, missed)
    assert root["attested"] == {"root": root["root"], "attestations": 1, "mismatch": False}
    assert root["root"] == "0x" + net.groups["a"].reader(bytes.fromhex(group[2:]))\
        .root_at(missed).hex()  # type: ignore[union-attr]
    for _ in range(3):
        net.block()
    # the height attested before the restart is not attested again (it would revert)
    assert attestations_sent(net, "a") == [(attested_before, 1), (missed, 1)]


def test_distribute_refusals(net: Net) -> None:
    a = net.apis["a"]
    register_all(net)
    group, chain_id = make_group(net)
    unknown = "0x" + "11" * 32
    assert "unknown privacy group" in a.error("priv_distributeRawTransaction",
                                              private("a", chain_id, 0), unknown)
    assert "unknown privacy group" in a.error("priv_getChainId", unknown)
    public_chain = private("a", CHAIN_ID, 0)  # signed for the public chain
    assert "chain" in a.error("priv_distributeRawTransaction", public_chain, group).lower()
    assert "gas price" in a.error("priv_distributeRawTransaction",
                                  private("a", chain_id, 0, gas_price=1), group)
    assert "not an account of a member" in a.error("priv_distributeRawTransaction",
                                                   private("c", chain_id, 0), group)
    low = "0x" + sign(ALICE, nonce=0, gas=21_000, data=b"\x01" * 100, chain_id=chain_id).hex()
    assert "intrinsic gas too low" in a.error("priv_distributeRawTransaction", low, group)
    assert "raw transaction" in a.error("priv_distributeRawTransaction", "0x", group)
    assert a.error("priv_distributeRawTransaction", "0x1234", group)
    assert "privacy group id" in a.error("priv_distributeRawTransaction",
                                         private("a", chain_id, 0), "0x12")
    assert "no consortium member is named" in a.error(
        "priv_createPrivacyGroup", {"name": "x", "members": ["Bank A", "Nobody"]})
    assert "2 to 64" in a.error("priv_createPrivacyGroup", {"name": "x", "members": ["Bank A"]})
    assert "unknown field" in a.error("priv_createPrivacyGroup", {"nom": "x"})
    assert "already in the group" in a.error(
        "priv_proposeMembersChange", {"privacyGroupId": group, "add": ["Bank B"]})
    assert not marker_sent(net)


def test_a_batch_keeps_its_order(net: Net) -> None:
    """A JSON-RPC batch's private transactions are checked in parallel threads, and still
    sealed in the order they arrived: one sender's 40 nonces all execute."""
    a = net.apis["a"]
    register_all(net)
    group, chain_id = make_group(net)
    raws = [private("a", chain_id, n, data=bytes([n])) for n in range(40)]
    answers = a.client.post("/", json=[
        {"jsonrpc": "2.0", "id": n, "method": "priv_distributeRawTransaction",
         "params": [raw, group]} for n, raw in enumerate(raws)]).json()
    hashes = [answer["result"] for answer in answers]
    in_marker(a, hashes[-1])  # markers go out in order: the earlier ones are sent too
    net.block()
    statuses = [a.rpc("priv_getTransactionStatus", h)["status"] for h in hashes]
    assert statuses == ["committed"] * 40
    assert a.rpc("priv_getTransactionCount", ALICE.address, group) == hex(40)

    # a nonce ahead: held by the node until the gap fills (test_private_nonce_hold.py);
    # the count does not move; 40 is free
    ahead = a.rpc("priv_distributeRawTransaction", private("a", chain_id, 45), group)
    assert a.rpc("priv_getTransactionCount", ALICE.address, group) == hex(40)
    status = a.rpc("priv_getTransactionStatus", ahead)
    assert status["status"] == "queued" and "held until nonce 40" in status["reason"], status
    assert a.rpc("priv_getTransactionReceipt", ahead) is None
    again = a.rpc("priv_distributeRawTransaction", private("a", chain_id, 40), group)
    in_marker(a, again)
    net.block()
    assert a.rpc("priv_getTransactionReceipt", again)["status"] == "0x1"


def test_refused_marker_rejects_its_private_transactions(net: Net) -> None:
    """A marker CheckTx refuses (here: Bank A registered another node key meanwhile, so
    node A's account may no longer submit): distribute answers the reason, and the private
    transaction's status and receipt say it was rejected."""
    import threading

    a = net.apis["a"]
    register_all(net)
    group, chain_id = make_group(net)
    submitter = a.app.state.jsonrpc.privacy
    submitter.flush_seconds = 2.0
    submitter._checking.add(-1)  # a call still being checked holds the flush (≤ 2 s)
    raw = private("a", chain_id, 0)
    answers: list[dict[str, Any]] = []
    caller = threading.Thread(target=lambda: answers.append(
        a.raw("priv_distributeRawTransaction", raw, group)))
    caller.start()
    tx_hash = "0x" + keccak(bytes.fromhex(raw[2:])).hex()
    wait(lambda: a.rpc("priv_getTransactionStatus", tx_hash)["status"] == "queued",
         "the transaction queued")
    other = Account.from_key(b"\x42" * 32)
    net.block([net.public("a", "registerNode(bytes,bytes)", ["bytes", "bytes"],
                          [public_key_of(other.key), proof(other.key, "a")])])
    submitter._checking.discard(-1)
    caller.join(timeout=30)
    [answer] = answers
    assert "was not sent: its marker was refused" in answer["error"]["message"], answer
    status = a.rpc("priv_getTransactionStatus", tx_hash)
    assert status["status"] == "rejected" and "marker was refused" in status["reason"]
    assert "rejected" in a.error("priv_getTransactionReceipt", tx_hash)


def test_propose_change_calldata_adds_with_history(net: Net) -> None:
    a = net.apis["a"]
    register_all(net)
    group, _ = make_group(net)
    made = a.rpc("priv_proposeMembersChange", {"privacyGroupId": group, "add": ["Bank C"]})
    net.block([net.send("a", made["to"], made["data"])])
    net.block([net.public("b", "approveChange(bytes32)", ["bytes32"],
                          [bytes.fromhex(group[2:])])])
    info = a.rpc("priv_getPrivacyGroup", group)
    assert info["epoch"] == 1 and [m["name"] for m in info["members"]] == \
        ["Bank A", "Bank B", "Bank C"]
    gid = bytes.fromhex(group[2:])
    net.block()
    # Bank C's node opens both epochs (epoch 0 through the history key)
    assert net.groups["c"].epoch_key(gid, 0) == net.groups["a"].epoch_key(gid, 0)
    assert net.groups["c"].epoch_key(gid, 1) == net.groups["a"].epoch_key(gid, 1)
    assert net.apis["c"].rpc("priv_getPrivacyGroup", group)["thisNodeIsMember"]


def test_scopes_and_method_table() -> None:
    assert set(PRIVATE_METHODS) == {
        "priv_getNodeKey", "priv_proveNodeKey", "priv_createPrivacyGroup",
        "priv_proposeMembersChange", "priv_getPrivacyGroup", "priv_findPrivacyGroup",
        "priv_distributeRawTransaction",
        "priv_getTransactionStatus", "priv_getTransactionReceipt", "priv_call", "priv_getLogs",
        "priv_getTransactionCount", "priv_getCode", "priv_getStateRoot", "priv_getChainId"}
    for method in PRIVATE_METHODS:
        call = {"jsonrpc": "2.0", "id": 1, "method": method, "params": []}
        assert needed_for_call(call) == ("submit" if method in PRIVATE_SUBMIT_METHODS
                                         else "read"), method
    submit = {"priv_distributeRawTransaction", "priv_createPrivacyGroup",
              "priv_proposeMembersChange", "priv_proveNodeKey"}
    assert submit == PRIVATE_SUBMIT_METHODS


def test_privacy_key_file(tmp_path: Path) -> None:
    key = load_privacy_key(tmp_path)
    path = tmp_path / "privacy_key.json"
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_privacy_key(tmp_path) == key
    assert node_identity(key)[1] == public_key_of(key)
    for bad in ("{", '{"private_key": "12"}', '{"private_key": "' + "00" * 32 + '"}', "[]"):
        path.write_text(bad)
        with pytest.raises(ConfigError, match="privacy_key.json is not a privacy key"):
            load_privacy_key(tmp_path)
    with pytest.raises(ConfigError, match="does not exist"):
        load_privacy_key(tmp_path / "nowhere", create=False)


def test_api_without_privacy_answers_method_not_found(tmp_path: Path) -> None:
    from tests.support.jsonrpc_testkit import node

    with node(tmp_path / "off") as n:
        err = n.rpc_error("priv_getNodeKey")
        assert err["code"] == -32601 and "not enabled on this node" in err["message"]
    # a chain whose genesis has no Privacy contract
    ledger = Ledger(tmp_path / "old", engine=ENGINE)
    ledger.init_chain(AppState.from_json({
        "eth_chain_id": CHAIN_ID, "block_gas_limit": GAS_LIMIT, "alloc": {},
        "members": [{"name": "Bank A", "accounts": [ALICE.address.lower()]}]}), 1)
    node_a = PrivacyNode(NODE_KEYS["a"])
    node_a.groups = PrivateGroups(ledger, tmp_path / "old", NODE_KEYS["a"])
    api = Api(ledger, node_a.groups, node_a)
    try:
        with api.client:
            assert "not enabled on this chain" in api.error("priv_getNodeKey")
    finally:
        api.engine.close()
        ledger.close()


# --- the SDK and the CLI over real HTTP ------------------------------------------------------


class LiveGroupNodes:
    """Two members' nodes (A and B), each a ledger, a stub engine, a privacy processor and an
    API on a loopback port; every 50 ms what their engines admitted is committed on both."""

    def __init__(self, home: Path) -> None:
        import socket
        import threading

        import uvicorn

        from tests.support.services_api_testkit import SerialEngine

        self.ledgers: list[Ledger] = []
        self.engines: list[SerialEngine] = []
        self.groups: list[PrivateGroups] = []
        self.urls: dict[str, str] = {}
        self.servers: list[Any] = []
        self.stop = threading.Event()
        threads = [threading.Thread(target=self._blocks, daemon=True)]
        for name in "ab":
            ledger = Ledger(home / name / "app", engine=ENGINE)
            ledger.init_chain(privacy_state(), 1)
            engine = SerialEngine(ledger)
            node = PrivacyNode(NODE_KEYS[name])
            node.groups = PrivateGroups(ledger, home / name / "app", NODE_KEYS[name],
                                        on_block=node.on_block)
            node.groups.start()
            self.ledgers.append(ledger)
            self.engines.append(engine)
            self.groups.append(node.groups)
            app = create_app(ledger, engine.url, node_name=name, privacy=node, console=False)
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            self.urls[name] = f"http://127.0.0.1:{port}"
            server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port,
                                                   log_level="warning"))
            self.servers.append(server)
            threads.append(threading.Thread(target=server.run, daemon=True))
        self.threads = threads
        for thread in threads:
            thread.start()
        wait(lambda: all(s.started for s in self.servers), "the API servers")
        self.password = home / "password"
        self.password.write_text("")
        for name, account in ACCOUNTS.items():
            keystore = Account.encrypt(account.key, "", kdf="pbkdf2", iterations=2)
            (home / f"{name}.json").write_text(json.dumps(keystore))
        self.home = home

    def _blocks(self) -> None:
        while not self.stop.is_set():
            if any(engine.mempool for engine in self.engines):
                for engine in self.engines:
                    engine.lock.acquire()
                try:
                    pool = [raw for engine in self.engines for raw in engine.mempool]
                    height = self.ledgers[0].info()[0] + 1
                    for engine in self.engines:
                        engine.mempool = []
                        engine.ledger.finalize_block(ctx(height), pool)
                        engine.ledger.commit()
                finally:
                    for engine in self.engines:
                        engine.lock.release()
                for groups in self.groups:
                    groups.notify()
            time.sleep(0.05)

    def cli(self, capsys: Any, node: str, *argv: str, sign_as: str | None = None
            ) -> tuple[int, str, str]:
        from tests.support.services_api_testkit import run_cli

        signing = ([] if sign_as is None else
                   ["--from", str(self.home / f"{sign_as}.json"), "--password-file",
                    str(self.password)])
        return run_cli(capsys, "privacy", *argv, *signing, "--rpc", self.urls[node])

    def close(self) -> None:
        self.stop.set()
        for server in self.servers:
            server.should_exit = True
        for thread in self.threads:
            thread.join(timeout=10)
        for groups, engine, ledger in zip(self.groups, self.engines, self.ledgers, strict=True):
            groups.stop()
            engine.close()
            ledger.close()


def test_sdk_and_cli(tmp_path: Path, capsys: Any) -> None:
    from consortium.sdk.privacy import PrivacyClient
    from tests.support.ledger_testkit import TOKEN_SOURCE, compile_vyper

    nodes = LiveGroupNodes(tmp_path)
    try:
        code, out, err = nodes.cli(capsys, "a", "register-node", sign_as="a")
        assert code == 0, err
        assert "registered the node's privacy key" in out
        code, out, err = nodes.cli(capsys, "b", "register-node", "--json", sign_as="b")
        assert code == 0 and json.loads(out)["nodeAccount"] == \
            "0x" + node_identity(NODE_KEYS["b"])[0].hex()
        code, out, err = nodes.cli(capsys, "a", "create-group", "Deals", "--with", "Bank B",
                                   "--json", sign_as="a")
        assert code == 0, err
        group = json.loads(out)["privacyGroupId"]
        assert nodes.cli(capsys, "b", "join", group, sign_as="b")[0] == 0
        code, out, _ = nodes.cli(capsys, "a", "groups", "--json")
        [found] = json.loads(out)
        assert (found["privacyGroupId"], found["status"]) == (group, "active")
        assert nodes.cli(capsys, "b", "show", group)[0] == 0

        bytecode, abi = compile_vyper(TOKEN_SOURCE)
        client_a, client_b = PrivacyClient(nodes.urls["a"]), PrivacyClient(nodes.urls["b"])
        token, receipt = client_a.deploy(ALICE, group, abi, bytecode, 1_000)
        assert receipt["privacyGroupId"] == group and receipt["markerHash"]
        sent = client_a.transact(ALICE, group, token, abi, "transfer", BOB.address, 250)
        assert wait(lambda: client_b.receipt(sent["transactionHash"]), "B's receipt")
        assert client_b.call(group, token, abi, "balanceOf", BOB.address) == 250
        assert [entry["transactionHash"] for entry in client_b.get_logs(
            group, {"fromBlock": "0x0", "address": token})][-1] == sent["transactionHash"]

        code, out, _ = nodes.cli(capsys, "b", "receipt", sent["transactionHash"], "--json")
        assert code == 0 and json.loads(out)["status"] == "0x1"
        height = int(sent["blockNumber"], 16)
        code, out, _ = nodes.cli(capsys, "a", "root", group, "--block", str(height), "--json")
        assert code == 0 and json.loads(out)["height"] == height
        code, _, err = nodes.cli(capsys, "a", "receipt", "0x" + "ab" * 32)
        assert code == 1
        code, _, err = nodes.cli(capsys, "a", "propose-change", group, sign_as="a")
        assert code == 1 and "--add or --remove" in err
        code, _, err = nodes.cli(capsys, "a", "show", "0x" + "11" * 32)
        assert code == 1 and "unknown privacy group" in err
    finally:
        nodes.close()
