"""The forum's surface: its reads (ciphertext in private channels: decrypting is the member's
client's business) and plain writes; sealing, key rotation and uploads are the client's."""

from __future__ import annotations

from typing import Any

from consortium.apps import surface as kinds
from consortium.apps.forum.reader import ForumReader
from consortium.apps.surface import Param, Read, Service, Write

MAX_CHANNEL = 256  # bytes of a channel name in a request
CHANNEL_HELP = "'consortium' or a task force's name."


def _channel(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.encode()) > MAX_CHANNEL:
        raise ValueError(value)
    return value


CHANNEL = kinds.Kind("channel", _channel, "expected a channel name", {"type": "string"})


NAME = (Param("channel", CHANNEL),)
ONE = (Param("id", kinds.ID),)

FORUM = Service("forum", "Forum", ForumReader, reads=(
        Read("channels", "Every live channel", rpc="consortium_forumChannels",
             rest="/channels", cli="channels"),
        Read("channel", "One channel", rpc="consortium_forumChannel", rest="/channels/{channel}",
             params=NAME, nullable=True),
        Read("posts", "A channel's posts (ciphertext in private channels)",
             rpc="consortium_forumPosts", rest="/channels/{channel}/posts", params=NAME,
             filters=(Param("threads", kinds.FLAG, "only thread openers", arg="threads_only"),)),
        Read("pinned", "Pinned announcements", rpc="consortium_forumPinned",
             rest="/channels/{channel}/pinned", params=NAME, noun="pinned posts"),
        Read("epoch", "A key epoch: its members and wrapped keys", rpc="consortium_forumEpoch",
             rest="/channels/{channel}/epochs/{epoch}", params=(*NAME, Param("epoch", kinds.ID)),
             nullable=True, noun="key epoch"),
        Read("post", "One post", rpc="consortium_forumPost", rest="/posts/{id}", params=ONE,
             nullable=True),
        Read("thread", "A thread", rpc="consortium_forumThread", rest="/threads/{id}",
             params=ONE, nullable=True),
        Read("minutes_of", "The minutes linking a proposal", rpc="consortium_forumMinutes",
             rest="/minutes/{proposal}", params=(Param("proposal", kinds.ID),), noun="minutes"),
        Read("documents", "Document records", rpc="consortium_forumDocuments",
             rest="/documents", filters=(Param("channel", CHANNEL, "a channel"),
                                         Param("post", kinds.ID, "a post id"))),
        Read("document", "One document record", rpc="consortium_forumDocument",
             rest="/documents/{id}", params=ONE, nullable=True),
        Read("public_key", "An account's forum public key", rpc="consortium_forumKey",
             rest="/keys/{account}", params=(Param("account", kinds.ACCOUNT),), nullable=True,
             noun="forum key"),
        Read("rules", "The forum's rules", rpc="consortium_forumRules", rest="/rules",
             cli="rules"),
    ),
    writes=(
        Write("pin", "pin", "Pin a post as an announcement (officers in office only).", "pin",
              (Param("post_id", kinds.ID, "The post id."),), "pinned"),
        Write("unpin", "unpin", "Unpin an announcement (officers in office only).", "unpin",
              (Param("post_id", kinds.ID, "The post id."),), "unpinned"),
    ),
    # the client's own flows with plain options (it makes the key or proposes the call)
    local_writes=(
        Write("register-key", "registerKey", "Register your account's public key, so channel "
              "keys can be wrapped for you.", "register_key", done="registered key"),
        Write("rotate-key", "rotateKey", "Publish a new channel key for the task force's "
              "current members (writes do this themselves when membership changed).",
              "rotate_key", (Param("channel", CHANNEL, CHANNEL_HELP),), "rotated key"),
        Write("propose-max-attachment", "setMaxAttachmentBytes", "Propose a new "
              "forum.max_attachment_bytes (an app-call proposal; members vote).",
              "propose_max_attachment",
              (Param("value", kinds.AMOUNT, "The new limit in bytes."),), propose=True),
        Write("minutes", "postMinutes", "Post meeting minutes linked to the proposals whose "
              "decisions they record.", "post_minutes",
              (Param("channel", CHANNEL, CHANNEL_HELP),
               Param("text", kinds.TEXT, "The minutes.", positional=True),
               Param("proposal", kinds.ID, "A proposal they record (repeatable).", many=True),
               Param("title", kinds.TEXT, default="Minutes")), "minutes"),
    ),
)
