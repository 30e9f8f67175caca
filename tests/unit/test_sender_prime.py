"""Priming the sender cache ahead of CheckTx (what a node's API does from a worker thread):
primed transactions are found by CheckTx; bad ones are left for CheckTx to refuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from consortium.evm import revm_engine
from tests.support.ledger_testkit import ALICE, BOB, new_ledger, sign


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
