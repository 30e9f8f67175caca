"""Key distribution and sealing shared by the forum's channels and the privacy groups: a key
is 32 random bytes, wrapped for each holder with ECIES over its secp256k1 public key
(`eciespy`); content is sealed under it with AES-256-GCM bound to what it belongs to (the
associated data), so a ciphertext cannot be replayed elsewhere. Nothing here runs on chain:
contracts only store wrapped keys and ciphertext."""

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
    """Not opened with the key given: made for someone else, another channel, group or
    epoch, or altered."""


def new_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def public_key_of(private_key: bytes) -> bytes:
    """A secp256k1 key's 64-byte public key (uncompressed, no prefix)."""
    return PrivateKey(bytes(private_key)).public_key.to_bytes()


def wrap_key(key: bytes, public_key: bytes) -> bytes:
    """`key` encrypted for the holder of `public_key` (ECIES, secp256k1)."""
    return bytes(ecies.encrypt(bytes(public_key), bytes(key)))


def unwrap_key(wrapped: bytes, private_key: bytes, size: int | None = KEY_BYTES) -> bytes:
    """The key inside `wrapped`; `size=None` accepts any length (a history of keys)."""
    try:
        key = bytes(ecies.decrypt(bytes(private_key), bytes(wrapped)))
    except (ValueError, TypeError) as exc:
        raise SealError(f"this key does not open the wrapped key ({exc})") from None
    if size is not None and len(key) != size:
        raise SealError(f"the wrapped key is not a {size}-byte key")
    return key


def seal(key: bytes, plaintext: bytes, bound_to: bytes) -> bytes:
    """nonce ‖ ciphertext ‖ tag."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    cipher.update(bound_to)
    body, tag = cipher.encrypt_and_digest(plaintext)
    return nonce + body + tag


def open_sealed(key: bytes, sealed: bytes, bound_to: bytes) -> bytes:
    if len(sealed) < SEAL_OVERHEAD:
        raise SealError("the sealed content is too short")
    nonce, body, tag = sealed[:NONCE_BYTES], sealed[NONCE_BYTES:-TAG_BYTES], sealed[-TAG_BYTES:]
    cipher = AES.new(key, AES.MODE_GCM, nonce=nonce)
    cipher.update(bound_to)
    try:
        return bytes(cipher.decrypt_and_verify(body, tag))
    except ValueError:
        raise SealError("the content does not open with this key (wrong key, channel, group "
                        "or epoch, or altered)") from None
