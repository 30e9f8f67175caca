"""Privacy groups (issue 22), the consensus side: the marker payload's sealing and the
Privacy native contract, its Python view and the admission of node accounts."""

from __future__ import annotations

import pytest

from consortium.system.privacy_payload import (
    group_chain_id,
    marker_aad,
    open_batch,
    pack_history,
    seal_batch,
    unpack_history,
)
from consortium.system.sealing import SealError, new_key, public_key_of

GROUP = bytes.fromhex("11" * 32)
OTHER = bytes.fromhex("22" * 32)
NODE_KEY = bytes.fromhex("0a" * 32)


def test_batch_opens_only_for_its_key_group_and_epoch() -> None:
    key = new_key()
    raws = [b"\x02\xf8raw-one", b"raw-two" * 50, b""]
    payload = seal_batch(key, GROUP, 3, raws)
    assert open_batch(key, GROUP, 3, payload) == raws
    assert b"raw-two" not in payload
    for wrong in ((new_key(), GROUP, 3), (key, OTHER, 3), (key, GROUP, 4)):
        with pytest.raises(SealError):
            open_batch(wrong[0], wrong[1], wrong[2], payload)
    altered = payload[:-1] + bytes([payload[-1] ^ 1])
    with pytest.raises(SealError):
        open_batch(key, GROUP, 3, altered)
    assert marker_aad(GROUP, 3) == b"consortium-privacy" + GROUP + b"\x00\x00\x00\x03"


def test_group_chain_id_is_per_chain_and_group_and_fits_31_bits() -> None:
    ids = {group_chain_id(c, g) for c in (1, 2) for g in (GROUP, OTHER)}
    assert len(ids) == 4
    assert all(0 < i < 2**31 for i in ids)
    assert group_chain_id(1, GROUP) == group_chain_id(1, GROUP)


def test_history_key_round_trip_and_refuses_a_foreign_key() -> None:
    keys = [new_key() for _ in range(3)]
    wrapped = pack_history(keys, public_key_of(NODE_KEY))
    assert unpack_history(wrapped, NODE_KEY) == keys
    with pytest.raises(SealError):
        unpack_history(wrapped, bytes.fromhex("0b" * 32))
    with pytest.raises(ValueError):
        pack_history([b"short"], public_key_of(NODE_KEY))
