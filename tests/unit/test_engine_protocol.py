"""Both execution engines implement the engine interface of `consortium.evm.abc`: mypy checks
it in the engine modules (`PY_EVM_ENGINE`, `REVM_ENGINE`) and in the assignments below; here it
is checked at run time too, on worlds each engine opens, and the ledger picks revm's cache
warming by the protocol, not by the engine's name."""

from __future__ import annotations

import pytest
from eth.db.atomic import AtomicDB

from consortium.evm import revm_engine
from consortium.evm.abc import CachingWorldStateAPI, WorldFactory, WorldStateAPI
from consortium.evm.engine import EMPTY_ROOT, PY_EVM_ENGINE, WorldState
from consortium.evm.header import ZERO_ADDRESS, ZERO_HASH, BlockEnv
from consortium.evm.revm_engine import REVM_ENGINE, RevmWorldState

ENV = BlockEnv(1, 0, ZERO_ADDRESS, ZERO_HASH, 30_000_000, 1337)

# what mypy checks when it reads this file: each engine is a WorldFactory
_py_evm: WorldFactory = WorldState
_revm: WorldFactory = RevmWorldState
_caching: type[CachingWorldStateAPI] = RevmWorldState


def _roundtrip(world: WorldStateAPI) -> bytes:
    """The same few calls on either engine, through the interface only."""
    account = b"\x11" * 20
    world.set_balance(account, 10**18)
    world.set_storage(account, 7, 42)
    assert world.get_balance(account) == 10**18
    assert world.get_storage(account, 7) == 42
    result = world.call(account, b"\x22" * 20, 1, b"", 100_000)
    assert result.status == 1 and not result.reverted
    return world.persist()


def test_py_evm_is_a_world_state_without_trie_caches() -> None:
    world = PY_EVM_ENGINE(AtomicDB(), EMPTY_ROOT, ENV)
    assert isinstance(world, WorldStateAPI)
    assert not isinstance(world, CachingWorldStateAPI)
    assert len(_roundtrip(world)) == 32


@pytest.mark.skipif(not revm_engine.available(), reason="revm extension not built")
def test_revm_is_a_world_state_with_trie_caches_and_the_same_root() -> None:
    world = REVM_ENGINE(AtomicDB(), EMPTY_ROOT, ENV)
    assert isinstance(world, WorldStateAPI)
    assert isinstance(world, CachingWorldStateAPI)
    root = _roundtrip(world)
    assert root == _roundtrip(PY_EVM_ENGINE(AtomicDB(), EMPTY_ROOT, ENV))


def test_an_object_missing_a_method_is_not_an_engine_world() -> None:
    class Partial:
        env = ENV

        def get_balance(self, address: bytes) -> int:
            return 0

    assert not isinstance(Partial(), WorldStateAPI)
