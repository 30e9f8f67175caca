"""The private channels' cryptography, on the client only: the system's primitives
(`consortium.system.sealing`) under the forum's names, and what a sealed content is bound to."""

from __future__ import annotations

from consortium.system.sealing import (
    SealError,
    open_sealed,
    public_key_of,
    seal,
    unwrap_key,
    wrap_key,
)
from consortium.system.sealing import new_key as new_channel_key

__all__ = ["SealError", "context", "new_channel_key", "open_sealed", "public_key_of", "seal",
           "unwrap_key", "wrap_key"]


def context(channel: str, epoch: int, purpose: str) -> bytes:
    """What a sealed content is bound to (AES-GCM associated data)."""
    return "\x1f".join(("consortium-forum-v1", channel, str(epoch), purpose)).encode()
