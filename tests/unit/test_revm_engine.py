"""The revm engine's own behaviours: the database seam (reads through `fetch`, caches that
outlive blocks, nodes py-evm can read back, store errors that stop execution rather than
revert), native-contract semantics that the differential stream does not single out (call
guards, DELEGATECALL refusal, static calls, type-name-only errors), Rust sender recovery, and
the fallback to py-evm when the extension is missing."""

from __future__ import annotations

import logging
import random
from collections.abc import Iterator
from typing import Any

import pytest
from eth.db.atomic import AtomicDB
from eth_abi import encode as abi_encode
from eth_hash.auto import keccak

import consortium.evm  # noqa: F401
import consortium.system  # noqa: F401
from consortium.evm import fork
from consortium.evm import revm_engine as revm
from consortium.evm.engine import EMPTY_ROOT, WorldState
from consortium.evm.header import BlockEnv
from consortium.evm.native import NATIVE_STUB_CODE, error_data
from consortium.ledger.genesis_state import build_genesis
from consortium.ledger.transactions import decode_transaction, recover_sender
from consortium.system.crypto import CRYPTO_ADDRESS
from consortium.system.model import GOVERNANCE_ADDRESS
from tests.support.ledger_testkit import (
    ALICE,
    BOB,
    CHAIN_ID,
    app_state,
    calldata,
    contract_address,
    sign,
    token_deploy_data,
)

pytestmark = pytest.mark.skipif(not revm.available(), reason=revm.UNAVAILABLE)

A = bytes.fromhex(ALICE.address[2:])
B = bytes.fromhex(BOB.address[2:])
GAS_LIMIT = 1_000_000_000


def env(number: int = 1) -> BlockEnv:
    return BlockEnv(number, 1_700_000_000 + number, b"\xaa" * 20, keccak(b"%d" % number),
                    GAS_LIMIT, CHAIN_ID, (keccak(b"parent"),))


class CountingDB(AtomicDB):
    """An in-memory store that counts reads (the engine's misses)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads = 0

    def __getitem__(self, key: bytes) -> bytes:
        self.reads += 1
        return super().__getitem__(key)  # type: ignore[no-any-return]


@pytest.fixture
def genesis() -> tuple[bytes, dict[bytes, bytes]]:
    db = AtomicDB()
    root = build_genesis(db, app_state())  # type: ignore[arg-type]
    return root, dict(db.wrapped_db.kv_store)  # type: ignore[attr-defined]


def new_db(kv: dict[bytes, bytes], cls: type[AtomicDB] = AtomicDB) -> Any:
    db = cls()
    db.wrapped_db.kv_store.update(kv)  # type: ignore[attr-defined]
    return db


def tx(raw: bytes) -> Any:
    return decode_transaction(raw, CHAIN_ID).tx


def both(genesis: tuple[bytes, dict[bytes, bytes]], raws: list[bytes]) -> list[tuple[Any, Any]]:
    """Each transaction through py-evm and revm: [(py-evm result, revm result)]; the block's
    roots must agree."""
    root, kv = genesis
    py = WorldState(new_db(kv), root, env())
    rv = revm.RevmWorldState(new_db(kv), root, env(), engine=revm._native.Engine())  # type: ignore[union-attr]
    out = [(py.apply_transaction(tx(r)), rv.apply_transaction(tx(r))) for r in raws]
    assert rv.persist() == py.persist()
    return out


# --- the database seam -----------------------------------------------------------------------


def test_persisted_nodes_serve_py_evm_reads(genesis: tuple[bytes, dict[bytes, bytes]]) -> None:
    """Historical reads keep using py-evm: the nodes revm stores are the trie py-evm reads."""
    root, kv = genesis
    db = new_db(kv)
    world = revm.RevmWorldState(db, root, env(), engine=revm._native.Engine())  # type: ignore[union-attr]
    world.apply_transaction(tx(sign(ALICE, nonce=0, data=token_deploy_data(1000), gas=2_000_000)))
    token = bytes.fromhex(contract_address(ALICE.address, 0)[2:])
    world.apply_transaction(tx(sign(ALICE, nonce=1, to=BOB.address, value=12345)))
    new_root = world.persist()
    assert world.full_root() == new_root
    reader = WorldState(db, new_root, env(2))
    assert reader.get_balance(B) == 10**20 + 12345
    assert reader.get_nonce(A) == 2
    assert reader.get_code(token) == world.get_code(token) != b""
    assert reader.get_storage(token, 1) == world.get_storage(token, 1) == 1000  # totalSupply
    assert reader.storage_root(token) == world.storage_root(token)
    out = reader.call(A, token, 0, calldata("balanceOf(address)", ["address"], [ALICE.address]),
                      100_000)
    assert int.from_bytes(out.output, "big") == 1000


def test_cache_outlives_blocks(genesis: tuple[bytes, dict[bytes, bytes]]) -> None:
    root, kv = genesis
    db = new_db(kv, CountingDB)
    engine = revm._native.Engine()  # type: ignore[union-attr]
    nonce = 0
    for number in (1, 2, 3):
        world = revm.RevmWorldState(db, root, env(number), engine=engine)
        before = db.reads
        for _ in range(20):
            world.apply_transaction(tx(sign(ALICE, nonce=nonce, to=BOB.address, value=1)))
            nonce += 1
        root = world.persist()
        reads = db.reads - before
        if number == 1:
            assert reads > 0  # the first block reads its paths from the store
        else:
            assert reads == 0, f"block {number} read {reads} nodes the engine had seen"
    nodes, _ = engine.stats()
    assert nodes > 0


def test_store_errors_stop_execution(genesis: tuple[bytes, dict[bytes, bytes]]) -> None:
    """A failing store raises out of the engine; it never turns into a revert."""
    root, kv = genesis

    class Broken(AtomicDB):
        def __getitem__(self, key: bytes) -> bytes:
            raise OSError("disk on fire")

    world = revm.RevmWorldState(Broken(), root, env(), engine=revm._native.Engine())  # type: ignore[union-attr]
    with pytest.raises(OSError, match="disk on fire"):
        world.apply_transaction(tx(sign(ALICE, nonce=0, to=BOB.address, value=1)))
    # a node missing from the store is an error too, not an empty account
    world = revm.RevmWorldState(AtomicDB(), root, env(), engine=revm._native.Engine())  # type: ignore[union-attr]
    with pytest.raises(RuntimeError, match="missing"):
        world.get_balance(A)


def test_state_root_midway_and_rebase(genesis: tuple[bytes, dict[bytes, bytes]]) -> None:
    root, kv = genesis
    py = WorldState(new_db(kv), root, env())
    rv = revm.RevmWorldState(new_db(kv), root, env(), engine=revm._native.Engine())  # type: ignore[union-attr]
    for nonce in range(3):
        t = tx(sign(ALICE, nonce=nonce, to=BOB.address, value=nonce + 1))
        py.apply_transaction(t)
        rv.apply_transaction(t)
        assert rv.state_root() == py.state_root()
    assert rv.persist() == py.persist()
    t = tx(sign(ALICE, nonce=3, to=BOB.address, value=7))  # after persist, on the new base
    py.apply_transaction(t)
    rv.apply_transaction(t)
    assert rv.persist(diff=True) == py.persist()
    assert {address for address, _ in rv.last_diff} == {A, B}


def test_diff_lists_the_changes(genesis: tuple[bytes, dict[bytes, bytes]]) -> None:
    root, kv = genesis
    rv = revm.RevmWorldState(new_db(kv), root, env(), engine=revm._native.Engine())  # type: ignore[union-attr]
    rv.apply_transaction(tx(sign(ALICE, nonce=0, to=BOB.address, value=5)))
    rv.persist(diff=True)
    diff = dict(rv.last_diff)
    assert set(diff) == {A, B}
    nonce, balance, code_hash, storage_root, cleared, slots = diff[B]
    assert (nonce, balance, cleared, slots) == (0, 10**20 + 5, False, [])
    assert code_hash == keccak(b"") and storage_root == EMPTY_ROOT
    rv.apply_transaction(tx(sign(ALICE, nonce=1, to=BOB.address, value=5)))
    rv.persist()
    assert rv.last_diff == []  # only when asked for: a block's persist does not build it


def test_eth_call_matches(genesis: tuple[bytes, dict[bytes, bytes]]) -> None:
    root, kv = genesis
    data = calldata("memberCount()", [], [])
    py = WorldState(new_db(kv), root, env()).call(A, GOVERNANCE_ADDRESS, 0, data, 100_000)
    rv = revm.RevmWorldState(new_db(kv), root, env()).call(A, GOVERNANCE_ADDRESS, 0, data,
                                                           100_000)
    assert (rv.status, rv.output, rv.gas_used) == (py.status, py.output, py.gas_used)


def test_rust_sender_recovery_matches_coincurve() -> None:
    rng = random.Random(3)
    for i in range(20):
        raw = sign(ALICE if i % 2 else BOB, nonce=i, to=BOB.address, value=rng.randrange(100),
                   tx_type=i % 3, data=bytes(rng.randrange(256) for _ in range(i)))
        assert revm._native.recover_sender(raw) == recover_sender(tx(raw))  # type: ignore[union-attr]


# --- natives and guards ------------------------------------------------------------------------


def test_native_revert_rolls_back_and_errors_are_type_names(
    genesis: tuple[bytes, dict[bytes, bytes]],
) -> None:
    bad_args = CRYPTO_ADDRESS, calldata("sm2Verify(bytes,bytes,bytes)", ["bytes"] * 3,
                                        [b"", b"", b""])
    unknown = GOVERNANCE_ADDRESS, bytes.fromhex("deadbeef")
    raws = [sign(ALICE, nonce=i, to="0x" + to.hex(), data=data)
            for i, (to, data) in enumerate([bad_args, unknown])]
    for py, rv in both(genesis, raws):
        assert rv == py
        assert rv.status == 0 and rv.error == "execution reverted"


@pytest.fixture
def frozen_guard() -> Iterator[bytes]:
    """A call guard refusing calls to addresses (as Permissions' frozen list does): the
    address Alice's second deployment would get, and the first contract that Alice's sixth
    deployment would create."""
    target = bytes.fromhex(contract_address(ALICE.address, 1)[2:])
    creator = contract_address(ALICE.address, 5)
    frozen = {target, bytes.fromhex(contract_address(creator, 1)[2:])}

    def guard(read: Any, address: bytes) -> str | None:
        read(GOVERNANCE_ADDRESS, 0)  # guards read storage through the engine
        return "contract frozen: test" if address in frozen else None

    fork.install_call_guard(guard)
    try:
        yield target
    finally:
        fork.CALL_GUARDS.remove(guard)


def test_call_guard_refuses_like_py_evm(genesis: tuple[bytes, dict[bytes, bytes]],
                                        frozen_guard: bytes) -> None:
    token = contract_address(ALICE.address, 0)
    frozen = "0x" + frozen_guard.hex()
    transfer = calldata("transfer(address,uint256)", ["address", "uint256"], [BOB.address, 1])
    raws = [
        sign(ALICE, nonce=0, data=token_deploy_data(1000), gas=2_000_000),  # allowed
        sign(ALICE, nonce=1, data=token_deploy_data(1000), gas=2_000_000),  # at the frozen one
        sign(ALICE, nonce=2, to=token, data=transfer),  # others pass
        sign(ALICE, nonce=3, to=frozen, value=5, data=transfer),  # refused, value and all
        sign(ALICE, nonce=4, to=BOB.address, value=5),
        # a contract whose code CREATEs (empty init code) and stores the new address (0 when
        # refused) at slot 0
        sign(ALICE, nonce=5, data=bytes.fromhex("600b80600c6000396000f300600060006000f060005500")),
        sign(ALICE, nonce=6, to=contract_address(ALICE.address, 5)),
    ]
    results = both(genesis, raws)
    for py, rv in results:
        assert rv == py
    assert [rv.status for _, rv in results] == [1, 0, 1, 0, 1, 1, 1]
    assert results[1][1].output == results[3][1].output == error_data("contract frozen: test")


def test_delegatecall_and_static_writes(genesis: tuple[bytes, dict[bytes, bytes]]) -> None:
    """EVM code calling a native: DELEGATECALL is refused with a reason; a write inside
    STATICCALL halts the native (all its gas), like py-evm."""
    # a contract that forwards its calldata to Governance with the call kind in byte 0:
    # 0 CALL, 1 DELEGATECALL, 2 STATICCALL; stores success at slot 0 and returns the data
    def forwarder(op: int) -> bytes:
        body = bytes([
            0x36, 0x60, 0x00, 0x60, 0x00, 0x37,  # calldatacopy(0, 0, size)
            0x60, 0x00, 0x60, 0x00, 0x36, 0x60, 0x00,  # out 0 0, in size 0
        ])
        if op == 0xF1:
            body += bytes([0x60, 0x00])  # value 0
        body += bytes([0x73]) + GOVERNANCE_ADDRESS + bytes([0x5A, op])  # addr, gas, CALL*
        body += bytes([0x60, 0x00, 0x55])  # sstore(0, success)
        body += bytes([0x3D, 0x60, 0x00, 0x60, 0x00, 0x3E, 0x3D, 0x60, 0x00, 0xF3])
        init = bytes([0x60, len(body), 0x80, 0x60, 0x0C, 0x60, 0x00, 0x39, 0x60, 0x00, 0xF3, 0x00])
        return init + body

    raws = [sign(ALICE, nonce=i, data=forwarder(op), gas=200_000)
            for i, op in enumerate((0xF1, 0xF4, 0xFA))]
    revoke = calldata("revoke(uint256)", ["uint256"], [1])
    for i in range(3):
        target = contract_address(ALICE.address, i)
        raws.append(sign(ALICE, nonce=3 + i, to=target, data=revoke, gas=300_000))
    results = both(genesis, raws)
    for py, rv in results:
        assert rv == py
    assert all(rv.status == 1 for _, rv in results[:3])
    assert b"cannot be called with DELEGATECALL" in results[4][1].output


def test_native_stub_accounts_are_not_deleted(genesis: tuple[bytes, dict[bytes, bytes]]) -> None:
    """Touching a native (a zero-value call) keeps its non-empty account, in both engines."""
    raws = [sign(ALICE, nonce=0, to="0x" + CRYPTO_ADDRESS.hex(),
                 data=calldata("keccak(bytes)", ["bytes"], [b""]))]
    root, kv = genesis
    both(genesis, raws)
    world = revm.RevmWorldState(new_db(kv), root, env())
    world.apply_transaction(tx(raws[0]))
    assert world.get_code(CRYPTO_ADDRESS) == NATIVE_STUB_CODE
    assert world.get_nonce(CRYPTO_ADDRESS) == 1


def test_fallback_to_py_evm(monkeypatch: pytest.MonkeyPatch,
                            caplog: pytest.LogCaptureFixture) -> None:
    assert revm.world_factory("revm") == (revm.RevmWorldState, "revm")
    assert revm.world_factory("py-evm") == (WorldState, "py-evm")
    monkeypatch.setattr(revm, "_native", None)
    monkeypatch.setattr(revm, "UNAVAILABLE", "the consortium_revm extension is not installed")
    with caplog.at_level(logging.WARNING, logger="consortium.evm"):
        assert revm.world_factory("revm") == (WorldState, "py-evm")
    assert "falling back to py-evm" in caplog.text
    with pytest.raises(ValueError):
        revm.world_factory("evmone")


def test_value_to_big_for_u128_roundtrips(genesis: tuple[bytes, dict[bytes, bytes]]) -> None:
    root, kv = genesis
    world = revm.RevmWorldState(new_db(kv), root, env())
    big = 2**255 + 12345
    world.set_storage(B, 3, big)
    world.set_balance(B, big)
    assert world.get_storage(B, 3) == big
    assert world.get_balance(B) == big
    py = WorldState(new_db(kv), root, env())
    py.set_storage(B, 3, big)
    py.set_balance(B, big)
    assert world.persist() == py.persist()
    assert abi_encode(["uint256"], [big])  # a sanity use of the encoder


# --- the Rust transaction decoder (CheckTx with the revm engine) ----------------------------


def _decoded(raw: bytes, parse: Any) -> Any:
    from consortium.errors import TxError

    try:
        stx = decode_transaction(raw, CHAIN_ID, parse)
    except TxError as err:
        return (type(err).__name__, err.message)
    tx = stx.tx
    return (stx.hash, stx.sender, stx.type_id, stx.chain_id, stx.min_gas, stx.nonce, stx.gas,
            stx.value, stx.max_cost, bytes(tx.to), bytes(tx.data),
            tuple((bytes(a), tuple(keys)) for a, keys in tx.access_list),
            tx.max_fee_per_gas, tx.max_priority_fee_per_gas, tx.intrinsic_gas, tx.r, tx.s)


def test_rust_decoder_agrees_with_py_evm() -> None:
    """Valid transactions of every accepted type, and mutated, truncated and padded ones:
    the Rust decoder with the same checks answers exactly what py-evm's path answers."""
    rng = random.Random(5)
    raws = []
    for i in range(150):
        kind = i % 3
        extra: dict[str, Any] = {}
        if kind == 1 and i % 2:
            extra["accessList"] = [{"address": BOB.address, "storageKeys": [
                "0x" + rng.randrange(2**256).to_bytes(32, "big").hex()
                for _ in range(rng.randrange(3))]}]
        to = None if i % 7 == 0 else BOB.address
        data = bytes(rng.choice((0, rng.randrange(256))) for _ in range(rng.randrange(80)))
        raws.append(sign(ALICE, nonce=rng.choice((0, 1, 2**40)), to=to, value=rng.randrange(10**20),
                         data=data, tx_type=kind, gas=rng.choice((21_000, 90_000, 10**7)),
                         gas_price=rng.choice((0, 7, 10**9)), chain_id=rng.choice(
                             (CHAIN_ID, CHAIN_ID, 1)), **extra))
    variants = list(raws)
    for raw in raws:
        b = bytearray(raw)
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        variants += [bytes(b), raw[:-1], raw + b"\x00", raw[: rng.randrange(1, len(raw))]]
    fast = 0
    for raw in variants:
        assert _decoded(raw, revm.parse_transaction) == _decoded(raw, None), raw.hex()
        fast += revm.parse_transaction(raw) is not None
    assert fast >= len(raws)  # the valid ones took the fast path


def test_rust_decoded_transactions_execute_the_same(
    genesis: tuple[bytes, dict[bytes, bytes]],
) -> None:
    root, kv = genesis
    raws = [sign(ALICE, nonce=0, data=token_deploy_data(1000), gas=2_000_000, tx_type=1),
            sign(ALICE, nonce=1, to=BOB.address, value=3, tx_type=0, gas_price=2),
            sign(ALICE, nonce=2, to=contract_address(ALICE.address, 0), tx_type=2, gas_price=5,
                 data=calldata("transfer(address,uint256)", ["address", "uint256"],
                               [BOB.address, 7]))]
    worlds = [revm.RevmWorldState(new_db(kv), root, env()) for _ in range(2)]
    for raw in raws:
        a = worlds[0].apply_transaction(decode_transaction(raw, CHAIN_ID).tx)
        b = worlds[1].apply_transaction(
            decode_transaction(raw, CHAIN_ID, revm.parse_transaction).tx)
        assert a == b and a.status == 1
    assert worlds[0].persist() == worlds[1].persist()


def test_creation_short_of_its_initcode_cost(genesis: tuple[bytes, dict[bytes, bytes]]) -> None:
    """py-evm's intrinsic gas leaves out a creation's EIP-3860 initcode cost (its frame pays
    it): a creation with just the intrinsic gas runs out of gas in the EVM, in both."""
    data = token_deploy_data(1000)
    stx = decode_transaction(sign(ALICE, nonce=0, data=data, gas=10**6), CHAIN_ID)
    raws = [sign(ALICE, nonce=0, data=data, gas=stx.min_gas),
            sign(ALICE, nonce=1, data=data, gas=stx.min_gas + 10, gas_price=3)]
    for py, rv in both(genesis, raws):
        assert rv == py
        assert (rv.status, rv.error) == (0, "OutOfGas")
