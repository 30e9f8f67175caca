"""The Credit native contract on a real Ledger: consents (granted, used, revoked, expired),
append-only records with corrections, query orders through licensed agencies, disputes, the
blacklist (removal by the reporter or by vote), events and reads."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from consortium.apps.credit.abi import ABI_FILE, render_abi
from consortium.apps.credit.model import CREDIT_ADDRESS, record_kind
from consortium.apps.credit.reader import CALLS, CreditReader
from tests.support.services_testkit import (
    AGENCY_X,
    AGENCY_Y,
    BANK_A,
    BANK_B,
    BANK_C,
    BORROWER,
    BORROWER_2,
    MEDIATOR,
    NOBODY,
    REGULATOR,
    ServiceChain,
    low,
    services_ledger,
)


class CreditChain(ServiceChain):
    def __init__(self, ledger: object) -> None:
        super().__init__(ledger, CREDIT_ADDRESS, CALLS)  # type: ignore[arg-type]
        self.read = CreditReader(self._call, self.logs)

    def consent(self, subject: object = BORROWER, grantee: object = BANK_A,
                purpose: str = "mortgage", blocks: int = 100, uses: int = 1) -> int:
        expires = self.height + 1 + blocks
        return int(self.ok(subject, "grantConsent", grantee.address, purpose,  # type: ignore[attr-defined]
                           expires, uses))

    def query(self, consent: int, lender: object = BANK_A, agency: object = AGENCY_X,
              purpose: str = "mortgage") -> int:
        return int(self.ok(lender, "createQuery", agency.address, consent, purpose))  # type: ignore[attr-defined]


def h(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


@pytest.fixture
def chain(tmp_path: Path) -> Iterator[CreditChain]:
    ledger = services_ledger(tmp_path)
    yield CreditChain(ledger)
    ledger.close()


def test_shipped_abi_matches_the_contract() -> None:
    assert ABI_FILE.read_text() == render_abi(), (
        "Credit.json is stale: run python -m consortium.apps.credit.abi"
    )
    names = {e["name"] for e in json.loads(ABI_FILE.read_text())}
    assert {"grantConsent", "report", "correct", "createQuery", "deliverReport",
            "QueryTransition", "unlistSubject"} <= names


def test_record_kinds_are_normalised() -> None:
    assert record_kind("Loan opened") == "loan_opened"
    assert record_kind("loan-opened") == "loan_opened" and record_kind("DEFAULT") == "default"
    assert record_kind("bankrupt") == "bankrupt"


def test_story_4_consent_query_delivery_and_the_borrower_sees_it(chain: CreditChain) -> None:
    consent = chain.consent()
    c = chain.read.consent(consent)
    assert c is not None
    assert (c["subject"], c["grantee"], c["state"], c["maxUses"], c["uses"]) == (
        low(BORROWER), low(BANK_A), "granted", 1, 0)
    query = chain.query(consent)
    # The consent served its one query.
    c = chain.read.consent(consent)
    assert c is not None and (c["state"], c["uses"]) == ("used", 1)
    chain.ok(AGENCY_X, "acceptQuery", query)
    report = b"%PDF credit report of the borrower"
    digest = hashlib.sha256(report).digest()
    chain.ok(AGENCY_X, "deliverReport", query, digest, "https://agency-x.example/r/1")
    q = chain.read.query(query)
    assert q is not None
    assert (q["state"], q["reportHash"], q["location"]) == (
        "delivered", "0x" + digest.hex(), "https://agency-x.example/r/1")
    chain.ok(BANK_A, "confirmReport", query)
    # The borrower lists every query about them: who asked, and why.
    mine = chain.read.queries(subject=BORROWER.address)
    assert [(x["id"], x["lender"], x["purpose"], x["agency"], x["state"]) for x in mine] == [
        (query, low(BANK_A), "mortgage", low(AGENCY_X), "confirmed")]
    assert chain.read.queries(subject=BORROWER_2.address) == []
    # Every step is an event: actor, object, from-state, to-state, reason.
    steps = [(e["actor"], e["from"], e["to"]) for e in chain.read.history("query", query)]
    assert steps == [(low(BANK_A), "", "created"), (low(AGENCY_X), "created", "accepted"),
                     (low(AGENCY_X), "accepted", "delivered"),
                     (low(BANK_A), "delivered", "confirmed")]
    consent_steps = [(e["from"], e["to"]) for e in chain.read.history("consent", consent)]
    assert consent_steps == [("", "granted"), ("granted", "used")]
    # Report contents never reach the chain: only the hash is in the transaction's input.
    assert report not in b"".join(e["data"] for e in chain.logs(CREDIT_ADDRESS, []))


def test_story_5_an_expired_consent_serves_no_query(chain: CreditChain) -> None:
    consent = chain.consent(blocks=2)
    chain.advance(3)
    c = chain.read.consent(consent)
    assert c is not None and c["state"] == "expired"
    reason = chain.refused(BANK_A, "createQuery", AGENCY_X.address, consent, "mortgage")
    assert f"consent {consent} expired at height {c['expiresAt']}" in reason
    assert chain.read.queries(subject=BORROWER.address) == []
    assert "expired: it cannot be revoked" in chain.refused(BORROWER, "revokeConsent", consent,
                                                            "")


def test_used_revoked_or_mismatched_consents_serve_no_query(chain: CreditChain) -> None:
    used = chain.consent()
    chain.query(used)
    assert "was used (1 of 1 queries): it cannot serve another query" in chain.refused(
        BANK_A, "createQuery", AGENCY_X.address, used, "mortgage")

    revoked = chain.consent()
    assert "only consent" in chain.refused(BANK_A, "revokeConsent", revoked, "")
    chain.ok(BORROWER, "revokeConsent", revoked, "changed my mind")
    assert "was revoked by its subject" in chain.refused(
        BANK_A, "createQuery", AGENCY_X.address, revoked, "mortgage")

    # A consent with three uses serves three queries, then none.
    multi = chain.consent(uses=3, purpose="credit card")
    for _ in range(3):
        chain.query(multi, purpose="credit card", agency=AGENCY_Y)
    c = chain.read.consent(multi)
    assert c is not None and (c["uses"], c["state"]) == (3, "used")
    assert "was used (3 of 3" in chain.refused(BANK_A, "createQuery", AGENCY_Y.address, multi,
                                               "credit card")

    # The consent matches its grantee and its purpose; only licensed agencies are asked.
    live = chain.consent()
    assert f"was granted to {low(BANK_A)}, not to {low(BANK_B)}" in chain.refused(
        BANK_B, "createQuery", AGENCY_X.address, live, "mortgage")
    assert "is for the purpose 'mortgage', not 'car loan'" in chain.refused(
        BANK_A, "createQuery", AGENCY_X.address, live, "car loan")
    assert "is not a licensed credit agency" in chain.refused(
        BANK_A, "createQuery", NOBODY.address, live, "mortgage")
    assert "does not hold the lender role needed to order a credit query" in chain.refused(
        AGENCY_X, "createQuery", AGENCY_X.address, live, "mortgage")
    # Consents go to lenders only, and expire in the future.
    assert "does not hold the lender role" in chain.refused(
        BORROWER, "grantConsent", AGENCY_X.address, "x", chain.height + 10, 1)
    assert "is not above the current height" in chain.refused(
        BORROWER, "grantConsent", BANK_A.address, "x", chain.height, 1)
    assert "serves 1 to 1000 queries" in chain.refused(
        BORROWER, "grantConsent", BANK_A.address, "x", chain.height + 10, 0)
    # The refusals changed nothing: the live consent still serves its query.
    chain.query(live)


def test_only_the_ordered_agency_accepts_and_delivers(chain: CreditChain) -> None:
    query = chain.query(chain.consent())
    assert "does not hold the credit_agency role needed to accept it" in chain.refused(
        BANK_A, "acceptQuery", query)
    assert f"ordered from agency {low(AGENCY_X)}: only it may accept it" in chain.refused(
        AGENCY_Y, "acceptQuery", query)
    assert "is created: it cannot be delivered (accept it first)" in chain.refused(
        AGENCY_X, "deliverReport", query, h("r"), "")
    chain.ok(AGENCY_X, "acceptQuery", query)
    assert "the report hash is zero" in chain.refused(
        AGENCY_X, "deliverReport", query, b"\x00" * 32, "")
    assert "is accepted: it cannot be confirmed" in chain.refused(BANK_A, "confirmReport", query)
    # Rejection, with its reason.
    assert "a reason is required" in chain.refused(AGENCY_X, "rejectQuery", query, " ")
    chain.ok(AGENCY_X, "rejectQuery", query, "subject unknown to the agency")
    q = chain.read.query(query)
    assert q is not None and q["state"] == "rejected" and q["reportHash"] is None
    assert chain.read.history("query", query)[-1]["reason"] == "subject unknown to the agency"
    assert "is rejected: it cannot be accepted" in chain.refused(AGENCY_X, "acceptQuery", query)
    assert chain.read.queries(state="rejected")[0]["id"] == query
    assert chain.read.queries(agency=AGENCY_X.address, lender=BANK_A.address)[0]["id"] == query


def test_dispute_resolved_by_a_mediator(chain: CreditChain) -> None:
    query = chain.query(chain.consent())
    chain.ok(AGENCY_X, "acceptQuery", query)
    chain.ok(AGENCY_X, "deliverReport", query, h("report"), "")
    assert "only it may dispute its report" in chain.refused(BANK_B, "disputeReport", query,
                                                             "wrong")
    chain.ok(BANK_A, "disputeReport", query, "the report is about another person")
    assert "does not hold the mediator role" in chain.refused(
        REGULATOR, "resolveDispute", query, "x")
    assert "is disputed: it cannot be confirmed" in chain.refused(BANK_A, "confirmReport", query)
    chain.ok(MEDIATOR, "resolveDispute", query, "agency to redeliver; fee waived")
    steps = [(e["actor"], e["to"]) for e in chain.read.history("query", query)]
    assert steps[-2:] == [(low(BANK_A), "disputed"), (low(MEDIATOR), "resolved")]


def test_a_correction_keeps_the_original_visible_and_linked(chain: CreditChain) -> None:
    first = int(chain.ok(BANK_A, "report", BORROWER.address, "overdue", h("overdue 30 days")))
    assert "does not hold the lender role needed to report" in chain.refused(
        AGENCY_X, "report", BORROWER.address, "overdue", h("x"))
    assert "unknown record kind 'late'" in chain.refused(
        BANK_A, "report", BORROWER.address, "late", h("x"))
    assert "only its reporter may correct it" in chain.refused(
        BANK_B, "correct", first, "repaid", h("x"), "typo")
    fixed = int(chain.ok(BANK_A, "correct", first, "repaid", h("repaid on time"),
                         "the payment was booked late"))
    original = chain.read.record(first)
    correction = chain.read.record(fixed)
    assert original is not None and correction is not None
    assert (original["kind"], original["recordHash"], original["state"],
            original["supersededBy"]) == ("overdue", "0x" + h("overdue 30 days").hex(),
                                          "superseded", fixed)
    assert (correction["kind"], correction["supersedes"], correction["state"],
            correction["subject"]) == ("repaid", first, "current", low(BORROWER))
    assert "already superseded by record" in chain.refused(
        BANK_A, "correct", first, "repaid", h("y"), "again")
    # Both stay readable, in order; the chain of corrections reads from either end.
    assert [r["id"] for r in chain.read.records(subject=BORROWER.address)] == [first, fixed]
    assert [r["id"] for r in chain.read.corrections(fixed)] == [first, fixed]
    assert [r["id"] for r in chain.read.corrections(first)] == [first, fixed]
    assert [(e["from"], e["to"]) for e in chain.read.history("record", first)] == [
        ("", "current"), ("current", "superseded")]
    assert chain.read.records(reporter=BANK_B.address) == []


def test_blacklist_with_reporter_and_reason_removed_by_reporter_or_by_vote(
    chain: CreditChain,
) -> None:
    loan = int(chain.ok(BANK_A, "report", BORROWER.address, "loan_opened", h("loan")))
    default = int(chain.ok(BANK_A, "report", BORROWER.address, "default", h("default")))
    assert "is loan_opened, not a default" in chain.refused(
        BANK_A, "blacklistSubject", loan, "unpaid")
    assert "was reported by" in chain.refused(BANK_B, "blacklistSubject", default, "unpaid")
    chain.ok(BANK_A, "blacklistSubject", default, "unpaid for 180 days")
    assert chain.read.blacklist() == [{
        "subject": low(BORROWER), "reporter": low(BANK_A), "record": default,
        "reason": "unpaid for 180 days", "height": chain.height}]
    assert "already blacklisted by" in chain.refused(BANK_A, "blacklistSubject", default, "x")
    # Only the reporting lender removes it directly.
    assert "only the reporting lender" in chain.refused(
        BANK_B, "unlistSubject", BORROWER.address, "paid")
    assert "only the reporting lender" in chain.refused(
        REGULATOR, "unlistSubject", BORROWER.address, "paid")
    chain.ok(BANK_A, "unlistSubject", BORROWER.address, "settled")
    assert chain.read.blacklist() == [] and chain.read.blacklist_entry(BORROWER.address) is None
    steps = [(e["actor"], e["from"], e["to"]) for e in chain.read.history(
        "blacklist", low(BORROWER))]
    assert steps == [(low(BANK_A), "", "listed"), (low(BANK_A), "listed", "removed")]

    # ... or the members, by vote (an app-call proposal).
    other = int(chain.ok(BANK_B, "report", BORROWER_2.address, "default", h("d2")))
    chain.ok(BANK_B, "blacklistSubject", other, "written off")
    # A proposal whose call would fail now is refused now, with the service's reason.
    refused = chain.propose("unlistSubject", BORROWER.address, "x")
    assert refused.code != 0 and "is not blacklisted" in refused.log
    proposal = chain.by_vote("unlistSubject", BORROWER_2.address, "listed in error")
    assert proposal["status"] == "executed"
    assert proposal["params"]["method"].startswith("Credit.unlistSubject(")
    assert chain.read.blacklist() == []
    last = chain.read.history("blacklist", low(BORROWER_2))[-1]
    assert last["to"] == "removed" and last["reason"] == "listed in error (by vote)"
    # A non-view method must be named, and only the services' contracts may be called.
    data = CALLS.encode("blacklist")
    from consortium.system.abi_files import function
    from consortium.system.model import GOVERNANCE_ADDRESS, PERMISSIONS_ADDRESS

    bad = chain.raw(BANK_A, GOVERNANCE_ADDRESS, function("Governance", "proposeAppCall").encode(
        CREDIT_ADDRESS, data))
    assert "is a read, not an action" in bad.log
    bad = chain.raw(BANK_A, GOVERNANCE_ADDRESS, function("Governance", "proposeAppCall").encode(
        PERMISSIONS_ADDRESS, function("Permissions", "grantRole").encode(BANK_C.address, "x")))
    assert "is not a finance service's contract" in bad.log


def test_reads_are_open_to_everyone(chain: CreditChain) -> None:
    consent = chain.consent()
    chain.query(consent)
    assert chain.read.consent(999) is None and chain.read.query(999) is None
    assert chain.read.record(1) is None
    # Lists by grantee, by subject; all without filters.
    assert [c["id"] for c in chain.read.consents(grantee=BANK_A.address)] == [consent]
    assert [c["id"] for c in chain.read.consents()] == [consent]
    assert [q["id"] for q in chain.read.queries()] == [1]
    with pytest.raises(ValueError, match="unknown query state"):
        chain.read.queries(state="open")
