"""The Forum native contract (0x…2005): a plaintext `consortium` channel and one private
channel per task force, whose writes name the latest key epoch, wrapped for the task force's
current members (the keys are the client's, never here). Documents are kept on chain up to
the voted rule forum.max_attachment_bytes, or anchored by their SHA-256."""

from __future__ import annotations

import hashlib
from typing import Any

from eth_hash.auto import keccak

from consortium.apps.forum import model
from consortium.apps.forum.model import CONSORTIUM_CHANNEL, MAX_ATTACHMENT_RULE
from consortium.apps.forum.state import Channel, Document, ForumState, KeyEpoch, Post, member_digest
from consortium.apps.service import ZERO_HASH, ServiceContract, count_read, keyed_reads, transition
from consortium.evm.host import Storage
from consortium.evm.native import StateOf, event, method, register, view
from consortium.evm.records import WordList, address_word
from consortium.system.model import GOVERNANCE_ADDRESS
from consortium.system.permissions import as_address, hex_address, switch
from consortium.system.state import GovernanceState

CHANNEL, POST = Channel.abi_type(), Post.abi_type()
EPOCH, DOCUMENT = KeyEpoch.abi_type(), Document.abi_type()


def public_key_address(public_key: bytes) -> bytes:
    """The account a 64-byte secp256k1 public key belongs to (Ethereum's derivation)."""
    return keccak(public_key)[12:]


def _ids(signature: str, arg: str, slot: int) -> Any:
    """A view answering the ids listed under its one argument (`arg`) at `slot`."""
    return view(signature, "uint256[]", (arg,),
                lambda c, key: list(WordList(c.storage, Storage.at(slot, key))))


@register
class Forum(ServiceContract):
    address = model.FORUM_ADDRESS

    PostTransition = transition("uint256 post")
    DocumentTransition = transition("uint256 document")
    EpochTransition = transition("uint256 epoch")
    Posted = event("uint256 indexed post", "address indexed author", "string channel",
                   "string kind", "uint256 parent", "uint256 epoch")
    KeyRotated = event("string channel", "uint256 epoch", "address indexed actor",
                       "address[] members")
    KeyRegistered = event("address indexed account")
    DocumentAdded = event("uint256 indexed document", "address indexed author", "string channel",
                          "bytes32 sha256", "uint256 size", "bool onChain")
    MinutesLinked = event("uint256 indexed post", "uint256 indexed proposal")
    RuleChanged = event("string rule", "uint256 value")

    state = StateOf(ForumState)
    batch_limit = model.MAX_BATCH_READ  # its own: posts are up to 32 KiB each

    gov = StateOf(GovernanceState, GOVERNANCE_ADDRESS)

    # --- reads -------------------------------------------------------------------------------

    max_attachment_bytes = view("maxAttachmentBytes()", "uint256", (),
                                lambda c: c.state.max_attachment())
    key_of = view("keyOf(address)", "bytes", ("account",),
                  lambda c, account: c.state.public_keys[as_address(account)])

    @method("channels()", returns=CHANNEL + "[]", view=True)
    def channels(self) -> list[tuple[Any, ...]]:
        names = [CONSORTIUM_CHANNEL, *self.gov.task_forces()]
        return [self._channel_tuple(n) for n in names]

    @method("channel(string)", returns=CHANNEL, view=True)
    def channel(self, name: str) -> tuple[Any, ...]:
        live = name == CONSORTIUM_CHANNEL or name in self.gov.task_forces()
        self.require(live or len(self.state.channel_posts(name)) > 0,
                     f"no channel {name!r}: channels are {CONSORTIUM_CHANNEL!r} and one per "
                     "task force")
        return self._channel_tuple(name)

    post_count = count_read("postCount()", ForumState.POST_COUNT)

    post, posts_of = keyed_reads("getPost(uint256)", "postsOf(uint256[])", ("post_id", "ids"),
                                 POST, lambda c, i: c._post_tuple(c._require_post(i)), "posts")

    channel_posts = _ids("channelPosts(string)", "name", ForumState.CHANNEL_POSTS)
    threads = _ids("threads(string)", "name", ForumState.CHANNEL_THREADS)

    replies = view("replies(uint256)", "uint256[]", ("post_id",),
                   lambda c, i: list(c.state.replies(c._require_post(i).id)))
    pinned = view("pinned(string)", "uint256[]", ("name",),
                  lambda c, name: sorted(c.state.pinned(name)))

    minutes_of = _ids("minutesOf(uint256)", "proposal", ForumState.MINUTES_OF)

    @method("epoch(string,uint256)", returns=EPOCH, view=True)
    def epoch(self, name: str, number: int) -> tuple[Any, ...]:
        self.require(1 <= number <= self.state.epoch_counts[name],
                     f"channel {name!r} has no key epoch {number}")
        return self.state.epoch(name, number).abi_tuple()

    wrapped_key = view("wrappedKey(string,uint256,address)", "bytes",
                       ("name", "number", "member"),
                       lambda c, name, n, member: c.state.wrapped_keys[name, n, as_address(member)])

    document_count = count_read("documentCount()", ForumState.DOCUMENT_COUNT)

    document, documents_of = keyed_reads(
        "document(uint256)", "documentsOf(uint256[])", ("document_id", "ids"), DOCUMENT,
        lambda c, i: c._require_document(i).abi_tuple(), "documents")

    channel_documents = _ids("channelDocuments(string)", "name", ForumState.CHANNEL_DOCS)
    post_documents = _ids("postDocuments(uint256)", "post_id", ForumState.POST_DOCS)

    document_by_hash = view("documentByHash(bytes32)", "uint256", ("sha256",),
                            lambda c, sha: c.state.document_by_hash[bytes(sha)])
    has_blob = view("hasBlob(bytes32)", "bool", ("sha256",),
                    lambda c, sha: c.state.has_blob(bytes(sha)))

    @method("blob(bytes32)", returns="bytes", view=True)
    def blob(self, sha256: bytes) -> bytes:
        self.require(self.state.has_blob(bytes(sha256)),
                     f"no blob 0x{bytes(sha256).hex()} is kept on chain")
        return bytes(self.state.blobs[bytes(sha256)])

    # --- writes: keys ------------------------------------------------------------------------

    @method("registerKey(bytes)")
    def register_key(self, public_key: bytes) -> None:
        key = bytes(public_key)
        self.require(len(key) == model.PUBLIC_KEY_BYTES,
                     f"a public key is {model.PUBLIC_KEY_BYTES} bytes (secp256k1, uncompressed, "
                     f"without the 04 prefix), not {len(key)}")
        account = public_key_address(key)
        self.require(self.gov.member_of(account) != 0,
                     f"{hex_address(account)} is not a consortium account")
        st = self.state
        self.require(not st.public_keys[account],
                     f"the forum key of {hex_address(account)} is already registered")
        st.public_keys[account] = key
        self.emit(self.KeyRegistered, account)

    @method("rotateKey(string,address[],bytes[])", returns="uint256")
    def rotate_key(self, name: str, members: list[str], wrapped: list[bytes]) -> int:
        current = self._require_task_force_member(name, "publish its channel key")
        raws = [as_address(m) for m in members]
        self.require(len(raws) == len(wrapped),
                     f"{len(raws)} members but {len(wrapped)} wrapped keys")
        self.require(len({address_word(r) for r in raws}) == len(raws),
                     "a member is listed twice")
        self.require(member_digest(raws) == member_digest(current),
                     f"a key epoch of channel {name!r} is wrapped for exactly the task "
                     f"force's {len(current)} current members "
                     f"({', '.join(sorted(hex_address(m) for m in current))})")
        st = self.state
        for member, key in zip(raws, wrapped, strict=True):
            self.require(bool(st.public_keys[member]),
                         f"{hex_address(member)} has registered no forum key (registerKey): "
                         "no channel key can be wrapped for it")
            self.require(0 < len(key) <= model.MAX_WRAPPED_KEY,
                         f"a wrapped key is 1 to {model.MAX_WRAPPED_KEY} bytes")
        number = st.add_epoch(name, raws, [bytes(k) for k in wrapped], self.caller,
                              self.height)
        self.emit(self.KeyRotated, name, number, self.caller, raws)
        self.emit(self.EpochTransition, number, self.caller, "", "active",
                  f"channel {name}: key epoch {number} for {len(raws)} members")
        return number

    # --- writes: posts -----------------------------------------------------------------------

    @method("post(string,uint256,bytes)", returns="uint256")
    def post_thread(self, name: str, epoch: int, content: bytes) -> int:
        self._require_writer(name, epoch, "post")
        return self._add_post(name, "post", 0, epoch, bytes(content), [])

    @method("reply(uint256,uint256,bytes)", returns="uint256")
    def reply(self, thread: int, epoch: int, content: bytes) -> int:
        root = self._require_post(thread)
        self.require(root.parent == 0,
                     f"post {thread} is a reply: answer its thread, post {root.parent}")
        self._require_writer(root.channel, epoch, "reply")
        return self._add_post(root.channel, "reply", root.id, epoch, bytes(content), [])

    @method("postMinutes(string,uint256,bytes,uint256[])", returns="uint256")
    def post_minutes(self, name: str, epoch: int, content: bytes, proposals: list[int]) -> int:
        self._require_writer(name, epoch, "post minutes")
        self.require(1 <= len(proposals) <= model.MAX_LINKS,
                     f"minutes link 1 to {model.MAX_LINKS} proposals (the decisions they record)")
        self.require(len(set(proposals)) == len(proposals), "a proposal is linked twice")
        count = self.gov.proposal_count()
        for p in proposals:
            self.require(1 <= p <= count, f"no proposal {p} to link (there are {count})")
        return self._add_post(name, "minutes", 0, epoch, bytes(content), list(proposals))

    pin, unpin = switch("pin(uint256)", "unpin(uint256)", ("post_id",), "_set_pin")

    # --- writes: documents -------------------------------------------------------------------

    @method("attach(string,uint256,uint256,bytes,bytes)", returns="uint256")
    def attach(self, name: str, post_id: int, epoch: int, meta: bytes, blob: bytes) -> int:
        self._require_writer(name, epoch, "attach a document")
        self._check_document(name, post_id, bytes(meta))
        data = bytes(blob)
        limit = self.state.max_attachment()
        self.require(len(data) > 0, "the document is empty")
        self.require(len(data) <= limit,
                     f"the attachment is {len(data)} bytes, over the forum's limit of {limit} "
                     f"bytes (rule {MAX_ATTACHMENT_RULE}): anchor it by its hash instead")
        sha = hashlib.sha256(data).digest()
        st = self.state
        if not st.has_blob(sha):
            st.blobs[sha] = data
        return self._add_document(name, post_id, epoch, sha, len(data), True, bytes(meta))

    @method("anchor(string,uint256,uint256,bytes,bytes32,uint256)", returns="uint256")
    def anchor(self, name: str, post_id: int, epoch: int, meta: bytes, sha256: bytes,
               size: int) -> int:
        self._require_writer(name, epoch, "anchor a document")
        self._check_document(name, post_id, bytes(meta))
        self.require(bytes(sha256) != ZERO_HASH, "the document's SHA-256 is zero")
        self.require(size > 0, "the document is empty")
        return self._add_document(name, post_id, epoch, bytes(sha256), size, False,
                                  bytes(meta))

    # --- writes: the rule (by vote) ----------------------------------------------------------

    @method("setMaxAttachmentBytes(uint256)")
    def set_max_attachment_bytes(self, value: int) -> None:
        self.require_governance(f"change the rule {MAX_ATTACHMENT_RULE}")
        self.require(1 <= value <= model.MAX_ATTACHMENT_CEILING,
                     f"{MAX_ATTACHMENT_RULE} must be 1 to {model.MAX_ATTACHMENT_CEILING} bytes "
                     "(a transaction is at most 128 KiB)")
        self.state.set_max_attachment(value)
        self.emit(self.RuleChanged, MAX_ATTACHMENT_RULE, value)

    # --- helpers -------------------------------------------------------------------------------

    def _members(self, name: str) -> tuple[bytes, ...]:
        """A private channel's members: its task force's, now."""
        return self.gov.task_force(name).members

    def _require_task_force_member(self, name: str, action: str) -> tuple[bytes, ...]:
        self.require(name != CONSORTIUM_CHANNEL,
                     f"the {CONSORTIUM_CHANNEL!r} channel is not encrypted: it has no keys")
        self.require(name in self.gov.task_forces(),
                     f"no channel {name!r}: no task force has that name (channels are "
                     f"{CONSORTIUM_CHANNEL!r} and one per task force)")
        members = self._members(name)
        self.require(self.caller in members,
                     f"{hex_address(self.caller)} is not a member of task force {name!r}: "
                     f"only its members {action} in its channel")
        return members

    def _require_writer(self, name: str, epoch: int, action: str) -> None:
        """The caller may write to the channel now, under `epoch`."""
        if name == CONSORTIUM_CHANNEL:
            gov = self.gov
            member_id = gov.member_of(self.caller)
            self.require(member_id != 0,
                         f"{hex_address(self.caller)} is not a consortium account")
            status = gov.status(member_id)
            self.require(status == "active",
                         f"{hex_address(self.caller)} belongs to member "
                         f"{gov.name(member_id)!r}, which is {status}")
            self.require(epoch == 0, f"the {CONSORTIUM_CHANNEL!r} channel is not encrypted: "
                                     "its posts name epoch 0")
            return
        members = self._require_task_force_member(name, action)
        st = self.state
        current = st.epoch_counts[name]
        self.require(current > 0, f"channel {name!r} has no key yet: a member publishes the "
                                  "first one (rotateKey)")
        self.require(epoch == current,
                     f"key epoch {epoch} is not the current epoch ({current}) of channel {name!r}")
        self.require(st.epoch_digest(name, current) == member_digest(members),
                     f"the members of task force {name!r} changed since key epoch {current}: "
                     "rotate the channel key for its current members (rotateKey) first")

    def _add_post(self, name: str, kind: str, parent: int, epoch: int, content: bytes,
                  proposals: list[int]) -> int:
        self.require(0 < len(content) <= model.MAX_CONTENT,
                     f"a post's content is 1 to {model.MAX_CONTENT} bytes, not {len(content)}")
        if epoch == 0:
            try:
                content.decode("utf-8")
            except UnicodeDecodeError:
                self.revert("a plaintext post must be UTF-8")
        post_id = self.state.add_post(name, self.caller, kind, parent, epoch, content,
                                      self.height, proposals)
        self.emit(self.Posted, post_id, self.caller, name, kind, parent, epoch)
        for p in proposals:
            self.emit(self.MinutesLinked, post_id, p)
        where = f"in {name}" + (f", thread {parent}" if parent else "")
        self.emit(self.PostTransition, post_id, self.caller, "", "posted", f"{kind} {where}")
        return post_id

    def _set_pin(self, post_id: int, pinned: bool) -> None:
        action = "pin" if pinned else "unpin"
        self.require(self._in_office(self.caller),
                     f"{hex_address(self.caller)} holds no office: only officers {action} "
                     "announcements")
        p = self._require_post(post_id)
        if p.channel != CONSORTIUM_CHANNEL:
            self._require_task_force_member(p.channel, f"{action} posts")
        self.require(p.pinned != pinned,
                     f"post {p.id} is {'already' if pinned else 'not'} pinned")
        self.state.set_pinned(p.id, p.channel, pinned)
        old, new = ("posted", "pinned") if pinned else ("pinned", "posted")
        self.emit(self.PostTransition, p.id, self.caller, old, new,
                  f"{action}ned in {p.channel} by an officer")

    def _in_office(self, account: bytes) -> bool:
        gov, height = self.gov, self.height
        return any(r.holder == account and r.term_end > height
                   for r in map(gov.office, gov.offices()))

    def _check_document(self, name: str, post_id: int, meta: bytes) -> None:
        self.require(0 < len(meta) <= model.MAX_META,
                     f"a document's metadata is 1 to {model.MAX_META} bytes, not {len(meta)}")
        if post_id:
            self.require_id(post_id, self.post_count(), "post")
            self.require(self.state.post_channel(post_id) == name,
                         f"post {post_id} is not in channel {name!r}")

    def _add_document(self, name: str, post_id: int, epoch: int, sha: bytes, size: int,
                      on_chain: bool, meta: bytes) -> int:
        document_id = self.state.add_document(Document(
            id=0, channel=name, post=post_id, author=self.caller, epoch=epoch, sha256=sha,
            size=size, on_chain=on_chain, meta=meta, height=self.height))
        self.emit(self.DocumentAdded, document_id, self.caller, name, sha, size, on_chain)
        state = "stored" if on_chain else "anchored"
        self.emit(self.DocumentTransition, document_id, self.caller, "", state,
                  f"{size} bytes in {name}" + ("" if on_chain else ", kept by the author's node"))
        return document_id

    def _require_post(self, post_id: int) -> Post:
        return self.state.post(self.require_id(post_id, self.post_count(), "post"))

    def _require_document(self, document_id: int) -> Document:
        return self.state.document(self.require_id(document_id, self.document_count(),
                                                   "document"))

    def _channel_tuple(self, name: str) -> tuple[Any, ...]:
        st = self.state
        private = name != CONSORTIUM_CHANNEL
        live = name in self.gov.task_forces() if private else True
        return Channel(name=name, private=private, epoch=st.epoch_counts[name] if private else 0,
                       posts=len(st.channel_posts(name)), threads=len(st.threads(name)),
                       documents=len(st.channel_documents(name)),
                       members=self._members(name) if private and live else ()).abi_tuple()

    def _post_tuple(self, p: Post) -> tuple[Any, ...]:
        st = self.state
        return p.with_(replies=len(st.replies(p.id)),
                       documents=len(st.post_documents(p.id))).abi_tuple()

