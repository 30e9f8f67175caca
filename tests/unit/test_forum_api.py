"""The forum through a node's API (a real server over the services' ledger): the typed
client's automatic key epochs and decryption per reader, documents kept on chain and on the
author's node with every download checked, the per-reader search index, the JSON-RPC and
REST reads (ciphertext only in private channels), and the `consortium forum` commands.

The tests share one node (module-scoped fixtures) and follow one story; each later test first
brings Research to where the first leaves it (`_story_so_far`), so any of them also runs
alone."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from consortium.apps.forum import BlobMismatch, ForumClient
from consortium.apps.forum.blobs import BLOB_DIR_NAME
from consortium.apps.forum.sealing import SealError
from consortium.errors import ConfigError, ExecutionReverted
from consortium.system.client import GovernanceClient
from tests.support.services_api_testkit import LiveNode
from tests.support.services_testkit import BANK_A, BANK_B, BANK_C, BORROWER, low


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveNode]:
    node = LiveNode(tmp_path_factory.mktemp("forum-api"))
    yield node
    node.close()


@pytest.fixture(scope="module")
def forum(live: LiveNode) -> ForumClient:
    gov = GovernanceClient(live.url)
    out = gov.propose_form_task_force(BANK_A, "Research", "PoC work", low(BANK_A),
                                      [low(BANK_A), low(BANK_B)])
    for bank in (BANK_A, BANK_B):
        gov.vote(bank, out["proposal"], True)
    client = ForumClient(live.url)
    for account in (BANK_A, BANK_B, BANK_C):
        client.ensure_key(account)
    return client


def _set_research(live: LiveNode, members: list[Any]) -> None:
    gov = GovernanceClient(live.url)
    out = gov.propose_set_task_force_members(BANK_A, "Research", low(members[0]),
                                             [low(m) for m in members])
    for bank in (BANK_A, BANK_B):
        status = gov.vote(bank, out["proposal"], True)["status"]
        if status != "open":
            break
    assert status == "executed"


def _story_so_far(live: LiveNode, forum: ForumClient) -> None:
    """Research as the first test leaves it: posted to in epoch 1 (Banks A and B), then Bank
    B out and Bank C in. Nothing happens when it is there already."""
    channel = forum.read.channel("Research")
    assert channel is not None
    if channel["epoch"] == 0:  # no key published yet: the first post publishes epoch 1
        forum.post(BANK_A, "Research", "Basel capital floor study, draft one",
                   title="Capital floor")
        channel = forum.read.channel("Research")
        assert channel is not None
    if sorted(m.lower() for m in channel["members"]) != sorted((low(BANK_A), low(BANK_C))):
        _set_research(live, [BANK_A, BANK_C])


def test_private_channel_keys_follow_membership(live: LiveNode, forum: ForumClient,
                                                tmp_path: Path) -> None:
    first = forum.post(BANK_A, "Research", "Basel capital floor study, draft one",
                       title="Capital floor")
    assert first["object"] == "post" and first["state"] == "posted"
    epoch1 = forum.read.channel("Research")["epoch"]  # type: ignore[index]
    assert epoch1 >= 1  # published by the client before posting
    by_b = {p["id"]: p for p in forum.read_channel(BANK_B, "Research")}
    assert by_b[first["id"]]["body"] == "Basel capital floor study, draft one"
    by_c = {p["id"]: p for p in forum.read_channel(BANK_C, "Research")}
    assert not by_c[first["id"]]["readable"] and by_c[first["id"]]["body"] == ""
    assert "holds no key" in by_c[first["id"]]["why"]
    reply = forum.reply(BANK_B, first["id"], "Reviewed: agree with the floor")
    assert [p["id"] for p in forum.thread(BANK_A, reply["id"])] == [first["id"], reply["id"]]
    # A non-member's post gets the contract's reason.
    with pytest.raises(ExecutionReverted, match="not a member of task force 'Research'"):
        forum.post(BANK_C, "Research", "let me in")
    # Bank B leaves, Bank C joins: the next post publishes a new epoch first.
    _set_research(live, [BANK_A, BANK_C])
    later = forum.post(BANK_A, "Research", "Liquidity coverage sandbox results")
    assert forum.read.channel("Research")["epoch"] == epoch1 + 1  # type: ignore[index]
    assert forum.open_post(BANK_C, forum.read.post(later["id"]))["body"] == (  # type: ignore
        "Liquidity coverage sandbox results")
    assert not forum.open_post(BANK_B, forum.read.post(later["id"]))["readable"]  # type: ignore
    assert forum.open_post(BANK_B, forum.read.post(first["id"]))["readable"]  # type: ignore
    # Search finds only what each reader can read.
    b_hits = forum.search(BANK_B, "capital floor", index=tmp_path / "b.sqlite")
    assert [h["post"] for h in b_hits] == [first["id"]]
    assert forum.search(BANK_B, "sandbox", index=tmp_path / "b.sqlite") == []
    assert [h["post"] for h in forum.search(BANK_C, "sandbox", index=tmp_path / "c.sqlite")] \
        == [later["id"]]
    assert forum.search(BANK_C, "capital", index=tmp_path / "c.sqlite") == []
    rebuilt = forum.search(BANK_C, "sandbox", index=tmp_path / "c.sqlite", rebuild=True)
    assert [h["post"] for h in rebuilt] == [later["id"]]
    # An index file of another reader is never served to this one.
    assert forum.search(BANK_A, "sandbox", index=tmp_path / "c.sqlite") != [] and \
        forum.search(BORROWER, "sandbox", index=tmp_path / "c.sqlite") == []


def test_documents_round_trip_and_tampering_is_refused(live: LiveNode,
                                                       forum: ForumClient) -> None:
    _story_so_far(live, forum)
    paper = bytes(range(256)) * 40  # 10 KiB, not text
    kept = forum.attach(BANK_A, "Research", paper, name="paper.bin")
    assert kept["onChain"] and kept["size"] > len(paper)  # sealed: nonce and tag
    data, doc = forum.fetch(BANK_C, kept["document"])
    assert data == paper and doc["meta"]["name"] == "paper.bin"
    with pytest.raises(SealError):
        forum.fetch(BANK_B, kept["document"])  # removed before it was attached
    spec = b"PoC spec " * 3000
    anchored = forum.attach(BANK_C, "Research", spec, name="spec.txt", keep="node")
    assert not anchored["onChain"]
    assert forum.fetch(BANK_A, anchored["document"])[0] == spec
    stored = live.ledger.store.env.path()
    blob = Path(stored) / BLOB_DIR_NAME / anchored["sha256"][2:]
    assert blob.is_file()
    blob.write_bytes(blob.read_bytes()[:-1] + b"\x00")
    with pytest.raises(BlobMismatch, match=f"the chain records {anchored['sha256']}"):
        forum.fetch(BANK_A, anchored["document"])
    # A node keeps only anchored documents, checked against their hash.
    answer = httpx.put(f"{live.url}/api/v1/forum/blobs/0x{'ab' * 32}", content=b"junk")
    assert answer.status_code == 409 and "anchor it first" in answer.json()["error"]
    answer = httpx.put(f"{live.url}/api/v1/forum/blobs/{anchored['sha256']}", content=b"x")
    assert answer.status_code == 409
    # Over the rule, the chain refuses; auto mode anchors instead.
    big = b"z" * (64 * 1024 + 1)
    with pytest.raises(ExecutionReverted, match="over the forum's limit of 65536 bytes"):
        forum.attach(BANK_A, "consortium", big, name="big.bin", keep="chain")
    auto = forum.attach(BANK_A, "consortium", big, name="big.bin")
    assert not auto["onChain"] and forum.fetch(None, auto["document"])[0] == big


def test_a_document_too_large_for_a_node_is_refused_before_it_is_anchored(
        live: LiveNode, forum: ForumClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Anchored first and uploaded after, an oversized file left a document on chain whose
    bytes no node would keep: the client refuses it before the anchor (the node's limit,
    lowered here so the test sends kilobytes, not 64 MiB)."""
    _story_so_far(live, forum)
    monkeypatch.setattr("consortium.apps.forum.client.MAX_BLOB_FILE", 100_000)
    before = len(forum.read.documents())
    with pytest.raises(ConfigError, match="over the 100000 bytes a node keeps"):
        forum.attach(BANK_A, "consortium", b"y" * 100_001, name="huge.bin", keep="node")
    assert len(forum.read.documents()) == before
    kept = forum.attach(BANK_A, "consortium", b"y" * 99_000, name="fits.bin", keep="node")
    assert not kept["onChain"] and len(forum.read.documents()) == before + 1


def test_json_rpc_and_rest_show_ciphertext_only(live: LiveNode, forum: ForumClient) -> None:
    _story_so_far(live, forum)
    public = forum.post(BORROWER, "consortium", "Hello all", title="Intro")
    channels = live.rpc("consortium_forumChannels")["result"]
    assert [c["name"] for c in channels][:1] == ["consortium"]
    assert "Research" in [c["name"] for c in channels]
    posts = live.rpc("consortium_forumPosts", "Research")["result"]
    assert posts and all(p["encrypted"] and "body" not in p for p in posts)
    assert all("sandbox" not in json.dumps(p) for p in posts)
    got = live.rpc("consortium_forumPost", public["id"])["result"]
    assert (got["title"], got["body"]) == ("Intro", "Hello all")
    epoch = live.rpc("consortium_forumEpoch", "Research", 1)["result"]
    assert epoch["epoch"] == 1 and len(epoch["wrappedKeys"]) == 2
    assert live.rpc("consortium_forumKey", low(BANK_A))["result"].startswith("0x")
    assert live.rpc("consortium_forumRules")["result"] == {
        "forum.max_attachment_bytes": 65536}
    bad = live.rpc("consortium_forumPost", "seven")
    assert bad["error"]["code"] == -32602
    rest = httpx.get(f"{live.url}/api/v1/forum/channels/consortium/posts").json()
    assert public["id"] in [p["id"] for p in rest]
    assert httpx.get(f"{live.url}/api/v1/forum/posts/99999").status_code == 404
    assert httpx.get(f"{live.url}/api/v1/forum/blobs/0x12").status_code == 400
    assert httpx.get(f"{live.url}/api/v1/forum/channels/Nowhere").status_code == 404
    assert "/api/v1/forum/blobs/{sha}" in httpx.get(f"{live.url}/openapi.json").json()["paths"]


def test_cli_commands(live: LiveNode, forum: ForumClient, tmp_path: Path,
                      capsys: pytest.CaptureFixture[str]) -> None:
    _story_so_far(live, forum)
    code, out, _ = live.cli(capsys, "forum", "post", "consortium", "Quarterly meeting in May",
                            "--title", "AGM", *live.signed("Bank B"), "--json")
    assert code == 0
    post_id = json.loads(out)["id"]
    code, out, _ = live.cli(capsys, "forum", "read", "consortium", "--json")
    assert code == 0 and "Quarterly meeting in May" in [p["body"] for p in json.loads(out)]
    code, out, _ = live.cli(capsys, "forum", "channels")
    assert code == 0 and "Research" in out
    code, _, err = live.cli(capsys, "forum", "pin", str(post_id), *live.signed("Bank B"))
    assert code == 1 and "holds no office: only officers pin" in err
    code, _, err = live.cli(capsys, "forum", "post", "Research", "hi",
                            *live.signed("Borrower"))
    assert code == 1 and "not a member of task force 'Research'" in err
    doc = tmp_path / "notes.md"
    doc.write_text("# PoC notes\nsettlement latency under load\n")
    code, out, _ = live.cli(capsys, "forum", "attach", "Research", str(doc),
                            *live.signed("Bank C"), "--json")
    assert code == 0
    document = json.loads(out)["document"]
    target = tmp_path / "fetched.md"
    code, out, _ = live.cli(capsys, "forum", "fetch", str(document), "--out", str(target),
                            *live.signed("Bank A"))
    assert code == 0 and target.read_bytes() == doc.read_bytes() and "verified" in out
    code, out, _ = live.cli(capsys, "forum", "search", "quarterly", "--index",
                            str(tmp_path / "i.sqlite"), *live.signed("Bank C"), "--json")
    assert code == 0 and [h["post"] for h in json.loads(out)] == [post_id]
    code, out, _ = live.cli(capsys, "forum", "thread", str(post_id))
    assert code == 0 and "Quarterly meeting in May" in out
    code, out, _ = live.cli(capsys, "forum", "thread", str(post_id), "--json")
    assert code == 0 and [p["id"] for p in json.loads(out)] == [post_id]  # JSON alone
