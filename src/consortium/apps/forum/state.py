"""The Forum contract's state over the EVM storage of 0x…2005 (slots: `ForumState`; a list
keeps its length at its slot and item i at at(slot, i); the public keys are 64 bytes; the
rule forum.max_attachment_bytes reads 0 as the default), so the state root covers every
post, key epoch and document."""

from __future__ import annotations

from collections.abc import Callable

from eth_hash.auto import keccak

from consortium.apps.forum.model import DEFAULT_MAX_ATTACHMENT, POST_KINDS
from consortium.evm.field_types import Address, Bool, Bytes32, Id, Text, Uint
from consortium.evm.host import Storage
from consortium.evm.records import (
    ADDRESS,
    BOOL,
    BYTES,
    BYTES32,
    STRING,
    UINT,
    Choice,
    ListOf,
    Mapped,
    Record,
    SetOf,
    StateView,
    WordList,
    WordSet,
    field,
    key,
)


def member_digest(members: list[bytes] | tuple[bytes, ...]) -> bytes:
    """The digest of a member set, whatever its order: keccak of the sorted addresses."""
    return keccak(b"".join(sorted(bytes(m) for m in members)))


class Channel(Record):
    """A channel as answered (nothing of it is stored: the contract counts it)."""

    name: str = field(STRING, stored=False)
    private: bool = field(BOOL, stored=False)
    epoch: int = field(UINT, stored=False)
    posts: int = field(UINT, stored=False)
    threads: int = field(UINT, stored=False)
    documents: int = field(UINT, stored=False)
    members: tuple[bytes, ...] = field(SetOf(ADDRESS), stored=False)


class Post(Record):
    """A post; `replies` and `documents` are counted by the contract for its answer."""

    id: Id
    channel: Text
    author: Address
    kind: str = field(Choice(POST_KINDS))
    parent: int = field(UINT, null_if_zero=True)
    epoch: Uint
    content: bytes = field(BYTES)
    height: Uint
    pinned: Bool
    replies: int = field(UINT, stored=False)
    documents: int = field(UINT, stored=False)
    proposals: tuple[int, ...] = field(ListOf(UINT))


class KeyEpoch(Record):
    """A key epoch: declared in its answer's order, stored at its layout's offsets."""

    number: int = key(UINT, json="epoch")
    members: tuple[bytes, ...] = field(ListOf(ADDRESS), at=3)
    height: int = field(UINT, at=1)
    rotated_by: bytes = field(ADDRESS, at=2)
    digest: bytes = field(BYTES32, at=0)


class Document(Record):
    id: Id
    channel: Text
    post: int = field(UINT, null_if_zero=True)
    author: Address
    epoch: Uint
    sha256: Bytes32
    size: Uint
    on_chain: Bool
    meta: bytes = field(BYTES)
    height: Uint


def _lists(mapping: int) -> Callable[[ForumState, int | str], WordList]:
    """The ids listed under a key (a channel, a post, a proposal) of `mapping`."""
    return lambda state, key: WordList(state.s, Storage.at(mapping, key))


class ForumState(StateView):
    POST_COUNT, POSTS, CHANNEL_POSTS, CHANNEL_THREADS, REPLIES, PINNED = 0, 1, 2, 3, 4, 5
    EPOCH_COUNT, EPOCHS, WRAPPED, PUBLIC_KEYS = 6, 7, 8, 9
    DOCUMENT_COUNT, DOCUMENTS, BLOBS, CHANNEL_DOCS, POST_DOCS, DOC_BY_HASH = 10, 11, 12, 13, 14, 15
    MAX_ATTACHMENT, MINUTES_OF = 16, 17

    channel_posts, threads = _lists(CHANNEL_POSTS), _lists(CHANNEL_THREADS)
    replies, minutes_of = _lists(REPLIES), _lists(MINUTES_OF)
    channel_documents, post_documents = _lists(CHANNEL_DOCS), _lists(POST_DOCS)
    public_keys, blobs = Mapped(BYTES, PUBLIC_KEYS), Mapped(BYTES, BLOBS)  # by account, SHA-256
    epoch_counts = Mapped(UINT, EPOCH_COUNT)  # by channel
    wrapped_keys = Mapped(BYTES, WRAPPED)  # by channel, epoch, member
    document_by_hash = Mapped(UINT, DOC_BY_HASH)  # the first document of a SHA-256

    def max_attachment(self) -> int:
        return self.s.get_uint(self.MAX_ATTACHMENT) or DEFAULT_MAX_ATTACHMENT

    def set_max_attachment(self, value: int) -> None:
        self.s.set_uint(self.MAX_ATTACHMENT, value)

    # --- key epochs ----------------------------------------------------------------------

    def epoch_digest(self, channel: str, epoch: int) -> bytes:
        return bytes(KeyEpoch.get(self.s, Storage.at(self.EPOCHS, channel, epoch), "digest"))

    def epoch(self, channel: str, epoch: int) -> KeyEpoch:
        return KeyEpoch.load(self.s, Storage.at(self.EPOCHS, channel, epoch), number=epoch)

    def add_epoch(self, channel: str, members: list[bytes], wrapped: list[bytes],
                  by: bytes, height: int) -> int:
        epoch: int = self.epoch_counts[channel] + 1
        self.epoch_counts[channel] = epoch
        KeyEpoch.put_fields(self.s, Storage.at(self.EPOCHS, channel, epoch),
                            digest=member_digest(members), height=height, rotated_by=by,
                            members=members)
        for member, wrapped_key in zip(members, wrapped, strict=True):
            self.wrapped_keys[channel, epoch, member] = wrapped_key
        return epoch

    # --- posts ---------------------------------------------------------------------------

    def post(self, post_id: int) -> Post:
        return Post.load(self.s, Storage.at(self.POSTS, post_id), id=post_id, replies=0,
                         documents=0)

    def post_channel(self, post_id: int) -> str:
        return str(Post.get(self.s, Storage.at(self.POSTS, post_id), "channel"))

    def add_post(self, channel: str, author: bytes, kind: str, parent: int, epoch: int,
                 content: bytes, height: int, proposals: list[int]) -> int:
        post_id = self.next_id(self.POST_COUNT)
        Post.put_fields(self.s, Storage.at(self.POSTS, post_id), channel=channel,
                        author=author, kind=kind, parent=parent, epoch=epoch, content=content,
                        height=height, proposals=proposals)
        for proposal in proposals:
            self.minutes_of(proposal).append(post_id)
        self.channel_posts(channel).append(post_id)
        (self.replies(parent) if parent else self.threads(channel)).append(post_id)
        return post_id

    def set_pinned(self, post_id: int, channel: str, pinned: bool) -> None:
        Post.put(self.s, Storage.at(self.POSTS, post_id), "pinned", pinned)
        group = self.pinned(channel)
        if pinned:
            group.add(post_id)
        else:
            group.remove(post_id)

    def pinned(self, channel: str) -> WordSet:
        return WordSet(self.s, Storage.at(self.PINNED, channel))

    # --- documents -----------------------------------------------------------------------

    def document(self, document_id: int) -> Document:
        return Document.load(self.s, Storage.at(self.DOCUMENTS, document_id), id=document_id)

    def add_document(self, document: Document) -> int:
        """Store a new document (its id is the next one) and index it."""
        document_id = self.next_id(self.DOCUMENT_COUNT)
        document.store(self.s, Storage.at(self.DOCUMENTS, document_id))
        self.channel_documents(document.channel).append(document_id)
        if document.post:
            self.post_documents(document.post).append(document_id)
        if not self.document_by_hash[document.sha256]:
            self.document_by_hash[document.sha256] = document_id
        return document_id

    def has_blob(self, sha256: bytes) -> bool:
        return self.s.get_uint(Storage.at(self.BLOBS, sha256)) != 0
