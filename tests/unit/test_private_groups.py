"""Privacy groups' private execution (issue 22): the public-reads hook of both engines, and
each group member's `PrivateGroups` processor following in-process ledgers."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from eth.db.atomic import AtomicDB
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_hash.auto import keccak

from consortium.apps.invoices.reader import InvoiceReader, encode_call
from consortium.evm import revm_engine
from consortium.evm.engine import EMPTY_ROOT, WorldState
from consortium.evm.header import ZERO_ADDRESS, ZERO_HASH, BlockEnv
from consortium.evm.native import (
    NATIVE_STUB_CODE,
    NativeContract,
    StateOf,
    method,
    native_address,
    register,
)
from consortium.evm.public_reads import ACTIVE, cached, public_reads
from consortium.evm.storage import Storage
from consortium.ledger import private_groups
from consortium.ledger.genesis import AppState
from consortium.ledger.ledger import Ledger
from consortium.ledger.private_groups import Pacer, PrivateGroups
from consortium.ledger.private_ledger import PrivateLedger
from consortium.ledger.snapshots import RESTORED_KEY
from consortium.ledger.types import TxFilter
from consortium.system.model import PERMISSIONS_ADDRESS, role_bit
from consortium.system.privacy import PRIVACY_ADDRESS
from consortium.system.privacy_payload import (
    group_chain_id,
    key_commitment,
    pack_history,
    prove_node,
    seal_batch,
)
from consortium.system.sealing import new_key, public_key_of, wrap_key
from consortium.system.state import PermissionsState
from tests.support.invoices_testkit import INVOICES, TODAY
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    CAROL,
    CHAIN_ID,
    GAS_LIMIT,
    MALLORY,
    calldata,
    ctx,
    selector,
    sign,
    token_deploy_data,
)

PEEKER = native_address(0xFF22)
ELSEWHERE = native_address(0xFF23)  # an account whose slots a native reads
OTHER = native_address(0xFF24)


@register
class Peeker(NativeContract):
    """A native used only by these tests: reads another account's slot (`sload_at`, as the
    services read Permissions) and its own (`sload`)."""

    address = PEEKER

    @method("peek(address,uint256)", returns="uint256", view=True)
    def peek(self, at: str, slot: int) -> int:
        return Storage(self.host, bytes.fromhex(at[2:])).get_uint(slot)

    @method("own(uint256)", returns="uint256", view=True)
    def own(self, slot: int) -> int:
        return self.storage.get_uint(slot)

    @method("put(uint256,uint256)")
    def put(self, slot: int, value: int) -> None:
        self.storage.set_uint(slot, value)


ENGINES = ["py-evm", pytest.param("revm", marks=pytest.mark.skipif(
    not revm_engine.available(), reason="revm extension not built"))]


def _world(engine: str) -> Any:
    env = BlockEnv(1, 1, ZERO_ADDRESS, ZERO_HASH, 30_000_000, 1)
    cls = revm_engine.RevmWorldState if engine == "revm" else WorldState
    world = cls(AtomicDB(), EMPTY_ROOT, env)
    world.set_storage(ELSEWHERE, 5, 7)
    world.set_storage(OTHER, 5, 8)
    world.set_nonce(PEEKER, 1)  # as genesis makes every native's account
    world.set_code(PEEKER, NATIVE_STUB_CODE)
    world.set_storage(PEEKER, 5, 9)
    return world


def _call(world: Any, data: bytes) -> int:
    result = world.call(sender=b"\x01" * 20, to=PEEKER, value=0, data=data, gas=1_000_000)
    assert result.status == 1, result.error
    (value,) = abi_decode(["uint256"], result.output)
    return int(value)


def _peek(at: bytes) -> bytes:
    return calldata("peek(address,uint256)", ["address", "uint256"], ["0x" + at.hex(), 5])


@pytest.mark.parametrize("engine", ENGINES)
def test_public_reads_redirect_only_the_given_addresses(engine: str) -> None:
    world = _world(engine)
    asked: list[tuple[bytes, int]] = []

    def public(address: bytes, slot: int) -> int:
        asked.append((address, slot))
        return 1000 + slot

    assert _call(world, _peek(ELSEWHERE)) == 7  # no hook: the world's own state
    with public_reads([ELSEWHERE], public):
        assert _call(world, _peek(ELSEWHERE)) == 1005  # read publicly
        assert _call(world, _peek(OTHER)) == 8  # not in the set: the world's state
        own = calldata("own(uint256)", ["uint256"], [5])
        assert _call(world, own) == 9  # a native's own storage (sload) never redirected
    assert asked == [(ELSEWHERE, 5)]
    assert ACTIVE.get() is None  # reset on leaving
    assert _call(world, _peek(ELSEWHERE)) == 7


@pytest.mark.parametrize("engine", ENGINES)
def test_a_native_whose_state_is_public_runs_read_only(engine: str) -> None:
    world = _world(engine)
    own = calldata("own(uint256)", ["uint256"], [5])
    put = calldata("put(uint256,uint256)", ["uint256", "uint256"], [5, 1])
    with public_reads([PEEKER], lambda address, slot: 2000 + slot):
        assert _call(world, own) == 2005  # its own storage: the public state's
        result = world.call(sender=b"\x01" * 20, to=PEEKER, value=0, data=put, gas=1_000_000)
        assert result.status == 0  # and no writes
    assert _call(world, own) == 9
    result = world.call(sender=b"\x01" * 20, to=PEEKER, value=0, data=put, gas=1_000_000)
    assert result.status == 1


def test_cached_reader_asks_once_per_slot() -> None:
    calls: list[tuple[bytes, int]] = []

    def read(address: bytes, slot: int) -> int:
        calls.append((address, slot))
        return slot * 2

    reader = cached(read)
    assert [reader(OTHER, 3), reader(OTHER, 3), reader(OTHER, 4)] == [6, 6, 8]
    assert calls == [(OTHER, 3), (OTHER, 4)]


# --- private execution on in-process ledgers ---------------------------------------------------

GROUP = keccak(b"consortium test group")
NODE_KEYS = {name: bytes([i]) * 32 for i, name in ((0xA1, "a"), (0xB2, "b"), (0xC3, "c"))}
NODE_ACCOUNTS = {name: Account.from_key(key) for name, key in NODE_KEYS.items()}
MEMBERS = {"a": ALICE, "b": BOB, "c": CAROL}  # each node's member's account
PRIVACY_HEX = "0x" + PRIVACY_ADDRESS.hex()
TRANSFER = keccak(b"Transfer(address,address,uint256)")


def privacy_state() -> AppState:
    """Banks A, B and C, one account each, the Privacy contract enabled."""
    return AppState.from_json({
        "eth_chain_id": CHAIN_ID, "block_gas_limit": GAS_LIMIT,
        "members": [{"name": f"Bank {n.upper()}", "accounts": [acct.address.lower()]}
                    for n, acct in MEMBERS.items()],
        "alloc": {},
        "native_versions": {"Privacy": 1},
        "governance": {"roles": {ALICE.address.lower(): ["seller"],
                                 BOB.address.lower(): ["buyer"]}},
    })


class Node:
    """One node: its ledger and its privacy processor."""

    def __init__(self, home: Path, name: str, engine: str) -> None:
        self.name = name
        self.dir = home / name / "app"
        self.engine = engine
        self.ledger = Ledger(self.dir, engine=engine)
        self.blocks: list[tuple[bytes, int, bytes, bool]] = []
        self.groups = self._processor()

    def _processor(self) -> PrivateGroups:
        return PrivateGroups(self.ledger, self.dir, NODE_KEYS[self.name],
                             on_block=lambda *args: self.blocks.append(args))

    def reopen(self) -> None:
        """The processor closed (a crash between two heights) and made again."""
        self.groups.stop()
        self.groups = self._processor()

    def reader(self) -> PrivateLedger:
        found = self.groups.reader(GROUP)
        assert found is not None, f"node {self.name} has no store of the group"
        return found

    def close(self) -> None:
        self.groups.stop()
        self.ledger.close()


class Net:
    """Nodes executing the same public blocks; `follow` runs their processors."""

    def __init__(self, home: Path, engines: dict[str, str]) -> None:
        self.nodes = {name: Node(home, name, engine) for name, engine in engines.items()}
        for node in self.nodes.values():
            node.ledger.init_chain(privacy_state(), 1)
        self.keys = [new_key()]  # epoch keys
        self.chain_id = group_chain_id(CHAIN_ID, GROUP)
        self.private_nonces: dict[str, int] = {}

    @property
    def first(self) -> Ledger:
        return next(iter(self.nodes.values())).ledger

    def block(self, txs: list[bytes], follow: bool = True, ok: bool = True) -> list[Any]:
        height = self.first.info()[0] + 1
        results, hashes = [], set()
        for node in self.nodes.values():
            out = node.ledger.finalize_block(ctx(height), txs)
            node.ledger.commit()
            results.append(out.tx_results)
            hashes.add(out.app_hash)
        assert len(hashes) == 1, "the nodes' public states differ"
        for result in results[0]:
            assert result.code == 0 or not ok, result.log
        if follow:
            self.follow()
        return list(results[0])

    def follow(self) -> None:
        for node in self.nodes.values():
            node.groups.follow()

    def public(self, account: Any, signature: str, types: list[str], args: list[Any],
               gas: int = 3_000_000) -> bytes:
        """A public call of the Privacy contract signed by `account`."""
        nonce = self.first.get_nonce(account.address)
        return sign(account, nonce=nonce, to=PRIVACY_HEX, data=calldata(signature, types, args),
                    gas=gas)

    def setup_group(self, founders: tuple[str, ...] = ("a", "b")) -> None:
        """Every node registers its key; `founders` create and join the group."""
        self.block([self.public(MEMBERS[n], "registerNode(bytes,bytes)", ["bytes", "bytes"],
                                [public_key_of(NODE_KEYS[n]),
                                 prove_node(NODE_KEYS[n], CHAIN_ID,
                                            bytes.fromhex(MEMBERS[n].address[2:]))])
                    for n in self.nodes])
        wrapped = [wrap_key(self.keys[0], public_key_of(NODE_KEYS[n])) for n in founders]
        self.block([self.public(
            MEMBERS[founders[0]], "createGroup(bytes32,string,address[],bytes[],bytes32)",
            ["bytes32", "string", "address[]", "bytes[]", "bytes32"],
            [GROUP, "desk", [MEMBERS[n].address for n in founders], wrapped,
             key_commitment(GROUP, 0, self.keys[0])])])
        self.block([self.public(MEMBERS[n], "joinGroup(bytes32)", ["bytes32"], [GROUP])
                    for n in founders[1:]])

    def private(self, account: Any, *, to: str | None = None, data: bytes = b"",
                gas: int = 3_000_000, nonce: int | None = None, **extra: Any) -> bytes:
        """A private transaction signed with the group's chain id (nonce tracked here)."""
        if nonce is None:
            nonce = self.private_nonces.get(account.address, 0)
            self.private_nonces[account.address] = nonce + 1
        return sign(account, nonce=nonce, to=to, data=data, gas=gas, chain_id=self.chain_id,
                    **extra)

    def marker(self, node: str, raws: list[bytes], epoch: int | None = None) -> bytes:
        """The node's marker sealing `raws` under the group's epoch key."""
        epoch = len(self.keys) - 1 if epoch is None else epoch
        payload = seal_batch(self.keys[epoch], GROUP, epoch, raws)
        return self.public(NODE_ACCOUNTS[node], "submit(bytes32,uint32,bytes)",
                           ["bytes32", "uint32", "bytes"], [GROUP, epoch, payload],
                           gas=1_000_000 + 64 * len(payload))  # calldata floor: 40 a byte

    def close(self) -> None:
        for node in self.nodes.values():
            node.close()


@pytest.fixture
def net(tmp_path: Path) -> Any:
    engines = {"a": "revm" if revm_engine.available() else "py-evm", "b": "py-evm",
               "c": "revm" if revm_engine.available() else "py-evm"}
    network = Net(tmp_path, engines)
    yield network
    network.close()


def token_of(receipt: Any) -> str:
    return "0x" + receipt.tx.contract_address.hex()


def balance(reader: PrivateLedger, token: str, who: str, height: int | None = None) -> int:
    out = reader.call({"to": token, "data": calldata("balanceOf(address)", ["address"], [who])},
                      height)
    assert out.success, out.error
    return int.from_bytes(out.output, "big")


def roots(node: Node) -> dict[int, bytes]:
    reader = node.reader()
    return {h: reader.root_at(h) for h in range(reader.genesis_height,
                                                  reader.latest_height() + 1)}


def files_contain(directory: Path, needle: bytes) -> bool:
    return any(needle in path.read_bytes() for path in directory.rglob("*") if path.is_file())


def test_group_members_execute_privately_and_agree(net: Net, tmp_path: Path) -> None:
    a, b, c = net.nodes["a"], net.nodes["b"], net.nodes["c"]
    net.setup_group()
    deploy = net.private(ALICE, data=token_deploy_data(1_000))
    net.block([net.marker("a", [deploy])])
    receipt = a.reader().private_receipt("0x" + keccak(deploy).hex())
    assert receipt is not None and receipt.tx.status == 1
    token = token_of(receipt)
    pay = calldata("transfer(address,uint256)", ["address", "uint256"], [BOB.address, 250])
    transfer = net.private(ALICE, to=token, data=pay)
    back = net.private(BOB, to=token, data=calldata(
        "transfer(address,uint256)", ["address", "uint256"], [ALICE.address, 50]))
    marker = net.marker("a", [transfer])
    net.block([marker, net.marker("b", [back])])
    marker_height = a.ledger.latest_height()
    net.block([])  # an empty height: the roots carry over

    for node in (a, b):
        reader = node.reader()
        assert reader.latest_height() == node.ledger.latest_height()
        assert balance(reader, token, ALICE.address) == 800
        assert balance(reader, token, BOB.address) == 200
        assert balance(reader, token, BOB.address, marker_height - 1) == 0  # history
        assert reader.get_nonce(ALICE.address) == 2
        assert reader.get_code(token)
        assert reader.eth_chain_id == net.chain_id
        found = reader.private_receipt("0x" + keccak(transfer).hex())
        assert found is not None and found.tx.status == 1 and found.group_id == GROUP
        assert found.marker_hash == keccak(marker) and found.block.number == marker_height
        assert [log.topics[0] for log in found.logs] == [TRANSFER]
        logs = reader.get_logs(TxFilter(from_block=0, to_block=marker_height,
                                        addresses=(token,), topics=("0x" + TRANSFER.hex(),)))
        assert [log.block_number for log in logs] == [marker_height - 1, marker_height,
                                                       marker_height]
        view = reader.block_record(marker_height)
        assert view is not None and view.block.hash == node.ledger.chain.block(
            marker_height).hash  # a private block is its public block's
        assert [t.hash for t in view.txs] == [keccak(transfer), keccak(back)]
        gas = reader.estimate_gas({"from": ALICE.address, "to": token, "data": pay})
        assert 21_000 < gas < 100_000
    assert roots(a) == roots(b)  # py-evm (b) and revm (a) agree at every height
    assert roots(a)[marker_height] != roots(a)[marker_height - 1]
    assert roots(a)[marker_height + 1] == roots(a)[marker_height]
    assert a.groups.group_ids() == [GROUP] and a.groups.key_opens(GROUP)
    assert [(h, had) for g, h, _, had in a.blocks if had] == [
        (marker_height - 1, True), (marker_height, True)]
    assert a.blocks[-1][2] == roots(a)[marker_height + 1]

    # the non-member: nothing private, and only ciphertext in its files
    assert c.groups.group_ids() == [] and c.groups.reader(GROUP) is None
    assert not (c.dir / "private").exists()
    assert c.groups.epoch_key(GROUP, 0) is None and not c.groups.key_opens(GROUP)
    c.close()
    for needle in (pay, token_deploy_data(1_000)[:200], transfer):
        assert files_contain(a.dir / "private", needle)
        assert not files_contain(c.dir, needle)
        assert needle not in (a.dir / "data.mdb").read_bytes()  # nor A's public store


ROLE_PROBE = native_address(0xFF25)


@register
class RoleProbe(NativeContract):
    """A native used only by these tests: records the caller's role bits as Permissions
    holds them (read through `sload_at`, as the services check roles)."""

    address = ROLE_PROBE
    perms = StateOf(PermissionsState, PERMISSIONS_ADDRESS)

    @method("record()", returns="uint256")
    def record(self) -> int:
        bits = self.perms.role_bits(self.host.caller)
        self.require(bits & role_bit("member") != 0, "the caller holds no member role")
        self.storage.set_uint(1, bits)
        return bits

    @method("recorded()", returns="uint256", view=True)
    def recorded(self) -> int:
        return self.storage.get_uint(1)


def test_private_natives_read_the_public_system_contracts(net: Net) -> None:
    a, b = net.nodes["a"], net.nodes["b"]
    net.setup_group()
    record = net.private(ALICE, to="0x" + ROLE_PROBE.hex(), data=selector("record()"))
    net.block([net.marker("a", [record])])
    probe = "0x" + ROLE_PROBE.hex()
    for node in (a, b):
        reader = node.reader()
        receipt = reader.private_receipt("0x" + keccak(record).hex())
        assert receipt is not None and receipt.tx.status == 1
        stored = int.from_bytes(reader.get_storage_at(probe, 1), "big")
        assert stored & role_bit("member") and stored & role_bit("committee")
        # a call on the private state reads Permissions publicly too
        out = reader.call({"from": BOB.address, "to": probe, "data": selector("record()")})
        assert out.success and int.from_bytes(out.output, "big") & role_bit("member")
        out = reader.call({"from": MALLORY.address, "to": probe, "data": selector("record()")})
        assert not out.success and "no member role" in (out.error or "")
    # the public state has nothing of it
    assert a.ledger.get_storage_at(probe, 1) == bytes(32)
    # Permissions itself, asked from the private state, answers from the public one
    ask = calldata("hasRole(address,string)", ["address", "string"], [BOB.address, "member"])
    out = a.reader().call({"to": "0x" + PERMISSIONS_ADDRESS.hex(), "data": ask})
    assert out.success and out.output[-1] == 1


def test_a_native_newer_than_the_group_gets_its_account(
        net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    """A group whose private genesis lacks a native's stub account (as one created before a
    software upgrade added that service): the native gets it at its first use, so its state
    is kept (an account-less one would be deleted as empty), the same on both engines."""
    a, b = net.nodes["a"], net.nodes["b"]
    every = private_groups.registered_natives
    monkeypatch.setattr(private_groups, "registered_natives",
                        lambda: {k: v for k, v in every().items() if k != ROLE_PROBE})
    net.setup_group()
    probe = "0x" + ROLE_PROBE.hex()
    assert a.reader().get_code(probe) == b""
    monkeypatch.undo()
    record = net.private(ALICE, to=probe, data=selector("record()"))
    net.block([net.marker("a", [record])])
    for node in (a, b):
        assert node.reader().get_code(probe) == NATIVE_STUB_CODE
        assert int.from_bytes(node.reader().get_storage_at(probe, 1), "big") & role_bit("member")
    assert roots(a) == roots(b)


def test_refused_private_transactions_say_why(net: Net) -> None:
    a, b = net.nodes["a"], net.nodes["b"]
    net.setup_group()
    good = net.private(ALICE, data=token_deploy_data(10))
    refused = {
        "ahead": (net.private(ALICE, data=b"", to=BOB.address, nonce=7), "nonce 7 is ahead"),
        "fee": (net.private(BOB, to=ALICE.address, gas=21_000, gas_price=1),
                "pays no fee"),
        "outsider": (net.private(CAROL, to=ALICE.address, gas=21_000),
                     "is not an account of a member of privacy group"),
        "system": (net.private(BOB, to="0x" + PERMISSIONS_ADDRESS.hex(), gas=50_000, nonce=0),
                   "public system contract"),
        "public chain id": (sign(ALICE, nonce=1, to=BOB.address, gas=21_000),
                            "this chain is"),
        "garbage": (b"\x02not a transaction", "cannot decode"),
    }
    raws = [good] + [raw for raw, _ in refused.values()]
    marker = net.marker("b", raws)
    net.block([marker])
    for node in (a, b):
        reader = node.reader()
        assert reader.private_receipt("0x" + keccak(good).hex()) is not None
        for what, (raw, reason) in refused.items():
            found = reader.transaction_rejection("0x" + keccak(raw).hex())
            assert found is not None, what
            assert reason in found["reason"], (what, found["reason"])
            assert found["markerHash"] == "0x" + keccak(marker).hex()
            assert found["privacyGroupId"] == "0x" + GROUP.hex()
            assert reader.private_receipt("0x" + keccak(raw).hex()) is None
    assert roots(a) == roots(b)

    # a marker the Privacy contract refused (sealed for an epoch the group is not at)
    # carries nothing: its transaction is neither executed nor rejected
    before = a.reader().root_at()
    late = net.private(ALICE, to=BOB.address, gas=21_000)
    payload = seal_batch(net.keys[0], GROUP, 1, [late])
    (result,) = net.block([net.public(NODE_ACCOUNTS["a"], "submit(bytes32,uint32,bytes)",
                                      ["bytes32", "uint32", "bytes"], [GROUP, 1, payload])],
                          ok=False)
    assert "at epoch 0" in result.log
    for node in (a, b):
        reader = node.reader()
        assert reader.latest_height() == node.ledger.latest_height()
        assert reader.root_at() == before
        assert reader.private_receipt("0x" + keccak(late).hex()) is None
        assert reader.transaction_rejection("0x" + keccak(late).hex()) is None


def test_processor_resumes_after_a_crash(net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = net.nodes["a"], net.nodes["b"]
    net.setup_group()
    deploy = net.private(ALICE, data=token_deploy_data(1_000))
    net.block([net.marker("a", [deploy])])
    token = token_of(a.reader().private_receipt("0x" + keccak(deploy).hex()))
    before = a.groups.processed_height(GROUP)
    for amount in (1, 2, 3):
        pay = calldata("transfer(address,uint256)", ["address", "uint256"], [BOB.address, amount])
        net.block([net.marker("b", [net.private(ALICE, to=token, data=pay)])], follow=False)
    b.groups.follow()

    calls = []
    execute = private_groups._PrivateExecutor.execute

    def dies_on_second(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed")
        return execute(self, *args, **kwargs)

    monkeypatch.setattr(private_groups._PrivateExecutor, "execute", dies_on_second)
    with pytest.raises(RuntimeError, match="killed"):
        a.groups.follow()
    assert a.groups.processed_height(GROUP) == before + 1  # the first marker's height
    monkeypatch.undo()
    a.reopen()
    assert a.groups.processed_height(GROUP) == before + 1
    a.groups.follow()
    assert a.groups.processed_height(GROUP) == a.ledger.latest_height()
    assert roots(a) == roots(b)
    assert balance(a.reader(), token, BOB.address) == 6


def test_member_added_later_replays_and_a_removed_one_stops(
        net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(private_groups, "CARRY_BATCH", 2)  # empty heights written 2 at a time
    a, b, c = net.nodes["a"], net.nodes["b"], net.nodes["c"]
    net.setup_group()
    deploy = net.private(ALICE, data=token_deploy_data(1_000))
    net.block([net.marker("a", [deploy])])
    token = token_of(a.reader().private_receipt("0x" + keccak(deploy).hex()))

    def pay(account: Any, to: Any, amount: int) -> bytes:
        return net.private(account, to=token, data=calldata(
            "transfer(address,uint256)", ["address", "uint256"], [to.address, amount]))

    net.block([net.marker("b", [pay(ALICE, BOB, 100)])])
    early = a.ledger.latest_height()
    assert not (c.dir / "private").exists()

    def change(add: list[str], remove: list[str], holders: list[str]) -> None:
        key = new_key()
        net.keys.append(key)
        wrapped = [wrap_key(key, public_key_of(NODE_KEYS[n])) for n in holders]
        history = [pack_history(net.keys[:-1], public_key_of(NODE_KEYS[n])) for n in add]
        net.block([net.public(ALICE, "proposeChange(bytes32,address[],address[],address[],"
                              "bytes[],bytes[],bytes32)",
                              ["bytes32", "address[]", "address[]", "address[]", "bytes[]",
                               "bytes[]", "bytes32"],
                              [GROUP, [MEMBERS[n].address for n in add],
                               [MEMBERS[n].address for n in remove],
                               [MEMBERS[n].address for n in holders], wrapped, history,
                               key_commitment(GROUP, len(net.keys) - 1, key)])])
        approver = next(n for n in holders if n not in ("a", *add))
        net.block([net.public(MEMBERS[approver], "approveChange(bytes32)", ["bytes32"],
                              [GROUP])])

    # Bank C added with the history: its node replays from the group's creation
    for _ in range(5):
        net.block([])
    change(["c"], [], ["a", "b", "c"])
    net.block([net.marker("a", [pay(ALICE, CAROL, 30)])])
    assert c.groups.group_ids() == [GROUP]
    assert roots(c) == roots(a) == roots(b)
    assert [h for _, h, _, _ in c.blocks] == list(range(c.reader().genesis_height + 1,
                                                        c.ledger.latest_height() + 1))
    assert balance(c.reader(), token, BOB.address, early) == 100  # read before it joined
    assert balance(c.reader(), token, CAROL.address) == 30

    # Bank B removed: its node opens nothing of the new epoch and stops before it
    change([], ["b"], ["a", "c"])
    secret = pay(CAROL, ALICE, 7)
    net.block([net.marker("c", [secret])])
    net.block([])
    assert roots(a) == roots(c)
    assert balance(a.reader(), token, CAROL.address) == 23
    stopped = b.groups.processed_height(GROUP)
    assert stopped == a.ledger.latest_height() - 2  # the block before the marker
    assert b.groups.epoch_key(GROUP, len(net.keys) - 1) is None
    assert not b.groups.key_opens(GROUP)
    assert roots(b) == {h: r for h, r in roots(a).items() if h <= stopped}
    assert b.reader().transaction_rejection("0x" + keccak(secret).hex()) is None
    b.close()
    assert not files_contain(b.dir, secret) and files_contain(a.dir / "private", secret)


def test_the_thread_follows_commits(net: Net) -> None:
    """... at the node's own priority: niced below it, on a busy machine the thread would be
    preempted holding the GIL every thread of the node waits for; it paces its catch-ups
    instead (`Pacer`)."""
    a = net.nodes["a"]
    net.setup_group()
    here = threading.get_native_id()  # the thread committing blocks, as consensus does
    a.groups.start()
    deploy = net.private(ALICE, data=token_deploy_data(5))
    net.block([net.marker("a", [deploy])], follow=False)
    a.groups.notify()
    deadline = time.monotonic() + 60
    while a.groups.processed_height(GROUP) < a.ledger.latest_height():
        assert time.monotonic() < deadline, "the processor did not follow the commit"
        time.sleep(0.02)
    assert a.reader().private_receipt("0x" + keccak(deploy).hex()) is not None
    thread = a.groups._thread
    assert thread is not None and thread.native_id is not None
    assert nice_of(thread.native_id) == nice_of(here)
    a.groups.stop()
    assert a.groups.group_ids() == []  # closed
    a.groups.follow()  # after stop: nothing, no store reopened
    assert a.groups.group_ids() == []


def nice_of(thread_id: int) -> int:
    """A thread's nice value, from /proc (field 19 of its stat; the name may hold spaces)."""
    stat = Path(f"/proc/self/task/{thread_id}/stat").read_text()
    return int(stat.rsplit(")", 1)[1].split()[16])


def test_the_pacer_keeps_a_catch_up_to_its_share_of_a_core() -> None:
    """After each burst of CPU, a sleep as long as the share leaves (here, as long as the
    work): half a core over a long run; nothing for short pieces of work."""
    cpu, slept = [0.0], []
    pacer = Pacer(share=0.5, burst=0.05, cpu=lambda: cpu[0], sleep=slept.append)
    for _ in range(4):  # 4 x 20 ms: a rest after the third piece (60 ms of work)
        cpu[0] += 0.02
        pacer.step()
    assert slept == [pytest.approx(0.06)]
    pacer.start()  # a new run: what came before does not count
    cpu[0] += 0.04
    pacer.step()
    assert len(slept) == 1
    quarter = Pacer(share=0.25, burst=0.05, cpu=lambda: cpu[0], sleep=slept.append)
    cpu[0] += 0.1
    quarter.step()
    assert slept[-1] == pytest.approx(0.3)  # 0.1 s of work, 0.3 s of rest
    with pytest.raises(ValueError, match="share"):
        Pacer(share=0)


def test_stop_ends_a_pacing_sleep(net: Net, monkeypatch: pytest.MonkeyPatch) -> None:
    a = net.nodes["a"]
    monkeypatch.setattr(private_groups, "PACE_LAG", -1)  # every height is a catch-up
    net.setup_group()
    resting = threading.Event()

    def rest(seconds: float) -> bool:
        resting.set()
        return a.groups._halt.wait(seconds)

    a.groups._pacer = Pacer(share=0.001, burst=0.0, sleep=rest)  # rests 999 x its work
    a.groups.start()
    net.block([net.marker("a", [net.private(ALICE, data=token_deploy_data(5))])], follow=False)
    a.groups.notify()
    assert resting.wait(20), "the thread did not rest after a height"
    started = time.monotonic()
    a.groups.stop()
    assert time.monotonic() - started < 5
    assert a.groups._thread is None


def test_a_service_runs_inside_the_group(net: Net) -> None:
    """Invoices, a real service, issued and confirmed privately: its role checks read the
    public Permissions (Alice sells, Bob buys, Carol holds neither)."""
    a, b = net.nodes["a"], net.nodes["b"]
    net.setup_group()
    fp, bad = keccak(b"invoice 1"), keccak(b"invoice 2")

    def invoices(account: Any, name: str, *args: Any) -> bytes:
        return net.private(account, to=INVOICES, data=encode_call(name, *args), gas=5_000_000)

    issue = invoices(ALICE, "issue", fp, ALICE.address, BOB.address, 1_000, "CNY", TODAY)
    refused = invoices(ALICE, "issue", bad, ALICE.address, CAROL.address, 5, "CNY", TODAY)
    net.block([net.marker("a", [issue, refused])])
    net.block([net.marker("b", [invoices(BOB, "confirm", fp)])])

    def reader_of(ledger: Any) -> InvoiceReader:
        def call(to: bytes, data: bytes) -> bytes:
            out = ledger.call({"to": "0x" + to.hex(), "data": "0x" + data.hex()})
            assert out.success, out.error
            return bytes(out.output)
        return InvoiceReader(call)

    for node in (a, b):
        found = reader_of(node.reader()).invoice(fp)
        assert found is not None and found["state"] == "confirmed" and found["amount"] == 1_000
        receipt = node.reader().private_receipt("0x" + keccak(refused).hex())
        assert receipt is not None and receipt.tx.status == 0  # Carol is no buyer
        assert reader_of(node.ledger).invoice(fp) is None  # nothing of it in public
    assert roots(a) == roots(b)


def test_a_state_synced_node_does_not_replay_an_older_group(net: Net) -> None:
    c = net.nodes["c"]
    with c.ledger.store.write() as txn:  # as a restore from a snapshot of height 50 leaves it
        txn.put(RESTORED_KEY, (50).to_bytes(8, "big"), db=c.ledger.store.dbs["meta"])
    net.setup_group(founders=("a", "c"))
    net.block([net.marker("a", [net.private(ALICE, data=token_deploy_data(5))])])
    assert c.groups.group_ids() == [] and not (c.dir / "private").exists()
    assert net.nodes["a"].groups.group_ids() == [GROUP]


def test_the_thread_keeps_up_while_blocks_execute_and_readers_read(net: Net) -> None:
    """The processor thread, public blocks on the main thread (revm on node a) and a reader
    thread calling the private state at once: no deadlock, the same roots as node b's
    processor run in step."""
    a, b = net.nodes["a"], net.nodes["b"]
    net.setup_group()
    deploy = net.private(ALICE, data=token_deploy_data(10**6))
    net.block([net.marker("a", [deploy])])
    token = token_of(a.reader().private_receipt("0x" + keccak(deploy).hex()))
    pay = calldata("transfer(address,uint256)", ["address", "uint256"], [BOB.address, 1])
    a.groups.start()
    stop, errors = threading.Event(), []

    def read() -> None:
        while not stop.is_set():
            try:
                balance(a.reader(), token, BOB.address)
            except Exception as exc:  # reported below
                errors.append(exc)
                return

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        for _ in range(12):
            private = [net.private(ALICE, to=token, data=pay, gas=100_000) for _ in range(10)]
            public = sign(ALICE, nonce=a.ledger.get_nonce(ALICE.address), to=BOB.address,
                          gas=21_000)
            net.block([net.marker("a", private), public], follow=False)
            a.groups.notify()
            b.groups.follow()
        deadline = time.monotonic() + 120
        while a.groups.processed_height(GROUP) < a.ledger.latest_height():
            assert time.monotonic() < deadline, "the processor thread fell behind for good"
            time.sleep(0.02)
    finally:
        stop.set()
        reader.join(timeout=30)
    assert not errors, errors
    assert roots(a) == roots(b)
    assert balance(a.reader(), token, BOB.address) == 120
