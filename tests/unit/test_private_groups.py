"""Privacy groups' private execution (issue 22): the public-reads hook of both engines, and
each group member's `PrivateGroups` processor following in-process ledgers."""

from __future__ import annotations

from typing import Any

import pytest
from eth.db.atomic import AtomicDB
from eth_abi import decode as abi_decode

from consortium.evm import revm_engine
from consortium.evm.engine import EMPTY_ROOT, WorldState
from consortium.evm.header import ZERO_ADDRESS, ZERO_HASH, BlockEnv
from consortium.evm.native import NATIVE_STUB_CODE, NativeContract, method, native_address, register
from consortium.evm.public_reads import ACTIVE, cached, public_reads
from consortium.evm.storage import Storage
from tests.support.ledger_testkit import calldata

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


def test_cached_reader_asks_once_per_slot() -> None:
    calls: list[tuple[bytes, int]] = []

    def read(address: bytes, slot: int) -> int:
        calls.append((address, slot))
        return slot * 2

    reader = cached(read)
    assert [reader(OTHER, 3), reader(OTHER, 3), reader(OTHER, 4)] == [6, 6, 8]
    assert calls == [(OTHER, 3), (OTHER, 4)]
