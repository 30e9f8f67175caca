"""The forum's surface (`consortium.apps.surface`): its reads, served as the
`consortium_forum*` JSON-RPC methods, the /api/v1/forum REST routes and their OpenAPI paths,
in the shapes of `ForumReader`. Private posts and documents answer their ciphertext only:
decrypting is the member's client's business, with its own key. (The node's store of
document bytes, /api/v1/forum/blobs, is not a read of the contract: api/forum_blobs.py.)"""

from __future__ import annotations

from typing import Any

from consortium.apps.forum.reader import ForumReader
from consortium.apps.surface import ACCOUNT, ID, Call, Kind, Logs, Param, Read, Service

MAX_CHANNEL = 256  # bytes of a channel name in a request


def _channel(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.encode()) > MAX_CHANNEL:
        raise ValueError(value)
    return value


def _flag(value: Any) -> bool:
    """true or false: a JSON boolean, or the text of one (a query key)."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise ValueError(value)


CHANNEL = Kind("channel", _channel, "expected a channel name", {"type": "string"})
FLAG = Kind("flag", _flag, "expected true or false", {"type": "boolean"})


def forum_reader(call: Call, _logs: Logs | None = None) -> ForumReader:
    return ForumReader(call)


NAME = (Param("channel", CHANNEL),)
ONE = (Param("id", ID),)

FORUM = Service(
    name="forum",
    title="Forum",
    reader=forum_reader,
    reads=(
        Read("channels", "Every live channel", rpc="consortium_forumChannels",
             rest="/channels"),
        Read("channel", "One channel", rpc="consortium_forumChannel", rest="/channels/{channel}",
             params=NAME, nullable=True),
        Read("posts", "A channel's posts (ciphertext in private channels)",
             rpc="consortium_forumPosts", rest="/channels/{channel}/posts", params=NAME,
             filters=(Param("threads", FLAG, "only thread openers", arg="threads_only"),)),
        Read("pinned", "Pinned announcements", rpc="consortium_forumPinned",
             rest="/channels/{channel}/pinned", params=NAME, noun="pinned posts"),
        Read("epoch", "A key epoch: its members and wrapped keys", rpc="consortium_forumEpoch",
             rest="/channels/{channel}/epochs/{epoch}", params=(*NAME, Param("epoch", ID)),
             nullable=True, noun="key epoch"),
        Read("post", "One post", rpc="consortium_forumPost", rest="/posts/{id}", params=ONE,
             nullable=True),
        Read("thread", "A thread", rpc="consortium_forumThread", rest="/threads/{id}",
             params=ONE, nullable=True),
        Read("minutes_of", "The minutes linking a proposal", rpc="consortium_forumMinutes",
             rest="/minutes/{proposal}", params=(Param("proposal", ID),), noun="minutes"),
        Read("documents", "Document records", rpc="consortium_forumDocuments",
             rest="/documents", filters=(Param("channel", CHANNEL, "a channel"),
                                         Param("post", ID, "a post id"))),
        Read("document", "One document record", rpc="consortium_forumDocument",
             rest="/documents/{id}", params=ONE, nullable=True),
        Read("public_key", "An account's forum public key", rpc="consortium_forumKey",
             rest="/keys/{account}", params=(Param("account", ACCOUNT),), nullable=True,
             noun="forum key"),
        Read("rules", "The forum's rules", rpc="consortium_forumRules", rest="/rules"),
    ),
)
