"""Differential tests: the revm engine against py-evm, the oracle.

Random transaction streams — value transfers, deployments, token transfers, reverts, out of
gas, CREATE / CREATE2, same-transaction self-destruction, calls into native contracts that
write, log, revert, raise, nest and run out of gas (directly and from EVM code, with CALL,
STATICCALL and DELEGATECALL), the system natives, fees, bad nonces and unaffordable values —
run through both engines from one genesis. Per transaction the outcome (status, gas, logs,
output, created address; or both refusing it) must be equal, per block the state roots, and
at the end the incremental trie's root must equal a full recompute (alloy-trie).

Each run prints its seed (`-s` shows it); rerun one with DIFF_SEED=<seed>. The default suite
runs 1,000 transactions, the slow suite 10,000 (DIFF_TXS overrides both).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from eth.db.atomic import AtomicDB
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_hash.auto import keccak
from eth_utils import to_checksum_address

import consortium.evm  # noqa: F401  (keccak backend)
import consortium.system  # noqa: F401  (system natives)
from consortium.evm import fork, native
from consortium.evm import revm_engine as revm
from consortium.evm.engine import EMPTY_ROOT, ExecResult, InvalidTransaction, WorldState
from consortium.evm.field_types import Address, Bool, Int, Text, Uint
from consortium.evm.header import BlockEnv
from consortium.evm.host import Storage
from consortium.evm.native import NativeContract, event, method, native_address
from consortium.evm.records import Choice, Record, WordSet
from consortium.evm.records import field as stored
from consortium.ledger.genesis_state import build_genesis
from consortium.ledger.transactions import SignedTx, decode_transaction
from consortium.system.crypto import CRYPTO_ADDRESS
from consortium.system.model import GOVERNANCE_ADDRESS, PERMISSIONS_ADDRESS
from tests.support.ledger_testkit import (
    CHAIN_ID,
    TOKEN_SOURCE,
    app_state,
    compile_vyper,
    contract_address,
    selector,
)

pytestmark = pytest.mark.skipif(not revm.available(), reason=revm.UNAVAILABLE)

GAS_LIMIT = 1_000_000_000
PROBE_ADDRESS = native_address(0xF0F0)


class ProbeRecord(Record):
    amount: Uint
    owner: Address
    note: Text
    state: str = stored(Choice(("open", "closed")))
    flag: Bool


class ProbeRow(Record):
    """Read in two batches on revm (`Storage.sloads`): amount, owner and state (a choice,
    whose decoder refuses an unknown number, ends the first), then flag and delta."""

    amount: Uint
    owner: Address
    state: str = stored(Choice(("open", "closed")))
    flag: Bool
    delta: Int


class Probe(NativeContract):
    """A test native: writes, logs, reverts, raises, nests, burns gas, reads foreign slots."""

    address = PROBE_ADDRESS
    Put = event("Put(uint256 indexed key, uint256 value, address by)")

    @method("put(uint256,uint256)")
    def put(self, key: int, value: int) -> None:
        self.storage.set_uint(key, value)
        self.emit(self.Put, key, value, self.host.caller)

    @method("get(uint256)", returns="uint256", view=True)
    def get(self, key: int) -> int:
        return self.storage.get_uint(key)

    @method("fail(string)")
    def fail(self, reason: str) -> None:
        self.storage.set_uint(1, 1)
        self.revert(reason)

    @method("bare()")
    def bare(self) -> None:
        self.fail_without_reason()

    @method("boom()")
    def boom(self) -> None:
        self.storage.set_uint(2, 2)
        raise KeyError(f"at {id(self):#x}")  # the text differs per process; the type does not

    @method("burn(uint256)", returns="uint256")
    def burn(self, gas: int) -> int:
        self.storage.set_uint(3, gas)
        self.host.charge(gas)
        return gas

    @method("relay(uint256,uint256)", returns="bool")
    def relay(self, key: int, value: int) -> bool:
        data = selector("put(uint256,uint256)") + abi_encode(["uint256", "uint256"], [key, value])
        ok, _ = self.host.call(self.address, data)
        self.storage.set_uint(4, 1 if ok else 0)
        return ok

    @method("deep(uint256)", returns="uint256")
    def deep(self, n: int) -> int:
        self.storage.set_uint(5, n)
        if n == 0:
            return 0
        ok, out = self.host.call(self.address, selector("deep(uint256)")
                                 + abi_encode(["uint256"], [n - 1]))
        return 1 + (int.from_bytes(out[:32], "big") if ok else 1000)

    @method("pay(address)", payable=True)
    def pay(self, to: str) -> None:
        ok, _ = self.host.call(bytes.fromhex(to[2:]), b"", value=self.host.value // 2)
        self.require(ok, "payment failed")

    @method("payOne(address)", returns="bool")
    def pay_one(self, to: str) -> bool:
        """1 wei of its own balance: a write (WriteProtection) inside a static call, a
        failure when it has none, a guard's refusal when `to` is frozen."""
        ok, _ = self.host.call(bytes.fromhex(to[2:]), b"", value=1)
        return ok

    @method("deposit()", payable=True)
    def deposit(self) -> None:
        self.storage.set_uint(6, self.storage.get_uint(6) + self.host.value)

    @method("context()", returns="bytes32")
    def context(self) -> bytes:
        b = self.host.block
        facts = (self.host.caller, self.host.origin, self.host.value, b.number, b.timestamp,
                 b.coinbase, b.chain_id, b.prevrandao, b.gas_limit, self.host.is_static)
        digest = keccak(repr(facts).encode())
        if not self.host.is_static:
            self.storage.set_bytes32(7, digest)
        return digest

    @method("peek(address,uint256)", returns="uint256")
    def peek(self, account: str, slot: int) -> int:
        value = Storage(self.host, bytes.fromhex(account[2:])).get_uint(slot)
        self.storage.set_uint(8, value)
        return value

    @method("setOp(uint256,bool)", returns="bool")
    def set_op(self, key: int, add: bool) -> bool:
        """A word set's add or remove: in one engine call on revm (`Storage.word_sets`),
        slot by slot on py-evm; tight gas stops either part way, a static call at a write."""
        members = WordSet(self.storage, 9)
        return members.add(key) if add else members.remove(key)

    @method("spoilSet(uint256)")
    def spoil_set(self, count: int) -> None:
        """The word set's count overwritten (0 with keys in it, or the largest word): the
        state its own writes never leave, which both paths must refuse alike."""
        self.storage.set_uint(9, count)

    @method("putRecord(uint256,uint256)")
    def put_record(self, key: int, amount: int) -> None:
        """A record's fields (one batch on revm: `Storage.sstores`; one at a time on py-evm),
        a string between them; amount 0 stores -1 (refused by the first field), key 3 an
        unknown state (refused by a field after the string)."""
        ProbeRecord.put_fields(self.storage, Storage.at(20, key), amount=amount - 1,
                               owner=self.host.caller, note="n" * (amount % 40),
                               state=("open", "closed", "open", "lost")[key % 4],
                               flag=bool(amount % 2))

    @method("putRow(uint256,uint256)")
    def put_row(self, key: int, amount: int) -> None:
        ProbeRow.put_fields(self.storage, Storage.at(21, key), amount=amount,
                            owner=self.host.caller, state=("open", "closed")[amount % 2],
                            flag=amount % 3 == 0, delta=-amount)

    @method("spoilRow(uint256,uint256)")
    def spoil_row(self, key: int, state: int) -> None:
        """A row's state number overwritten (3 or the largest word: no state's)."""
        self.storage.set_uint(Storage.at(21, key) + 2, state)

    @method("getRow(uint256)", returns="uint256", view=True)
    def get_row(self, key: int) -> int:
        """A row read whole (two engine calls on revm, one read each on py-evm): tight gas
        stops either part way; a spoiled state raises after the reads before it."""
        row = ProbeRow.load(self.storage, Storage.at(21, key))
        return (row.amount + len(row.state) + row.flag - row.delta
                + row.owner[-1])

    @method("callGovernance(bytes)", returns="bool")
    def call_governance(self, data: bytes) -> bool:
        ok, _ = self.host.call(GOVERNANCE_ADDRESS, data)
        return ok


@pytest.fixture(scope="module", autouse=True)
def probe_registered() -> Iterator[None]:
    """Serve Probe only while this module runs (natives are process-wide)."""
    native.register(Probe)
    try:
        yield
    finally:
        native._REGISTRY.pop(PROBE_ADDRESS, None)
        fork.PRECOMPILES.pop(PROBE_ADDRESS, None)  # type: ignore[call-overload]


LAB_SOURCE = """
# pragma version ^0.4.0
event Note:
    who: indexed(address)
    key: indexed(uint256)
    value: uint256

event Called:
    target: indexed(address)
    ok: bool
    size: uint256

interface Lab:
    def die(to: address): nonpayable

slots: public(HashMap[uint256, uint256])
env: public(HashMap[uint256, uint256])
last: public(address)

@deploy
@payable
def __init__():
    self.slots[0] = 1

@external
@payable
def __default__():
    pass

@external
@payable
def note(k: uint256, v: uint256):
    self.slots[k] = v
    log Note(who=msg.sender, key=k, value=v)

@external
def fail(why: String[32]):
    raise why

@external
def burn(n: uint256) -> uint256:
    acc: uint256 = 0
    for i: uint256 in range(n, bound=100000):
        acc = acc + i * i
        self.slots[100 + i % 4] = acc
    return acc

@external
def record():
    self.env[0] = block.number
    self.env[1] = block.timestamp
    self.env[2] = convert(block.coinbase, uint256)
    self.env[3] = convert(block.prevrandao, uint256)
    self.env[4] = chain.id
    self.env[5] = block.basefee
    self.env[6] = block.gaslimit
    self.env[7] = convert(blockhash(block.number - 1), uint256)
    self.env[8] = block.blobbasefee
    self.env[9] = self.balance
    self.env[10] = convert(tx.origin, uint256)
    self.env[11] = tx.gasprice
    self.env[12] = msg.gas

@external
@payable
def make(salt: bytes32, use_salt: bool) -> address:
    child: address = empty(address)
    if use_salt:
        child = create_copy_of(self, salt=salt, value=msg.value)
    else:
        child = create_copy_of(self, value=msg.value)
    self.last = child
    return child

@external
def make_and_kill(to: address) -> address:
    child: address = create_copy_of(self)
    extcall Lab(child).die(to)
    return child

@external
def die(to: address):
    selfdestruct(to)

@external
@payable
def relay(target: address, data: Bytes[512], amount: uint256, mode: uint256) -> Bytes[512]:
    ok: bool = False
    out: Bytes[512] = b""
    if mode == 1:
        ok, out = raw_call(target, data, max_outsize=512, is_static_call=True,
                           revert_on_failure=False)
    elif mode == 2:
        ok, out = raw_call(target, data, max_outsize=512, is_delegate_call=True,
                           revert_on_failure=False)
    else:
        ok, out = raw_call(target, data, max_outsize=512, value=amount,
                           revert_on_failure=False)
    self.slots[7] = convert(ok, uint256)
    self.slots[8] = len(out)
    log Called(target=target, ok=ok, size=len(out))
    return out

@external
def clear(k: uint256):
    self.slots[k] = 0

@external
def invalid(k: uint256):
    assert self.slots[k] == 12345, UNREACHABLE
"""


def lab_code() -> bytes:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # selfdestruct is deprecated; exactly what we test
        code, _ = compile_vyper(LAB_SOURCE)
    return code


def call_data(signature: str, *args: Any) -> bytes:
    inner = signature[signature.index("(") + 1:-1]
    types = [t for t in inner.split(",") if t]
    return selector(signature) + abi_encode(types, list(args))


@dataclass
class Sender:
    account: Any
    address: bytes
    nonce: int = 0


@dataclass
class Stream:
    """A reproducible stream of signed transactions over a changing set of contracts."""

    seed: int
    rng: random.Random = field(init=False)
    senders: list[Sender] = field(default_factory=list)
    poor: Sender | None = None
    tokens: list[bytes] = field(default_factory=list)
    token_owner: dict[bytes, Sender] = field(default_factory=dict)
    labs: list[bytes] = field(default_factory=list)
    fresh: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        for i in range(8):
            acct = Account.from_key(keccak(b"differential sender %d" % i))
            self.senders.append(Sender(acct, bytes.fromhex(acct.address[2:])))
        acct = Account.from_key(keccak(b"differential poor sender"))
        self.poor = Sender(acct, bytes.fromhex(acct.address[2:]))

    def alloc(self) -> dict[str, dict[str, str]]:
        out = {"0x" + s.address.hex(): {"balance": hex(10**24)} for s in self.senders}
        assert self.poor is not None
        out["0x" + self.poor.address.hex()] = {"balance": hex(10**15)}
        return out

    # --- signing -------------------------------------------------------------------------

    def sign(self, sender: Sender, *, to: bytes | None, data: bytes = b"", value: int = 0,
             gas: int = 300_000, nonce: int | None = None) -> SignedTx:
        rng = self.rng
        tx_type = rng.choice((0, 1, 2, 2, 2))
        price = rng.choice((0, 0, 0, 1, 10**9))
        tx: dict[str, Any] = {"nonce": sender.nonce if nonce is None else nonce, "gas": gas,
                              "value": value, "data": data, "chainId": CHAIN_ID}
        if to is not None:
            tx["to"] = to_checksum_address(to)
        if tx_type == 2:
            tx.update(type=2, maxFeePerGas=price * 2, maxPriorityFeePerGas=price)
        elif tx_type == 1:
            access = []
            if rng.random() < 0.5 and (self.labs or self.tokens):
                target = rng.choice(self.labs + self.tokens)
                access.append({"address": to_checksum_address(target),
                               "storageKeys": ["0x" + rng.randrange(4).to_bytes(32, "big").hex()]})
            tx.update(type=1, gasPrice=price, accessList=access)
        else:
            tx["gasPrice"] = price
        raw = bytes(sender.account.sign_transaction(tx).raw_transaction)
        stx = decode_transaction(raw, CHAIN_ID)
        if stx.gas < stx.min_gas:  # the ledger refuses these before execution
            return self.sign(sender, to=to, data=data, value=value,
                             gas=stx.min_gas + rng.choice((0, rng.randrange(5_000))), nonce=nonce)
        return stx

    # --- the stream ----------------------------------------------------------------------

    def next(self) -> tuple[str, SignedTx, Sender | None]:
        """(what, transaction, sender whose nonce it uses if it is valid)."""
        rng = self.rng
        s = rng.choice(self.senders)
        if not self.tokens:
            return self._deploy_token(s)
        if not self.labs:
            return self._deploy_lab(s)
        roll = rng.random()
        if roll < 0.03:
            return self._deploy_token(s)
        if roll < 0.06:
            return self._deploy_lab(s)
        if roll < 0.16:
            return self._transfer(s)
        if roll < 0.30:
            return self._token(s)
        if roll < 0.55:
            return self._lab(s)
        if roll < 0.80:
            return self._probe(s)
        if roll < 0.88:
            return self._system(s)
        return self._refused(s)

    def _tight(self, gas: int) -> int:
        """Usually `gas`; sometimes too little, to run out of gas mid-way."""
        return gas if self.rng.random() < 0.85 else self.rng.randrange(21_000, gas)

    def _deploy_token(self, s: Sender) -> tuple[str, SignedTx, Sender]:
        code, _ = compile_vyper(TOKEN_SOURCE)
        data = code + abi_encode(["uint256"], [10**30])
        stx = self.sign(s, to=None, data=data, gas=self._tight(600_000))
        token = bytes.fromhex(contract_address("0x" + s.address.hex(), s.nonce)[2:])
        self.tokens.append(token)
        self.token_owner[token] = s  # holds the supply, if the deployment succeeds
        return "deploy token", stx, s

    def _deploy_lab(self, s: Sender) -> tuple[str, SignedTx, Sender]:
        value = self.rng.choice((0, 10**6))
        stx = self.sign(s, to=None, data=lab_code(), value=value, gas=self._tight(1_500_000))
        self.labs.append(bytes.fromhex(contract_address("0x" + s.address.hex(), s.nonce)[2:]))
        return "deploy lab", stx, s

    def _target(self) -> bytes:
        rng = self.rng
        kind = rng.random()
        if kind < 0.3 or not self.fresh:
            addr = keccak(b"fresh %d" % rng.randrange(10**9))[12:]
            self.fresh.append(addr)
            return addr
        if kind < 0.6:
            return rng.choice(self.fresh)
        if kind < 0.8:
            return rng.choice(self.senders).address
        return rng.choice(self.labs + self.tokens + [PROBE_ADDRESS, CRYPTO_ADDRESS])

    def _transfer(self, s: Sender) -> tuple[str, SignedTx, Sender]:
        value = self.rng.choice((0, 1, 10**18))
        return "transfer", self.sign(s, to=self._target(), value=value, gas=60_000), s

    def _token(self, s: Sender) -> tuple[str, SignedTx, Sender]:
        rng = self.rng
        token = rng.choice(self.tokens)
        if rng.random() < 0.7:
            s = self.token_owner[token]
        amount = rng.choice((1, 10**18, 10**18, 10**40))  # the last one reverts: no one has it
        to = self._target()
        data = call_data("transfer(address,uint256)", "0x" + to.hex(), amount)
        return "token transfer", self.sign(s, to=token, data=data, gas=self._tight(80_000)), s

    def _lab(self, s: Sender) -> tuple[str, SignedTx, Sender]:
        rng = self.rng
        lab = rng.choice(self.labs)
        choice = rng.randrange(12)
        value = 0
        if choice == 0:
            data = call_data("note(uint256,uint256)", rng.randrange(6), rng.randrange(3))
            value = rng.choice((0, 5))
        elif choice == 1:
            data = call_data("fail(string)", "no luck")
        elif choice == 2:
            data = call_data("burn(uint256)", rng.randrange(1, 60))
        elif choice == 3:
            data = call_data("record()")
        elif choice == 4:
            data = call_data("make(bytes32,bool)", keccak(b"%d" % rng.randrange(8)),
                             rng.random() < 0.5)
            value = rng.choice((0, 3))
        elif choice == 5:
            data = call_data("make_and_kill(address)", "0x" + self._target().hex())
        elif choice == 6:
            data = call_data("clear(uint256)", rng.randrange(6))
        elif choice == 7:
            data = call_data("invalid(uint256)", 50)
        elif choice == 8:
            data = call_data("die(address)", "0x" + self._target().hex())  # no deletion
        else:
            mode = rng.choice((0, 0, 1, 2))
            target = rng.choice([PROBE_ADDRESS, PROBE_ADDRESS, CRYPTO_ADDRESS,
                                 rng.choice(self.tokens), rng.choice(self.labs)])
            inner = self._probe_call()[0] if target == PROBE_ADDRESS else (
                call_data("keccak(bytes)", b"lab") if target == CRYPTO_ADDRESS
                else call_data("slots(uint256)", 0))
            amount = rng.choice((0, 0, 2))
            value = amount
            data = call_data("relay(address,bytes,uint256,uint256)", "0x" + target.hex(),
                             inner, amount, mode)
        return "lab", self.sign(s, to=lab, data=data, value=value,
                                gas=self._tight(700_000)), s

    def _probe_call(self) -> tuple[bytes, int]:
        rng = self.rng
        choice = rng.randrange(21)
        if choice == 20:
            return call_data("spoilRow(uint256,uint256)", rng.randrange(3),
                             rng.choice((0, 1, 3, 2**256 - 1))), 0
        if choice == 19:
            return call_data("putRow(uint256,uint256)", rng.randrange(3), rng.randrange(9)), 0
        if choice == 18:
            return call_data("getRow(uint256)", rng.randrange(3)), 0
        if choice == 17:
            return call_data("spoilSet(uint256)", rng.choice((0, 1, 2**256 - 1))), 0
        if choice >= 15:
            return call_data("putRecord(uint256,uint256)", rng.randrange(4), rng.randrange(50)), 0
        if choice >= 13:  # a small set, so that adds find keys there and removes move items
            return call_data("setOp(uint256,bool)", rng.randrange(4), rng.random() < 0.6), 0
        if choice == 12:
            return call_data("payOne(address)", "0x" + self._target().hex()), 0
        if choice == 0:
            return call_data("put(uint256,uint256)", rng.randrange(5), rng.randrange(3)), 0
        if choice == 1:
            return call_data("get(uint256)", rng.randrange(5)), 0
        if choice == 2:
            return call_data("fail(string)", "probe says no"), 0
        if choice == 3:
            return call_data("bare()"), 0
        if choice == 4:
            return call_data("boom()"), 0
        if choice == 5:
            return call_data("burn(uint256)", rng.choice((1_000, 10**9))), 0
        if choice == 6:
            return call_data("relay(uint256,uint256)", rng.randrange(5), rng.randrange(3)), 0
        if choice == 7:
            return call_data("deep(uint256)", rng.randrange(0, 6)), 0
        if choice == 8:
            return call_data("pay(address)", "0x" + self._target().hex()), rng.choice((0, 4))
        if choice == 9:
            return call_data("deposit()"), rng.choice((0, 7))
        if choice == 10:
            return call_data("context()"), 0
        account = rng.choice(self.labs + self.tokens + [PROBE_ADDRESS, GOVERNANCE_ADDRESS])
        return call_data("peek(address,uint256)", "0x" + account.hex(), rng.randrange(3)), 0

    def _probe(self, s: Sender) -> tuple[str, SignedTx, Sender]:
        rng = self.rng
        data, value = self._probe_call()
        if rng.random() < 0.1:
            data = selector("nope()")  # unknown method
        if rng.random() < 0.05:
            value = 1  # to a non-payable method: reverts
        return "probe", self.sign(s, to=PROBE_ADDRESS, data=data, value=value,
                                  gas=self._tight(400_000)), s

    def _system(self, s: Sender) -> tuple[str, SignedTx, Sender]:
        rng = self.rng
        choice = rng.randrange(6)
        if choice == 0:
            to, data = CRYPTO_ADDRESS, call_data("sm3(bytes)", b"x" * rng.randrange(100))
        elif choice == 1:
            to, data = CRYPTO_ADDRESS, call_data("keccak(bytes)", b"y" * rng.randrange(100))
        elif choice == 2:
            to, data = GOVERNANCE_ADDRESS, call_data("memberCount()")
        elif choice == 3:
            to, data = PERMISSIONS_ADDRESS, call_data(
                "hasRole(address,string)", "0x" + s.address.hex(), "committee")
        elif choice == 4:  # a refused state change (only Governance may)
            to, data = PERMISSIONS_ADDRESS, call_data(
                "grantRole(address,string)", "0x" + s.address.hex(), "auditor")
        else:  # a native calling another native
            to, data = PROBE_ADDRESS, call_data("callGovernance(bytes)",
                                                call_data("revoke(uint256)", 1))
        return "system", self.sign(s, to=to, data=data, gas=self._tight(300_000)), s

    def _refused(self, s: Sender) -> tuple[str, SignedTx, None]:
        rng = self.rng
        choice = rng.randrange(3)
        if choice == 0:
            nonce = s.nonce + rng.randrange(1, 3)
            return "nonce too high", self.sign(s, to=self._target(), nonce=nonce, gas=30_000), None
        if choice == 1 and s.nonce > 0:
            return "nonce too low", self.sign(s, to=self._target(), nonce=s.nonce - 1,
                                              gas=30_000), None
        assert self.poor is not None
        return "unaffordable", self.sign(self.poor, to=self._target(), value=10**20,
                                         gas=30_000), None


def outcome(result: ExecResult) -> tuple[Any, ...]:
    kind = "ok" if result.status else ("revert" if result.error == "execution reverted"
                                       else "halt")
    return (result.status, kind, result.gas_used, result.output, result.logs,
            result.contract_address, result.error)


def genesis(stream: Stream, native_gas: int = 2) -> tuple[bytes, dict[bytes, bytes]]:
    db = AtomicDB()
    state = app_state(alloc=stream.alloc(), native_gas=native_gas)
    root = build_genesis(db, state)  # type: ignore[arg-type]
    return root, dict(db.wrapped_db.kv_store)  # type: ignore[attr-defined]


def block_env(rng: random.Random, number: int, hashes: list[bytes]) -> BlockEnv:
    return BlockEnv(
        number=number,
        timestamp=1_700_000_000 + number * 2,
        coinbase=rng.choice((b"\xaa" * 20, keccak(b"proposer %d" % rng.randrange(3))[12:])),
        prevrandao=keccak(b"randao %d" % number),
        gas_limit=GAS_LIMIT,
        chain_id=CHAIN_ID,
        prev_hashes=tuple(hashes[:256]),
    )


def run_differential(seed: int, count: int, block_size: int = 100,
                     native_gas: int = 2) -> dict[str, int]:
    """`native_gas`: the chain's gas schedule for natives (2: new chains'; 1: older ones',
    every write 20,000)."""
    print(f"\ndifferential run: seed={seed} txs={count} native gas {native_gas} "
          f"(rerun with DIFF_SEED={seed})")
    stream = Stream(seed)
    root, kv = genesis(stream, native_gas)
    py_db, rv_db = AtomicDB(), AtomicDB()
    py_db.wrapped_db.kv_store.update(kv)  # type: ignore[attr-defined]
    rv_db.wrapped_db.kv_store.update(kv)  # type: ignore[attr-defined]
    engine = revm._native.Engine()  # type: ignore[union-attr]
    env_rng = random.Random(seed ^ 0x5EED)
    hashes: list[bytes] = []
    kinds: dict[str, int] = {}
    py_time = rv_time = 0.0
    done = 0
    number = 0
    while done < count:
        number += 1
        env = block_env(env_rng, number, hashes)
        py_world = WorldState(py_db, root, env)
        rv_world = revm.RevmWorldState(rv_db, root, env, engine=engine)
        for _ in range(min(block_size, count - done)):
            what, stx, sender = stream.next()
            done += 1
            where = f"seed {seed}, block {number}, tx {done} ({what})"
            t0 = time.perf_counter()
            try:
                expected: Any = outcome(py_world.apply_transaction(stx.tx))
            except InvalidTransaction:
                expected = "refused"
            t1 = time.perf_counter()
            try:
                way = done % 3
                if way == 0:
                    got: Any = outcome(rv_world.apply_transaction(stx.tx))
                elif way == 1:
                    got = outcome(rv_world.apply_raw(stx.raw, stx.sender))
                else:
                    got = outcome(rv_world.apply_raw(stx.raw))  # recovered in Rust
            except InvalidTransaction:
                got = "refused"
            t2 = time.perf_counter()
            py_time += t1 - t0
            rv_time += t2 - t1
            assert got == expected, f"{where}: revm {got!r} != py-evm {expected!r}"
            if expected != "refused":
                assert sender is not None, f"{where}: py-evm executed a refused transaction"
                sender.nonce += 1
            key = what if expected == "refused" else f"{what}: {expected[1]}"
            kinds[key] = kinds.get(key, 0) + 1
        py_root = py_world.persist()
        rv_root = rv_world.persist()
        assert rv_root == py_root, f"seed {seed}, block {number}: state roots differ"
        root = py_root
        hashes.insert(0, keccak(b"block %d" % number))
    final = revm.RevmWorldState(rv_db, root, block_env(env_rng, number + 1, hashes),
                                engine=revm._native.Engine())  # type: ignore[union-attr]
    assert final.full_root() == root, "the full recompute disagrees with the incremental trie"
    print(f"  {number} blocks, roots equal; py-evm {count / py_time:,.0f} tx/s, "
          f"revm {count / rv_time:,.0f} tx/s (per-tx calls, both from Python)")
    for key in sorted(kinds):
        print(f"  {kinds[key]:6d}  {key}")
    return kinds


def _seed() -> int:
    return int(os.environ.get("DIFF_SEED", random.SystemRandom().randrange(2**32)))


def test_differential_1k(monkeypatch: pytest.MonkeyPatch) -> None:
    # counted: the revm side takes the engine's set operations and batched writes and reads
    engine_ops: dict[str, int] = {"add": 0, "remove": 0, "_sstores": 0, "_sloads": 0}
    for name in engine_ops:
        owner = revm.RevmHost if name in ("_sstores", "_sloads") else revm.EngineWordSets
        def counted(*args: Any, _op: Any = getattr(owner, name), _name: str = name) -> Any:
            engine_ops[_name] += 1
            return _op(*args)
        monkeypatch.setattr(owner, name, counted)
    kinds = run_differential(_seed(), int(os.environ.get("DIFF_TXS", 1_000)))
    assert all(engine_ops.values()), engine_ops
    # the stream exercises what it claims to (a 1,000-transaction run hits all of these)
    assert kinds.get("lab: halt", 0) + kinds.get("probe: halt", 0) > 0
    assert any(k.endswith("revert") for k in kinds)
    assert kinds.get("nonce too high", 0) + kinds.get("unaffordable", 0) > 0


@pytest.mark.slow
def test_differential_10k() -> None:
    run_differential(_seed(), int(os.environ.get("DIFF_TXS", 10_000)), block_size=250)


def test_differential_fixed_seeds() -> None:
    """A few fixed seeds, so a regression shows the same way on every run."""
    for seed in (1, 2, 3):
        for native_gas in (1, 2):
            run_differential(seed, 200, block_size=40, native_gas=native_gas)


def test_genesis_root_and_reads_match() -> None:
    stream = Stream(7)
    root, kv = genesis(stream)
    db = AtomicDB()
    db.wrapped_db.kv_store.update(kv)  # type: ignore[attr-defined]
    env = block_env(random.Random(0), 1, [])
    py_world = WorldState(db, root, env)
    rv_world = revm.RevmWorldState(db, root, env, engine=revm._native.Engine())  # type: ignore[union-attr]
    assert rv_world.full_root() == root
    for address in [s.address for s in stream.senders] + [GOVERNANCE_ADDRESS, PROBE_ADDRESS]:
        assert rv_world.get_balance(address) == py_world.get_balance(address)
        assert rv_world.get_nonce(address) == py_world.get_nonce(address)
        assert rv_world.get_code(address) == py_world.get_code(address)
        assert rv_world.storage_root(address) == py_world.storage_root(address)
        for slot in range(4):
            assert rv_world.get_storage(address, slot) == py_world.get_storage(address, slot)


def test_native_calls_with_value_and_frozen_targets_agree() -> None:
    """A native's call with value: inside a static call it is a write (WriteProtection), to
    a frozen address the guard refuses it before the balance is looked at, otherwise it needs
    the balance. Each case, through both engines: the same outcome and state root."""
    from consortium.evm.host import SlotHost
    from consortium.evm.records import address_word
    from consortium.system.state import PermissionsState

    stream = Stream(3)
    root, kv = genesis(stream)
    frozen = keccak(b"a frozen contract")[12:]
    env = block_env(random.Random(1), 1, [])
    db = AtomicDB()
    db.wrapped_db.kv_store.update(kv)  # type: ignore[attr-defined]
    world = WorldState(db, root, env)
    PermissionsState(Storage(SlotHost(PERMISSIONS_ADDRESS, world.get_storage,
                                      world.set_storage))).frozen().add(address_word(frozen))
    root = world.persist()
    kv = dict(db.wrapped_db.kv_store)  # type: ignore[attr-defined]
    worlds = []
    for make in (lambda d: WorldState(d, root, env),
                 lambda d: revm.RevmWorldState(d, root, env,
                                               engine=revm._native.Engine())):  # type: ignore[union-attr]
        d = AtomicDB()
        d.wrapped_db.kv_store.update(kv)  # type: ignore[attr-defined]
        worlds.append(make(d))
    s = stream.senders[0]
    lab = contract_address("0x" + s.address.hex(), 0)
    cases = [stream.sign(s, to=None, data=lab_code(), gas=1_500_000)]  # the lab, to relay
    for target, mode, fund in ((frozen, 0, 0), (frozen, 0, 5), (stream.senders[1].address, 0, 0),
                               (stream.senders[1].address, 0, 5),
                               (stream.senders[1].address, 1, 5)):
        inner = call_data("payOne(address)", "0x" + target.hex())
        if fund:
            cases.append(stream.sign(s, to=PROBE_ADDRESS, data=call_data("deposit()"),
                                     value=fund, nonce=len(cases)))
        cases.append(stream.sign(s, to=bytes.fromhex(lab[2:]), nonce=len(cases), gas=3_000_000,
                                 data=call_data("relay(address,bytes,uint256,uint256)",
                                                "0x" + PROBE_ADDRESS.hex(), inner, 0, mode)))
    payee = stream.senders[1].address
    received = []
    for i, stx in enumerate(cases):
        before = worlds[0].get_balance(payee)
        got = [outcome(w.apply_transaction(stx.tx)) for w in worlds]
        assert got[1] == got[0], f"case {i}"
        assert got[0][0] == 1, f"case {i}: {got[0]}"  # the lab's relay itself succeeds
        received.append(worlds[0].get_balance(payee) - before)
    assert worlds[1].persist() == worlds[0].persist()
    # the frozen target received nothing, funded or not (refused before the balance is
    # looked at); the payee got a wei from each plain call, none from the static one
    assert worlds[0].get_balance(frozen) == 0
    assert received == [0, 0, 0, 0, 1, 0, 1, 0, 0], received


def test_genesis_built_by_revm_matches_py_evm() -> None:
    """The same writes through both engines' genesis setters give the same root."""
    env = BlockEnv(0, 0, b"\x00" * 20, b"\x00" * 32, GAS_LIMIT, CHAIN_ID)
    worlds = [WorldState(AtomicDB(), EMPTY_ROOT, env),
              revm.RevmWorldState(AtomicDB(), EMPTY_ROOT, env,
                                  engine=revm._native.Engine())]  # type: ignore[union-attr]
    rng = random.Random(11)
    for _ in range(300):
        address = keccak(b"%d" % rng.randrange(60))[12:]
        op = rng.randrange(4)
        value = rng.choice((0, 1, rng.randrange(2**256)))
        code = value.to_bytes(32, "big")[: rng.randrange(33)]
        for w in worlds:
            if op == 0:
                w.set_balance(address, value)
            elif op == 1:
                w.set_nonce(address, value % 2**64)
            elif op == 2:
                w.set_code(address, code)
            else:
                w.set_storage(address, value % 7, value)
    assert worlds[0].persist() == worlds[1].persist()


def test_ledgers_agree(tmp_path: Any) -> None:
    """Two ledgers, one per engine, through FinalizeBlock and Commit: the same outcome for
    every transaction (code, log, data, gas, events), the same app hash per block."""
    from consortium.errors import ExecutionReverted
    from consortium.ledger.ledger import Ledger
    from tests.support.ledger_testkit import NODE_ID, ctx

    seed = _seed()
    print(f"\nledger differential: seed={seed}")
    stream = Stream(seed)
    members = [{"name": "Bank A", "nodes": [NODE_ID],
                "accounts": ["0x" + s.address.hex() for s in stream.senders]}]
    state = app_state(alloc=stream.alloc(), members=members)
    ledgers = [Ledger(tmp_path / "py-evm", engine="py-evm"), Ledger(tmp_path / "revm",
                                                                     engine="revm")]
    try:
        assert ledgers[1].engine == "revm"
        roots = {ledger.init_chain(state, 1) for ledger in ledgers}
        assert len(roots) == 1
        for height in range(1, 6):
            batch = [stream.next() for _ in range(60)]
            outs = [ledger.finalize_block(ctx(height), [stx.raw for _, stx, _ in batch])
                    for ledger in ledgers]
            for i, (a, b) in enumerate(zip(outs[0].tx_results, outs[1].tx_results,
                                           strict=True)):
                assert b == a, f"seed {seed}, block {height}, tx {i} ({batch[i][0]})"
            assert outs[1].app_hash == outs[0].app_hash, f"seed {seed}, block {height}"
            assert outs[1].validator_updates == outs[0].validator_updates
            for ledger in ledgers:
                ledger.commit()
            for (_, _, sender), result in zip(batch, outs[0].tx_results, strict=True):
                if sender is not None and result.code in (0, ExecutionReverted.abci_code):
                    sender.nonce += 1
        assert ledgers[0].info() == ledgers[1].info()
    finally:
        for ledger in ledgers:
            ledger.close()
