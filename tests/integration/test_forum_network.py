"""Issue 10: the consortium forum on a real 4-validator network (one network for the
module), each member working through its own node: Bank A through node0, Bank B node1,
Bank C node2, Bank D node3. The task force "Research" starts with Banks A and B; Bank B is
later replaced by Bank C. Before reading or writing through a node, a member waits for that
node to hold the blocks the others' steps made (as it would wait for a notification)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from consortium.apps.forum import BlobMismatch, ForumClient
from consortium.apps.forum.blobs import BLOB_DIR_NAME
from consortium.apps.forum.sealing import SealError, unwrap_key
from consortium.errors import ExecutionReverted
from consortium.system.client import GovernanceClient
from tests.support.evmutil import dev_accounts
from tests.support.localnet import LocalNet, wait_for

MEMBERS = ["Bank A", "Bank B", "Bank C", "Bank D"]
VIA = {"Bank A": "node0", "Bank B": "node1", "Bank C": "node2", "Bank D": "node3"}


class Forum:
    """Each member's forum and governance clients, through its own node."""

    def __init__(self, net: LocalNet) -> None:
        self.net = net
        self.keys = dev_accounts(net)
        self.urls = {m: net.node(VIA[m]).api_url for m in MEMBERS}
        self.forums = {m: ForumClient(self.urls[m]) for m in MEMBERS}
        self.govs = {m: GovernanceClient(self.urls[m]) for m in MEMBERS}
        self.tip = 0

    def addr(self, member: str) -> str:
        return str(self.keys[member].address).lower()

    def at(self, member: str) -> ForumClient:
        """`member`'s client, once its node has every block the others' steps made."""
        client = self.forums[member]
        wait_for(lambda: client.height() >= self.tip, 30,
                 f"{VIA[member]} to reach block {self.tip}")
        return client

    def did(self, outcome: dict[str, Any]) -> dict[str, Any]:
        self.tip = max(self.tip, int(outcome["block"]))
        return outcome

    def pass_(self, propose: Any) -> None:
        """Bank A proposes through node0; members vote, each through its node, until it
        executes."""
        self.at("Bank A")
        out = self.did(propose(self.govs["Bank A"]))
        status = out["status"]
        for member in MEMBERS:
            if status != "open":
                break
            self.at(member)
            status = self.did(self.govs[member].vote(self.keys[member], out["proposal"],
                                                     True))["status"]
        assert status == "executed"


@pytest.fixture(scope="module")
def f(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Forum]:
    net = LocalNet(tmp_path_factory.mktemp("forum") / "net", validators=4, members=MEMBERS)
    net.up()
    try:
        net.wait_height(2)
        forum = Forum(net)
        a, b = forum.addr("Bank A"), forum.addr("Bank B")
        forum.pass_(lambda gov: gov.propose_form_task_force(
            forum.keys["Bank A"], "Research", "Joint PoC on tokenised deposits", a, [a, b]))
        forum.pass_(lambda gov: gov.propose_elect_officer(
            forum.keys["Bank A"], "secretary", forum.addr("Bank D"), 100_000))
        for member in MEMBERS:
            forum.did(forum.at(member).register_key(forum.keys[member]))
        yield forum
    finally:
        net.cleanup()


def _post_on(f: Forum, reader: str, post_id: int) -> dict[str, Any]:
    client = f.at(reader)
    found = client.read.post(post_id)
    assert found is not None
    return client.open_post(f.keys[reader], found)


def test_1_a_member_posts_another_reads_a_non_member_sees_ciphertext(f: Forum) -> None:
    post = f.did(f.at("Bank A").post(f.keys["Bank A"], "Research",
                                     "Tokenised deposit settlement: 412 ms median in the PoC",
                                     title="PoC results"))
    by_b = _post_on(f, "Bank B", post["id"])
    assert by_b["readable"] and by_b["title"] == "PoC results"
    assert by_b["body"] == "Tokenised deposit settlement: 412 ms median in the PoC"
    by_d = _post_on(f, "Bank D", post["id"])
    assert not by_d["readable"] and "holds no key" in by_d["why"]
    raw = httpx.post(f.urls["Bank D"], json={"jsonrpc": "2.0", "id": 1,
                                             "method": "consortium_forumPost",
                                             "params": [post["id"]]}).json()["result"]
    assert raw["encrypted"] and "body" not in raw and "Tokenised" not in json.dumps(raw)
    # Bank D's own key opens none of the keys wrapped for the members.
    epoch = f.at("Bank D").read.epoch("Research", raw["epoch"])
    assert epoch is not None and set(epoch["wrappedKeys"]) == {f.addr("Bank A"),
                                                               f.addr("Bank B")}
    for wrapped in epoch["wrappedKeys"].values():
        with pytest.raises(SealError):
            unwrap_key(bytes.fromhex(wrapped[2:]), f.keys["Bank D"].key)


def test_2_a_removed_member_cannot_read_later_posts_an_added_member_can(f: Forum) -> None:
    a, c = f.addr("Bank A"), f.addr("Bank C")
    before = f.did(f.at("Bank B").post(f.keys["Bank B"], "Research", "Bank B's last memo"))
    f.pass_(lambda gov: gov.propose_set_task_force_members(f.keys["Bank A"], "Research", a,
                                                           [a, c]))
    # Bank C's first post publishes the new key epoch (for Banks A and C) itself.
    after = f.did(f.at("Bank C").post(f.keys["Bank C"], "Research",
                                      "Joining: interbank netting prototype plan"))
    also = f.did(f.at("Bank A").post(f.keys["Bank A"], "Research", "Welcome, Bank C"))
    assert f.at("Bank A").read.channel("Research")["epoch"] == 2  # type: ignore[index]
    for post_id, text in ((after["id"], "Joining: interbank netting prototype plan"),
                          (also["id"], "Welcome, Bank C")):
        assert _post_on(f, "Bank C", post_id)["body"] == text
        assert _post_on(f, "Bank A", post_id)["body"] == text
        assert not _post_on(f, "Bank B", post_id)["readable"]
    assert _post_on(f, "Bank B", before["id"])["body"] == "Bank B's last memo"
    assert not _post_on(f, "Bank C", before["id"])["readable"]  # before it joined


def test_3_a_private_document_round_trips_and_a_tampered_blob_is_refused(
        f: Forum, tmp_path: Path) -> None:
    paper = bytes(range(256)) * 48 + b"\x00\xff end"  # 12 KiB of binary
    kept = f.did(f.at("Bank A").attach(f.keys["Bank A"], "Research", paper,
                                       name="netting-paper.bin"))
    assert kept["onChain"]
    data, doc = f.at("Bank C").fetch(f.keys["Bank C"], kept["document"])
    assert data == paper and doc["meta"]["name"] == "netting-paper.bin"
    assert f.at("Bank D").read.blob(bytes.fromhex(kept["sha256"][2:])) != paper  # ciphertext
    # A larger spec is anchored by hash; node0 keeps it; Bank C downloads it through node2.
    spec = b"PoC specification, section 1. " * 4000
    anchored = f.did(f.at("Bank A").attach(f.keys["Bank A"], "Research", spec,
                                           name="spec.txt", keep="node"))
    assert not anchored["onChain"]
    assert f.at("Bank C").fetch(f.keys["Bank C"], anchored["document"])[0] == spec
    home = f.net.network.node_home(f.net.node("node0"))
    blob = home / "app" / BLOB_DIR_NAME / anchored["sha256"][2:]
    blob.write_bytes(b"X" + blob.read_bytes()[1:])
    with pytest.raises(BlobMismatch) as refused:
        f.at("Bank C").fetch(f.keys["Bank C"], anchored["document"])
    assert f"the chain records {anchored['sha256']}" in refused.value.message
    assert "its SHA-256 is 0x" in refused.value.message


def test_4_search_finds_a_post_for_a_reader_and_nothing_for_a_non_reader(
        f: Forum, tmp_path: Path) -> None:
    hits = f.at("Bank C").search(f.keys["Bank C"], "netting prototype",
                                 index=tmp_path / "c.sqlite")
    assert [h["channel"] for h in hits] == ["Research"] and "netting" in hits[0]["snippet"]
    assert f.at("Bank B").search(f.keys["Bank B"], "netting prototype",
                                 index=tmp_path / "b.sqlite") == []
    assert f.at("Bank D").search(f.keys["Bank D"], "netting",
                                 index=tmp_path / "d.sqlite", rebuild=True) == []


def test_5_refusals_name_their_reason(f: Forum) -> None:
    with pytest.raises(ExecutionReverted, match="is not a member of task force 'Research'"):
        f.at("Bank D").post(f.keys["Bank D"], "Research", "may I?")
    public = f.did(f.at("Bank B").post(f.keys["Bank B"], "consortium", "AGM on 3 March",
                                       title="AGM"))
    with pytest.raises(ExecutionReverted, match="holds no office: only officers pin"):
        f.at("Bank C").pin(f.keys["Bank C"], public["id"])
    f.did(f.at("Bank D").pin(f.keys["Bank D"], public["id"]))  # the secretary
    assert [p["id"] for p in f.at("Bank A").read.pinned("consortium")] == [public["id"]]
    with pytest.raises(ExecutionReverted, match="over the forum's limit of 65536 bytes"):
        f.at("Bank A").attach(f.keys["Bank A"], "Research", b"x" * 70_000, name="big.bin",
                              keep="chain")
