"""The consortium forum: the Forum native contract at 0x…2005 — the consortium-wide channel,
one private channel per task force (posts and documents encrypted under a rotating channel
key wrapped for each member with ECIES), threads, pinned announcements, minutes linked to
proposals, content-addressed documents — and a typed client with a local full-text search.

    from consortium.apps.forum import ForumClient

    forum = ForumClient("http://127.0.0.1:8545")
    forum.post(bank_a, "consortium", "Quarterly meeting on 3 March", title="Meeting")
    forum.post(bank_a, "Risk", "Draft stress scenarios attached")     # encrypted
    forum.read(bank_b, "Risk")                                         # decrypted for Bank B
"""

from __future__ import annotations

from typing import Any

from consortium.apps.forum.contract import Forum
from consortium.apps.forum.model import (
    CONSORTIUM_CHANNEL,
    DEFAULT_MAX_ATTACHMENT,
    FORUM_ADDRESS,
    MAX_ATTACHMENT_RULE,
)

__all__ = [
    "CONSORTIUM_CHANNEL",
    "DEFAULT_MAX_ATTACHMENT",
    "FORUM_ADDRESS",
    "MAX_ATTACHMENT_RULE",
    "BlobMismatch",
    "Forum",
    "ForumClient",
    "ForumIndex",
    "ForumReader",
]


def __getattr__(name: str) -> Any:
    # The client side (web3, ECIES, SQLite) loads only when asked for: the ledger imports the
    # contract alone.
    if name == "ForumClient":
        from consortium.apps.forum.client import ForumClient

        return ForumClient
    if name == "ForumReader":
        from consortium.apps.forum.reader import ForumReader

        return ForumReader
    if name == "ForumIndex":
        from consortium.apps.forum.search import ForumIndex

        return ForumIndex
    if name == "BlobMismatch":
        from consortium.apps.forum.blobs import BlobMismatch

        return BlobMismatch
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
