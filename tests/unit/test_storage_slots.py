"""`Storage.at` remembers mapping slots: what it answers must stay Solidity's layout for
every key type, remembered or not, and whatever the cache held before."""

from __future__ import annotations

import pytest
from eth_hash.auto import keccak

from consortium.evm import storage
from consortium.evm.storage import Storage


def solidity_slot(slot: int, word: bytes) -> int:
    return int.from_bytes(keccak(word + slot.to_bytes(32, "big")), "big")


def test_mapping_slots_match_solidity_for_every_key_type() -> None:
    address = bytes(range(20))
    cases = [
        (5, 7, (7).to_bytes(32, "big")),
        (5, -1, (2**256 - 1).to_bytes(32, "big")),
        (5, True, (1).to_bytes(32, "big")),
        (5, address, address.rjust(32, b"\x00")),
        (5, bytearray(address), address.rjust(32, b"\x00")),  # unhashable: not remembered
        (5, b"\x01" * 32, b"\x01" * 32),
        (5, "ISIN", b"ISIN"),
        (5, address.hex(), address.hex().encode()),  # a str is its bytes, never an address
    ]
    for _ in range(2):  # computed, then remembered
        for slot, key, word in cases:
            assert Storage.at(slot, key) == solidity_slot(slot, word), key
    inner = solidity_slot(3, (9).to_bytes(32, "big"))
    assert Storage.at(3, 9, address) == solidity_slot(inner, address.rjust(32, b"\x00"))


def test_a_full_cache_is_emptied_and_answers_stay_the_same(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(storage, "_SLOT_CACHE_MAX", 4)
    storage._slot_cache.clear()
    answers = [Storage.at(1, i) for i in range(10)]
    assert len(storage._slot_cache) <= 4
    assert answers == [solidity_slot(1, i.to_bytes(32, "big")) for i in range(10)]
