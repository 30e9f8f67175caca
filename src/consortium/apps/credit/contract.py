"""The Credit native contract (0x…2002): consents, append-only credit records (a correction
is a new record linked both ways), query orders to licensed agencies (the report off chain,
its SHA-256 on it) and the blacklist; rules in docs/services/credit.md. Every write emits a
transition (object id, actor, from-state, to-state, reason); reads are open to every caller.
"""

from __future__ import annotations

from typing import Any

from consortium.apps.credit.model import (
    CREDIT_ADDRESS,
    CREDIT_AGENCY,
    CURRENT,
    EXPIRED,
    LENDER,
    LISTED,
    MAX_LOCATION,
    MAX_PURPOSE,
    MAX_USES,
    MEDIATOR,
    QUERY_STATES,
    RECORD_KINDS,
    REJECTABLE,
    REMOVED,
    SUPERSEDED,
)
from consortium.apps.credit.state import (
    BlacklistEntry,
    ConsentRecord,
    CreditRecord,
    CreditState,
    QueryRecord,
)
from consortium.apps.service import (
    ServiceContract,
    count_read,
    index_read,
    keyed_reads,
    state_read,
    transition,
)
from consortium.evm.native import StateOf, event, method, register, view
from consortium.evm.records import word_address
from consortium.system.permissions import as_address, hex_address

S = CreditState
CONSENT, RECORD = ConsentRecord.abi_type(), CreditRecord.abi_type()
QUERY, ENTRY = QueryRecord.abi_type(), BlacklistEntry.abi_type()


@register
class Credit(ServiceContract):
    address = CREDIT_ADDRESS

    ConsentTransition = transition("uint256 consent")
    RecordTransition = transition("uint256 record")
    QueryTransition = transition("uint256 query")
    BlacklistTransition = transition("address subject")
    ConsentGranted = event("uint256 indexed consent", "address indexed subject",
                           "address indexed grantee", "string purpose", "uint256 expiresAt",
                           "uint256 maxUses")
    CreditReported = event("uint256 indexed record", "address indexed subject",
                           "address indexed reporter", "string kind", "bytes32 recordHash",
                           "uint256 supersedes")
    QueryCreated = event("uint256 indexed query", "address indexed subject",
                         "address indexed lender", "address agency", "uint256 consent",
                         "string purpose")
    ReportDelivered = event("uint256 indexed query", "address indexed agency", "bytes32 reportHash",
                            "string location")

    state = StateOf(CreditState)

    consent_count = count_read("consentCount()", S.CONSENT_COUNT)

    consent, consents_of = keyed_reads(
        "consent(uint256)", "consentsOf(uint256[])", ("consent_id", "ids"), CONSENT,
        lambda c, i: c._consent_tuple(c._require_consent(i)))

    consents_by_subject = index_read("consentsBySubject(address)", "subject", S.CONSENTS_BY_SUBJECT)
    consents_by_grantee = index_read("consentsByGrantee(address)", "grantee", S.CONSENTS_BY_GRANTEE)

    record_count = count_read("recordCount()", S.RECORD_COUNT)

    record, records_of = keyed_reads("record(uint256)", "recordsOf(uint256[])",
                                     ("record_id", "ids"), RECORD,
                                     lambda c, i: c._require_record(i).abi_tuple())

    records_by_subject = index_read("recordsBySubject(address)", "subject", S.RECORDS_BY_SUBJECT)
    records_by_reporter = index_read("recordsByReporter(address)", "reporter",
                                     S.RECORDS_BY_REPORTER)

    query_count = count_read("queryCount()", S.QUERY_COUNT)

    query, queries_of = keyed_reads("query(uint256)", "queriesOf(uint256[])",
                                    ("query_id", "ids"), QUERY,
                                    lambda c, i: c._require_query(i).abi_tuple())

    queries_by_subject = index_read("queriesBySubject(address)", "subject", S.QUERIES_BY_SUBJECT)
    queries_by_lender = index_read("queriesByLender(address)", "lender", S.QUERIES_BY_LENDER)
    queries_by_agency = index_read("queriesByAgency(address)", "agency", S.QUERIES_BY_AGENCY)

    queries_by_state = state_read("queriesByState(string)", QUERY_STATES, "query state")

    is_blacklisted = view("isBlacklisted(address)", "bool", ("subject",),
                          lambda c, subject: c.state.is_blacklisted(as_address(subject)))

    @method("blacklistEntry(address)", returns=ENTRY, view=True)
    def blacklist_entry(self, subject: str) -> tuple[Any, ...]:
        raw = as_address(subject)
        self.require(self.state.is_blacklisted(raw), f"{hex_address(raw)} is not blacklisted")
        return self.state.entry(raw).abi_tuple()

    blacklist = view("blacklist()", ENTRY + "[]", (), lambda c: [
        c.state.entry(word_address(w)).abi_tuple() for w in c.state.blacklist()])

    @method("grantConsent(address,string,uint256,uint256)", returns="uint256")
    def grant_consent(self, grantee: str, purpose: str, expires_at: int, max_uses: int) -> int:
        subject = self.caller
        grantee_raw = self.require_account(grantee, "a consent needs a grantee")
        self.require(grantee_raw != subject, "a subject does not need its own consent")
        self.require(self.has_role(grantee_raw, LENDER),
                     f"grantee {hex_address(grantee_raw)} does not hold the lender role")
        self.require_text(purpose, "purpose", MAX_PURPOSE)
        self.require(expires_at > self.height,
                     f"expiry height {expires_at} is not above the current height {self.height}")
        self.require(1 <= max_uses <= MAX_USES, f"a consent serves 1 to {MAX_USES} queries")
        consent_id = self.state.add_consent(subject, grantee_raw, purpose, expires_at, max_uses,
                                            self.height)
        self.emit(self.ConsentGranted, consent_id, subject, grantee_raw, purpose, expires_at,
                  max_uses)
        uses = "one query" if max_uses == 1 else f"{max_uses} queries"
        self.emit(self.ConsentTransition, consent_id, subject, "", "granted",
                  f"{purpose}: {uses} by {hex_address(grantee_raw)} until height {expires_at}")
        return consent_id

    @method("revokeConsent(uint256,string)")
    def revoke_consent(self, consent_id: int, reason: str) -> None:
        c = self._require_consent(consent_id)
        self.require(self.caller == c.subject,
                     f"only consent {consent_id}'s subject {hex_address(c.subject)} may revoke it")
        state = c.state_at(self.height)
        self.require(state == "granted", f"consent {consent_id} is {state}: it cannot be revoked")
        self.require_text(reason, "reason", required=False)
        self.state.use_consent(consent_id, c.uses, "revoked", self.height)
        self.emit(self.ConsentTransition, consent_id, self.caller, "granted", "revoked",
                  reason or "revoked by the subject")

    @method("report(address,string,bytes32)", returns="uint256")
    def report(self, subject: str, kind: str, record_hash: bytes) -> int:
        reporter = self.caller
        self.require_role(reporter, LENDER, "report a credit record")
        subject_raw = self.require_account(subject, "a credit record needs a subject")
        self._check_record(kind, bytes(record_hash))
        return self._add_record(reporter, subject_raw, kind, bytes(record_hash), 0,
                                f"{kind} reported")

    @method("correct(uint256,string,bytes32,string)", returns="uint256")
    def correct(self, original: int, kind: str, record_hash: bytes, reason: str) -> int:
        reporter = self.caller
        self.require_role(reporter, LENDER, "correct a credit record")
        old = self._require_record(original)
        self.require(old.reporter == reporter, f"record {original} was reported by "
                     f"{hex_address(old.reporter)}: only its reporter may correct it")
        self.require(not old.superseded_by, f"record {original} is already superseded by record "
                     f"{old.superseded_by}: correct the latest one")
        self._check_record(kind, bytes(record_hash))
        self.require_text(reason, "reason")
        new_id = self.record_count() + 1
        self.emit(self.RecordTransition, original, reporter, CURRENT, SUPERSEDED,
                  f"superseded by record {new_id}: {reason}")
        return self._add_record(reporter, old.subject, kind, bytes(record_hash), original,
                                f"corrects record {original}: {reason}")

    @method("createQuery(address,uint256,string)", returns="uint256")
    def create_query(self, agency: str, consent_id: int, purpose: str) -> int:
        lender = self.caller
        self.require_role(lender, LENDER, "order a credit query")
        agency_raw = as_address(agency)
        self.require(self.has_role(agency_raw, CREDIT_AGENCY), f"{hex_address(agency_raw)} is not "
                     "a licensed credit agency (role credit_agency)")
        c = self._require_consent(consent_id)
        self.require(c.grantee == lender,
                     f"consent {consent_id} was granted to {hex_address(c.grantee)}, not to "
                     f"{hex_address(lender)}")
        self.require(purpose == c.purpose,
                     f"consent {consent_id} is for the purpose {c.purpose!r}, not {purpose!r}")
        state = c.state_at(self.height)
        if state == EXPIRED:
            self.revert(f"consent {consent_id} expired at height {c.expires_at}: it cannot "
                        "serve a query")
        if state == "used":
            self.revert(f"consent {consent_id} was used ({c.uses} of {c.max_uses} queries): it "
                        "cannot serve another query")
        if state == "revoked":
            self.revert(f"consent {consent_id} was revoked by its subject at height "
                        f"{c.updated_at}: it cannot serve a query")
        st = self.state
        query_id = st.add_query(lender, agency_raw, consent_id, c.subject, purpose, self.height)
        uses = c.uses + 1
        after = "used" if uses == c.max_uses else "granted"
        st.use_consent(consent_id, uses, after, self.height)
        self.emit(self.ConsentTransition, consent_id, lender, "granted", after,
                  f"served query {query_id} ({uses} of {c.max_uses})")
        self.emit(self.QueryCreated, query_id, c.subject, lender, agency_raw, consent_id,
                  purpose)
        self.emit(self.QueryTransition, query_id, lender, "", "created",
                  f"{purpose} (consent {consent_id}), to agency {hex_address(agency_raw)}")
        return query_id

    @method("acceptQuery(uint256)")
    def accept_query(self, query_id: int) -> None:
        q = self._as_party(query_id, CREDIT_AGENCY, "accept it")
        self._require_state(q, ("created",), "be accepted")
        self._move(q, "accepted", "accepted by the agency")

    @method("rejectQuery(uint256,string)")
    def reject_query(self, query_id: int, reason: str) -> None:
        q = self._as_party(query_id, CREDIT_AGENCY, "reject it")
        self._require_state(q, REJECTABLE, "be rejected")
        self.require_text(reason, "reason")
        self._move(q, "rejected", reason)

    @method("deliverReport(uint256,bytes32,string)")
    def deliver_report(self, query_id: int, report_hash: bytes, location: str) -> None:
        q = self._as_party(query_id, CREDIT_AGENCY, "deliver its report")
        self._require_state(q, ("accepted",), "be delivered (accept it first)")
        self.require_hash(report_hash, "report hash")
        self.require_text(location, "report location", MAX_LOCATION, required=False)
        self.state.set_report(query_id, bytes(report_hash), location)
        self.emit(self.ReportDelivered, query_id, self.caller, bytes(report_hash), location)
        self._move(q, "delivered", f"report sha256 0x{bytes(report_hash).hex()} delivered "
                                   f"off chain{f' at {location}' if location else ''}")

    @method("confirmReport(uint256)")
    def confirm_report(self, query_id: int) -> None:
        q = self._as_party(query_id, LENDER, "confirm its report")
        self._require_state(q, ("delivered",), "be confirmed")
        self._move(q, "confirmed", "report received and confirmed by the lender")

    @method("disputeReport(uint256,string)")
    def dispute_report(self, query_id: int, reason: str) -> None:
        q = self._as_party(query_id, LENDER, "dispute its report")
        self._require_state(q, ("delivered",), "be disputed")
        self.require_text(reason, "reason")
        self._move(q, "disputed", reason)

    @method("resolveDispute(uint256,string)")
    def resolve_dispute(self, query_id: int, resolution: str) -> None:
        self.require_role(self.caller, MEDIATOR, "resolve a dispute")
        q = self._require_query(query_id)
        self.require(self.caller not in (q.lender, q.agency),
                     "a party to the query cannot mediate its dispute")
        self._require_state(q, ("disputed",), "be resolved")
        self.require_text(resolution, "resolution")
        self._move(q, "resolved", resolution)

    @method("blacklistSubject(uint256,string)")
    def blacklist_subject(self, record_id: int, reason: str) -> None:
        reporter = self.caller
        self.require_role(reporter, LENDER, "blacklist a subject")
        r = self._require_record(record_id)
        self.require(r.reporter == reporter,
                     f"record {record_id} was reported by {hex_address(r.reporter)}, not by "
                     f"{hex_address(reporter)}")
        self.require(r.kind == "default", f"record {record_id} is {r.kind}, not a default")
        self.require(not r.superseded_by,
                     f"record {record_id} was superseded by record {r.superseded_by}")
        st = self.state
        if st.is_blacklisted(r.subject):
            entry = st.entry(r.subject)
            self.revert(f"{hex_address(r.subject)} is already blacklisted by "
                        f"{hex_address(entry.reporter)} (record {entry.record})")
        self.require_text(reason, "reason")
        st.set_entry(r.subject, reporter, record_id, reason, self.height)
        self.emit(self.BlacklistTransition, r.subject, reporter, "", LISTED,
                  f"{reason} (record {record_id})")

    @method("unlistSubject(address,string)")
    def unlist_subject(self, subject: str, reason: str) -> None:
        raw = as_address(subject)
        st = self.state
        self.require(st.is_blacklisted(raw), f"{hex_address(raw)} is not blacklisted")
        entry = st.entry(raw)
        self.require(self.caller == entry.reporter or self.by_governance(), "only the reporting "
                     f"lender {hex_address(entry.reporter)} or a vote (an app-call proposal) may "
                     f"remove {hex_address(raw)} from the blacklist")
        self.require_text(reason, "reason")
        st.set_entry(raw)
        by = "by vote" if self.by_governance() else "by the reporting lender"
        self.emit(self.BlacklistTransition, raw, self.caller, LISTED, REMOVED,
                  f"{reason} ({by})")

    def _check_record(self, kind: str, record_hash: bytes) -> None:
        self.require_known(kind, RECORD_KINDS, "record kind")
        self.require_hash(record_hash, "record hash")

    def _add_record(self, reporter: bytes, subject: bytes, kind: str, record_hash: bytes,
                    supersedes: int, reason: str) -> int:
        record_id = self.state.add_record(reporter, subject, kind, record_hash, supersedes,
                                          self.height)
        self.emit(self.CreditReported, record_id, subject, reporter, kind, record_hash,
                  supersedes)
        self.emit(self.RecordTransition, record_id, reporter, "", CURRENT, reason)
        return record_id

    def _move(self, q: QueryRecord, new: str, reason: str) -> None:
        self.state.set_query_state(q.id, q.state, new, self.height)
        self.emit(self.QueryTransition, q.id, self.caller, q.state, new, reason)

    def _require_consent(self, consent_id: int) -> ConsentRecord:
        return self.state.consent(self.require_id(consent_id, self.consent_count(), "consent"))

    def _require_record(self, record_id: int) -> CreditRecord:
        return self.state.record(self.require_id(record_id, self.record_count(), "credit record"))

    def _require_query(self, query_id: int) -> QueryRecord:
        return self.state.query(self.require_id(query_id, self.query_count(), "query"))

    def _as_party(self, query_id: int, role: str, action: str) -> QueryRecord:
        """The query, when the caller holds `role` and is its agency (or its lender)."""
        self.require_role(self.caller, role, action)
        q = self._require_query(query_id)
        party, how = ((q.agency, "ordered from agency") if role == CREDIT_AGENCY
                      else (q.lender, "ordered by"))
        self.require(self.caller == party, f"query {query_id} was {how} {hex_address(party)}: "
                                           f"only it may {action}")
        return q

    def _require_state(self, q: QueryRecord, allowed: tuple[str, ...], action: str) -> None:
        self.require(q.state in allowed, f"query {q.id} is {q.state}: it cannot {action}")

    def _consent_tuple(self, c: ConsentRecord) -> tuple[Any, ...]:
        """The consent as answered: in its state at the current height."""
        return c.with_(state=c.state_at(self.height)).abi_tuple()
