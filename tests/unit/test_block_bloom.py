"""A block's log bloom (`executor.block_bloom`) is eth_bloom's, bit for bit: computed in Rust,
and in Python where the extension is not installed."""

from __future__ import annotations

import random

import pytest
from eth_bloom import BloomFilter

from consortium.evm import revm_engine
from consortium.ledger import executor
from consortium.ledger.executor import block_bloom


@pytest.mark.parametrize("native", [True, False], ids=["rust", "python"])
def test_block_bloom_matches_eth_bloom(native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if native and not revm_engine.available():
        pytest.skip(revm_engine.UNAVAILABLE)
    if not native:
        monkeypatch.setattr(executor, "log_bloom", lambda items: None)
    rng = random.Random(23)
    for count in (0, 1, 2, 50, 1_000):
        items = {rng.randbytes(rng.choice((20, 32))) for _ in range(count)}
        expected = BloomFilter()
        for item in items:
            expected.add(item)
        assert block_bloom(items) == int(expected).to_bytes(256, "big")
    assert block_bloom(()) == bytes(256)
    assert block_bloom([b"", b"\x00" * 20]) == int(BloomFilter.from_iterable(
        [b"", b"\x00" * 20])).to_bytes(256, "big")
