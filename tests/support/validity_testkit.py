"""Ledgers for the validity-rule tests: members with large and small balances, and a member
account that has code (EIP-3607), which no genesis can give, so it is written in after the
genesis state is built."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

import consortium.ledger.ledger as ledger_module
from consortium.evm.engine import WorldState
from consortium.evm.header import ZERO_ADDRESS, ZERO_HASH, BlockEnv
from consortium.evm.revm_engine import UNAVAILABLE, available
from consortium.ledger.genesis import AppState
from consortium.ledger.genesis_state import build_genesis
from consortium.ledger.ledger import Ledger
from consortium.ledger.state_store import TrieNodeDB
from tests.support.ledger_testkit import ALICE, BOB, CAROL, CHAIN_ID, MALLORY

DAVE = Account.from_key(b"\x05" * 32)  # a member whose account has code
POOR = Account.from_key(b"\x06" * 32)  # a member with a small balance
DAVE_CODE = bytes.fromhex("60006000f3")  # PUSH1 0 PUSH1 0 RETURN
POOR_BALANCE = 10**9
GAS_LIMIT = 30_000_000
ENGINES = [pytest.param("revm", marks=pytest.mark.skipif(not available(),
                                                         reason=UNAVAILABLE)),
           "py-evm"]


def validity_app_state(gas_limit: int = GAS_LIMIT) -> AppState:
    members = [a.address.lower() for a in (ALICE, BOB, DAVE, POOR)]
    return AppState.from_json({
        "eth_chain_id": CHAIN_ID,
        "block_gas_limit": gas_limit,
        "members": [{"name": "Bank A", "accounts": members},
                    {"name": "Bank C", "tier": "ordinary", "accounts": [CAROL.address.lower()]}],
        "alloc": {
            ALICE.address.lower(): {"balance": hex(10**24)},
            BOB.address.lower(): {"balance": hex(10**20)},
            DAVE.address.lower(): {"balance": hex(10**20)},
            POOR.address.lower(): {"balance": hex(POOR_BALANCE)},
            MALLORY.address.lower(): {"balance": hex(10**20)},
        },
    })


@contextmanager
def code_at_genesis(code: dict[bytes, bytes]) -> Iterator[None]:
    """While open, `Ledger.init_chain` builds a genesis whose accounts `code` have code."""
    def build(trie_db: TrieNodeDB, app_state: AppState, natives: Any = None) -> bytes:
        root = build_genesis(trie_db, app_state, natives)
        env = BlockEnv(0, 0, ZERO_ADDRESS, ZERO_HASH, app_state.block_gas_limit,
                       app_state.eth_chain_id)
        world = WorldState(trie_db, root, env)
        for address, data in sorted(code.items()):
            world.set_code(address, data)
        return world.persist()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ledger_module, "build_genesis", build)
        yield


def validity_ledger(path: Path, engine: str = "revm", **kw: Any) -> Ledger:
    """A ledger at height 0 over `validity_app_state`, DAVE's account holding code."""
    ledger = Ledger(path, engine=engine)
    try:
        with code_at_genesis({bytes.fromhex(DAVE.address[2:]): DAVE_CODE}):
            ledger.init_chain(validity_app_state(**kw), 1)
    except BaseException:
        ledger.close()
        raise
    return ledger
