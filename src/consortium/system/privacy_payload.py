"""What a privacy group's marker carries, off chain on both ends: the private transactions
of one batch (an RLP list of raw signed transactions) sealed under the group's epoch key and
bound to the group and epoch; the chain id private transactions are signed with; the
history of epoch keys a later member receives. The Privacy contract only stores and counts
these bytes."""

from __future__ import annotations

import rlp
from eth_hash.auto import keccak

from consortium.system.sealing import (
    KEY_BYTES,
    SealError,
    open_sealed,
    seal,
    unwrap_key,
    wrap_key,
)

DOMAIN = b"consortium-privacy"


def marker_aad(group_id: bytes, epoch: int) -> bytes:
    """What a marker's payload is bound to: its group and epoch."""
    return DOMAIN + bytes(group_id) + int(epoch).to_bytes(4, "big")


def seal_batch(key: bytes, group_id: bytes, epoch: int, raws: list[bytes]) -> bytes:
    """The raw signed private transactions of one batch, sealed for the group's epoch."""
    return seal(key, rlp.encode([bytes(raw) for raw in raws]), marker_aad(group_id, epoch))


def open_batch(key: bytes, group_id: bytes, epoch: int, payload: bytes) -> list[bytes]:
    """The raw transactions of a marker; SealError if the key, group or epoch is not the one
    it was sealed for, or it is altered or not a list of byte strings."""
    plain = open_sealed(key, payload, marker_aad(group_id, epoch))
    try:
        items = rlp.decode(plain)
    except rlp.exceptions.DecodingError as exc:
        raise SealError(f"the batch is not an RLP list ({exc})") from None
    if not isinstance(items, list) or not all(isinstance(item, bytes) for item in items):
        raise SealError("the batch is not a list of raw transactions")
    return [bytes(item) for item in items]


def group_chain_id(public_chain_id: int, group_id: bytes) -> int:
    """The chain id a group's private transactions are signed with: derived from the public
    chain and the group, so a decrypted private transaction replays nowhere else."""
    digest = keccak(DOMAIN + int(public_chain_id).to_bytes(8, "big") + bytes(group_id))
    return (int.from_bytes(digest[:4], "big") >> 1) or 1


def pack_history(epoch_keys: list[bytes], public_key: bytes) -> bytes:
    """Every earlier epoch key (in epoch order) wrapped for a later member's node key."""
    if any(len(key) != KEY_BYTES for key in epoch_keys):
        raise ValueError(f"an epoch key is not {KEY_BYTES} bytes")
    return wrap_key(b"".join(epoch_keys), public_key)


def unpack_history(wrapped: bytes, private_key: bytes) -> list[bytes]:
    """The epoch keys of a history key, opened with the node's key, epoch 0 first."""
    joined = unwrap_key(wrapped, private_key, size=None)
    if not joined or len(joined) % KEY_BYTES:
        raise SealError(f"the history key is not a whole number of {KEY_BYTES}-byte keys")
    return [joined[i:i + KEY_BYTES] for i in range(0, len(joined), KEY_BYTES)]
