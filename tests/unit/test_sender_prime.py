"""Priming the sender cache ahead of CheckTx (what a node's API does from a worker thread):
primed transactions are found by CheckTx; bad ones are left for CheckTx to refuse."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from consortium.abci.protocol import Request, types_pb2
from consortium.evm import revm_engine
from consortium.ledger.application import ConsortiumApp
from tests.support.abci_testkit import serve_once
from tests.support.ledger_testkit import ALICE, BOB, new_ledger, run_block, sign


@pytest.mark.skipif(not revm_engine.available(), reason="revm extension not built")
def test_primed_transactions_skip_decoding_in_check_tx(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    try:
        good = [sign(ALICE, nonce=i, to=BOB.address, value=1, gas=21_000) for i in range(5)]
        wrong_chain = sign(ALICE, nonce=5, to=BOB.address, gas=21_000, chain_id=1)
        garbage = b"\x02\xc0"
        assert ledger.prime_senders([*good, wrong_chain, garbage]) == 5
        for raw in good:
            item = ledger.senders.get(raw)
            assert item is not None and item.sender == bytes.fromhex(ALICE.address[2:])
        assert ledger.senders.get(wrong_chain) is None
        # CheckTx answers the same as without priming, refusals with their reasons
        assert [ledger.check_tx(raw).code for raw in good] == [0] * 5
        out = ledger.check_tx(wrong_chain)
        assert out.code != 0 and "chain id 1" in out.log
        assert ledger.check_tx(garbage).code != 0
    finally:
        ledger.close()


def test_prime_without_a_batch_parser_does_nothing(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    try:
        ledger.senders.parse_many = None
        raw = sign(ALICE, nonce=0, to=BOB.address, gas=21_000)
        assert ledger.prime_senders([raw]) == 0
        assert ledger.check_tx(raw).code == 0
    finally:
        ledger.close()


@pytest.mark.skipif(not revm_engine.available(), reason="revm extension not built")
def test_priming_again_decodes_only_the_new_ones(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    try:
        batches: list[int] = []
        parse_many = ledger.senders.parse_many
        assert parse_many is not None

        def counting(raws: list[bytes], senders: Any = None) -> list[Any]:
            batches.append(len(raws))
            return parse_many(raws, senders)

        ledger.senders.parse_many = counting
        raws = [sign(ALICE, nonce=i, to=BOB.address, value=1, gas=21_000) for i in range(4)]
        assert ledger.prime_senders(raws[:3]) == 3
        assert ledger.prime_senders(raws) == 1  # three were cached: not recovered again
        assert ledger.prime_senders(raws) == 0
        assert batches == [3, 1]
    finally:
        ledger.close()


@pytest.mark.skipif(not revm_engine.available(), reason="revm extension not built")
def test_check_tx_requests_read_together_are_recovered_together(tmp_path: Path) -> None:
    """Transactions from peers reach CheckTx unprimed: the ABCI server hands the ledger
    those one read brought in one batch (senders recovered with the GIL released), and no
    CheckTx then recovers its own."""
    ledger = new_ledger(tmp_path)
    try:
        singles: list[bytes] = []
        parse = ledger.senders.parse
        assert parse is not None

        def counting(raw: bytes) -> Any:
            singles.append(raw)
            return parse(raw)

        ledger.senders.parse = counting
        app = ConsortiumApp(ledger)
        raws = [sign(ALICE, nonce=i, to=BOB.address, value=1, gas=21_000) for i in range(6)]
        requests = [Request(check_tx=types_pb2.RequestCheckTx(tx=raw, type=types_pb2.NEW))
                    for raw in raws]
        requests.insert(3, Request(check_tx=types_pb2.RequestCheckTx(tx=b"\x02\xc0")))

        answers = serve_once(app, tmp_path / "abci.sock", requests)
        codes = [a.check_tx.code for a in answers]
        assert codes[:3] == [0, 0, 0] and codes[4:] == [0, 0, 0]
        assert codes[3] != 0  # the garbage is refused by its own CheckTx
        assert singles == [b"\x02\xc0"]  # only what the batch could not decode
        assert all(ledger.senders.get(raw) is not None for raw in raws)
    finally:
        ledger.close()


@pytest.mark.skipif(not revm_engine.available(), reason="revm extension not built")
def test_a_block_of_unseen_transactions_is_recovered_in_one_batch(tmp_path: Path) -> None:
    """Another validator's transactions this node's CheckTx never saw, or a block replayed:
    FinalizeBlock recovers them together, then executes them as one by one would."""
    ledger = new_ledger(tmp_path)
    try:
        singles: list[bytes] = []
        parse = ledger.senders.parse
        assert parse is not None
        ledger.senders.parse = lambda raw: singles.append(raw) or parse(raw)
        raws = [sign(ALICE, nonce=i, to=BOB.address, value=1, gas=21_000) for i in range(5)]
        out = run_block(ledger, [*raws, b"\x02\xc0"])
        assert [r.code for r in out.tx_results[:5]] == [0] * 5
        assert out.tx_results[5].code != 0  # refused by its own decoding, with its reason
        assert singles == [b"\x02\xc0"]
    finally:
        ledger.close()


def test_a_block_executes_when_recovering_ahead_fails(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path)
    try:
        def broken(raws: list[bytes]) -> list[Any]:
            raise RuntimeError("no memory for the batch")

        ledger.senders.parse_many = broken
        raws = [sign(ALICE, nonce=i, to=BOB.address, value=1, gas=21_000) for i in range(3)]
        out = run_block(ledger, raws)
        assert [r.code for r in out.tx_results] == [0, 0, 0]
    finally:
        ledger.close()


@pytest.mark.skipif(not revm_engine.available(), reason="revm extension not built")
def test_senders_the_api_process_recovered_are_taken_not_recovered_again(
        tmp_path: Path) -> None:
    """The node's API in a process of its own tells the node each sender it recovered
    (`SenderCache.know`): priming and CheckTx take it as it is — a sender told wrongly would
    be taken too, which is why only the node's own process may tell them — and use each
    once; what was not told is recovered."""
    ledger = new_ledger(tmp_path)
    try:
        alice, bob = (bytes.fromhex(a.address[2:]) for a in (ALICE, BOB))
        raws = [sign(ALICE, nonce=i, to=BOB.address, value=1, gas=21_000) for i in range(4)]
        told = sign(ALICE, nonce=4, to=BOB.address, gas=21_000)
        cache = ledger.senders
        cache.know([(raws[0], alice), (raws[1], bob), (told, bob), (raws[2], b"short")])
        assert ledger.prime_senders(raws) == 4 and cache.given == 2
        senders = [cache.get(raw).sender for raw in raws]  # type: ignore[union-attr]
        assert senders == [alice, bob, alice, alice]  # told, told (taken as told), recovered
        # CheckTx decoding one on its own takes a told sender too, once
        assert ledger.check_tx(told).code != 0  # as BOB: nonce 4 is not BOB's next
        assert cache.given == 3 and cache.get(told).sender == bob  # type: ignore[union-attr]
        cache.pop(told)
        assert ledger.check_tx(told).code != 0  # ALICE's nonce 4 before her 0..3 committed
        assert cache.get(told).sender == alice  # type: ignore[union-attr]
        assert cache.given == 3
    finally:
        ledger.close()
