"""The private channels' cryptography, on the client only (the contract never sees a key):
a channel key is 32 random bytes, wrapped for each member with ECIES over its secp256k1
account key (`eciespy`); content is sealed under it with AES-256-GCM bound to its channel,
epoch and purpose, so a ciphertext cannot be replayed elsewhere."""

from __future__ import annotations

import secrets

import ecies
from Crypto.Cipher import AES
from eth_keys.datatypes import PrivateKey

from consortium.errors import ConsortiumError

KEY_BYTES = 32
NONCE_BYTES = 12
TAG_BYTES = 16
SEAL_OVERHEAD = NONCE_BYTES + TAG_BYTES


class SealError(ConsortiumError):
    """Not opened with the key given: made for someone else, another channel or epoch, or
    altered."""


def new_channel_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def public_key_of(private_key: bytes) -> bytes:
    """An account's 64-byte public key (what the Forum contract registers)."""
    return PrivateKey(bytes(private_key)).public_key.to_bytes()


def wrap_key(channel_key: bytes, public_key: bytes) -> bytes:
    """The channel key encrypted for one member (ECIES, secp256k1)."""
    return bytes(ecies.encrypt(bytes(public_key), channel_key))


def unwrap_key(wrapped: bytes, private_key: bytes) -> bytes:
    try:
        key = bytes(ecies.decrypt(bytes(private_key), bytes(wrapped)))
    except (ValueError, TypeError) as exc:
        raise SealError(f"this account's key does not open the wrapped channel key ({exc})") \
            from None
    if len(key) != KEY_BYTES:
        raise SealError("the wrapped channel key is not a 32-byte key")
    return key


def context(channel: str, epoch: int, purpose: str) -> bytes:
    """What a sealed content is bound to (AES-GCM associated data)."""
    return "\x1f".join(("consortium-forum-v1", channel, str(epoch), purpose)).encode()


def seal(channel_key: bytes, plaintext: bytes, bound_to: bytes) -> bytes:
    """nonce ‖ ciphertext ‖ tag."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    cipher = AES.new(channel_key, AES.MODE_GCM, nonce=nonce)
    cipher.update(bound_to)
    body, tag = cipher.encrypt_and_digest(plaintext)
    return nonce + body + tag


def open_sealed(channel_key: bytes, sealed: bytes, bound_to: bytes) -> bytes:
    if len(sealed) < SEAL_OVERHEAD:
        raise SealError("the sealed content is too short")
    nonce, body, tag = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:-TAG_BYTES], sealed[-TAG_BYTES:]
    cipher = AES.new(channel_key, AES.MODE_GCM, nonce=nonce)
    cipher.update(bound_to)
    try:
        return bytes(cipher.decrypt_and_verify(body, tag))
    except ValueError:
        raise SealError("the content does not open with this channel key (wrong key, channel "
                        "or epoch, or altered)") from None

