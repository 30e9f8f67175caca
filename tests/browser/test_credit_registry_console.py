"""The credit and registry console pages on a real 2-validator network, each party a browser
context signed in with its keystore through a node's console.

Credit: the Borrower gives Bank A a consent from its page (expiry counted in blocks); Bank A
orders a report and Agency X (node 1) accepts, then delivers the report file, each from its
page (the file hashed there; its location an http server of the test's). Bank A's page on
node 0 sees the query delivered live, downloads the report — it matches its hash and is saved
— and a tampered copy (picked, or served at the location) is refused with both hashes, nothing
saved. Bank A confirms and sees the query's transitions; reports a record, corrects it, and
blacklists the Borrower on a default record.

Registry: a class with one registrar is created by vote (SDK); the Borrower applies for an
asset from its page (external id HMAC'd under the consortium key file and the deed hashed in
the page: the chain's hash equals the CLI's), Registrar 1 approves from its page on node 1,
and the Borrower's page shows the asset registered with its history, without a reload; then
pledged to Bank A, its transfer refused in words, released by Bank A from its page, and
frozen by the court.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from consortium.apps.invoices.fingerprint import key_from_node_home
from consortium.apps.registry import RegistryClient
from consortium.apps.registry.external_id import external_id_hash
from consortium.system.client import GovernanceClient
from tests.browser.conftest import running_net
from tests.browser.signing import WAIT_MS, console, expect, same_document, sign_in
from tests.support.evmutil import dev_accounts
from tests.support.localnet import LocalNet

__all__ = ["console"]  # the fixture, imported for pytest
pytestmark = [pytest.mark.timeout(240), pytest.mark.slow]

MEMBERS = ["Bank A", "Agency X", "Borrower", "Registrar 1", "Court"]
ROLES = {"Bank A": ["lender"], "Agency X": ["credit_agency"], "Registrar 1": ["registrar"],
         "Court": ["court"]}
REPORT = b"%PDF-1.7 Agency X credit report: 2 loans, no default, score 741\n"


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[LocalNet]:
    yield from running_net(tmp_path_factory, "console-credit-registry", validators=2,
                           members=MEMBERS, roles=ROLES)


@pytest.fixture
def reports(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An agency's report server (CORS open, as a page on another origin needs): its base URL
    and the folder it serves (the test changes what is in it)."""
    folder = tmp_path / "served"
    folder.mkdir()

    class Handler(SimpleHTTPRequestHandler):
        def end_headers(self) -> None:
            self.send_header("Access-Control-Allow-Origin", "*")
            super().end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", folder
    finally:
        server.shutdown()
        server.server_close()


def write_form(page: Any, key: str) -> Any:
    """A declared write's form, its <details> opened."""
    form = page.locator(f'form[data-key="{key}"]')
    details = page.locator("details.write", has=form)
    if details.count() and details.get_attribute("open") is None:
        details.locator("summary").click()
    return form


def test_credit_report_delivered_downloaded_and_checked(
        console: Callable[..., Any], net: LocalNet, tmp_path: Path,
        reports: tuple[str, Path], shot: Callable[[Any, str], Path]) -> None:
    base, served = reports
    keystores = net.root / "keystores"
    borrower = console("node0", "/credit")
    bank = console("node0", "/credit")
    agency = console("node1", "/credit")
    for page, file, name in ((borrower, "borrower", "Borrower"), (bank, "bank-a", "Bank A"),
                             (agency, "agency-x", "Agency X")):
        sign_in(page, keystores / f"{file}.json", name)

    # the Borrower gives Bank A a consent, valid for 1000 blocks from now
    consent = borrower.locator("#consent form")
    # one input, in blocks from now (as the docs and `credit consent --blocks` say)
    expect(consent.get_by_label("valid for (blocks from now)")).to_be_visible()
    assert borrower.locator("#consent-blocks").count() == 0
    start = int(borrower.evaluate("""async () => (await (await fetch('/', {method: 'POST',
        headers: {'Content-Type': 'application/json'}, body: JSON.stringify({jsonrpc: '2.0',
        id: 1, method: 'eth_blockNumber', params: []})})).json()).result"""), 16)
    consent.locator("input[name=expires_at]").fill("1000")
    consent.locator("input[name=grantee]").fill("Bank A")
    consent.locator("input[name=purpose]").fill("mortgage")
    consent.get_by_role("button", name="Give consent").click()
    expect(consent.locator(".outcome")).to_contain_text("Granted in block", timeout=WAIT_MS)
    expires = int(re.search(r"expiresAt=(\d+)", consent.locator(".outcome").inner_text())[1])
    assert start + 1001 <= expires <= start + 1001 + 30  # the height read when it was sent
    expect(bank.locator("#result-consents")).to_contain_text("mortgage", timeout=WAIT_MS)

    # Bank A orders a report under it from its page, Agency X accepts from its own
    order = write_form(bank, "credit.order")
    order.locator("input[name=agency]").fill("Agency X")
    order.locator("input[name=consent_id]").fill("1")
    order.locator("input[name=purpose]").fill("mortgage")
    order.get_by_role("button", name="Order").click()
    expect(order.locator(".outcome")).to_contain_text("Ordered in block", timeout=WAIT_MS)
    query = 1
    expect(agency.locator("#result-queries")).to_contain_text("created", timeout=WAIT_MS)
    accept = write_form(agency, "credit.accept")
    accept.locator("input[name=query_id]").fill(str(query))
    accept.get_by_role("button", name="Accept").click()
    expect(accept.locator(".outcome")).to_contain_text("Accepted in block", timeout=WAIT_MS)

    # Agency X delivers the file from its page: hashed there, its location the report server
    report = tmp_path / "report-0001.pdf"
    report.write_bytes(REPORT)
    (served / "report-0001.pdf").write_bytes(REPORT)
    deliver = write_form(agency, "credit.deliver")
    deliver.locator("input[name=query_id]").fill(str(query))
    deliver.locator("input[name=report__file]").set_input_files(str(report))
    deliver.locator("input[name=location]").fill(f"{base}/report-0001.pdf")
    deliver.get_by_role("button", name="Deliver").click()
    expect(deliver.locator(".outcome")).to_contain_text("Delivered in block", timeout=WAIT_MS)
    expect(bank.locator("#result-queries")).to_contain_text("delivered", timeout=WAIT_MS)
    assert same_document(bank)

    # Bank A downloads it in the page: it matches the chain's hash and is saved
    bank.locator("#report-query").fill(str(query))
    with bank.expect_download() as download:
        bank.locator("#report-download").click()
    saved = tmp_path / "saved.pdf"
    download.value.save_as(saved)
    assert saved.read_bytes() == REPORT
    outcome = bank.locator("#report-outcome")
    expect(outcome).to_contain_text(f"OK: the file at {base}/report-0001.pdf matches the "
                                    f"report hash delivered for query {query}")
    expect(outcome).to_contain_text("saved as report-0001.pdf")
    shot(bank, "report-verified")

    # a tampered copy, picked: refused with both hashes
    tampered = tmp_path / "tampered.pdf"
    tampered.write_bytes(REPORT.replace(b"score 741", b"score 841"))
    bank.locator("#report-file").set_input_files(str(tampered))
    bank.locator("#report-verify").click()
    expect(outcome).to_contain_text("MISMATCH: the file tampered.pdf's SHA-256 is")
    expect(outcome).to_contain_text("this is NOT the delivered report (nothing saved)")
    shot(bank, "tampered-refused")
    # ... and served at the location: refused, nothing downloaded
    (served / "report-0001.pdf").write_bytes(tampered.read_bytes())
    downloads: list[Any] = []
    bank.on("download", lambda d: downloads.append(d))
    bank.locator("#report-download").click()
    expect(outcome).to_contain_text(f"MISMATCH: the file at {base}/report-0001.pdf's SHA-256")
    assert downloads == []
    # a query without a report yet is refused in words
    bank.locator("#report-query").fill("99")
    bank.locator("#report-verify").click()
    expect(outcome).to_contain_text("Refused: no query 99")

    # the query whole: its transitions; Bank A confirms and the view follows live
    bank.locator("#credit-id").fill(str(query))
    bank.locator("#credit-whole-form button").click()
    detail = bank.locator("#credit-detail")
    expect(detail.locator("[data-field=state]")).to_have_text("delivered", timeout=WAIT_MS)
    expect(detail.locator(".object-history tbody tr")).to_have_count(3)
    confirm = write_form(bank, "credit.confirm")
    confirm.locator("input[name=query_id]").fill(str(query))
    confirm.get_by_role("button", name="Confirm").click()
    expect(confirm.locator(".outcome")).to_contain_text("Confirmed in block", timeout=WAIT_MS)
    expect(detail.locator("[data-field=state]")).to_have_text("confirmed", timeout=WAIT_MS)

    # a record reported and corrected from the page: the record shows its correction
    record = tmp_path / "record.json"
    record.write_bytes(b'{"loan": 1, "overdue_days": 30}')
    reported = write_form(bank, "credit.report")
    reported.locator("input[name=subject]").fill("Borrower")
    reported.locator("select[name=kind]").select_option("overdue")
    reported.locator("input[name=record__file]").set_input_files(str(record))
    reported.get_by_role("button", name="Report").click()
    expect(reported.locator(".outcome")).to_contain_text("Reported in block", timeout=WAIT_MS)
    record.write_bytes(b'{"loan": 1, "repaid": true}')
    correct = write_form(bank, "credit.correct")
    correct.locator("input[name=original]").fill("1")
    correct.locator("select[name=kind]").select_option("repaid")
    correct.locator("input[name=record__file]").set_input_files(str(record))
    correct.locator("input[name=reason]").fill("repaid before the due date")
    correct.get_by_role("button", name="Correct").click()
    expect(correct.locator(".outcome")).to_contain_text("Corrected in block", timeout=WAIT_MS)
    bank.locator("#credit-kind").select_option("record")
    bank.locator("#credit-id").fill("1")
    bank.locator("#credit-whole-form button").click()
    expect(detail.locator(".object-corrections tbody tr")).to_have_count(2, timeout=WAIT_MS)
    expect(detail.locator(".object-corrections")).to_contain_text("repaid")
    shot(bank, "record-corrected")

    # a default record, and the Borrower blacklisted on it: the blacklist follows live
    record.write_bytes(b'{"loan": 2, "default": true}')
    reported.locator("input[name=subject]").fill("Borrower")
    reported.locator("select[name=kind]").select_option("default")
    reported.locator("input[name=record__file]").set_input_files(str(record))
    before = reported.locator(".outcome").inner_text()  # the first report's outcome
    reported.get_by_role("button", name="Report").click()
    expect(reported.locator(".outcome")).not_to_have_text(before, timeout=WAIT_MS)
    expect(reported.locator(".outcome")).to_contain_text("Reported in block", timeout=WAIT_MS)
    listed = write_form(bank, "credit.blacklist-add")
    listed.locator("input[name=record_id]").fill("3")
    listed.locator("input[name=reason]").fill("90 days in default")
    listed.get_by_role("button", name="Blacklist").click()
    expect(listed.locator(".outcome")).to_contain_text("Blacklisted in block", timeout=WAIT_MS)
    expect(borrower.locator("#result-blacklist")).to_contain_text("90 days in default",
                                                                  timeout=WAIT_MS)
    assert same_document(bank)

    # the Borrower gives a second consent and revokes it from its page
    before = consent.locator(".outcome").inner_text()
    consent.locator("input[name=purpose]").fill("credit card")
    consent.get_by_role("button", name="Give consent").click()
    expect(consent.locator(".outcome")).not_to_have_text(before, timeout=WAIT_MS)
    expect(consent.locator(".outcome")).to_contain_text("Granted in block", timeout=WAIT_MS)
    revoke = write_form(borrower, "credit.revoke-consent")
    revoke.locator("input[name=consent_id]").fill("2")
    revoke.locator("input[name=reason]").fill("changed my mind")
    revoke.get_by_role("button", name="Revoke-consent").click()
    expect(revoke.locator(".outcome")).to_contain_text("Revoked in block", timeout=WAIT_MS)
    expect(bank.locator("#result-consents")).to_contain_text("revoked", timeout=WAIT_MS)
    shot(borrower, "consent-revoked")


def test_registry_apply_approve_history_live(
        console: Callable[..., Any], net: LocalNet, tmp_path: Path,
        shot: Callable[[Any, str], Path]) -> None:
    accounts, keystores = dev_accounts(net), net.root / "keystores"
    url = net.node("node0").api_url
    key_file = net.network.node_home(net.node("node0")) / "consortium.key"
    key = key_from_node_home(net.network.node_home(net.node("node0")))
    # the class, by vote: one registrar, k = 1
    registry = RegistryClient(url, key=key)
    out = registry.propose_class(accounts["Bank A"], "Land title", schema=b'{"parcel": "id"}',
                                 registrars=[accounts["Registrar 1"].address], k=1)
    gov = GovernanceClient(url)
    for voter in MEMBERS:
        if gov.vote(accounts[voter], out["proposal"], True)["status"] != "open":
            break
    assert registry.asset_class("Land title") is not None

    owner = console("node0", "/registry")
    registrar = console("node1", "/registry")
    sign_in(owner, keystores / "borrower.json", "Borrower")
    sign_in(registrar, keystores / "registrar-1.json", "Registrar 1")
    expect(owner.locator("#apply")).to_be_visible()

    apply = owner.locator("#apply form")
    expect(apply.locator("input[name=owner]")).to_have_value(
        accounts["Borrower"].address, timeout=WAIT_MS)
    owner.locator("#external-id").fill("parcel  31-0042 ")
    expect(owner.locator("#external-id-state")).to_contain_text("load the consortium key")
    apply.get_by_role("button", name="Apply", exact=True).click()  # checked before signing
    expect(apply.locator(".outcome")).to_contain_text(
        "Not sent, check: class id: required; external id hash: required; deed: required")
    owner.locator("#registry-key-file").set_input_files(str(key_file))
    expect(owner.locator("#external-id-state")).to_have_text("hashed as PARCEL 31-0042")
    deed = tmp_path / "deed.txt"
    deed.write_bytes(b"deed of parcel 31-0042")
    apply.locator("input[name=class_id]").fill("1")
    apply.locator("input[name=metadata_hash__file]").set_input_files(str(deed))
    apply.get_by_role("button", name="Apply", exact=True).click()
    expect(apply.locator(".outcome")).to_contain_text("Applied in block", timeout=WAIT_MS)
    found = registry.find("Land title", "PARCEL 31-0042")
    assert found is not None  # the page's HMAC is the CLI's external id hash
    asset = found["id"]
    assert external_id_hash(key, "parcel 31-0042").hex() in str(found).lower()

    owner.locator("#asset-id").fill(str(asset))
    owner.locator("#asset-form button").click()
    detail = owner.locator("#asset-detail")
    expect(detail.locator("[data-field=state]")).to_have_text("applied", timeout=WAIT_MS)

    # Registrar 1 approves from its page on node 1; the owner's page follows live
    approve = write_form(registrar, "registry.approve")
    approve.locator("input[name=id]").fill(str(asset))
    approve.get_by_role("button", name="Approve").click()
    expect(approve.locator(".outcome")).to_contain_text("Approved in block", timeout=WAIT_MS)
    expect(detail.locator("[data-field=state]")).to_have_text("registered", timeout=WAIT_MS)
    history = detail.locator(".object-history")
    expect(history).to_contain_text("registered")
    expect(history).to_contain_text("Registrar 1 (0x")  # accounts shown by their member
    expect(history.locator("tbody tr")).to_have_count(2)
    shot(owner, "asset-registered")

    # pledged to Bank A: the asset is encumbered, its transfer refused in words until Bank A,
    # on node 1, releases the pledge from its own view; the owner's page follows live
    lender = console("node1", "/registry")
    sign_in(lender, keystores / "bank-a.json", "Bank A")
    pledge = write_form(owner, "registry.pledge")
    pledge.locator("input[name=id]").fill(str(asset))
    pledge.locator("input[name=to]").fill("Bank A")
    pledge.get_by_role("button", name="Pledge").click()
    expect(pledge.locator(".outcome")).to_contain_text("Pledged in block", timeout=WAIT_MS)
    expect(detail.locator("[data-field=state]")).to_have_text("encumbered", timeout=WAIT_MS)
    expect(detail.locator(".object-pledges")).to_contain_text("active")
    transfer = write_form(owner, "registry.transfer")
    transfer.locator("input[name=id]").fill(str(asset))
    transfer.locator("input[name=to]").fill("Registrar 1")
    transfer.get_by_role("button", name="Transfer").click()
    expect(transfer.locator(".outcome")).to_contain_text("Refused:", timeout=WAIT_MS)
    expect(transfer.locator(".outcome")).to_contain_text(f"asset {asset} is encumbered (pledged to")
    shot(owner, "transfer-refused")
    lender.locator("#asset-id").fill(str(asset))
    lender.locator("#asset-form button").click()
    lender.get_by_role("button", name="Release pledge 0").click()
    expect(lender.locator("#asset-outcome")).to_contain_text("Released in block",
                                                             timeout=WAIT_MS)
    expect(detail.locator("[data-field=state]")).to_have_text("registered", timeout=WAIT_MS)
    expect(detail.locator(".object-pledges")).to_contain_text("released")
    expect(detail.locator(".object-history tbody tr")).to_have_count(4)
    shot(owner, "pledge-released")

    # the court freezes it from its page on node 1: the owner's view shows it frozen
    court = console("node1", "/registry")
    sign_in(court, keystores / "court.json", "Court")
    freeze = write_form(court, "registry.freeze")
    freeze.locator("input[name=id]").fill(str(asset))
    freeze.locator("input[name=reason]").fill("court order 12")
    freeze.get_by_role("button", name="Freeze").click()
    expect(freeze.locator(".outcome")).to_contain_text("Frozen in block", timeout=WAIT_MS)
    expect(detail.locator("[data-field=state]")).to_have_text("frozen", timeout=WAIT_MS)
    expect(history).to_contain_text("court order 12")
    assert same_document(owner)
