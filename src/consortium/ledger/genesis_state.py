"""The genesis world state: what `init_chain` builds from the genesis `app_state`."""

from __future__ import annotations

from collections.abc import Iterable

from consortium.evm.engine import EMPTY_ROOT, WorldState
from consortium.evm.header import ZERO_ADDRESS, ZERO_HASH, BlockEnv
from consortium.evm.native import NATIVE_STUB_CODE, registered_natives
from consortium.ledger.genesis import AppState
from consortium.ledger.state_store import TrieNodeDB
from consortium.ledger.system_genesis import write_system_genesis
from consortium.system.privacy import PRIVACY_ADDRESS

# Natives added after chains were running: their account only on chains whose genesis names
# them in `native_versions` (an account more would change every older genesis' state root).
OPT_IN_NATIVES = {PRIVACY_ADDRESS: "Privacy"}


def build_genesis(trie_db: TrieNodeDB, app_state: AppState,
                  natives: Iterable[bytes] | None = None) -> bytes:
    """Write the genesis state into `trie_db` (in memory) and return its root.

    Alloc balances are set in address order; every native contract (at `natives`, else every
    one registered; an opt-in one only when the genesis names it) gets nonce 1 and a one-byte
    stub code, so it is never "empty" (EIP-161 would delete it) and Solidity's extcodesize
    check before a call passes. The stub never runs: the precompile answers. Then the members,
    their accounts, nodes and validators, and the governance rules go into the system
    contracts' storage, so the state root covers them.
    """
    env = BlockEnv(0, 0, ZERO_ADDRESS, ZERO_HASH, app_state.block_gas_limit,
                   app_state.eth_chain_id)
    world = WorldState(trie_db, EMPTY_ROOT, env)
    for address, wei in sorted(app_state.alloc.items()):
        world.set_balance(bytes.fromhex(address[2:]), wei)
    for native in sorted(registered_natives() if natives is None else natives):
        if native in OPT_IN_NATIVES and OPT_IN_NATIVES[native] not in app_state.native_versions:
            continue
        world.set_nonce(native, 1)
        world.set_code(native, NATIVE_STUB_CODE)
    write_system_genesis(app_state, world.get_storage, world.set_storage)
    return world.persist()
