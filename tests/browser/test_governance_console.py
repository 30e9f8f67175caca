"""Issue 20, browser test 1: governance through the console, on a real two-node network.

Bank A signs in on node 0's console with its keystore file (decrypted in the page), proposes a
role grant and votes for it; Bank B, signed in on node 1's console in a second browser
context, votes; the proposal executes and both pages show it — and the role it granted —
without a reload. On the way: a mistyped address is refused before anything is signed, a
second vote is refused by the contract's dry run, with its reason in words, and a receipt's
events read as a short list (accounts by their member's name), the raw logs folded under it.
The app-call builder has the look of the forms around it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account

from consortium.network.init import write_keystore
from tests.browser.signing import WAIT_MS, console, expect, same_document, sign_in, two_members
from tests.support.evmutil import dev_accounts
from tests.support.localnet import LocalNet

__all__ = ["console"]  # the fixture, imported for pytest


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[LocalNet]:
    yield from two_members(tmp_path_factory, "console-governance",
                           roles={"Bank A": ["registrar"]})  # an asset class's registrar


def mistyped(address: str) -> str:
    """An EIP-55 address with one letter's case flipped: its checksum no longer holds."""
    i = next(i for i, c in enumerate(address[2:], 2) if c.isalpha())
    return address[:i] + address[i].swapcase() + address[i + 1:]


def proposal_row(page: Any, pid: int) -> Any:
    return page.locator(f"#proposal-{pid}")


def test_propose_and_vote_from_two_nodes(console: Callable[[str, str], Any], net: LocalNet,
                                         shot: Callable[[Any, str], Path]) -> None:
    a = console("node0", "/governance")
    b = console("node1", "/governance")
    keystores = net.root / "keystores"
    for page, member in ((a, "Bank A"), (b, "Bank B")):
        sign_in(page, keystores / f"{member.lower().replace(' ', '-')}.json", member)
        expect(page.locator("#signed-in .roles")).to_contain_text("committee")
    b_address = b.evaluate("document.querySelector('#signed-in .who').title")

    # a mistyped (checksum-failing) address is refused in the page: nothing is signed
    a.locator("#proposal-kind").select_option("governance.grant-role")
    form = a.locator("form[data-key='governance.grant-role']")
    form.get_by_label("account").fill(mistyped(b_address))
    form.get_by_label("role").select_option("auditor")
    form.get_by_role("button", name="Propose").click()
    expect(form.locator(".outcome")).to_contain_text("fails its checksum", timeout=WAIT_MS)

    # proposing with the member's name: resolved to its account, dry-run, signed, sent
    form.get_by_label("account").fill("Bank B")
    form.get_by_role("button", name="Propose").click()
    expect(form.locator(".outcome")).to_contain_text("Proposed in block", timeout=WAIT_MS)
    expect(form.locator(".outcome")).to_contain_text("ProposalCreated")
    # the receipt's events: a short list, each its name and key fields, an account by its
    # member's name; the raw logs folded away until asked for
    event = form.locator(".outcome ul.events li.event")
    expect(event).to_have_count(1)
    expect(event.locator(".event-name")).to_have_text("ProposalCreated")
    expect(event).to_contain_text("kind=grant-role")
    expect(event).to_contain_text("proposer=Bank A", timeout=WAIT_MS)
    raw = form.locator(".outcome details.raw-events")
    expect(raw.locator("pre")).to_be_hidden()
    a_address = a.evaluate("document.querySelector('#signed-in .who').title")
    assert a_address.lower() not in form.locator(".outcome").inner_text().lower()
    raw.locator("summary").click()
    expect(raw.locator("pre")).to_contain_text("ProposalCreated(id=1, kind=grant-role, "
                                               "proposer=0x")
    assert a_address.lower() in raw.locator("pre").inner_text().lower()
    expect(raw.locator("pre")).to_contain_text("topics 0x")
    shot(a, "a-receipt")
    row_a = proposal_row(a, 1)
    expect(row_a).to_contain_text("grant-role", timeout=WAIT_MS)
    expect(row_a).to_contain_text("auditor")
    expect(row_a.locator(".status")).to_have_text("open")

    row_a.get_by_role("button", name="Vote yes").click()
    expect(a.locator("#vote-outcome-text")).to_contain_text("Voted yes in block", timeout=WAIT_MS)
    expect(row_a).to_contain_text("yes 1 · no 0 of 2", timeout=WAIT_MS)
    # a member votes once: its buttons give way to how it voted
    expect(proposal_row(a, 1).get_by_role("button", name="Vote yes")).to_be_hidden()
    expect(proposal_row(a, 1).get_by_role("button", name="Vote no")).to_be_hidden()
    expect(proposal_row(a, 1).locator(".voted")).to_have_text(
        "Bank A voted yes: a member votes once.")
    # and a second vote sent anyway (the hidden form submitted) is refused by the contract's
    # dry run, in words, before anything is signed
    a.evaluate("document.querySelector('#proposal-1 .vote-buttons form').requestSubmit()")
    expect(a.locator("#vote-outcome-text")).to_contain_text(
        "Refused: execution reverted: member 'Bank A' already voted on proposal 1",
        timeout=WAIT_MS)
    shot(a, "a-proposed")

    # B, on node 1, sees A's vote arrive live, then votes: the proposal executes
    row_b = proposal_row(b, 1)
    expect(row_b).to_contain_text("yes 1 · no 0 of 2", timeout=WAIT_MS)
    expect(row_b.locator(".status")).to_have_text("open")
    shot(b, "b-before-vote")
    row_b.get_by_role("button", name="Vote yes").click()
    expect(b.locator("#vote-outcome-text")).to_contain_text("Voted yes in block", timeout=WAIT_MS)
    expect(b.locator("#vote-outcome-text")).to_contain_text("ProposalExecuted")

    # both pages show it executed, and B's new role, without a reload
    for page, name in ((a, "a"), (b, "b")):
        expect(proposal_row(page, 1).locator(".status")).to_have_text("executed", timeout=WAIT_MS)
        expect(page.locator("#roles")).to_contain_text("auditor")
        expect(page.locator("#proposals")).to_contain_text("No open proposals.")
        assert same_document(page)
        shot(page, f"{name}-executed")
    expect(b.locator("#signed-in .roles")).to_contain_text("auditor", timeout=WAIT_MS)


def test_browser_wallet_proposes_and_only_its_proposer_revokes(
        console: Callable[[str, str], Any], net: LocalNet,
        shot: Callable[[Any, str], Path]) -> None:
    """Bank B signs in with an injected EIP-1193 wallet (it signs, the page never holds the
    key) and proposes electing itself chair; Bank A, on the other node, is offered no revoke
    button for it; B revokes it, and both pages show it revoked."""
    key = dev_accounts(net)["Bank B"].key.hex()
    b = console("node1", "/governance", wallet_key=key)
    a = console("node0", "/governance")
    sign_in(a, net.root / "keystores" / "bank-a.json", "Bank A")
    b.get_by_role("button", name="Sign in", exact=True).click()
    b.get_by_role("button", name="Use the browser wallet").click()
    expect(b.locator("#signed-in .member")).to_have_text("Bank B", timeout=WAIT_MS)

    b.locator("#proposal-kind").select_option("governance.elect-officer")
    form = b.locator("form[data-key='governance.elect-officer']")
    form.get_by_label("office").fill("chair")
    form.get_by_label("holder").fill("Bank B")
    form.get_by_label("term blocks").fill("1000")
    form.get_by_role("button", name="Propose").click()
    expect(form.locator(".outcome")).to_contain_text("Proposed in block", timeout=WAIT_MS)
    pid = int(form.locator(".outcome").inner_text().split("ProposalCreated(id=")[1].split(",")[0])
    calls = b.evaluate("window.__walletCalls")
    assert "eth_sendTransaction" in calls and "eth_requestAccounts" in calls

    row_a, row_b = proposal_row(a, pid), proposal_row(b, pid)
    expect(row_a).to_contain_text("chair", timeout=WAIT_MS)
    expect(row_a.get_by_role("button", name="Vote yes")).to_be_visible()
    expect(row_a.get_by_role("button", name="Revoke")).to_be_hidden()
    row_b.get_by_role("button", name="Revoke").click()
    expect(b.locator("#vote-outcome-text")).to_contain_text("Revoked in block", timeout=WAIT_MS)
    for page in (a, b):
        expect(proposal_row(page, pid).locator(".status")).to_have_text("revoked",
                                                                        timeout=WAIT_MS)
    shot(b, "b-revoked")
    assert same_document(a) and same_document(b)
    # on the next page the wallet signs in again without asking (eth_accounts)
    b.goto(f"{net.node('node1').api_url}/console/services/cash")
    expect(b.locator("#signed-in .member")).to_have_text("Bank B", timeout=WAIT_MS)
    assert b.evaluate("window.__walletCalls")[-2:] == ["eth_accounts", "eth_requestAccounts"]


def test_an_outsider_is_offered_nothing(console: Callable[[str, str], Any], net: LocalNet,
                                        tmp_path: Path) -> None:
    """A keystore of an account that belongs to no member signs in (it decrypts in the
    page), is told it cannot transact, and is offered no form."""
    keystore = tmp_path / "outsider.json"
    address = write_keystore(keystore, Account.create().key, "", fast=True)
    page = console("node0", "/governance")
    sign_in(page, keystore, "not a member")
    expect(page.locator("#signed-in .who")).to_have_attribute("title", address)
    expect(page.locator("#signed-in .barred")).to_contain_text(
        "cannot transact: not a consortium member's account")
    expect(page.locator("form.sign-form:visible")).to_have_count(0)


def test_an_app_call_proposal_creates_an_asset_class(
        console: Callable[[str, str], Any], net: LocalNet,
        shot: Callable[[Any, str], Path]) -> None:
    """Bank A builds an app-call from the registry's createClass (inputs from its ABI,
    checked and encoded in the page), proposes and votes; Bank B votes on node 1; the class
    exists and the registry's service page lists it."""
    a = console("node0", "/governance")
    b = console("node1", "/governance")
    sign_in(a, net.root / "keystores" / "bank-a.json", "Bank A")
    sign_in(b, net.root / "keystores" / "bank-b.json", "Bank B")
    a.locator("#proposal-kind").select_option("governance.app-call")
    a.locator("#app-call-method").select_option("registry/createClass")
    build = a.locator("form.app-call-args")
    # the builder's form looks like the proposal form under it: laid out and styled alike
    look = """f => {
        const field = getComputedStyle(f.querySelector('.field'));
        const input = getComputedStyle(f.querySelector('input[type=text]'));
        return {display: getComputedStyle(f).display, columns: field.gridTemplateColumns,
                padding: input.padding, border: input.border, radius: input.borderRadius}; }"""
    expect(build.get_by_label("name")).to_be_visible()
    built = build.evaluate(look)
    assert built == a.locator("form[data-key='governance.app-call']").evaluate(look), built
    assert built["display"] == "grid" and built["radius"] == "4px", built
    method = a.locator(".app-call-builder > .field").evaluate(
        "f => getComputedStyle(f).gridTemplateColumns")
    assert method == built["columns"], (method, built)
    build.get_by_label("name").fill("Land")
    build.get_by_label("schema hash").fill("0x" + "ab" * 31)  # one byte short
    build.get_by_label("registrars").fill("Bank A")
    build.get_by_label("k").fill("1")
    build.get_by_role("button").click()
    expect(build.locator(".outcome")).to_contain_text("schema hash: expected a 0x hash",
                                                      timeout=WAIT_MS)
    build.get_by_label("schema hash").fill("0x" + "ab" * 32)
    build.get_by_role("button").click()
    expect(build.locator(".outcome")).to_contain_text("Encoded registry: createClass")
    propose = a.locator("form[data-key='governance.app-call']")
    assert propose.get_by_label("call").input_value().startswith("0x")
    propose.get_by_role("button", name="Propose").click()
    expect(propose.locator(".outcome")).to_contain_text("Proposed in block", timeout=WAIT_MS)
    pid = int(propose.locator(".outcome").inner_text().split("ProposalCreated(id=")[1]
              .split(",")[0])
    expect(proposal_row(a, pid)).to_contain_text("Registry.createClass('Land'", timeout=WAIT_MS)
    proposal_row(a, pid).get_by_role("button", name="Vote yes").click()
    expect(a.locator("#vote-outcome-text")).to_contain_text("Voted yes", timeout=WAIT_MS)
    expect(proposal_row(b, pid)).to_contain_text("yes 1", timeout=WAIT_MS)
    proposal_row(b, pid).get_by_role("button", name="Vote yes").click()
    for page in (a, b):
        expect(proposal_row(page, pid).locator(".status")).to_have_text("executed",
                                                                        timeout=WAIT_MS)
    shot(a, "a-app-call-executed")
    # the vote's transaction in the explorer, decoded
    link = a.locator("#vote-outcome-text a.tx-link")
    tx_hash = link.get_attribute("href").rsplit("/", 1)[1]
    link.click()
    expect(a.locator("main")).to_contain_text(tx_hash, timeout=WAIT_MS)
    expect(a.locator("main")).to_contain_text("vote")
    shot(a, "a-vote-in-explorer")
    a.goto(f"{net.node('node0').api_url}/console/services/registry")
    expect(a.locator("#result-classes")).to_contain_text("Land", timeout=WAIT_MS)
