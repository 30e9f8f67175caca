"""Reads of the Forum contract as plain JSON-ready dicts, over any way of making an eth_call:
the typed client, the node's API (`consortium_forum*` JSON-RPC and REST, straight on the
ledger) and the CLI tables answer the same shapes. Nothing here decrypts: a private post
reads as its ciphertext (`consortium.apps.forum.client` opens what a member may read).

    channel   {"name": "Risk", "private": true, "epoch": 3, "posts": 12, "threads": 4,
               "documents": 2, "members": ["0x…", …]}
    post      {"id": 7, "channel": "Risk", "author": "0x…", "kind": "post", "parent": null,
               "epoch": 3, "encrypted": true, "content": "0x…" (private) or "title"/"body"
               (plaintext), "height": 41, "pinned": false, "replies": 2, "documents": 1,
               "proposals": [4]}
    epoch     {"channel": "Risk", "epoch": 3, "members": ["0x…"], "height": 40,
               "rotatedBy": "0x…", "digest": "0x…", "wrappedKeys": {"0x…": "0x…"}}
    document  {"id": 2, "channel": "Risk", "post": 7, "author": "0x…", "epoch": 3,
               "sha256": "0x…", "size": 5120, "onChain": true, "meta": {…} (plaintext) or
               "sealedMeta": "0x…", "height": 42}
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from consortium.apps.forum.contract import Forum
from consortium.apps.forum.envelope import parse_meta, parse_post
from consortium.apps.forum.model import FORUM_ADDRESS, MAX_ATTACHMENT_RULE, MAX_BATCH_READ
from consortium.apps.service import hex_of
from consortium.evm.native import NativeCalls

# (to, calldata) -> return data; raises the caller's error when the call reverts
Call = Callable[[bytes, bytes], bytes]

CALLS = NativeCalls(Forum)
HISTORY_EVENTS = {"post": Forum.PostTransition, "document": Forum.DocumentTransition,
                  "epoch": Forum.EpochTransition}


def channel_json(t: Any) -> dict[str, Any]:
    name, private, epoch, posts, threads, documents, members = t
    return {"name": name, "private": private, "epoch": epoch, "posts": posts,
            "threads": threads, "documents": documents, "members": [hex_of(m) for m in members]}


def post_json(t: Any) -> dict[str, Any]:
    (pid, channel, author, kind, parent, epoch, content, height, pinned, replies, documents,
     proposals) = t
    out: dict[str, Any] = {"id": pid, "channel": channel, "author": hex_of(author),
                           "kind": kind, "parent": parent or None, "epoch": epoch,
                           "encrypted": epoch > 0}
    if epoch:
        out["content"] = hex_of(bytes(content))
    else:
        out.update(parse_post(bytes(content)))
    out.update({"height": height, "pinned": pinned, "replies": replies,
                "documents": documents, "proposals": list(proposals)})
    return out


def document_json(t: Any) -> dict[str, Any]:
    did, channel, post, author, epoch, sha, size, on_chain, meta, height = t
    out: dict[str, Any] = {"id": did, "channel": channel, "post": post or None,
                           "author": hex_of(author), "epoch": epoch, "sha256": hex_of(sha),
                           "size": size, "onChain": on_chain}
    if epoch:
        out["sealedMeta"] = hex_of(bytes(meta))
    else:
        out["meta"] = parse_meta(bytes(meta))
    out["height"] = height
    return out


class ForumReader:
    """Typed reads of the Forum contract through `call`."""

    def __init__(self, call: Call) -> None:
        self._call = call

    def _read(self, name: str, *args: Any) -> Any:
        return CALLS.decode(name, self._call(FORUM_ADDRESS, CALLS.encode(name, *args)))

    def _batched(self, name: str, ids: list[int]) -> list[Any]:
        out: list[Any] = []
        for start in range(0, len(ids), MAX_BATCH_READ):
            out += list(self._read(name, ids[start:start + MAX_BATCH_READ]))
        return out

    # --- channels and keys ---------------------------------------------------------------------

    def channels(self) -> list[dict[str, Any]]:
        return [channel_json(t) for t in self._read("channels")]

    def channel(self, name: str) -> dict[str, Any] | None:
        """A live channel, or a dissolved task force's that has posts; None otherwise."""
        for found in self.channels():
            if found["name"] == name:
                return found
        if not self._read("channelPosts", name):
            return None
        return channel_json(self._read("channel", name))

    def epoch(self, channel: str, number: int) -> dict[str, Any] | None:
        found = self.channel(channel)
        if found is None or not 1 <= number <= found["epoch"]:
            return None
        number, members, height, by, digest = self._read("epoch", channel, number)
        members = [hex_of(m) for m in members]
        return {"channel": channel, "epoch": number, "members": members, "height": height,
                "rotatedBy": hex_of(by), "digest": hex_of(digest),
                "wrappedKeys": {m: hex_of(self.wrapped_key(channel, number, m))
                                for m in members}}

    def epoch_members(self, channel: str, number: int) -> list[str]:
        """The members an existing epoch was wrapped for (one call, no keys)."""
        return [hex_of(m) for m in self._read("epoch", channel, number)[1]]

    def wrapped_key(self, channel: str, epoch: int, account: str) -> bytes:
        return bytes(self._read("wrappedKey", channel, epoch, account.lower()))

    def key_of(self, account: str) -> bytes:
        return bytes(self._read("keyOf", account.lower()))

    def public_key(self, account: str) -> str | None:
        """An account's registered public key (0x hex), or None."""
        key = self.key_of(account)
        return "0x" + key.hex() if key else None

    def rules(self) -> dict[str, int]:
        return {MAX_ATTACHMENT_RULE: int(self._read("maxAttachmentBytes"))}

    def max_attachment(self) -> int:
        return int(self._read("maxAttachmentBytes"))

    # --- posts ---------------------------------------------------------------------------------

    def post_count(self) -> int:
        return int(self._read("postCount"))

    def post(self, post_id: int) -> dict[str, Any] | None:
        if not 1 <= post_id <= self.post_count():
            return None
        return post_json(self._read("getPost", post_id))

    def posts_by_id(self, ids: list[int]) -> list[dict[str, Any]]:
        return [post_json(t) for t in self._batched("postsOf", ids)]

    def posts(self, channel: str, *, threads_only: bool = False) -> list[dict[str, Any]]:
        """A channel's posts (or only its thread openers), oldest first."""
        ids = list(self._read("threads" if threads_only else "channelPosts", channel))
        return self.posts_by_id(ids)

    def posts_since(self, after: int) -> list[dict[str, Any]]:
        """Every post with an id above `after`, in every channel, oldest first."""
        return self.posts_by_id(list(range(after + 1, self.post_count() + 1)))

    def thread(self, post_id: int) -> list[dict[str, Any]] | None:
        """A thread: its opening post, then its replies (given any post of it)."""
        first = self.post(post_id)
        if first is None:
            return None
        root = first if first["parent"] is None else self.post(int(first["parent"]))
        assert root is not None
        return [root, *self.posts_by_id(list(self._read("replies", root["id"])))]

    def pinned(self, channel: str) -> list[dict[str, Any]]:
        return self.posts_by_id(list(self._read("pinned", channel)))

    def minutes_of(self, proposal: int) -> list[dict[str, Any]]:
        return self.posts_by_id(list(self._read("minutesOf", proposal)))

    # --- documents -----------------------------------------------------------------------------

    def document(self, document_id: int) -> dict[str, Any] | None:
        if not 1 <= document_id <= int(self._read("documentCount")):
            return None
        return document_json(self._read("document", document_id))

    def documents(self, channel: str | None = None,
                  post: int | None = None) -> list[dict[str, Any]]:
        if post is not None:
            ids = list(self._read("postDocuments", post))
        elif channel is not None:
            ids = list(self._read("channelDocuments", channel))
        else:
            ids = list(range(1, int(self._read("documentCount")) + 1))
        return [document_json(t) for t in self._batched("documentsOf", ids)]

    def document_by_hash(self, sha256: bytes) -> int:
        return int(self._read("documentByHash", sha256))

    def blob(self, sha256: bytes) -> bytes | None:
        """A document kept on chain, by its SHA-256 (None if none is)."""
        if not self._read("hasBlob", sha256):
            return None
        return bytes(self._read("blob", sha256))


__all__ = ["CALLS", "HISTORY_EVENTS", "ForumReader", "channel_json", "document_json",
           "post_json"]
