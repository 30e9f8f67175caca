"""Genesis, empty blocks, persistence and determinism of the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from consortium.errors import ConsortiumError
from consortium.ledger.ledger import Ledger
from tests.support.ledger_testkit import (
    ALICE,
    MALLORY,
    NODE_ID,
    app_state,
    ctx,
    new_ledger,
    run_block,
)


def test_fresh_ledger_reports_nothing(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    assert ledger.info() == (0, b"")
    ledger.close()


def test_genesis_is_durable_before_the_first_block(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    root = ledger.init_chain(app_state(), 1)
    assert len(root) == 32
    assert ledger.info() == (0, root)
    ledger.close()
    reopened = Ledger(tmp_path)
    assert reopened.info() == (0, root)
    assert reopened.is_member_account(ALICE.address)
    reopened.close()


def test_init_chain_again_answers_the_same_root(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    first = ledger.init_chain(app_state(), 1)
    assert ledger.init_chain(app_state(), 1) == first
    ledger.close()


def test_empty_blocks_commit_and_survive_reopening(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    genesis_hash = ledger.info()[1]
    for _ in range(5):
        out = run_block(ledger, [])
        assert out.tx_results == ()
        assert out.app_hash == genesis_hash  # nothing touched
    assert ledger.info() == (5, genesis_hash)
    ledger.close()
    reopened = Ledger(tmp_path)
    assert reopened.info() == (5, genesis_hash)
    run_block(reopened, [])
    assert reopened.info()[0] == 6
    reopened.close()


def test_app_hash_is_deterministic(tmp_path: Path) -> None:
    a, b = new_ledger(tmp_path / "a"), new_ledger(tmp_path / "b")
    assert a.info() == b.info()
    for _ in range(3):
        assert run_block(a, []).app_hash == run_block(b, []).app_hash
    assert a.info() == b.info()
    a.close()
    b.close()


def test_different_genesis_gives_a_different_root(tmp_path: Path) -> None:
    a = new_ledger(tmp_path / "a")
    b = new_ledger(tmp_path / "b", alloc={MALLORY.address.lower(): {"balance": "1"}})
    assert a.info()[1] != b.info()[1]
    a.close()
    b.close()


def test_nodes_and_members(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    assert ledger.is_admitted_node(NODE_ID)
    assert ledger.is_admitted_node(NODE_ID.upper())
    assert not ledger.is_admitted_node("cd" * 20)
    assert ledger.is_member_account(ALICE.address)
    assert ledger.is_member_account(ALICE.address.lower())
    assert not ledger.is_member_account(MALLORY.address)
    assert not ledger.is_member_account("nonsense")
    ledger.close()


def test_one_environment_per_path(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    with pytest.raises(ConsortiumError):
        Ledger(tmp_path)
    ledger.close()
    Ledger(tmp_path).close()


def test_finalize_without_commit_leaves_state_unchanged(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    run_block(ledger, [])
    before = ledger.info()
    ledger.finalize_block(ctx(2), [])
    ledger.close()
    reopened = Ledger(tmp_path)
    assert reopened.info() == before
    reopened.close()


def test_heights_must_follow_on(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    with pytest.raises(ConsortiumError):
        ledger.finalize_block(ctx(2), [])
    ledger.close()


def test_initial_height_above_one(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path)
    ledger.init_chain(app_state(), 100)
    assert ledger.info()[0] == 0
    ledger.finalize_block(ctx(100), [])
    ledger.commit()
    assert ledger.info()[0] == 100
    ledger.close()


def test_check_tx_from_another_thread_while_blocks_commit(tmp_path: Path) -> None:
    import threading

    from tests.support.ledger_testkit import BOB, sign

    ledger = new_ledger(tmp_path)
    txs = [sign(ALICE, nonce=n, to=BOB.address, value=1, gas=21_000) for n in range(40)]
    errors: list[BaseException] = []
    stop = threading.Event()

    def mempool() -> None:
        try:
            while not stop.is_set():
                for raw in txs:
                    ledger.check_tx(raw)
                ledger.get_balance(BOB.address)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    worker = threading.Thread(target=mempool)
    worker.start()
    try:
        for start in range(0, 40, 4):
            out = run_block(ledger, txs[start:start + 4])
            assert [r.code for r in out.tx_results] == [0, 0, 0, 0]
    finally:
        stop.set()
        worker.join()
    assert not errors
    assert ledger.get_nonce(ALICE.address) == 40
    ledger.close()
