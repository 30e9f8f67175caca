"""`ForumClient`: the forum over a node's API, doing the cryptography the contract cannot
(keys, sealing, opening); documents are checked against their SHA-256 on chain."""

from __future__ import annotations

import hashlib
import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from eth_account.signers.local import LocalAccount

from consortium.apps.forum import sealing
from consortium.apps.forum.blobs import BlobMismatch, read_source, sha256_hex, verify_blob
from consortium.apps.forum.envelope import document_meta, parse_meta, parse_post, post_content
from consortium.apps.forum.model import CONSORTIUM_CHANNEL, MAX_BLOB_FILE, MAX_CONTENT
from consortium.apps.forum.reader import ForumReader
from consortium.apps.forum.sealing import SealError, context
from consortium.apps.forum.search import ForumIndex
from consortium.apps.forum.surface import FORUM
from consortium.apps.service_client import ServiceClient, account_hex
from consortium.apps.surface import with_writes
from consortium.errors import ConfigError, ExecutionReverted, known
from consortium.sdk.client import ConsortiumClient
from consortium.system.sealing import SEAL_OVERHEAD

BLOBS_PATH = "/api/v1/forum/blobs"
# what a post's title and body become before the contract's MAX_CONTENT is counted: the
# JSON around them, and in a task force's channel the seal (nonce and tag)
POST_WRAPPER = len(post_content("", ""))
STALE_EPOCH = ("is not the current epoch", "changed since key epoch")  # another rotated first
Sealer = Callable[[bytes, str], bytes]  # (plaintext, purpose) -> what goes on chain


@with_writes(FORUM)
class ForumClient(ServiceClient):
    """The Forum contract through one node's API; pin, unpin and propose_max_attachment
    come from its surface."""

    reader = ForumReader
    read: ForumReader

    def __init__(self, client: ConsortiumClient | str, timeout: float = 30.0) -> None:
        super().__init__(client)
        self.timeout = timeout
        self.api_url = str(self.client.rpc_url).rstrip("/")
        self._keys: dict[tuple[str, str, int], bytes] = {}  # (reader, channel, epoch) -> key

    # --- keys ----------------------------------------------------------------------------

    def register_key(self, account: LocalAccount) -> dict[str, Any]:
        """Register the account's public key, so members can wrap channel keys for it."""
        return self.transact(account, "registerKey", sealing.public_key_of(account.key))

    def ensure_key(self, account: LocalAccount) -> None:
        if not self.read.key_of(account.address):
            self.register_key(account)

    def channel_key(self, account: LocalAccount, channel: str, epoch: int) -> bytes:
        """An epoch's channel key, unwrapped with the account's key; SealError if the
        account was not a member when that epoch was published."""
        me = account_hex(account.address)
        if (me, channel, epoch) not in self._keys:
            wrapped = self.read.wrapped_key(channel, epoch, me)
            if not wrapped:
                raise SealError(f"{me} holds no key for channel {channel!r} epoch {epoch}: it "
                                "was not a member of the task force when that key was "
                                "published")
            self._keys[(me, channel, epoch)] = sealing.unwrap_key(wrapped, account.key)
        return self._keys[(me, channel, epoch)]

    def rotate_key(self, account: LocalAccount, channel: str) -> dict[str, Any]:
        """Publish a new key epoch for the task force's current members."""
        self.ensure_key(account)
        members = list(self._channel(channel)["members"])
        public_keys = {m: self.read.key_of(m) for m in members}
        missing = sorted(m for m, k in public_keys.items() if not k)
        if missing:
            raise ConfigError(
                f"cannot publish a key for channel {channel!r}: {', '.join(missing)} "
                "registered no forum key yet (each member runs `consortium forum register-key` "
                "once, or any forum write registers it)")
        key = sealing.new_channel_key()
        out = self.transact(account, "rotateKey", channel, members,
                            [sealing.wrap_key(key, public_keys[m]) for m in members])
        self._keys[(account_hex(account.address), channel, int(out["id"]))] = key
        return out

    def current_epoch(self, account: LocalAccount, channel: str) -> int:
        """The epoch a write is sealed under now: 0 in the consortium channel, else the
        latest, rotated first if not wrapped for the current members. A non-member gets the
        contract's refusal."""
        found = self._channel(channel)
        if not found["private"]:
            return 0
        me = account_hex(account.address)
        if me not in found["members"]:
            self.check(account, "post", channel, found["epoch"], b"\x00")  # the reason
            raise ConfigError(f"{me} is not a member of task force {channel!r}")
        epoch = int(found["epoch"])
        if epoch and sorted(self.read.epoch_members(channel, epoch)) == sorted(found["members"]):
            return epoch
        return int(self.rotate_key(account, channel)["id"])

    def _channel(self, channel: str) -> dict[str, Any]:
        found: dict[str, Any] | None = self.read.channel(channel)
        if found is None:
            raise ConfigError(f"no channel {channel!r} (channels: "
                              f"{', '.join(c['name'] for c in self.read.channels())})")
        return found

    def _sealed(self, account: LocalAccount, channel: str,
                write: Callable[[int, Sealer], dict[str, Any]], retry: bool = True
                ) -> dict[str, Any]:
        """`write(epoch, sealer)` under the channel's current epoch; once more if another
        member rotated the key meanwhile."""
        epoch = self.current_epoch(account, channel)
        if epoch == 0:
            return write(0, lambda data, _purpose: data)
        key = self.channel_key(account, channel, epoch)
        try:
            return write(epoch, lambda data, purpose: sealing.seal(
                key, data, context(channel, epoch, purpose)))
        except ExecutionReverted as err:
            if not retry or not any(s in err.message for s in STALE_EPOCH):
                raise
        return self._sealed(account, channel, write, retry=False)

    def _opened(self, account: LocalAccount | None, record: dict[str, Any], sealed: bytes,
                purpose: str) -> bytes:
        """What a member's key opens of a post or document of a private channel."""
        if account is None:
            raise SealError(f"document {record['id']} is in private channel "
                            f"{record['channel']!r}: give a member's account to open it")
        key = self.channel_key(account, record["channel"], int(record["epoch"]))
        return sealing.open_sealed(key, sealed, context(record["channel"], int(record["epoch"]),
                                                purpose))

    # --- posts ---------------------------------------------------------------------------

    def _post(self, account: LocalAccount, channel: str, method: str, first: Any,
              content: bytes, *rest: Any) -> dict[str, Any]:
        return self._sealed(account, channel, lambda epoch, sealer: self.transact(
            account, method, first, epoch, sealer(content, "post"), *rest))

    def content(self, channel: str, title: str, body: str, what: str = "post") -> bytes:
        """A post's content from its title and body, refused here in the user's terms
        (ConfigError) when empty or over what a post holds: the contract counts the JSON
        envelope, sealed in a task force's channel, and would name that size instead."""
        if not (title.strip() or body.strip()):
            raise ConfigError(f"a {what} needs a title or a body" if what == "post"
                              else f"a {what} needs a body")  # "reply", "set of minutes"
        content = post_content(title, body)
        private = channel != CONSORTIUM_CHANNEL and bool(self._channel(channel)["private"])
        overhead = POST_WRAPPER + (SEAL_OVERHEAD if private else 0)
        if len(content) + overhead - POST_WRAPPER > MAX_CONTENT:
            plain = len(title.encode()) + len(body.encode())
            escaped = len(content) - POST_WRAPPER - plain
            where = f"task force {channel!r}'s channel (encrypted)" if private else \
                f"channel {channel!r}"
            extra = (f" ({escaped} more once its quotes, backslashes and control characters "
                     "are escaped)") if escaped else ""
            raise ConfigError(f"{plain} bytes of title and body{extra} are more than a "
                              f"{what} in {where} holds: at most {MAX_CONTENT - overhead} "
                              "bytes")
        return content

    def post(self, account: LocalAccount, channel: str, body: str, *,
             title: str = "") -> dict[str, Any]:
        """Open a thread in a channel (encrypted in a task force's); refused here when it has
        neither title nor body, or is over the size a post holds (`content`)."""
        return self._post(account, channel, "post", channel, self.content(channel, title, body))

    def reply(self, account: LocalAccount, post_id: int, body: str) -> dict[str, Any]:
        """Reply in the thread of `post_id` (its opening post or one of its replies)."""
        found = known(self.read.post(int(post_id)), f"no post {post_id}")
        return self._post(account, found["channel"], "reply", int(found["parent"] or found["id"]),
                          self.content(found["channel"], "", body, "reply"))

    def post_minutes(self, account: LocalAccount, channel: str, body: str,
                     proposals: list[int], title: str = "Minutes") -> dict[str, Any]:
        """Meeting minutes linking the proposals whose decisions they record."""
        return self._post(account, channel, "postMinutes", channel,
                          self.content(channel, title, body, "set of minutes"),
                          [int(p) for p in proposals])

    def open_post(self, account: LocalAccount | None, post: dict[str, Any]) -> dict[str, Any]:
        """A post as `account` reads it: opened, or `readable` false and why."""
        if not post["encrypted"]:
            return post | {"readable": True}
        out = post | {"title": "", "body": ""}
        if account is None:
            return out | {"readable": False, "why": "no reader account given"}
        try:
            opened = self._opened(account, post, bytes.fromhex(post["content"][2:]), "post")
        except SealError as err:
            return out | {"readable": False, "why": err.message}
        return out | parse_post(opened) | {"readable": True}

    def read_channel(self, account: LocalAccount | None, channel: str, *,
                     threads_only: bool = False) -> list[dict[str, Any]]:
        """A channel's posts, oldest first, opened for `account`."""
        self._channel(channel)
        return [self.open_post(account, p)
                for p in self.read.posts(channel, threads_only=threads_only)]

    def thread(self, account: LocalAccount | None, post_id: int) -> list[dict[str, Any]]:
        found = known(self.read.thread(int(post_id)), f"no post {post_id}")
        return [self.open_post(account, p) for p in found]

    def pinned(self, account: LocalAccount | None, channel: str) -> list[dict[str, Any]]:
        return [self.open_post(account, p) for p in self.read.pinned(channel)]

    # --- documents -----------------------------------------------------------------------

    def attach(self, account: LocalAccount, channel: str, source: str | Path | bytes, *,
               name: str | None = None, media_type: str | None = None, post: int = 0,
               keep: str = "auto") -> dict[str, Any]:
        """Attach a document: kept on chain up to the forum's rule, else (or keep="node")
        anchored by its SHA-256 and kept by this node; keep="chain" insists on the chain."""
        if keep not in ("auto", "chain", "node"):
            raise ConfigError("keep is auto, chain or node")
        plain, default_name = read_source(source)
        name = name or default_name
        media_type = media_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        limit = self.read.max_attachment()

        def write(epoch: int, sealer: Sealer) -> dict[str, Any]:
            blob = sealer(plain, "document")
            on_chain = keep == "chain" or (keep == "auto" and len(blob) <= limit)
            meta = sealer(document_meta(name, media_type, len(plain), sha256_hex(plain),
                                        None if on_chain else self.api_url), "document-meta")
            if on_chain:
                out = self.transact(account, "attach", channel, int(post), epoch, meta, blob)
            else:
                if len(blob) > MAX_BLOB_FILE:  # before the anchor: no document without bytes
                    raise ConfigError(
                        f"{name} is {len(plain)} bytes ({len(blob)} as kept), over the "
                        f"{MAX_BLOB_FILE} bytes a node keeps for one anchored document")
                out = self.transact(account, "anchor", channel, int(post), epoch, meta,
                                    hashlib.sha256(blob).digest(), len(blob))
                self.upload(blob)
            return out | {"document": out["id"], "sha256": sha256_hex(blob),
                          "onChain": on_chain, "size": len(blob)}

        return self._sealed(account, channel, write)

    def upload(self, blob: bytes) -> None:
        """Give an anchored document's bytes to this node, which keeps and serves them."""
        url = f"{self.api_url}{BLOBS_PATH}/{sha256_hex(blob)}"
        try:
            answer = httpx.put(url, content=blob, timeout=self.timeout,
                               **self.client.http_options(url))
        except httpx.HTTPError as exc:
            raise ConfigError(f"cannot upload the document to {self.api_url}: {exc}") from None
        if answer.status_code >= 300:
            raise ConfigError(f"{self.api_url} refused the document: "
                              f"{answer.json().get('error', answer.text)}")

    def document(self, account: LocalAccount | None, document_id: int) -> dict[str, Any]:
        """A document's record, its metadata opened for `account`."""
        found: dict[str, Any] = known(self.read.document(int(document_id)),
                                      f"no document {document_id}")
        if "meta" not in found:
            sealed = bytes.fromhex(found.pop("sealedMeta")[2:])
            found["meta"] = parse_meta(self._opened(account, found, sealed, "document-meta"))
        return found

    def fetch(self, account: LocalAccount | None, document_id: int,
              sources: tuple[str, ...] = ()) -> tuple[bytes, dict[str, Any]]:
        """A document's bytes (decrypted in a private channel) and its record; every
        download is checked against the SHA-256 on chain (BlobMismatch refuses it). Anchored
        ones come from the node that keeps them, this node, or `sources`."""
        doc = self.document(account, document_id)
        sha = str(doc["sha256"])
        if doc["onChain"]:
            raw = known(self.read.blob(bytes.fromhex(sha[2:])),
                        f"document {document_id}'s blob is not on chain")
            data = verify_blob(raw, sha, f"{self.api_url} (on chain)")
        else:
            data = self._download(sha, [doc["meta"].get("location"), self.api_url, *sources])
        if doc["epoch"]:
            data = self._opened(account, doc, data, "document")
        expected = doc["meta"].get("sha256")
        if isinstance(expected, str):
            verify_blob(data, expected, f"document {document_id} once decrypted")
        return data, doc

    def _download(self, sha: str, sources: list[Any]) -> bytes:
        tried = list(dict.fromkeys(s.rstrip("/") for s in sources if s))
        refused: list[BlobMismatch] = []
        for source in tried:
            url = f"{source}{BLOBS_PATH}/{sha}"
            try:
                answer = httpx.get(url, timeout=self.timeout, **self.client.http_options(url))
            except httpx.HTTPError:
                continue
            if answer.status_code == 200:
                try:
                    return verify_blob(answer.content, sha, source)
                except BlobMismatch as err:
                    refused.append(err)
        if refused:
            raise refused[0]
        raise ConfigError(f"no node has the document {sha} (tried {', '.join(tried)})")

    # --- search and the rule -------------------------------------------------------------

    def update_index(self, account: LocalAccount | None, index: ForumIndex) -> int:
        """Index the new posts `account` can read; answers how many were added."""
        added, last = 0, index.last_post()
        for post in self.read.posts_since(last):
            opened = self.open_post(account, post)
            if opened["readable"]:
                index.add(post_id=post["id"], channel=post["channel"], author=post["author"],
                          title=opened["title"], body=opened["body"], height=post["height"])
                added += 1
            last = max(last, int(post["id"]))
        index.set_last_post(last)
        return added

    def search(self, account: LocalAccount | None, text: str, *, index: Path,
               rebuild: bool = False, channel: str | None = None,
               limit: int = 20) -> list[dict[str, Any]]:
        """Posts `account` can read holding every word of `text`, from its local index
        (brought up to date first; rebuilt from the chain with rebuild=True)."""
        reader = account_hex(account.address) if account is not None else "nobody"
        with ForumIndex(index, reader) as found:
            if rebuild:
                found.clear()
            self.update_index(account, found)
            return found.search(text, channel=channel, limit=limit)
