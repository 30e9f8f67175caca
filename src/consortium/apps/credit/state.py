"""Where the Credit contract keeps its state: a typed view over its EVM storage slots
(`consortium.evm.host.Storage`), so the state root covers every consent, record and query.

Layout (slots of 0x…2002; `at(s, k…)` is Solidity's mapping slot; a set keeps its count at s,
item i at at(s, i) and item k's position + 1 at at(s + 1, k); ids count from 1):

  0  consent count      1  consent id -> subject, grantee, purpose (string), expires at,
                           max uses, uses, state, created at, updated at
  2  subject -> consent ids (set)        3  grantee -> consent ids (set)
  4  record count       5  record id -> reporter, subject, kind, record hash, supersedes,
                           superseded by, height
  6  subject -> record ids (set)         7  reporter -> record ids (set)
  8  query count        9  query id -> lender, agency, consent, subject, purpose (string),
                           state, report hash, location (string), created at, updated at
  10 subject -> query ids (set)          11 lender -> query ids (set)
  12 agency -> query ids (set)           13 state number -> query ids (set)
  14 blacklisted subjects (set, 14/15)   16 subject -> entry: reporter, record, reason
                                            (string), height

Only hashes, accounts, kinds, purposes and heights are stored: never a report or a record's
contents.
"""

from __future__ import annotations

from dataclasses import dataclass

from consortium.apps.credit.model import (
    CONSENT_STATES,
    CURRENT,
    EXPIRED,
    QUERY_STATES,
    RECORD_KINDS,
    SUPERSEDED,
)
from consortium.evm.host import Storage
from consortium.system.state import WordSet, address_word


@dataclass(frozen=True)
class ConsentRecord:
    id: int
    subject: bytes
    grantee: bytes
    purpose: str
    expires_at: int
    max_uses: int
    uses: int
    stored_state: str
    created_at: int
    updated_at: int

    def state_at(self, height: int) -> str:
        """The consent's state at `height`: a granted consent expires at its expiry height."""
        if self.stored_state == "granted" and height >= self.expires_at:
            return EXPIRED
        return self.stored_state


@dataclass(frozen=True)
class CreditRecord:
    id: int
    reporter: bytes
    subject: bytes
    kind: str
    record_hash: bytes
    supersedes: int
    superseded_by: int
    height: int

    @property
    def state(self) -> str:
        return SUPERSEDED if self.superseded_by else CURRENT


@dataclass(frozen=True)
class QueryRecord:
    id: int
    lender: bytes
    agency: bytes
    consent: int
    subject: bytes
    purpose: str
    state: str
    report_hash: bytes
    location: str
    created_at: int
    updated_at: int


@dataclass(frozen=True)
class BlacklistEntry:
    subject: bytes
    reporter: bytes
    record: int
    reason: str
    height: int


class CreditState:
    CONSENT_COUNT, CONSENTS, CONSENTS_BY_SUBJECT, CONSENTS_BY_GRANTEE = 0, 1, 2, 3
    RECORD_COUNT, RECORDS, RECORDS_BY_SUBJECT, RECORDS_BY_REPORTER = 4, 5, 6, 7
    QUERY_COUNT, QUERIES, QUERIES_BY_SUBJECT, QUERIES_BY_LENDER = 8, 9, 10, 11
    QUERIES_BY_AGENCY, QUERIES_BY_STATE = 12, 13
    BLACKLIST, BLACKLIST_ENTRIES = 14, 16

    # consent fields
    C_SUBJECT, C_GRANTEE, C_PURPOSE, C_EXPIRES, C_MAX_USES, C_USES, C_STATE = 0, 1, 2, 3, 4, 5, 6
    C_CREATED, C_UPDATED = 7, 8
    # record fields
    R_REPORTER, R_SUBJECT, R_KIND, R_HASH, R_SUPERSEDES, R_SUPERSEDED_BY, R_HEIGHT = range(7)
    # query fields
    Q_LENDER, Q_AGENCY, Q_CONSENT, Q_SUBJECT, Q_PURPOSE, Q_STATE, Q_REPORT = range(7)
    Q_LOCATION, Q_CREATED, Q_UPDATED = 7, 8, 9

    def __init__(self, storage: Storage) -> None:
        self.s = storage

    def _set(self, mapping: int, key: bytes | int) -> WordSet:
        return WordSet(self.s, Storage.at(mapping, key))

    def _next_id(self, counter: int) -> int:
        n = self.s.get_uint(counter) + 1
        self.s.set_uint(counter, n)
        return n

    # --- consents --------------------------------------------------------------------------

    def consent_count(self) -> int:
        return self.s.get_uint(self.CONSENT_COUNT)

    def consents_by_subject(self, subject: bytes) -> WordSet:
        return self._set(self.CONSENTS_BY_SUBJECT, subject)

    def consents_by_grantee(self, grantee: bytes) -> WordSet:
        return self._set(self.CONSENTS_BY_GRANTEE, grantee)

    def consent(self, consent_id: int) -> ConsentRecord:
        b = Storage.at(self.CONSENTS, consent_id)
        g, a = self.s.get_uint, self.s.get_address
        state = g(b + self.C_STATE)
        return ConsentRecord(
            id=consent_id,
            subject=a(b + self.C_SUBJECT),
            grantee=a(b + self.C_GRANTEE),
            purpose=self.s.get_string(b + self.C_PURPOSE),
            expires_at=g(b + self.C_EXPIRES),
            max_uses=g(b + self.C_MAX_USES),
            uses=g(b + self.C_USES),
            stored_state=CONSENT_STATES[state - 1] if state else "",
            created_at=g(b + self.C_CREATED),
            updated_at=g(b + self.C_UPDATED),
        )

    def add_consent(self, subject: bytes, grantee: bytes, purpose: str, expires_at: int,
                    max_uses: int, height: int) -> int:
        consent_id = self._next_id(self.CONSENT_COUNT)
        b = Storage.at(self.CONSENTS, consent_id)
        self.s.set_address(b + self.C_SUBJECT, subject)
        self.s.set_address(b + self.C_GRANTEE, grantee)
        self.s.set_string(b + self.C_PURPOSE, purpose)
        self.s.set_uint(b + self.C_EXPIRES, expires_at)
        self.s.set_uint(b + self.C_MAX_USES, max_uses)
        self.s.set_uint(b + self.C_STATE, CONSENT_STATES.index("granted") + 1)
        self.s.set_uint(b + self.C_CREATED, height)
        self.s.set_uint(b + self.C_UPDATED, height)
        self.consents_by_subject(subject).add(consent_id)
        self.consents_by_grantee(grantee).add(consent_id)
        return consent_id

    def use_consent(self, consent_id: int, uses: int, state: str, height: int) -> None:
        b = Storage.at(self.CONSENTS, consent_id)
        self.s.set_uint(b + self.C_USES, uses)
        self.s.set_uint(b + self.C_STATE, CONSENT_STATES.index(state) + 1)
        self.s.set_uint(b + self.C_UPDATED, height)

    # --- credit records ----------------------------------------------------------------------

    def record_count(self) -> int:
        return self.s.get_uint(self.RECORD_COUNT)

    def records_by_subject(self, subject: bytes) -> WordSet:
        return self._set(self.RECORDS_BY_SUBJECT, subject)

    def records_by_reporter(self, reporter: bytes) -> WordSet:
        return self._set(self.RECORDS_BY_REPORTER, reporter)

    def record(self, record_id: int) -> CreditRecord:
        b = Storage.at(self.RECORDS, record_id)
        g, a = self.s.get_uint, self.s.get_address
        kind = g(b + self.R_KIND)
        return CreditRecord(
            id=record_id,
            reporter=a(b + self.R_REPORTER),
            subject=a(b + self.R_SUBJECT),
            kind=RECORD_KINDS[kind - 1] if kind else "",
            record_hash=self.s.get_bytes32(b + self.R_HASH),
            supersedes=g(b + self.R_SUPERSEDES),
            superseded_by=g(b + self.R_SUPERSEDED_BY),
            height=g(b + self.R_HEIGHT),
        )

    def add_record(self, reporter: bytes, subject: bytes, kind: str, record_hash: bytes,
                   supersedes: int, height: int) -> int:
        record_id = self._next_id(self.RECORD_COUNT)
        b = Storage.at(self.RECORDS, record_id)
        self.s.set_address(b + self.R_REPORTER, reporter)
        self.s.set_address(b + self.R_SUBJECT, subject)
        self.s.set_uint(b + self.R_KIND, RECORD_KINDS.index(kind) + 1)
        self.s.set_bytes32(b + self.R_HASH, record_hash)
        self.s.set_uint(b + self.R_SUPERSEDES, supersedes)
        self.s.set_uint(b + self.R_HEIGHT, height)
        if supersedes:
            self.s.set_uint(Storage.at(self.RECORDS, supersedes) + self.R_SUPERSEDED_BY,
                            record_id)
        self.records_by_subject(subject).add(record_id)
        self.records_by_reporter(reporter).add(record_id)
        return record_id

    # --- query orders ------------------------------------------------------------------------

    def query_count(self) -> int:
        return self.s.get_uint(self.QUERY_COUNT)

    def queries_by_subject(self, subject: bytes) -> WordSet:
        return self._set(self.QUERIES_BY_SUBJECT, subject)

    def queries_by_lender(self, lender: bytes) -> WordSet:
        return self._set(self.QUERIES_BY_LENDER, lender)

    def queries_by_agency(self, agency: bytes) -> WordSet:
        return self._set(self.QUERIES_BY_AGENCY, agency)

    def queries_by_state(self, state: str) -> WordSet:
        return self._set(self.QUERIES_BY_STATE, QUERY_STATES.index(state) + 1)

    def query(self, query_id: int) -> QueryRecord:
        b = Storage.at(self.QUERIES, query_id)
        g, a = self.s.get_uint, self.s.get_address
        state = g(b + self.Q_STATE)
        return QueryRecord(
            id=query_id,
            lender=a(b + self.Q_LENDER),
            agency=a(b + self.Q_AGENCY),
            consent=g(b + self.Q_CONSENT),
            subject=a(b + self.Q_SUBJECT),
            purpose=self.s.get_string(b + self.Q_PURPOSE),
            state=QUERY_STATES[state - 1] if state else "",
            report_hash=self.s.get_bytes32(b + self.Q_REPORT),
            location=self.s.get_string(b + self.Q_LOCATION),
            created_at=g(b + self.Q_CREATED),
            updated_at=g(b + self.Q_UPDATED),
        )

    def add_query(self, lender: bytes, agency: bytes, consent: int, subject: bytes,
                  purpose: str, height: int) -> int:
        query_id = self._next_id(self.QUERY_COUNT)
        b = Storage.at(self.QUERIES, query_id)
        self.s.set_address(b + self.Q_LENDER, lender)
        self.s.set_address(b + self.Q_AGENCY, agency)
        self.s.set_uint(b + self.Q_CONSENT, consent)
        self.s.set_address(b + self.Q_SUBJECT, subject)
        self.s.set_string(b + self.Q_PURPOSE, purpose)
        self.s.set_uint(b + self.Q_CREATED, height)
        self.queries_by_subject(subject).add(query_id)
        self.queries_by_lender(lender).add(query_id)
        self.queries_by_agency(agency).add(query_id)
        self.set_query_state(query_id, "", "created", height)
        return query_id

    def set_query_state(self, query_id: int, old: str, new: str, height: int) -> None:
        if old:
            self.queries_by_state(old).remove(query_id)
        self.queries_by_state(new).add(query_id)
        b = Storage.at(self.QUERIES, query_id)
        self.s.set_uint(b + self.Q_STATE, QUERY_STATES.index(new) + 1)
        self.s.set_uint(b + self.Q_UPDATED, height)

    def set_report(self, query_id: int, report_hash: bytes, location: str) -> None:
        b = Storage.at(self.QUERIES, query_id)
        self.s.set_bytes32(b + self.Q_REPORT, report_hash)
        self.s.set_string(b + self.Q_LOCATION, location)

    # --- the blacklist -----------------------------------------------------------------------

    def blacklist(self) -> WordSet:
        return WordSet(self.s, self.BLACKLIST)

    def is_blacklisted(self, subject: bytes) -> bool:
        return address_word(subject) in self.blacklist()

    def entry(self, subject: bytes) -> BlacklistEntry:
        b = Storage.at(self.BLACKLIST_ENTRIES, subject)
        return BlacklistEntry(
            subject=subject,
            reporter=self.s.get_address(b),
            record=self.s.get_uint(b + 1),
            reason=self.s.get_string(b + 2),
            height=self.s.get_uint(b + 3),
        )

    def list_subject(self, subject: bytes, reporter: bytes, record: int, reason: str,
                     height: int) -> None:
        b = Storage.at(self.BLACKLIST_ENTRIES, subject)
        self.s.set_address(b, reporter)
        self.s.set_uint(b + 1, record)
        self.s.set_string(b + 2, reason)
        self.s.set_uint(b + 3, height)
        self.blacklist().add(address_word(subject))

    def unlist_subject(self, subject: bytes) -> None:
        b = Storage.at(self.BLACKLIST_ENTRIES, subject)
        self.s.set_address(b, b"\x00" * 20)
        self.s.set_uint(b + 1, 0)
        self.s.set_string(b + 2, "")
        self.s.set_uint(b + 3, 0)
        self.blacklist().remove(address_word(subject))
