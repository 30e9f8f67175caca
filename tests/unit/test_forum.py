"""The Forum native contract on a real Ledger: the consortium channel, task-force channels
whose key epochs must be wrapped for the task force's current members, posts refused to
non-members and under stale epochs, pins by officers only, minutes linked to proposals,
documents on chain up to the voted rule, anchored documents, and bad input."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from consortium.apps.forum.abi import ABI_FILE, render_abi
from consortium.apps.forum.envelope import post_content
from consortium.apps.forum.model import DEFAULT_MAX_ATTACHMENT, MAX_ATTACHMENT_CEILING
from consortium.apps.forum.sealing import SealError, public_key_of, unwrap_key
from consortium.apps.forum.state import member_digest
from tests.support.forum_testkit import ForumChain
from tests.support.services_testkit import BANK_A, BANK_B, BANK_C, BORROWER, low, services_ledger


@pytest.fixture()
def chain(tmp_path: Path) -> Iterator[ForumChain]:
    ledger = services_ledger(tmp_path / "ledger")
    yield ForumChain(ledger)
    ledger.close()


def test_the_shipped_abi_matches_the_contract() -> None:
    assert json.loads(ABI_FILE.read_text()) == json.loads(render_abi()), (
        "Forum.json is stale: run python -m consortium.apps.forum.abi")


def test_the_consortium_channel_is_plaintext_for_every_member(chain: ForumChain) -> None:
    post = chain.ok(BORROWER, "post", "consortium", 0, post_content("Hello", "first words"))
    found = chain.read.post(post)
    assert found is not None
    assert (found["author"], found["title"], found["body"], found["encrypted"]) == (
        low(BORROWER), "Hello", "first words", False)
    reply = chain.ok(BANK_B, "reply", post, 0, post_content("", "welcome"))
    thread = chain.read.thread(reply)
    assert thread is not None and [p["id"] for p in thread] == [post, reply]
    assert "UTF-8" in chain.refused(BANK_A, "post", "consortium", 0, b"\xff\xfe")
    assert "not encrypted" in chain.refused(BANK_A, "post", "consortium", 1, b"x")
    assert "answer its thread" in chain.refused(BANK_A, "reply", reply, 0, b"x")
    assert "no channel 'Nowhere'" in chain.refused(BANK_A, "post", "Nowhere", 1, b"x")
    assert "1 to 32768 bytes" in chain.refused(BANK_A, "post", "consortium", 0, b"")
    channels = {c["name"]: c for c in chain.read.channels()}
    assert channels["consortium"]["posts"] == 2 and channels["consortium"]["threads"] == 1


def test_member_keys_bind_to_their_account(chain: ForumChain) -> None:
    # Anyone may register any account's key: the key's hash names the account.
    chain.ok(BANK_A, "registerKey", public_key_of(BANK_B.key))
    assert chain.read.key_of(low(BANK_B)) == public_key_of(BANK_B.key)
    assert "already registered" in chain.refused(BANK_B, "registerKey",
                                                 public_key_of(BANK_B.key))
    assert "64 bytes" in chain.refused(BANK_A, "registerKey", b"\x04" * 65)
    from eth_account import Account

    stranger = Account.from_key(b"\x99" * 32)
    assert "not a consortium account" in chain.refused(BANK_A, "registerKey",
                                                       public_key_of(stranger.key))


def test_a_task_force_channel_follows_its_members_and_rotates_keys(chain: ForumChain) -> None:
    chain.form("Risk", [BANK_A, BANK_B])
    risk = chain.read.channel("Risk")
    assert risk is not None and risk["private"] and risk["epoch"] == 0
    assert sorted(risk["members"]) == sorted([low(BANK_A), low(BANK_B)])
    chain.register(BANK_A, BANK_B, BANK_C)
    assert "has no key yet" in chain.refused(BANK_A, "post", "Risk", 0, b"x")
    # An epoch is wrapped for exactly the current members.
    wrong = chain.refused(BANK_A, "rotateKey", "Risk", [BANK_A.address], [b"k"])
    assert "exactly the task force's 2 current members" in wrong
    assert "not a member of task force 'Risk'" in chain.refused(
        BANK_C, "rotateKey", "Risk", [BANK_A.address, BANK_B.address], [b"k", b"k"])
    epoch, key = chain.rotate(BANK_A, "Risk", [BANK_B, BANK_A])
    assert epoch == 1
    first = chain.post_sealed(BANK_A, "Risk", 1, key, "liquidity scenario draft")
    stored = chain.read.post(first)
    assert stored is not None and stored["encrypted"] and "title" not in stored
    assert b"liquidity" not in bytes.fromhex(stored["content"][2:])  # only ciphertext
    assert chain.open_as(BANK_B, first) == "liquidity scenario draft"
    # A non-member posts nothing and holds no key to open what is there.
    assert "only its members post" in chain.refused(BANK_C, "post", "Risk", 1, b"x")
    assert chain.read.wrapped_key("Risk", 1, low(BANK_C)) == b""
    with pytest.raises(SealError):
        unwrap_key(chain.read.wrapped_key("Risk", 1, low(BANK_A)), BANK_C.key)
    # Membership changes: Bank B leaves, Bank C joins. The old epoch no longer serves.
    chain.set_members("Risk", [BANK_A, BANK_C])
    assert "changed since key epoch 1" in chain.refused(
        BANK_A, "post", "Risk", 1, b"\x00" * 40)
    assert "only its members post" in chain.refused(BANK_B, "post", "Risk", 1, b"x")
    epoch2, key2 = chain.rotate(BANK_C, "Risk", [BANK_A, BANK_C])
    assert epoch2 == 2
    assert "key epoch 1 is not the current epoch (2) of channel 'Risk'" in chain.refused(
        BANK_A, "post", "Risk", 1, b"\x00" * 40)
    later = chain.post_sealed(BANK_A, "Risk", 2, key2, "after the change")
    assert chain.open_as(BANK_C, later) == "after the change"
    assert chain.read.wrapped_key("Risk", 2, low(BANK_B)) == b""  # removed: no new key
    assert chain.open_as(BANK_B, first) == "liquidity scenario draft"  # still its old key
    e2 = chain.read.epoch("Risk", 2)
    assert e2 is not None and e2["rotatedBy"] == low(BANK_C)
    assert e2["digest"] == "0x" + member_digest(
        [bytes.fromhex(low(BANK_A)[2:]), bytes.fromhex(low(BANK_C)[2:])]).hex()
    assert set(e2["wrappedKeys"]) == {low(BANK_A), low(BANK_C)}


def test_rotation_needs_every_members_key(chain: ForumChain) -> None:
    chain.form("Ops", [BANK_A, BORROWER])
    chain.register(BANK_A)
    reason = chain.refused(BANK_A, "rotateKey", "Ops", [BANK_A.address, BORROWER.address],
                           [b"k", b"k"])
    assert f"{low(BORROWER)} has registered no forum key" in reason


def test_only_officers_in_office_pin(chain: ForumChain) -> None:
    post = chain.ok(BANK_A, "post", "consortium", 0, post_content("AGM", "on 3 March"))
    assert "holds no office: only officers pin" in chain.refused(BANK_B, "pin", post)
    chain.elect("secretary", BANK_B, 6)
    chain.ok(BANK_B, "pin", post)
    assert [p["id"] for p in chain.read.pinned("consortium")] == [post]
    assert "already pinned" in chain.refused(BANK_B, "pin", post)
    chain.ok(BANK_B, "unpin", post)
    assert chain.read.pinned("consortium") == []
    chain.advance(6)  # the term ends: the office is vacant
    assert "holds no office" in chain.refused(BANK_B, "pin", post)


def test_minutes_link_the_proposals_they_record(chain: ForumChain) -> None:
    proposal = chain.elect("chair", BANK_A, 1000)
    minutes = chain.ok(BANK_A, "postMinutes", "consortium", 0,
                       post_content("Minutes", "Bank A elected chair"), [proposal])
    found = chain.read.post(minutes)
    assert found is not None and (found["kind"], found["proposals"]) == ("minutes", [proposal])
    assert [p["id"] for p in chain.read.minutes_of(proposal)] == [minutes]
    assert "no proposal 99 to link" in chain.refused(
        BANK_A, "postMinutes", "consortium", 0, b"m", [99])
    assert "linked twice" in chain.refused(
        BANK_A, "postMinutes", "consortium", 0, b"m", [proposal, proposal])
    assert "1 to 32 proposals" in chain.refused(BANK_A, "postMinutes", "consortium", 0, b"m",
                                                [])


def test_documents_on_chain_up_to_the_voted_rule(chain: ForumChain) -> None:
    paper = b"%PDF research paper " * 50
    doc = chain.ok(BANK_A, "attach", "consortium", 0, 0, b'{"name":"p.pdf"}', paper)
    found = chain.read.document(doc)
    assert found is not None and found["onChain"] and found["size"] == len(paper)
    assert found["sha256"] == "0x" + hashlib.sha256(paper).hexdigest()
    assert chain.read.blob(hashlib.sha256(paper).digest()) == paper
    assert chain.read.rules() == {"forum.max_attachment_bytes": DEFAULT_MAX_ATTACHMENT}
    big = b"x" * (DEFAULT_MAX_ATTACHMENT + 1)
    reason = chain.refused(BANK_A, "attach", "consortium", 0, 0, b"{}", big)
    assert (f"{DEFAULT_MAX_ATTACHMENT + 1} bytes, over the forum's limit of "
            f"{DEFAULT_MAX_ATTACHMENT} bytes (rule forum.max_attachment_bytes)") in reason
    # The rule changes by vote only.
    assert "only the Governance contract" in chain.refused(
        BANK_A, "setMaxAttachmentBytes", 100)
    assert chain.by_vote("setMaxAttachmentBytes", 100)["status"] == "executed"
    assert "over the forum's limit of 100 bytes" in chain.refused(
        BANK_A, "attach", "consortium", 0, 0, b"{}", b"y" * 101)
    chain.ok(BANK_A, "attach", "consortium", 0, 0, b"{}", b"y" * 100)
    assert chain.propose("setMaxAttachmentBytes", MAX_ATTACHMENT_CEILING + 1).code != 0
    # Anchored: the hash only.
    anchored = chain.ok(BANK_B, "anchor", "consortium", 0, 0, b"{}", b"\x07" * 32, 10**7)
    record = chain.read.document(anchored)
    assert record is not None and not record["onChain"] and record["size"] == 10**7
    assert "SHA-256 is zero" in chain.refused(BANK_B, "anchor", "consortium", 0, 0, b"{}",
                                              b"\x00" * 32, 5)
    assert "no post 999" in chain.refused(BANK_B, "anchor", "consortium", 999, 0, b"{}",
                                          b"\x07" * 32, 5)


def test_bad_input_gets_a_reason(chain: ForumChain) -> None:
    result = chain.raw(BANK_A, chain.address, b"\x01\x02")
    assert result.code != 0
    bad = chain.raw(BANK_A, chain.address, chain.calls.specs["post"].selector + b"\x00" * 7)
    from consortium.ledger.executor import decode_revert_reason

    assert "bad arguments for post(string,uint256,bytes)" in str(decode_revert_reason(bad.data))
    assert "no post 5" in chain.refused(BANK_A, "reply", 5, 0, b"x")


def test_the_search_index_takes_any_text_and_keeps_readers_apart(tmp_path: Path) -> None:
    from consortium.apps.forum.search import ForumIndex

    path = tmp_path / "index.sqlite"
    with ForumIndex(path, "0xaa") as index:
        index.add(post_id=3, channel="Risk", author="0xbb", title="Stress",
                  body='liquidity "AND" NEAR(x) * café', height=9)
        index.set_last_post(3)
        assert [h["post"] for h in index.search("liquidity")] == [3]
        assert [h["post"] for h in index.search('"AND" NEAR(x) *')] == [3]
        assert [h["post"] for h in index.search("cafe")] == [3]  # diacritics folded
        assert index.search("liquidity", channel="consortium") == []
        assert index.search("   ") == []
    assert path.stat().st_mode & 0o077 == 0  # decrypted text: the owner's only
    with ForumIndex(path, "0xcc") as other:  # another reader never sees the first's text
        assert other.search("liquidity") == [] and other.last_post() == 0


def test_the_blob_store_keeps_only_what_matches_its_hash(tmp_path: Path) -> None:
    from consortium.apps.forum.blobs import BlobMismatch, BlobStore, sha256_hex

    store = BlobStore(tmp_path / "blobs")
    data = b"PoC spec v1"
    store.put(sha256_hex(data), data)
    assert store.get(sha256_hex(data)) == data
    with pytest.raises(BlobMismatch, match=f"the chain records {sha256_hex(b'other')}"):
        store.put(sha256_hex(b"other"), data)
    assert store.get(sha256_hex(b"other")) is None
    with pytest.raises(ValueError, match="not a SHA-256"):
        store.get("0x1234")
