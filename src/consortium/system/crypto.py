"""The Crypto native contract (0x…1003): SM3, SM2 signature checks and keccak-256, for
contracts that verify signatures from Chinese certificate authorities.

SM2 follows GB/T 32918 on the curve sm2p256v1: `sm2Verify` checks a signature over `message`
with the default user id "1234567812345678" (e = SM3(Z_A || message)), `sm2VerifyWithId`
takes the user id, `sm2VerifyDigest` takes e itself. Keys are the uncompressed point (64
bytes x || y, or 65 with 0x04), signatures r || s (64 bytes). A malformed key or signature,
or one that does not verify, answers false; wrong lengths revert with the reason. SM2 is
gmssl's (pure Python, deterministic); SM3 OpenSSL's when available, else gmssl's.
"""

from __future__ import annotations

import hashlib

from eth_hash.auto import keccak
from gmssl import sm2, sm3

from consortium.evm.native import NATIVE_GAS, NativeContract, method, native_address, register
from consortium.evm.native import _words as _words  # calldata words, as the dispatcher counts

CRYPTO_ADDRESS = native_address(0x1003)
DEFAULT_SM2_USER_ID = b"1234567812345678"

_CURVE = sm2.default_ecc_table
_P, _N, _A, _B = (int(_CURVE[name], 16) for name in "pnab")
_CURVE_BYTES = bytes.fromhex(_CURVE["a"] + _CURVE["b"] + _CURVE["g"])


def _openssl_sm3() -> bool:
    try:
        hashlib.new("sm3", b"")
    except ValueError:
        return False
    return True


_HAVE_OPENSSL_SM3 = _openssl_sm3()


def sm3_digest(data: bytes) -> bytes:
    """SM3 (GB/T 32905). OpenSSL's when this Python has it (fast), else gmssl's: the same
    function either way, so nodes may differ in speed, never in result."""
    if _HAVE_OPENSSL_SM3:
        return hashlib.new("sm3", data).digest()
    return gmssl_sm3_digest(data)


def gmssl_sm3_digest(data: bytes) -> bytes:
    return bytes.fromhex(sm3.sm3_hash(list(data)))


def sm2_public_key(public_key: bytes) -> bytes | None:
    """The 64-byte x || y of an uncompressed SM2 public key on the curve, else None."""
    if len(public_key) == 65 and public_key[0] == 4:
        public_key = public_key[1:]
    if len(public_key) != 64:
        return None
    x, y = int.from_bytes(public_key[:32], "big"), int.from_bytes(public_key[32:], "big")
    if x >= _P or y >= _P or (y * y - (x * x * x + _A * x + _B)) % _P != 0:
        return None
    return public_key


def sm2_z(public_key: bytes, user_id: bytes = DEFAULT_SM2_USER_ID) -> bytes:
    """Z_A of GB/T 32918.2: binds the signer's id and key to the hash that is signed."""
    entl = (len(user_id) * 8).to_bytes(2, "big")
    return sm3_digest(entl + user_id + _CURVE_BYTES + public_key)


def sm2_digest(public_key: bytes, message: bytes,
               user_id: bytes = DEFAULT_SM2_USER_ID) -> bytes:
    """e = SM3(Z_A || M): what an SM2 signature over `message` signs."""
    point = sm2_public_key(public_key)
    if point is None:
        raise ValueError("not an SM2 public key")
    return sm3_digest(sm2_z(point, user_id) + message)


def sm2_verify_digest(public_key: bytes, digest: bytes, signature: bytes) -> bool:
    point = sm2_public_key(public_key)
    if point is None or len(signature) != 64 or len(digest) != 32:
        return False
    r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    if not (1 <= r < _N and 1 <= s < _N) or (r + s) % _N == 0:
        return False
    verifier = sm2.CryptSM2(private_key="", public_key="")
    # set the key directly: gmssl's constructor strips "04" with lstrip, which also eats a
    # leading 0 or 4 hex digit of x
    verifier.public_key = point.hex()
    try:
        return bool(verifier.verify(signature.hex(), digest))
    except Exception:
        return False


@register
class Crypto(NativeContract):
    address = CRYPTO_ADDRESS

    @method("sm3(bytes)", returns="bytes32", view=True)
    def sm3(self, data: bytes) -> bytes:
        self.host.charge(NATIVE_GAS["sm3"] + NATIVE_GAS["sm3_word"] * _words(len(data)))
        return sm3_digest(data)

    @method("keccak(bytes)", returns="bytes32", view=True)
    def keccak(self, data: bytes) -> bytes:
        self.host.charge(NATIVE_GAS["keccak"] + NATIVE_GAS["keccak_word"] * _words(len(data)))
        return keccak(data)

    @method("sm2Verify(bytes,bytes,bytes)", returns="bool", view=True)
    def sm2_verify(self, public_key: bytes, message: bytes, signature: bytes) -> bool:
        return bool(self.sm2_verify_with_id(public_key, DEFAULT_SM2_USER_ID, message, signature))

    @method("sm2VerifyWithId(bytes,bytes,bytes,bytes)", returns="bool", view=True)
    def sm2_verify_with_id(self, public_key: bytes, user_id: bytes, message: bytes,
                           signature: bytes) -> bool:
        self._check_lengths(public_key, signature)
        self.require(len(user_id) < 8192, "userId is longer than 8191 bytes")
        hashed = len(user_id) + 130 + 64 + len(message)
        self.host.charge(NATIVE_GAS["sm2_verify"] + NATIVE_GAS["sm3_word"] * _words(hashed))
        point = sm2_public_key(public_key)
        if point is None:
            return False
        return sm2_verify_digest(point, sm3_digest(sm2_z(point, user_id) + message), signature)

    @method("sm2VerifyDigest(bytes,bytes32,bytes)", returns="bool", view=True)
    def sm2_verify_digest(self, public_key: bytes, digest: bytes, signature: bytes) -> bool:
        self._check_lengths(public_key, signature)
        self.host.charge(NATIVE_GAS["sm2_verify"])
        return sm2_verify_digest(public_key, digest, signature)

    def _check_lengths(self, public_key: bytes, signature: bytes) -> None:
        self.require(len(public_key) in (64, 65),
                     "publicKey must be 64 bytes (x || y) or 65 bytes (0x04 || x || y)")
        self.require(len(signature) == 64, "signature must be 64 bytes (r || s)")
