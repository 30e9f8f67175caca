"""The ledger's trie store: nodes kept by place (the height of the block that wrote them,
then their hash), appended a block at a time.

Both engines read and write one store (a chain may switch engine between blocks and still
reach the roots a single-engine chain reaches); a block's nodes sit under its own height, in
one run of keys; every past root stays readable and recomputes from its stored nodes; a
damaged record is refused with a clear error, never read as something else."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_engine_differential import Stream, app_state, probe_registered  # noqa: F401

from consortium.errors import ConsortiumError, ExecutionReverted
from consortium.evm import revm_engine as revm
from consortium.evm.header import ZERO_ADDRESS, ZERO_HASH, BlockEnv
from consortium.ledger.ledger import Ledger
from consortium.ledger.state_store import StateStore, u64
from tests.support.ledger_testkit import NODE_ID, ctx

pytestmark = pytest.mark.skipif(not revm.available(), reason=revm.UNAVAILABLE)

SEED = 7
BLOCKS = 6
TXS_PER_BLOCK = 50


def _genesis(stream: Stream) -> Any:
    members = [{"name": "Bank A", "nodes": [NODE_ID],
                "accounts": ["0x" + s.address.hex() for s in stream.senders]}]
    return app_state(alloc=stream.alloc(), members=members)


def _run(path: Path, engines: list[str]) -> list[bytes]:
    """The same stream of blocks on one store, block i executed by `engines[i]` (the
    ledger closed and reopened on the other engine where it changes); the app hashes."""
    stream = Stream(SEED)
    state = _genesis(stream)
    ledger = Ledger(path, engine=engines[0])
    hashes = [ledger.init_chain(state, 1)]
    try:
        for height, engine in enumerate(engines, 1):
            if engine != ledger.engine:
                ledger.close()
                ledger = Ledger(path, engine=engine)
                assert ledger.engine == engine
            batch = [stream.next() for _ in range(TXS_PER_BLOCK)]
            out = ledger.finalize_block(ctx(height), [stx.raw for _, stx, _ in batch])
            ledger.commit()
            hashes.append(out.app_hash)
            for (_, _, sender), result in zip(batch, out.tx_results, strict=True):
                if sender is not None and result.code in (0, ExecutionReverted.abci_code):
                    sender.nonce += 1
    finally:
        ledger.close()
    return hashes


def test_engines_share_the_store(tmp_path: Path) -> None:
    """revm reads what py-evm stored and py-evm what revm stored: alternating engines block
    by block reaches every root a chain on one engine reaches."""
    alone = _run(tmp_path / "revm", ["revm"] * BLOCKS)
    mixed = _run(tmp_path / "mixed", ["revm", "py-evm", "revm", "revm", "py-evm", "py-evm"])
    assert mixed == alone
    assert len(set(alone)) == len(alone)  # every block changed the state


def _world(ledger: Ledger, height: int, engine: str) -> Any:
    factory, _ = revm.world_factory(engine)
    root = ledger.store.root_at(height)
    env = BlockEnv(height, 0, ZERO_ADDRESS, ZERO_HASH, 10**9, 20251)
    return factory(ledger.store.trie_db(height), root, env)


def test_every_past_root_is_readable_and_recomputes(tmp_path: Path) -> None:
    _run(tmp_path / "l", ["revm"] * BLOCKS)
    ledger = Ledger(tmp_path / "l")
    try:
        stream = Stream(SEED)
        for height in range(0, BLOCKS + 1):
            root = ledger.store.root_at(height)
            # the incremental trie's root equals a full recompute over the stored leaves:
            # every record's locator led to the nodes it names
            assert _world(ledger, height, "revm").full_root() == root
            balances = [[_world(ledger, height, e).get_balance(s.address)
                         for s in stream.senders] for e in ("revm", "py-evm")]
            assert balances[0] == balances[1]
            assert ledger.get_balance("0x" + stream.senders[0].address.hex(), height) \
                == balances[0][0]
        first, last = (_world(ledger, h, "revm").get_balance(stream.senders[0].address)
                       for h in (0, BLOCKS))
        assert first != last  # the reads are of different states
    finally:
        ledger.close()


def test_a_blocks_nodes_are_stored_under_its_height(tmp_path: Path) -> None:
    _run(tmp_path / "l", ["revm", "py-evm", "revm"])
    ledger = Ledger(tmp_path / "l")
    try:
        store = ledger.store
        with store.read() as txn:
            keys = [bytes(k) for k, _ in txn.cursor(db=store.dbs["nodes"])]
        heights = [int.from_bytes(k[:8], "big") for k in keys]
        assert heights == sorted(heights)
        assert set(heights) == {0, 1, 2, 3}  # genesis, then one run per block
        for height in range(4):
            root, at = store.root_ref(height)  # type: ignore[misc]
            assert at == height  # each of these blocks changed the root
            assert u64(at) + root in keys
    finally:
        ledger.close()


def test_an_unchanged_root_stays_where_it_was_stored(tmp_path: Path) -> None:
    _run(tmp_path / "l", ["revm"])
    ledger = Ledger(tmp_path / "l")
    try:
        before = ledger.store.root_ref(1)
        ledger.finalize_block(ctx(2), [])  # an empty block changes nothing
        ledger.commit()
        assert ledger.store.root_ref(2) == before
        assert ledger.get_balance("0x" + Stream(SEED).senders[0].address.hex(), 2) > 0
    finally:
        ledger.close()


@pytest.mark.parametrize("engine", ["revm", "py-evm"])
def test_a_damaged_locator_is_refused(tmp_path: Path, engine: str) -> None:
    _run(tmp_path / "l", ["revm"])
    store = StateStore(tmp_path / "l")
    root, at = store.root_ref(1)  # type: ignore[misc]
    key = u64(at) + root
    with store.write() as txn:
        record = txn.get(key, db=store.dbs["nodes"])
        txn.put(key, record + b"\x05", db=store.dbs["nodes"])  # one height too many
    store.close()
    with pytest.raises((ConsortiumError, RuntimeError), match="corrupt trie node"):
        ledger = Ledger(tmp_path / "l", engine=engine)  # revm reads the root as it opens
        try:
            _world(ledger, 1, engine).get_balance(Stream(SEED).senders[0].address)
        finally:
            ledger.close()
    StateStore(tmp_path / "l").close()  # a refused open leaves the store closed


def test_warm_and_prefetch_fetch_in_batches(tmp_path: Path) -> None:
    """Opening a ledger loads the top of its trie; a block's prefetch loads its accounts'
    paths in batches, after which reading those accounts fetches nothing one by one."""
    _run(tmp_path / "l", ["revm"] * 3)
    ledger = Ledger(tmp_path / "l")
    try:
        assert ledger.store.revm_engine().stats()[0] > 0  # warmed as it opened
        db = ledger.store.trie_db(3)
        singles: list[bytes] = []
        fetch = db.fetch
        db.fetch = lambda key: singles.append(key) or fetch(key)  # type: ignore[method-assign]
        env = BlockEnv(3, 0, ZERO_ADDRESS, ZERO_HASH, 10**9, 20251)
        world = revm.RevmWorldState(db, ledger.store.root_at(3), env,  # type: ignore[arg-type]
                                    engine=revm.new_engine())
        senders = [s.address for s in Stream(SEED).senders]
        assert world.prefetch(senders) > 0
        assert world.prefetch(senders) == 0  # all cached now
        assert all(world.get_balance(a) > 0 for a in senders)
        assert [k for k in singles if len(k) == 40] == []  # no node fetched one at a time
    finally:
        ledger.close()


def test_a_world_reads_its_persisted_block_without_the_store(tmp_path: Path) -> None:
    """Between a block's persist and its commit (FinalizeBlock reads the system contracts'
    storage roots there) the world finds its new nodes in the engine: nothing is fetched
    through Python, so the block's records stay one batch in persist's order and Commit
    appends them without indexing or sorting them."""
    _run(tmp_path / "l", ["revm"])
    ledger = Ledger(tmp_path / "l")
    try:
        db = ledger.store.trie_db(1, write_height=2)
        fetched: list[bytes] = []
        fetch, fetch_many = db.fetch, db.fetch_many

        def one(key: bytes) -> bytes | None:
            fetched.append(key)
            return fetch(key)

        def many(keys: list[bytes]) -> list[bytes | None]:
            fetched.extend(keys)
            return fetch_many(keys)

        db.fetch, db.fetch_many = one, many  # type: ignore[method-assign]
        env = BlockEnv(2, 0, ZERO_ADDRESS, ZERO_HASH, 10**9, 20251)
        world = revm.RevmWorldState(db, ledger.store.root_at(1), env,  # type: ignore[arg-type]
                                    engine=revm.new_engine())
        contract = bytes.fromhex("00000000000000000000000000000000000c0ffe")
        for slot in range(200):
            world.set_storage(contract, slot, slot + 1)
        world.set_balance(contract, 5)
        root = world.persist()
        fetched.clear()
        storage_root = world.storage_root(contract)
        assert storage_root != revm.EMPTY_ROOT
        assert world.get_balance(contract) == 5
        assert world.get_storage(contract, 199) == 200
        assert [k for k in fetched if len(k) == 40] == []  # read from the engine
        overlay = db._overlay
        assert len(overlay.batches) == 1 and not overlay.records  # never indexed
        with ledger.store.write() as txn:
            stored = db.flush_into(txn, ledger.store)
        assert stored == len(overlay.batches[0])
        world.keep()
        again = ledger.store.trie_db(1)
        again.anchor(root, 2)  # the flushed block, read back from the store
        reopened = revm.RevmWorldState(again, root, env,  # type: ignore[arg-type]
                                       engine=revm.new_engine())
        assert reopened.storage_root(contract) == storage_root
        assert reopened.get_storage(contract, 0) == 1
    finally:
        ledger.close()
