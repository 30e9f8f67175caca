"""The execution ceiling: the same pre-signed transactions applied straight to a fresh
state, with no consensus, no RPC and no disk.

`execution_ceiling` is py-evm's own Prague state (`PragueState`) executing them with
`state.apply_transaction` in a loop, from the network's genesis (the bench accounts'
balances, and the members and roles in the system contracts' storage, which the finance
services' workloads check), in memory, making a state root every 1,000 transactions (a
block's worth of trie work). The only addition to py-evm as shipped is the precompile
table: it serves the consortium's native contracts, so the `native` and service workloads
run the same code as on the ledger. Transactions are decoded before the clock starts (a node
decodes them at CheckTx); py-evm recovers and checks each signature itself, as shipped.

`engine_execution` runs the same loop through the ledger's own world-state interface with
the engine a node runs (`revm`, or `py-evm`: the consortium's Prague subclass), senders
recovered before the clock as CheckTx does: what the ledger's execution reaches with nothing
around it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth.constants import BLANK_ROOT_HASH
from eth.db.atomic import AtomicDB
from eth.db.trie import _make_trie_root_and_nodes
from eth.vm.forks.prague.computation import PragueComputation
from eth.vm.forks.prague.state import PragueState
from eth.vm.forks.prague.transactions import PragueTransactionBuilder
from eth_typing import Address
from trie.hexary import HexaryTrie

from consortium.bench.workloads import PreSigned

GENESIS_BALANCE = 10**24  # what `consortium init` gives every member account
ROOT_EVERY = 1_000
PROFILE_TXS = 3_000  # the profiled pass: enough for a stable picture, a small HTML page


@dataclass(frozen=True)
class ExecutionResult:
    engine: str  # "py-evm" (as shipped), or the node engine: "revm" / "py-evm" (our fork)
    txs: int
    failed: int  # transactions that failed in the EVM (should be 0)
    seconds: float
    roots: int
    gas_used: int

    @property
    def tps(self) -> float:
        return self.txs / self.seconds if self.seconds > 0 else 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "engine": self.engine, "txs": self.txs, "failed": self.failed,
            "seconds": round(self.seconds, 3), "tps": round(self.tps, 1), "roots": self.roots,
            "root_every": ROOT_EVERY,
            "gas_per_tx": round(self.gas_used / self.txs) if self.txs else 0,
        }


def _stock_state_class() -> type[PragueState]:
    """py-evm's Prague state, its precompile table extended with the native contracts."""
    import consortium.system  # noqa: F401  (registers the native contracts)
    from consortium.evm.fork import PRECOMPILES
    from consortium.evm.host import serve_natives

    serve_natives()  # the registered natives in PRECOMPILES (idempotent)
    computation = type("PragueWithNatives", (PragueComputation,), {"_precompiles": PRECOMPILES})
    return type("PragueStateWithNatives", (PragueState,), {"computation_class": computation})


def _genesis(state: Any, senders: Sequence[bytes], app_state: dict[str, Any] | None) -> None:
    """The bench accounts funded, the natives' accounts made, and with `app_state` (the
    genesis `app_state` JSON) the members and roles written as the ledger's genesis does."""
    import consortium.apps  # noqa: F401  (registers the finance services' contracts)
    import consortium.system  # noqa: F401
    from consortium.evm.native import NATIVE_STUB_CODE, registered_natives

    for address in senders:
        state.set_balance(Address(address), GENESIS_BALANCE)
    for address in sorted(registered_natives()):  # as the ledger's genesis does
        state.set_nonce(Address(address), 1)
        state.set_code(Address(address), NATIVE_STUB_CODE)
    if app_state is not None:
        from consortium.ledger.genesis import AppState
        from consortium.ledger.system_genesis import write_system_genesis

        write_system_genesis(AppState.from_json(app_state), state.get_storage,
                             state.set_storage)


def clear_caches() -> None:
    """py-evm's and trie's module-level caches grow with every state root: drop them."""
    HexaryTrie._cached_create_node_to_db_mapping.cache_clear()
    _make_trie_root_and_nodes.cache_clear()


def execution_ceiling(
    senders: Sequence[bytes],
    setup: Sequence[PreSigned],
    txs: Sequence[PreSigned],
    chain_id: int,
    *,
    app_state: dict[str, Any] | None = None,
    profile_html: Path | None = None,
    progress: Callable[[int], None] = lambda _n: None,
) -> ExecutionResult:
    """Apply `setup` then (timed) `txs` to a fresh in-memory py-evm state; see the module
    doc. With `profile_html`, a second pass over the first PROFILE_TXS transactions runs
    under pyinstrument (the measured pass never does)."""
    result = _py_evm(senders, setup, txs, chain_id, app_state, None, progress)
    if profile_html is not None:
        _py_evm(senders, setup, txs[:PROFILE_TXS], chain_id, app_state, profile_html,
                lambda _n: None)
    return result


def _py_evm(
    senders: Sequence[bytes],
    setup: Sequence[PreSigned],
    txs: Sequence[PreSigned],
    chain_id: int,
    app_state: dict[str, Any] | None,
    profile_html: Path | None,
    progress: Callable[[int], None],
) -> ExecutionResult:
    from consortium.evm.header import ZERO_ADDRESS, ZERO_HASH, BlockEnv

    env = BlockEnv(1, 1, ZERO_ADDRESS, ZERO_HASH, 1_000_000_000, chain_id)
    state: Any = _stock_state_class()(AtomicDB(), env.execution_context(), BLANK_ROOT_HASH)
    _genesis(state, senders, app_state)
    state.persist()
    for item in setup:
        state.lock_changes()
        computation = state.apply_transaction(PragueTransactionBuilder.decode(item.raw))
        if not computation.is_success:
            raise RuntimeError(f"setup transaction failed in the EVM: {computation.error!r}")
    state.persist()
    clear_caches()
    decoded = [PragueTransactionBuilder.decode(t.raw) for t in txs]

    def apply(tx: Any) -> tuple[bool, int]:
        state.lock_changes()
        computation = state.apply_transaction(tx)
        return computation.is_success, tx.gas - computation.get_gas_remaining()

    def root() -> None:
        state.persist()
        clear_caches()

    return _timed("py-evm", decoded, apply, root, profile_html, progress)


def engine_execution(
    engine: str,
    senders: Sequence[bytes],
    setup: Sequence[PreSigned],
    txs: Sequence[PreSigned],
    chain_id: int,
    *,
    app_state: dict[str, Any] | None = None,
    progress: Callable[[int], None] = lambda _n: None,
) -> ExecutionResult:
    """The same transactions on the ledger's world state with engine `engine` ("revm" or
    "py-evm"; revm falls back to py-evm when not built), in memory."""
    from consortium.evm.header import ZERO_ADDRESS, ZERO_HASH, BlockEnv
    from consortium.evm.revm_engine import EMPTY_ROOT, transaction_parser, world_factory
    from consortium.ledger.transactions import decode_transaction

    factory, used = world_factory(engine)
    parse = transaction_parser(used)
    env = BlockEnv(1, 1, ZERO_ADDRESS, ZERO_HASH, 1_000_000_000, chain_id)
    db = AtomicDB()
    world = factory(db, EMPTY_ROOT, env)
    _genesis(world, senders, app_state)
    root = world.persist()
    world = factory(db, root, env)
    for item in setup:
        result = world.apply_transaction(decode_transaction(item.raw, chain_id, parse).tx)
        if result.status != 1:
            raise RuntimeError(f"setup transaction failed in the EVM: {result.error}")
    root = world.persist()
    clear_caches()
    decoded = [decode_transaction(t.raw, chain_id, parse).tx for t in txs]
    holder = [factory(db, root, env)]

    def apply(tx: Any) -> tuple[bool, int]:
        result = holder[0].apply_transaction(tx)
        return result.status == 1, int(result.gas_used)

    def persist() -> None:
        new_root = holder[0].persist()
        clear_caches()
        holder[0] = factory(db, new_root, env)  # the next "block", as the ledger does

    return _timed(used, decoded, apply, persist, None, progress)


def _timed(
    engine: str,
    decoded: Sequence[Any],
    apply: Callable[[Any], tuple[bool, int]],
    root: Callable[[], None],
    profile_html: Path | None,
    progress: Callable[[int], None],
) -> ExecutionResult:
    profiler = None
    if profile_html is not None:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.01)
        profiler.start()
    failed = roots = gas = 0
    start = time.perf_counter()
    for i, tx in enumerate(decoded, 1):
        ok, used = apply(tx)
        failed += not ok
        gas += used
        if i % ROOT_EVERY == 0 or i == len(decoded):
            root()
            roots += 1
            progress(ROOT_EVERY if i % ROOT_EVERY == 0 else i % ROOT_EVERY)
    seconds = time.perf_counter() - start
    if profiler is not None and profile_html is not None:
        profiler.stop()
        profile_html.parent.mkdir(parents=True, exist_ok=True)
        profile_html.write_text(profiler.output_html())
    return ExecutionResult(engine, len(decoded), failed, seconds, roots, gas)
