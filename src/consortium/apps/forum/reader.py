"""Reads of the Forum contract as JSON-ready dicts, the same for the client, the API and the
CLI. Nothing here decrypts: private posts and document metadata read as 0x ciphertext."""

from __future__ import annotations

from functools import partialmethod
from typing import Any

from consortium.apps.forum.contract import Forum
from consortium.apps.forum.envelope import parse_meta, parse_post
from consortium.apps.forum.model import FORUM_ADDRESS, MAX_ATTACHMENT_RULE, MAX_BATCH_READ
from consortium.apps.forum.state import Channel, Document, KeyEpoch, Post
from consortium.apps.service import ServiceReader, one
from consortium.evm.native import NativeCalls
from consortium.evm.records import hex0x

CALLS = NativeCalls(Forum)
HISTORY_EVENTS = {"post": Forum.PostTransition, "document": Forum.DocumentTransition,
                  "epoch": Forum.EpochTransition}


def post_json(t: Any) -> dict[str, Any]:
    """A post; "encrypted" after its epoch, then its 0x ciphertext or its title and body."""
    out = Post.from_abi(t).to_json()
    content = out.pop("content")
    head = {k: out.pop(k) for k in ("id", "channel", "author", "kind", "parent", "epoch")}
    opened = {"content": content} if head["epoch"] else parse_post(bytes.fromhex(content[2:]))
    return head | {"encrypted": head["epoch"] > 0} | opened | out


def document_json(t: Any) -> dict[str, Any]:
    out = Document.from_abi(t).to_json()
    height, meta = out.pop("height"), out.pop("meta")
    opened = {"sealedMeta": meta} if out["epoch"] else {"meta": parse_meta(bytes.fromhex(meta[2:]))}
    return out | opened | {"height": height}


class ForumReader(ServiceReader):
    """Typed reads of the Forum contract (batches of the forum's own MAX_BATCH_READ: its
    posts are up to 32 KiB each)."""

    address, calls, histories = FORUM_ADDRESS, CALLS, HISTORY_EVENTS
    batch_limit = MAX_BATCH_READ

    def channels(self) -> list[dict[str, Any]]:
        return [Channel.from_abi(t).to_json() for t in self._read("channels")]

    def channel(self, name: str) -> dict[str, Any] | None:
        """A live channel, or a dissolved task force's that has posts; None otherwise."""
        for found in self.channels():
            if found["name"] == name:
                return found
        if not self._read("channelPosts", name):
            return None
        return Channel.from_abi(self._read("channel", name)).to_json()

    def epoch(self, channel: str, number: int) -> dict[str, Any] | None:
        found = self.channel(channel)
        if found is None or not 1 <= number <= found["epoch"]:
            return None
        out = KeyEpoch.from_abi(self._read("epoch", channel, number)).to_json()
        return {"channel": channel} | out | {"wrappedKeys": {
            m: hex0x(self.wrapped_key(channel, number, m)) for m in out["members"]}}

    def epoch_members(self, channel: str, number: int) -> list[str]:
        """The members an existing epoch was wrapped for (one call, no keys)."""
        return [hex0x(m) for m in self._read("epoch", channel, number)[1]]

    def wrapped_key(self, channel: str, epoch: int, account: str) -> bytes:
        return bytes(self._read("wrappedKey", channel, epoch, account.lower()))

    def key_of(self, account: str) -> bytes:
        return bytes(self._read("keyOf", account.lower()))

    def public_key(self, account: str) -> str | None:
        """An account's registered public key (0x hex), or None."""
        key = self.key_of(account)
        return hex0x(key) if key else None

    def max_attachment(self) -> int:
        return int(self._read("maxAttachmentBytes"))

    def rules(self) -> dict[str, int]:
        return {MAX_ATTACHMENT_RULE: self.max_attachment()}

    def post_count(self) -> int:
        return int(self._read("postCount"))

    post, document = one("getPost", post_json, "postCount"), one("document", document_json)

    def posts_by_id(self, ids: list[int]) -> list[dict[str, Any]]:
        return self._many("postsOf", ids, post_json)

    def _listed(self, name: str, key: int | str) -> list[dict[str, Any]]:
        """The posts an id list of the contract names (`pinned(channel)`, say)."""
        return self.posts_by_id(list(self._read(name, key)))

    pinned, minutes_of = partialmethod(_listed, "pinned"), partialmethod(_listed, "minutesOf")

    def posts(self, channel: str, *, threads_only: bool = False) -> list[dict[str, Any]]:
        """A channel's posts (or only its thread openers), oldest first."""
        return self._listed("threads" if threads_only else "channelPosts", channel)

    def posts_since(self, after: int) -> list[dict[str, Any]]:
        """Every post with an id above `after`, in every channel, oldest first."""
        return self.posts_by_id(list(range(after + 1, self.post_count() + 1)))

    def thread(self, post_id: int) -> list[dict[str, Any]] | None:
        """A thread: its opening post, then its replies (given any post of it)."""
        root = self.post(post_id)
        if root is not None and root["parent"] is not None:
            root = self.post(int(root["parent"]))
        return None if root is None else [root, *self._listed("replies", root["id"])]

    def documents(self, channel: str | None = None,
                  post: int | None = None) -> list[dict[str, Any]]:
        if post is not None:
            ids = list(self._read("postDocuments", post))
        elif channel is not None:
            ids = list(self._read("channelDocuments", channel))
        else:
            ids = list(range(1, int(self._read("documentCount")) + 1))
        return self._many("documentsOf", ids, document_json)

    def document_by_hash(self, sha256: bytes) -> int:
        return int(self._read("documentByHash", sha256))

    def blob(self, sha256: bytes) -> bytes | None:
        """A document kept on chain, by its SHA-256 (None if none is)."""
        if not self._read("hasBlob", sha256):
            return None
        return bytes(self._read("blob", sha256))
