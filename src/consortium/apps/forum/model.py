"""The vocabulary of the consortium forum, shared by the contract, the typed client, the API
and the CLI: the contract's address, channel names, post kinds, the forum's rule and limits.

Channels: `consortium` is the consortium-wide channel (plaintext, every active member account
posts); every task force of Governance has a channel named like it, private to its members
(posts and documents encrypted under a channel key that rotates when membership changes).
"""

from __future__ import annotations

from consortium.evm.native import native_address

FORUM_ADDRESS = native_address(0x2005)

CONSORTIUM_CHANNEL = "consortium"  # the consortium-wide channel; task forces use their names

# Post kinds, stored as index + 1. A thread opens with a post or minutes; replies answer it.
POST_KINDS = ("post", "reply", "minutes")

# The forum's rule, changed by vote (an app-call proposal of `setMaxAttachmentBytes`).
MAX_ATTACHMENT_RULE = "forum.max_attachment_bytes"
DEFAULT_MAX_ATTACHMENT = 64 * 1024  # bytes of a blob kept on chain (as stored: ciphertext)
# A transaction is at most 128 KiB (ledger.transactions.MAX_TX_BYTES): a rule above this
# ceiling could never be used, so the contract refuses it.
MAX_ATTACHMENT_CEILING = 96 * 1024

MAX_CONTENT = 32 * 1024  # bytes of a post's content (plaintext JSON or its ciphertext)
MAX_META = 4 * 1024  # bytes of a document's metadata (name, type, where it is kept…)
MAX_WRAPPED_KEY = 512  # bytes of one ECIES-wrapped channel key (129 in practice)
PUBLIC_KEY_BYTES = 64  # an uncompressed secp256k1 public key without its 0x04 prefix
MAX_LINKS = 32  # proposals one set of minutes links
MAX_BATCH_READ = 500  # posts or documents read in one call
MAX_BLOB_FILE = 64 * 1024 * 1024  # bytes a node keeps for one anchored document

__all__ = [
    "CONSORTIUM_CHANNEL",
    "DEFAULT_MAX_ATTACHMENT",
    "FORUM_ADDRESS",
    "MAX_ATTACHMENT_CEILING",
    "MAX_ATTACHMENT_RULE",
    "MAX_BATCH_READ",
    "MAX_BLOB_FILE",
    "MAX_CONTENT",
    "MAX_LINKS",
    "MAX_META",
    "MAX_WRAPPED_KEY",
    "POST_KINDS",
    "PUBLIC_KEY_BYTES",
]
