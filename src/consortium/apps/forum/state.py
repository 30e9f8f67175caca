"""Where the Forum contract keeps its state: a typed view over its EVM storage slots
(`consortium.evm.host.Storage`), so the state root covers every post, key epoch and document.

Layout (slots of 0x…2005; `at(s, k…)` is Solidity's mapping slot; a list keeps its length at
its slot and item i at at(slot, i); ids count from 1):

  0  post count          1  post id -> channel, author, kind, parent, epoch, content,
                            height, pinned, linked proposals (list, +8)
  2  channel -> its post ids (list)      3  channel -> its thread ids (list)
  4  thread id -> its reply ids (list)   5  channel -> pinned post ids (set, +1)
  6  channel -> current key epoch (0: none yet)
  7  (channel, epoch) -> member digest, height, rotated by, members (list, +3)
  8  (channel, epoch, member) -> that member's wrapped channel key
  9  account -> registered public key (64 bytes)
  10 document count      11 document id -> channel, post, author, epoch, sha256, size,
                            on chain, meta, height
  12 sha256 -> blob (documents kept on chain)
  13 channel -> its document ids (list)  14 post -> its document ids (list)
  15 sha256 -> the first document with that hash
  16 the forum rule forum.max_attachment_bytes (0: the default)
  17 proposal id -> minutes that link it (list)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from eth_hash.auto import keccak

from consortium.apps.forum.model import DEFAULT_MAX_ATTACHMENT, POST_KINDS
from consortium.evm.host import Storage
from consortium.evm.records import WordSet, address_word, word_address


@dataclass(frozen=True)
class PostRecord:
    id: int
    channel: str
    author: bytes
    kind: str
    parent: int
    epoch: int
    content: bytes
    height: int
    pinned: bool
    proposals: tuple[int, ...]


@dataclass(frozen=True)
class EpochRecord:
    number: int
    digest: bytes
    height: int
    rotated_by: bytes
    members: tuple[bytes, ...]


@dataclass(frozen=True)
class DocumentRecord:
    id: int
    channel: str
    post: int
    author: bytes
    epoch: int
    sha256: bytes
    size: int
    on_chain: bool
    meta: bytes
    height: int


def member_digest(members: list[bytes] | tuple[bytes, ...]) -> bytes:
    """The digest of a member set, whatever its order: keccak of the sorted addresses."""
    return keccak(b"".join(sorted(bytes(m) for m in members)))


class WordList:
    """An append-only list of 32-byte words in storage (ids, addresses)."""

    def __init__(self, storage: Storage, slot: int) -> None:
        self.s = storage
        self.slot = slot

    def __len__(self) -> int:
        return self.s.get_uint(self.slot)

    def __iter__(self) -> Iterator[int]:
        return (self.s.get_uint(Storage.at(self.slot, i)) for i in range(len(self)))

    def append(self, word: int) -> None:
        n = len(self)
        self.s.set_uint(Storage.at(self.slot, n), word)
        self.s.set_uint(self.slot, n + 1)


class ForumState:
    POST_COUNT, POSTS, CHANNEL_POSTS, CHANNEL_THREADS, REPLIES, PINNED = 0, 1, 2, 3, 4, 5
    EPOCH_COUNT, EPOCHS, WRAPPED, PUBLIC_KEYS = 6, 7, 8, 9
    DOCUMENT_COUNT, DOCUMENTS, BLOBS, CHANNEL_DOCS, POST_DOCS, DOC_BY_HASH = 10, 11, 12, 13, 14, 15
    MAX_ATTACHMENT, MINUTES_OF = 16, 17

    # post fields
    P_CHANNEL, P_AUTHOR, P_KIND, P_PARENT, P_EPOCH, P_CONTENT, P_HEIGHT, P_PINNED = range(8)
    P_PROPOSALS = 8
    # epoch fields
    E_DIGEST, E_HEIGHT, E_BY, E_MEMBERS = range(4)
    # document fields
    D_CHANNEL, D_POST, D_AUTHOR, D_EPOCH, D_SHA, D_SIZE, D_ON_CHAIN, D_META, D_HEIGHT = range(9)

    def __init__(self, storage: Storage) -> None:
        self.s = storage

    def _list(self, mapping: int, *keys: bytes | int | str) -> WordList:
        return WordList(self.s, Storage.at(mapping, *keys))

    # --- the rule ------------------------------------------------------------------------------

    def max_attachment(self) -> int:
        return self.s.get_uint(self.MAX_ATTACHMENT) or DEFAULT_MAX_ATTACHMENT

    def set_max_attachment(self, value: int) -> None:
        self.s.set_uint(self.MAX_ATTACHMENT, value)

    # --- member keys ---------------------------------------------------------------------------

    def public_key(self, account: bytes) -> bytes:
        return self.s.get_bytes(Storage.at(self.PUBLIC_KEYS, account))

    def set_public_key(self, account: bytes, key: bytes) -> None:
        self.s.set_bytes(Storage.at(self.PUBLIC_KEYS, account), key)

    # --- key epochs ----------------------------------------------------------------------------

    def epoch_count(self, channel: str) -> int:
        return self.s.get_uint(Storage.at(self.EPOCH_COUNT, channel))

    def epoch_digest(self, channel: str, epoch: int) -> bytes:
        return self.s.get_bytes32(Storage.at(self.EPOCHS, channel, epoch) + self.E_DIGEST)

    def epoch(self, channel: str, epoch: int) -> EpochRecord:
        b = Storage.at(self.EPOCHS, channel, epoch)
        members = WordList(self.s, b + self.E_MEMBERS)
        return EpochRecord(
            number=epoch,
            digest=self.s.get_bytes32(b + self.E_DIGEST),
            height=self.s.get_uint(b + self.E_HEIGHT),
            rotated_by=self.s.get_address(b + self.E_BY),
            members=tuple(word_address(w) for w in members),
        )

    def add_epoch(self, channel: str, members: list[bytes], wrapped: list[bytes],
                  by: bytes, height: int) -> int:
        epoch = self.epoch_count(channel) + 1
        self.s.set_uint(Storage.at(self.EPOCH_COUNT, channel), epoch)
        b = Storage.at(self.EPOCHS, channel, epoch)
        self.s.set_bytes32(b + self.E_DIGEST, member_digest(members))
        self.s.set_uint(b + self.E_HEIGHT, height)
        self.s.set_address(b + self.E_BY, by)
        listed = WordList(self.s, b + self.E_MEMBERS)
        for member, key in zip(members, wrapped, strict=True):
            listed.append(address_word(member))
            self.s.set_bytes(Storage.at(self.WRAPPED, channel, epoch, member), key)
        return epoch

    def wrapped_key(self, channel: str, epoch: int, member: bytes) -> bytes:
        return self.s.get_bytes(Storage.at(self.WRAPPED, channel, epoch, member))

    # --- posts ---------------------------------------------------------------------------------

    def post_count(self) -> int:
        return self.s.get_uint(self.POST_COUNT)

    def post(self, post_id: int) -> PostRecord:
        b = Storage.at(self.POSTS, post_id)
        kind = self.s.get_uint(b + self.P_KIND)
        return PostRecord(
            id=post_id,
            channel=self.s.get_string(b + self.P_CHANNEL),
            author=self.s.get_address(b + self.P_AUTHOR),
            kind=POST_KINDS[kind - 1] if kind else "",
            parent=self.s.get_uint(b + self.P_PARENT),
            epoch=self.s.get_uint(b + self.P_EPOCH),
            content=self.s.get_bytes(b + self.P_CONTENT),
            height=self.s.get_uint(b + self.P_HEIGHT),
            pinned=self.s.get_bool(b + self.P_PINNED),
            proposals=tuple(WordList(self.s, b + self.P_PROPOSALS)),
        )

    def post_channel(self, post_id: int) -> str:
        return self.s.get_string(Storage.at(self.POSTS, post_id) + self.P_CHANNEL)

    def add_post(self, channel: str, author: bytes, kind: str, parent: int, epoch: int,
                 content: bytes, height: int, proposals: list[int]) -> int:
        post_id = self.post_count() + 1
        self.s.set_uint(self.POST_COUNT, post_id)
        b = Storage.at(self.POSTS, post_id)
        self.s.set_string(b + self.P_CHANNEL, channel)
        self.s.set_address(b + self.P_AUTHOR, author)
        self.s.set_uint(b + self.P_KIND, POST_KINDS.index(kind) + 1)
        self.s.set_uint(b + self.P_PARENT, parent)
        self.s.set_uint(b + self.P_EPOCH, epoch)
        self.s.set_bytes(b + self.P_CONTENT, content)
        self.s.set_uint(b + self.P_HEIGHT, height)
        links = WordList(self.s, b + self.P_PROPOSALS)
        for proposal in proposals:
            links.append(proposal)
            self._list(self.MINUTES_OF, proposal).append(post_id)
        self._list(self.CHANNEL_POSTS, channel).append(post_id)
        if parent:
            self._list(self.REPLIES, parent).append(post_id)
        else:
            self._list(self.CHANNEL_THREADS, channel).append(post_id)
        return post_id

    def set_pinned(self, post_id: int, channel: str, pinned: bool) -> None:
        self.s.set_bool(Storage.at(self.POSTS, post_id) + self.P_PINNED, pinned)
        group = self.pinned(channel)
        if pinned:
            group.add(post_id)
        else:
            group.remove(post_id)

    def channel_posts(self, channel: str) -> WordList:
        return self._list(self.CHANNEL_POSTS, channel)

    def threads(self, channel: str) -> WordList:
        return self._list(self.CHANNEL_THREADS, channel)

    def replies(self, post_id: int) -> WordList:
        return self._list(self.REPLIES, post_id)

    def pinned(self, channel: str) -> WordSet:
        return WordSet(self.s, Storage.at(self.PINNED, channel))

    def minutes_of(self, proposal: int) -> WordList:
        return self._list(self.MINUTES_OF, proposal)

    # --- documents -----------------------------------------------------------------------------

    def document_count(self) -> int:
        return self.s.get_uint(self.DOCUMENT_COUNT)

    def document(self, document_id: int) -> DocumentRecord:
        b = Storage.at(self.DOCUMENTS, document_id)
        return DocumentRecord(
            id=document_id,
            channel=self.s.get_string(b + self.D_CHANNEL),
            post=self.s.get_uint(b + self.D_POST),
            author=self.s.get_address(b + self.D_AUTHOR),
            epoch=self.s.get_uint(b + self.D_EPOCH),
            sha256=self.s.get_bytes32(b + self.D_SHA),
            size=self.s.get_uint(b + self.D_SIZE),
            on_chain=self.s.get_bool(b + self.D_ON_CHAIN),
            meta=self.s.get_bytes(b + self.D_META),
            height=self.s.get_uint(b + self.D_HEIGHT),
        )

    def add_document(self, channel: str, post: int, author: bytes, epoch: int, sha256: bytes,
                     size: int, on_chain: bool, meta: bytes, height: int) -> int:
        document_id = self.document_count() + 1
        self.s.set_uint(self.DOCUMENT_COUNT, document_id)
        b = Storage.at(self.DOCUMENTS, document_id)
        self.s.set_string(b + self.D_CHANNEL, channel)
        self.s.set_uint(b + self.D_POST, post)
        self.s.set_address(b + self.D_AUTHOR, author)
        self.s.set_uint(b + self.D_EPOCH, epoch)
        self.s.set_bytes32(b + self.D_SHA, sha256)
        self.s.set_uint(b + self.D_SIZE, size)
        self.s.set_bool(b + self.D_ON_CHAIN, on_chain)
        self.s.set_bytes(b + self.D_META, meta)
        self.s.set_uint(b + self.D_HEIGHT, height)
        self._list(self.CHANNEL_DOCS, channel).append(document_id)
        if post:
            self._list(self.POST_DOCS, post).append(document_id)
        hash_slot = Storage.at(self.DOC_BY_HASH, sha256)
        if not self.s.get_uint(hash_slot):
            self.s.set_uint(hash_slot, document_id)
        return document_id

    def channel_documents(self, channel: str) -> WordList:
        return self._list(self.CHANNEL_DOCS, channel)

    def post_documents(self, post_id: int) -> WordList:
        return self._list(self.POST_DOCS, post_id)

    def document_by_hash(self, sha256: bytes) -> int:
        return self.s.get_uint(Storage.at(self.DOC_BY_HASH, sha256))

    def blob(self, sha256: bytes) -> bytes:
        return self.s.get_bytes(Storage.at(self.BLOBS, sha256))

    def has_blob(self, sha256: bytes) -> bool:
        return self.s.get_uint(Storage.at(self.BLOBS, sha256)) != 0

    def store_blob(self, sha256: bytes, blob: bytes) -> None:
        self.s.set_bytes(Storage.at(self.BLOBS, sha256), blob)
