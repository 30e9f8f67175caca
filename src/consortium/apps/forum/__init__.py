"""The consortium forum: the Forum native contract at 0x…2005 (a consortium-wide channel and
one encrypted channel per task force) and a typed client with a local full-text search:
`ForumClient(url).post(bank_a, "Risk", "Draft stress scenarios attached")`."""

from __future__ import annotations

from consortium.apps.forum.contract import Forum
from consortium.apps.forum.model import (
    CONSORTIUM_CHANNEL,
    DEFAULT_MAX_ATTACHMENT,
    FORUM_ADDRESS,
    MAX_ATTACHMENT_RULE,
)
from consortium.apps.service import lazy_exports

# the client side (web3, ECIES, SQLite) loads when asked for: the ledger needs the contract only
_LAZY = {"ForumClient": "client", "ForumReader": "reader", "ForumIndex": "search",
         "BlobMismatch": "blobs"}
__all__ = ["CONSORTIUM_CHANNEL", "DEFAULT_MAX_ATTACHMENT", "FORUM_ADDRESS",
           "MAX_ATTACHMENT_RULE", "Forum", *_LAZY]
__getattr__ = lazy_exports(__name__, _LAZY)
