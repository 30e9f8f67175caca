"""Issue 20's test 3: a task force's encrypted post, read in the browser.

Three members, a node each. Bank A and Bank B form the task force "Risk" (a proposal both
vote for); Bank A posts in it through the Python client, sealed for the two of them. On the
console's forum page Bank B, signed in on node 1 with its keystore, reads the post —
unwrapped and opened in the page, the node serving only ciphertext — and sees a reply
arrive live; Bank C, signed in on node 2, sees it locked, saying why; nobody signed in sees
it locked too. The consortium channel's plain post reads the same for everyone.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from consortium.apps.forum import ForumClient
from consortium.system.client import GovernanceClient
from tests.browser.conftest import running_net
from tests.browser.signing import WAIT_MS, console, expect, same_document, sign_in
from tests.support.evmutil import dev_accounts
from tests.support.localnet import LocalNet, wait_for

__all__ = ["console"]  # the fixture, imported for pytest

MEMBERS = ["Bank A", "Bank B", "Bank C"]
SECRET = "Counterparty X exposure is 12 % of capital; cut limits by Friday."
WRITTEN = "Stress scenario B: a 40 % haircut on the collateral; sealed in the page."
JOINED = "Bank C here: glad to join; our exposure to X is 3 %."
PAPER = b"counterparty,limit\nX,1200000\nY,800000\n"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[LocalNet]:
    nets = running_net(tmp_path_factory, "console-forum", validators=3, members=MEMBERS)
    network = next(nets)
    try:
        keys = dev_accounts(network)
        url = network.node("node0").api_url
        gov, forum = GovernanceClient(url), ForumClient(url)
        a, b = (keys[m].address.lower() for m in ("Bank A", "Bank B"))
        pid = gov.propose_form_task_force(keys["Bank A"], "Risk", "Limits", a, [a, b])["proposal"]
        for member in ("Bank A", "Bank B"):
            gov.vote(keys[member], pid, True)
        assert gov.proposal(pid)["status"] == "executed"
        forum.register_key(keys["Bank B"])
        forum.post(keys["Bank A"], "Risk", SECRET, title="Q3 exposure")
        forum.post(keys["Bank C"], "consortium", "Members' meeting on Monday.", title="Agenda")
        height = int(gov.client.w3.eth.block_number)
        for node in ("node1", "node2"):  # the posts reached the other consoles' nodes
            wait_for(lambda n=node: network.height(n) >= height, 30, f"{node} at {height}")
        yield network
    finally:
        nets.close()  # the network's cleanup


def test_a_task_force_post_opens_for_its_members_only(
        console: Callable[[str, str], Any], net: LocalNet,
        shot: Callable[[Any, str], Path], tmp_path: Path) -> None:
    keystores = net.root / "keystores"
    b = console("node1", "/forum")
    expect(b.locator("main")).to_contain_text("Risk")
    expect(b.locator("main")).to_contain_text("task force, sealed")
    b.get_by_role("link", name="Risk").click()
    post = b.locator("article.post").first
    expect(post.locator(".title")).to_have_text("Locked", timeout=WAIT_MS)
    expect(post).to_contain_text("sign in with a member's keystore to read it")
    sign_in(b, keystores / "bank-b.json", "Bank B")
    b.evaluate("window.__sameDocument = true")
    expect(post.locator(".title")).to_have_text("Q3 exposure", timeout=WAIT_MS)
    expect(post.locator(".body")).to_have_text(SECRET)
    shot(b, "b-reads")

    c = console("node2", "/forum/channel/Risk")
    sign_in(c, keystores / "bank-c.json", "Bank C")
    locked = c.locator("article.post").first
    expect(locked.locator(".title")).to_have_text("Locked", timeout=WAIT_MS)
    expect(locked).to_contain_text("was not a member of task force Risk")
    assert SECRET not in c.locator("main").inner_text()
    shot(c, "c-locked")

    # the node only ever served ciphertext
    raw = httpx.post(net.node("node2").api_url, json={
        "jsonrpc": "2.0", "id": 1, "method": "consortium_forumPosts", "params": ["Risk"]}).json()
    assert raw["result"][0]["encrypted"] and "Counterparty" not in str(raw)

    # a reply sealed by Bank A arrives live in B's page and opens there
    keys = dev_accounts(net)
    ForumClient(net.node("node0").api_url).reply(keys["Bank A"], raw["result"][0]["id"],
                                                 "Done: limits cut.")
    reply = b.locator(".reply article.post").first
    expect(reply.locator(".body")).to_have_text("Done: limits cut.", timeout=WAIT_MS)
    expect(c.locator(".reply article.post .title").first).to_have_text("Locked",
                                                                       timeout=WAIT_MS)
    assert same_document(b)

    # B writes in the task force from the page: sealed there, opened by A's Python client
    b.locator("#forum-title").fill("Scenario B")
    b.locator("#forum-body").fill(WRITTEN)
    b.get_by_role("button", name="Seal and post").click()
    expect(b.locator("#forum-post-outcome")).to_contain_text("sealed in this page",
                                                             timeout=WAIT_MS)
    expect(b.locator("article.post", has_text="Scenario B").locator(".body")).to_have_text(
        WRITTEN, timeout=WAIT_MS)
    forum = ForumClient(net.node("node0").api_url)
    opened = [p for p in forum.read_channel(keys["Bank A"], "Risk") if p["title"] == "Scenario B"]
    assert [p["body"] for p in opened] == [WRITTEN]
    assert "haircut" not in str(forum.read.posts("Risk"))  # the node holds ciphertext
    expect(c.locator("article.post .title").filter(has_text="Locked")).to_have_count(
        3, timeout=WAIT_MS)  # the thread, A's reply and B's new thread: all locked for C

    # documents sealed and attached in B's page, downloaded there checked against their hash
    # and opened by A's Python client: one on chain, one too large for it (anchored by its
    # hash, its bytes given to node 1, which A's client fetches them from)
    paper = attach_and_download(b, tmp_path / "limits.csv", PAPER, "on chain")
    assert forum.fetch(keys["Bank A"], paper)[0] == PAPER
    scenario = os.urandom(70_000)
    anchored = attach_and_download(b, tmp_path / "scenario.bin", scenario, "anchored")
    assert forum.fetch(keys["Bank A"], anchored)[0] == scenario
    c_row = c.locator("table.forum-documents tbody tr").first
    expect(c_row.locator(".doc-name")).to_have_text("Locked", timeout=WAIT_MS)
    c_row.get_by_role("button", name="Download").click()
    expect(c_row.locator(".outcome")).to_contain_text("was not a member of task force Risk")
    expect(c.locator("#forum-compose")).to_contain_text("Only task force Risk's members write")
    expect(c.get_by_role("button", name="Seal and post")).to_be_hidden()
    shot(b, "b-wrote")
    shot(c, "c-still-locked")
    # signing out locks B's page again (the unwrapped channel keys forgotten with the key)
    b.get_by_role("button", name="Sign out", exact=True).click()
    expect(post.locator(".title")).to_have_text("Locked", timeout=WAIT_MS)
    expect(b.locator("table.forum-documents .doc-name").first).to_have_text("Locked")
    assert SECRET not in b.locator("main").inner_text()

    # search runs in the page: B finds its task force's post; C, outside it, does not
    for node, keystore, member, found in (("node1", "bank-b.json", "Bank B", 1),
                                          ("node2", "bank-c.json", "Bank C", 0)):
        page = console(node, "/forum")
        sign_in(page, keystores / keystore, member)
        page.locator("#forum-search input[name=q]").fill("HAIRCUT scenario")
        page.get_by_role("button", name="Search the forum").click()
        status = page.locator("#forum-search-status")
        expect(status).to_contain_text(
            f"{found} post{'' if found == 1 else 's'} and 0 documents found")
        if found:
            expect(page.locator("#forum-results")).to_contain_text("Risk #")
            expect(page.locator("#forum-results")).to_contain_text(WRITTEN[:30])
        else:
            expect(status).to_contain_text("sealed posts this page cannot open")
        shot(page, f"search-{member.replace(' ', '-').lower()}")
        # a document by the SHA-256 of its file, which only its sealed metadata names: found
        # by B, not by C (who cannot open it)
        page.locator("#forum-search input[name=q]").fill(hashlib.sha256(PAPER).hexdigest())
        page.get_by_role("button", name="Search the forum").click()
        expect(status).to_contain_text(f"0 posts and {found} document{'' if found else 's'} found")
        if found:
            expect(page.locator("#forum-results")).to_contain_text("Risk document #1 · limits.csv")

    open_channel = console("node2", "/forum/channel/consortium")
    expect(open_channel.locator("article.post .title").first).to_have_text("Agenda")
    expect(open_channel.locator("main")).to_contain_text("Members' meeting on Monday.")
    # minutes written in the open channel from the page: plain, linked to the proposal
    sign_in(open_channel, keystores / "bank-c.json", "Bank C")
    formed = int(gov_proposals(net)[0]["id"])
    open_channel.locator("#forum-title").fill("Minutes of Monday")
    open_channel.locator("#forum-body").fill("Risk was formed; Bank C abstained.")
    open_channel.locator("#forum-minutes").fill(str(formed))
    open_channel.get_by_role("button", name="Post", exact=True).click()
    minutes = open_channel.locator("article.post", has_text="Minutes of Monday")
    expect(minutes).to_contain_text(f"minutes of proposal #{formed}", timeout=WAIT_MS)
    assert [m["body"] for m in forum.read.minutes_of(formed)] == [
        "Risk was formed; Bank C abstained."]
    missing = httpx.get(f"{net.node('node2').api_url}/console/forum/channel/Nowhere")
    assert missing.status_code == 404 and "Nowhere" in missing.text


def channel_epoch(net: LocalNet) -> int:
    return int(ForumClient(net.node("node0").api_url).read.channel("Risk")["epoch"])


def gov_proposals(net: LocalNet) -> list[dict[str, Any]]:
    return list(GovernanceClient(net.node("node0").api_url).proposals())


def attach_and_download(page: Any, path: Path, data: bytes, kept: str) -> int:
    """Attach a file in the page's channel, download it back (checked in the page against
    the chain's hash and opened there): its document id."""
    path.write_bytes(data)
    page.locator("#forum-file").set_input_files(str(path))
    page.get_by_role("button", name="Seal and attach").click()
    outcome = page.locator("#forum-attach-outcome")
    expect(outcome).to_contain_text(f"Attached {path.name}", timeout=WAIT_MS)
    expect(outcome).to_contain_text(kept)
    row = page.locator("table.forum-documents tr", has_text=path.name)
    with page.expect_download() as download:
        row.get_by_role("button", name="Download").click()
    assert Path(download.value.path()).read_bytes() == data
    assert download.value.suggested_filename == path.name
    expect(row.locator(".outcome")).to_contain_text("SHA-256 matches the chain")
    return int(row.locator("td").first.inner_text())


def test_a_joining_member_writes_under_a_key_its_page_publishes(
        console: Callable[[str, str], Any], net: LocalNet,
        shot: Callable[[Any, str], Path]) -> None:
    """Bank C joins task force Risk; in its page it registers its forum key, publishes a new
    key epoch wrapped for A, B and C (ECIES in the page) and posts under it: A's Python
    client opens the post; the posts before C joined stay locked for C. Elected secretary,
    C pins its post as an announcement."""
    keys = dev_accounts(net)
    url = net.node("node0").api_url
    gov, forum = GovernanceClient(url), ForumClient(url)
    a, b, c = (keys[m].address.lower() for m in MEMBERS)
    assert forum.read.public_key(c) is None
    watcher = console("node0", "/forum")  # its channel list follows without a reload
    risk = watcher.locator("#forum-channels tr", has_text="Risk")
    expect(risk).not_to_contain_text("Bank C")
    for pid in (
            gov.propose_set_task_force_members(keys["Bank A"], "Risk", a, [a, b, c])["proposal"],
            gov.propose_elect_officer(keys["Bank A"], "secretary", c, 100_000)["proposal"]):
        for member in ("Bank A", "Bank B"):
            gov.vote(keys[member], pid, True)
        assert gov.proposal(pid)["status"] == "executed"
    height = int(gov.client.w3.eth.block_number)
    wait_for(lambda: net.height("node2") >= height, 30, f"node2 at {height}")

    page = console("node2", "/forum/channel/Risk")
    sign_in(page, net.root / "keystores" / "bank-c.json", "Bank C")
    page.locator("#forum-title").fill("Joining")
    page.locator("#forum-body").fill(JOINED)
    page.get_by_role("button", name="Seal and post").click()
    expect(page.locator("#forum-post-outcome")).to_contain_text("sealed in this page",
                                                                timeout=WAIT_MS)
    expect(page.locator("article.post", has_text="Joining").locator(".body")).to_have_text(
        JOINED, timeout=WAIT_MS)
    expect(page.locator("article.post").first.locator(".title")).to_have_text("Locked")
    shot(page, "c-joined")

    # C, now the secretary, pins its post as an announcement from the page
    joined = page.locator("#forum-posts .thread article.post", has_text="Joining")
    joined.get_by_role("button", name="pin as announcement").click()
    expect(page.locator("#forum-pin-outcome")).to_contain_text("pinned as an announcement",
                                                               timeout=WAIT_MS)
    expect(page.locator(".announcements article.post .body")).to_have_text(JOINED,
                                                                           timeout=WAIT_MS)
    shot(page, "c-pinned")
    expect(risk).to_contain_text("Bank C")
    expect(risk.locator("td").nth(6)).to_have_text(str(channel_epoch(net)))  # C's page's epoch
    assert same_document(watcher)

    channel = forum.read.channel("Risk")
    assert sorted(forum.read.epoch_members("Risk", channel["epoch"])) == sorted([a, b, c])
    assert forum.read.public_key(c) is not None  # registered from the page
    opened = [p for p in forum.read_channel(keys["Bank A"], "Risk") if p["title"] == "Joining"]
    assert [(p["body"], p["epoch"]) for p in opened] == [(JOINED, channel["epoch"])]


def test_an_anchored_document_downloads_from_the_node_that_keeps_it(
        console: Callable[[str, str], Any], net: LocalNet,
        shot: Callable[[Any, str], Path]) -> None:
    """Bank C anchors a document through node 0, which alone keeps its bytes; node 1's
    console downloads it from node 0 (its blob GET allows any origin), checked against the
    hash on chain, as `consortium forum fetch` does."""
    keys = dev_accounts(net)
    data = os.urandom(80_000)
    forum = ForumClient(net.node("node0").api_url)
    doc = forum.attach(keys["Bank C"], "consortium", data, name="annex.bin", keep="node")
    doc_id = int(doc.get("document", doc.get("id", 0)))
    assert httpx.get(f"{net.node('node1').api_url}/api/v1/forum/blobs/0x"
                     f"{hashlib.sha256(data).hexdigest()}").status_code == 404
    page = console("node1", "/forum/channel/consortium")
    row = page.locator("table.forum-documents tr", has_text="annex.bin")
    expect(row).to_be_visible(timeout=WAIT_MS)
    with page.expect_download() as download:
        row.get_by_role("button", name="Download").click()
    assert Path(download.value.path()).read_bytes() == data
    expect(row.locator(".outcome")).to_contain_text(
        f"from {net.node('node0').api_url}, the node that keeps it, SHA-256 matches the chain")
    shot(page, "downloaded-from-keeper")
    assert doc_id >= 1
