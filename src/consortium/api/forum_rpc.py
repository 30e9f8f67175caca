"""The forum's JSON-RPC methods, read straight from the Forum contract (eth_call on the
ledger), in the shapes of `consortium.apps.forum.reader`. Private posts and documents answer
their ciphertext only: decrypting is the member's client's business, with its own key.

    consortium_forumChannels()                 every live channel
    consortium_forumChannel(name)              one channel, or null
    consortium_forumPosts(channel[, {"threads": true}])   its posts (or thread openers)
    consortium_forumPost(id)                   one post, or null
    consortium_forumThread(id)                 a thread: its opening post and replies
    consortium_forumPinned(channel)            the channel's pinned announcements
    consortium_forumMinutes(proposal)          the minutes that link a proposal
    consortium_forumEpoch(channel, n)          a key epoch: members and wrapped keys
    consortium_forumDocuments([{"channel", "post"}])   document records
    consortium_forumDocument(id)               one document record, or null
    consortium_forumKey(account)               an account's registered public key, or null
    consortium_forumRules()                    {"forum.max_attachment_bytes": n}
"""

from __future__ import annotations

from typing import Any

from consortium.api.apps_rpc import apps_rpc
from consortium.api.encoding import Params
from consortium.api.rpc_error import InvalidParams
from consortium.api.service_reads import account, ledger_call, object_id
from consortium.apps.forum.reader import ForumReader
from consortium.ledger.types import LedgerReader

MAX_CHANNEL = 256  # bytes of a channel name in a request
NO_OPTIONS: dict[str, bool] = {}
NO_FILTER: dict[str, Any] = {}


def forum_reader(ledger: LedgerReader) -> ForumReader:
    return ForumReader(ledger_call(ledger))


def channel_name(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.encode()) > MAX_CHANNEL:
        raise InvalidParams(f"{where}: expected a channel name")
    return value


def epoch_number(value: Any, where: str) -> int:
    return object_id(value, where)


def posts_options(value: Any, where: str) -> dict[str, bool]:
    if not isinstance(value, dict) or set(value) - {"threads"}:
        raise InvalidParams(f'{where}: expected {{"threads": true|false}}')
    threads = value.get("threads", False)
    if not isinstance(threads, bool):
        raise InvalidParams(f"{where}.threads: expected true or false")
    return {"threads_only": threads}


def document_filter(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict) or set(value) - {"channel", "post"}:
        raise InvalidParams(f'{where}: expected a filter object (channel, post)')
    out: dict[str, Any] = {}
    if value.get("channel") is not None:
        out["channel"] = channel_name(value["channel"], f"{where}.channel")
    if value.get("post") is not None:
        out["post"] = object_id(value["post"], f"{where}.post")
    return out


def public_key(ledger: LedgerReader, address: str) -> str | None:
    key = forum_reader(ledger).key_of(address)
    return "0x" + key.hex() if key else None


class ForumMethods:
    """The forum's handlers (mixed into `JsonRpc`, which sets `ledger`)."""

    ledger: LedgerReader

    @apps_rpc("consortium_forumChannels")
    def consortium_forum_channels(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(0)
        return forum_reader(self.ledger).channels()

    @apps_rpc("consortium_forumChannel")
    def consortium_forum_channel(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return forum_reader(self.ledger).channel(p.required(0, channel_name))

    @apps_rpc("consortium_forumPosts")
    def consortium_forum_posts(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(2)
        return forum_reader(self.ledger).posts(p.required(0, channel_name),
                                               **p.optional(1, posts_options, NO_OPTIONS))

    @apps_rpc("consortium_forumPost")
    def consortium_forum_post(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return forum_reader(self.ledger).post(p.required(0, object_id))

    @apps_rpc("consortium_forumThread")
    def consortium_forum_thread(self, p: Params) -> list[dict[str, Any]] | None:
        p.at_most(1)
        return forum_reader(self.ledger).thread(p.required(0, object_id))

    @apps_rpc("consortium_forumPinned")
    def consortium_forum_pinned(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return forum_reader(self.ledger).pinned(p.required(0, channel_name))

    @apps_rpc("consortium_forumMinutes")
    def consortium_forum_minutes(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return forum_reader(self.ledger).minutes_of(p.required(0, object_id))

    @apps_rpc("consortium_forumEpoch")
    def consortium_forum_epoch(self, p: Params) -> dict[str, Any] | None:
        p.at_most(2)
        return forum_reader(self.ledger).epoch(p.required(0, channel_name),
                                               p.required(1, epoch_number))

    @apps_rpc("consortium_forumDocuments")
    def consortium_forum_documents(self, p: Params) -> list[dict[str, Any]]:
        p.at_most(1)
        return forum_reader(self.ledger).documents(**p.optional(0, document_filter, NO_FILTER))

    @apps_rpc("consortium_forumDocument")
    def consortium_forum_document(self, p: Params) -> dict[str, Any] | None:
        p.at_most(1)
        return forum_reader(self.ledger).document(p.required(0, object_id))

    @apps_rpc("consortium_forumKey")
    def consortium_forum_key(self, p: Params) -> str | None:
        p.at_most(1)
        return public_key(self.ledger, p.required(0, account))

    @apps_rpc("consortium_forumRules")
    def consortium_forum_rules(self, p: Params) -> dict[str, int]:
        p.at_most(0)
        return forum_reader(self.ledger).rules()
