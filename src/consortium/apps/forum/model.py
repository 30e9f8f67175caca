"""The forum's vocabulary (contract, client, API, CLI): its address, channel names, post
kinds, its rule and limits."""

from __future__ import annotations

from consortium.evm.native import native_address

FORUM_ADDRESS = native_address(0x2005)
CONSORTIUM_CHANNEL = "consortium"
POST_KINDS = ("post", "reply", "minutes")  # stored as index + 1; only ever appended

# The rule, changed by vote (an app-call proposal of `setMaxAttachmentBytes`): bytes of a blob
# kept on chain (as stored: ciphertext). A transaction is at most 128 KiB, so a rule above
# the ceiling could never be used: the contract refuses it.
MAX_ATTACHMENT_RULE = "forum.max_attachment_bytes"
DEFAULT_MAX_ATTACHMENT = 64 * 1024
MAX_ATTACHMENT_CEILING = 96 * 1024

MAX_CONTENT = 32 * 1024  # bytes of a post's content (plaintext JSON or its ciphertext)
MAX_META = 4 * 1024  # bytes of a document's metadata (name, type, where it is kept…)
MAX_WRAPPED_KEY = 512  # bytes of one ECIES-wrapped channel key (129 in practice)
PUBLIC_KEY_BYTES = 64  # an uncompressed secp256k1 public key without its 0x04 prefix
MAX_LINKS = 32  # proposals one set of minutes links
MAX_BATCH_READ = 500  # posts or documents read in one call
MAX_BLOB_FILE = 64 * 1024 * 1024  # bytes a node keeps for one anchored document
