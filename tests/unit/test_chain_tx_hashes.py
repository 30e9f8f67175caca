"""`ChainReader.tx_hashes_in` and `tx_positions` (the API's batched reads) agree with the
blocks as stored."""

from __future__ import annotations

from pathlib import Path

from eth_hash.auto import keccak

from tests.support.ledger_testkit import ALICE, BOB, CAROL, new_ledger, run_block, sign


def test_tx_hashes_in_and_positions_match_the_blocks(tmp_path: Path) -> None:
    ledger = new_ledger(tmp_path / "l")
    try:
        blocks = [[sign(ALICE, nonce=i, to=BOB.address, gas=21_000) for i in range(3)],
                  [],
                  [sign(CAROL, nonce=0, to=BOB.address, gas=21_000)],
                  [sign(ALICE, nonce=3, to=CAROL.address, gas=21_000)]]
        for txs in blocks:
            run_block(ledger, txs)
        chain, last = ledger.chain, ledger.latest_height()
        for first in range(1, last + 2):
            for end in range(first, last + 3):
                expected = {h for n in range(first, end + 1)
                            if (b := chain.block(n)) is not None for h in b.tx_hashes}
                assert chain.tx_hashes_in(first, end) == expected
        hashes = [keccak(raw) for txs in blocks for raw in txs] + [b"\x00" * 32]
        positions = chain.tx_positions(hashes)
        assert positions[-1] is None
        assert positions[:-1] == [chain.tx_position(h) for h in hashes[:-1]]
        assert [p[0] for p in positions[:3]] == [positions[0][0]] * 3  # one block
        assert len({p for p in positions[:-1]}) == 5
    finally:
        ledger.close()
