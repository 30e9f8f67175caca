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


NODE_PROOF_DOMAIN = b"consortium-privacy-node"
KEY_COMMITMENT_DOMAIN = b"consortium-privacy-key"
NODE_PROOF_BYTES = 65  # r ‖ s ‖ v (v 0/1, or 27/28)


def node_proof_digest(chain_id: int, account: bytes) -> bytes:
    """What a node key signs to prove that the member sending `registerNode` from `account`
    holds it: bound to the chain and the account, so a proof is good for nobody else."""
    return keccak(NODE_PROOF_DOMAIN + int(chain_id).to_bytes(8, "big") + bytes(account))


def prove_node(private_key: bytes, chain_id: int, account: bytes) -> bytes:
    """The node key's 65-byte signature r ‖ s ‖ v (v 0/1) over `node_proof_digest`."""
    from eth_keys.datatypes import PrivateKey

    signature = PrivateKey(bytes(private_key)).sign_msg_hash(node_proof_digest(chain_id,
                                                                                account))
    return bytes(signature.to_bytes())


def node_proof_signer(signature: bytes, chain_id: int, account: bytes) -> bytes | None:
    """The 64-byte public key that made `signature` over `node_proof_digest`, or None if it
    is not a valid 65-byte secp256k1 signature (deterministic on every node)."""
    from eth_keys.datatypes import Signature
    from eth_keys.exceptions import BadSignature
    from eth_utils.exceptions import ValidationError

    sig = bytes(signature)
    if len(sig) != NODE_PROOF_BYTES or sig[64] not in (0, 1, 27, 28):
        return None
    try:
        recovered = Signature(sig[:64] + bytes([sig[64] % 27])).recover_public_key_from_msg_hash(
            node_proof_digest(chain_id, account))
    except (BadSignature, ValidationError, ValueError):
        return None
    return bytes(recovered.to_bytes())


def key_commitment(group_id: bytes, epoch: int, key: bytes) -> bytes:
    """The commitment to a group's epoch key kept on chain: every member's node checks the
    key it opens against it, so a founder or proposer cannot give members different keys."""
    return keccak(KEY_COMMITMENT_DOMAIN + bytes(group_id) + int(epoch).to_bytes(4, "big")
                  + bytes(key))
