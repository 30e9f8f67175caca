"""The private channels' cryptography, on the client only (the contract never sees a key):
a channel key is 32 random bytes, wrapped for each member with ECIES over its secp256k1
account key; content is sealed under it with AES-256-GCM bound to its channel, epoch and
purpose. The primitives are the system's (`consortium.system.sealing`, shared with the
privacy groups); this module keeps the forum's names and its binding."""

from __future__ import annotations

from consortium.system.sealing import (
    KEY_BYTES,
    NONCE_BYTES,
    SEAL_OVERHEAD,
    TAG_BYTES,
    SealError,
    open_sealed,
    public_key_of,
    seal,
    unwrap_key,
    wrap_key,
)
from consortium.system.sealing import new_key as new_channel_key

__all__ = [
    "KEY_BYTES", "NONCE_BYTES", "SEAL_OVERHEAD", "TAG_BYTES", "SealError", "context",
    "new_channel_key", "open_sealed", "public_key_of", "seal", "unwrap_key", "wrap_key",
]


def context(channel: str, epoch: int, purpose: str) -> bytes:
    """What a sealed content is bound to (AES-GCM associated data)."""
    return "\x1f".join(("consortium-forum-v1", channel, str(epoch), purpose)).encode()
