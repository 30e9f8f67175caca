"""A block's log bloom (`executor.block_bloom`) is eth_bloom's, bit for bit."""

from __future__ import annotations

import random

from eth_bloom import BloomFilter

from consortium.ledger.executor import block_bloom


def test_block_bloom_matches_eth_bloom() -> None:
    rng = random.Random(23)
    for count in (0, 1, 2, 50, 1_000):
        items = {rng.randbytes(rng.choice((20, 32))) for _ in range(count)}
        expected = BloomFilter()
        for item in items:
            expected.add(item)
        assert block_bloom(items) == int(expected).to_bytes(256, "big")
    assert block_bloom(()) == bytes(256)
